"""``diswm reproduce <table|figure> --scale smoke|cpu|paper --seeds N``: run every stage each cell needs
(make the source videos, pretrain once per source and reuse, finetune), skip cells that already have a
completed record, resume interrupted ones, then aggregate to ``results/<item>_<scale>.csv`` and a
Markdown table with our mean ± sd beside the paper's number.

The videos are the paper's recipe by default: the replay of a DreamerV2 agent learning the source task
(``diswm source_agent``, one run per source and scale, shared by every cell that pretrains on that source:
DisWM and no_disentangle's teachers, and the conv video models of DV2 Finetune and APV). ``--videos random``
plans uniform random-policy collections (``diswm collect``) and the ``videos=random`` teachers instead.

The stages form three levels: the distinct video runs (``source_agent``, or ``collect``), the distinct
``pretrain`` runs (each used by every cell of its source), then one ``finetune`` per unfinished cell and
seed. ``--launcher local`` runs
them one after another and needs nothing; ``--launcher ray`` runs each level's stages as Ray tasks in
parallel (one GPU each when the cluster has GPUs, else one CPU), on a local Ray instance or on the cluster
at ``--address`` (whose nodes must see this checkout and ``DISWM_HOME`` at the same paths: checked on every node
first; a stage whose node dies is retried elsewhere; :mod:`diswm_app.experiments.ray_launcher`). Every stage
resumes, so an interrupted ``reproduce`` continues where it stopped when run again.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from diswm.configs import method_values
from diswm.paths import VIDEO_KINDS, outputs_home
from diswm.records import checkpoint_curves, finetune_records
from diswm.scales import SCALE_NAMES
from diswm_app.experiments.common import identity, resolve_config
from diswm_app.experiments.paper import ITEMS, Cell, PaperItem


def uses_videos(method: str) -> bool:
    """Whether ``method`` starts from a video model pretrained on the source's videos (a teacher to distil, or
    the conv video model that DV2 Finetune and APV start from)."""
    values = method_values(method)
    return values["pretrain_beta"] is not None or values["init_pretrained"]


def stages(cell: Cell, scale: str, seed: int, videos: str = "dreamerv2_replay") -> list[tuple[str, list[str]]]:
    overrides = [f"{k}={v}" for k, v in cell.overrides]
    z_dim = [f"z_dim={v}" for k, v in cell.overrides if k == "z_dim"]
    random = ["videos=random"] if videos == "random" else []  # the replay videos are every stage's default
    plan: list[tuple[str, list[str]]] = []
    if uses_videos(cell.method):
        plan.append(("collect", ["with", f"task={cell.source}", scale]) if random else
                    ("source_agent", ["with", f"task={cell.source}", scale]))
    teacher_beta = method_values(cell.method)["pretrain_beta"]  # β2 of the teacher it distils
    if teacher_beta is not None:
        plan.append(("pretrain", ["with", f"task={cell.source}", scale, f"beta={teacher_beta}", *z_dim, *random]))
    if method_values(cell.method)["init_pretrained"]:
        plan.append(("pretrain", ["with", "conv", f"task={cell.source}", scale, *random]))
    plan.append(("finetune", ["with", cell.method, scale, f"source={cell.source}", f"task={cell.task}",
                              f"seed={seed}", *overrides, *(random if uses_videos(cell.method) else [])]))
    return plan


def finetune_config(argv: list[str]) -> dict[str, Any]:
    """The config a ``diswm finetune`` command line (``with <named> <key=value> ...``) resolves to."""
    from diswm_app.experiments.finetune import ex

    return resolve_config(ex, argv)


def cell_identity(cell: Cell, scale: str, seed: int, videos: str = "dreamerv2_replay") -> dict[str, Any]:
    """The identity of the finetune run that this cell's stages (:func:`stages`) start."""
    argv = tuple(next(argv for stage, argv in stages(cell, scale, seed, videos) if stage == "finetune"))
    if argv not in _IDENTITIES:  # keyed by the command itself: it alone determines the identity
        _IDENTITIES[argv] = identity(finetune_config(list(argv)))
    return _IDENTITIES[argv]


_IDENTITIES: dict[tuple[str, ...], dict[str, Any]] = {}


def matches(record: dict[str, Any], cell: Cell, scale: str, seed: int, videos: str = "dreamerv2_replay") -> bool:
    """Whether a finetune record is this cell's run: its full identity (every setting that changes the result,
    the budget included) equals the one the cell's command resolves to, so a run with another budget, an older
    default or other videos never counts as the cell."""
    return identity(record["config"]) == cell_identity(cell, scale, seed, videos)


