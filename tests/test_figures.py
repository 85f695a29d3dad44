import pytest

from diswm.data.collect import CollectConfig, collect
from diswm.envs import EnvSpec
from diswm_app.paper_figures import fig3_distracted_observations


def test_fig3_draws_train_and_test_frames_from_collected_data(tmp_path):
    for task in ("walker_walk", "pusher"):
        env = EnvSpec(task, render_quality="fast", time_limit=10)
        out = tmp_path / "data/smoke" / task / "switch/seed_0"
        collect(CollectConfig(env=env, out_dir=str(out), num_episodes=2, progress=False))
    paths = fig3_distracted_observations.main(["--data", str(tmp_path / "data"), "--out", str(tmp_path / "out")])
    assert [p.name for p in paths] == ["fig3_distracted_observations.png", "fig3_distracted_observations.pdf"]
    assert all(p.stat().st_size > 5_000 for p in paths)


def test_fig3_says_which_command_produces_missing_data(tmp_path):
    with pytest.raises(FileNotFoundError, match="diswm data --scale cpu"):
        fig3_distracted_observations.main(["--data", str(tmp_path), "--scale", "cpu", "--out", str(tmp_path)])


@pytest.mark.slow
def test_fig4_plots_eval_curves_from_finetune_records(tmp_path):
    from sacred.observers import FileStorageObserver

    from diswm_app.experiments.finetune import ex
    from diswm_app.paper_figures import fig4_learning_curves, fig7_ablations, fig8_video_sources, figI_zdim
    from diswm_app.paper_figures.runs import grouped_curves

    observer = FileStorageObserver(str(tmp_path / "runs" / "finetune"))
    ex.observers.append(observer)
    try:
        for seed in (0, 1):
            ex.run(named_configs=["dreamerv2", "smoke"],
                   config_updates={"task": "cartpole_swingup", "seed": seed, "env_steps": 80, "time_limit": 20,
                                   "prefill": 10, "eval_every": 40, "batch_size": 2, "length": 5,
                                   "out_dir": str(tmp_path / f"out{seed}")})
    finally:
        ex.observers.remove(observer)
    groups = grouped_curves(tmp_path / "runs", "smoke", {"task": "cartpole_swingup"}, "method")
    assert list(groups) == ["dreamerv2"] and len(groups["dreamerv2"]) == 2  # two seeds
    assert all([step for step, _ in curve] == [20, 40, 80] for curve in groups["dreamerv2"])
    paths = fig4_learning_curves.main(["--runs", str(tmp_path / "runs"), "--scale", "smoke",
                                       "--out", str(tmp_path / "out")])
    assert [p.name for p in paths] == ["fig4_learning_curves_smoke.png", "fig4_learning_curves_smoke.pdf"]
    with pytest.raises(FileNotFoundError, match="no cpu-scale finetune records"):
        fig4_learning_curves.main(["--runs", str(tmp_path / "runs"), "--scale", "cpu", "--out", str(tmp_path)])
    fig8 = fig8_video_sources.main(["--runs", str(tmp_path / "runs"), "--scale", "smoke", "--out", str(tmp_path)])
    assert fig8[0].name == "fig8_video_sources_smoke.png"  # the DreamerV2 line alone
    for script in (fig7_ablations, figI_zdim):  # no cheetah_run -> walker_walk records: the missing runs named
        with pytest.raises(FileNotFoundError, match="cheetah_run -> walker_walk"):
            script.main(["--runs", str(tmp_path / "runs"), "--scale", "smoke", "--out", str(tmp_path)])


@pytest.mark.slow
def test_traversal_figures_from_pretrain_and_finetune_checkpoints(tmp_path):
    from dataclasses import asdict

    import numpy as np

    from diswm.agents.video_model import PretrainConfig
    from diswm.config_io import dataclass_from_dict
    from diswm.models import RSSMConfig
    from diswm.training.finetune import FinetuneConfig
    from diswm.training.pretrain import pretrain
    from diswm_app.paper_figures import fig5_traversals
    from diswm_app.paper_figures.traverse import OFFSETS, traversal_grid

    videos = tmp_path / "videos"
    collect(CollectConfig(env=EnvSpec("finger_spin", render_quality="fast", time_limit=12), out_dir=str(videos),
                          num_episodes=1, progress=False))
    config = PretrainConfig(data_dir=str(videos), out_dir=str(tmp_path / "ckpt"), num_actions=2, batch_size=2,
                            length=4, updates=2, checkpoint_every=2, rssm=RSSMConfig(stoch=4, deter=8, hidden=8),
                            encoder_widths=(8, 8, 8, 8, 16), decoder_widths=(16, 8, 8, 8, 8))
    pretrain(config, progress=False)
    assert dataclass_from_dict(PretrainConfig, asdict(config)) == config
    finetune_defaults = FinetuneConfig(env=EnvSpec("cartpole_swingup"), out_dir="x")
    assert dataclass_from_dict(FinetuneConfig, asdict(finetune_defaults)) == finetune_defaults
    model, _ = fig5_traversals.load_model(tmp_path / "ckpt" / "latest.pt")
    grid = traversal_grid(model, np.zeros((64, 64, 3), np.uint8))
    assert grid.shape == (20 * 64, len(OFFSETS) * 64, 3)
    assert not np.array_equal(grid[:, :64], grid[:, -64:])  # the offsets change the decoded image
    paths = fig5_traversals.main(["--checkpoint", str(tmp_path / "ckpt" / "latest.pt"), "--out", str(tmp_path)])
    assert paths[0].name == "fig5_traversals_pretrained_smoke.png" and paths[0].stat().st_size > 10_000


