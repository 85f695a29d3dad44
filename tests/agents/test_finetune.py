import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from bench import policy_actions
from diswm.agents import BehaviorConfig, WorldModelConfig
from diswm.agents.video_model import PretrainConfig
from diswm.checkpoint import CheckpointError, load_checkpoint
from diswm.data.collect import CollectConfig, collect
from diswm.envs import EnvSpec
from diswm.envs.workers import EnvWorker
from diswm.models import RSSMConfig
from diswm.training.finetune import AgentPolicy, FinetuneConfig, Finetuner, load_agent
from diswm.training.pretrain import pretrain

WIDTHS = {"encoder_widths": (8, 8, 8, 8, 16), "decoder_widths": (16, 8, 8, 8, 8)}


def config(out, teacher=None, **kwargs):
    world_model = WorldModelConfig(rssm=RSSMConfig(stoch=4, deter=16, hidden=16, num_actions=1), units=16,
                                   reward_layers=1, distill=teacher is not None, **WIDTHS)
    behavior = BehaviorConfig(horizon=3, units=16, actor_layers=1, critic_layers=1)
    defaults = dict(env=EnvSpec("cartpole_swingup", render_quality="fast", time_limit=24), out_dir=str(out),
                    world_model=world_model, behavior=behavior, teacher_path=teacher, env_steps=240, prefill=24,
                    train_every=4, pretrain_updates=2, batch_size=2, length=6, eval_every=96, eval_episodes=1,
                    checkpoint_every=24)
    return FinetuneConfig(**{**defaults, **kwargs})


def run(cfg, **kwargs):
    finetuner = Finetuner(cfg)
    try:
        result = finetuner.run(progress_bar=False, **kwargs)
        return result, finetuner
    finally:
        finetuner.close()


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    root = tmp_path_factory.mktemp("teacher")
    collect(CollectConfig(env=EnvSpec("finger_spin", render_quality="fast", time_limit=16),
                          out_dir=str(root / "videos"), num_episodes=1, progress=False))
    pretrain(PretrainConfig(data_dir=str(root / "videos"), out_dir=str(root / "ckpt"), num_actions=2, batch_size=2,
                            length=4, updates=2, checkpoint_every=2, rssm=RSSMConfig(stoch=4, deter=8, hidden=8),
                            **WIDTHS), progress=False)
    return str(root / "ckpt" / "encoder.pt")


@pytest.mark.slow
def test_finetune_follows_the_schedule(tmp_path):
    evals, episodes = [], []
    result, finetuner = run(config(tmp_path), on_eval=evals.append, on_episode=episodes.append)
    assert result["env_steps"] == 240 and result["episodes"] == 10
    # episodes of 12 agent steps: 24 agent steps of prefill = 2 episodes
    assert [e["prefill"] for e in episodes][:3] == [True, True, False]
    # agent steps 25..120, a training call every 4 = 24 calls, the first with 2 updates
    assert result["updates"] == 25 and result["initial_step"] == 24
    assert [e["env_steps"] for e in evals] == [48, 96, 192, 240]
    assert [e["colour_set"] for e in evals] == ["train", "train", "test", "test"]
    assert (tmp_path / "latest.pt").is_file() and len(list((tmp_path / "train_eps").glob("*.npz"))) == 10


@pytest.mark.slow
def test_evaluations_after_the_first_fall_on_multiples_of_eval_every(tmp_path):
    # the first comes when the prefill ends (48 env steps); then the first episode end at or past 80, 120
    evals = []
    run(config(tmp_path, env_steps=120, eval_every=40), on_eval=evals.append)
    assert [e["env_steps"] for e in evals] == [48, 96, 120]


@pytest.mark.slow
def test_interrupted_finetuning_resumes_to_the_same_weights_and_returns(tmp_path, teacher):
    whole, _ = run(config(tmp_path / "whole", teacher))
    partial, _ = run(config(tmp_path / "split", teacher), stop_after_episodes=6)
    assert partial["interrupted"] and partial["episodes"] == 6
    # resumed with its evaluation environment in a worker process: how it runs, not what it computes
    resumed, finetuner = run(config(tmp_path / "split", teacher, eval_workers=True))
    assert isinstance(finetuner.eval_envs[0], EnvWorker) and finetuner.eval_envs[0]._process.returncode == 0
    assert resumed["eval_history"] == whole["eval_history"]
    a = load_checkpoint(tmp_path / "whole" / "latest.pt")
    b = load_checkpoint(tmp_path / "split" / "latest.pt")
    for part in ("model", "behavior"):
        for key, value in a[part].items():
            assert torch.equal(value, b[part][key]), (part, key)


