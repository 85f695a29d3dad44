import pytest
import torch
from scipy.stats import truncnorm
from torch import distributions as td

from diswm.models import (
    RSSM,
    Actor,
    BetaVAEDecoder,
    BetaVAEEncoder,
    ConvDecoder,
    ConvEncoder,
    RSSMConfig,
    ScalarHead,
    TruncatedNormal,
    beta_vae_kl,
    count_parameters,
    gaussian_kl,
)


def test_parameter_counts_match_the_official_code():
    """Counts of the released model at commit 001cc4d (``configs.yaml`` defaults + dmc2gym, 6-d actions;
    ``models.WorldModel`` and ``models.ImagBehavior``)."""
    assert count_parameters(BetaVAEEncoder(20)) == 389_096
    assert count_parameters(BetaVAEDecoder(250, 20)) == 388_959
    assert count_parameters(RSSM(RSSMConfig(num_actions=6))) == 377_800
    assert count_parameters(ScalarHead(250, layers=2)) == 261_201  # reward
    assert count_parameters(Actor(250, 6, layers=4)) == 586_412
    assert count_parameters(ScalarHead(250, layers=3)) == 421_601  # critic


def test_image_models_shapes():
    torch.manual_seed(0)
    images = torch.rand(2, 3, 3, 64, 64) - 0.5
    mean, logvar, sample = BetaVAEEncoder(20)(images)
    assert mean.shape == logvar.shape == sample.shape == (2, 3, 20)
    assert not torch.equal(mean, sample)
    assert BetaVAEDecoder(250)(torch.randn(2, 3, 250)).shape == (2, 3, 3, 64, 64)
    assert ConvEncoder()(images).shape == (2, 3, 1024)
    assert ConvDecoder(250)(torch.randn(2, 3, 250)).shape == (2, 3, 3, 64, 64)


