"""The online world model of DisWM (Eq. 4-5) and its DreamerV2 baseline configuration.

Loss per update on a batch of B sequences of T frames (official ``models.WorldModel._train``):

* ``image``: -log N(o; decoder(feat), 1), summed over pixels, mean over B, T; plus, for the β-VAE image
  model, ``beta * KL(q(z|o) || N(0, I))`` of the student encoder (the disentanglement constraint);
* ``reward``: -log N(r; reward(feat), 1) x ``reward_scale``;
* ``kl``: DreamerV2 KL balancing (balance 0.8, free nats 1.0 on the batch mean, scale 1);
* ``distill``: η(step) x KL(softmax(z_teacher) || softmax(z_student)) (see :mod:`diswm.agents.distill`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from diswm.agents.distill import ETA_SCHEDULES, TEACHER_MODES, distillation_kl, eta
from diswm.agents.intrinsic import VideoIntrinsicBonus
from diswm.agents.losses import weighted_sum
from diswm.models import RSSM, BetaVAEDecoder, BetaVAEEncoder, ConvDecoder, ConvEncoder, RSSMConfig, ScalarHead
from diswm.models.beta_vae import beta_vae_kl
from diswm.models.images import image_tensor
from diswm.scales import FINETUNE, NETS

IMAGE_MODELS = ("beta_vae", "conv")
_LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class WorldModelConfig:
    image_model: str = "beta_vae"  # beta_vae (DisWM) | conv (DreamerV2's ConvEncoder/ConvDecoder)
    z_dim: int = 20  # β-VAE latent size (the RSSM's embedding)
    beta: float = 0.015  # disentanglement constraint on the student encoder (0: off)
    # sizes and the η schedule's lengths default to the paper's (diswm.scales, the paper row)
    encoder_widths: tuple[int, ...] = NETS["paper"].encoder_widths  # β-VAE conv channels
    decoder_widths: tuple[int, ...] = NETS["paper"].decoder_widths  # β-VAE deconv channels
    cnn_depth: int = NETS["paper"].cnn_depth  # conv image model only
    rssm: RSSMConfig = field(default_factory=RSSMConfig)
    reward_layers: int = NETS["paper"].reward_layers
    units: int = NETS["paper"].units
    reward_scale: float = 2.0  # dmc2gym / gymnasium configs; 1.0 in the metaworld config
    kl_balance: float = 0.8
    kl_free: float = 1.0
    kl_scale: float = 1.0
    lr: float = 3e-4
    eps: float = 1e-5
    grad_clip: float = 100.0
    distill: bool = True  # build the teacher encoder and add η x distillation
    eta_schedule: str = "paper"  # paper (0.1 -> 0.01) | official (frozen step counter: 0.095 / none)
    eta_max: float = 0.1
    eta_decay_steps: int = FINETUNE["paper"].eta_decay_steps  # agent steps of η's linear decay (released: 50k)
    eta_floor: float = 0.1  # η never falls below eta_floor x eta_max (released: 0.1)
    eta_delay: int = FINETUNE["paper"].eta_delay  # cross-domain: agent steps without distillation (released: 50k)
    teacher: str = "frozen"  # frozen (no gradient, not optimised) | drifting (the released code)
    cross_domain: bool = False  # delay distillation (DMC -> Pusher / DrawerWorld)
    # APV: an action-free RSSM (pretrained on videos, fed zero actions) whose feature is the embedding of
    # the action-conditional RSSM, and a video-based intrinsic bonus added to the reward targets.
    stacked: bool = False
    video_actions: int = 0  # zero action inputs of the action-free RSSM (its pretraining's num_actions)
    video_layer_norm: bool = True  # the action-free RSSM's GRU cell: its pretraining's (gru_layer_norm)
    intrinsic_beta: float = 0.0  # APV: 1.0 ("abs")
    intrinsic_window: int = 5

    def validate(self) -> None:
        if self.image_model not in IMAGE_MODELS:
            raise ValueError(f"image_model={self.image_model!r}; expected one of {IMAGE_MODELS}")
        if self.eta_schedule not in ETA_SCHEDULES:
            raise ValueError(f"eta_schedule={self.eta_schedule!r}; expected one of {ETA_SCHEDULES}")
        if self.teacher not in TEACHER_MODES:
            raise ValueError(f"teacher={self.teacher!r}; expected one of {TEACHER_MODES}")
        if self.intrinsic_beta and not self.stacked:
            raise ValueError("the intrinsic bonus needs the stacked (APV) model")
        if self.distill and self.image_model != "beta_vae":
            raise ValueError("distillation needs the beta_vae image model (the teacher is a β-VAE encoder)")
        if self.z_dim < 1:
            raise ValueError(f"z_dim must be >= 1, got {self.z_dim}")
        if min(self.beta, self.eta_max, self.lr) < 0:
            raise ValueError("beta, eta_max and lr must be non-negative")
        if self.eta_decay_steps < 1 or self.eta_delay < 0 or not 0 <= self.eta_floor <= 1:
            raise ValueError(f"eta_decay_steps >= 1, eta_delay >= 0 and 0 <= eta_floor <= 1 are needed, got "
                             f"{self.eta_decay_steps}, {self.eta_delay}, {self.eta_floor}")


def eta_at(config: WorldModelConfig, step: int, initial_step: int = 0) -> float:
    """η at agent step ``step`` under ``config``'s schedule (:func:`diswm.agents.distill.eta`)."""
    return eta(step, schedule=config.eta_schedule, cross_domain=config.cross_domain, initial_step=initial_step,
               eta_max=config.eta_max, decay_steps=config.eta_decay_steps, floor=config.eta_floor,
               delay=config.eta_delay)


