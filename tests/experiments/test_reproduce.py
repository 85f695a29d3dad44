import json
from pathlib import Path

import pytest

from diswm.configs import merge
from diswm.records import finetune_records, flat_config
from diswm_app.experiments import collect, finetune, pretrain, source_agent
from diswm_app.experiments.paper import FIG4_PAIRS, ITEMS, Cell, PaperItem
from diswm_app.experiments.reproduce import aggregate, finetune_config, main, matches, plan, stages

EXPERIMENTS = {"collect": collect.ex, "source_agent": source_agent.ex, "pretrain": pretrain.ex,
               "finetune": finetune.ex}


def sacred_args(argv):
    """`with a b k=v` -> (named configs, config updates), as Sacred parses them."""
    named = [a for a in argv[1:] if "=" not in a]
    updates = dict(a.split("=", 1) for a in argv[1:] if "=" in a)
    return named, {k: json.loads(v) if v[:1].isdigit() or v[:1] in "-[" else v for k, v in updates.items()}


def test_every_cell_of_every_item_constructs():
    for item in ITEMS.values():
        for cell in item.cells:
            for stage, argv in stages(cell, "paper", 0):
                named, updates = sacred_args(argv)
                config = flat_config(EXPERIMENTS[stage].run("print_config", named_configs=named,
                                                            config_updates=updates, options={"--loglevel": "ERROR"}
                                                            ).config)
                assert config["scale"] == "paper"
                if stage == "finetune":
                    assert (config["method"], config["source"], config["task"]) == (cell.method, cell.source,
                                                                                    cell.task)
                    for key, value in cell.overrides:
                        assert config[key] == value
                    if config["distill"]:  # the teacher the pretrain stage of this cell writes
                        pre = [a for s, a in stages(cell, "paper", 0) if s == "pretrain"][0]
                        named_p, updates_p = sacred_args(pre)
                        out = pretrain.ex.run("print_config", named_configs=named_p, config_updates=updates_p,
                                              options={"--loglevel": "ERROR"}).config["out_dir"]
                        assert config["teacher_path"] == f"{out}/encoder.pt"
    assert len(ITEMS["fig4"].cells) == 24 and ITEMS["fig4"].quoted[("finger_spin", "reacher_easy")]["TED"] == 740


def _record(folder, config, status="COMPLETED", metrics=None, result=None):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "run.json").write_text(json.dumps({"status": status, "result": result}))
    (folder / "metrics.json").write_text(json.dumps(metrics or {}))


def _cell_config(cell, seed, **changes):
    argv = next(argv for stage, argv in stages(cell, "smoke", seed) if stage == "finetune")
    return {**finetune_config(argv), **changes}


def test_aggregation_turns_records_into_the_known_table(tmp_path):
    cells = (Cell("diswm", "finger_spin", "reacher_easy", paper=955),
             Cell("dreamerv2", "finger_spin", "reacher_easy", paper=945))
    item = PaperItem("demo", "Demo table", cells, {("finger_spin", "reacher_easy"): {"TED": 740}})
    for run_id, (cell, seed, values) in enumerate([(cells[0], 0, [10.0, 30.0]), (cells[0], 1, [20.0, 50.0]),
                                                   (cells[1], 0, [5.0, 7.0])], start=1):
        _record(tmp_path / "runs" / "finetune" / str(run_id), _cell_config(cell, seed),
                metrics={"eval_return": {"steps": [100, 200], "values": values}})
    csv_path, markdown = aggregate(item, "smoke", 2, tmp_path / "runs", tmp_path / "results")
    assert csv_path.read_text().splitlines()[0] == "item,scale,method,source,task,overrides,seed,step,return"
    assert len(csv_path.read_text().splitlines()) == 1 + 6
    lines = markdown.read_text().splitlines()
    assert "Scale: **smoke** (2 seed(s)); final evaluation return." in lines
    assert "| finger_spin → reacher_easy | diswm | 40.0 ± 14.1 (n=2) | 955 |" in lines
    assert "| finger_spin → reacher_easy | dreamerv2 | 7.0 ± 0.0 (n=1) | 945 |" in lines
    assert "| finger_spin → reacher_easy | TED | quoted, not rerun | 740 |" in lines


