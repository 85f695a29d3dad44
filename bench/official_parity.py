"""Parity of this implementation with the released DisWM code, and the golden file that locks it.

    python -m bench.official_parity --official DIR [--out REPORT.json] [--write-golden tests/golden/official_parity.pt]

``DIR`` is a checkout of the released code (github.com/qiwang067/DisWM, checked at 001cc4d). It is imported
from there at run time only; nothing of it is copied into this repository. The harness

1. builds the released agent (``dreamer.Dreamer``, hence ``models.WorldModel`` and ``models.ImagBehavior``) in
   the DisWM configuration: configs ``defaults`` + ``dmc2gym`` of its ``configs.yaml`` with ``--beta_vae True
   --distillation True --cross_domain False``, at small sizes (:data:`RELEASED_OVERRIDES`), on CPU in float32,
   with a training folder that counts 2500 agent steps (the prefill), so that its world model's frozen step
   counter gives η = 0.095 (paper §3.4 vs the released ``models.WorldModel._train``);
2. builds ours with the settings that reproduce the released code: ``WorldModelConfig(eta_schedule="official",
   teacher="drifting")`` and ``BehaviorConfig(actor_dist="normal", lambda_order="reversed")``, and copies the
   released weights into it module by module (:func:`released_to_ours` prints the mapping);
3. records every standard-normal draw of one released training step (``Dreamer._train``: world-model update,
   then behaviour update), tagged by role (β-VAE sample of the student and of the teacher, RSSM prior and
   posterior samples, imagined actions, imagination prior samples), and replays them in our consumption order;
4. compares, per tensor, ``||ours - released|| / max(||released||, tiny)``: every world-model loss term, every
   gradient (before and after clipping), the gradient norm, every parameter after the Adam step (the drifting
   teacher included), the posterior states, the imagined features, actions and λ-return targets, the actor and
   value losses, their gradients and the actor/critic weights after their steps.

The behaviour update is compared twice. ``lambda_order="reversed"`` must equal the released code as written.
``lambda_order="forward"`` (DreamerV2's order, our default) must equal the released code with its
``tools.static_scan_for_lambda_return`` patched to flip its output, and differs from the unpatched release by
the amount this harness reports (the released code pairs imagined step t with the λ-return of step H - 2 - t).

Random draws are swapped by monkeypatching inside this harness only (``torch.Tensor.normal_``, which the
released β-VAE ``reparametrize`` and ``torch.distributions.Normal.rsample`` use, and ``torch.randn_like``,
which our β-VAE encoder and RSSM use); the library itself has no seam for it.

With ``--write-golden`` the inputs, the released weights (under our state-dict names), the noise tape in our
order per role and the released results are saved; ``tests/test_official_parity.py`` replays them without the
released code. The released initial weights are rounded to float16-representable values (on the released side,
before anything runs), so the golden file can hold them exactly in half the space; tensors with more than
:data:`SUBSET` entries keep their expected gradients and updated values at :data:`SUBSET` fixed random entries.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import json
import re
import sys
import tempfile
import types
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from diswm.agents import behavior as behavior_module
from diswm.agents.behavior import ActorCritic, BehaviorConfig
from diswm.agents.world_model import WorldModel, WorldModelConfig
from diswm.models import RSSMConfig
from diswm.training.learners import BehaviorLearner, WorldModelLearner

TOL = 1e-5  # relative error per tensor
# The applied Adam steps (parameter after - before) are differences of float32 parameters ~100x larger than the
# step: their rounding alone is a few 1e-6 of the step, so they are held to a looser bound.
STEP_TOL = 1e-4
TINY = 1e-30
STEP = 2500  # agent steps counted at the world model's construction (the prefill): η = 0.1 x (1 - 2500/50000)
NUM_ACTIONS = 2
SUBSET = 4096  # entries kept per large tensor in the golden file
GOLDEN_FORMAT = 1

#: The released code's command-line flags for this check (parsed as its ``dreamer.py`` parses them).
RELEASED_OVERRIDES = {
    "beta_vae": "True", "distillation": "True", "cross_domain": "False", "device": "cpu", "precision": "32",
    "dyn_deter": "32", "dyn_hidden": "32", "dyn_stoch": "32", "units": "32", "imag_horizon": "5",
    "batch_size": "4", "batch_length": "8",
}
#: The released config entries that our configuration is built from (saved in the golden file).
CONFIG_KEYS = (
    "z_dim", "beta_vae_beta", "dyn_stoch", "dyn_deter", "dyn_hidden", "dyn_cell", "dyn_min_std", "dyn_std_act",
    "dyn_mean_act", "dyn_temp_post", "dyn_discrete", "dyn_input_layers", "dyn_output_layers", "dyn_rec_depth",
    "dyn_shared", "units", "reward_layers", "value_layers", "actor_layers", "reward_scale", "kl_balance", "kl_free",
    "kl_scale", "kl_forward", "model_lr", "actor_lr", "value_lr", "opt_eps", "grad_clip", "actor_grad_clip",
    "value_grad_clip", "weight_decay", "opt", "discount", "discount_lambda", "imag_horizon", "imag_gradient",
    "imag_sample", "actor_dist", "actor_entropy", "actor_state_entropy", "actor_min_std", "future_entropy",
    "slow_value_target", "slow_actor_target", "slow_target_update", "slow_target_fraction", "behavior_stop_grad",
    "pred_discount", "value_decay", "clip_rewards", "cross_domain", "batch_size", "batch_length", "num_actions",
)
WM_SCALARS = ("image_nll", "beta_vae_kl", "image_loss", "reward_loss", "kl_loss", "kl", "distillation_kl", "eta",
              "model_loss", "model_grad_norm")
BEHAVIOR_SCALARS = ("actor_loss", "value_loss", "actor_grad_norm", "value_grad_norm", "actor_entropy",
                    "imag_reward_mean")
ORDERS = ("reversed", "forward")


# ---------------------------------------------------------------------------------------------------------------
# Names: released parameter -> ours
# ---------------------------------------------------------------------------------------------------------------

_WORLD_MODEL_RULES = [
    (r"^encoder\.encoder\.(\d+)\.", r"encoder.convs.\1."),
    (r"^encoder\.dis_encoder\.0\.", "encoder.head."),
    (r"^encoder_distillation\.encoder\.(\d+)\.", r"teacher.convs.\1."),
    (r"^encoder_distillation\.dis_encoder\.0\.", "teacher.head."),
    (r"^dynamics\._inp_layers\.0\.", "rssm.img_in."),
    (r"^dynamics\._cell\._layer\.", "rssm.cell.linear."),
    (r"^dynamics\._cell\._norm\.", "rssm.cell.norm."),
    (r"^dynamics\._img_out_layers\.0\.", "rssm.img_out."),
    (r"^dynamics\._ims_stat_layer\.", "rssm.prior_stats."),
    (r"^dynamics\._obs_out_layers\.0\.", "rssm.obs_out."),
    (r"^dynamics\._obs_stat_layer\.", "rssm.post_stats."),
    (r"^heads\.image\.feat_to_decoder\.0\.", "decoder.to_latent.0."),
    (r"^heads\.image\.decoder\.0\.", "decoder.from_latent."),
    # released: Linear, View, then (ELU, ConvTranspose2d) x 5 at 2..11; ours: (ELU, ConvTranspose2d) x 5 at 0..9
    (r"^heads\.image\.decoder\.(\d+)\.", lambda m: f"decoder.deconvs.{int(m.group(1)) - 2}."),
    (r"^heads\.reward\._mean_layers\.(\d+)\.", r"reward.net.\1."),
]


def _behavior_rules(actor_layers: int):
    return [
        (r"^actor\._pre_layers\.(\d+)\.", r"actor.net.\1."),
        (r"^actor\._dist_layer\.", f"actor.net.{2 * actor_layers}."),
        (r"^value\._mean_layers\.(\d+)\.", r"critic.net.\1."),
    ]


def released_to_ours(name: str, rules) -> str:
    for pattern, replacement in rules:
        if re.match(pattern, name):
            return re.sub(pattern, replacement, name, count=1)
    raise KeyError(f"no rule maps the released parameter {name!r}")


# ---------------------------------------------------------------------------------------------------------------
# Random draws by role, gradients at the clip: shared by both sides
# ---------------------------------------------------------------------------------------------------------------

class Roles:
    """The role of the random draw being made: set by wrapped methods, else a per-phase default."""

    DEFAULTS = {"behavior": "actor"}  # outside the dynamics, the behaviour update draws only imagined actions

    def __init__(self):
        self.phase: str | None = None
        self.stack: list[str] = []

    @property
    def current(self) -> str:
        return self.stack[-1] if self.stack else self.DEFAULTS.get(self.phase, "unattributed")

    @contextlib.contextmanager
    def in_phase(self, phase: str):
        previous, self.phase = self.phase, phase
        try:
            yield
        finally:
            self.phase = previous

    def wrap(self, obj, name: str, role) -> None:
        """Shadow ``obj.name`` by an instance attribute that tags the draws made inside it with ``role`` (a name,
        or a dict phase -> name)."""
        function = getattr(obj, name)

        def wrapped(*args, **kwargs):
            self.stack.append(role[self.phase] if isinstance(role, dict) else role)
            try:
                return function(*args, **kwargs)
            finally:
                self.stack.pop()

        setattr(obj, name, wrapped)


class Noise:
    """Standard-normal draws: ``record`` them with their role (released side), or hand back recorded ones,
    either in recorded order (``ordered``, a list of ``(role, tensor)``) or per role in consumption order
    (``by_role``, a dict role -> tensor [draws, ...])."""

    def __init__(self, roles: Roles, *, ordered: list | None = None, by_role: dict | None = None):
        self.roles = roles
        self.log: list[tuple[str, torch.Tensor]] = []
        self.ordered = None if ordered is None else list(ordered)
        self.queues = None if by_role is None else {k: list(v.unbind(0)) for k, v in by_role.items()}

    def draw(self, out: torch.Tensor, original_normal_) -> torch.Tensor:
        role = self.roles.current
        if role == "unattributed":
            raise RuntimeError(f"a random draw of shape {tuple(out.shape)} outside every tagged module")
        if self.ordered is None and self.queues is None:
            original_normal_(out)
        else:
            if self.ordered is not None:
                if not self.ordered:
                    raise RuntimeError(f"the tape is exhausted at a {role} draw")
                expected_role, value = self.ordered.pop(0)
                if expected_role != role:
                    raise RuntimeError(f"draw order differs: tape has {expected_role}, the code draws {role}")
            else:
                if not self.queues.get(role):
                    raise RuntimeError(f"the tape has no {role} draw left")
                value = self.queues[role].pop(0)
            if tuple(value.shape) != tuple(out.shape):
                raise RuntimeError(f"{role} draw of shape {tuple(out.shape)}, tape has {tuple(value.shape)}")
            with torch.no_grad():
                out.copy_(value)
        self.log.append((role, out.detach().clone()))
        return out

    def check_consumed(self) -> None:
        left = len(self.ordered or []) + sum(len(v) for v in (self.queues or {}).values())
        if left:
            raise RuntimeError(f"{left} taped draws were not used")


@contextlib.contextmanager
def patched_noise(noise: Noise):
    """Route ``Tensor.normal_()`` and ``torch.randn_like`` through ``noise`` (they are restored on exit)."""
    had_own = "normal_" in torch.Tensor.__dict__
    original_normal_, original_randn_like = torch.Tensor.normal_, torch.randn_like

    def normal_(self, mean=0.0, std=1.0, *, generator=None):
        if mean != 0 or std != 1 or generator is not None:
            raise RuntimeError("only standard-normal draws are taped")
        return noise.draw(self, original_normal_)

    def randn_like(input, **kwargs):
        dtype = kwargs.get("dtype") or input.dtype
        return noise.draw(torch.empty(input.shape, dtype=dtype, device=input.device), original_normal_)

    torch.Tensor.normal_, torch.randn_like = normal_, randn_like
    try:
        yield noise
    finally:
        torch.randn_like = original_randn_like
        if had_own:
            torch.Tensor.normal_ = original_normal_
        else:
            del torch.Tensor.normal_


@contextlib.contextmanager
def captured_clips(events: list):
    """Record the gradients before and after every ``clip_grad_norm_``, and the norm it returns."""
    original = torch.nn.utils.clip_grad_norm_

    def clip(parameters, max_norm, *args, **kwargs):
        params = [parameters] if torch.is_tensor(parameters) else list(parameters)
        before = {id(p): p.grad.detach().clone() for p in params if p.grad is not None}
        norm = original(params, max_norm, *args, **kwargs)
        after = {id(p): p.grad.detach().clone() for p in params if p.grad is not None}
        events.append({"params": params, "before": before, "after": after, "norm": norm.detach().clone()})
        return norm

    torch.nn.utils.clip_grad_norm_ = clip
    try:
        yield events
    finally:
        torch.nn.utils.clip_grad_norm_ = original


@contextlib.contextmanager
def patched_attribute(obj, name: str, value):
    original = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, original)


def _grads(event: dict, names: dict[int, str]) -> tuple[dict, dict]:
    before = {names[i]: g for i, g in event["before"].items() if i in names}
    after = {names[i]: g for i, g in event["after"].items() if i in names}
    return before, after


def _float(x) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x).detach().double().cpu()


# ---------------------------------------------------------------------------------------------------------------
# Ours
# ---------------------------------------------------------------------------------------------------------------

def our_configs(config: dict, *, teacher: str = "drifting", eta_schedule: str = "official",
                lambda_order: str = "reversed") -> tuple[WorldModelConfig, BehaviorConfig]:
    """Our configuration for the released ``config`` (the :data:`CONFIG_KEYS` entries). Settings that ours
    cannot express are refused rather than approximated."""
    c = config
    unsupported = {
        "dyn_discrete": 0, "dyn_input_layers": 1, "dyn_output_layers": 1, "dyn_rec_depth": 1, "dyn_shared": False,
        "dyn_temp_post": True, "dyn_std_act": "sigmoid2", "dyn_mean_act": "none", "kl_forward": False,
        "weight_decay": 0.0, "opt": "adam", "imag_gradient": "dynamics", "imag_sample": True,
        "future_entropy": False, "actor_state_entropy": 0.0, "slow_value_target": True, "slow_actor_target": True,
        "slow_target_fraction": 1, "behavior_stop_grad": True, "pred_discount": False, "value_decay": 0.0,
        "clip_rewards": "identity", "actor_dist": "trunc_normal", "actor_min_std": 0.1,  # our Actor's min_std
    }
    for key, value in unsupported.items():
        if c[key] != value:
            raise ValueError(f"released {key}={c[key]!r}: only {value!r} is reproduced here")
    if not c["actor_grad_clip"] == c["value_grad_clip"] == c["grad_clip"]:
        raise ValueError("one gradient clip for model, actor and value is assumed")
    rssm = RSSMConfig(stoch=c["dyn_stoch"], deter=c["dyn_deter"], hidden=c["dyn_hidden"], embed=c["z_dim"],
                      num_actions=c["num_actions"], layer_norm=c["dyn_cell"] == "gru_layer_norm",
                      min_std=c["dyn_min_std"])
    world_model = WorldModelConfig(
        image_model="beta_vae", z_dim=c["z_dim"], beta=c["beta_vae_beta"], rssm=rssm,
        reward_layers=c["reward_layers"], units=c["units"], reward_scale=float(c["reward_scale"]),
        kl_balance=float(c["kl_balance"]), kl_free=float(c["kl_free"]), kl_scale=float(c["kl_scale"]),
        lr=c["model_lr"], eps=c["opt_eps"], grad_clip=float(c["grad_clip"]), distill=True,
        eta_schedule=eta_schedule, eta_max=0.1, teacher=teacher, cross_domain=c["cross_domain"])
    behavior = BehaviorConfig(
        horizon=c["imag_horizon"], discount=c["discount"], lambda_=c["discount_lambda"],
        actor_layers=c["actor_layers"], critic_layers=c["value_layers"], units=c["units"], actor_lr=c["actor_lr"],
        critic_lr=c["value_lr"], eps=c["opt_eps"], grad_clip=float(c["actor_grad_clip"]),
        entropy=float(c["actor_entropy"]), slow_update=c["slow_target_update"],
        actor_dist="normal",  # dreamer-torch's "trunc_normal" samples the untruncated Normal (see diswm Actor)
        lambda_order=lambda_order)
    return world_model, behavior


def _load(module: torch.nn.Module, weights: dict[str, torch.Tensor], prefix: str = "") -> None:
    named = dict(module.named_parameters())
    missing = sorted(set(named) - {k[len(prefix):] for k in weights if k.startswith(prefix)})
    if missing:
        raise KeyError(f"no weights for {missing}")
    with torch.no_grad():
        for name, p in named.items():
            value = weights[prefix + name]
            if value.shape != p.shape:
                raise ValueError(f"{prefix + name}: weights {tuple(value.shape)}, ours {tuple(p.shape)}")
            p.copy_(value.float())


def our_batch(batch: dict) -> dict[str, torch.Tensor]:
    return {k: torch.as_tensor(np.asarray(v)) for k, v in batch.items()}


def run_ours(config: dict, batch: dict, weights: dict, tape: dict, *, teacher: str = "drifting",
             eta_schedule: str = "official", orders=ORDERS, step: int = STEP, initial_step: int = STEP) -> dict:
    """One world-model update and, from its posterior, one behaviour update per λ order, with the taped draws.

    ``weights``: ``{"world_model": {...}, "behavior": {...}}`` under our names; ``tape``: ``{"world_model":
    {role: [draws, ...]}, "behavior": {...}}``. Returns every compared quantity under our names.
    """
    torch.manual_seed(0)  # our own initialisation is overwritten; this only makes the run independent of it
    wm_config, _ = our_configs(config, teacher=teacher, eta_schedule=eta_schedule)
    model = WorldModel(wm_config)
    _load(model, weights["world_model"])
    roles = Roles()
    roles.wrap(model.encoder, "forward", "student")
    roles.wrap(model.teacher, "forward", "teacher")
    roles.wrap(model.rssm, "img_step", {"world_model": "prior", "behavior": "imag"})
    roles.wrap(model.rssm, "_posterior", "post")
    names = {id(p): n for n, p in model.named_parameters()}
    learner = WorldModelLearner(model)
    events: list = []
    noise = Noise(roles, by_role=tape["world_model"])
    with roles.in_phase("world_model"), patched_noise(noise), captured_clips(events):
        eta = torch.tensor(model.distill_weight(step, initial_step))  # the loop's η, as a tensor
        metrics, post = learner.update_tensors(our_batch(batch), eta)
    noise.check_consumed()
    (event,) = events
    grads, clipped = _grads(event, names)
    scalars = {k: metrics[k] for k in WM_SCALARS if k != "model_grad_norm"}
    scalars["model_grad_norm"] = event["norm"]
    out = {"world_model": {
        "scalars": {k: _float(v) for k, v in scalars.items()},
        "grads": grads, "clipped_grads": clipped,
        "params_after": {n: p.detach().clone() for n, p in model.named_parameters()},
        "post": {k: v.clone() for k, v in post.items()},
    }, "behavior": {}}

    for order in orders:
        _, behavior_config = our_configs(config, lambda_order=order)
        agent = ActorCritic(behavior_config, model.rssm.feat_size, config["num_actions"])
        _load(agent.actor, weights["behavior"], "actor.")
        _load(agent.critic, weights["behavior"], "critic.")
        agent.refresh_slow_critic()  # as ActorCritic.update (and the released first update): slow <- critic
        names = {id(p): n for n, p in agent.named_parameters()}
        captured: dict = {}
        imagine = agent.imagine

        def capture_imagine(*args, _imagine=imagine, _captured=captured, **kwargs):
            _captured["feats"], _captured["actions"], _ = result = _imagine(*args, **kwargs)
            return result

        agent.imagine = capture_imagine

        def capture_return(*args, _lambda_return=behavior_module.lambda_return, _captured=captured, **kwargs):
            _captured["target"] = _lambda_return(*args, **kwargs)
            return _captured["target"]

        events = []
        noise = Noise(roles, by_role=tape["behavior"])
        with roles.in_phase("behavior"), patched_noise(noise), captured_clips(events), \
                patched_attribute(behavior_module, "lambda_return", capture_return):
            metrics = BehaviorLearner(agent).update_tensors(model.rssm, model.reward, post)
        noise.check_consumed()
        actor_event, critic_event = events
        grads, clipped = _grads(actor_event, names)
        critic_grads, critic_clipped = _grads(critic_event, names)
        out["behavior"][order] = {
            "scalars": {k: _float(metrics[k]) for k in BEHAVIOR_SCALARS},
            "imagination": {k: captured[k].detach().clone() for k in ("feats", "actions", "target")},
            "grads": grads | critic_grads, "clipped_grads": clipped | critic_clipped,
            "params_after": {n: p.detach().clone() for n, p in agent.named_parameters()},
        }
    return out


# ---------------------------------------------------------------------------------------------------------------
# The released code
# ---------------------------------------------------------------------------------------------------------------

def _stub(name: str, **attributes) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    module.__dict__["__stub__"] = True
    sys.modules[name] = module
    return module


def import_released(folder: Path) -> dict[str, types.ModuleType]:
    """Import ``dreamer``, ``models``, ``networks``, ``tools`` and ``beta_vae`` from ``folder``.

    Stubbed (not installed here, and not used by a training step): ``wandb`` (logging), ``ruamel.yaml`` (config
    parsing in ``dreamer.main``), ``torch.utils.tensorboard`` (``tools.Logger``), and the released ``wrappers``
    module (the environments; it imports gym, panda_gym, dmc2gym and numpy.distutils).
    """
    import importlib

    folder = Path(folder).resolve()
    for name in ("dreamer", "models", "networks", "tools", "beta_vae", "exploration"):
        module = sys.modules.get(name)
        if module is not None and Path(getattr(module, "__file__", "") or "").resolve().parent != folder:
            raise RuntimeError(f"a module named {name!r} from elsewhere is already imported ({module.__file__})")
    for name in ("wandb", "ruamel.yaml", "torch.utils.tensorboard"):
        try:
            importlib.import_module(name)
        except ImportError:
            if name == "ruamel.yaml":
                _stub("ruamel", yaml=_stub("ruamel.yaml"))
            elif name == "torch.utils.tensorboard":
                _stub(name, SummaryWriter=type("SummaryWriter", (), {}))
            else:
                _stub(name)
    if "wrappers" not in sys.modules:
        _stub("wrappers")
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        modules = {name: importlib.import_module(name) for name in ("dreamer", "models", "networks", "tools",
                                                                      "beta_vae")}
    return modules


def _yaml_1_2_loader():
    """PyYAML's SafeLoader with YAML 1.2 floats (``3e-4``), as the ruamel loader that ``dreamer.py`` uses."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = copy.deepcopy(yaml.SafeLoader.yaml_implicit_resolvers)
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)$|^[-+]?(?:[0-9][0-9_]*)\.[0-9_]*$"),
        list("-+0123456789."))
    return Loader