@pytest.mark.slow
def test_frozen_teacher_keeps_the_pretrained_weights(tmp_path, teacher):
    _, finetuner = run(config(tmp_path, teacher, env_steps=96))
    pretrained = load_checkpoint(teacher)
    for key, value in finetuner.model.teacher.state_dict().items():
        assert torch.equal(value, pretrained[key]), key


@pytest.mark.slow
def test_resume_and_configuration_errors(tmp_path):
    run(config(tmp_path, env_steps=48))
    with pytest.raises(CheckpointError, match="other settings"):
        run(config(tmp_path, env_steps=96, seed=1))
    with pytest.raises(ValueError, match="teacher_path"):
        FinetuneConfig(env=EnvSpec("cartpole_swingup"), out_dir=str(tmp_path)).validate()
    with pytest.raises(ValueError, match="num_actions"):
        Finetuner(config(tmp_path / "other", env=EnvSpec("reacher_easy", render_quality="fast")))


@pytest.mark.slow
def test_dv2_finetune_starts_from_a_pretrained_conv_video_model(tmp_path):
    from diswm.agents.world_model import WorldModel
    from diswm.training.finetune import load_pretrained

    collect(CollectConfig(env=EnvSpec("finger_spin", render_quality="fast", time_limit=16),
                          out_dir=str(tmp_path / "videos"), num_episodes=1, progress=False))
    rssm = RSSMConfig(stoch=4, deter=8, hidden=8)
    pretrain(PretrainConfig(data_dir=str(tmp_path / "videos"), out_dir=str(tmp_path / "ckpt"), num_actions=2,
                            image_model="conv", cnn_depth=4, batch_size=2, length=4, updates=2, checkpoint_every=2,
                            rssm=rssm), progress=False)
    # target with more actions (3 > 2): the input layer grows; pretrained columns are kept
    model = WorldModel(WorldModelConfig(image_model="conv", cnn_depth=4, distill=False, beta=0.0, units=8,
                                        rssm=RSSMConfig(stoch=4, deter=8, hidden=8, num_actions=3)))
    load_pretrained(model, tmp_path / "ckpt")
    saved = load_checkpoint(tmp_path / "ckpt" / "rssm.pt")
    assert torch.equal(model.rssm.img_in.weight[:, :6], saved["img_in.weight"])
    encoder = load_checkpoint(tmp_path / "ckpt" / "encoder.pt")
    assert torch.equal(model.encoder.convs[0].weight, encoder["convs.0.weight"])
    # a smaller target (1 action) is zero-padded to the pretrained 2 inputs: finetuning runs end to end
    cfg = config(tmp_path / "ft", env_steps=72, init_from=str(tmp_path / "ckpt"),
                 world_model=WorldModelConfig(image_model="conv", cnn_depth=4, distill=False, beta=0.0, units=8,
                                              reward_layers=1, rssm=RSSMConfig(stoch=4, deter=8, hidden=8,
                                                                                num_actions=2)))
    result, _ = run(cfg)
    assert result["updates"] > 0 and len(result["eval_history"]) >= 1


@pytest.mark.slow
def test_apv_loads_the_action_free_video_model_and_finetunes(tmp_path):
    collect(CollectConfig(env=EnvSpec("finger_spin", render_quality="fast", time_limit=16),
                          out_dir=str(tmp_path / "videos"), num_episodes=1, progress=False))
    pretrain(PretrainConfig(data_dir=str(tmp_path / "videos"), out_dir=str(tmp_path / "ckpt"), num_actions=2,
                            image_model="conv", cnn_depth=4, batch_size=2, length=6, updates=2, checkpoint_every=2,
                            rssm=RSSMConfig(stoch=4, deter=8, hidden=8)), progress=False)
    world_model = WorldModelConfig(image_model="conv", cnn_depth=4, distill=False, beta=0.0, units=8, reward_layers=1,
                                   stacked=True, video_actions=2, intrinsic_beta=1.0,
                                   rssm=RSSMConfig(stoch=4, deter=8, hidden=8, num_actions=1))
    finetuner = Finetuner(config(tmp_path / "ft", env_steps=72, init_from=str(tmp_path / "ckpt"),
                                 world_model=world_model))
    try:
        # encoder, decoder and action-free RSSM come from the video model (released fine_tune, APV's load_modules)
        for part, module in (("rssm", finetuner.model.rssm_af), ("encoder", finetuner.model.encoder),
                             ("decoder", finetuner.model.decoder)):
            saved = load_checkpoint(tmp_path / "ckpt" / f"{part}.pt")
            for key, value in module.state_dict().items():
                assert torch.equal(value, saved[key]), (part, key)
        result = finetuner.run(progress_bar=False)
    finally:
        finetuner.close()
    assert result["updates"] > 0 and "intrinsic_bonus" in finetuner.last_metrics