def test_a_record_counts_for_a_cell_only_with_the_cells_full_identity(tmp_path):
    """Budget, settings and videos are part of a cell's identity; paths and the device are not."""
    cell = Cell("dreamerv2", "finger_spin", "reacher_easy")
    config = _cell_config(cell, 0)
    assert matches({"config": config}, cell, "smoke", 0)
    assert matches({"config": {**config, "out_dir": "/elsewhere", "device": "cuda", "compile": True}}, cell, "smoke", 0)
    assert not matches({"config": {**config, "env_steps": 80}}, cell, "smoke", 0)  # another budget
    assert not matches({"config": merge(config, {"world_model": {"eta_max": 0.01}})}, cell, "smoke", 0)
    without = {**config, "behavior": {k: v for k, v in config["behavior"].items() if k != "lambda_order"}}
    assert not matches({"config": without}, cell, "smoke", 0)
    assert not matches({"config": config}, cell, "smoke", 1)
    diswm = Cell("diswm", "finger_spin", "reacher_easy")
    replay = _cell_config(diswm, 0)
    assert replay["videos"] == "dreamerv2_replay" and matches({"config": replay}, diswm, "smoke", 0)
    assert not matches({"config": replay}, diswm, "smoke", 0, videos="random")
    assert not matches({"config": {**replay, "videos": "random"}}, diswm, "smoke", 0)
    eta = Cell("diswm", "finger_spin", "reacher_easy", (("eta_max", 0.01),))
    assert not matches({"config": replay}, eta, "smoke", 0)
    assert matches({"config": merge(replay, {"world_model": {"eta_max": 0.01}})}, eta, "smoke", 0)


def test_the_table_takes_evaluations_from_the_result_and_the_checkpoint_too(tmp_path):
    """A final evaluation that Sacred never flushed to metrics.json still reaches the table: from the run's
    result (its whole history), or from its checkpoint's evaluation history."""
    import torch

    cell = Cell("dreamerv2", "finger_spin", "reacher_easy")
    item = PaperItem("demo", "Demo", (cell,), {})
    runs = tmp_path / "runs" / "finetune"
    _record(runs / "1", _cell_config(cell, 0), metrics={"eval_return": {"steps": [200], "values": [3.0]}},
            result={"eval_returns": [[200, 3.0], [400, 14.0]]})
    assert "| dreamerv2 | 14.0 ± 0.0 (n=1) |" in aggregate(item, "smoke", 1, tmp_path / "runs", tmp_path)[1].read_text()
    out = tmp_path / "ckpt"
    out.mkdir()
    history = [{"env_steps": 200, "return_mean": 3.0}, {"env_steps": 400, "return_mean": 21.0}]
    torch.save({"progress": {"eval_history": history}}, out / "latest.pt")
    _record(runs / "2", _cell_config(cell, 1, out_dir=str(out)), status="INTERRUPTED",
            metrics={"eval_return": {"steps": [200], "values": [3.0]}})
    item2 = PaperItem("demo", "Demo", (cell,), {})
    text = aggregate(item2, "smoke", 2, tmp_path / "runs", tmp_path)[1].read_text()
    assert "| dreamerv2 | 17.5 ± 4.9 (n=2) |" in text  # seed 1's final 21.0 comes from its checkpoint


