"""How fast can a train step be on this CPU? Counts the floating-point work of one world-model update and
one behaviour update (``torch.utils.flop_counter``: convolutions and matrix multiplies, forward and
backward) and measures the rate this machine reaches on large fp32 matrix multiplies and convolutions.
Their ratio is a lower bound on the step time for the same computation in fp32, whatever the code.

    python -m bench.step_flops [--scale paper --batch 50 --length 50]

Writes bench/results/step_flops_<scale>_B<batch>xL<length>.json. Run it with nothing else on the machine:
the peak rates are measured, not looked up.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from bench.train_step import build
from diswm.atomic import write_json
from diswm.scales import SCALE_NAMES

RESULTS = Path(__file__).resolve().parent / "results"


def measured_official_step(batch: int, length: int) -> tuple[float | None, str | None]:
    """The released code's median train step at ``batch x length`` and its file, as ``python -m bench.official_step``
    measured it on this kind of machine (``bench/results/official_step_cpu_B<B>xL<L>.json``), if it has run."""
    path = RESULTS / f"official_step_cpu_B{batch}xL{length}.json"
    if not path.is_file():
        return None, None
    result = json.loads(path.read_text())
    released = [value for key, value in result["median_step_s"].items() if key.endswith(":released")]
    return (released[0], str(path.relative_to(RESULTS.parent.parent))) if released else (None, None)


def counted(fn) -> tuple[int, dict[str, int], object]:
    """Total FLOPs of ``fn()``, FLOPs per aten operator, and its return value."""
    with FlopCounterMode(display=False) as counter:
        out = fn()
    by_op = {str(op): int(n) for op, n in counter.get_flop_counts()["Global"].items()}
    return counter.get_total_flops(), by_op, out


def best_rate(fn, flops: float, repeats: int = 5) -> float:
    """The best of ``repeats`` timings of ``fn()`` as FLOP/s (one warm-up call first)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return flops / best


def peak_rates() -> dict[str, float]:
    """GFLOP/s of a 2048^3 fp32 matmul and of a 64-channel 3x3 convolution forward + backward."""
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(2048, 2048, generator=gen), torch.randn(2048, 2048, generator=gen)
    matmul = best_rate(lambda: a @ b, 2 * 2048 ** 3)
    x = torch.randn(64, 64, 32, 32, generator=gen).to(memory_format=torch.channels_last).requires_grad_()
    w = torch.randn(64, 64, 3, 3, generator=gen).to(memory_format=torch.channels_last).requires_grad_()

    def conv() -> None:
        F.conv2d(x, w, padding=1).sum().backward()

    conv_flops, _, _ = counted(conv)
    return {"matmul_2048_gflops": matmul / 1e9, "conv_fwd_bwd_gflops": best_rate(conv, conv_flops) / 1e9}


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="paper", choices=SCALE_NAMES)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--length", type=int, default=50)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    model, learner, behavior, batch = build(args.scale, args.batch, args.length, torch.device("cpu"))
    learner.update(batch, model.distill_weight(0))  # the counted calls are not the first ones
    wm_flops, wm_ops, (_, post) = counted(lambda: learner.update(batch, model.distill_weight(1)))
    beh_flops, beh_ops, _ = counted(lambda: behavior.update(model.rssm, model.reward, post))
    peaks = peak_rates()
    best = max(peaks.values()) * 1e9
    total = wm_flops + beh_flops
    official, official_file = measured_official_step(args.batch, args.length)
    result = {
        "benchmark": "step_flops",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "device": platform.processor() or "cpu", "torch": torch.__version__,
        "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
        "scale": args.scale, "batch": args.batch, "length": args.length,
        "world_model_gflop": wm_flops / 1e9, "behaviour_gflop": beh_flops / 1e9, "train_step_gflop": total / 1e9,
        "world_model_gflop_by_op": {op: n / 1e9 for op, n in wm_ops.items()},
        "behaviour_gflop_by_op": {op: n / 1e9 for op, n in beh_ops.items()},
        **peaks,
        "lower_bound_step_s": total / best,
        "official_train_step_s": official, "official_train_step_file": official_file,  # bench.official_step
        "max_speedup_over_official": official / (total / best) if official else None,
    }
    path = RESULTS / f"step_flops_{args.scale}_B{args.batch}xL{args.length}.json"
    write_json(path, result)
    print(f"{total / 1e9:.0f} GFLOP per train step (world model {wm_flops / 1e9:.0f}, behaviour "
          f"{beh_flops / 1e9:.0f}); peak {best / 1e9:.0f} GFLOP/s -> at least {total / best:.2f} s -> {path}")
    return path


if __name__ == "__main__":
    main()
