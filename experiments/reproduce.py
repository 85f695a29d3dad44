"""``diswm reproduce <table|figure> --scale smoke|cpu|paper --seeds N``: run every stage each cell needs
(collect the source videos, pretrain once per source and reuse, finetune), skip cells that already have a
completed record, resume interrupted ones, then aggregate to ``results/<item>_<scale>.csv`` and a
Markdown table with our mean ± sd beside the paper's number.

Cells run one after another (``--launcher local``). Every stage resumes, so an interrupted ``reproduce``
continues where it stopped when run again.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import sys
from pathlib import Path
from typing import Any

import numpy as np

from diswm.paths import outputs_home
from diswm.records import finetune_records
from experiments.paper import ITEMS, Cell, PaperItem

TEACHER_METHODS = {"diswm": 0.015, "no_disentangle": 0.0}  # method -> β2 of the teacher it distils
CONV_METHODS = ("dv2_finetune", "apv")  # start from the source's conv video model


def stages(cell: Cell, scale: str, seed: int) -> list[tuple[str, list[str]]]:
    overrides = [f"{k}={v}" for k, v in cell.overrides]
    z_dim = [f"z_dim={v}" for k, v in cell.overrides if k == "z_dim"]
    plan: list[tuple[str, list[str]]] = []
    if cell.method in TEACHER_METHODS or cell.method in CONV_METHODS:
        plan.append(("collect", ["with", f"task={cell.source}", scale]))
    if cell.method in TEACHER_METHODS:
        plan.append(("pretrain", ["with", f"task={cell.source}", scale, f"beta={TEACHER_METHODS[cell.method]}",
                                  *z_dim]))
    if cell.method in CONV_METHODS:
        plan.append(("pretrain", ["with", "conv", f"task={cell.source}", scale]))
    plan.append(("finetune", ["with", cell.method, scale, f"source={cell.source}", f"task={cell.task}",
                              f"seed={seed}", *overrides]))
    return plan


def matches(record: dict[str, Any], cell: Cell, scale: str, seed: int) -> bool:
    config = record["config"]
    wanted = {"method": cell.method, "source": cell.source, "task": cell.task, "scale": scale, "seed": seed,
              **dict(cell.overrides)}
    return all(config.get(k) == v for k, v in wanted.items())


def run_item(item: PaperItem, scale: str, seeds: int, runs_dir: Path) -> None:
    for cell in item.cells:
        for seed in range(seeds):
            if any(r["status"] == "COMPLETED" and matches(r, cell, scale, seed) for r in finetune_records(runs_dir)):
                print(f"[reproduce] {item.name}: {cell.label} seed {seed}: finished record exists, skipped")
                continue
            for stage, argv in stages(cell, scale, seed):
                print(f"[reproduce] {item.name}: diswm {stage} {' '.join(argv)}", flush=True)
                if importlib.import_module(f"experiments.{stage}").run_cli(argv) != 0:
                    raise RuntimeError(f"`diswm {stage} {' '.join(argv)}` failed; rerun reproduce to resume")


def cost_rows(item: PaperItem, scale: str, seeds: int, records: list[dict[str, Any]]) -> list[str]:
    """Table C: measured training env steps and time (all records of a cell, resumed parts summed),
    inference time per evaluation episode and parameters (world model without the teacher, actor, critic)."""
    table = []
    for cell in item.cells:
        mine = [r for seed in range(seeds) for r in records if matches(r, cell, scale, seed)]
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


def aggregate(item: PaperItem, scale: str, seeds: int, runs_dir: Path, results_dir: Path) -> tuple[Path, Path]:
    """CSV of every evaluation point and a Markdown table of final returns (mean ± sd over seeds)."""
    records = finetune_records(runs_dir)
    rows, table = [], []
    for cell in item.cells:
        finals = []
        for seed in range(seeds):
            curve: dict[int, float] = {}
            for record in sorted((r for r in records if matches(r, cell, scale, seed)), key=lambda r: r["id"]):
                curve.update(record["curve"])
            for step, value in sorted(curve.items()):
                rows.append({"item": item.name, "scale": scale, "method": cell.method, "source": cell.source,
                             "task": cell.task, "overrides": " ".join(f"{k}={v}" for k, v in cell.overrides),
                             "seed": seed, "step": step, "return": value})
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
    csv_path = results_dir / f"{item.name}_{scale}.csv"
    with open(csv_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["item", "scale", "method", "source", "task", "overrides", "seed",
                                                    "step", "return"])
        writer.writeheader()
        writer.writerows(rows)
    markdown = results_dir / f"{item.name}_{scale}.md"
    if item.name == "tableC":
        rows_c = cost_rows(item, scale, seeds, records)
        rows_c += [f"| {m} | quoted, not rerun | | | | {v} |" for q in item.quoted.values() for m, v in q.items()]
        markdown.write_text(
            f"# {item.description}\n\nScale: **{scale}**, measured on this machine (see the run records' host); "
            "paper: (training steps, minutes, seconds per episode, M parameters) on one RTX 3090.\n\n"
            "| method | training env steps | training time (min) | inference (s/episode) | params (M) | paper |\n"
            "|---|---|---|---|---|---|\n" + "\n".join(rows_c) + "\n")
        return csv_path, markdown
    markdown.write_text(
        f"# {item.description}\n\nScale: **{scale}** ({seeds} seed(s)); final evaluation return.\n"
        f"Paper numbers at 1M env steps (Figure 4 values read off the figure, ±~20).\n\n"
        "| pair | method | ours | paper |\n|---|---|---|---|\n" + "\n".join(table) + "\n")
    return csv_path, markdown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="diswm reproduce", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("item", choices=sorted(ITEMS))
    parser.add_argument("--scale", default="smoke", choices=("smoke", "cpu", "paper"))
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--launcher", default="local", choices=("local",))
    parser.add_argument("--only", nargs="*", default=None, help="cells to run, as SOURCE:TARGET (default: all)")
    parser.add_argument("--aggregate-only", action="store_true", help="only rebuild the CSV and Markdown")
    args = parser.parse_args(argv)
    item = ITEMS[args.item]
    if args.only:
        keep = {tuple(pair.split(":")) for pair in args.only}
        item = PaperItem(item.name, item.description, tuple(c for c in item.cells if (c.source, c.task) in keep),
                         {k: v for k, v in item.quoted.items() if k in keep})
    runs_dir = outputs_home() / "runs"
    if not args.aggregate_only:
        run_item(item, args.scale, args.seeds, runs_dir)
    for path in aggregate(item, args.scale, args.seeds, runs_dir, outputs_home() / "results"):
        print(f"[reproduce] wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
