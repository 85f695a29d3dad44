import pytest

from diswm.data.collect import CollectConfig, collect
from diswm.envs import EnvSpec
from paper_figures import fig3_distracted_observations


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
