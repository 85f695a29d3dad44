"""Stage 2+3: train a new world model online on the target task, distilling the pretrained teacher,
and learn behaviour in imagination (official ``dreamer.py`` main loop with ``models.WorldModel``).

Schedule (official defaults): a random policy fills the replay with ``prefill`` agent steps; then every
``train_every`` agent steps one world-model and one behaviour update (the first training call runs
``pretrain_updates``); every ``eval_every`` env steps, ``eval_episodes`` episodes with the actor's mode
(``eval_action``: or its mean, or samples);
with ``colour_schedule="switch"`` training and evaluation use the train colour set for the first half of
the budget and the test set for the second.

Resumable and exact: episodes are seeded from ``(seed, episode index)``, checkpoints are taken at episode
boundaries with every RNG state, and the replay is the folder of episode files. Rerunning resumes; an
interrupted run ends with the same weights and returns as an uninterrupted one (on the same CPU).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from diswm.agents.behavior import ActorCritic, BehaviorConfig
from diswm.agents.world_model import WorldModel, WorldModelConfig
from diswm.checkpoint import (
    CheckpointError,
    config_differences,
    load_checkpoint,
    restore_rng_state,
    rng_state,
    save_checkpoint,
)
from diswm.config_io import dataclass_from_dict
from diswm.data import EpisodeReplay
from diswm.data.rollout import RandomPolicy, episode_seed, rollout
from diswm.envs import EnvSpec, make_env_from_spec
from diswm.envs.workers import make_envs
from diswm.models import RSSM, count_parameters
from diswm.models.images import image_tensor
from diswm.scales import FINETUNE
from diswm.training.evaluate import POLICY_ACTIONS, evaluate_episodes
from diswm.training.graphed import GraphedUpdate
from diswm.training.learners import BehaviorLearner, WorldModelLearner, check_precision

_PAPER = FINETUNE["paper"]

COLOUR_SCHEDULES = ("switch", "train", "test", "none")
#: what the budget, ``eval_every``, ``checkpoint_every`` and the colour switch count: ``control`` steps of the
#: simulator, or the released code's ``logged`` steps (action_repeat x agent steps: its "1e6 steps" are 5e5
#: agent steps, i.e. 2e6 DMC control steps under its double action repeat)
STEP_UNITS = ("control", "logged")
#: how a policy turns the actor's distribution into an action: ``sample`` (exploring), ``mode`` (DreamerV2's
#: evaluation: the truncated normal's mode is its location clipped to [-1, 1]) or ``mean`` (the truncated
#: normal's mean; for the untruncated ``normal`` actor mean = mode, the official code's evaluation)
TRAIN_STREAM, EVAL_STREAM = 0, 1


@dataclass(frozen=True)
class FinetuneConfig:
    env: EnvSpec
    out_dir: str
    world_model: WorldModelConfig = field(default_factory=WorldModelConfig)
    behavior: BehaviorConfig = field(default_factory=BehaviorConfig)
    teacher_path: str | None = None  # pretrained encoder.pt (needed when world_model.distill)
    init_from: str | None = None  # a pretraining folder: start encoder, decoder and RSSM from it (DV2 Finetune)
    # the defaults of the sizes and the schedule are the paper's (diswm.scales, the paper row; every scale's
    # own values come from diswm.configs.finetune_config)
    env_steps: int = _PAPER.env_steps  # budget, in step_unit
    step_unit: str = "control"  # control (simulator control steps) | logged (the released code's), STEP_UNITS
    colour_schedule: str = "switch"
    prefill: int = _PAPER.prefill  # agent steps of the random policy, in whole episodes
    train_every: int = _PAPER.train_every  # agent steps per training call
    pretrain_updates: int = _PAPER.pretrain_updates  # updates in the first training call
    batch_size: int = _PAPER.batch_size
    length: int = _PAPER.length
    eval_every: int = _PAPER.eval_every  # in step_unit
    eval_episodes: int = _PAPER.eval_episodes
    eval_action: str = "mode"  # mode (DreamerV2) | mean | sample, see POLICY_ACTIONS
    # evaluation episodes run side by side, one batched policy call per step (None: all of one evaluation);
    # each episode's noise is its own (diswm.training.evaluate), so the number changes speed, not episodes
    eval_batch: int | None = None
    # each evaluation environment in its own worker process (diswm.envs.workers): they step at once; speed only
    eval_workers: bool = False
    # the updates' arithmetic: fp32 (default) | bf16 (autocast; opt-in, see diswm.training.learners.autocast)
    precision: str = "fp32"
    checkpoint_every: int = _PAPER.checkpoint_every  # in step_unit (checkpoints land on episode boundaries)
    seed: int = 0
    device: str = "cpu"
    compile: bool = False  # torch.compile the RSSM and policy step functions (a GPU speed switch)
    cuda_graph: bool = False  # replay each update as one CUDA graph (diswm.training.graphed; CUDA only)

    def validate(self) -> None:
        self.env.validate()
        self.world_model.validate()
        if self.colour_schedule not in COLOUR_SCHEDULES:
            raise ValueError(f"colour_schedule={self.colour_schedule!r}; expected one of {COLOUR_SCHEDULES}")
        if self.step_unit not in STEP_UNITS:
            raise ValueError(f"step_unit={self.step_unit!r}; expected one of {STEP_UNITS}")
        if self.eval_action not in POLICY_ACTIONS:
            raise ValueError(f"eval_action={self.eval_action!r}; expected one of {POLICY_ACTIONS}")
        check_precision(self.precision)
        if self.eval_batch is not None and not 1 <= self.eval_batch <= self.eval_episodes:
            raise ValueError(f"eval_batch={self.eval_batch}; expected None or 1..eval_episodes ({self.eval_episodes})")
        if self.world_model.distill and not self.teacher_path:
            raise ValueError("world_model.distill needs teacher_path (a pretrained encoder.pt)")
        for name in ("env_steps", "train_every", "batch_size", "eval_every", "eval_episodes", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.length < 2 or self.prefill < 0 or self.pretrain_updates < 1:
            raise ValueError("length >= 2, prefill >= 0 and pretrain_updates >= 1 are needed")

    def steps(self, env_steps: int, agent_steps: int) -> int:
        """Progress in ``step_unit``: simulator control steps, or the released code's logged steps."""
        return env_steps if self.step_unit == "control" else self.env.action_repeat * agent_steps

    def colour_set(self, steps: int) -> str:
        """The training colour set after ``steps`` (in ``step_unit``): the test set from mid-budget on."""
        if self.colour_schedule == "switch":
            return "train" if steps < self.env_steps / 2 else "test"
        return self.colour_schedule

    def schedule(self, control_steps_per_agent_step: int) -> dict[str, int]:
        """The run's schedule by arithmetic, for an environment whose agent step takes
        ``control_steps_per_agent_step`` control steps (2, or 4 for DMC under the released double repeat),
        ignoring that the loop acts on episode boundaries: agent steps, updates, the agent step of the colour
        switch and the number of evaluations. Uses the loop's own :meth:`steps` and training rule."""
        per_agent_step = self.steps(control_steps_per_agent_step, 1)  # progress is linear in agent steps

        def first_agent_step(target: float) -> int:  # the first agent step whose progress reaches target
            return math.ceil(target / per_agent_step)

        agent_steps = first_agent_step(self.env_steps)
        prefill = min(self.prefill, agent_steps)
        # exploring agent step s (prefill < s <= agent_steps) trains when (s - 1) % train_every == 0
        calls = (agent_steps - 1) // self.train_every - (prefill - 1) // self.train_every
        prefill_progress = self.steps(prefill * control_steps_per_agent_step, prefill)
        # one after the prefill, one at every later multiple of eval_every, one at the end of the budget
        evaluations = 1 + self.env_steps // self.eval_every - prefill_progress // self.eval_every \
            + bool(self.env_steps % self.eval_every)
        return {"agent_steps": agent_steps, "updates": self.pretrain_updates + calls - 1 if calls else 0,
                "colour_switch_agent_step": first_agent_step(self.env_steps / 2)
                if self.colour_schedule == "switch" else None,
                "eval_every_agent_steps": first_agent_step(self.eval_every), "evaluations": evaluations}


