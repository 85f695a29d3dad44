"""Networks: β-VAE encoder/decoder, DreamerV2 conv encoder/decoder, RSSM, heads, actor."""

from torch import nn

from diswm.models.beta_vae import BetaVAEDecoder, BetaVAEEncoder, beta_vae_kl
from diswm.models.conv import ConvDecoder, ConvEncoder
from diswm.models.heads import ACTOR_DISTS, Actor, ScalarHead, TruncatedNormal, mlp
from diswm.models.images import image_tensor
from diswm.models.rssm import RSSM, LayerNormGRUCell, RSSMConfig, gaussian_kl


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


__all__ = [
    "RSSM", "ACTOR_DISTS", "Actor", "TruncatedNormal", "BetaVAEDecoder", "BetaVAEEncoder", "ConvDecoder",
    "ConvEncoder", "LayerNormGRUCell", "RSSMConfig", "ScalarHead", "beta_vae_kl", "count_parameters", "gaussian_kl",
    "image_tensor", "mlp",
]
