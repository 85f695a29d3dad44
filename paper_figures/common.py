"""Shared figure plumbing: output folder and saving PNG + PDF."""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def figures_dir() -> Path:
    """Where figures go unless ``--out`` says otherwise: ``$DISWM_HOME/figures`` (``./figures`` in a clone)."""
    from diswm.paths import outputs_home

    return outputs_home() / "figures"


def save(figure, out_dir: Path | str, stem: str) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.pdf"]
    for path in paths:
        figure.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(figure)
    return paths


def records_parser(description: str | None, scale: str = "cpu") -> argparse.ArgumentParser:
    """``--runs`` (Sacred records, default ``$DISWM_HOME/runs``), ``--scale`` and ``--out``."""
    from diswm.paths import outputs_home

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--runs", default=str(outputs_home() / "runs"))
    parser.add_argument("--scale", default=scale)
    parser.add_argument("--out", default=str(figures_dir()))
    return parser