def test_policy_actions_mode_mean_and_sample(tmp_path):
    _, finetuner = run(config(tmp_path, env_steps=48))
    model, behavior = finetuner.model, finetuner.behavior
    with torch.no_grad():  # push the actor's location towards the edge, where mode and mean differ most
        behavior.actor.net[-1].bias[:1].fill_(1.0)
    observation = {"image": np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)}
    first = {}
    for kind in ("mode", "mean", "sample", "sample again"):
        torch.manual_seed(0)  # the filter's posterior sample is the same for every kind
        policy = AgentPolicy(model, behavior, finetuner.device, action=kind.split()[0])
        policy.reset(np.random.default_rng(0))
        first[kind] = policy.act(observation)
    mode, mean = first["mode"], first["mean"]
    # the truncated normal's mean lies strictly between 0 and its mode, the location clipped to [-1, 1]
    assert np.all(np.abs(mode) <= 1) and np.all(np.sign(mean) == np.sign(mode)) and np.all(np.abs(mean) < np.abs(mode))
    assert np.array_equal(first["sample"], first["sample again"]) and not np.allclose(first["sample"], mode)
    with pytest.raises(ValueError, match="action="):
        AgentPolicy(model, behavior, finetuner.device, action="greedy")
    with pytest.raises(ValueError, match="eval_action"):
        config(tmp_path / "bad", eval_action="greedy").validate()


@pytest.mark.slow
def test_a_checkpoint_acts_again_with_each_kind_of_action(tmp_path, teacher):
    _, finetuner = run(config(tmp_path, teacher, env_steps=96, eval_action="mean"))
    loaded_config, model, behavior = load_agent(tmp_path / "latest.pt")
    assert loaded_config == finetuner.config
    for mine, theirs in ((model, finetuner.model), (behavior, finetuner.behavior)):
        for key, value in theirs.state_dict().items():
            assert torch.equal(value, mine.state_dict()[key]), key
    results = policy_actions.main([str(tmp_path / "latest.pt"), "--episodes", "2", "--out", str(tmp_path / "a.json")])
    assert set(results) == {"mode", "mean", "sample"}
    for result in results.values():
        assert len(result["returns"]) == 2 and np.isfinite(result["returns"]).all() and 0 <= result["at_edge"] <= 1
    assert json.loads((tmp_path / "a.json").read_text())["results"] == results
    # the same seeds and noise: acting again gives the same returns
    assert policy_actions.main([str(tmp_path / "latest.pt"), "--episodes", "2", "--actions", "mode"])["mode"] == \
        results["mode"]
    with pytest.raises(CheckpointError, match="not a finetuning checkpoint"):
        load_agent(teacher)


def test_logged_step_unit_gives_the_released_paper_schedule_by_arithmetic():
    """The released "1e6 steps" are logged steps (2 x agent steps): 5e5 agent steps, ~1e5 updates, colours
    switched at 2.5e5 agent steps, an evaluation every 5000 agent steps; a DMC agent step is 4 control steps."""
    from diswm.scales import FINETUNE

    s = FINETUNE["paper"]
    paper = FinetuneConfig(env=EnvSpec("walker_walk", repeat_mode="official"), out_dir="unused",
                           env_steps=s.env_steps, prefill=s.prefill, train_every=s.train_every,
                           pretrain_updates=s.pretrain_updates, eval_every=s.eval_every)
    released = replace(paper, step_unit="logged").schedule(control_steps_per_agent_step=4)
    assert released == {"agent_steps": 500_000, "updates": 100 + 99_500 - 1, "colour_switch_agent_step": 250_000,
                        "eval_every_agent_steps": 5_000, "evaluations": 101}
    # counted in control steps, the released repeat would run half the agent steps and updates
    halved = paper.schedule(control_steps_per_agent_step=4)
    assert halved["agent_steps"] == 250_000 and halved["colour_switch_agent_step"] == 125_000
    # with the correct repeat (2 control steps per agent step) both units agree
    assert paper.schedule(2) == replace(paper, step_unit="logged").schedule(2) == released


