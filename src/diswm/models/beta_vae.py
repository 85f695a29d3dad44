"""β-VAE image encoder and decoder of DisWM (official ``beta_vae.BetaVAE_H_Encoder/Decoder``).

The encoder maps a 64x64 frame to a ``z_dim`` Gaussian and returns ``(mean, logvar, sample)``; the
sample is the world model's embedding. The decoder reconstructs the frame from the RSSM feature
(``[stoch, deter]``) through a ``z_dim`` bottleneck. Weights as the released code (:func:`kaiming_init`):
Kaiming-normal with zero bias for convolutions and linear layers, PyTorch's default for the transposed
convolutions.

Reference: Higgins et al., "β-VAE", ICLR 2017; Wang et al., DisWM, ICCV 2025 (§3, Table D).
"""

from __future__ import annotations

import torch
from torch import nn

from diswm.models import noise


def kaiming_init(module: nn.Module) -> None:
    """Kaiming-normal weights and zero biases for ``Linear`` and ``Conv2d`` layers only, as the released
    ``beta_vae.kaiming_init``: the decoder's ``ConvTranspose2d`` layers keep PyTorch's default
    initialisation (uniform weights, non-zero biases)."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear | nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight)
            nn.init.zeros_(layer.bias)


def use_channels_last(module: nn.Module) -> nn.Module:
    """NHWC weights and activations: oneDNN convolutions run ~1.6x faster on CPU this way (bench)."""
    return module.to(memory_format=torch.channels_last)


def fold_time(x: torch.Tensor, event_dims: int) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Flatten all leading (batch, time) axes into one; return the leading shape to restore later."""
    lead = x.shape[: x.dim() - event_dims]
    return x.reshape(-1, *x.shape[x.dim() - event_dims :]), tuple(lead)


class BetaVAEEncoder(nn.Module):
    """Conv 3-32-32-64-64 (k4 s2 p1) + conv 64-256 (k4) -> Linear(256, 2 z_dim); ELU.

    Args:
        z_dim: latent size (20 in the paper).
        channels: image channels.
    """

    def __init__(self, z_dim: int = 20, channels: int = 3, widths: tuple[int, ...] = (32, 32, 64, 64, 256)):
        super().__init__()
        layers: list[nn.Module] = []
        previous = channels
        for i, width in enumerate(widths):
            last = i == len(widths) - 1
            layers += [nn.Conv2d(previous, width, 4, 1 if last else 2, 0 if last else 1), nn.ELU(inplace=True)]
            previous = width
        self.convs = nn.Sequential(*layers)
        self.head = nn.Linear(previous, 2 * z_dim)
        self.z_dim = z_dim
        kaiming_init(self)
        use_channels_last(self)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``image``: float [..., 3, 64, 64] in [-0.5, 0.5]. Returns mean, logvar, sample: [..., z_dim]."""
        flat, lead = fold_time(image, 3)
        flat = flat.contiguous(memory_format=torch.channels_last)
        stats = self.head(self.convs(flat).flatten(1))
        mean, logvar = stats.chunk(2, dim=-1)
        sample = mean + torch.exp(logvar / 2) * noise.randn_like(mean)
        return tuple(t.reshape(*lead, self.z_dim) for t in (mean, logvar, sample))


class BetaVAEDecoder(nn.Module):
    """Linear(feat, z_dim)+ELU -> Linear(z_dim, 256) -> deconvs 256-64-64-32-32-3; mean of N(., 1).

    Args:
        feat_size: RSSM feature size (stoch + deter = 250).
        z_dim: bottleneck size.
    """

    def __init__(self, feat_size: int, z_dim: int = 20, channels: int = 3,
                 widths: tuple[int, ...] = (256, 64, 64, 32, 32)):
        super().__init__()
        self.to_latent = nn.Sequential(nn.Linear(feat_size, z_dim), nn.ELU(inplace=True))
        self.from_latent = nn.Linear(z_dim, widths[0])
        layers: list[nn.Module] = []
        for i, (inp, out) in enumerate(zip(widths, (*widths[1:], channels), strict=True)):
            first = i == 0
            layers += [nn.ELU(inplace=True), nn.ConvTranspose2d(inp, out, 4, 1 if first else 2, 0 if first else 1)]
        self.deconvs = nn.Sequential(*layers)
        self.channels = channels
        kaiming_init(self)
        use_channels_last(self)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        """``feat``: [..., feat_size]. Returns the image mean [..., 3, 64, 64] (add 0.5 for pixels)."""
        flat, lead = fold_time(feat, 1)
        x = self.from_latent(self.to_latent(flat)).reshape(-1, self.from_latent.out_features, 1, 1)
        mean = self.deconvs(x.contiguous(memory_format=torch.channels_last))
        return mean.reshape(*lead, *mean.shape[1:])


def beta_vae_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, e^logvar) || N(0, I)) summed over the latent, per sample: [...].

    As the official ``kl_divergence`` (including its 1e-6 inside the variance term).
    """
    return (-0.5 * (1 + logvar - mean.pow(2) - (logvar.exp() + 1e-6))).sum(-1)