@pytest.mark.slow
def test_table_c_reports_measured_time_inference_and_parameters(tmp_path, monkeypatch):
    from diswm_app.experiments.reproduce import run_item

    monkeypatch.setenv("DISWM_HOME", str(tmp_path))
    item = ITEMS["tableC"]
    cell = Cell("dreamerv2", "finger_spin", "reacher_easy", paper=item.cells[1].paper)
    small = PaperItem("tableC", item.description, (cell,), item.quoted)
    monkeypatch.setattr("diswm_app.experiments.reproduce.stages", lambda c, scale, seed, videos: [
        ("finetune", ["with", "dreamerv2", scale, "source=finger_spin", "task=reacher_easy", f"seed={seed}",
                      "env_steps=120", "time_limit=20", "prefill=10", "eval_every=60"])])
    run_item(small, "smoke", 1, tmp_path / "runs")
    _, markdown = aggregate(small, "smoke", 1, tmp_path / "runs", tmp_path / "results")
    row = next(line for line in markdown.read_text().splitlines() if line.startswith("| dreamerv2 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "120" and float(cells[2]) > 0 and float(cells[3]) > 0 and float(cells[4]) > 0
    assert "| CURL | quoted, not rerun |" in markdown.read_text()


def _small_finetunes(monkeypatch):
    monkeypatch.setattr("diswm_app.experiments.reproduce.stages", lambda c, scale, seed, videos: [
        ("finetune", ["with", "dreamerv2", scale, "source=finger_spin", "task=reacher_easy", f"seed={seed}",
                      "env_steps=400", "time_limit=20", "prefill=10", "eval_every=200"])])


def _two_cells_side_by_side_on_ray(tmp_path, monkeypatch, ray_resources: dict, **launcher_options):
    """Two finetune cells (seeds 0 and 1) as Ray tasks on a local instance with ``ray_resources``; each waits for
    the other before training (tests/experiments/ray_rendezvous.py), so both finish only if Ray ran them side by
    side. Returns their records."""
    import os

    import ray

    from diswm_app.experiments.reproduce import run_item

    monkeypatch.setenv("DISWM_HOME", str(tmp_path))
    _small_finetunes(monkeypatch)
    cell = Cell("dreamerv2", "finger_spin", "reacher_easy")
    item = PaperItem("fig4", "two cells", (cell,), {})
    rendezvous = tmp_path / "rendezvous"
    rendezvous.mkdir()
    root = Path(__file__).resolve().parents[2]
    env_vars = {"DISWM_HOME": str(tmp_path), "RENDEZVOUS_DIR": str(rendezvous), "RENDEZVOUS_COUNT": "2",
                "PYTHONPATH": os.pathsep.join([str(root), str(root / "src")])}
    ray.init(include_dashboard=False, log_to_driver=False, **ray_resources,
             runtime_env={"env_vars": env_vars,
                          "worker_process_setup_hook": "tests.experiments.ray_rendezvous.install"})
    try:
        run_item(item, "smoke", 2, tmp_path / "runs", "ray", **launcher_options)
    finally:
        ray.shutdown()
    records = finetune_records(tmp_path / "runs")
    assert sorted(r["config"]["seed"] for r in records) == [0, 1]
    assert all(r["status"] == "COMPLETED" and r["curve"] for r in records)
    assert len(list(rendezvous.iterdir())) == 2  # both runs reached the rendezvous, in two processes
    # a rerun finds both cells finished and launches nothing
    assert plan(item, "smoke", 2, tmp_path / "runs") == []
    return records


@pytest.mark.slow
def test_ray_launcher_runs_two_smoke_cells_in_parallel_on_a_local_ray_instance(tmp_path, monkeypatch):
    """Two cells on a local two-CPU instance: both finish with their own Sacred record, side by side."""
    records = _two_cells_side_by_side_on_ray(tmp_path, monkeypatch, {"num_cpus": 2})
    assert all("gpu_memory_fraction" not in r["info"] for r in records)


@pytest.mark.slow
def test_runs_per_gpu_packs_two_runs_on_one_gpu_with_half_its_memory_each(tmp_path, monkeypatch, capsys):
    """--runs-per-gpu 2 on a local instance with one (logical) GPU: each run asks Ray for half of it, so both
    start side by side on the one device, and each records that its memory was bounded to half (not applied
    here: the CPU machine's runs train on the CPU)."""
    records = _two_cells_side_by_side_on_ray(tmp_path, monkeypatch, {"num_cpus": 2, "num_gpus": 1}, runs_per_gpu=2)
    assert all(r["info"]["gpu_memory_fraction"] == {"fraction": 0.5, "applied": False} for r in records)
    assert capsys.readouterr().out.count("ray task (0.5 GPU): diswm finetune") == 2


def test_plan_runs_shared_stages_once_before_the_cells(tmp_path):
    """The source agent and pretraining of a source are shared by its cells: each appears once, in an earlier
    level; with --videos random, a random collection takes the source agent's place."""
    item = PaperItem("fig7", "ablations", (Cell("diswm", "finger_spin", "reacher_easy"),
                                          Cell("no_distill", "finger_spin", "reacher_easy"),
                                          Cell("diswm", "finger_spin", "cartpole_swingup")), {})
    levels = plan(item, "smoke", 2, tmp_path / "runs")
    assert [{stage for stage, _ in level} for level in levels] == [{"source_agent"}, {"pretrain"}, {"finetune"}]
    assert levels[0] == [("source_agent", ["with", "task=finger_spin", "smoke"])] and len(levels[1]) == 1
    assert len(levels[2]) == 3 * 2
    assert all(len({tuple(argv) for _, argv in level}) == len(level) for level in levels)
    random = plan(item, "smoke", 2, tmp_path / "runs", videos="random")
    assert [{stage for stage, _ in level} for level in random] == [{"collect"}, {"pretrain"}, {"finetune"}]
    assert random[1] == [("pretrain", ["with", "task=finger_spin", "smoke", "beta=0.015", "videos=random"])]
    assert sum("videos=random" in argv for _, argv in random[2]) == 2 * 2  # the DisWM cells; no_distill has no teacher


def test_dry_run_lists_each_source_agent_before_its_pretraining(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("DISWM_HOME", str(tmp_path))
    assert main(["fig4", "--scale", "smoke", "--dry-run"]) == 0
    lines = [line.split("would run: ")[1] for line in capsys.readouterr().out.splitlines() if "would run" in line]
    assert not any(line.startswith("diswm collect") for line in lines)
    sources = list(dict.fromkeys(source for source, _ in FIG4_PAIRS))  # cheetah_run, reacher_easy, finger_spin
    assert [line for line in lines if line.startswith("diswm source_agent")] == [
        f"diswm source_agent with task={source} smoke" for source in sources]  # one each, shared by its cells
    for source in sources:
        agent = lines.index(f"diswm source_agent with task={source} smoke")
        pretrains = [i for i, line in enumerate(lines) if line.startswith("diswm pretrain") and
                     f"task={source} " in line]
        finetunes = [i for i, line in enumerate(lines) if line.startswith("diswm finetune") and
                     f"source={source} " in line]
        assert len(pretrains) == 2  # the teacher, and the conv model of DV2 Finetune and APV
        assert agent < min(pretrains) and max(pretrains) < min(finetunes)


def test_reproduce_rejects_unknown_methods_and_address_without_ray():
    with pytest.raises(SystemExit):
        main(["fig4", "--methods", "nonexistent"])
    with pytest.raises(SystemExit):
        main(["fig4", "--address", "127.0.0.1:6379"])


@pytest.mark.parametrize("argv, said", [
    (["fig4", "--seeds", "0"], "--seeds: 0 is not >= 1"),
    (["fig4", "--only", "nonsense"], "--only: ['nonsense'] not in fig4"),
    (["fig4", "--only", "finger_spin:reacher_esay"], "its SOURCE:TARGET pairs are"),
    (["fig7", "--methods", "dreamerv2"], "--methods: ['dreamerv2'] not in fig7"),
    (["fig4", "--only", "finger_spin:reacher_easy", "--runs-per-gpu", "2"], "--runs-per-gpu needs --launcher ray"),
    (["fig4", "--launcher", "ray", "--runs-per-gpu", "0"], "--runs-per-gpu: 0 is not >= 1"),
    (["fig4", "--only", "reacher_easy:pusher", "--methods", "diswm", "--aggregate-only"], None),
])
def test_reproduce_refuses_bad_selections_and_writes_nothing(argv, said, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DISWM_HOME", str(tmp_path))
    if said is None:  # a valid selection: the aggregated table keeps every cell of the item
        assert main(argv) == 0
        table = (tmp_path / "results" / "fig4_smoke.md").read_text()
        assert table.count("| not run |") == len(ITEMS["fig4"].cells)
        return
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code != 0 and said in capsys.readouterr().err
    assert not (tmp_path / "results").exists()
