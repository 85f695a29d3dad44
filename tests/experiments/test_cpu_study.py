"""The cpu study (issue 24): its driver runs what PLAN.md fixes, in order, resumably; its analysis computes what
PLAN.md says, from Sacred records on disk."""

import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from diswm.checkpoint import save_checkpoint
from diswm_app.experiments import cpu_study as study
from diswm_app.experiments import cpu_study_analysis as analysis

PLAN = (study.STUDY_DIR / "PLAN.md").read_text()
FLAT_PLAN = re.sub(r"\s+", " ", PLAN)


@pytest.fixture(autouse=True)
def _study_dir(tmp_path, monkeypatch):
    """Each test's own study folder (gate files, extra seeds): the repository's records stay out of it."""
    monkeypatch.setattr(study, "STUDY_DIR", tmp_path / "study")


def test_the_plan_and_the_driver_say_the_same():
    """Every command the driver runs is written in PLAN.md, and PLAN.md's numbers are the driver's."""
    assert "diswm " + " ".join(study.source_stage("reacher_easy").command) in FLAT_PLAN
    assert "diswm " + " ".join(study.source_stage("walker_walk").command) in FLAT_PLAN
    assert "diswm " + " ".join(study.teacher_stage("SOURCE").command).replace("SOURCE", "<source>") in FLAT_PLAN
    finetune = " ".join(study.finetune_stage("ARM", 7).command).replace("ARM", "<arm>").replace("seed=7", "seed=<s>")
    assert "diswm " + finetune in FLAT_PLAN
    assert (study.SOURCE, study.FALLBACK_SOURCE, study.TASK) == ("reacher_easy", "walker_walk", "cheetah_run")
    assert "Reacher Easy → Cheetah Run" in PLAN and "fallback source: Walker Walk → Cheetah Run" in FLAT_PLAN
    assert study.ARMS == ("diswm", "no_distill", "dreamerv2") and "`diswm`, `no_distill`, `dreamerv2`" in PLAN
    assert study.SEEDS == (0, 1, 2) and "seeds 0, 1, 2" in PLAN
    assert study.EXTRA_SEEDS == (3, 4) and "seeds 3 and 4 are then added" in FLAT_PLAN
    assert study.GATE_RETURN == 300 and "at least **300**" in PLAN
    assert study.PRIMARY_FROM == 0.8 and "≥ 80% of the budget" in PLAN
    assert analysis.BOOTSTRAP_SAMPLES == 10_000 and "10,000 resamples" in PLAN
    assert analysis.RELATIVE_MARGIN == 0.25 and "below 25% of DreamerV2's arm mean" in FLAT_PLAN
    assert len(analysis.expected_steps()) == 20 and "20 evaluations per run" in PLAN


def test_every_stage_command_is_a_valid_diswm_command_and_the_chain_connects(tmp_path):
    """Each command resolves in its Sacred experiment (what `diswm <stage> with ...` parses), under the study's
    home; the teacher reads the source agent's videos and DisWM distils that teacher, with the plan's budget."""
    source = study.resolved(study.source_stage("reacher_easy"), tmp_path)
    teacher = study.resolved(study.teacher_stage("reacher_easy"), tmp_path)
    assert teacher["data_dir"] == source["dataset_dir"] and source["frames"] == 50_000
    for arm in study.ARMS:
        config = study.resolved(study.finetune_stage(arm, 1), tmp_path)
        assert (config["env_steps"], config["eval_every"], config["checkpoint_every"], config["seed"]) == \
            (100_000, 5_000, 2_000, 1)
        assert config["out_dir"].startswith(str(tmp_path)) and config["colour_schedule"] == "switch"
        assert config["world_model"]["eta_decay_steps"] == 50_000  # η as the paper's first 100k env steps
        assert (config["teacher_path"] == str(Path(teacher["out_dir"]) / "encoder.pt")) == (arm == "diswm")