@pytest.mark.slow
def test_make_figures_on_a_fresh_clone_draws_the_shipped_results(tmp_path, monkeypatch, capsys):
    from diswm_app.paper_figures import make_all

    monkeypatch.setenv("DISWM_HOME", str(tmp_path / "empty"))  # no records of the user's own
    paths = make_all.main(["--scale", "smoke", "--out", str(tmp_path / "out")])
    built = {path.name for path in paths}
    for stem in ("fig3_distracted_observations", "fig4_learning_curves_smoke", "fig5_traversals_pretrained_smoke",
                 "figJ_tsne_smoke", "fig_disentanglement_smoke", "fig7_ablations_smoke", "fig8_video_sources_smoke",
                 "figI_zdim_smoke"):
        assert {f"{stem}.png", f"{stem}.pdf"} <= built, stem
    assert "video_prediction_smoke_finger_spin.mp4" in built
    out = capsys.readouterr().out
    assert "skipped" not in out, out  # every figure script drew, from the shipped results
    assert out.count("built ") == len(paths)


def test_a_sweep_run_appears_only_in_the_panel_of_its_own_setting(tmp_path):
    """Fig. 7's η and β sweeps share a pair, a method and seeds with the default run: each run gives its own
    curve, and a run that changed β stays out of the η panel and of the method panels (it once overwrote the
    default run's points there). A resumed run's records still merge into one curve."""
    import json

    from diswm_app.paper_figures.runs import grouped_curves

    def record(run_id, folder, differences, points, eta=0.1, beta=0.015):
        path = tmp_path / "runs" / "finetune" / str(run_id)
        path.mkdir(parents=True)
        config = {"method": "diswm", "scale": "smoke", "source": "cheetah_run", "task": "walker_walk", "seed": 0,
                  "out_dir": folder, "world_model": {"eta_max": eta, "beta": beta}}
        (path / "config.json").write_text(json.dumps(config))
        (path / "run.json").write_text(json.dumps({"status": "COMPLETED"}))
        steps, values = zip(*points, strict=True)
        (path / "metrics.json").write_text(json.dumps({"eval_return": {"steps": steps, "values": values}}))
        (path / "info.json").write_text(json.dumps({"settings_differences": differences, "out_dir": folder}))

    record(1, "/d/seed_0", {}, [(100, 1.0)])
    record(2, "/d/seed_0", {}, [(200, 2.0)])  # the same run, resumed
    record(3, "/d/seed_0-aa", {"world_model.eta_max": [0.1, 0.01]}, [(100, 5.0), (200, 6.0)], eta=0.01)
    record(4, "/d/seed_0-bb", {"world_model.beta": [0.015, 0.15]}, [(100, 9.0), (200, 9.5)], beta=0.15)
    record(5, "/d/seed_0-cc", {"env_steps": [400, 200]}, [(100, 3.0)])  # a budget is not a sweep
    where = {"source": "cheetah_run", "task": "walker_walk", "method": "diswm"}
    eta = grouped_curves(tmp_path / "runs", "smoke", where, "eta_max")
    assert sorted(eta[0.1]) == [[(100, 1.0), (200, 2.0)], [(100, 3.0)]] and eta[0.01] == [[(100, 5.0), (200, 6.0)]]
    beta = grouped_curves(tmp_path / "runs", "smoke", where, "beta")
    assert beta[0.15] == [[(100, 9.0), (200, 9.5)]] and len(beta[0.015]) == 2
    methods = grouped_curves(tmp_path / "runs", "smoke", where, "method")
    assert sorted(methods["diswm"]) == [[(100, 1.0), (200, 2.0)], [(100, 3.0)]]
