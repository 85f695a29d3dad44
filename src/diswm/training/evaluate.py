"""Evaluation episodes side by side: N environments, one batched policy call per step (paper §4: evaluation
return, 10 episodes; released ``dreamer.py`` ``eval_episode_num``).

Each episode's randomness is its own: the environment is reset with the episode's seed, and the policy's
noise (the encoder's sample, the posterior's and prior's samples, a sampled action) comes from a generator
seeded from it (:func:`diswm.models.noise.per_row`). So an episode is the same whether it runs alone or beside
others, up to the float rounding of batched network evaluation (a matrix product over 10 rows may round in
another order than over 1); ``batch`` is how many run at once. Environments may be
:class:`~diswm.envs.workers.EnvWorker` s, one process each, which then step (and render) at the same time.
"""

from __future__ import annotations

import numpy as np
import torch

from diswm.agents.behavior import ActorCritic
from diswm.agents.world_model import WorldModel
from diswm.envs.workers import reset_all, step_all
from diswm.models import RSSM, TruncatedNormal, noise
from diswm.models.images import image_tensor

#: how the actor's distribution becomes an evaluation action
POLICY_ACTIONS = ("sample", "mode", "mean")


def episode_generator(seed: int, device: torch.device) -> torch.Generator:
    """The policy-noise generator of the episode reset with ``seed`` (its own stream, apart from the env's)."""
    state = int(np.random.SeedSequence([seed, 2]).generate_state(1, np.uint64)[0] >> 1)
    return torch.Generator(device).manual_seed(state)


@torch.no_grad()
def evaluate_episodes(envs: list, model: WorldModel, behavior: ActorCritic, device: torch.device, *,
                      seeds: list[int], colour_set: str, action: str, batch: int | None = None) -> list[dict]:
    """Run one episode per seed (``envs``: at least ``batch`` environments, used ``batch`` at a time; None:
    all seeds at once) and return, per episode, its ``return`` (the float32 sum of its rewards, as the episode
    file would give), ``success`` (DrawerWorld: any step succeeded; else None) and ``steps``."""
    if action not in POLICY_ACTIONS:
        raise ValueError(f"action={action!r}; expected one of {POLICY_ACTIONS}")
    batch = len(seeds) if batch is None else batch
    if not 1 <= batch <= len(envs):
        raise ValueError(f"batch={batch} needs 1..{len(envs)} environments")
    results: list[dict] = []
    for start in range(0, len(seeds), batch):
        chunk = seeds[start:start + batch]
        results += _side_by_side(envs[:len(chunk)], model, behavior, device, chunk, colour_set, action)
    return results


def sampled(dist) -> torch.Tensor:
    """An action drawn with the per-row noise: the truncated normal's own sampler (uniform noise), or a
    normal's ``mean + std x standard normal``."""
    base = getattr(dist, "base_dist", dist)  # the actor's distributions are Independent over the actions
    if isinstance(base, TruncatedNormal):
        return dist.rsample()
    return base.loc + base.scale * noise.randn_like(base.loc)


def _side_by_side(envs, model, behavior, device, seeds, colour_set, action) -> list[dict]:
    n = len(seeds)
    generators = [episode_generator(seed, device) for seed in seeds]
    observations, rewards, successes = [], [[0.0] for _ in seeds], [None] * n
    for env in envs:
        env.set_distractor(colour_set)
    for i, (observation, info) in enumerate(reset_all(envs, seeds)):
        observations.append(observation)
        if "success" in info:
            successes[i] = bool(info["success"])
    num_actions = behavior.actor.net[-1].out_features // 2
    state = model.initial_filter_state(n, device)
    previous = torch.zeros(n, num_actions, device=device)
    running = list(range(n))
    while running:
        images = image_tensor(np.stack([observations[i]["image"] for i in running]), device)
        rows = {k: v[running] for k, v in state["post"].items()}
        state_rows = {"post": rows, **({"video": {k: v[running] for k, v in state["video"].items()}}
                                       if "video" in state else {})}
        with noise.per_row([generators[i] for i in running]):
            stepped = model.filter_step(state_rows, previous[running], images)
            dist = behavior.actor(RSSM.feature(stepped["post"]))
            chosen = sampled(dist) if action == "sample" else getattr(dist, action)
        for part, values in stepped.items():
            for key, value in values.items():
                state[part][key][running] = value
        previous[running] = chosen
        actions = chosen.cpu().numpy().astype(np.float32)
        still = []
        stepped_envs = step_all([envs[i] for i in running], actions)
        for i, (observation, reward, terminated, truncated, info) in zip(running, stepped_envs, strict=True):
            observations[i] = observation
            rewards[i].append(reward)
            if "success" in info:
                successes[i] = bool(successes[i]) or bool(info["success"])
            if not (terminated or truncated):
                still.append(i)
        running = still
    return [{"return": float(np.asarray(r, np.float32).sum()), "success": s, "steps": len(r) - 1}
            for r, s in zip(rewards, successes, strict=True)]
