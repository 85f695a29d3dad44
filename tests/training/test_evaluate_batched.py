"""Batched evaluation: the episodes of one evaluation side by side (one policy call per step for all of them),
each with its own seeds, so that an episode does not depend on the episodes beside it."""

import numpy as np
import pytest
import torch

from diswm.agents import ActorCritic
from diswm.agents.world_model import WorldModel
from diswm.configs import finetune_config
from diswm.envs import make_env_from_spec
from diswm.envs.workers import EnvWorker
from diswm.models import noise
from diswm.training.evaluate import evaluate_episodes


def _agent(method: str, task: str, actor_dist: str = "trunc_normal"):
    settings = finetune_config(scale="smoke", method=method, task=task, source="finger_spin")
    torch.manual_seed(0)
    model = WorldModel(settings.world_model)
    behavior_config = settings.behavior if actor_dist == "trunc_normal" else \
        type(settings.behavior)(**{**settings.behavior.__dict__, "actor_dist": actor_dist})
    behavior = ActorCritic(behavior_config, model.rssm.feat_size, settings.world_model.rssm.num_actions)
    envs = [make_env_from_spec(settings.env) for _ in range(3)]
    return model, behavior, envs


@pytest.mark.parametrize("method, action, actor_dist", [("no_distill", "mode", "trunc_normal"),
                                                        ("no_distill", "sample", "trunc_normal"),
                                                        ("dreamerv2", "sample", "normal")])
def test_batched_evaluation_gives_each_episode_what_it_gets_alone(method, action, actor_dist):
    """Three episodes side by side against the same three one at a time: the same lengths, and returns equal
    up to the float rounding of a batched matrix product (the noise of each episode is its own)."""
    model, behavior, envs = _agent(method, "reacher_easy", actor_dist)
    try:
        seeds = [11, 12, 13]
        kwargs = dict(seeds=seeds, colour_set="train", action=action)
        together = evaluate_episodes(envs, model, behavior, torch.device("cpu"), **kwargs)
        alone = evaluate_episodes(envs, model, behavior, torch.device("cpu"), batch=1, **kwargs)
        again = evaluate_episodes(envs, model, behavior, torch.device("cpu"), **kwargs)
    finally:
        for env in envs:
            env.close()
    assert [e["steps"] for e in together] == [e["steps"] for e in alone] == [20, 20, 20]  # smoke: 40 steps / 2
    np.testing.assert_allclose([e["return"] for e in together], [e["return"] for e in alone], rtol=1e-4, atol=1e-4)
    assert together == again  # the same seeds: the same episodes, exactly


def test_batched_evaluation_in_worker_processes_gives_the_same_episodes_exactly():
    """Environments in worker processes step at once; the episodes are those of in-process environments, bit for
    bit (the same batch, so the same policy arithmetic)."""
    model, behavior, envs = _agent("no_distill", "reacher_easy")
    settings = finetune_config(scale="smoke", method="no_distill", task="reacher_easy", source="finger_spin")
    workers = [EnvWorker(settings.env) for _ in range(3)]
    try:
        kwargs = dict(seeds=[21, 22, 23], colour_set="test", action="sample")
        in_process = evaluate_episodes(envs, model, behavior, torch.device("cpu"), **kwargs)
        in_workers = evaluate_episodes(workers, model, behavior, torch.device("cpu"), **kwargs)
    finally:
        for env in envs + workers:
            env.close()
    assert in_workers == in_process


def test_batched_evaluation_leaves_the_training_stream_alone():
    """Evaluation draws from the episodes' own generators: the global torch stream, which training continues,
    is where it was."""
    model, behavior, envs = _agent("no_distill", "reacher_easy")
    try:
        torch.manual_seed(5)
        expected = torch.rand(3)
        torch.manual_seed(5)
        evaluate_episodes(envs, model, behavior, torch.device("cpu"), seeds=[1, 2], colour_set="train",
                          action="sample")
        assert torch.equal(torch.rand(3), expected)
    finally:
        for env in envs:
            env.close()


def test_per_row_noise_is_independent_of_the_other_rows():
    def draws(seeds):
        generators = [torch.Generator().manual_seed(s) for s in seeds]
        with noise.per_row(generators):
            return noise.randn_like(torch.zeros(len(seeds), 4)), noise.rand((len(seeds), 2), torch.float32, "cpu")

    normal, uniform = draws([7, 8, 9])
    alone_normal, alone_uniform = draws([8])
    assert torch.equal(normal[1], alone_normal[0]) and torch.equal(uniform[1], alone_uniform[0])
    with pytest.raises(ValueError, match="per-row generators"), noise.per_row([torch.Generator()]):
        noise.randn_like(torch.zeros(2, 3))
