"""The cpu study's analysis, as ``results/cpu_study/PLAN.md`` fixes it: each run's primary score (mean evaluation
return at >= 80% of the budget) and secondary score (mean over the whole curve), arm means, DisWM − w/o
distillation (Fig. 7) and DisWM − DreamerV2 (Fig. 4) with 95% stratified-bootstrap CIs over seeds and
evaluations, the probability of improvement (Agarwal et al., NeurIPS 2021, ``rliable``) and the decision.

    diswm cpu-study analyse        # results/cpu_study/summary.json, cpu_study.{png,pdf}

It reads only the study's Sacred records (``results/cpu_study/runs``), merging a resumed run's records by its
folder, and runs on partial results too: it says which runs are missing or unfinished, and makes a decision
only when every planned run has finished its budget.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from diswm.atomic import write_json
from diswm.records import finetune_records, flat_config
from diswm_app.experiments import cpu_study as plan

BOOTSTRAP_SAMPLES = 10_000
COMPARISONS = {"diswm - no_distill": ("diswm", "no_distill"), "diswm - dreamerv2": ("diswm", "dreamerv2")}
#: the paper's relative margin of DisWM over DreamerV2 on Reacher Easy -> Cheetah Run (815 / 650 - 1, Fig. 4)
RELATIVE_MARGIN = 0.25


def is_study_run(config: dict[str, Any]) -> bool:
    """A finetune record of the plan: its arm, pair, scale and budget (any seed)."""
    return (config.get("method") in plan.ARMS and config.get("scale") == plan.SCALE
            and config.get("task") == plan.TASK and config.get("source") in (plan.SOURCE, plan.FALLBACK_SOURCE)
            and config.get("env_steps") == plan.ENV_STEPS and config.get("eval_every") == plan.EVAL_EVERY)


def study_curves(runs_dir: Path) -> dict[tuple[str, int], list[tuple[int, float]]]:
    """(arm, seed) -> the run's evaluation curve [(env steps, mean return)], its records merged by resumption. A
    DisWM run counts only with the source the recorded gate chose (:func:`cpu_study.diswm_source`); the baselines
    read no teacher, so their source names a folder only."""
    source = plan.diswm_source(plan.recorded_gates())
    merged: dict[tuple[str, int], dict[int, float]] = {}
    for record in sorted(finetune_records(runs_dir), key=lambda r: r["id"]):
        config = flat_config(record["config"])
        if not is_study_run(config) or (config["method"] == "diswm" and config["source"] != source):
            continue
        merged.setdefault((config["method"], int(config["seed"])), {}).update(dict(record["curve"]))
    return {key: sorted(points.items()) for key, points in merged.items()}


def expected_steps() -> list[int]:
    """The env steps of a finished run's evaluations: every EVAL_EVERY from the end of the prefill to the budget."""
    return list(range(plan.EVAL_EVERY, plan.ENV_STEPS + 1, plan.EVAL_EVERY))


def run_scores(curve: list[tuple[int, float]]) -> dict[str, Any]:
    """Primary (evaluations at >= PRIMARY_FROM of the budget), secondary (the whole curve), and whether finished."""
    primary = [value for step, value in curve if step >= plan.PRIMARY_FROM * plan.ENV_STEPS]
    return {"finished": [step for step, _ in curve] == expected_steps(),
            "last_env_steps": curve[-1][0] if curve else 0,
            "primary_evaluations": primary, "all_evaluations": [value for _, value in curve],
            "primary": float(np.mean(primary)) if primary else None,
            "secondary": float(np.mean([value for _, value in curve])) if curve else None}


def _resampled_arm_means(runs: list[list[float]], rng: np.random.Generator, samples: int) -> np.ndarray:
    """Stratum = one arm: its runs drawn with replacement, then each drawn run's evaluations with replacement."""
    values = np.array(runs, dtype=float)  # [runs, evaluations]; every run has as many scored evaluations
    n_runs, n_evals = values.shape
    picked = rng.integers(0, n_runs, size=(samples, n_runs))
    columns = rng.integers(0, n_evals, size=(samples, n_runs, n_evals))
    return values[picked[..., None], columns].mean(axis=(1, 2))