Stage = tuple[str, list[str]]  # (experiment, Sacred command-line arguments)
STAGE_ORDER = ("collect", "source_agent", "pretrain", "finetune")


def plan(item: PaperItem, scale: str, seeds: int, runs_dir: Path, videos: str = "dreamerv2_replay"
         ) -> list[list[Stage]]:
    """The stages still to run, in dependency levels (videos, pretrain, finetune), each stage once."""
    records = finetune_records(runs_dir)
    levels: dict[str, list[Stage]] = {name: [] for name in STAGE_ORDER}
    for cell in item.cells:
        for seed in range(seeds):
            if any(r["status"] == "COMPLETED" and matches(r, cell, scale, seed, videos) for r in records):
                print(f"[reproduce] {item.name}: {cell.label} seed {seed}: finished record exists, skipped")
                continue
            for stage, argv in stages(cell, scale, seed, videos):
                if (stage, argv) not in levels[stage]:
                    levels[stage].append((stage, argv))
    return [levels[name] for name in STAGE_ORDER if levels[name]]


def run_stage(stage: str, argv: list[str]) -> int:
    """Run one stage's Sacred experiment in this process; its exit status."""
    return importlib.import_module(f"diswm_app.experiments.{stage}").run_cli(argv)


class StageFailed(RuntimeError):
    """A stage exited non-zero (its own error line came before): reproduce stops, and rerunning resumes."""


def _check(results: list[tuple[Stage, int] | tuple[Stage, int, str]]) -> None:
    failed = [f"`diswm {stage} {' '.join(argv)}`" + (f" ({result[2]})" if len(result) > 2 and result[2] else "")
              for result in results for (stage, argv), code in [result[:2]] if code != 0]
    if failed:
        raise StageFailed(f"{', '.join(failed)} failed; rerun reproduce to resume")


def launch_local(levels: list[list[Stage]], label: str) -> None:
    for level in levels:
        for stage, argv in level:
            print(f"[reproduce] {label}: diswm {stage} {' '.join(argv)}", flush=True)
            _check([((stage, argv), run_stage(stage, argv))])


def launch_ray(levels: list[list[Stage]], label: str, **options) -> None:
    """Each level's stages as parallel Ray tasks (:mod:`diswm_app.experiments.ray_launcher`: retried on node
    loss, shared storage checked first, CPUs per stage, progress); a level starts when the one before has
    finished. On a cluster with GPUs each stage asks for ``1 / runs_per_gpu`` of one (Ray's fractional GPUs), so
    that many share a device, each bounded to that fraction of its memory."""
    from diswm_app.experiments.ray_launcher import SharedStorageError
    from diswm_app.experiments.ray_launcher import launch_ray as launch

    try:
        launch(levels, label, _check, **options)
    except SharedStorageError as error:
        raise StageFailed(f"{error}") from None


LAUNCHERS: dict[str, Callable[..., None]] = {"local": launch_local, "ray": launch_ray}


def run_item(item: PaperItem, scale: str, seeds: int, runs_dir: Path, launcher: str = "local",
             videos: str = "dreamerv2_replay", **options) -> None:
    """Run every unfinished cell of ``item`` with ``launcher`` (``local`` or ``ray``; ``options`` go to it)."""
    LAUNCHERS[launcher](plan(item, scale, seeds, runs_dir, videos), item.name, **options)


def cost_rows(item: PaperItem, scale: str, seeds: int, records: list[dict[str, Any]],
              videos: str = "dreamerv2_replay") -> list[str]:
    """Table C: measured training env steps and time (all records of a cell, resumed parts summed),
    inference time per evaluation episode and parameters (world model without the teacher, actor, critic)."""
    table = []
    for cell in item.cells:
        mine = [r for seed in range(seeds) for r in records if matches(r, cell, scale, seed, videos)]
        if not mine:
            table.append(f"| {cell.method} | not run | | | | {cell.paper} |")
            continue
        steps = max(r["config"]["env_steps"] for r in mine)
        minutes = sum(r["seconds"] for r in mine) / 60 / max(1, len({r["config"]["seed"] for r in mine}))
        inference = [v for r in mine for v in r["inference"]]
        params = max(r["info"].get("parameters", {}).get("agent", 0) for r in mine) / 1e6
        table.append(f"| {cell.method} | {steps:,} | {minutes:.3g} | "
                     f"{np.mean(inference) if inference else float('nan'):.2f} | {params:.2f} | {cell.paper} |")
    return table


