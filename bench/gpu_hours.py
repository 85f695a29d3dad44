"""GPU-hours of each paper item at paper scale on one GPU, computed from the GPU measurements in bench/results
(the newest of each kind, in any subfolder) and the stages ``diswm reproduce ITEM --scale paper`` runs. Every
input is named with the file it was measured in, or marked as assumed; every output is an estimate of runs
that were never made. Writes bench/results/gpu_hours.{json,md}.

    python -m bench.gpu_hours [--seeds 3] [--items fig4 tableA ...] [--runs-per-gpu K] [--assume NAME=VALUE ...]

Per stage: a finetune run or source agent trains for its control steps at the measured loop rate
(``finetune_speed``, paper scale, CUDA graphs; it includes acting and rendering) and plays its evaluations
(evaluations x episodes x agent steps) at the measured per-step cost of side-by-side evaluation
(``eval_speed``), or, where that was not measured, at one policy step plus one rendered env step
(``act_speed``, one at a time: an upper bound). APV's runs (its stacked update is not graphed) add, per update,
what a DisWM update loses without CUDA graphs (``train_step``, compiled minus compiled + graphed; assumed, as
APV's own update was not measured on a GPU). A pretraining run costs its updates at a finetune world-model
update's time (``train_step``, compiled; assumed). ``--runs-per-gpu K`` divides the finetune and source-agent
hours by the aggregate speedup that ``packed_runs`` measured for K runs (none: 1). ``--assume NAME=VALUE``
replaces an input by a value of your own (a target, a what-if), marked as assumed in the output.
"""

from __future__ import annotations

import argparse
import importlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from diswm.atomic import write_json
from diswm.envs import DMC_TASK_NAMES, make_env
from diswm.training.finetune import FinetuneConfig
from diswm_app.experiments.common import resolve_config, stage_settings
from diswm_app.experiments.paper import ITEMS
from diswm_app.experiments.reproduce import stages
from diswm_app.experiments.source_agent import agent_settings

RESULTS = Path(__file__).resolve().parent / "results"