def bootstrap_difference(a: list[list[float]], b: list[list[float]], rng: np.random.Generator,
                         samples: int = BOOTSTRAP_SAMPLES) -> dict[str, float]:
    """Mean(a) − mean(b) (each the mean of its runs' scores) and its 95% stratified-bootstrap CI."""
    point = float(np.mean([np.mean(run) for run in a]) - np.mean([np.mean(run) for run in b]))
    differences = _resampled_arm_means(a, rng, samples) - _resampled_arm_means(b, rng, samples)
    low, high = np.percentile(differences, [2.5, 97.5])
    return {"difference": point, "ci_low": float(low), "ci_high": float(high)}


def probability_of_improvement(x: list[float], y: list[float]) -> float:
    """P(X > Y) over every pair of one run of each arm, ties counted half (rliable's, for one task)."""
    xs, ys = np.asarray(x, float)[:, None], np.asarray(y, float)[None, :]
    return float(np.mean((xs > ys) + 0.5 * (xs == ys)))


def bootstrap_improvement(x: list[float], y: list[float], rng: np.random.Generator,
                          samples: int = BOOTSTRAP_SAMPLES) -> dict[str, float]:
    """The probability of improvement with its 95% CI from the stratified bootstrap over runs."""
    xs, ys = np.asarray(x, float), np.asarray(y, float)
    px = xs[rng.integers(0, len(xs), size=(samples, len(xs)))][:, :, None]
    py = ys[rng.integers(0, len(ys), size=(samples, len(ys)))][:, None, :]
    resampled = ((px > py) + 0.5 * (px == py)).mean(axis=(1, 2))
    low, high = np.percentile(resampled, [2.5, 97.5])
    return {"probability": probability_of_improvement(x, y), "ci_low": float(low), "ci_high": float(high)}


def decide(comparisons: dict[str, dict[str, Any]], dreamerv2_mean: float) -> str:
    """PLAN.md's rule on the primary score: shown, not shown, or inconclusive."""
    fig7, fig4 = comparisons["diswm - no_distill"]["primary"], comparisons["diswm - dreamerv2"]["primary"]
    if fig7["ci_low"] > 0 and fig4["ci_low"] > 0:
        return "shown"
    if fig4["ci_high"] < RELATIVE_MARGIN * dreamerv2_mean:
        return "not shown"
    return "inconclusive"


def summarise(runs_dir: Path, seeds: tuple[int, ...] | None = None) -> dict[str, Any]:
    """The whole analysis as JSON data (see the module docstring)."""
    seeds = plan.seeds_planned() if seeds is None else seeds
    curves = study_curves(runs_dir)
    gates = plan.recorded_gates()
    runs = {f"{arm} seed {seed}": {"arm": arm, "seed": seed, **run_scores(curves.get((arm, seed), []))}
            for arm in plan.ARMS for seed in seeds}
    missing = [name for name, run in runs.items() if not run["finished"]]
    finished = {arm: [run for run in runs.values() if run["arm"] == arm and run["finished"]] for arm in plan.ARMS}
    summary: dict[str, Any] = {
        "plan": "results/cpu_study/PLAN.md", "pair": f"{plan.diswm_source(gates)} -> {plan.TASK}",
        "gates": gates, "scale": plan.SCALE, "seeds": list(seeds), "runs": runs,
        "unfinished": {name: f"{runs[name]['last_env_steps']}/{plan.ENV_STEPS} env steps" for name in missing},
        "arm_means": {arm: {"runs": len(done), **({score: float(np.mean([r[score] for r in done]))
                                                   for score in ("primary", "secondary")} if done else {})}
                      for arm, done in finished.items()},
    }
    rng = np.random.default_rng(0)
    comparisons: dict[str, dict[str, Any]] = {}
    for name, (a, b) in COMPARISONS.items():
        if not finished[a] or not finished[b]:
            continue
        comparisons[name] = {
            score: bootstrap_difference([r[evaluations] for r in finished[a]],
                                        [r[evaluations] for r in finished[b]], rng)
            for score, evaluations in (("primary", "primary_evaluations"), ("secondary", "all_evaluations"))}
        comparisons[name]["probability_of_improvement"] = bootstrap_improvement(
            [r["primary"] for r in finished[a]], [r["primary"] for r in finished[b]], rng)
    summary["comparisons"] = comparisons
    if missing:
        summary["decision"] = f"none yet: {len(missing)} of {len(runs)} planned runs unfinished"
    else:
        summary["decision"] = decide(comparisons, summary["arm_means"]["dreamerv2"]["primary"])
    return summary