def load_pretrained(model: WorldModel, folder: Path) -> None:
    """Start from a pretraining run (released ``dreamer.py`` main, "Load checkpoints"): DV2 Finetune
    (``naive_fine_tune``) loads encoder, decoder and RSSM; APV (``fine_tune``) loads encoder, decoder and the
    action-free RSSM at the bottom of its stack (APV's own ``load_modules``), the decoder then reading the new
    action-conditional RSSM's features.

    The action space is the larger of source and target (paper §4): the RSSM's input layer keeps the
    pretrained weights for the state and the source's action inputs; extra target action inputs keep
    their fresh initialisation, and a smaller target's actions are zero-padded.
    """
    model.encoder.load_state_dict(load_checkpoint(folder / "encoder.pt"))
    model.decoder.load_state_dict(load_checkpoint(folder / "decoder.pt"))
    rssm = load_checkpoint(folder / "rssm.pt")
    if model.rssm_af is not None:  # APV: the pretrained action-free model is the bottom of the stack
        model.rssm_af.load_state_dict(rssm)
        return
    pretrained, current = rssm["img_in.weight"], model.rssm.img_in.weight
    if pretrained.shape != current.shape:
        if pretrained.shape[0] != current.shape[0] or pretrained.shape[1] > current.shape[1]:
            raise CheckpointError(f"{folder / 'rssm.pt'}: input layer {tuple(pretrained.shape)} cannot grow to "
                                  f"{tuple(current.shape)}")
        grown = current.detach().clone()
        grown[:, : pretrained.shape[1]] = pretrained
        rssm["img_in.weight"] = grown
    model.rssm.load_state_dict(rssm)


