"""DreamerV2 / dreamer-torch convolutional encoder and decoder (the DreamerV2 baseline's image model)."""

from __future__ import annotations

import torch
from torch import nn

from diswm.models.beta_vae import fold_time, use_channels_last


class ConvEncoder(nn.Module):
    """4 convs (kernel 4, stride 2, no padding), depth 32-64-128-256, ELU -> 1024-d embedding."""

    def __init__(self, depth: int = 32, kernels: tuple[int, ...] = (4, 4, 4, 4), channels: int = 3):
        super().__init__()
        layers: list[nn.Module] = []
        previous = channels
        for i, kernel in enumerate(kernels):
            width = depth * 2**i
            layers += [nn.Conv2d(previous, width, kernel, 2), nn.ELU(inplace=True)]
            previous = width
        self.convs = nn.Sequential(*layers)
        self.embed_size = previous * 2 * 2  # 64 -> 31 -> 14 -> 6 -> 2
        use_channels_last(self)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        flat, lead = fold_time(image, 3)
        # flatten in NCHW order, as the official ConvEncoder
        features = self.convs(flat.contiguous(memory_format=torch.channels_last)).contiguous()
        return features.reshape(*lead, -1)


class ConvDecoder(nn.Module):
    """Linear(feat, 32 depth) -> transposed convs with kernels 5-5-6-6, stride 2 ("thin" decoder)."""

    def __init__(self, feat_size: int, depth: int = 32, kernels: tuple[int, ...] = (5, 5, 6, 6), channels: int = 3):
        super().__init__()
        self.linear = nn.Linear(feat_size, 32 * depth)
        layers: list[nn.Module] = []
        previous = 32 * depth
        for i, kernel in enumerate(kernels):
            last = i == len(kernels) - 1
            width = channels if last else depth * 2 ** (len(kernels) - i - 2)
            layers.append(nn.ConvTranspose2d(previous, width, kernel, 2))
            if not last:
                layers.append(nn.ELU(inplace=True))
            previous = width
        self.deconvs = nn.Sequential(*layers)
        use_channels_last(self)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        flat, lead = fold_time(feat, 1)
        x = self.linear(flat).reshape(len(flat), -1, 1, 1).contiguous(memory_format=torch.channels_last)
        mean = self.deconvs(x)
        return mean.reshape(*lead, *mean.shape[1:])
