"""Procedural table-top textures for DrawerWorld (no downloaded assets).

The official DrawerWorld swaps the table top's material among image textures (grid, wood, metal, marble,
fabric, blanket, black; released ``env/drawerworld``, ``assets_v1/sawyer_xyz/sawyer_drawer_<texture>.xml``).
We cannot ship or download those images, so each is drawn here from numpy noise with a fixed per-texture
seed: the same name always gives the same pixels.
"""

from __future__ import annotations

import zlib

import numpy as np
from scipy.ndimage import gaussian_filter, zoom

TEXTURE_NAMES = ("grid", "wood", "metal", "marble", "fabric", "blanket", "black")
SIZE = 128


def _smooth_noise(rng: np.random.Generator, cells: int, size: int = SIZE) -> np.ndarray:
    """Value noise in [0, 1]: a ``cells`` x ``cells`` random grid, upsampled smoothly to ``size``."""
    coarse = rng.uniform(0.0, 1.0, (cells, cells))
    fine = zoom(coarse, size / cells, order=3, mode="grid-wrap")[:size, :size]
    return np.clip(fine, 0.0, 1.0)


def _mix(low, high, weight: np.ndarray) -> np.ndarray:
    low, high = np.asarray(low, float), np.asarray(high, float)
    return low + (high - low) * weight[..., None]


def _grid(rng, y, x):
    lines = (x % 16 < 1) | (y % 16 < 1)
    return _mix((0.10, 0.20, 0.30), (0.30, 0.45, 0.60), lines.astype(float))


def _wood(rng, y, x):
    warp = _smooth_noise(rng, 6) * 6.0
    radius = np.hypot(x / SIZE - 0.3, (y / SIZE - 1.4) * 0.25) * 40.0 + warp
    rings = 0.5 + 0.5 * np.sin(radius * np.pi)
    grain = gaussian_filter(rng.normal(0, 1, (SIZE, SIZE)), (0.5, 6.0), mode="wrap")
    return _mix((0.36, 0.20, 0.08), (0.72, 0.48, 0.25), np.clip(rings * 0.8 + grain * 0.15, 0, 1))


def _metal(rng, y, x):
    streaks = gaussian_filter(rng.normal(0, 1, (SIZE, SIZE)), (0.3, 20.0), mode="wrap")
    sheen = 0.5 + 0.25 * np.cos((x + 0.5 * y) / SIZE * 2 * np.pi)
    value = np.clip(0.45 + 0.12 * sheen + 0.25 * streaks, 0, 1)
    return _mix((0.25, 0.27, 0.30), (0.70, 0.72, 0.75), value)


def _marble(rng, y, x):
    turbulence = sum(_smooth_noise(rng, c) / i for i, c in ((1, 4), (2, 8), (4, 16)))
    veins = np.abs(np.sin((x / SIZE * 3.0 + y / SIZE * 1.5 + turbulence * 1.8) * np.pi)) ** 0.25
    return _mix((0.45, 0.45, 0.50), (0.95, 0.94, 0.92), veins)


def _fabric(rng, y, x):
    weave = ((x // 3 + y // 3) % 2).astype(float)
    fibre = gaussian_filter(rng.normal(0, 1, (SIZE, SIZE)), 0.7, mode="wrap")
    return _mix((0.20, 0.28, 0.55), (0.35, 0.45, 0.75), np.clip(0.3 + 0.4 * weave + 0.2 * fibre, 0, 1))


def _blanket(rng, y, x):
    palette = np.array([(0.70, 0.15, 0.15), (0.15, 0.45, 0.20), (0.85, 0.75, 0.30), (0.15, 0.20, 0.50)])
    rows, cols = palette[(y // 16) % 4], palette[(x // 24) % 4]
    fuzz = gaussian_filter(rng.normal(0, 1, (SIZE, SIZE)), 1.0, mode="wrap")[..., None]
    return np.clip(0.5 * rows + 0.5 * cols + 0.05 * fuzz, 0, 1)


def _black(rng, y, x):
    return _mix((0.02, 0.02, 0.02), (0.10, 0.10, 0.10), _smooth_noise(rng, 16))


_DRAW = {"grid": _grid, "wood": _wood, "metal": _metal, "marble": _marble, "fabric": _fabric,
         "blanket": _blanket, "black": _black}


def texture(name: str) -> np.ndarray:
    """uint8 [SIZE, SIZE, 3] pixels of texture ``name``, deterministic (seeded by the name)."""
    if name not in _DRAW:
        raise ValueError(f"unknown texture {name!r}; expected one of {TEXTURE_NAMES}")
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    return (np.clip(_DRAW[name](rng, y, x), 0, 1) * 255).round().astype(np.uint8)