def load_teacher(teacher: torch.nn.Module, path: Path) -> None:
    """Load a pretrained β-VAE encoder (``encoder.pt``) as the distillation teacher; a teacher of another
    size (z_dim or channel widths) is refused with the file and both shapes named."""
    state = load_checkpoint(path)
    expected = teacher.state_dict()
    if set(state) != set(expected):
        raise CheckpointError(f"{path} is not a β-VAE encoder (keys {sorted(state)[:4]}...)")
    for key, value in state.items():
        if value.shape != expected[key].shape:
            raise CheckpointError(
                f"{path}: teacher {key} has shape {tuple(value.shape)}, this run needs {tuple(expected[key].shape)} "
                f"(teacher z_dim {state['head.weight'].shape[0] // 2} vs z_dim={expected['head.weight'].shape[0] // 2}"
                ", or other encoder widths)")
    teacher.load_state_dict(state)


class AgentPolicy:
    """Acts with the world model's filter and the actor; ``action`` (:data:`POLICY_ACTIONS`) says how the
    actor's distribution becomes an action: ``sample`` when exploring, ``mode`` when evaluating.

    As the official ``Dreamer._policy``: the encoder's sample and a sampled posterior, zero state and
    action at the first step.
    """

    def __init__(self, model: WorldModel, behavior: ActorCritic, device: torch.device, action: str,
                 before_step: Callable[[], None] | None = None):
        if action not in POLICY_ACTIONS:
            raise ValueError(f"action={action!r}; expected one of {POLICY_ACTIONS}")
        self.model, self.behavior, self.device, self.action_kind = model, behavior, device, action
        self.before_step = before_step
        self.num_actions = behavior.actor.net[-1].out_features // 2

    def reset(self, rng: np.random.Generator) -> None:
        self.state = self.model.initial_filter_state(1, self.device)
        self.action = torch.zeros(1, self.num_actions, device=self.device)

    def act(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        if self.before_step is not None:
            self.before_step()
        with torch.no_grad():
            image = image_tensor(observation["image"][None], self.device)
            self.state = self.model.filter_step(self.state, self.action, image)
            dist = self.behavior.actor(RSSM.feature(self.state["post"]))
            self.action = dist.sample() if self.action_kind == "sample" else getattr(dist, self.action_kind)
        return self.action[0].cpu().numpy().astype(np.float32)


def load_agent(checkpoint: Path | str, device: torch.device | str = "cpu"
               ) -> tuple[FinetuneConfig, WorldModel, ActorCritic]:
    """The config, world model and actor-critic of a finetuning ``latest.pt``, for acting (no optimiser
    state is restored; the teacher's weights come from the checkpoint, not from ``teacher_path``)."""
    state = load_checkpoint(checkpoint)
    if not {"config", "model", "behavior"} <= set(state):
        raise CheckpointError(f"{checkpoint} is not a finetuning checkpoint (keys: {sorted(state)[:6]})")
    config = dataclass_from_dict(FinetuneConfig, state["config"])
    model = WorldModel(config.world_model)
    model.load_state_dict(state["model"])
    last = max((k for k in state["behavior"] if k.startswith("actor.net.") and k.endswith(".weight")),
               key=lambda k: int(k.split(".")[2]))
    num_actions = state["behavior"][last].shape[0] // 2  # the actor outputs a mean and a std per action
    behavior = ActorCritic(config.behavior, model.rssm.feat_size, num_actions, torch.device(device))
    behavior.load_state_dict(state["behavior"])
    return config, model.to(device), behavior


@dataclass
class Progress:
    """Counters saved with every checkpoint."""

    episodes: int = 0
    agent_steps: int = 0
    env_steps: int = 0
    updates: int = 0
    trained: bool = False  # the first training call (pretrain_updates) has happened
    initial_step: int = 0  # agent steps when training started (the official frozen η step)
    evaluations: int = 0
    stopped_early: bool = False  # the run's stop_when ended it before the budget
    next_eval: int = 0
    next_checkpoint: int = 0
    eval_history: list[dict[str, Any]] = field(default_factory=list)


class Finetuner:
    def __init__(self, config: FinetuneConfig):
        config.validate()
        self.config = c = config
        self.out = Path(c.out_dir)
        self.device = torch.device(c.device)
        torch.manual_seed(c.seed)
        self.generator = np.random.default_rng(c.seed)
        self.train_env = make_env_from_spec(c.env)
        self.eval_envs = make_envs(c.env, c.eval_batch or c.eval_episodes, workers=c.eval_workers)
        num_actions = self.train_env.action_space.shape[0]
        if c.world_model.rssm.num_actions < num_actions:
            raise ValueError(f"world_model.rssm.num_actions={c.world_model.rssm.num_actions}, but {c.env.task} "
                             f"has {num_actions} actions")
        self.model = WorldModel(c.world_model)
        if self.model.teacher is not None:
            load_teacher(self.model.teacher, Path(c.teacher_path))
        if c.init_from is not None:
            load_pretrained(self.model, Path(c.init_from))
        self.model.to(self.device)
        self.learner = WorldModelLearner(self.model, capturable=c.cuda_graph, precision=c.precision)
        self.behavior = ActorCritic(c.behavior, self.model.rssm.feat_size, num_actions, self.device)
        self.behavior_learner = BehaviorLearner(self.behavior, capturable=c.cuda_graph, precision=c.precision)
        if c.compile:
            for rssm in (self.model.rssm, self.model.rssm_af):
                if rssm is not None:
                    rssm.compile_steps()
            self.behavior.compile_steps()
        self.graphed = GraphedUpdate(self.learner, self.behavior_learner) if c.cuda_graph else None
        self.progress = Progress()
        self.replay = EpisodeReplay(self.out / "train_eps")
        self.last_metrics: dict[str, float] = {}

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> dict[str, Any]:
        return {
            "config": asdict(self.config), "progress": asdict(self.progress),
            "model": self.model.state_dict(), "behavior": self.behavior.state_dict(),
            "model_optimizer": self.learner.optimizer.state_dict(),
            "actor_optimizer": self.behavior_learner.actor_opt.state_dict(),
            "critic_optimizer": self.behavior_learner.critic_opt.state_dict(),
            "rng": rng_state(self.generator),
        }

    def save(self) -> str:
        return save_checkpoint(self.out / "latest.pt", self._state())

    def resume(self) -> bool:
        path = self.out / "latest.pt"
        if not path.exists():
            if self.replay.directory.is_dir() and any(self.replay.directory.glob("*.npz")):
                raise CheckpointError(f"{self.out} holds episodes but no latest.pt; use another out_dir")
            return False
        state = load_checkpoint(path)
        differences = config_differences(state["config"], asdict(self.config))
        if differences:
            raise CheckpointError(f"{path} belongs to a run with other settings ({'; '.join(differences)}); "
                                  "use another out_dir")
        self.model.load_state_dict(state["model"])
        self.behavior.load_state_dict(state["behavior"])
        self.learner.optimizer.load_state_dict(state["model_optimizer"])
        self.behavior_learner.actor_opt.load_state_dict(state["actor_optimizer"])
        self.behavior_learner.critic_opt.load_state_dict(state["critic_optimizer"])
        self.progress = Progress(**state["progress"])
        restore_rng_state(state["rng"], self.generator)
        self.replay = EpisodeReplay(self.out / "train_eps")
        self.replay.load(limit=self.progress.episodes)  # later files (after the checkpoint) are redone
        if len(self.replay) != self.progress.episodes:
            raise CheckpointError(f"{self.replay.directory} has {len(self.replay)} episodes, the checkpoint "
                                  f"expects {self.progress.episodes}")
        return True

    # ------------------------------------------------------------------ training
    def _train_call(self) -> None:
        """Called before every exploring agent step, as the official ``Dreamer.__call__``."""
        p, c = self.progress, self.config
        p.agent_steps += 1
        if (p.agent_steps - 1) % c.train_every:
            return
        if not p.trained:
            p.trained, p.initial_step = True, p.agent_steps - 1
        updates = c.pretrain_updates if p.updates == 0 else 1
        for _ in range(updates):
            self._update()

    def _update(self) -> None:
        c, p = self.config, self.progress
        batch = self.replay.sample(c.batch_size, c.length, self.generator, keys=("image", "action", "reward"))
        batch = {k: torch.as_tensor(v, device=self.device) for k, v in batch.items()}
        # η is the loop's to compute (agent step, and the step training began at: the released frozen counter);
        # the update takes it as a device tensor, eager and graphed alike
        eta = self.model.distill_weight(p.agent_steps, p.initial_step)
        if self.graphed is not None:
            self.last_metrics = self.graphed(batch, eta)
        else:
            model_metrics, post = self.learner.update(batch, eta)
            self.last_metrics = model_metrics | self.behavior_learner.update(self.model.rssm, self.model.reward, post)
        p.updates += 1

    def evaluate(self) -> dict[str, Any]:
        p, c = self.progress, self.config
        colour_set = self.eval_envs[0].evaluation_set(c.colour_set(self.steps))
        seeds = [episode_seed(c.seed, p.evaluations * c.eval_episodes + i, EVAL_STREAM) for i in range(c.eval_episodes)]
        started = time.perf_counter()
        episodes = evaluate_episodes(self.eval_envs, self.model, self.behavior, self.device, seeds=seeds,
                                     colour_set=colour_set, action=c.eval_action, batch=len(self.eval_envs))
        returns = [episode["return"] for episode in episodes]
        # success at any step counts for the episode (DrawerWorld)
        successes = [episode["success"] for episode in episodes if episode["success"] is not None]
        p.evaluations += 1
        record = {"env_steps": p.env_steps, "agent_steps": p.agent_steps, "updates": p.updates,
                  "colour_set": colour_set, "returns": returns, "return_mean": float(np.mean(returns))}
        if successes:
            record["success_rate"] = float(np.mean(successes))
        p.eval_history.append(record)  # no timings in the history: a resumed run must reproduce it exactly
        return {**record, "seconds_per_episode": (time.perf_counter() - started) / c.eval_episodes}

    @property
    def steps(self) -> int:
        """Progress in the config's ``step_unit``."""
        return self.config.steps(self.progress.env_steps, self.progress.agent_steps)

    def parameter_counts(self) -> dict[str, int]:
        """Parameters per part (Table C counts the agent: world model without the teacher, actor, critic)."""
        teacher = count_parameters(self.model.teacher) if self.model.teacher is not None else 0
        counts = {
            "world_model": count_parameters(self.model) - teacher, "teacher": teacher,
            "actor": count_parameters(self.behavior.actor), "critic": count_parameters(self.behavior.critic),
        }
        counts["agent"] = counts["world_model"] + counts["actor"] + counts["critic"]
        return counts

    def run(self, on_episode: Callable[[dict[str, Any]], None] | None = None,
            on_eval: Callable[[dict[str, Any]], None] | None = None,
            on_update: Callable[[dict[str, int], dict[str, float]], None] | None = None,
            stop_after_episodes: int | None = None, progress_bar: bool = True,
            stop_when: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
        """Train until the budget (``env_steps`` in ``step_unit``) is spent, or until ``stop_when`` (called with
        every evaluation record) returns True; either way a last checkpoint is saved. ``stop_after_episodes``
        interrupts (a later run resumes)."""
        c = self.config
        self.resume()
        p = self.progress
        explore = AgentPolicy(self.model, self.behavior, self.device, action="sample", before_step=self._train_call)
        random_policy = RandomPolicy(self.train_env.action_space.shape[0])
        bar = None
        if progress_bar:
            from tqdm import tqdm

            bar = tqdm(total=c.env_steps, initial=self.steps, desc=f"finetune {c.env.task}", unit="step")
        try:
            while True:
                if self.steps >= p.next_eval and p.agent_steps >= c.prefill:
                    record = self.evaluate()
                    p.next_eval = (self.steps // c.eval_every + 1) * c.eval_every  # the next multiple
                    if on_eval is not None:
                        on_eval(record)
                    if stop_when is not None and stop_when(record):
                        p.stopped_early = True
                if self.steps >= c.env_steps or p.stopped_early:
                    break
                prefilling = p.agent_steps < c.prefill
                started = time.perf_counter()
                seed = episode_seed(c.seed, p.episodes, TRAIN_STREAM)
                updates_before = p.updates
                if prefilling:
                    episode = rollout(self.train_env, random_policy, seed=seed, colour_set=c.colour_set(self.steps))
                    p.agent_steps += len(episode["image"]) - 1
                else:
                    episode = rollout(self.train_env, explore, seed=seed, colour_set=c.colour_set(self.steps))
                self.replay.add(episode)
                p.episodes += 1
                steps = int(episode["env_steps"].sum())
                p.env_steps += steps
                if bar is not None:
                    bar.update(self.steps - bar.n)
                    bar.set_postfix(ret=f"{episode['reward'].sum():.1f}", updates=p.updates)
                if on_update is not None and p.updates > updates_before:
                    on_update({"updates": p.updates, "env_steps": p.env_steps, "agent_steps": p.agent_steps},
                              self.last_metrics)
                if on_episode is not None:
                    on_episode({"episode": p.episodes, "env_steps": p.env_steps, "agent_steps": p.agent_steps,
                                "return": float(episode["reward"].sum()), "prefill": prefilling,
                                "fps": steps / (time.perf_counter() - started)})
                if self.steps >= p.next_checkpoint:
                    p.next_checkpoint = self.steps + c.checkpoint_every
                    self.save()
                if stop_after_episodes is not None and p.episodes >= stop_after_episodes:
                    return {"interrupted": True, **asdict(p)}
            if not p.eval_history or p.eval_history[-1]["env_steps"] != p.env_steps:
                record = self.evaluate()  # the curve ends at the budget
                if on_eval is not None:
                    on_eval(record)
            self.save()
        finally:
            if bar is not None:
                bar.close()
        return {"interrupted": False, **asdict(p)}

    def close(self) -> None:
        self.train_env.close()
        for env in self.eval_envs:
            env.close()
