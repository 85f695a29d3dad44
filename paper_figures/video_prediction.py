"""Open-loop video prediction of a pretrained video model: a PNG strip (rows truth / model / error, one
column per step) and the same as an animation (GIF and MP4), from ``latest.pt`` of ``diswm pretrain``.
5 context frames are filtered, the rest imagined with zero actions (official ``video_pred``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import imageio.v2 as imageio
import numpy as np

from diswm.data import EpisodeReplay
from diswm.models.images import image_tensor
from diswm_app.paper_figures.common import figures_dir
from diswm_app.paper_figures.fig5_traversals import load_model, pretrained_checkpoint
from diswm_app.paper_figures.video import open_loop_strip, save_png


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="smoke")
    parser.add_argument("--source", default="finger_spin")
    parser.add_argument("--checkpoint", help="pretraining latest.pt (default: the scale's teacher of --source)")
    parser.add_argument("--length", type=int, default=50)
    parser.add_argument("--out", default=str(figures_dir()))
    args = parser.parse_args(argv)
    model, data = load_model(pretrained_checkpoint(args))
    episode = EpisodeReplay.from_directory(data, limit=1).episode(0)["image"][: args.length]
    strip = open_loop_strip(model.embed, model.rssm, model.decoder, image_tensor(episode[None]), None, sample=False)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"video_prediction_{args.scale}_{args.source}"
    png = out / f"{stem}.png"
    save_png(png, strip)
    size = episode.shape[1]
    frames = [np.ascontiguousarray(strip[:, t * size : (t + 1) * size]) for t in range(len(episode))]
    gif, mp4 = out / f"{stem}.gif", out / f"{stem}.mp4"
    imageio.mimsave(gif, frames, duration=100, loop=0)
    imageio.mimsave(mp4, [np.repeat(np.repeat(f, 2, 0), 2, 1) for f in frames], fps=10, macro_block_size=16)
    return [png, gif, mp4]


if __name__ == "__main__":
    for path in main():
        print(path)
