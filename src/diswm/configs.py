"""Every stage's settings, built from (scale, method, task) by one function each: the one place where the
scale tables (:mod:`diswm.scales`), the method table (:data:`METHODS`) and a task's own values meet.

A value has one default: a setting that differs between scales comes from the scale table, one that
differs between methods from :data:`METHODS`, one that differs between tasks from the task (reward scale,
GRU layer norm, cross-domain delay, action sizes), and every other from its config dataclass. The Sacred
experiments (``diswm_app.experiments``) show these settings as nested dicts (:func:`as_dict`) and turn them
back with :func:`diswm.config_io.dataclass_from_dict`; a bare leaf name on the command line (``eta_max=0.05``)
sets every entry of that name (:func:`leaf_paths`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields, is_dataclass
from typing import Any, get_type_hints

from diswm.agents.behavior import BehaviorConfig
from diswm.agents.video_model import PretrainConfig
from diswm.agents.world_model import WorldModelConfig
from diswm.config_io import dataclass_from_dict
from diswm.data.collect import CollectConfig
from diswm.data.factors import FactorDatasetConfig
from diswm.envs import ACTION_DIMS, DRAWER_TASK_NAMES, EnvSpec
from diswm.models import RSSMConfig
from diswm.scales import (
    COLLECT,
    ETA_STEPS,
    EVALUATE,
    FINETUNE,
    NETS,
    PRETRAIN,
    SOURCE_AGENT,
    budget_scaled_eta_steps,
    check_scale,
)
from diswm.training.finetune import FinetuneConfig

#: method -> the values that define it: DisWM and its baselines are settings of one model (paper §4.1).
#: ``pretrain_beta`` is β2 of the teacher a method distils from (its checkpoint folder); ``init_pretrained``
#: starts from the source's pretrained conv video model.
METHODS: dict[str, dict[str, Any]] = {
    # β (the student's constraint) and β2 (the teacher's) are their config dataclasses' defaults, 0.015 each
    "diswm": {"image_model": "beta_vae", "distill": True, "beta": WorldModelConfig.beta,
              "pretrain_beta": PretrainConfig.beta},
    "dreamerv2": {"image_model": "conv", "distill": False, "beta": 0.0},
    "no_distill": {"image_model": "beta_vae", "distill": False, "beta": WorldModelConfig.beta},
    "no_disentangle": {"image_model": "beta_vae", "distill": True, "beta": 0.0, "pretrain_beta": 0.0},
    # DreamerV2 whose encoder, decoder and RSSM start from a conv video model pretrained on the source
    # (`diswm pretrain with conv <source>`), action space the larger of the two (released naive_fine_tune).
    "dv2_finetune": {"image_model": "conv", "distill": False, "beta": 0.0, "init_pretrained": True},
    # APV: the source's pretrained action-free conv video model at the bottom of a stack, a new
    # action-conditional RSSM on its features, and the video-based intrinsic bonus (released fine_tune).
    "apv": {"image_model": "conv", "distill": False, "beta": 0.0, "init_pretrained": True, "stacked": True,
            "intrinsic_beta": 1.0},
}
#: the method whose agent learns a source task, its replay becoming the pretraining videos (the paper's recipe)
SOURCE_AGENT_METHOD = "dreamerv2"
#: tasks whose distillation is delayed (DMC -> Pusher / DrawerWorld), as the released cross-domain runs
CROSS_DOMAIN_TASKS = ("pusher", *DRAWER_TASK_NAMES)
#: the GRU cell of every pretrained video model (released ``pretrain.py`` under the dmc2gym config, whose sources
#: are DMC tasks: gru_layer_norm); a finetune that loads such an RSSM builds it with the same cell
PRETRAINED_GRU_LAYER_NORM = True


def method_root(method: str) -> str:
    """The :data:`METHODS` entry a run label names: itself, or the longest entry it extends with
    ``_<label>`` (``diswm_official`` -> ``diswm``)."""
    if method in METHODS:
        return method
    roots = [m for m in METHODS if method.startswith(f"{m}_") and len(method) > len(m) + 1]
    if not roots:
        allowed = ", ".join((*METHODS, *(f"{m}_<label>" for m in METHODS)))
        raise ValueError(f"method={method!r} is not allowed; expected one of: {allowed}")
    return max(roots, key=len)


def method_values(method: str) -> dict[str, Any]:
    """What defines ``method``, every key present (absent ones at their off value)."""
    values = {"pretrain_beta": None, "init_pretrained": False, "stacked": False, "intrinsic_beta": 0.0}
    return {**values, **METHODS[method_root(method)]}


def finetune_config(*, scale: str, method: str, task: str, source: str, seed: int = 0, out_dir: str = "",
                    teacher_path: str | None = None, init_from: str | None = None,
                    device: str = "cpu", eta_steps: str = "paper") -> FinetuneConfig:
    """The online world model and agent of ``method`` on ``task`` (teacher or video model from ``source``) at
    ``scale``: DisWM stages 2-3 and the baselines (paper §3.3-3.4, Supp. B; released ``configs.yaml``).
    ``eta_steps`` (:data:`~diswm.scales.ETA_STEPS`) sizes η's decay and cross-domain delay: the scale table's
    (``paper``) or 10% of the budget each (``budget``)."""
    check_scale(scale)
    if eta_steps not in ETA_STEPS:
        raise ValueError(f"eta_steps={eta_steps!r} is not allowed; expected one of: {', '.join(ETA_STEPS)}")
    m = method_values(method)
    nets, loop = NETS[scale], FINETUNE[scale]
    env = EnvSpec(task=task, seed=seed, render_quality=loop.render_quality, time_limit=loop.time_limit)
    eta_decay_steps, eta_delay = (loop.eta_decay_steps, loop.eta_delay) if eta_steps == "paper" else \
        (budget_scaled_eta_steps(loop.env_steps, env.action_repeat),) * 2
    drawer = task in DRAWER_TASK_NAMES
    # a loaded RSSM keeps its pretraining's cell: DV2 Finetune's whole RSSM, APV's action-free one (below); plain
    # gru on DrawerWorld otherwise. The released code cannot run these DrawerWorld cells (its metaworld config builds
    # a plain gru, and the pretrained gru_layer_norm weights do not load), nor does the paper report them (Table B).
    loads_rssm = m["init_pretrained"] and not m["stacked"]
    rssm = RSSMConfig(
        stoch=nets.stoch, deter=nets.deter, hidden=nets.hidden,
        # DV2 Finetune's pretrained RSSM takes the larger of the source's and the target's actions
        num_actions=max(ACTION_DIMS[task], ACTION_DIMS[source]) if loads_rssm else ACTION_DIMS[task],
        # released: gru_layer_norm (DMC, Pusher), plain gru (metaworld)
        layer_norm=PRETRAINED_GRU_LAYER_NORM if loads_rssm else not drawer,
    )
    world_model = WorldModelConfig(
        image_model=m["image_model"], distill=m["distill"], beta=m["beta"], stacked=m["stacked"],
        intrinsic_beta=m["intrinsic_beta"], video_actions=ACTION_DIMS[source] if m["stacked"] else 0,
        video_layer_norm=PRETRAINED_GRU_LAYER_NORM,
        encoder_widths=nets.encoder_widths, decoder_widths=nets.decoder_widths, cnn_depth=nets.cnn_depth,
        rssm=rssm, reward_layers=nets.reward_layers, units=nets.units,
        reward_scale=1.0 if drawer else 2.0,  # released metaworld config 1; dmc2gym / gymnasium 2
        eta_decay_steps=eta_decay_steps, eta_delay=eta_delay, cross_domain=task in CROSS_DOMAIN_TASKS,
    )
    behavior = BehaviorConfig(horizon=nets.horizon, actor_layers=nets.actor_layers,
                              critic_layers=nets.critic_layers, units=nets.units)
    return FinetuneConfig(
        env=env, out_dir=out_dir, world_model=world_model, behavior=behavior, teacher_path=teacher_path,
        init_from=init_from, env_steps=loop.env_steps, prefill=loop.prefill, train_every=loop.train_every,
        pretrain_updates=loop.pretrain_updates, batch_size=loop.batch_size, length=loop.length,
        eval_every=loop.eval_every, eval_episodes=loop.eval_episodes, checkpoint_every=loop.checkpoint_every,
        seed=seed, device=device, compile=device == "cuda",
        cuda_graph=device == "cuda" and not m["stacked"],  # APV's stacked update is not graphed
    )


def source_agent_config(*, scale: str, task: str, seed: int = 0, out_dir: str = "",
                        device: str = "cpu") -> FinetuneConfig:
    """The DreamerV2 agent that learns ``task`` under colour distractors; its replay is the videos (paper §4.1,
    "videos from DreamerV2's replay"). The dreamerv2 finetune run at ``scale`` with the budget counted as the
    released code logs it (action repeat x the :data:`~diswm.scales.SOURCE_AGENT` frames)."""
    agent = finetune_config(scale=scale, method=SOURCE_AGENT_METHOD, task=task, source=task, seed=seed,
                            out_dir=out_dir, device=device)
    return replace_settings(agent, source_agent_budget(agent.env.action_repeat, SOURCE_AGENT[scale].frames))


def source_agent_budget(action_repeat: int, frames: int) -> dict[str, Any]:
    """``frames`` agent steps as the loop's budget: counted in the released code's logged steps (action repeat x
    agent steps), so that it is exact whatever ``repeat_mode``."""
    return {"step_unit": "logged", "env_steps": action_repeat * frames}


def pretrain_config(*, scale: str, task: str, image_model: str = "beta_vae", seed: int = 0, data_dir: str = "",
                    out_dir: str = "", device: str = "cpu") -> PretrainConfig:
    """The action-free video model on ``task``'s videos (paper §3.2, Eq. 1-2; released ``pretrain.py``)."""
    check_scale(scale)
    nets, run = NETS[scale], PRETRAIN[scale]
    return PretrainConfig(
        data_dir=data_dir, out_dir=out_dir, num_actions=ACTION_DIMS[task], image_model=image_model,
        cnn_depth=nets.cnn_depth, encoder_widths=nets.encoder_widths, decoder_widths=nets.decoder_widths,
        rssm=RSSMConfig(stoch=nets.stoch, deter=nets.deter, hidden=nets.hidden, num_actions=ACTION_DIMS[task],
                        layer_norm=PRETRAINED_GRU_LAYER_NORM),
        batch_size=run.batch_size, length=run.length, updates=run.updates, checkpoint_every=run.checkpoint_every,
        seed=seed, device=device, compile=device == "cuda",
    )


