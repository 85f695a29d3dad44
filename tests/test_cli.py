import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from diswm_app.cli import main


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("collect", "source_agent", "pretrain", "data", "demo", "envs"):
        assert command in out


def listed_commands(help_text: str) -> list[str]:
    """The subcommands ``diswm --help`` lists (its positional-arguments section)."""
    import re

    section = help_text.split("positional arguments:", 1)[1].split("\noptions:", 1)[0]
    return re.findall(r"^    (\S+)", section, flags=re.MULTILINE)


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_every_listed_subcommand_answers_help_with_its_own_usage(flag, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--help"])
    assert stopped.value.code == 0
    commands = listed_commands(capsys.readouterr().out)
    assert {"finetune", "reproduce", "figure", "figures", "records", "cpu-study", "envs"} <= set(commands)
    for command in commands:
        try:
            code = main([command, flag])
        except SystemExit as stop:  # argparse's help exits 0
            code = stop.code
        out, err = capsys.readouterr()
        assert code in (0, None), (command, err)
        assert out.startswith(f"usage: diswm {command}"), (command, out[:200], err[-300:])
    for nested in (["figure", "fig4_learning_curves", flag], ["records", "import", flag], ["cpu-study", "run", flag]):
        with pytest.raises(SystemExit) as stopped:
            main(nested)
        assert stopped.value.code == 0 and capsys.readouterr().out.startswith(f"usage: diswm {' '.join(nested[:2])}")


def test_envs_lists_tasks_and_colour_sets(capsys):
    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    assert "pusher" in out and "humanoid_walk" in out and "(0.5, 0.7, 0.3)" in out


def test_figure_draws_one_figure_and_names_missing_inputs(tmp_path, monkeypatch, capsys):
    """`diswm figure NAME` runs that script with its own flags; with nothing to draw it says which command
    produces its inputs, in one line, and writes nothing."""
    monkeypatch.setenv("DISWM_HOME", str(tmp_path))
    assert main(["figure", "fig4_learning_curves", "--scale", "smoke"]) == 1
    err = capsys.readouterr().err
    assert "no smoke-scale finetune records" in err and "diswm finetune with <method> smoke " in err
    assert err.count("\n") == 1
    assert not (tmp_path / "figures").exists()
    shipped = Path(__file__).resolve().parent.parent / "results" / "shipped"
    monkeypatch.setenv("DISWM_HOME", str(shipped))
    assert main(["figure", "fig4_learning_curves", "--scale", "smoke", "--out", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "out" / f"fig4_learning_curves_smoke.{suffix}")
                                               for suffix in ("png", "pdf")]


def test_unknown_command_fails():
    with pytest.raises(SystemExit) as exit_info:
        main(["train-everything"])
    assert exit_info.value.code == 2


def test_console_script_is_the_docker_entrypoint():
    """The image's ENTRYPOINT is `diswm`; outside Docker the installed script must answer the same."""
    script = shutil.which("diswm", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("diswm console script not installed (run through `make test`)")
    result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "usage: diswm" in result.stdout


@pytest.mark.slow
def test_data_command_collects_with_sacred_records(tmp_path, monkeypatch):
    monkeypatch.setenv("DISWM_HOME", str(tmp_path))
    assert main(["data", "--scale", "smoke", "--tasks", "finger_spin", "hopper_stand"]) == 0
    for task in ("finger_spin", "hopper_stand"):
        assert len(list((tmp_path / "data/smoke" / task / "switch/seed_0").glob("ep-*.npz"))) == 2
    runs = sorted(p.name for p in (tmp_path / "runs/collect").iterdir() if p.name.isdigit())
    assert runs == ["1", "2"]


@pytest.mark.slow
def test_demo_runs_the_whole_smoke_pipeline(tmp_path, monkeypatch, capsys):
    """source agent -> pretrain on its replay -> finetune (DisWM with the pretrained teacher, and DreamerV2);
    random-policy videos -> Figure 3."""
    import json

    monkeypatch.setenv("DISWM_HOME", str(tmp_path))
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    assert (tmp_path / "demo" / "fig3_distracted_observations.png").is_file()
    teacher = tmp_path / "checkpoints/pretrain/smoke/finger_spin/beta0.015/seed_0/encoder.pt"
    assert teacher.is_file()
    pretrain_info = json.loads((tmp_path / "runs/pretrain/1/info.json").read_text())
    assert pretrain_info["videos"]["kind"] == "dreamerv2_replay"
    assert pretrain_info["videos"]["provenance"]["experiment"] == "source_agent"
    runs = tmp_path / "runs" / "finetune"
    methods = {}
    for record in (p for p in runs.iterdir() if p.name.isdigit()):
        run = json.loads((record / "run.json").read_text())
        config = json.loads((record / "config.json").read_text())
        assert run["status"] == "COMPLETED"
        methods[config["method"]] = json.loads((record / "metrics.json").read_text())
    assert set(methods) == {"diswm", "dreamerv2"}
    assert methods["diswm"]["eval_return"]["steps"][-1] == 400
    assert max(methods["diswm"]["train/eta"]["values"]) <= 0.1
    assert "train/distillation_kl" in methods["diswm"] and "train/distillation_kl" not in methods["dreamerv2"]

    # the demo ends with MIG/DCI/SAP of the teacher and the student, their figure and the learning curves
    demo = {path.name for path in (tmp_path / "demo").iterdir()}
    for stem in ("fig3_distracted_observations", "fig4_learning_curves_smoke", "fig_disentanglement_smoke"):
        assert {f"{stem}.png", f"{stem}.pdf"} <= demo, stem
    evaluated = json.loads((tmp_path / "runs/evaluate/2/run.json").read_text())
    assert evaluated["status"] == "COMPLETED" and evaluated["experiment"]["name"].startswith("evaluate")
    assert len(evaluated["result"]["returns"]) == 5 and "mig" in evaluated["result"]  # the student's returns too

    # `make figures` after the demo: every figure a fresh clone draws (the demo's runs first, the shipped
    # results for the rest), each saying which set it came from
    from diswm_app.paper_figures import make_all

    fresh = tmp_path / "fresh"
    monkeypatch.setenv("DISWM_HOME", str(tmp_path / "empty"))
    on_a_fresh_clone = {path.name for path in make_all.main(["--scale", "smoke", "--out", str(fresh)])}
    monkeypatch.setenv("DISWM_HOME", str(tmp_path))
    capsys.readouterr()
    built = {path.name for path in make_all.main(["--scale", "smoke", "--out", str(tmp_path / "figures")])}
    assert on_a_fresh_clone <= built and "fig_disentanglement_smoke.png" in built
    said = capsys.readouterr().out
    assert f"fig4_learning_curves_smoke.png  (from {tmp_path})" in said
    assert f"fig_disentanglement_smoke.png  (from {tmp_path})" in said
    table = (tmp_path / "figures" / "disentanglement_smoke.md").read_text()
    assert "pretrained teacher" in table and "diswm student" in table
