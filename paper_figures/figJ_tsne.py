"""Figure J: t-SNE of β-VAE latents (encoder means) of frames from the offline distracting videos (the
teacher's: the source agent's replay, or ``--videos random``) and from the online replay of a finetuned DisWM
agent, encoded by the finetuned student encoder (or ``--part teacher``). The paper uses 200 clips of 50
frames; ``--frames`` sets how many frames per side.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from diswm.data import EpisodeReplay
from diswm.metrics.evaluate import build_encoder, encode_means, encoder_state
from diswm.paths import finetune_base_folder, outputs_home
from diswm_app.paper_figures.common import figures_dir, plt, save


def frames(directory: Path, count: int, rng: np.random.Generator) -> np.ndarray:
    replay = EpisodeReplay.from_directory(directory)
    images = np.concatenate([replay.episode(i)["image"] for i in range(len(replay))])
    return images[rng.choice(len(images), size=min(count, len(images)), replace=False)]


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="smoke")
    parser.add_argument("--source", default="finger_spin")
    parser.add_argument("--task", default="reacher_easy")
    parser.add_argument("--part", default="encoder", choices=("encoder", "teacher"))
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--videos", default="dreamerv2_replay", choices=("dreamerv2_replay", "random"),
                        help="the offline videos the teacher was pretrained on (pretrain's `videos`)")
    parser.add_argument("--out", default=str(figures_dir()))
    args = parser.parse_args(argv)
    home = outputs_home()
    run = finetune_base_folder(args.scale, args.source, args.task, "diswm", "dreamerv2_replay", seed=0)
    offline = home / "data" / args.scale / args.source / ("switch" if args.videos == "random" else args.videos) \
        / "seed_0"
    if not (run / "latest.pt").is_file() or not offline.is_dir():
        videos = f"collect with {args.source} {args.scale}" if args.videos == "random" else \
            f"source_agent with {args.source} {args.scale}"
        raise FileNotFoundError(f"needs {run / 'latest.pt'} and {offline}: run `diswm {videos}`, `diswm pretrain "
                                f"...` and `diswm finetune with diswm {args.scale} source={args.source} "
                                f"task={args.task}`")
    from sklearn.manifold import TSNE

    rng = np.random.default_rng(0)
    encoder = build_encoder(encoder_state(run / "latest.pt", args.part))
    offline_codes = encode_means(encoder, frames(offline, args.frames, rng))
    online_codes = encode_means(encoder, frames(run / "train_eps", args.frames, rng))
    codes = np.concatenate([offline_codes, online_codes])
    embedded = TSNE(n_components=2, perplexity=min(30.0, (len(codes) - 1) / 3), random_state=0).fit_transform(codes)
    figure, ax = plt.subplots(figsize=(4.5, 4))
    ax.scatter(*embedded[: len(offline_codes)].T, s=4, alpha=0.6, label=f"offline videos ({args.source})")
    ax.scatter(*embedded[len(offline_codes) :].T, s=4, alpha=0.6, label=f"online replay ({args.task})")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=7)
    ax.set_title(f"t-SNE of {args.part} latents ({args.scale} scale)", fontsize=9)
    return save(figure, args.out, f"figJ_tsne_{args.scale}")


if __name__ == "__main__":
    for path in main():
        print(path)