def draw(summary: dict[str, Any], curves: dict[tuple[str, int], list[tuple[int, float]]], out: Path) -> list[Path]:
    """Each arm's mean curve with a 95% bootstrap band over seeds; each seed's primary score beside it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"diswm": "tab:red", "no_distill": "tab:orange", "dreamerv2": "tab:blue"}
    labels = {"diswm": "DisWM", "no_distill": "DisWM w/o distillation", "dreamerv2": "DreamerV2"}
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 1.2]})
    rng = np.random.default_rng(0)
    for index, arm in enumerate(plan.ARMS):
        arm_curves = [dict(curves[arm, seed]) for seed in summary["seeds"] if curves.get((arm, seed))]
        steps = sorted(set.intersection(*(set(c) for c in arm_curves))) if arm_curves else []
        if steps:
            values = np.array([[c[s] for s in steps] for c in arm_curves])  # [seeds, steps]
            means = values[rng.integers(0, len(values), size=(2000, len(values)))].mean(axis=1)
            low, high = np.percentile(means, [2.5, 97.5], axis=0)
            left.plot(steps, values.mean(axis=0), color=colours[arm], marker=".",
                      label=f"{labels[arm]} ({len(values)} seed{'s' * (len(values) != 1)})")
            left.fill_between(steps, low, high, color=colours[arm], alpha=0.2)
        scored = [run for run in summary["runs"].values() if run["arm"] == arm and run["primary"] is not None]
        scores = [run["primary"] for run in scored]
        for run in scored:
            right.scatter(index, run["primary"], color=colours[arm], marker="o" if run["finished"] else "x")
        if scores:
            right.hlines(np.mean(scores), index - 0.25, index + 0.25, color=colours[arm])
    left.axvline(plan.ENV_STEPS / 2, color="grey", linestyle=":", linewidth=1)
    left.text(plan.ENV_STEPS / 2, left.get_ylim()[1], " colours switch", va="top", fontsize=8, color="grey")
    left.axvspan(plan.PRIMARY_FROM * plan.ENV_STEPS, plan.ENV_STEPS, color="grey", alpha=0.08)
    left.set_xlim(0, plan.ENV_STEPS * 1.02)
    left.set(xlabel="env steps", ylabel="evaluation return (mean of 5 episodes)")
    left.set_title("mean over seeds; band: 95% bootstrap CI; shaded: primary window (>= 80k)", fontsize=9)
    left.legend(fontsize=8, loc="upper left")
    right.set_xticks(range(len(plan.ARMS)), [labels[a].replace(" w/o", "\nw/o") for a in plan.ARMS], fontsize=8)
    right.set_xlim(-0.5, len(plan.ARMS) - 0.5)
    right.set_ylabel("primary score")
    right.set_title("each seed (x: unfinished), bar: mean", fontsize=9)
    fig.suptitle(f"cpu study, {summary['pair'].replace('_', ' ')} (cpu scale, 100k env steps): "
                 f"decision {summary['decision']}", fontsize=10)
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "cpu_study.png", out / "cpu_study.pdf"]
    for path in paths:
        fig.savefig(path, dpi=120)
    plt.close(fig)
    return paths


def analyse_study(runs_dir: Path, out: Path) -> dict[str, Any]:
    """summary.json and the figure into ``out``; prints what is missing and the decision. An inconclusive decision
    on the plan's first seeds adds the declared extra seeds (``extra_seeds.json``, read by the driver)."""
    summary = summarise(runs_dir)
    curves = study_curves(runs_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "summary.json", summary)
    paths = draw(summary, curves, out)
    for name, progress in summary["unfinished"].items():
        print(f"[cpu-study] unfinished: {name} ({progress})")
    for name, comparison in summary["comparisons"].items():
        primary, improvement = comparison["primary"], comparison["probability_of_improvement"]["probability"]
        print(f"[cpu-study] {name}: {primary['difference']:+.1f} [{primary['ci_low']:+.1f}, {primary['ci_high']:+.1f}] "
              f"(primary; finished runs only), P(improvement) {improvement:.2f}")
    print(f"[cpu-study] decision: {summary['decision']}")
    if summary["decision"] == "inconclusive" and tuple(summary["seeds"]) == plan.SEEDS:
        write_json(plan.STUDY_DIR / "extra_seeds.json", {"seeds": list(plan.EXTRA_SEEDS),
                                                         "why": "inconclusive on seeds 0-2 (PLAN.md, Decision)"})
        print(f"[cpu-study] inconclusive: seeds {list(plan.EXTRA_SEEDS)} are added to every arm (PLAN.md); "
              "`diswm cpu-study run` starts them")
    print(*[out / "summary.json", *paths], sep="\n")
    return summary