def finished_source(home: Path, source: str, returns: list[float]) -> None:
    """A source agent's files as a finished run leaves them: its manifest and its checkpoint's evaluations."""
    config = study.resolved(study.source_stage(source), home)
    Path(config["dataset_dir"]).mkdir(parents=True)
    (Path(config["dataset_dir"]) / "dataset.json").write_text(json.dumps({"provenance": {"finished": True}}))
    history = [{"env_steps": 10_000 * (i + 1), "return_mean": r} for i, r in enumerate(returns)]
    save_checkpoint(Path(config["out_dir"]) / "latest.pt",
                    {"progress": {"env_steps": 100_000, "agent_steps": 50_000, "eval_history": history}})


def test_the_schedule_starts_the_source_agent_first_and_diswm_only_after_its_teacher(tmp_path, monkeypatch):
    monkeypatch.setattr(study, "STUDY_DIR", tmp_path / "study")
    ready = [stage.name for stage in study.pending(tmp_path)]
    assert ready[0] == "source_agent reacher_easy" and "teacher reacher_easy" not in ready
    assert [name for name in ready if name.startswith("diswm")] == []
    assert ready[1:3] == ["no_distill seed 0", "dreamerv2 seed 0"]  # the baselines need no teacher
    running = frozenset([study.source_stage("reacher_easy")])
    assert study.pending(tmp_path, running)[0].name == "no_distill seed 0"

    finished_source(tmp_path, "reacher_easy", [100.0, 320.0, 310.0])  # gate: mean of the last two = 315 >= 300
    assert study.status_lines(tmp_path)[1].endswith("gate 315.0 >= 300: passed")
    assert not (tmp_path / "study").exists()  # status and dry runs read only: the driver records the gate
    ready = [stage.name for stage in study.pending(tmp_path, record=True)]
    assert ready[0] == "teacher reacher_easy" and "source_agent reacher_easy" not in ready
    gate = json.loads((tmp_path / "study" / "gate_reacher_easy.json").read_text())
    assert gate["passed"] and gate["score"] == pytest.approx(315.0)


def test_a_failed_gate_switches_diswm_to_the_fallback_source(tmp_path, monkeypatch):
    monkeypatch.setattr(study, "STUDY_DIR", tmp_path / "study")
    finished_source(tmp_path, "reacher_easy", [400.0, 350.0, 200.0])  # 275 < 300
    ready = [stage.name for stage in study.pending(tmp_path, record=True)]
    assert ready[0] == "source_agent walker_walk" and "teacher reacher_easy" not in ready
    assert json.loads((tmp_path / "study" / "gate_reacher_easy.json").read_text())["passed"] is False
    assert study.status_lines(tmp_path)[1].endswith("gate 275.0 < 300: failed, DisWM's source is walker_walk")
    diswm = next(stage for stage, _ in study.plan_stages(tmp_path) if stage.name == "diswm seed 0")
    assert "source=walker_walk" in diswm.command
    baseline = next(stage for stage, _ in study.plan_stages(tmp_path) if stage.name == "dreamerv2 seed 0")
    assert "source=reacher_easy" in baseline.command  # the same computation: kept


def test_the_driver_runs_two_at_a_time_and_stops_its_stages_with_sigterm_at_its_deadline(tmp_path, monkeypatch):
    """The stages are stand-ins here (each a process that records SIGTERM); their commands are the real ones'."""
    monkeypatch.setattr(study, "STUDY_DIR", tmp_path / "study")
    marks = tmp_path / "marks"
    marks.mkdir()
    script = ("import signal, sys, time, pathlib\n"
              "mark = pathlib.Path(sys.argv[1]) / sys.argv[2]\n"
              "mark.write_text('started')\n"
              "def stop(*_):\n    mark.write_text('SIGTERM'); sys.exit(130)\n"
              "signal.signal(signal.SIGTERM, stop)\n"
              "time.sleep(60)\n")
    monkeypatch.setattr(study, "command_line", lambda stage: [sys.executable, "-c", script, str(marks),
                                                              stage.name.replace(" ", "_")])
    driver = study.Driver(tmp_path, parallel=2, hours=4 / 3600, poll=0.2, report_every=1e9)
    started = time.monotonic()
    assert driver.run() == 0
    assert time.monotonic() - started < 60
    assert sorted(p.name for p in marks.iterdir()) == ["no_distill_seed_0", "source_agent_reacher_easy"]
    assert {p.read_text() for p in marks.iterdir()} == {"SIGTERM"}
    assert (tmp_path / "logs" / "source_agent_reacher_easy.log").is_file()


