import numpy as np
import pytest
import torch

from diswm.agents import (
    ActorCritic,
    BehaviorConfig,
    WorldModel,
    WorldModelConfig,
    distillation_kl,
    lambda_return,
)
from diswm.agents.world_model import eta_at
from diswm.models import RSSMConfig, count_parameters, image_tensor
from diswm.training.learners import BehaviorLearner, WorldModelLearner

SMALL_RSSM = RSSMConfig(stoch=8, deter=16, hidden=16, num_actions=2)


def small_config(**kwargs):
    return WorldModelConfig(rssm=SMALL_RSSM, units=32, **kwargs)


def batch(b=2, t=4, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "image": torch.as_tensor(rng.integers(0, 256, (b, t, 64, 64, 3), dtype=np.uint8)),
        "action": torch.as_tensor(rng.uniform(-1, 1, (b, t, 2)), dtype=torch.float32),
        "reward": torch.as_tensor(rng.uniform(size=(b, t)), dtype=torch.float32),
    }


def test_distillation_kl_is_zero_for_identical_latents_and_positive_otherwise():
    z = torch.randn(3, 5, 20)
    assert distillation_kl(z, z).item() == pytest.approx(0.0, abs=1e-6)
    assert distillation_kl(z, torch.randn(3, 5, 20)).item() > 0
    # batchmean divides by B only: doubling T doubles the loss of a repeated sequence
    other = torch.randn(3, 5, 20)
    doubled = distillation_kl(torch.cat([z, z], 1), torch.cat([other, other], 1))
    torch.testing.assert_close(doubled, 2 * distillation_kl(z, other))
    reference = sum(
        (torch.softmax(other[b, t], -1) * (torch.log_softmax(other[b, t], -1) - torch.log_softmax(z[b, t], -1))).sum()
        for b in range(3) for t in range(5)
    ) / 3
    torch.testing.assert_close(distillation_kl(z, other), reference)


@pytest.mark.parametrize(
    "step, schedule, cross, expected",
    [
        (0, "paper", False, 0.1),
        (25_000, "paper", False, 0.05),
        (45_000, "paper", False, 0.01),
        (400_000, "paper", False, 0.01),
        (49_999, "paper", True, 0.0),
        (50_000, "paper", True, 0.1),
        (95_000, "paper", True, 0.01),
        (0, "official", False, 0.095),
        (400_000, "official", False, 0.095),
        (400_000, "official", True, 0.0),
    ],
)
def test_eta_schedules_give_the_documented_values(step, schedule, cross, expected):
    assert paper_eta(step, schedule=schedule, cross_domain=cross, initial_step=2500) == pytest.approx(expected)