def collect_config(*, scale: str, task: str, seed: int = 0, out_dir: str = "") -> CollectConfig:
    """Colour-distracted videos of ``task`` (random policy unless a checkpoint is passed; paper §4.1, Fig. 3)."""
    check_scale(scale)
    size = COLLECT[scale]
    return CollectConfig(env=EnvSpec(task=task, seed=seed, render_quality=size.render_quality,
                                     time_limit=size.time_limit),
                         out_dir=out_dir, num_episodes=size.num_episodes)


def evaluate_config(*, scale: str, task: str, seed: int = 0) -> FactorDatasetConfig:
    """The frames and ground-truth factors that MIG, DCI and SAP score an encoder on (added; not in the paper)."""
    check_scale(scale)
    size = EVALUATE[scale]
    return FactorDatasetConfig(task=task, num_train=size.num_train, num_test=size.num_test,
                               render_quality=size.render_quality, seed=seed)


# --- nested dicts (the Sacred configs, the run records) and back ---------------------------------------------


def as_dict(settings) -> dict[str, Any]:
    """A config dataclass as plain JSON data: nested dicts, tuples as lists."""
    return json.loads(json.dumps(asdict(settings)))


def replace_settings(settings, changes: dict[str, Any]):
    """``settings`` with ``changes`` (nested dicts for nested fields), validated as a new dataclass."""
    return dataclass_from_dict(type(settings), merge(as_dict(settings), changes))


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` applied recursively (a new dict)."""
    merged = dict(base)
    for key, value in changes.items():
        merged[key] = merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) \
            else value
    return merged


def leaf_paths(cls, prefix: tuple[str, ...] = ()) -> dict[str, list[tuple[str, ...]]]:
    """Leaf name -> every path under ``cls``'s nested dataclass fields that ends in it (``units`` ->
    ``world_model.units`` and ``behavior.units``); top-level fields are not leaves of a section."""
    hints = get_type_hints(cls)
    found: dict[str, list[tuple[str, ...]]] = {}
    for field in fields(cls):
        path = (*prefix, field.name)
        if is_dataclass(hints[field.name]):
            for name, paths in leaf_paths(hints[field.name], path).items():
                found.setdefault(name, []).extend(paths)
        elif prefix:
            found.setdefault(field.name, []).append(path)
    return found

