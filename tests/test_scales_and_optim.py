"""The scale tables (one value sizes every stage) and the clipped Adam of every update."""

import pytest
import torch

from diswm.scales import COLLECT, FINETUNE, NETS, PRETRAIN, SCALE_NAMES, SOURCE_AGENT, check_scale
from diswm.training.optim import ClippedAdam


def test_every_table_has_every_scale_and_nothing_else():
    for table in (COLLECT, NETS, PRETRAIN, FINETUNE, SOURCE_AGENT):
        assert tuple(table) == SCALE_NAMES


def test_scales_grow_from_smoke_to_paper():
    for small, large in zip(SCALE_NAMES, SCALE_NAMES[1:], strict=False):
        assert FINETUNE[small].env_steps < FINETUNE[large].env_steps
        assert PRETRAIN[small].updates < PRETRAIN[large].updates
        assert SOURCE_AGENT[small].frames < SOURCE_AGENT[large].frames
        assert NETS[small].deter < NETS[large].deter and NETS[small].units < NETS[large].units


def test_paper_scale_is_the_papers_settings():
    """Paper §4 and the released configs.yaml (dmc2gym): 1M env steps, B 50 x L 50, prefill 2500, train every 5,
    10 evaluation episodes every 10k steps; RSSM 50 stochastic / 200 deterministic units, heads of 400."""
    paper = FINETUNE["paper"]
    assert (paper.env_steps, paper.batch_size, paper.length, paper.prefill, paper.train_every) == \
        (1_000_000, 50, 50, 2500, 5)
    assert (paper.eval_every, paper.eval_episodes, paper.eta_decay_steps, paper.eta_delay) == (10_000, 10, 50_000,
                                                                                               50_000)
    nets = NETS["paper"]
    assert (nets.stoch, nets.deter, nets.hidden, nets.units, nets.horizon) == (50, 200, 200, 400, 15)
    assert nets.encoder_widths == tuple(reversed(nets.decoder_widths))  # the β-VAE decoder mirrors its encoder


def test_eta_schedule_is_the_papers_from_cpu_scale_on_and_a_budget_share_at_smoke():
    """η decays over, and cross-domain distillation waits for, the released 50k agent steps at cpu and paper scale
    (cpu: the paper's first 100k env steps), and 10% of the agent steps at smoke scale."""
    for scale in ("cpu", "paper"):
        assert FINETUNE[scale].eta_decay_steps == FINETUNE[scale].eta_delay == 50_000
    agent_steps = FINETUNE["smoke"].env_steps // 2  # action repeat 2
    assert FINETUNE["smoke"].eta_decay_steps == FINETUNE["smoke"].eta_delay == agent_steps // 10


def test_check_scale_names_the_allowed_values():
    assert check_scale("cpu") == "cpu"
    with pytest.raises(ValueError, match="scale='huge' is not allowed; expected one of: smoke, cpu, paper"):
        check_scale("huge")


def test_clipped_adam_clips_the_gradient_norm_then_takes_an_adam_step():
    torch.manual_seed(0)
    weight = torch.nn.Parameter(torch.randn(5))
    reference = weight.detach().clone().requires_grad_(True)
    optimiser = ClippedAdam([weight], lr=0.1, clip=1.0)
    norm = optimiser.step((300.0 * weight).sum())
    assert norm == pytest.approx(300.0 * 5 ** 0.5, rel=1e-6)  # the norm before clipping
    adam = torch.optim.Adam([reference], lr=0.1, eps=1e-5)
    (300.0 * reference).sum().backward()
    torch.nn.utils.clip_grad_norm_(reference, 1.0)
    assert reference.grad.norm().item() == pytest.approx(1.0, rel=1e-6)
    adam.step()
    assert torch.equal(weight.detach(), reference.detach())
    state = optimiser.state_dict()
    resumed = ClippedAdam([torch.nn.Parameter(weight.detach().clone())], lr=0.1, clip=1.0)
    resumed.load_state_dict(state)
    assert torch.equal(resumed.state_dict()["state"][0]["exp_avg"], state["state"][0]["exp_avg"])
