"""Shared plotting of evaluation curves: mean over seeds with a min-max band."""

from __future__ import annotations

import numpy as np


def plot_groups(ax, groups: dict, label=str, colours: dict | None = None) -> None:
    for group, curves in sorted(groups.items(), key=lambda item: str(item[0])):
        steps = sorted(set.intersection(*(set(s for s, _ in c) for c in curves)))
        values = np.array([[dict(c)[s] for s in steps] for c in curves])
        colour = (colours or {}).get(group)
        seeds = f"{len(curves)} seed{'s' * (len(curves) > 1)}"
        ax.plot(steps, values.mean(0), label=f"{label(group)} ({seeds})", color=colour)
        if len(curves) > 1:
            ax.fill_between(steps, values.min(0), values.max(0), alpha=0.2, color=colour)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("eval return")
    ax.legend(fontsize=7)
