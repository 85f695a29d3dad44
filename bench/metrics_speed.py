"""Time MIG and DCI (default estimator) on 10,000 train / 5,000 test points with 20 codes, written to
bench/results/metrics_speed.json. Factors: ``--factors`` integer factors with ``--classes`` classes,
codes = noisy mixtures of them (a realistic, partly entangled case).

    python -m bench.metrics_speed [--factors 10 --classes 10 --n-jobs 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import sklearn

from diswm.atomic import write_json
from diswm.metrics import dci, mig

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=int, default=10_000)
    parser.add_argument("--test", type=int, default=5_000)
    parser.add_argument("--codes", type=int, default=20)
    parser.add_argument("--factors", type=int, default=10)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--one-factor", action="store_true",
                        help="only time the reference GradientBoostingClassifier fit of one factor, single-threaded")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    factors = rng.integers(0, args.classes, size=(args.train + args.test, args.factors))
    mixing = rng.normal(size=(args.factors, args.codes)) * (rng.uniform(size=(args.factors, args.codes)) < 0.2)
    codes = factors @ mixing + rng.normal(size=(len(factors), args.codes))
    if args.one_factor:  # the floor of DCI's cost: one factor's reference boosting on one core
        from sklearn.ensemble import GradientBoostingClassifier

        start = time.perf_counter()
        GradientBoostingClassifier(random_state=0).fit(codes[: args.train], factors[: args.train, 0])
        seconds = time.perf_counter() - start
        print(f"one factor ({args.classes} classes): GradientBoostingClassifier fit {seconds:.1f} s")
        return RESULTS / "metrics_speed.json"
    start = time.perf_counter()
    mig_value = mig(codes[: args.train], factors[: args.train])
    mig_s = time.perf_counter() - start
    start = time.perf_counter()
    scores = dci(codes[: args.train], factors[: args.train], codes[args.train :], factors[args.train :],
                 n_jobs=args.n_jobs)
    dci_s = time.perf_counter() - start
    path = RESULTS / "metrics_speed.json"
    write_json(path, {
        "benchmark": "metrics_speed", "date": datetime.now(UTC).isoformat(timespec="seconds"),
        **vars(args), "mig_s": mig_s, "dci_s": dci_s, "total_s": mig_s + dci_s, "mig": mig_value, "dci": scores,
        "sklearn": sklearn.__version__, "cpus": os.cpu_count(), "processor": platform.processor(),
    })
    print(f"MIG {mig_s:.1f} s, DCI {dci_s:.1f} s (n_jobs={args.n_jobs}) -> {path}")
    return path


if __name__ == "__main__":
    main()