def released_config(modules: dict, folder: Path, traindir: Path, overrides: dict = RELEASED_OVERRIDES):
    """The config namespace of ``dreamer.py --configs defaults dmc2gym --<key> <value> ...``, then the parts of
    ``dreamer.main`` that a training step reads (step-count division, activation class, action count)."""
    import yaml

    tools = modules["tools"]
    configs = yaml.load((Path(folder) / "configs.yaml").read_text(), Loader=_yaml_1_2_loader())
    defaults: dict = {}
    for name in ("defaults", "dmc2gym"):
        defaults.update(configs[name])
    values = {key: tools.args_type(value)(value) for key, value in defaults.items()}
    for key, value in overrides.items():
        values[key] = tools.args_type(defaults[key])(value)
    config = types.SimpleNamespace(**values)
    config.traindir = traindir
    config.evaldir = traindir
    for key in ("steps", "eval_every", "log_every", "time_limit"):
        setattr(config, key, getattr(config, key) // config.action_repeat)
    config.act = getattr(torch.nn, config.act)
    config.num_actions = NUM_ACTIONS
    return config


def make_batch(config, seed: int = 0) -> dict[str, np.ndarray]:
    """A replay batch as ``tools.sample_episodes`` gives it: uint8 images, float32 actions and rewards."""
    rng = np.random.default_rng(seed)
    b, t = config["batch_size"], config["batch_length"]
    return {
        "image": rng.integers(0, 256, (b, t, 64, 64, 3), dtype=np.uint8),
        "action": rng.uniform(-1, 1, (b, t, config["num_actions"])).astype(np.float32),
        "reward": rng.normal(0, 1, (b, t)).astype(np.float32),
    }


def _plain(value):
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def run_released(folder: Path, *, seed: int = 0, batch: dict | None = None, flip: bool = False,
                 replay: list | None = None) -> dict:
    """One released training step (``Dreamer._train``: ``WorldModel._train`` then ``ImagBehavior._train``).

    ``flip``: patch ``tools.static_scan_for_lambda_return`` to flip its output in time. ``replay``: the draws of
    an earlier run (``result["tape"]``) instead of fresh ones. Returns the compared quantities under our names,
    the initial weights under our names, the mapping, the config and the tape.
    """
    modules = import_released(folder)
    dreamer, tools = modules["dreamer"], modules["tools"]
    with tempfile.TemporaryDirectory() as tmp:
        traindir = Path(tmp)
        # ``dreamer.count_steps`` reads the episode lengths from the file names: one file of length STEP + 1
        # makes the agent (and its world model's frozen step) start at STEP agent steps, as after the prefill.
        (traindir / f"episode-{STEP + 1}.npz").touch()
        config = released_config(modules, folder, traindir)
        torch.manual_seed(seed)
        agent = dreamer.Dreamer(config, None, None)
    wm, behavior = agent._wm, agent._task_behavior
    if wm._step != STEP:
        raise RuntimeError(f"the released world model starts at step {wm._step}, expected {STEP}")
    with torch.no_grad():  # float16-representable initial weights (the golden file stores them exactly)
        for p in agent.parameters():
            p.copy_(p.half().float())
    # (Dreamer.__init__ turned the scheduled entries into functions of its step; read them at that step)
    summary = {k: _plain(getattr(config, k)() if callable(getattr(config, k)) else getattr(config, k))
               for k in CONFIG_KEYS}

    wm_rules = _WORLD_MODEL_RULES
    behavior_rules = _behavior_rules(config.actor_layers)
    wm_names = {id(p): released_to_ours(n, wm_rules) for n, p in wm.named_parameters()}
    behavior_params = [("actor." + n, p) for n, p in behavior.actor.named_parameters()]
    behavior_params += [("value." + n, p) for n, p in behavior.value.named_parameters()]
    behavior_names = {id(p): released_to_ours(n, behavior_rules) for n, p in behavior_params}
    mapping = [(n, released_to_ours(n, wm_rules), tuple(p.shape)) for n, p in wm.named_parameters()]
    mapping += [(n, released_to_ours(n, behavior_rules), tuple(p.shape)) for n, p in behavior_params]
    weights = {
        "world_model": {released_to_ours(n, wm_rules): p.detach().clone() for n, p in wm.named_parameters()},
        "behavior": {released_to_ours(n, behavior_rules): p.detach().clone() for n, p in behavior_params},
    }

    roles = Roles()
    roles.wrap(wm.encoder, "forward", "student")
    roles.wrap(wm.encoder_distillation, "forward", "teacher")
    roles.wrap(wm.dynamics, "obs_step", "post")  # its prior comes from the nested img_step
    roles.wrap(wm.dynamics, "img_step", {"world_model": "prior", "behavior": "imag"})
    captured: dict = {}

    def capture(obj, name, key, phase=None):
        function = getattr(obj, name)

        def wrapped(*args, **kwargs):
            with roles.in_phase(phase) if phase else contextlib.nullcontext():
                captured[key] = function(*args, **kwargs)
            return captured[key]

        setattr(obj, name, wrapped)

    capture(wm, "_train", "world_model", phase="world_model")
    capture(behavior, "_train", "behavior", phase="behavior")
    capture(wm.dynamics, "kl_loss", "kl_loss")
    decoder_forward = wm.heads["image"].forward

    def decoder(*args, **kwargs):  # keep the image likelihood the released loss averages
        dist = decoder_forward(*args, **kwargs)
        log_prob = dist.log_prob

        def like(x):
            captured["image_like"] = log_prob(x)
            return captured["image_like"]

        dist.log_prob = like
        return dist

    wm.heads["image"].forward = decoder
    lambda_return, scan = tools.lambda_return, tools.static_scan_for_lambda_return

    def capture_return(*args, **kwargs):
        captured["target"] = lambda_return(*args, **kwargs)
        return captured["target"]

    def flipped_scan(*args, **kwargs):  # the later dreamer-torch forks' fix: returns in forward time order
        return tuple(torch.flip(x, [0]) for x in scan(*args, **kwargs))

    noise = Noise(roles, ordered=replay)
    events: list = []
    batch = make_batch(summary, seed) if batch is None else batch
    with patched_noise(noise), captured_clips(events), patched_attribute(tools, "lambda_return", capture_return), \
            patched_attribute(tools, "static_scan_for_lambda_return", flipped_scan if flip else scan), \
            contextlib.ExitStack() as stack:
        import warnings

        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        agent._train({k: v.copy() for k, v in batch.items()})
    noise.check_consumed()
    if wm._step != STEP:
        raise RuntimeError("the released world model's step counter moved")

    model_event, actor_event, value_event = events
    post, _, wm_metrics = captured["world_model"]
    imag_feat, _, imag_action, _, behavior_metrics = captured["behavior"]
    kl_loss, _ = captured["kl_loss"]
    grads, clipped = _grads(model_event, wm_names)
    eta = max(1 - wm._step / 50000, 0.1) * 0.1  # the released (non-cross-domain) expression at its step counter
    world_model = {
        "scalars": {
            "image_nll": _float(-torch.mean(captured["image_like"])),
            "beta_vae_kl": _float(wm_metrics["beta_vae_kl_loss"]),
            "image_loss": _float(wm_metrics["image_loss"]),
            "reward_loss": _float(wm_metrics["reward_loss"]),
            "kl_loss": _float(kl_loss),
            "kl": _float(wm_metrics["kl"]),
            "distillation_kl": _float(wm_metrics["distillation_kl_loss"]),
            "eta": _float(eta),
            "model_loss": _float(wm_metrics["model_loss"]),
            "model_grad_norm": _float(model_event["norm"]),
        },
        "grads": grads, "clipped_grads": clipped,
        "params_after": {wm_names[id(p)]: p.detach().clone() for p in wm.parameters()},
        "post": {k: v.detach().clone() for k, v in post.items()},
    }
    actor_grads, actor_clipped = _grads(actor_event, behavior_names)
    value_grads, value_clipped = _grads(value_event, behavior_names)
    behavior_result = {
        "scalars": {
            "actor_loss": _float(behavior_metrics["actor_loss"]),
            "value_loss": _float(behavior_metrics["value_loss"]),
            "actor_grad_norm": _float(actor_event["norm"]),
            "value_grad_norm": _float(value_event["norm"]),
            "actor_entropy": _float(behavior_metrics["actor_ent"]),
            "imag_reward_mean": _float(behavior_metrics["reward_mean"]),
        },
        "imagination": {
            "feats": imag_feat.detach().clone(),
            "actions": imag_action.detach().clone(),
            "target": torch.stack(captured["target"], dim=1).squeeze(-1).detach().clone(),  # as ImagBehavior
        },
        "grads": actor_grads | value_grads, "clipped_grads": actor_clipped | value_clipped,
        "params_after": {behavior_names[id(p)]: p.detach().clone() for _, p in behavior_params},
    }
    return {"world_model": world_model, "behavior": behavior_result, "weights": weights, "mapping": mapping,
            "config": summary, "batch": batch, "tape": noise.log}


def tape_by_role(tape: list, phases: dict[str, tuple[str, ...]]) -> dict:
    """The recorded draws per phase and role, stacked in draw order (= our consumption order within a role)."""
    grouped: dict = defaultdict(list)
    for role, value in tape:
        grouped[role].append(value)
    return {phase: {role: torch.stack(grouped[role]) for role in roles if grouped[role]}
            for phase, roles in phases.items()}


TAPE_PHASES = {"world_model": ("student", "teacher", "prior", "post"), "behavior": ("actor", "imag")}


# ---------------------------------------------------------------------------------------------------------------
# Comparison, golden file
# ---------------------------------------------------------------------------------------------------------------

def relative_error(ours, reference) -> float:
    """``||ours - reference|| / max(||reference||, tiny)``; ``reference`` may be a golden subset entry."""
    ours = _float(ours)
    if isinstance(reference, dict):  # {"index": entries kept, "values": their values, "shape": full shape}
        if tuple(ours.shape) != tuple(reference["shape"]):
            raise ValueError(f"shape {tuple(ours.shape)} vs {tuple(reference['shape'])}")
        ours, reference = ours.reshape(-1)[reference["index"].long()], reference["values"]
    reference = _float(reference)
    if ours.shape != reference.shape:
        raise ValueError(f"shape {tuple(ours.shape)} vs {tuple(reference.shape)}")
    return float((ours - reference).norm() / max(float(reference.norm()), TINY))


def _delta(after, before):
    if isinstance(after, dict):
        index = after["index"].long()
        return {**after, "values": _float(after["values"]) - _float(before).reshape(-1)[index]}
    return _float(after) - _float(before)


def compare(ours: dict, reference: dict, prefix: str, weights: dict | None = None) -> list[dict]:
    """One row per tensor: group, name, relative error. ``weights`` (the initial ones): also the Adam steps."""
    rows = []
    for group, values in reference.items():
        for name, value in values.items():
            rows.append({"group": f"{prefix}.{group}", "name": name, "error": relative_error(ours[group][name], value)})
    if weights is not None:
        for name, value in reference["params_after"].items():
            delta = _delta(value, weights[name])
            rows.append({"group": f"{prefix}.param_steps", "name": name,
                         "error": relative_error(_float(ours["params_after"][name]) - _float(weights[name]), delta)})
    return rows


def summarize(rows: list[dict], tol: float = TOL) -> list[dict]:
    groups: dict = {}
    for row in rows:
        g = groups.setdefault(row["group"], {"group": row["group"], "count": 0, "max_error": 0.0, "worst": None})
        g["count"] += 1
        if row["error"] >= g["max_error"]:
            g["max_error"], g["worst"] = row["error"], row["name"]
    for g in groups.values():
        g["tolerance"] = STEP_TOL if g["group"].endswith("param_steps") else tol
        g["pass"] = g["group"].startswith("known_difference") or g["max_error"] <= g["tolerance"]
    return list(groups.values())


def print_table(summary: list[dict]) -> None:
    print(f"\n{'group':52s} {'n':>4s} {'max rel err':>12s}  {'pass':4s}  worst")
    for g in summary:
        status = "info" if g["group"].startswith("known_difference") else ("ok" if g["pass"] else "FAIL")
        print(f"{g['group']:52s} {g['count']:4d} {g['max_error']:12.3e}  {status:4s}  {g['worst']}")


def _subset_index(name: str, numel: int) -> torch.Tensor:
    seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(numel, generator=generator)[:SUBSET].sort().values.to(torch.int32)


def _compact(values: dict, subsets: dict) -> dict:
    out = {}
    for name, value in values.items():
        value = _float(value).float()
        if value.numel() > SUBSET:
            index = subsets.setdefault(name, _subset_index(name, value.numel()))
            out[name] = {"index": index, "values": value.reshape(-1)[index.long()].clone(), "shape": list(value.shape)}
        else:
            out[name] = value.clone()
    return out


def _expected(result: dict, subsets: dict) -> dict:
    # The clipped gradients are the gradients times one clip factor, which the norm and the updated parameters
    # pin down: the golden file leaves them out (the harness compares them in full).
    return {group: _compact(values, subsets) for group, values in result.items() if group != "clipped_grads"}


def golden_from(released: dict, flipped: dict) -> dict:
    """The golden file's content: numbers only (plain dicts, tensors, lists)."""
    subsets: dict = {}
    return {
        "format": GOLDEN_FORMAT,
        "about": "bench/official_parity.py: the released DisWM code (qiwang067/DisWM) run on this batch, weights "
                 "and draws; values under diswm's state-dict names",
        "step": STEP,
        "tolerance": TOL,
        "config": released["config"],
        "batch": {k: torch.as_tensor(v) for k, v in released["batch"].items()},
        "weights": {part: {n: w.to(torch.float16).contiguous() for n, w in ws.items()}
                    for part, ws in released["weights"].items()},
        "tape": tape_by_role(released["tape"], TAPE_PHASES),
        "expected": {
            "world_model": _expected(released["world_model"], subsets),
            "behavior": {"reversed": _expected(released["behavior"], subsets),
                         "forward": _expected(flipped["behavior"], subsets)},
        },
    }


def load_golden(path: Path | str) -> dict:
    golden = torch.load(path, map_location="cpu", weights_only=True)
    if golden.get("format") != GOLDEN_FORMAT:
        raise ValueError(f"{path}: golden format {golden.get('format')}, this code reads {GOLDEN_FORMAT}")
    return golden


def golden_inputs(golden: dict) -> tuple[dict, dict, dict, dict]:
    weights = {part: {n: w.float() for n, w in ws.items()} for part, ws in golden["weights"].items()}
    batch = {k: v.numpy() for k, v in golden["batch"].items()}
    return golden["config"], batch, weights, golden["tape"]


def check_golden(golden: dict, ours: dict) -> list[dict]:
    """Rows comparing ``run_ours`` (both λ orders) with the golden expectations."""
    weights = {**golden["weights"]["world_model"], **golden["weights"]["behavior"]}
    expected = golden["expected"]
    rows = compare(ours["world_model"], expected["world_model"], "world_model", weights)
    for order in ORDERS:
        if order in ours["behavior"]:
            label = "behavior.reversed" if order == "reversed" else "behavior.forward_vs_flipped_release"
            rows += compare(ours["behavior"][order], expected["behavior"][order], label, weights)
    return rows


# ---------------------------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------------------------

def _fingerprint(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest()[:16]
            for name in ("dreamer.py", "models.py", "networks.py", "tools.py", "beta_vae.py", "configs.yaml")}


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(_float(a[g][n]), _float(b[g][n])) for g in a for n in a[g])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--official", type=Path, required=True, help="checkout of the released DisWM code")
    parser.add_argument("--out", type=Path, help="JSON report")
    parser.add_argument("--write-golden", type=Path, help="golden file for tests/test_official_parity.py")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(min(torch.get_num_threads(), 2))

    released = run_released(args.official, seed=args.seed)
    flipped = run_released(args.official, seed=args.seed, batch=released["batch"], flip=True, replay=released["tape"])
    if not _same(released["world_model"], flipped["world_model"]):
        raise RuntimeError("replaying the released draws did not reproduce the released world-model update")

    print("Parameter mapping (released -> ours, shape):")
    for theirs, name, shape in released["mapping"]:
        print(f"  {theirs:45s} -> {name:32s} {list(shape)}")
    tape = tape_by_role(released["tape"], TAPE_PHASES)
    print("Noise tape (role: draws x shape):")
    for phase, roles in tape.items():
        for role, draws in roles.items():
            print(f"  {phase}.{role}: {draws.shape[0]} x {list(draws.shape[1:])}")

    config, batch, weights = released["config"], released["batch"], released["weights"]
    ours = run_ours(config, batch, weights, tape)
    flat_weights = {**weights["world_model"], **weights["behavior"]}
    rows = compare(ours["world_model"], {k: released["world_model"][k] for k in released["world_model"]},
                   "world_model", flat_weights)
    rows += compare(ours["behavior"]["reversed"], released["behavior"], "behavior.reversed", flat_weights)
    rows += compare(ours["behavior"]["forward"], flipped["behavior"], "behavior.forward_vs_flipped_release",
                    flat_weights)
    rows += compare(ours["behavior"]["forward"], released["behavior"], "known_difference.forward_vs_release")
    for row in rows:
        tolerance = STEP_TOL if row["group"].endswith("param_steps") else TOL
        row["pass"] = row["group"].startswith("known_difference") or row["error"] <= tolerance
    summary = summarize(rows)
    print_table(summary)
    kl = float(released["world_model"]["scalars"]["kl"])
    print(f"\nreleased: KL {kl:.4f} (free nats {config['kl_free']}), grad norms: model "
          f"{float(released['world_model']['scalars']['model_grad_norm']):.3g}, actor "
          f"{float(released['behavior']['scalars']['actor_grad_norm']):.3g}, value "
          f"{float(released['behavior']['scalars']['value_grad_norm']):.3g} (clip {config['grad_clip']})")
    teacher = [n for n in weights["world_model"] if n.startswith("teacher.")]
    teacher_moved = relative_error(torch.cat([_float(released["world_model"]["params_after"][n]).reshape(-1)
                                              for n in teacher]),
                                   torch.cat([_float(weights["world_model"][n]).reshape(-1) for n in teacher]))
    print(f"released teacher: ||after - before|| / ||before|| = {teacher_moved:.3e} after one update")
    ok = all(g["pass"] for g in summary)

    if args.write_golden:
        golden = golden_from(released, flipped)
        args.write_golden.parent.mkdir(parents=True, exist_ok=True)
        torch.save(golden, args.write_golden)
        check = summarize(check_golden(load_golden(args.write_golden),
                                       run_ours(*golden_inputs(load_golden(args.write_golden)))))
        ok = ok and all(g["pass"] for g in check)
        print(f"\ngolden file {args.write_golden}: {args.write_golden.stat().st_size / 1e6:.2f} MB; "
              f"replayed: {'ok' if all(g['pass'] for g in check) else 'FAIL'} "
              f"(max rel err {max(g['max_error'] for g in check):.3e})")
    if args.out:
        report = {
            "tolerance": TOL, "pass": ok, "step": STEP, "released_code": str(args.official.resolve()),
            "released_sha256_16": _fingerprint(args.official), "torch": torch.__version__,
            "config": config, "overrides": RELEASED_OVERRIDES, "mapping": [list(m) for m in released["mapping"]],
            "tape": {f"{p}.{r}": list(v.shape) for p, rs in tape.items() for r, v in rs.items()},
            "released_kl": kl, "released_teacher_moved": teacher_moved,
            "summary": summary, "rows": rows,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
        print(f"report: {args.out}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
