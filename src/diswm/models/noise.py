"""Where the networks draw their noise: PyTorch's global generator, or, inside :func:`per_row`, one generator
per batch row, so that what a row draws (one evaluation episode's encoder samples, posterior and prior samples
and sampled actions) does not depend on the rows beside it or on how many there are."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence

import torch

_ROWS = threading.local()


def _generators(rows: int) -> Sequence[torch.Generator] | None:
    generators = getattr(_ROWS, "generators", None)
    if generators is not None and len(generators) != rows:
        raise ValueError(f"{len(generators)} per-row generators for a batch of {rows} rows")
    return generators


def randn_like(x: torch.Tensor) -> torch.Tensor:
    """Standard-normal noise shaped like ``x`` (rows from their own generators inside :func:`per_row`)."""
    generators = _generators(x.shape[0]) if x.dim() else None
    if generators is None:
        return torch.randn_like(x)
    return torch.stack([torch.randn(x.shape[1:], dtype=x.dtype, device=x.device, generator=g) for g in generators])


def rand(shape: torch.Size | tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Uniform [0, 1) noise of ``shape`` (rows from their own generators inside :func:`per_row`)."""
    generators = _generators(shape[0]) if len(shape) else None
    if generators is None:
        return torch.rand(shape, dtype=dtype, device=device)
    return torch.stack([torch.rand(shape[1:], dtype=dtype, device=device, generator=g) for g in generators])


@contextlib.contextmanager
def per_row(generators: Sequence[torch.Generator]) -> Iterator[None]:
    """Within the block, row ``i`` of every draw comes from ``generators[i]`` (on the tensors' device)."""
    previous = getattr(_ROWS, "generators", None)
    _ROWS.generators = list(generators)
    try:
        yield
    finally:
        _ROWS.generators = previous
