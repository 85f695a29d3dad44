"""Run scales: one config value that sizes every stage.

* ``smoke``: the whole pipeline in minutes on 2 CPU cores (CI). Short episodes, fast rendering.
* ``cpu``: hours on a laptop-class CPU; tiny models, meaningful learning curves.
* ``paper``: the paper's settings (GPU for training).

Only numbers differ between scales, never code paths.
"""

from __future__ import annotations

from dataclasses import dataclass

SCALE_NAMES = ("smoke", "cpu", "paper")


@dataclass(frozen=True)
class CollectScale:
    num_episodes: int  # episodes per dataset
    time_limit: int | None  # control steps per episode (None: the task's native 1000 / 100)
    render_quality: str  # "fast" drops shadows, reflections and anti-aliasing


COLLECT: dict[str, CollectScale] = {
    # 2 x 100 control steps = 2 x 51 frames: enough for smoke pretraining on short sequences.
    "smoke": CollectScale(num_episodes=2, time_limit=100, render_quality="fast"),
    # 100 full episodes = 50k frames (1e5 control steps), ~6 min per task with fast rendering.
    "cpu": CollectScale(num_episodes=100, time_limit=None, render_quality="fast"),
    # 1000 full episodes = 5e5 frames = 1e6 control steps at action repeat 2 ("1M frames" in the paper,
    # the same amount the official code stores per 1e6 logged steps).
    "paper": CollectScale(num_episodes=1000, time_limit=None, render_quality="default"),
}


def check_scale(scale: str) -> str:
    if scale not in SCALE_NAMES:
        raise ValueError(f"scale={scale!r} is not allowed; expected one of: {', '.join(SCALE_NAMES)}")
    return scale


@dataclass(frozen=True)
class NetScale:
    """Network sizes shared by pretraining and finetuning (the teacher must match the student)."""

    encoder_widths: tuple[int, ...]
    decoder_widths: tuple[int, ...]
    stoch: int
    deter: int
    hidden: int
    units: int
    reward_layers: int
    actor_layers: int
    critic_layers: int
    horizon: int
    cnn_depth: int  # DreamerV2 conv encoder/decoder (the dreamerv2 baseline)


NETS: dict[str, NetScale] = {
    "smoke": NetScale((8, 8, 16, 16, 32), (32, 16, 16, 8, 8), stoch=8, deter=32, hidden=32, units=32,
                      reward_layers=1, actor_layers=2, critic_layers=2, horizon=5, cnn_depth=8),
    # ~0.5 M world-model parameters; one update (B 16 x L 32) 0.76 s on 2 CPU cores (bench/results).
    "cpu": NetScale((16, 16, 32, 32, 128), (128, 32, 32, 16, 16), stoch=16, deter=128, hidden=128, units=200,
                    reward_layers=2, actor_layers=2, critic_layers=2, horizon=15, cnn_depth=16),
    # The official architecture (paper Table D; released ``configs.yaml`` defaults + dmc2gym, ``networks.py``,
    # ``beta_vae.py``, ``models.py``: ``WorldModel`` and ``ImagBehavior``).
    "paper": NetScale((32, 32, 64, 64, 256), (256, 64, 64, 32, 32), stoch=50, deter=200, hidden=200, units=400,
                      reward_layers=2, actor_layers=4, critic_layers=3, horizon=15, cnn_depth=32),
}


@dataclass(frozen=True)
class PretrainScale:
    batch_size: int
    length: int
    updates: int
    checkpoint_every: int
    log_every: int


PRETRAIN: dict[str, PretrainScale] = {
    "smoke": PretrainScale(batch_size=4, length=8, updates=20, checkpoint_every=10, log_every=5),
    "cpu": PretrainScale(batch_size=16, length=32, updates=2000, checkpoint_every=250, log_every=50),
    # The official run: 10 x 2000 updates of 50 x 50 sequences, checkpoints every 2000.
    "paper": PretrainScale(batch_size=50, length=50, updates=20_000, checkpoint_every=2000, log_every=100),
}


