"""Sacred experiment ``collect``: distracting videos of a source task, written as episode files.

    diswm collect with cheetah_run smoke      # = python -m diswm_app.experiments.collect with ...
    diswm collect with reacher_easy paper seed=1

Records land in ``runs/collect/<id>/`` (and MongoDB when ``$DISWM_MONGO_URL`` is set); the episodes in
``out_dir`` (default ``data/<scale>/<task>/<colour_schedule>/seed_<seed>``, and
``<colour_schedule>_checkpoint`` for a trained agent's videos). Rerunning the same command resumes an
interrupted collection.

The policy is uniform random by default (``videos=random`` in ``diswm pretrain``; the paper's videos are a
learning agent's replay instead: ``diswm source_agent``). ``policy=checkpoint policy_checkpoint=PATH`` acts
with a trained agent (a ``latest.pt`` of ``diswm finetune`` or ``diswm source_agent`` for the same task),
sampling its actions as when it explored, seeded per episode so that a resumed collection stays exact.
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from diswm.checkpoint import file_sha256
from diswm.configs import as_dict, collect_config
from diswm.data.collect import CollectConfig, collect
from diswm.envs import TASKS
from diswm.lock import folder_lock
from diswm.scales import SCALE_NAMES, check_scale
from diswm_app.experiments.common import (
    check_at_least,
    check_choice,
    new_experiment,
    outputs_home,
    provenance,
    run_command_line,
    stage_settings,
)

SOURCE_TASKS = ("cheetah_run", "reacher_easy", "finger_spin", "walker_walk", "hopper_stand")

ex = new_experiment("collect", CollectConfig, ("task", "scale"))


@ex.config
def config():
    task = "cheetah_run"  # source task whose videos are collected
    check_choice("task", task, TASKS)
    scale = "smoke"  # smoke | cpu | paper: sizes the dataset (diswm.scales.COLLECT)
    check_scale(scale)
    seed = 0  # seeds the env, the colour stream and the policy (episode i: SeedSequence([seed, i, 0]))
    check_at_least("seed", seed, 0)
    # the settings (diswm.data.collect.CollectConfig); override one as env.max_delta=... or time_limit=...
    _settings = as_dict(collect_config(scale=scale, task=task, seed=seed))
    env = _settings["env"]  # environment, colour box (max_delta), colour walk (step_std), rendering, time limit
    num_episodes = _settings["num_episodes"]  # episodes to collect
    colour_schedule = _settings["colour_schedule"]  # switch (train colours, test at mid-collection) | train | test
    policy = _settings["policy"]  # random | checkpoint (a trained agent acting: policy_checkpoint=PATH)
    policy_checkpoint = _settings["policy_checkpoint"]  # latest.pt of a finetune or source_agent run on this task
    del _settings
    # episode folder; a trained agent's videos get their own (<colour_schedule>_checkpoint)
    out_dir = str(outputs_home() / "data" / scale / task / (colour_schedule if policy == "random" else
                                                             f"{colour_schedule}_{policy}") / f"seed_{seed}")


for _task in SOURCE_TASKS:
    ex.add_named_config(_task, {"task": _task})
for _scale in SCALE_NAMES:
    ex.add_named_config(_scale, {"scale": _scale})


@ex.main
def main(_run, _config, task, seed, policy, policy_checkpoint, out_dir):
    acting = policy == "checkpoint" and policy_checkpoint is not None
    settings = stage_settings(CollectConfig, _config,
                              policy_sha256=file_sha256(policy_checkpoint) if acting else None)
    agent = agent_policy(policy_checkpoint, task) if acting else None
    if acting:
        _run.info["policy_checkpoint"] = {"path": policy_checkpoint, "sha256": settings.policy_sha256}
    _run.info.update(provenance())

    def log(index, record):
        _run.log_scalar("episode_return", record["return"], index)
        _run.log_scalar("episode_env_steps", record["env_steps"], index)

    with folder_lock(out_dir):  # a second process on this folder stops here, naming the first
        result = collect(settings, on_episode=log, policy=agent)
    manifest = f"{out_dir}/dataset.json"
    _run.add_artifact(manifest, "dataset.json")
    _run.info["dataset"] = {
        "out_dir": out_dir,
        "episodes": [{k: ep[k] for k in ("file", "sha256", "distractor")} for ep in result.episodes],
    }
    return {
        "out_dir": out_dir,
        "episodes": len(result.episodes),
        "newly_collected": result.newly_collected,
        "frames": result.num_frames,
        "env_steps": result.env_steps,
        "mean_return": sum(ep["return"] for ep in result.episodes) / len(result.episodes),
    }


class SeededAgentPolicy:
    """A trained agent's exploring policy (:class:`diswm.training.finetune.AgentPolicy`, actions sampled)
    whose samples are seeded from each episode's generator, so that episode ``i`` is the same on a resume."""

    def __init__(self, policy):
        self.policy = policy

    def reset(self, rng: np.random.Generator) -> None:
        torch.manual_seed(int(rng.integers(2**62)))
        self.policy.reset(rng)

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        return self.policy.act(observation)


def agent_policy(checkpoint: str, task: str, device: str = "cpu") -> SeededAgentPolicy:
    """The exploring policy of the agent in ``checkpoint`` (a finetuning ``latest.pt``), which must have
    learnt ``task``."""
    from diswm.training.finetune import AgentPolicy, load_agent

    config, model, behavior = load_agent(checkpoint, device)
    if config.env.task != task:
        raise ValueError(f"policy_checkpoint {checkpoint} is an agent for {config.env.task}, not for task={task}")
    return SeededAgentPolicy(AgentPolicy(model, behavior, torch.device(device), action="sample"))


def run_cli(argv: list[str]) -> int:
    """Run from a command line (``argv`` without the program name), with observers attached."""
    return run_command_line(ex, argv)


if __name__ == "__main__":
    sys.exit(run_cli(sys.argv[1:]))
