"""The one place where loss terms meet their weights (as dreamerv3's ``loss_scales``): a model returns its
terms by name, unweighted, and its scales by the same names; :func:`weighted_sum` checks that both name the
same terms and that every term is a scalar, then sums ``scale x term`` in the terms' order."""

from __future__ import annotations

from collections.abc import Mapping

import torch


def weighted_sum(terms: Mapping[str, torch.Tensor], scales: Mapping[str, float | torch.Tensor]) -> torch.Tensor:
    """``sum(scales[name] * terms[name])`` over the terms in order; refuses a term without a scale (or the
    reverse) and a term that is not a scalar."""
    if list(terms) != list(scales):
        raise KeyError(f"loss terms {list(terms)} and their scales {list(scales)} do not name the same terms in "
                       "the same order")
    total: torch.Tensor | None = None
    for name, term in terms.items():
        if term.dim() != 0:
            raise ValueError(f"loss term {name!r} has shape {tuple(term.shape)}; a term is a scalar")
        weighted = term * scales[name]
        total = weighted if total is None else total + weighted
    if total is None:
        raise ValueError("no loss terms")
    return total
