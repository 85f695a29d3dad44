"""Stage 1: action-free β-VAE video model pretrained on distracting videos (DisWM Eq. 1-2).

Official ``pretrain_model.WorldModel``: β-VAE encoder -> RSSM fed zero actions (``pretrain_action_num``
inputs, the source task's action size) using the distribution *mean* for prior and posterior ->
β-VAE decoder from the RSSM feature. Loss: image NLL + KL balancing (β1 = 1) + β2 x KL(q(z|o) || N(0, I)).
Only the encoder is used later, as the distillation teacher.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from diswm.agents.optim import ClippedAdam
from diswm.agents.video import open_loop_strip, save_png
from diswm.agents.world_model import gaussian_image_nll
from diswm.checkpoint import config_differences, load_checkpoint, restore_rng_state, rng_state, save_checkpoint
from diswm.data import EpisodeReplay
from diswm.models import RSSM, BetaVAEDecoder, BetaVAEEncoder, ConvDecoder, ConvEncoder, RSSMConfig
from diswm.models.beta_vae import beta_vae_kl
from diswm.models.images import image_tensor
from diswm.scales import NETS, PRETRAIN


@dataclass(frozen=True)
class PretrainConfig:
    data_dir: str
    out_dir: str
    num_actions: int = 6  # official `pretrain_action_num` (the source task's), fed zeros
    image_model: str = "beta_vae"  # beta_vae (DisWM's teacher) | conv (DreamerV2 image model, for DV2 Finetune)
    cnn_depth: int = NETS["paper"].cnn_depth  # conv image model only (sizes default to the paper's)
    z_dim: int = 20
    encoder_widths: tuple[int, ...] = NETS["paper"].encoder_widths  # must match the finetuning teacher's
    decoder_widths: tuple[int, ...] = NETS["paper"].decoder_widths
    beta: float = 0.015  # β2
    kl_scale: float = 1.0  # β1
    kl_balance: float = 0.8
    kl_free: float = 1.0
    rssm: RSSMConfig = field(default_factory=RSSMConfig)
    batch_size: int = PRETRAIN["paper"].batch_size
    length: int = PRETRAIN["paper"].length
    updates: int = PRETRAIN["paper"].updates  # the released run: 10 x 2000 updates (its "1e6 steps" is a label)
    checkpoint_every: int = PRETRAIN["paper"].checkpoint_every
    lr: float = 3e-4
    eps: float = 1e-5
    grad_clip: float = 100.0
    seed: int = 0
    device: str = "cpu"
    compile: bool = False  # torch.compile the RSSM step functions (a GPU speed switch)
    dataset_sha256: str | None = None  # the videos' manifest hash: a run is never resumed on changed videos

    def validate(self) -> None:
        if self.updates < 1 or self.checkpoint_every < 1:
            raise ValueError("updates and checkpoint_every must be positive")
        if self.image_model not in ("beta_vae", "conv"):
            raise ValueError(f"image_model={self.image_model!r}; expected 'beta_vae' or 'conv'")
        if self.batch_size < 1 or self.length < 2:
            raise ValueError(f"batch_size >= 1 and length >= 2 needed, got {self.batch_size}, {self.length}")
        if self.z_dim < 1:
            raise ValueError(f"z_dim must be >= 1, got {self.z_dim}")


class VideoModel(nn.Module):
    def __init__(self, config: PretrainConfig):
        super().__init__()
        self.config = config
        if config.image_model == "beta_vae":
            self.encoder = BetaVAEEncoder(config.z_dim, widths=config.encoder_widths)
            embed = config.z_dim
        else:
            self.encoder = ConvEncoder(config.cnn_depth)
            embed = self.encoder.embed_size
        rssm = RSSMConfig(**{**asdict(config.rssm), "embed": embed, "num_actions": config.num_actions})
        self.rssm = RSSM(rssm)
        if config.image_model == "beta_vae":
            self.decoder = BetaVAEDecoder(self.rssm.feat_size, config.z_dim, widths=config.decoder_widths)
        else:
            self.decoder = ConvDecoder(self.rssm.feat_size, config.cnn_depth)

    def embed(self, image: torch.Tensor) -> torch.Tensor:
        return self.encoder(image)[2] if self.config.image_model == "beta_vae" else self.encoder(image)

    def loss(self, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        c = self.config
        image = image_tensor(images)
        if c.image_model == "beta_vae":
            mean, logvar, embedding = self.encoder(image)
        else:
            embedding = self.embed(image)
        post, prior = self.rssm.observe(embedding, None, sample=False)
        kl_loss, kl_value = self.rssm.kl_loss(post, prior, c.kl_balance, c.kl_free, c.kl_scale)
        image_nll = gaussian_image_nll(self.decoder(RSSM.feature(post)), image)
        total = image_nll + kl_loss
        terms = {"image_nll": image_nll, "kl_loss": kl_loss, "kl": kl_value.mean()}
        if c.image_model == "beta_vae":
            terms["beta_vae_kl"] = beta_vae_kl(mean, logvar).mean()
            total = total + c.beta * terms["beta_vae_kl"]
        return total, {"model_loss": total, **terms}


def pretrain(config: PretrainConfig, on_log: Callable[[int, dict[str, float]], None] | None = None,
             progress: bool = True, stop_after: int | None = None) -> dict[str, Any]:
    """Train (or resume) the video model; checkpoints in ``out_dir``. ``stop_after`` simulates an interrupt."""
    config.validate()
    out = Path(config.out_dir)
    replay = EpisodeReplay.from_directory(config.data_dir)
    if len(replay) == 0:
        raise ValueError(f"no episodes in {config.data_dir}; collect videos first (`diswm collect ...`)")
    for index, name in enumerate(replay.names):  # the encoders take 64 x 64 frames (paper §4, official size 64)
        height, width = replay.episode(index)["image"].shape[1:3]
        if (height, width) != (64, 64):
            raise ValueError(f"{Path(config.data_dir) / name}: frames are {height}x{width}, the video model takes "
                             "64x64; collect with size=64")
    torch.manual_seed(config.seed)
    generator = np.random.default_rng(config.seed)
    device = torch.device(config.device)
    model = VideoModel(config).to(device)
    if config.compile:
        model.rssm.compile_steps()
    optimizer = ClippedAdam(model.parameters(), config.lr, config.eps, config.grad_clip)
    start = 0
    latest = out / "latest.pt"
    if latest.exists():
        state = load_checkpoint(latest)
        differences = config_differences(state["config"], asdict(config))
        if any(d.startswith("dataset_sha256") for d in differences):
            raise ValueError(f"the videos in {config.data_dir} changed since {latest} was trained on them (their "
                             f"manifest's sha256 differs); move {out} away to pretrain on the new videos")
        if differences:
            raise ValueError(f"{latest} belongs to a run with other settings ({'; '.join(differences)}); "
                             "use another out_dir")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        restore_rng_state(state["rng"], generator)
        start = state["updates"]
    iterator = range(start, config.updates)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, initial=start, total=config.updates, desc="pretrain", unit="update")
    metrics: dict[str, float] = {}
    done = start
    for update in iterator:
        images = torch.as_tensor(replay.sample(config.batch_size, config.length, generator, keys=["image"])["image"],
                                 device=device)
        total, terms = model.loss(images)
        grad_norm = optimizer.step(total)
        metrics = {k: float(v.detach()) for k, v in terms.items()} | {"model_grad_norm": grad_norm}
        done = update + 1
        if on_log is not None:
            on_log(done, metrics)
        if done % config.checkpoint_every == 0 or done == config.updates:
            _save(out, model, optimizer, generator, config, done)
            _save_prediction(out / str(done) / "openl.png", model, replay)
        if stop_after is not None and done >= stop_after:
            break
    return {"updates": done, "metrics": metrics, "out_dir": str(out), "encoder": str(out / "encoder.pt")}


def _save_prediction(path: Path, model: VideoModel, replay: EpisodeReplay) -> None:
    """Open-loop prediction of up to 4 sequences from a fixed stream (leaves the training RNGs untouched)."""
    length = min(model.config.length, min(len(replay.episode(i)["image"]) for i in range(len(replay))))
    images = replay.sample(min(4, len(replay)), length, np.random.default_rng(0), keys=["image"])["image"]
    torch_state = torch.get_rng_state()
    device = next(model.parameters()).device
    try:
        images = image_tensor(torch.as_tensor(images, device=device))
        grid = open_loop_strip(model.embed, model.rssm, model.decoder, images, None, sample=False)
    finally:
        torch.set_rng_state(torch_state)
    save_png(path, grid)


def _save(out: Path, model: VideoModel, optimizer: ClippedAdam, generator, config: PretrainConfig,
          updates: int) -> None:
    """``<updates>/{encoder,decoder,rssm}.pt`` (official layout; at the end also in ``out_dir`` itself)
    plus a resumable ``latest.pt``."""
    folders = [out / str(updates)] + ([out] if updates == config.updates else [])
    for folder in folders:
        for name in ("encoder", "decoder", "rssm"):
            save_checkpoint(folder / f"{name}.pt", getattr(model, name).state_dict())
    save_checkpoint(out / "latest.pt", {
        "config": asdict(config), "updates": updates, "model": model.state_dict(),
        "optimizer": optimizer.state_dict(), "rng": rng_state(generator),
    })