def test_dry_run_prints_the_commands_it_would_start(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(study.HOME_ENV, str(tmp_path))
    monkeypatch.setattr(study, "STUDY_DIR", tmp_path / "study")
    assert study.main(["run", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "diswm source_agent with reacher_easy cpu seed=0 checkpoint_every=2000"
    assert lines[-1].startswith("waiting: teacher reacher_easy (waits for source_agent reacher_easy)")
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "logs").exists()  # nothing started


# --- the analysis --------------------------------------------------------------------------------------------------


def write_record(runs: Path, run_id: int, arm: str, seed: int, curve: list[tuple[int, float]],
                 status: str = "COMPLETED", env_steps: int = study.ENV_STEPS, source: str = "reacher_easy") -> None:
    """A finetune record as Sacred's file storage writes it (config, metrics, run)."""
    folder = runs / "finetune" / str(run_id)
    folder.mkdir(parents=True)
    config = {"method": arm, "scale": "cpu", "task": "cheetah_run", "source": source, "seed": seed,
              "env_steps": env_steps, "eval_every": study.EVAL_EVERY, "world_model": {"beta": 0.015}}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "metrics.json").write_text(json.dumps({"eval_return": {"steps": [s for s, _ in curve],
                                                                     "values": [v for _, v in curve]}}))
    (folder / "run.json").write_text(json.dumps({"status": status, "start_time": "2026-12-07T10:00:00",
                                                 "stop_time": "2026-12-07T11:00:00"}))
    (folder / "info.json").write_text(json.dumps({"out_dir": f"/x/{arm}/seed_{seed}"}))


def flat(level: float) -> list[tuple[int, float]]:
    return [(step, level) for step in analysis.expected_steps()]


def test_scores_use_the_evaluations_from_80_percent_of_the_budget():
    curve = [(step, float(step // 1000)) for step in analysis.expected_steps()]  # 5, 10, ..., 100
    scores = analysis.run_scores(curve)
    assert scores["finished"] and scores["primary_evaluations"] == [80.0, 85.0, 90.0, 95.0, 100.0]
    assert scores["primary"] == 90.0 and scores["secondary"] == pytest.approx(np.mean(range(5, 101, 5)))
    assert not analysis.run_scores(curve[:-1])["finished"]


def test_constant_runs_give_a_point_interval_and_certain_improvement(tmp_path):
    runs = tmp_path / "runs"
    levels = {"diswm": 300.0, "no_distill": 200.0, "dreamerv2": 100.0}
    for run_id, (arm, seed) in enumerate(((a, s) for a in study.ARMS for s in study.SEEDS), start=1):
        write_record(runs, run_id, arm, seed, flat(levels[arm]))
    summary = analysis.summarise(runs, seeds=study.SEEDS)
    fig7 = summary["comparisons"]["diswm - no_distill"]
    assert (fig7["primary"]["difference"], fig7["primary"]["ci_low"], fig7["primary"]["ci_high"]) == (100, 100, 100)
    assert fig7["probability_of_improvement"] == {"probability": 1.0, "ci_low": 1.0, "ci_high": 1.0}
    assert summary["decision"] == "shown" and summary["unfinished"] == {}
    assert summary["arm_means"]["dreamerv2"] == {"runs": 3, "primary": 100.0, "secondary": 100.0}


def test_noisy_runs_give_an_interval_around_the_difference_and_the_rule_decides(tmp_path):
    runs = tmp_path / "runs"
    rng = np.random.default_rng(1)
    run_id = 0
    for arm, level in (("diswm", 105.0), ("no_distill", 100.0), ("dreamerv2", 100.0)):
        for seed in study.SEEDS:
            run_id += 1
            write_record(runs, run_id, arm, seed, [(s, level + rng.normal(0, 30)) for s in analysis.expected_steps()])
    summary = analysis.summarise(runs, seeds=study.SEEDS)
    fig4 = summary["comparisons"]["diswm - dreamerv2"]["primary"]
    assert fig4["ci_low"] < fig4["difference"] < fig4["ci_high"] and fig4["ci_high"] - fig4["ci_low"] > 5
    improvement = summary["comparisons"]["diswm - dreamerv2"]["probability_of_improvement"]
    assert 0 <= improvement["ci_low"] <= improvement["probability"] <= improvement["ci_high"] <= 1
    assert summary["decision"] in ("shown", "not shown", "inconclusive")
    assert analysis.summarise(runs, seeds=study.SEEDS) == summary  # the bootstrap is seeded


def test_the_decision_rule():
    def comparison(low: float, high: float) -> dict:
        return {"primary": {"ci_low": low, "ci_high": high}}

    assert analysis.decide({"diswm - no_distill": comparison(1, 50), "diswm - dreamerv2": comparison(2, 60)},
                           100) == "shown"
    assert analysis.decide({"diswm - no_distill": comparison(1, 50), "diswm - dreamerv2": comparison(-30, 20)},
                           100) == "not shown"  # upper bound 20 < 25% of 100
    assert analysis.decide({"diswm - no_distill": comparison(-1, 50), "diswm - dreamerv2": comparison(-30, 40)},
                           100) == "inconclusive"


def test_partial_results_say_what_is_missing_and_a_resumed_run_is_one_curve(tmp_path):
    runs = tmp_path / "runs"
    steps = analysis.expected_steps()
    write_record(runs, 1, "diswm", 0, [(s, 50.0) for s in steps[:8]], status="INTERRUPTED")
    write_record(runs, 2, "diswm", 0, [(s, 60.0) for s in steps[8:]])  # its resumed record: the same run
    write_record(runs, 3, "dreamerv2", 0, [(s, 40.0) for s in steps[:10]], status="INTERRUPTED")
    write_record(runs, 4, "dreamerv2", 1, flat(10.0), env_steps=50_000)  # another budget: not the study's
    summary = analysis.summarise(runs, seeds=(0,))
    assert summary["runs"]["diswm seed 0"]["finished"] and summary["runs"]["diswm seed 0"]["primary"] == 60.0
    assert summary["unfinished"] == {"no_distill seed 0": "0/100000 env steps",
                                     "dreamerv2 seed 0": "50000/100000 env steps"}
    assert summary["decision"] == "none yet: 2 of 3 planned runs unfinished" and summary["comparisons"] == {}
    paths = analysis.draw(summary, analysis.study_curves(runs), tmp_path / "out")
    assert all(path.stat().st_size > 1000 for path in paths)


def test_after_a_failed_gate_only_the_fallback_teachers_diswm_runs_count(tmp_path):
    """The recorded gate picks DisWM's source; the baselines' records count whatever source names their folder."""
    runs = tmp_path / "runs"
    write_record(runs, 1, "diswm", 0, flat(500.0))  # a DisWM run with the first source's teacher: not the plan's
    write_record(runs, 2, "dreamerv2", 0, flat(100.0))
    assert analysis.summarise(runs, seeds=(0,))["runs"]["diswm seed 0"]["primary"] == 500.0  # no gate yet
    study.STUDY_DIR.mkdir()
    gate = {"source": "reacher_easy", "last_two_evaluations": [3.6, 0.6], "score": 2.1, "threshold": 300.0,
            "passed": False}
    (study.STUDY_DIR / "gate_reacher_easy.json").write_text(json.dumps(gate))
    summary = analysis.summarise(runs, seeds=(0,))
    assert summary["runs"]["diswm seed 0"]["primary"] is None and summary["runs"]["dreamerv2 seed 0"]["finished"]
    assert summary["pair"] == "walker_walk -> cheetah_run" and summary["gates"] == {"reacher_easy": gate}
    write_record(runs, 3, "diswm", 0, flat(250.0), source="walker_walk")
    assert analysis.summarise(runs, seeds=(0,))["runs"]["diswm seed 0"]["primary"] == 250.0
