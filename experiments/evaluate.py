"""Sacred experiment ``evaluate``: MIG, DCI and SAP of a checkpoint's encoder against ground-truth factors, and
(``episodes=N``) the evaluation returns of a finetuning checkpoint's agent.

    diswm evaluate with smoke task=finger_spin \
        checkpoint=checkpoints/pretrain/smoke/finger_spin/beta0.015/seed_0/encoder.pt
    diswm evaluate with cpu task=reacher_easy part=encoder checkpoint=.../latest.pt
    diswm evaluate with cpu task=reacher_easy checkpoint=.../latest.pt episodes=10 colour_set=test

Frames and factors are generated once per (task, colour set, sizes, seed) and cached in
``data/factors/``; scores go to ``<checkpoint folder>/metrics/<factor set>-<part>.json``, and a second
call with the same settings reads that file instead of recomputing. Returns
(:func:`diswm.training.returns.evaluate_returns`: the episodes side by side, ``eval_batch`` at a time, as in
a run's own evaluations) go to ``<checkpoint folder>/returns/<colour set>-<episodes>x-seed<seed>.json``, cached
the same way.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from diswm.atomic import write_json
from diswm.checkpoint import file_sha256
from diswm.configs import as_dict, evaluate_config
from diswm.data.factors import FactorDatasetConfig, load_or_generate
from diswm.metrics.evaluate import build_encoder, disentanglement_scores, encode_means, encoder_state
from diswm.scales import SCALE_NAMES, check_scale
from diswm.training.returns import SPEED_ONLY, ReturnsConfig, evaluate_returns
from diswm_app.experiments.common import (
    default_device,
    new_experiment,
    outputs_home,
    provenance,
    run_command_line,
    stage_settings,
)

ex = new_experiment("evaluate")


@ex.config
def config():
    checkpoint = ""  # encoder.pt of a pretraining run, or latest.pt of a pretraining or finetuning run
    part = "encoder"  # encoder (the online student / the video model) | teacher (finetuning checkpoints)
    task = "cheetah_run"  # environment whose frames and factors are scored
    colour_set = "train"  # colour set of the frames (train | test)
    scale = "smoke"  # smoke | cpu | paper: number of frames (diswm.scales.EVALUATE)
    check_scale(scale)
    seed = 0  # frames, factors and the DCI classifiers
    # the frames and factors (diswm.data.factors.FactorDatasetConfig)
    _settings = as_dict(evaluate_config(scale=scale, task=task, seed=seed))
    num_train = _settings["num_train"]  # frames to fit/score on
    num_test = _settings["num_test"]  # held-out frames (DCI, SAP)
    num_bins = _settings["num_bins"]  # equal-width classes per continuous factor
    stride = _settings["stride"]  # agent steps between kept frames of the random-policy episodes
    render_quality = _settings["render_quality"]  # must match the training frames' look
    size = _settings["size"]  # image height and width
    del _settings
    cache_dir = str(outputs_home() / "data" / "factors")  # where factor datasets are cached
    out_file = ""  # scores JSON (default: <checkpoint folder>/metrics/<factor set>-<part>.json)
    disentanglement = True  # MIG, DCI and SAP of the encoder (False: returns only)
    episodes = 0  # > 0: also play this many episodes with a finetuning checkpoint's agent; their returns
    eval_batch = None  # episodes side by side (None: all; speed only)
    eval_workers = False  # each environment in its own process (speed only)
    device = default_device()  # where the agent acts: cuda when a GPU is visible, else cpu (speed only)


for _scale in SCALE_NAMES:
    ex.add_named_config(_scale, {"scale": _scale})


@ex.main
def main(_run, _config, checkpoint, part, seed, cache_dir, out_file, disentanglement, episodes, colour_set,
         eval_batch, eval_workers, device):
    if not checkpoint or not Path(checkpoint).is_file():
        raise FileNotFoundError(f"checkpoint={checkpoint!r} is not a file; pass checkpoint=PATH")
    if not disentanglement and episodes < 1:
        raise ValueError("disentanglement=False and episodes=0: nothing to evaluate")
    _run.info.update(provenance())
    sha256 = file_sha256(checkpoint)
    result = {}
    if disentanglement:
        result |= _scores(_run, _config, checkpoint, sha256, part, seed, cache_dir, out_file)
    if episodes:
        returns = ReturnsConfig(checkpoint=checkpoint, episodes=episodes, colour_set=colour_set, seed=seed,
                                batch=eval_batch, workers=eval_workers, device=device)
        result |= _returns(_run, returns, sha256)
    return result


def _cached(out: Path, identity: dict, key: str):
    """``key`` of the JSON file ``out`` if it was written for ``identity``; else None."""
    if out.is_file():
        cached = json.loads(out.read_text())
        if cached.get("identity") == identity:
            return cached[key]
    return None


def _scores(_run, _config, checkpoint, sha256, part, seed, cache_dir, out_file) -> dict:
    """MIG, DCI and SAP of the checkpoint's encoder (cached per factor set and part)."""
    factors = stage_settings(FactorDatasetConfig, _config)
    out = Path(out_file or Path(checkpoint).parent / "metrics" / f"{Path(factors.cache_name()).stem}-{part}.json")
    identity = {"checkpoint_sha256": sha256, "part": part, "factors": factors.cache_name()}
    if (scores := _cached(out, identity, "scores")) is not None:
        _run.info["cached"] = str(out)
        return scores
    dataset = load_or_generate(factors, cache_dir, progress=True)
    codes = encode_means(build_encoder(encoder_state(checkpoint, part)), dataset.images)
    scores = disentanglement_scores(codes, dataset, random_state=seed)
    write_json(out, {"identity": identity, "checkpoint": str(checkpoint), "factor_names": dataset.names,
                     "scores": scores})
    for name, value in scores.items():
        _run.log_scalar(name, value)
    _run.info["scores_file"] = str(out)
    return scores


def _returns(_run, config: ReturnsConfig, sha256: str) -> dict:
    """The agent's evaluation returns (cached per checkpoint, episodes, colour set, seed and action)."""
    out = Path(config.checkpoint).parent / "returns" / f"{config.colour_set}-{config.episodes}x-seed{config.seed}.json"
    identity = {"checkpoint_sha256": sha256,
                **{k: v for k, v in config.__dict__.items() if k not in SPEED_ONLY | {"checkpoint"}}}
    if (cached := _cached(out, identity, "returns")) is not None:
        _run.info["returns_cached"] = str(out)
        return cached
    returns = evaluate_returns(config)
    write_json(out, {"identity": identity, "checkpoint": str(config.checkpoint), "returns": returns,
                     "batch": config.batch, "workers": config.workers, "device": config.device})
    _run.log_scalar("eval_return", returns["return_mean"])
    _run.info["returns_file"] = str(out)
    print(f"{config.episodes} episodes in {config.colour_set} colours: return {returns['return_mean']:.1f} "
          f"({returns['seconds_per_episode']:.2f} s per episode) -> {out}")
    return returns


def run_cli(argv: list[str]) -> int:
    """Run from a command line (``argv`` without the program name), with observers attached."""
    return run_command_line(ex, argv)


if __name__ == "__main__":
    sys.exit(run_cli(sys.argv[1:]))