@pytest.mark.parametrize("cross", [False, True])
def test_eta_at_smoke_scale_distils_for_part_of_its_budget(cross):
    """Smoke scale (plumbing) keeps the released fractions: decay and cross-domain delay 10% of its budget in agent
    steps each, so that every smoke DisWM run distils after its prefill, cross-domain ones included."""
    from diswm.scales import FINETUNE

    s = FINETUNE["smoke"]
    budget = s.env_steps // 2  # agent steps at action repeat 2
    assert s.eta_decay_steps == s.eta_delay == budget // 10
    model = WorldModel(small_config(cross_domain=cross, eta_decay_steps=s.eta_decay_steps, eta_delay=s.eta_delay))
    start = s.eta_delay if cross else 0  # distillation starts here
    assert model.distill_weight(start) == pytest.approx(0.1)
    assert model.distill_weight(start + s.eta_decay_steps // 2) == pytest.approx(0.05)
    assert model.distill_weight(start + s.eta_decay_steps) == pytest.approx(0.01)
    assert model.distill_weight(budget) == pytest.approx(0.01)  # the floor until the end of the budget
    if cross:
        assert model.distill_weight(start - 1) == 0.0
    trained = [step for step in range(s.prefill, budget + 1, s.train_every) if model.distill_weight(step) > 0]
    assert len(trained) > 0.5 * (budget - s.prefill) / s.train_every  # η > 0 for most updates


@pytest.mark.parametrize("scale", ["cpu", "paper"])
@pytest.mark.parametrize(
    ("step", "cross", "expected"),
    [
        (0, False, 0.1),
        (2_500, False, 0.095),  # the end of the prefill: the first update distils at 0.095, as at paper scale
        (25_000, False, 0.05),
        (45_000, False, 0.01),  # the floor, reached at 90% of the decay
        (50_000, False, 0.01),  # = the cpu budget (100k control steps at action repeat 2)
        (49_999, True, 0.0),  # cross-domain: no distillation for 50k agent steps, i.e. none within a cpu run
        (50_000, True, 0.1),
        (75_000, True, 0.05),
    ],
)
def test_eta_at_cpu_scale_is_the_papers_first_100k_env_steps(scale, step, cross, expected):
    """cpu scale is the paper's recipe over its first 100k env steps: η follows the paper scale's own settings
    (decay over 50k agent steps from step 0, floor 0.1 x η, cross-domain delay 50k agent steps)."""
    from diswm.scales import FINETUNE

    s = FINETUNE[scale]
    assert (s.eta_decay_steps, s.eta_delay) == (50_000, 50_000)
    model = WorldModel(small_config(cross_domain=cross, eta_decay_steps=s.eta_decay_steps, eta_delay=s.eta_delay))
    assert model.distill_weight(step) == pytest.approx(expected)


@pytest.mark.parametrize(("scale", "steps"), [("smoke", 20), ("cpu", 5_000), ("paper", 50_000)])
def test_budget_scaled_eta_is_ten_percent_of_every_budget(scale, steps):
    """``eta_steps="budget"``: the released fractions at every scale (the cpu scale's setting before issue 24)."""
    from diswm.configs import finetune_config

    for task in ("walker_walk", "pusher"):
        config = finetune_config(scale=scale, method="diswm", task=task, source="finger_spin", teacher_path="t.pt",
                                 eta_steps="budget").world_model
        assert (config.eta_decay_steps, config.eta_delay) == (steps, steps)
    with pytest.raises(ValueError, match="eta_steps='fraction' is not allowed; expected one of: paper, budget"):
        finetune_config(scale=scale, method="diswm", task="walker_walk", source="finger_spin", eta_steps="fraction")


def test_eta_settings_are_validated():
    for bad in ({"eta_decay_steps": 0}, {"eta_delay": -1}, {"eta_floor": 1.5}):
        with pytest.raises(ValueError, match="eta_"):
            WorldModel(small_config(**bad))


def test_losses_are_finite_with_documented_terms():
    torch.manual_seed(0)
    model = WorldModel(small_config())
    total, metrics, post = model.loss(batch(), torch.tensor(model.distill_weight(0)))  # η = 0.1
    assert torch.isfinite(total)
    expected = {"model_loss", "image_loss", "image_nll", "reward_loss", "kl_loss", "kl", "beta_vae_kl",
                "distillation_kl", "eta"}
    assert set(metrics) == expected
    assert all(np.isfinite(float(v.detach() if torch.is_tensor(v) else v)) for v in metrics.values())
    recomposed = metrics["image_loss"] + metrics["reward_loss"] + metrics["kl_loss"] + 0.1 * metrics["distillation_kl"]
    torch.testing.assert_close(total, recomposed)
    torch.testing.assert_close(metrics["image_loss"], metrics["image_nll"] + 0.015 * metrics["beta_vae_kl"])
    assert post["deter"].shape == (2, 4, 16) and not post["deter"].requires_grad


@pytest.mark.slow
def test_frozen_teacher_is_bit_identical_and_gets_no_gradient():
    torch.manual_seed(0)
    model = WorldModel(small_config(teacher="frozen"))
    before = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    learner = WorldModelLearner(model)
    assert not any(p is q for p in model.teacher.parameters() for q in learner.optimizer.parameters)
    student_before = model.encoder.head.weight.clone()
    for step in range(3):
        learner.update(batch(seed=step), model.distill_weight(step))
    for key, value in model.teacher.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert all(p.grad is None for p in model.teacher.parameters())
    assert not torch.equal(model.encoder.head.weight, student_before)


def test_drifting_teacher_moves_like_the_released_code():
    torch.manual_seed(0)
    model = WorldModel(small_config(teacher="drifting"))
    before = model.teacher.head.weight.clone()
    WorldModelLearner(model).update(batch(), model.distill_weight(0))
    assert not torch.equal(model.teacher.head.weight, before)


def test_no_distillation_and_dreamerv2_configurations():
    no_distill = WorldModel(small_config(distill=False))
    assert no_distill.teacher is None
    _, metrics, _ = no_distill.loss(batch(), 0)
    assert "distillation_kl" not in metrics
    dreamer = WorldModel(small_config(image_model="conv", distill=False, beta=0.0))
    _, metrics, _ = dreamer.loss(batch(), 0)
    assert "beta_vae_kl" not in metrics and np.isfinite(float(metrics["model_loss"].detach()))
    with pytest.raises(ValueError, match="distillation needs"):
        WorldModel(small_config(image_model="conv"))
    with pytest.raises(ValueError, match="teacher"):
        WorldModel(small_config(teacher="melting"))


def test_cross_domain_official_never_distils():
    model = WorldModel(small_config(eta_schedule="official", cross_domain=True))
    total, metrics, _ = model.loss(batch(), torch.tensor(model.distill_weight(500_000, initial_step=2500)))
    assert metrics["eta"] == 0.0
    torch.testing.assert_close(total, metrics["image_loss"] + metrics["reward_loss"] + metrics["kl_loss"])


def test_lambda_return_matches_the_recursion():
    reward, value = torch.rand(4, 3), torch.rand(4, 3)
    discount = torch.full((4, 3), 0.9)
    bootstrap = torch.rand(3)
    returns = lambda_return(reward, value, discount, bootstrap, 0.95)
    expected, last = [], bootstrap
    next_values = torch.cat([value[1:], bootstrap[None]])
    for t in reversed(range(4)):
        last = reward[t] + 0.9 * (0.05 * next_values[t] + 0.95 * last)
        expected.insert(0, last)
    torch.testing.assert_close(returns, torch.stack(expected))
    one_step = lambda_return(reward, value, discount, bootstrap, 0.0)
    torch.testing.assert_close(one_step, reward + 0.9 * next_values)
    # the released order: target t is the return of step H - 2 - t (its scan is never flipped)
    torch.testing.assert_close(lambda_return(reward, value, discount, bootstrap, 0.95, "reversed"),
                               torch.stack(expected[::-1]))


def test_reversed_lambda_order_changes_only_the_behaviour_targets():
    torch.manual_seed(0)
    model = WorldModel(small_config())
    _, _, post = model.loss(batch(), 0)
    results = {}
    for order in ("forward", "reversed"):
        torch.manual_seed(1)
        behavior = ActorCritic(BehaviorConfig(horizon=5, units=32, actor_layers=2, critic_layers=2,
                                              lambda_order=order), model.rssm.feat_size, 2)
        results[order] = BehaviorLearner(behavior).update(model.rssm, model.reward, post)
    forward, reversed_ = results["forward"], results["reversed"]
    assert forward["imag_reward_mean"] == pytest.approx(reversed_["imag_reward_mean"])  # same imagination
    assert forward["actor_loss"] != pytest.approx(reversed_["actor_loss"], rel=1e-4)
    assert forward["value_loss"] != pytest.approx(reversed_["value_loss"], rel=1e-4)
    with pytest.raises(ValueError, match="lambda_order"):
        BehaviorConfig(lambda_order="backwards")


@pytest.mark.slow
def test_behaviour_update_trains_actor_and_critic_only():
    torch.manual_seed(0)
    model = WorldModel(small_config())
    _, _, post = model.loss(batch(), 0)
    behavior = ActorCritic(BehaviorConfig(horizon=5, units=32, actor_layers=2, critic_layers=2, slow_update=2),
                           model.rssm.feat_size, 2)
    learner = BehaviorLearner(behavior)
    world_before = {k: v.clone() for k, v in model.state_dict().items()}
    actor_before = [p.clone() for p in behavior.actor.parameters()]
    metrics = learner.update(model.rssm, model.reward, post)
    assert all(np.isfinite(v) for v in metrics.values())
    assert all(torch.equal(v, world_before[k]) for k, v in model.state_dict().items())
    assert any(not torch.equal(a, b) for a, b in zip(actor_before, behavior.actor.parameters(), strict=True))
    assert all(p.requires_grad for p in model.rssm.parameters())  # restored afterwards
    # the slow critic is a hard copy of the critic taken every `slow_update` (2) updates, before stepping
    learner.update(model.rssm, model.reward, post)
    assert not all(torch.equal(a, b) for a, b in zip(behavior.critic.parameters(),
                                                       behavior.slow_critic.parameters(), strict=True))
    critic_before_third = {k: v.clone() for k, v in behavior.critic.state_dict().items()}
    learner.update(model.rssm, model.reward, post)
    for key, value in behavior.slow_critic.state_dict().items():
        assert torch.equal(value, critic_before_third[key]), key
    assert count_parameters(behavior.slow_critic) == count_parameters(behavior.critic)


@pytest.mark.parametrize("actor_dist", ["trunc_normal", "normal"])
def test_behaviour_update_with_either_actor_distribution(actor_dist):
    torch.manual_seed(0)
    model = WorldModel(small_config())
    _, _, post = model.loss(batch(), 0)
    config = BehaviorConfig(horizon=3, units=16, actor_layers=1, critic_layers=1, actor_dist=actor_dist)
    behavior = ActorCritic(config, model.rssm.feat_size, 2)
    metrics = BehaviorLearner(behavior).update(model.rssm, model.reward, post)
    assert all(np.isfinite(v) for v in metrics.values()) and metrics["actor_grad_norm"] > 0
    with pytest.raises(ValueError, match="actor_dist"):
        BehaviorConfig(actor_dist="tanh_normal")
    with pytest.raises(ValueError, match="entropy"):
        BehaviorConfig(entropy=-1e-4)



def _train_two_updates(compile_options: dict | None) -> tuple[dict, dict]:
    torch.manual_seed(0)
    model = WorldModel(small_config())
    learner = WorldModelLearner(model)
    behavior = ActorCritic(BehaviorConfig(horizon=4, units=32, actor_layers=2, critic_layers=2),
                           model.rssm.feat_size, 2)
    behavior_learner = BehaviorLearner(behavior)
    if compile_options is not None:
        model.rssm.compile_steps(**compile_options)
        behavior.compile_steps(**compile_options)
    metrics = {}
    for step in range(2):
        world, post = learner.update(batch(), model.distill_weight(step))
        metrics = world | behavior_learner.update(model.rssm, model.reward, post)
    return metrics, model.state_dict()


@pytest.mark.slow
def test_compiled_step_functions_train_like_the_eager_ones():
    """``compile_steps`` (the GPU speed switch) traces the same computation: through the tracing-only
    backend, two world-model and behaviour updates agree with eager ones up to float rounding."""
    eager, eager_state = _train_two_updates(None)
    traced, traced_state = _train_two_updates({"backend": "aot_eager"})
    assert eager.keys() == traced.keys()
    for key, value in eager.items():
        assert traced[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
    for key, value in eager_state.items():
        torch.testing.assert_close(traced_state[key], value, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_inductor_compiled_rssm_matches_eager_and_trains():
    """The generated kernels compute the same filter (means, no sampling: inductor draws its own random
    numbers) and a compiled update runs with finite results."""
    torch.manual_seed(0)
    model = WorldModel(small_config())
    data = batch()
    embedding = model.embed(image_tensor(data["image"]))[0].detach()
    eager = model.rssm.observe(embedding, data["action"], sample=False)[0]
    model.rssm.compile_steps()
    compiled = model.rssm.observe(embedding, data["action"], sample=False)[0]
    for key, value in eager.items():
        torch.testing.assert_close(compiled[key], value, rtol=1e-4, atol=1e-5)
    metrics, _ = _train_two_updates({})
    assert all(np.isfinite(v) for v in metrics.values())


def test_eta_passed_in_weighs_only_the_distillation_term_and_zero_adds_nothing():
    """The loop computes η and passes it in (a tensor, eager and graphed alike): the loss is the unweighted
    terms weighed by loss_scales, η on the distillation term alone; η = 0 gives exactly the other terms' sum."""
    torch.manual_seed(0)
    model = WorldModel(small_config())
    data = batch()
    for eta in (0.0, 0.05, 0.1):
        torch.manual_seed(1)
        terms, _, _ = model.loss_terms(data)
        torch.manual_seed(1)
        total = model.loss(data, torch.tensor(eta))[0]
        assert list(terms) == ["image", "beta_kl", "reward", "kl", "distill"]
        expected = terms["image"] + 0.015 * terms["beta_kl"] + 2.0 * terms["reward"] + terms["kl"]
        torch.testing.assert_close(total, expected + eta * terms["distill"])
        if eta == 0.0:
            assert torch.equal(total, expected)
    assert WorldModel(small_config(distill=False)).distill_weight(500) == 0.0


def test_weighted_sum_refuses_a_term_without_a_scale_and_a_term_that_is_not_a_scalar():
    from diswm.agents.losses import weighted_sum

    one = torch.tensor(1.0)
    assert weighted_sum({"a": one, "b": 2 * one}, {"a": 1.0, "b": 0.5}) == 2.0
    with pytest.raises(KeyError, match="do not name the same terms"):
        weighted_sum({"a": one, "b": one}, {"a": 1.0})
    with pytest.raises(ValueError, match="shape"):
        weighted_sum({"a": torch.ones(3)}, {"a": 1.0})


def test_graphed_update_refuses_what_it_cannot_capture():
    from diswm.training.graphed import GraphedUpdate

    model = WorldModel(small_config())
    behavior = ActorCritic(BehaviorConfig(horizon=2, units=16, actor_layers=1, critic_layers=1),
                           model.rssm.feat_size, 2)
    with pytest.raises(ValueError, match="CUDA"):
        GraphedUpdate(WorldModelLearner(model), BehaviorLearner(behavior))


def paper_eta(step: int, *, schedule: str, cross_domain: bool = False, initial_step: int = 0) -> float:
    """η with the paper scale's settings (WorldModelConfig's defaults: the released 0.1, 50k, 0.1, 50k)."""
    return eta_at(WorldModelConfig(eta_schedule=schedule, cross_domain=cross_domain), step, initial_step)
