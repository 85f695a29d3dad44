"""Figure 3: example observations under the train and test colour sets, one row per task.

Reads the collected datasets (``diswm data`` / ``diswm collect``): frames of the first train-colour and
the first test-colour episode of ``data/<scale>/<task>/switch/seed_<seed>``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from diswm.data import load_episode
from diswm.paths import data_root
from diswm_app.paper_figures.common import figures_dir, plt, save

TASK_ORDER = ("walker_walk", "reacher_easy", "pusher", "cheetah_run", "finger_spin", "hopper_stand")
FRAMES_PER_SET = 3


def dataset_dirs(data_root: Path, scale: str, seed: int) -> dict[str, Path]:
    found = {}
    for task in TASK_ORDER:
        directory = data_root / scale / task / "switch" / f"seed_{seed}"
        if (directory / "dataset.json").is_file():
            found[task] = directory
    return found


def frames_by_set(directory: Path) -> dict[str, list[np.ndarray]]:
    manifest = json.loads((directory / "dataset.json").read_text())
    frames: dict[str, list[np.ndarray]] = {}
    for record in manifest["episodes"]:
        if record["distractor"] in frames:
            continue
        images = load_episode(directory / record["file"])["image"]
        picks = np.linspace(0, len(images) - 1, FRAMES_PER_SET).round().astype(int)
        frames[record["distractor"]] = [images[i] for i in picks]
    return frames


def plot(rows: dict[str, dict[str, list[np.ndarray]]]):
    sets = ("train", "test")
    figure, axes = plt.subplots(
        len(rows), FRAMES_PER_SET * len(sets), figsize=(1.3 * FRAMES_PER_SET * len(sets), 1.35 * len(rows)),
        squeeze=False,
    )
    for r, (task, frames) in enumerate(rows.items()):
        for s, colour_set in enumerate(sets):
            for f in range(FRAMES_PER_SET):
                ax = axes[r, s * FRAMES_PER_SET + f]
                ax.set_xticks([])
                ax.set_yticks([])
                if colour_set in frames:
                    ax.imshow(frames[colour_set][f])
                if r == 0 and f == 0:
                    ax.set_title(f"{colour_set} colours", loc="left", fontsize=9)
                if s == 0 and f == 0:
                    ax.set_ylabel(task.replace("_", " "), fontsize=9)
    figure.suptitle("Colour-distracted observations (64x64)", fontsize=10)
    return figure


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(data_root()), help="data root (default $DISWM_HOME/data)")
    parser.add_argument("--scale", default="smoke")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(figures_dir()))
    args = parser.parse_args(argv)
    directories = dataset_dirs(Path(args.data), args.scale, args.seed)
    if not directories:
        raise FileNotFoundError(
            f"no datasets under {args.data}/{args.scale}/<task>/switch/seed_{args.seed}; "
            f"run `diswm data --scale {args.scale}` first"
        )
    rows = {task: frames_by_set(directory) for task, directory in directories.items()}
    return save(plot(rows), args.out, "fig3_distracted_observations")


if __name__ == "__main__":
    for path in main():
        print(path)