def newest(results: Path, benchmark: str, **wanted: Any) -> tuple[dict, str] | None:
    """The newest result of ``benchmark`` under ``results`` whose fields equal ``wanted``, and its path."""
    found = []
    for path in results.rglob("*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("benchmark") == benchmark and \
                all(data.get(key) == value for key, value in wanted.items()):
            where = f"{path.relative_to(results.parent.parent)}, {data.get('date', '')[:10]}"
            found.append((data.get("date", ""), data, where))
    if not found:
        return None
    _, data, path = max(found, key=lambda item: item[0])
    return data, path


def measured_inputs(results: Path, runs_per_gpu: int) -> dict[str, dict[str, Any]]:
    """Each input: ``value`` (seconds or a ratio), ``basis`` (``measured`` or ``assumed``) and ``source``."""
    inputs: dict[str, dict[str, Any]] = {}
    loop = newest(results, "finetune_speed", scale="paper", cuda_graph=True)
    if loop is None:
        raise SystemExit("no paper-scale finetune_speed result with cuda_graph in bench/results: run bench/gpu.sh")
    inputs["loop_env_steps_per_s"] = {"value": loop[0]["env_steps_per_s"], "basis": "measured", "source": loop[1],
                                      "device": loop[0].get("device")}
    evaluation = newest(results, "eval_speed", scale="paper", device_type="cuda")
    if evaluation is not None:
        data = evaluation[0]
        agent_steps = data["episodes"] * data["time_limit"] / 2  # the eval bench's action repeat is 2
        inputs["eval_seconds_per_episode_step"] = {
            "value": data["seconds_batched"] / agent_steps, "basis": "measured", "source": evaluation[1],
            "note": f"{data['episodes']} episodes side by side"}
    else:
        act = newest(results, "act_speed", scale="paper", device="cuda")
        if act is None:
            raise SystemExit("no paper-scale CUDA act_speed or eval_speed result in bench/results: run bench/gpu.sh")
        inputs["eval_seconds_per_episode_step"] = {
            "value": (act[0]["policy_step_ms"] + act[0]["env_step_render_default_ms"]) / 1e3, "basis": "measured",
            "source": act[1], "note": "one policy step + one rendered env step, one episode at a time (eval_speed "
                                      "not measured on a GPU; side by side should cost less)"}
    update = newest(results, "train_step", scale="paper", compile=True, cuda_graph=False, tf32=False,
                    batch=50, length=50)
    if update is None:
        raise SystemExit("no paper-scale compiled CUDA train_step result in bench/results: run bench/gpu.sh")
    inputs["pretrain_update_s"] = {"value": update[0]["world_model_s"], "basis": "assumed", "source": update[1],
                                   "note": "a pretraining update taken to cost a finetune world-model update"}
    graphed = newest(results, "train_step", scale="paper", compile=True, cuda_graph=True, tf32=False,
                     batch=50, length=50)
    if graphed is None:
        raise SystemExit("no paper-scale compiled CUDA-graph train_step result in bench/results: run bench/gpu.sh")
    inputs["ungraphed_update_extra_s"] = {
        "value": max(update[0]["train_step_s"] - graphed[0]["train_step_s"], 0.0), "basis": "assumed",
        "source": f"{update[1]} minus {graphed[1]}",
        "note": "APV's stacked update runs without CUDA graphs; taken to cost what a DisWM update loses without "
                "them (compiled, ungraphed minus graphed), added to the measured loop per update (APV not measured)"}
    packing = 1.0, "assumed", "none (one run per GPU)"
    if runs_per_gpu > 1:
        packed = newest(results, "packed_runs", scale="paper")
        row = next((r for r in packed[0]["rows"] if r["runs"] == runs_per_gpu and not r["failed"]), None) \
            if packed is not None and packed[0].get("device", "cpu") != "cpu" else None
        if row is None:
            raise SystemExit(f"--runs-per-gpu {runs_per_gpu}: no GPU packed_runs result for {runs_per_gpu} runs in "
                             "bench/results (bench/gpu.sh measures 1, 2, 4 and 8)")
        packing = row["speedup_over_one"], "measured", packed[1]
    inputs["packing_speedup"] = dict(zip(("value", "basis", "source"), packing, strict=True))
    inputs["packing_speedup"]["runs_per_gpu"] = runs_per_gpu
    return inputs


_EPISODE_LIMITS: dict[str, int] = {}


def episode_control_steps(config: FinetuneConfig) -> int:
    if config.env.time_limit is not None:
        return config.env.time_limit
    if config.env.task not in _EPISODE_LIMITS:
        env = make_env(config.env.task, render_quality="fast")
        _EPISODE_LIMITS[config.env.task] = env.time_limit
        env.close()
    return _EPISODE_LIMITS[config.env.task]


def control_steps_per_agent_step(config: FinetuneConfig) -> int:
    """2 (the action repeat), or 4 for DMC under the released code's double repeat."""
    repeat = config.env.action_repeat
    official_dmc = config.env.repeat_mode == "official" and config.env.task in DMC_TASK_NAMES
    return repeat * repeat if official_dmc else repeat


def stage_hours(stage: str, config: dict[str, Any], inputs: dict[str, dict[str, Any]]) -> float:
    if stage == "pretrain":
        return config["updates"] * inputs["pretrain_update_s"]["value"] / 3600
    if stage == "collect":
        return 0.0  # random-policy videos: CPU only
    # the source agent's budget is its frames (diswm_app.experiments.source_agent.agent_settings)
    settings = agent_settings(config) if stage == "source_agent" else stage_settings(FinetuneConfig, config)
    per_agent_step = control_steps_per_agent_step(settings)
    schedule = settings.schedule(per_agent_step)
    training = schedule["agent_steps"] * per_agent_step / inputs["loop_env_steps_per_s"]["value"]
    if settings.world_model.stacked:  # APV: its update is not graphed (diswm.configs.finetune_config)
        training += schedule["updates"] * inputs["ungraphed_update_extra_s"]["value"]
    episode_steps = episode_control_steps(settings) / per_agent_step
    evaluation = schedule["evaluations"] * settings.eval_episodes * episode_steps * \
        inputs["eval_seconds_per_episode_step"]["value"]
    return (training + evaluation) / 3600 / inputs["packing_speedup"]["value"]


def item_hours(name: str, seeds: int, inputs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Source agents and pretraining (once, whatever the seeds) and finetune runs (per seed) of one item."""
    once: dict[tuple[str, tuple[str, ...]], float] = {}
    per_seed: dict[tuple[str, tuple[str, ...]], float] = {}
    for cell in ITEMS[name].cells:
        for seed in range(seeds):
            for stage, argv in stages(cell, "paper", seed):
                key = (stage, tuple(argv))
                target = per_seed if stage == "finetune" else once
                if key not in target:
                    experiment = importlib.import_module(f"diswm_app.experiments.{stage}").ex
                    target[key] = stage_hours(stage, resolve_config(experiment, list(argv)), inputs)
    count = {stage: sum(1 for s, _ in once if s == stage) for stage in ("source_agent", "collect", "pretrain")}
    return {"item": name, "seeds": seeds, "source_agents": count["source_agent"], "pretrains": count["pretrain"],
            "finetunes_per_seed": len(per_seed) // seeds, "hours_once": sum(once.values()),
            "hours_per_seed": sum(per_seed.values()) / seeds,
            "hours_total": sum(once.values()) + sum(per_seed.values())}


def markdown(rows: list[dict[str, Any]], inputs: dict[str, dict[str, Any]]) -> str:
    lines = ["| item | source agents + pretrains (once) | finetune runs per seed | GPU-hours once | GPU-hours per "
             "seed | GPU-hours in all |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['item']} | {r['source_agents']} + {r['pretrains']} | {r['finetunes_per_seed']} | "
              f"{r['hours_once']:.1f} | {r['hours_per_seed']:.1f} | {r['hours_total']:.1f} ({r['seeds']} seeds) |"
              for r in rows]
    lines += ["", "Inputs:"]
    for name, entry in inputs.items():
        note = f"; {entry['note']}" if "note" in entry else ""
        lines.append(f"- `{name}` = {entry['value']:.4g} ({entry['basis']}, {entry['source']}{note})")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--items", nargs="+", default=list(ITEMS), choices=list(ITEMS))
    parser.add_argument("--runs-per-gpu", type=int, default=1)
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the GPU measurements are")
    parser.add_argument("--out", type=Path, default=RESULTS / "gpu_hours.json")
    parser.add_argument("--assume", nargs="+", default=[], metavar="NAME=VALUE",
                        help="replace an input (e.g. packing_speedup=2.5, a target) by this value")
    args = parser.parse_args(argv)
    inputs = measured_inputs(args.results, args.runs_per_gpu)
    for assumption in args.assume:
        name, _, value = assumption.partition("=")
        if name not in inputs:
            parser.error(f"--assume {assumption}: expected one of {sorted(inputs)}")
        inputs[name] = {"value": float(value), "basis": "assumed", "source": "--assume",
                        "note": f"instead of {inputs[name]['value']:.4g} ({inputs[name]['basis']})"}
    rows = [item_hours(name, args.seeds, inputs) for name in args.items]
    table = markdown(rows, inputs)
    write_json(args.out, {"benchmark": "gpu_hours", "date": datetime.now(UTC).isoformat(timespec="seconds"),
                          "estimate": True, "scale": "paper", "inputs": inputs, "items": rows})
    args.out.with_suffix(".md").write_text(
        f"# GPU-hours per paper item at paper scale: estimates (`python -m bench.gpu_hours`)\n\n{table}")
    print(table, end="")
    return args.out


if __name__ == "__main__":
    main()
