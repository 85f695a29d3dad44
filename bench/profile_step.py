"""Profile one train step (world model + behaviour, DisWM configuration) with torch.profiler.

    python -m bench.profile_step [--scale paper --batch 50 --length 50] [--device cuda] [--out profile.txt]

Prints (and writes to ``--out``) the operators that take the most device time and the most host time,
plus the number of kernel launches, so that launch-bound and compute-bound steps can be told apart.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from bench.train_step import build
from diswm.scales import SCALE_NAMES


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="paper", choices=SCALE_NAMES)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--length", type=int, default=50)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--compile", action="store_true", help="torch.compile the step functions")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rows", type=int, default=25)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    device = torch.device(args.device)
    model, learner, behavior, batch = build(args.scale, args.batch, args.length, device, compile=args.compile)

    def step(i: int) -> None:
        _, post = learner.update(batch, model.distill_weight(i))
        behavior.update(model.rssm, model.reward, post)

    for i in range(args.warmup):
        step(i)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        step(args.warmup)
        if device.type == "cuda":
            torch.cuda.synchronize()
    events = prof.key_averages()
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    parts = [f"{args.scale} B{args.batch}xL{args.length} on {device}", "", f"by {sort}:",
             events.table(sort_by=sort, row_limit=args.rows)]
    if device.type == "cuda":
        kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
        parts += ["by self_cpu_time_total:", events.table(sort_by="self_cpu_time_total", row_limit=args.rows),
                  f"device events (kernels and copies) in one step: {len(kernels)}"]
    text = "\n".join(parts)
    print(text)
    if args.out:
        args.out.write_text(text)
    return text


if __name__ == "__main__":
    main()