@dataclass(frozen=True)
class FinetuneScale:
    env_steps: int  # budget in control steps
    time_limit: int | None  # control steps per episode (None: native)
    render_quality: str
    prefill: int  # agent steps
    train_every: int  # agent steps
    pretrain_updates: int
    batch_size: int
    length: int
    eval_every: int  # env steps
    eval_episodes: int
    checkpoint_every: int  # env steps
    # η schedule (agent steps): the released 50k-step decay and 50k-step cross-domain delay. The cpu scale is
    # the paper's recipe over its first 100k env steps, so it keeps the paper's own values (η decays over the
    # whole cpu budget; cross-domain DisWM does not distil within it, as the paper's runs do not in their first
    # 100k env steps). Smoke tests plumbing and keeps the released fractions of its budget (10% each) so that
    # its runs distil. ``eta_steps="budget"`` (:func:`budget_scaled_eta_steps`) gives every scale the fractions.
    eta_decay_steps: int
    eta_delay: int


FINETUNE: dict[str, FinetuneScale] = {
    "smoke": FinetuneScale(env_steps=400, time_limit=40, render_quality="fast", prefill=40, train_every=5,
                           pretrain_updates=2, batch_size=4, length=8, eval_every=200, eval_episodes=1,
                           checkpoint_every=80, eta_decay_steps=20, eta_delay=20),
    # 100k env steps; train every 5 agent steps as DreamerV2 and the official code (~9.6k updates of 16 x 32:
    # 102 replayed frames per agent step; every 10 gave 51 and no learning in 30k-50k env steps), 5
    # evaluation episodes every 10k steps; η as the paper's first 100k env steps.
    "cpu": FinetuneScale(env_steps=100_000, time_limit=None, render_quality="fast", prefill=2500, train_every=5,
                         pretrain_updates=100, batch_size=16, length=32, eval_every=10_000, eval_episodes=5,
                         checkpoint_every=10_000, eta_decay_steps=50_000, eta_delay=50_000),
    # The official dmc2gym config: 1e6 env steps, prefill 2500, train every 5, B 50 x L 50, 10 eval episodes.
    "paper": FinetuneScale(env_steps=1_000_000, time_limit=None, render_quality="default", prefill=2500,
                           train_every=5, pretrain_updates=100, batch_size=50, length=50, eval_every=10_000,
                           eval_episodes=10, checkpoint_every=10_000, eta_decay_steps=50_000, eta_delay=50_000),
}


#: how a finetune run's η decay and cross-domain delay are sized: ``paper`` (the scale table's values: the released
#: 50k agent steps from cpu scale on) | ``budget`` (10% of the run's budget each, the released fractions)
ETA_STEPS = ("paper", "budget")


def budget_scaled_eta_steps(env_steps: int, action_repeat: int) -> int:
    """10% of a budget of ``env_steps`` control steps in agent steps: the released code's 50k of its 5e5 agent
    steps, as a fraction (the ``eta_steps="budget"`` setting; 20 at smoke, 5k at cpu, 50k at paper scale)."""
    return max(1, env_steps // action_repeat // 10)


@dataclass(frozen=True)
class EvaluateScale:
    num_train: int  # frames to fit and score on
    num_test: int  # held-out frames (DCI, SAP)
    render_quality: str  # must match the look of the frames the model was trained on


EVALUATE: dict[str, EvaluateScale] = {
    "smoke": EvaluateScale(num_train=200, num_test=100, render_quality="fast"),
    "cpu": EvaluateScale(num_train=2000, num_test=1000, render_quality="fast"),
    # disentanglement_lib's 10,000 / 5,000
    "paper": EvaluateScale(num_train=10_000, num_test=5_000, render_quality="default"),
}


@dataclass(frozen=True)
class SourceAgentScale:
    frames: int  # budget: agent steps the DreamerV2 source agent stores in its replay (the video dataset)


#: The source agent (``diswm_app.experiments.source_agent``), whose replay is the pretraining videos (the
#: paper's recipe).
#: Its other settings are the dreamerv2 finetune run's at the same scale (FINETUNE, NETS).
SOURCE_AGENT: dict[str, SourceAgentScale] = {
    # the smoke finetune budget: 400 control steps = 200 agent steps at action repeat 2
    "smoke": SourceAgentScale(frames=FINETUNE["smoke"].env_steps // 2),
    # 1e5 control steps, as a cpu-scale finetune run
    "cpu": SourceAgentScale(frames=50_000),
    # the paper's "1M frames" (2e6 control steps at action repeat 2). The released config stores 5e5 frames per
    # "1e6 steps" run (it logs action_repeat x agent steps), so this is twice one released run's replay.
    "paper": SourceAgentScale(frames=1_000_000),
}