def run_folders(records: list[dict[str, Any]]) -> list[Path]:
    """The checkpoint folders of ``records`` that exist on this machine."""
    folders = [record["info"].get("out_dir") or record["config"].get("out_dir") for record in records]
    return [Path(folder) for folder in folders if folder and Path(folder).is_dir()]


def aggregate(item: PaperItem, scale: str, seeds: int, runs_dir: Path, results_dir: Path,
              videos: str = "dreamerv2_replay") -> tuple[Path, Path]:
    """CSV of every evaluation point and a Markdown table of final returns (mean ± sd over seeds), in
    ``<item>_<scale>.{csv,md}`` (``<item>_<scale>_random.*`` for random-policy videos)."""
    records = finetune_records(runs_dir)
    rows, table = [], []
    for cell in item.cells:
        finals = []
        for seed in range(seeds):
            curve: dict[int, float] = {}
            mine = sorted((r for r in records if matches(r, cell, scale, seed, videos)), key=lambda r: r["id"])
            # every record of the run (a resumed run has several) and its checkpoint's own evaluation history,
            # so an evaluation that a killed run never flushed to its record still counts
            checkpoints = [checkpoint_curves(folder) for folder in dict.fromkeys(run_folders(mine))]
            for part in [*mine, *checkpoints]:
                if item.metric == "success":  # in %, as Table B prints it
                    curve.update((step, 100.0 * rate) for step, rate in part["success_curve"])
                else:
                    curve.update(part["curve"])
            for step, value in sorted(curve.items()):
                rows.append({"item": item.name, "scale": scale, "method": cell.method, "source": cell.source,
                             "task": cell.task, "overrides": " ".join(f"{k}={v}" for k, v in cell.overrides),
                             "seed": seed, "step": step, item.metric: value})
            if curve:
                finals.append(curve[max(curve)])
        ours = f"{np.mean(finals):.1f} ± {np.std(finals, ddof=1) if len(finals) > 1 else 0:.1f} (n={len(finals)})" \
            if finals else "not run"
        paper = "" if cell.paper is None else str(cell.paper)
        table.append(f"| {cell.source} → {cell.task} | {cell.method}{''.join(f' {k}={v}' for k, v in cell.overrides)}"
                     f" | {ours} | {paper} |")
    for (source, task), quoted in item.quoted.items():
        for method, value in quoted.items():
            table.append(f"| {source} → {task} | {method} | quoted, not rerun | {value} |")
    results_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{item.name}_{scale}" + ("_random" if videos == "random" else "")
    csv_path = results_dir / f"{stem}.csv"
    with open(csv_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["item", "scale", "method", "source", "task", "overrides", "seed",
                                                    "step", item.metric])
        writer.writeheader()
        writer.writerows(rows)
    markdown = results_dir / f"{stem}.md"
    if item.name == "tableC":
        rows_c = cost_rows(item, scale, seeds, records, videos)
        rows_c += [f"| {m} | quoted, not rerun | | | | {v} |" for q in item.quoted.values() for m, v in q.items()]
        markdown.write_text(
            f"# {item.description}\n\nScale: **{scale}**, measured on this machine (see the run records' host); "
            "paper: (training steps, minutes, seconds per episode, M parameters) on one RTX 3090. Inference: each "
            "in-run evaluation's wall time divided by its episodes, which ran side by side as the run's config says "
            "(`eval_batch`, `eval_workers`); the released code plays them one at a time.\n\n"
            "| method | training env steps | training time (min) | inference (s/episode) | params (M) | paper |\n"
            "|---|---|---|---|---|---|\n" + "\n".join(rows_c) + "\n")
        return csv_path, markdown
    markdown.write_text(
        f"# {item.description}\n\nScale: **{scale}** ({seeds} seed(s)"
        f"{'; random-policy source videos' if videos == 'random' else ''}); final evaluation "
        f"{'success rate (%, held-out texture)' if item.metric == 'success' else 'return'}.\n"
        + ("Paper: 3 seeds x 10 episodes on the unseen metal texture; its DrawerWorld budget is not stated, ours "
           "is the scale's.\n\n" if item.metric == "success" else
           "Paper numbers at 1M env steps (Figure 4 values read off the figure, ±~20).\n\n")
        + "| pair | method | ours | paper |\n|---|---|---|---|\n" + "\n".join(table) + "\n")
    return csv_path, markdown


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not >= 1")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="diswm reproduce", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("item", choices=sorted(ITEMS))
    parser.add_argument("--scale", default="smoke", choices=SCALE_NAMES)
    parser.add_argument("--seeds", type=positive_int, default=1, help="seeds 0 .. N-1 of every cell (N >= 1)")
    parser.add_argument("--launcher", default="local", choices=sorted(LAUNCHERS),
                        help="local: one stage after another; ray: each level's stages as parallel Ray tasks")
    parser.add_argument("--address", default=None, help="Ray cluster address (default: start a local instance)")
    parser.add_argument("--runs-per-gpu", type=positive_int, default=1,
                        help="with --launcher ray on GPUs: runs sharing one GPU (each asks Ray for 1/K of it and "
                             "bounds its memory to that fraction)")
    parser.add_argument("--cpus-per-stage", type=positive_int, default=1,
                        help="with --launcher ray: CPUs each CPU stage asks Ray for (its torch, OpenMP and renderer "
                             "threads are set to them)")
    parser.add_argument("--max-retries", type=int, default=None,
                        help="with --launcher ray: times a stage is retried when its worker or node dies (default "
                             "3); a stage that fails by itself is not retried")
    parser.add_argument("--only", nargs="*", default=None, help="cells to run, as SOURCE:TARGET (default: all)")
    parser.add_argument("--methods", nargs="*", default=None, help="methods to run (default: every method)")
    parser.add_argument("--videos", default=VIDEO_KINDS[0], choices=VIDEO_KINDS,
                        help="source videos: a DreamerV2 agent's replay (the paper's, default) or a random policy's")
    parser.add_argument("--aggregate-only", action="store_true", help="only rebuild the CSV and Markdown")
    parser.add_argument("--dry-run", action="store_true", help="print the stages that would run, run nothing")
    args = parser.parse_args(argv)
    item = full_item = ITEMS[args.item]
    if args.only:
        pairs = sorted({f"{c.source}:{c.task}" for c in item.cells})
        unknown = [pair for pair in args.only if pair not in pairs]
        if unknown:
            parser.error(f"--only: {unknown} not in {args.item}; its SOURCE:TARGET pairs are {pairs}")
        keep = {tuple(pair.split(":")) for pair in args.only}
        item = replace(item, cells=tuple(c for c in item.cells if (c.source, c.task) in keep),
                       quoted={k: v for k, v in item.quoted.items() if k in keep})
    if args.methods:
        unknown = set(args.methods) - {c.method for c in item.cells}
        if unknown:
            methods = sorted({c.method for c in item.cells})
            parser.error(f"--methods: {sorted(unknown)} not in {args.item} (it has {methods})")
        item = replace(item, cells=tuple(c for c in item.cells if c.method in args.methods))
    if not item.cells:
        parser.error(f"nothing to run: no cell of {args.item} is both in --only and in --methods")
    runs_dir = outputs_home() / "runs"
    if args.dry_run:
        for level in plan(item, args.scale, args.seeds, runs_dir, args.videos):
            for stage, argv in level:
                print(f"[reproduce] {item.name}: would run: diswm {stage} {' '.join(argv)}")
        return 0
    if not args.aggregate_only:
        options = {"address": args.address, "runs_per_gpu": args.runs_per_gpu, "cpus_per_stage": args.cpus_per_stage,
                   **({"max_retries": args.max_retries} if args.max_retries is not None else {})} \
            if args.launcher == "ray" else {}
        for flag, given in (("--cpus-per-stage", args.cpus_per_stage != 1),
                            ("--max-retries", args.max_retries is not None)):
            if given and args.launcher != "ray":
                parser.error(f"{flag} needs --launcher ray")
        if args.max_retries is not None and args.max_retries < 0:
            parser.error(f"--max-retries: {args.max_retries} is not >= 0")
        if args.address and args.launcher != "ray":
            parser.error("--address needs --launcher ray")
        if args.runs_per_gpu > 1 and args.launcher != "ray":
            parser.error("--runs-per-gpu needs --launcher ray")
        try:
            run_item(item, args.scale, args.seeds, runs_dir, args.launcher, args.videos, **options)
        except StageFailed as failed:  # the stage said why; one more line says what to do
            print(f"[reproduce] {failed}", file=sys.stderr)
            return 1
    # the table always has every cell of the item (those not run yet say so): a run of a subset never
    # rewrites it with fewer rows
    for path in aggregate(full_item, args.scale, args.seeds, runs_dir, outputs_home() / "results", args.videos):
        print(f"[reproduce] wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