def gaussian_image_nll(mean: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """-log N(image; mean, 1) summed over pixels, averaged over the leading axes (official image loss)."""
    pixels = image.shape[-3:].numel()
    return 0.5 * (mean - image).pow(2).sum((-3, -2, -1)).mean() + 0.5 * pixels * _LOG_2PI


class WorldModel(nn.Module):
    def __init__(self, config: WorldModelConfig):
        super().__init__()
        config.validate()
        self.config = config
        if config.image_model == "beta_vae":
            self.encoder = BetaVAEEncoder(config.z_dim, widths=config.encoder_widths)
            self.decoder = BetaVAEDecoder(config.rssm.stoch + config.rssm.deter, config.z_dim,
                                          widths=config.decoder_widths)
            rssm_config = RSSMConfig(**{**config.rssm.__dict__, "embed": config.z_dim})
        else:
            self.encoder = ConvEncoder(config.cnn_depth)
            self.decoder = ConvDecoder(config.rssm.stoch + config.rssm.deter, config.cnn_depth)
            rssm_config = RSSMConfig(**{**config.rssm.__dict__, "embed": self.encoder.embed_size})
        self.rssm_af = None
        self.intrinsic = None
        if config.stacked:
            self.rssm_af = RSSM(RSSMConfig(**{**rssm_config.__dict__, "num_actions": config.video_actions,
                                                  "layer_norm": config.video_layer_norm}))
            rssm_config = RSSMConfig(**{**rssm_config.__dict__, "embed": self.rssm_af.feat_size})
            if config.intrinsic_beta:
                self.intrinsic = VideoIntrinsicBonus(self.rssm_af.feat_size, window=config.intrinsic_window)
        self.rssm = RSSM(rssm_config)
        self.reward = ScalarHead(self.rssm.feat_size, config.reward_layers, config.units)
        self.teacher = BetaVAEEncoder(config.z_dim, widths=config.encoder_widths) if config.distill else None
        if self.teacher is not None and config.teacher == "frozen":
            self.teacher.requires_grad_(False)

    def trainable_parameters(self) -> list[nn.Parameter]:
        """What the optimiser updates: everything but a frozen teacher."""
        frozen = set()
        if self.teacher is not None and self.config.teacher == "frozen":
            frozen = {id(p) for p in self.teacher.parameters()}
        return [p for p in self.parameters() if id(p) not in frozen]

    def embed(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """``(embedding, mean, logvar)``; mean/logvar only for the β-VAE image model."""
        if self.config.image_model == "beta_vae":
            mean, logvar, sample = self.encoder(image)
            return sample, mean, logvar
        return self.encoder(image), None, None

    def initial_filter_state(self, batch: int, device=None) -> dict:
        state = {"post": self.rssm.initial(batch, device)}
        if self.rssm_af is not None:
            state["video"] = self.rssm_af.initial(batch, device)
        return state

    def filter_step(self, state: dict, action: torch.Tensor, image: torch.Tensor) -> dict:
        """One step of the posterior filter used when acting (``image``: float [B, 3, H, W])."""
        embedding = self.embed(image)[0]
        state = dict(state)
        if self.rssm_af is not None:
            state["video"] = self.rssm_af.obs_step(state["video"], None, embedding, sample=False)[0]
            embedding = RSSM.feature(state["video"])
        state["post"] = self.rssm.obs_step(state["post"], action, embedding, sample=True)[0]
        return state

    def distill_weight(self, step: int, initial_step: int = 0) -> float:
        """η at agent step ``step`` (0 without a teacher)."""
        return 0.0 if self.teacher is None else eta_at(self.config, step, initial_step)

    def loss_scales(self, eta: torch.Tensor | float) -> dict[str, torch.Tensor | float]:
        """The weight of each term of :meth:`loss_terms` (DisWM Eq. 5): image 1; β-VAE KL β (the disentanglement
        constraint); reward ``reward_scale``; posterior-prior KL α = ``kl_scale`` (balancing and free nats are
        inside the term); APV's video KL ``kl_scale``; distillation η (the loop's, :meth:`distill_weight`)."""
        c = self.config
        scales: dict[str, torch.Tensor | float] = {"image": 1.0}
        if c.image_model == "beta_vae":
            scales["beta_kl"] = c.beta
        scales.update(reward=c.reward_scale, kl=c.kl_scale)
        if self.rssm_af is not None:
            scales["video_kl"] = c.kl_scale
        if self.teacher is not None:
            scales["distill"] = eta
        return scales

    def loss_terms(self, batch: dict[str, torch.Tensor]):
        """The world model's loss terms, unweighted, by name (:meth:`loss_scales` weighs them), their
        diagnostics, and the posterior states (released ``models.WorldModel._train``)."""
        c = self.config
        image = image_tensor(batch["image"])
        embedding, mean, logvar = self.embed(image)
        terms: dict[str, torch.Tensor] = {}
        metrics: dict[str, torch.Tensor] = {}
        video_kl = None
        if self.rssm_af is not None:
            post_af, prior_af = self.rssm_af.observe(embedding, None, sample=False)
            video_kl, video_kl_value = self.rssm_af.kl_loss(post_af, prior_af, c.kl_balance, c.kl_free)
            embedding = RSSM.feature(post_af)
            metrics["video_kl"] = video_kl_value.mean()
        post, prior = self.rssm.observe(embedding, batch["action"])
        kl, kl_value = self.rssm.kl_loss(post, prior, c.kl_balance, c.kl_free)
        feat = RSSM.feature(post)
        terms["image"] = gaussian_image_nll(self.decoder(feat), image)
        if mean is not None:
            terms["beta_kl"] = beta_vae_kl(mean, logvar).mean()
        reward_feat, reward_target = feat, batch["reward"]
        if self.intrinsic is not None:
            bonus = self.intrinsic(embedding.detach())  # [B, T - window + 1]
            steps = bonus.shape[1]
            reward_feat, reward_target = feat[:, :steps], reward_target[:, :steps] + c.intrinsic_beta * bonus
            metrics["intrinsic_bonus"] = bonus.mean()
        terms["reward"] = ScalarHead.nll(self.reward(reward_feat), reward_target).mean()
        terms["kl"] = kl
        if video_kl is not None:
            terms["video_kl"] = video_kl
        if self.teacher is not None:
            if c.teacher == "frozen":
                with torch.no_grad():
                    teacher_sample = self.teacher(image)[2]
            else:
                teacher_sample = self.teacher(image)[2]
            terms["distill"] = distillation_kl(embedding, teacher_sample)
        metrics["kl"] = kl_value.mean()
        return terms, metrics, {k: v.detach() for k, v in post.items()}

    def loss(self, batch: dict[str, torch.Tensor], eta: torch.Tensor | float = 0.0):
        """``(total loss, metrics, detached posterior states)``; ``eta``: the distillation weight the loop
        computed for this update (a device tensor on the eager and the graphed path alike)."""
        terms, metrics, post = self.loss_terms(batch)
        scales = self.loss_scales(eta)
        total = weighted_sum(terms, scales)
        # the records' names: the image loss includes the β-VAE constraint, the others are weighted terms
        metrics.update(image_nll=terms["image"], reward_loss=terms["reward"] * scales["reward"],
                       kl_loss=terms["kl"] * scales["kl"], model_loss=total)
        metrics["image_loss"] = terms["image"] + scales["beta_kl"] * terms["beta_kl"] if "beta_kl" in terms \
            else terms["image"]
        if "beta_kl" in terms:
            metrics["beta_vae_kl"] = terms["beta_kl"]
        if "video_kl" in terms:
            metrics["video_kl_loss"] = terms["video_kl"] * scales["video_kl"]
        if "distill" in terms:
            metrics.update(distillation_kl=terms["distill"], eta=eta)
        return total, metrics, post


