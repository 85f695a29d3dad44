"""Several finetune loops packed on one device: K processes of bench.finetune_speed side by side, each bounded
to 1/K of the GPU's memory (as ``diswm reproduce --launcher ray --runs-per-gpu K`` runs them), for each K; the
aggregate env steps/s is the sum of theirs. Writes bench/results/packed_runs_<scale>_<device>.json.

    python -m bench.packed_runs --scale paper --device cuda --runs 1 2 4 8 [-- finetune_speed flags]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import torch

from diswm.atomic import write_json
from diswm.scales import SCALE_NAMES

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="paper", choices=SCALE_NAMES)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--env-steps", type=int, default=2000)
    parser.add_argument("--warm-steps", type=int, default=1000)
    parser.add_argument("extra", nargs=argparse.REMAINDER, help="flags for bench.finetune_speed (after --)")
    args = parser.parse_args(argv)
    extra = [a for a in args.extra if a != "--"]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for k in args.runs:
            outs = [Path(folder) / f"k{k}_{i}.json" for i in range(k)]
            processes = [subprocess.Popen([
                sys.executable, "-m", "bench.finetune_speed", "--scale", args.scale, "--device", args.device,
                "--env-steps", str(args.env_steps), "--warm-steps", str(args.warm_steps), "--out", str(out),
                *(["--memory-fraction", f"{1 / k:g}"] if args.device == "cuda" else []), *extra])
                for out in outs]
            codes = [process.wait() for process in processes]
            rates = [json.loads(out.read_text())["env_steps_per_s"] if code == 0 and out.is_file() else None
                     for out, code in zip(outs, codes, strict=True)]
            total = sum(r for r in rates if r is not None)
            rows.append({"runs": k, "env_steps_per_s": rates, "aggregate_env_steps_per_s": total,
                         "failed": sum(r is None for r in rates)})
            print(f"{k} packed run(s): {total:.1f} env steps/s in all ({rates})", flush=True)
    base = rows[0]["aggregate_env_steps_per_s"] or float("nan")
    for row in rows:
        row["speedup_over_one"] = row["aggregate_env_steps_per_s"] / base
    path = RESULTS / f"packed_runs_{args.scale}_{args.device}.json"
    write_json(path, {"benchmark": "packed_runs", "date": datetime.now(UTC).isoformat(timespec="seconds"),
                      "scale": args.scale, "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
                      "flags": extra, "rows": rows})
    return path


if __name__ == "__main__":
    main()
