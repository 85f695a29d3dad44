"""bench.gpu_hours: GPU-hours per paper item from the GPU measurements kept in bench/results and the stages that
`diswm reproduce ITEM --scale paper` plans, each input named with its file or marked as assumed."""

import json
import shutil

import pytest

from bench import gpu_hours
from diswm.configs import finetune_config
from diswm.envs import make_env
from diswm_app.experiments.paper import FIG4_METHODS, FIG4_PAIRS

INPUTS = ("cuda_h200_run5/finetune_speed_paper_cuda_graph.json", "cuda_h200_run4/act_speed_cuda.json",
          "cuda_h200_run3/train_step_cuda_paper_B50xL50_compiled.json",
          "cuda_h200_run3/train_step_cuda_paper_B50xL50_compiled_graph.json")


@pytest.fixture
def results(tmp_path):
    """A results folder with the H200 measurements the repository keeps (the newest of each kind)."""
    folder = tmp_path / "bench" / "results"
    for name in INPUTS:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(gpu_hours.RESULTS / name, folder / name)
    return folder


def test_fig4_hours_are_its_planned_runs_at_the_measured_rates(results, tmp_path):
    out = tmp_path / "hours.json"
    gpu_hours.main(["--items", "fig4", "--seeds", "2", "--results", str(results), "--out", str(out)])
    written = json.loads(out.read_text())
    (fig4,) = written["items"]
    assert (fig4["source_agents"], fig4["pretrains"], fig4["finetunes_per_seed"]) == (3, 6, 24)
    inputs = {name: entry["value"] for name, entry in written["inputs"].items()}
    assert written["inputs"]["loop_env_steps_per_s"]["source"].startswith("bench/results/cuda_h200_run5/")
    assert written["inputs"]["pretrain_update_s"]["basis"] == "assumed"
    assert written["inputs"]["ungraphed_update_extra_s"]["basis"] == "assumed"
    assert inputs["ungraphed_update_extra_s"] > 0
    # each finetune run: its control steps at the loop's rate, and its evaluations' agent steps one at a time; APV's
    # ungraphed update costs its extra per update
    expected = 0.0
    for method in FIG4_METHODS:
        for source, task in FIG4_PAIRS:
            config = finetune_config(scale="paper", method=method, task=task, source=source)
            schedule = config.schedule(2)
            env = make_env(task, render_quality="fast")
            episode_agent_steps = env.time_limit / 2
            env.close()
            expected += schedule["agent_steps"] * 2 / inputs["loop_env_steps_per_s"] + schedule["evaluations"] * \
                config.eval_episodes * episode_agent_steps * inputs["eval_seconds_per_episode_step"]
            if method == "apv":
                expected += schedule["updates"] * inputs["ungraphed_update_extra_s"]
    assert fig4["hours_per_seed"] == pytest.approx(expected / 3600, rel=1e-9)
    assert fig4["hours_total"] == pytest.approx(fig4["hours_once"] + 2 * fig4["hours_per_seed"], rel=1e-9)
    assert "| fig4 | 3 + 6 | 24 |" in out.with_suffix(".md").read_text()


def test_a_gpu_evaluation_measurement_replaces_the_one_at_a_time_bound(results):
    before = gpu_hours.measured_inputs(results, 1)["eval_seconds_per_episode_step"]
    measured = {"benchmark": "eval_speed", "date": "2030-01-01T00:00:00+00:00", "scale": "paper",
                "device": "NVIDIA H200", "device_type": "cuda", "episodes": 10, "time_limit": 400,
                "seconds_batched": 4.0}
    (results / "cuda_later").mkdir()
    (results / "cuda_later" / "eval_speed_paper_cuda.json").write_text(json.dumps(measured))
    after = gpu_hours.measured_inputs(results, 1)["eval_seconds_per_episode_step"]
    assert "act_speed" in before["source"] and "eval_speed" in after["source"]
    assert after["value"] == pytest.approx(4.0 / (10 * 200))


def test_packing_needs_a_gpu_measurement_of_it(results):
    with pytest.raises(SystemExit, match="no GPU packed_runs result for 4 runs"):
        gpu_hours.measured_inputs(results, 4)
    (results / "packed_runs_paper_cpu.json").write_text(json.dumps(
        {"benchmark": "packed_runs", "date": "2030-01-01", "scale": "paper", "device": "cpu",
         "rows": [{"runs": 1, "failed": 0, "speedup_over_one": 1.0},
                  {"runs": 4, "failed": 0, "speedup_over_one": 1.2}]}))
    with pytest.raises(SystemExit, match="no GPU packed_runs"):  # a CPU run says nothing of a GPU
        gpu_hours.measured_inputs(results, 4)


def test_an_assumed_input_replaces_a_measured_one_and_says_so(results, tmp_path):
    out = tmp_path / "hours.json"
    gpu_hours.main(["--items", "fig4", "--results", str(results), "--out", str(out)])
    measured = json.loads(out.read_text())["items"][0]
    gpu_hours.main(["--items", "fig4", "--results", str(results), "--out", str(out), "--assume", "packing_speedup=2.5"])
    written = json.loads(out.read_text())
    assert written["items"][0]["hours_per_seed"] == pytest.approx(measured["hours_per_seed"] / 2.5, rel=1e-9)
    assert written["inputs"]["packing_speedup"] == {"value": 2.5, "basis": "assumed", "source": "--assume",
                                                    "note": "instead of 1 (assumed)"}
    with pytest.raises(SystemExit):
        gpu_hours.main(["--results", str(results), "--out", str(out), "--assume", "speed=9"])