@pytest.mark.slow
def test_the_loop_counts_the_budget_in_logged_steps(tmp_path):
    env = EnvSpec("cartpole_swingup", render_quality="fast", time_limit=24, repeat_mode="official")  # 6 agent steps
    cfg = config(tmp_path, env=env, step_unit="logged", env_steps=48, prefill=6, eval_every=12, checkpoint_every=24)
    evals = []
    result, _ = run(cfg, on_eval=evals.append)
    assert result["agent_steps"] == 24 and result["env_steps"] == 96  # 48 logged = 24 agent = 96 control steps
    assert [e["agent_steps"] for e in evals] == [6, 12, 18, 24]  # every 12 logged steps
    assert [e["colour_set"] for e in evals] == ["train", "test", "test", "test"]  # switched at 24 logged steps
    expected = cfg.schedule(control_steps_per_agent_step=4)
    assert (expected["agent_steps"], expected["evaluations"]) == (24, len(evals))
    with pytest.raises(ValueError, match="step_unit"):
        replace(cfg, step_unit="frames").validate()


@pytest.mark.slow
def test_stop_when_ends_the_run_at_an_evaluation_and_a_rerun_is_a_no_op(tmp_path):
    cfg = config(tmp_path, env_steps=480)
    result, _ = run(cfg, stop_when=lambda record: record["env_steps"] >= 96)
    assert result["stopped_early"] and result["env_steps"] == 96 and len(result["eval_history"]) == 2
    again, _ = run(cfg, stop_when=lambda record: False)
    assert again["env_steps"] == 96 and again["eval_history"] == result["eval_history"]


def test_a_teacher_of_another_size_is_refused_naming_the_file(tmp_path, teacher):
    cfg = config(tmp_path, teacher=teacher)
    cfg = replace(cfg, world_model=replace(cfg.world_model, z_dim=8, rssm=replace(cfg.world_model.rssm, embed=8)))
    with pytest.raises(CheckpointError, match=r"encoder\.pt.*z_dim 20 vs z_dim=8"):
        Finetuner(cfg)


def test_checkpoint_returns_side_by_side_in_workers_and_through_diswm_evaluate(tmp_path):
    """A finetuning checkpoint's agent played outside its run (``diswm evaluate ... episodes=N``): its episodes
    side by side, in worker processes (bit for bit the same) or one at a time (the same up to float rounding)."""
    from sacred.observers import FileStorageObserver

    from diswm.training.returns import ReturnsConfig, evaluate_returns
    from diswm_app.experiments.common import describe
    from diswm_app.experiments.evaluate import ex

    run(config(tmp_path / "ft", env_steps=48))
    checkpoint = str(tmp_path / "ft" / "latest.pt")
    base = ReturnsConfig(checkpoint=checkpoint, episodes=3, colour_set="test", seed=4)
    together = evaluate_returns(base)
    assert evaluate_returns(replace(base, workers=True))["returns"] == together["returns"]
    np.testing.assert_allclose(evaluate_returns(replace(base, batch=1))["returns"], together["returns"], rtol=1e-4)
    assert len(set(together["returns"])) == 3 and together["action"] == "mode" and together["success_rate"] is None

    observer = FileStorageObserver(str(tmp_path / "runs"))
    ex.observers.append(observer)
    try:
        updates = {"checkpoint": checkpoint, "task": "cartpole_swingup", "disentanglement": False, "episodes": 3,
                   "colour_set": "test", "seed": 4}
        first = ex.run(named_configs=["smoke"], config_updates=updates)
        second = ex.run(named_configs=["smoke"], config_updates={**updates, "eval_batch": 1})  # speed only
        with pytest.raises(ValueError, match="colour_set='purple'; cartpole_swingup has"):
            ex.run(named_configs=["smoke"], config_updates={**updates, "colour_set": "purple"})
    finally:
        ex.observers.remove(observer)
    assert first.result["returns"] == together["returns"] and second.result == first.result
    command_line = ["with", "smoke", *(f"{k}={v}" for k, v in updates.items())]
    assert describe(ex, command_line) == "evaluate returns x3 test cartpole_swingup smoke seed 4"  # its run's name
    info = json.loads((tmp_path / "runs" / str(second._id) / "info.json").read_text())
    assert info["returns_cached"].endswith("returns/test-3x-seed4.json")
    assert [p.name for p in (tmp_path / "ft" / "returns").iterdir()] == ["test-3x-seed4.json"]
