"""Stage 1's model: the action-free β-VAE video model (DisWM §3.2, Eq. 1-2) and its settings.

Released ``pretrain_model.WorldModel``: β-VAE encoder -> RSSM fed zero actions (``pretrain_action_num``
inputs, the source task's action size) using the distribution *mean* for prior and posterior ->
β-VAE decoder from the RSSM feature. Loss: image NLL + KL balancing (β1 = 1) + β2 x KL(q(z|o) || N(0, I)).
Only the encoder is used later, as the distillation teacher. The loop that trains it is
:func:`diswm.training.pretrain.pretrain`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from diswm.agents.losses import weighted_sum
from diswm.agents.world_model import gaussian_image_nll
from diswm.models import RSSM, BetaVAEDecoder, BetaVAEEncoder, ConvDecoder, ConvEncoder, RSSMConfig
from diswm.models.beta_vae import beta_vae_kl
from diswm.models.images import image_tensor
from diswm.scales import NETS, PRETRAIN


@dataclass(frozen=True)
class PretrainConfig:
    data_dir: str
    out_dir: str
    num_actions: int = 6  # official `pretrain_action_num` (the source task's), fed zeros
    image_model: str = "beta_vae"  # beta_vae (DisWM's teacher) | conv (DreamerV2 image model, for DV2 Finetune)
    cnn_depth: int = NETS["paper"].cnn_depth  # conv image model only (sizes default to the paper's)
    z_dim: int = 20
    encoder_widths: tuple[int, ...] = NETS["paper"].encoder_widths  # must match the finetuning teacher's
    decoder_widths: tuple[int, ...] = NETS["paper"].decoder_widths
    beta: float = 0.015  # β2
    kl_scale: float = 1.0  # β1
    kl_balance: float = 0.8
    kl_free: float = 1.0
    rssm: RSSMConfig = field(default_factory=RSSMConfig)
    batch_size: int = PRETRAIN["paper"].batch_size
    length: int = PRETRAIN["paper"].length
    updates: int = PRETRAIN["paper"].updates  # the released run: 10 x 2000 updates (its "1e6 steps" is a label)
    checkpoint_every: int = PRETRAIN["paper"].checkpoint_every
    lr: float = 3e-4
    eps: float = 1e-5
    grad_clip: float = 100.0
    seed: int = 0
    device: str = "cpu"
    compile: bool = False  # torch.compile the RSSM step functions (a GPU speed switch)
    dataset_sha256: str | None = None  # the videos' manifest hash: a run is never resumed on changed videos

    def validate(self) -> None:
        if self.updates < 1 or self.checkpoint_every < 1:
            raise ValueError("updates and checkpoint_every must be positive")
        if self.image_model not in ("beta_vae", "conv"):
            raise ValueError(f"image_model={self.image_model!r}; expected 'beta_vae' or 'conv'")
        if self.batch_size < 1 or self.length < 2:
            raise ValueError(f"batch_size >= 1 and length >= 2 needed, got {self.batch_size}, {self.length}")
        if self.z_dim < 1:
            raise ValueError(f"z_dim must be >= 1, got {self.z_dim}")


class VideoModel(nn.Module):
    def __init__(self, config: PretrainConfig):
        super().__init__()
        self.config = config
        if config.image_model == "beta_vae":
            self.encoder = BetaVAEEncoder(config.z_dim, widths=config.encoder_widths)
            embed = config.z_dim
        else:
            self.encoder = ConvEncoder(config.cnn_depth)
            embed = self.encoder.embed_size
        rssm = RSSMConfig(**{**asdict(config.rssm), "embed": embed, "num_actions": config.num_actions})
        self.rssm = RSSM(rssm)
        if config.image_model == "beta_vae":
            self.decoder = BetaVAEDecoder(self.rssm.feat_size, config.z_dim, widths=config.decoder_widths)
        else:
            self.decoder = ConvDecoder(self.rssm.feat_size, config.cnn_depth)

    def embed(self, image: torch.Tensor) -> torch.Tensor:
        return self.encoder(image)[2] if self.config.image_model == "beta_vae" else self.encoder(image)

    def loss_scales(self) -> dict[str, float]:
        """The weight of each term of :meth:`loss_terms` (Eq. 2): image 1, KL β1 = ``kl_scale``, β-VAE KL β2."""
        return {"image": 1.0, "kl": self.config.kl_scale,
                **({"beta_kl": self.config.beta} if self.config.image_model == "beta_vae" else {})}

    def loss_terms(self, images: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The unweighted terms of Eq. 2 by name and their diagnostics (released ``pretrain_model.WorldModel``)."""
        c = self.config
        image = image_tensor(images)
        if c.image_model == "beta_vae":
            mean, logvar, embedding = self.encoder(image)
        else:
            embedding = self.embed(image)
        post, prior = self.rssm.observe(embedding, None, sample=False)
        kl, kl_value = self.rssm.kl_loss(post, prior, c.kl_balance, c.kl_free)
        terms = {"image": gaussian_image_nll(self.decoder(RSSM.feature(post)), image), "kl": kl}
        if c.image_model == "beta_vae":
            terms["beta_kl"] = beta_vae_kl(mean, logvar).mean()
        return terms, {"kl": kl_value.mean()}

    def loss(self, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(total, metrics)``: Eq. 2 weighted by :meth:`loss_scales` (metrics under the records' names)."""
        terms, metrics = self.loss_terms(images)
        scales = self.loss_scales()
        total = weighted_sum(terms, scales)
        metrics = {"model_loss": total, "image_nll": terms["image"], "kl_loss": terms["kl"] * scales["kl"], **metrics}
        if "beta_kl" in terms:
            metrics["beta_vae_kl"] = terms["beta_kl"]
        return total, metrics