def test_beta_vae_kl_is_the_closed_form():
    mean, logvar = torch.randn(4, 20), torch.randn(4, 20)
    reference = td.kl_divergence(td.Normal(mean, (logvar / 2).exp()), td.Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(beta_vae_kl(mean, logvar), reference + 0.5e-6 * 20, rtol=1e-5, atol=1e-5)
    assert beta_vae_kl(torch.zeros(1, 20), torch.zeros(1, 20)).item() == pytest.approx(1e-5, abs=1e-6)


def test_gaussian_kl_matches_torch():
    a, b = torch.randn(3, 50), torch.randn(3, 50)
    sa, sb = torch.rand(3, 50) + 0.1, torch.rand(3, 50) + 0.1
    reference = td.kl_divergence(td.Normal(a, sa), td.Normal(b, sb)).sum(-1)
    torch.testing.assert_close(gaussian_kl(a, sa, b, sb), reference)


def test_kl_balancing_and_free_nats():
    torch.manual_seed(0)
    rssm = RSSM(RSSMConfig(num_actions=2))
    post, prior = rssm.observe(torch.randn(3, 4, 20), torch.randn(3, 4, 2))
    loss, value = rssm.kl_loss(post, prior, balance=0.8, free=0.0)
    torch.testing.assert_close(loss, value.mean())  # without free nats the balanced loss equals the KL
    # gradient split: 0.8 of the KL's gradient reaches the prior, 0.2 the posterior
    prior_grad = torch.autograd.grad(loss, prior["mean"], retain_graph=True)[0]
    full_grad = torch.autograd.grad(value.mean(), prior["mean"], retain_graph=True)[0]
    torch.testing.assert_close(prior_grad, 0.8 * full_grad)
    big_free, _ = rssm.kl_loss(post, prior, free=1e3)
    assert big_free.item() == pytest.approx(1e3)
    assert big_free.requires_grad and torch.autograd.grad(big_free, prior["mean"])[0].abs().sum() == 0


def test_action_free_rssm_ignores_actions():
    torch.manual_seed(0)
    embed = torch.randn(2, 5, 20)
    free = RSSM(RSSMConfig(num_actions=0))
    a = free.observe(embed, torch.randn(2, 5, 3), sample=False)[0]
    b = free.observe(embed, torch.randn(2, 5, 3), sample=False)[0]
    for key in a:
        torch.testing.assert_close(a[key], b[key])
    zero_fed = RSSM(RSSMConfig(num_actions=6))  # the official way: a source-sized action input fed zeros
    c = zero_fed.observe(embed, None, sample=False)[0]
    d = zero_fed.observe(embed, torch.zeros(2, 5, 6), sample=False)[0]
    e = zero_fed.observe(embed, torch.ones(2, 5, 6), sample=False)[0]
    torch.testing.assert_close(c["deter"], d["deter"])
    assert not torch.allclose(c["deter"], e["deter"])


@pytest.mark.slow
def test_rssm_mode_is_deterministic_and_gradients_are_finite():
    rssm = RSSM(RSSMConfig(num_actions=2))
    embed = torch.randn(2, 6, 20, requires_grad=True)
    post1, prior1 = rssm.observe(embed, torch.randn(2, 6, 2).clamp(-1, 1), sample=False)
    assert torch.equal(post1["stoch"], post1["mean"]) and post1["deter"].shape == (2, 6, 200)
    assert (post1["std"] > 0.1).all() and (post1["std"] < 2.1).all()
    loss, _ = rssm.kl_loss(post1, prior1, free=0.0)
    (loss + RSSM.feature(post1).pow(2).mean()).backward()
    grads = [p.grad for p in rssm.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert torch.isfinite(embed.grad).all()


def test_actor_distribution():
    for dist_name in ("trunc_normal", "normal"):
        actor = Actor(250, 3, layers=2, units=32, dist=dist_name)
        dist = actor(torch.randn(7, 250))
        assert dist.rsample().shape == (7, 3) and dist.entropy().shape == (7,)
        assert (dist.mode.abs() <= 1).all()
        assert dist.rsample().requires_grad
    with pytest.raises(ValueError, match="actor dist"):
        Actor(250, 3, dist="tanh_normal")


def test_truncated_normal_matches_scipy():
    """Entropy, density and mean are the truncated distribution's (scipy.stats.truncnorm)."""
    loc = torch.tensor([0.0, 0.9, -1.0, 1.0, 0.3], dtype=torch.float64)
    scale = torch.tensor([1.0, 0.1, 2.1, 0.1, 0.5], dtype=torch.float64)
    dist = TruncatedNormal(loc, scale)
    reference = truncnorm((-1 - loc.numpy()) / scale.numpy(), (1 - loc.numpy()) / scale.numpy(),
                          loc=loc.numpy(), scale=scale.numpy())
    value = torch.tensor([0.1, 0.95, 0.5, 0.99, -0.2], dtype=torch.float64)
    assert dist.entropy().numpy() == pytest.approx(reference.entropy(), abs=1e-9)
    assert dist.log_prob(value).numpy() == pytest.approx(reference.logpdf(value.numpy()), abs=1e-9)
    assert dist.mean.numpy() == pytest.approx(reference.mean(), abs=1e-9)
    torch.manual_seed(0)
    samples = dist.sample((100_000,))
    assert samples.abs().max() < 1
    assert samples.mean(0).numpy() == pytest.approx(reference.mean(), abs=0.01)
    assert samples.std(0).numpy() == pytest.approx(reference.std(), abs=0.01)


def test_only_the_official_actor_imagines_actions_outside_the_range():
    """A wide actor: DreamerV2's truncated normal stays in [-1, 1] and passes gradients to loc and scale;
    the released code's Normal (actor_dist=normal) samples far outside."""
    torch.manual_seed(0)
    loc = torch.full((10_000, 1), 0.9, requires_grad=True)
    scale = torch.full((10_000, 1), 2.0, requires_grad=True)
    sample = TruncatedNormal(loc, scale).rsample()
    assert sample.abs().max() < 1
    sample.sum().backward()
    assert torch.isfinite(loc.grad).all() and loc.grad.abs().sum() > 0 and scale.grad.abs().sum() > 0
    assert (td.Normal(loc, scale).sample().abs() > 1).float().mean() > 0.3


def test_truncated_normal_is_finite_at_a_saturated_actor():
    """mean = ±1 with the minimum std (a collapsed actor): samples, entropy and gradients stay finite."""
    torch.manual_seed(0)
    loc = torch.tensor([1.0, -1.0, 1.0, -1.0]).repeat(2500).requires_grad_()
    scale = torch.tensor([0.1, 0.1, 2.1, 2.1]).repeat(2500).requires_grad_()
    dist = TruncatedNormal(loc, scale)
    sample, entropy = dist.rsample(), dist.entropy()
    assert sample.abs().max() < 1 and torch.isfinite(entropy).all()
    (sample.sum() + entropy.sum()).backward()
    assert torch.isfinite(loc.grad).all() and torch.isfinite(scale.grad).all()
