"""New figure (not in the paper): MIG, DCI disentanglement/completeness and SAP per method and stage,
from the score files that ``diswm evaluate`` writes next to each checkpoint. Also writes the numbers as a
Markdown table (``disentanglement_<scale>.md``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from diswm.paths import outputs_home
from diswm_app.paper_figures.common import figures_dir, plt, save

METRICS = ("mig", "dci_disentanglement", "dci_completeness", "sap")


def label(score_file: Path, root: Path, part: str) -> str:
    parts = score_file.relative_to(root).parts  # <stage>/<scale>/<...>/metrics/<file>
    if parts[0] == "pretrain":
        return f"pretrained teacher ({parts[2]}, {parts[3]})"
    return f"{parts[3]} {'student' if part == 'encoder' else 'teacher'} ({parts[2]})"


def collect(root: Path, scale: str) -> dict[str, dict[str, float]]:
    rows = {}
    for path in sorted(root.glob(f"*/{scale}/**/metrics/*.json")):
        record = json.loads(path.read_text())
        rows[f"{label(path, root, record['identity']['part'])} on {record['identity']['factors'].split('-')[0]}"] = \
            record["scores"]
    return rows


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoints", default=str(outputs_home() / "checkpoints"))
    parser.add_argument("--scale", default="smoke")
    parser.add_argument("--out", default=str(figures_dir()))
    args = parser.parse_args(argv)
    rows = collect(Path(args.checkpoints), args.scale)
    if not rows:
        raise FileNotFoundError(f"no score files under {args.checkpoints}/*/{args.scale}; run `diswm evaluate with "
                                f"{args.scale} task=<t> checkpoint=<path>`")
    figure, ax = plt.subplots(figsize=(max(5, 1.6 * len(rows)), 3.4))
    width = 0.8 / len(rows)
    for i, (name, scores) in enumerate(rows.items()):
        ax.bar(np.arange(len(METRICS)) + i * width, [scores[m] for m in METRICS], width, label=name)
    ax.set_xticks(np.arange(len(METRICS)) + 0.4 - width / 2, METRICS, fontsize=8)
    ax.set_ylabel("score")
    ax.legend(fontsize=6)
    ax.set_title(f"Disentanglement against ground-truth factors ({args.scale} scale)", fontsize=9)
    paths = save(figure, args.out, f"fig_disentanglement_{args.scale}")
    table = ["| model | " + " | ".join(METRICS) + " |", "|---" * (len(METRICS) + 1) + "|"]
    table += [f"| {name} | " + " | ".join(f"{scores[m]:.3f}" for m in METRICS) + " |" for name, scores in rows.items()]
    markdown = Path(args.out) / f"disentanglement_{args.scale}.md"
    markdown.write_text(f"Scale: {args.scale} (added evaluation; the paper reports none)\n\n" + "\n".join(table) + "\n")
    return [*paths, markdown]


if __name__ == "__main__":
    for path in main():
        print(path)
