"""One training update (world model, then behaviour) replayed as a single CUDA graph.

On a GPU an update is bound by kernel launches, not arithmetic (bench/results/cuda_h200_*: ~40 ms of
GPU work behind 6-9k launches). Capturing the whole update once and replaying it launches it as one
graph. The computation is the eager one (:meth:`WorldModelLearner.update_tensors` then
:meth:`BehaviorLearner.update_tensors`), with three adaptations that keep it capturable:

* the batch is copied into static input tensors before each replay;
* η, a device tensor on both paths, is a static tensor here, filled before each replay;
* the optimisers keep their step counts on the device (Adam ``capturable``), and the slow critic is
  refreshed on the host before the replay.

The first ``warmup`` updates run eagerly on a side stream (they are real updates, and they create the
optimiser state); the next one captures the graph and replays it. Random draws come from PyTorch's CUDA
generator, which the graph advances on every replay.
"""

from __future__ import annotations

import torch

from diswm.training.learners import BehaviorLearner, WorldModelLearner


class GraphedUpdate:
    def __init__(self, learner: WorldModelLearner, behavior: BehaviorLearner, warmup: int = 3):
        model = learner.model
        device = next(model.parameters()).device
        if device.type != "cuda":
            raise ValueError(f"CUDA graphs need the model on a CUDA device, not {device}")
        if model.rssm_af is not None:
            raise ValueError("CUDA graphs do not support APV's stacked model (its intrinsic bonus keeps host state)")
        self._optimizers = (learner.optimizer, behavior.actor_opt, behavior.critic_opt)
        if not all(group.get("capturable") for opt in self._optimizers for group in opt.optimizer.param_groups):
            raise ValueError("build the learner and the actor-critic with capturable=True for CUDA graphs")
        self.learner, self.behavior, self.warmup = learner, behavior, max(1, warmup)
        self.device = device
        self.eager_updates = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self._inputs: dict[str, torch.Tensor] = {}
        self._eta = torch.zeros((), device=device)
        self._outputs: dict[str, torch.Tensor] = {}

    def _update(self, batch: dict[str, torch.Tensor], eta: torch.Tensor) -> dict[str, torch.Tensor]:
        world, post = self.learner.update_tensors(batch, eta)
        behaviour = self.behavior.update_tensors(self.learner.model.rssm, self.learner.model.reward, post)
        return {k: v for k, v in (world | behaviour).items() if torch.is_tensor(v)}

    def __call__(self, batch: dict[str, torch.Tensor], eta: float) -> dict[str, float]:
        """One update on ``batch`` with distillation weight ``eta``; returns the metrics, as the eager updates do."""
        self.behavior.behavior.refresh_slow_critic()
        if self.graph is None and self.eager_updates < self.warmup:
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                self._eta.fill_(eta)
                outputs = self._update(batch, self._eta)
            torch.cuda.current_stream(self.device).wait_stream(side)
            self.eager_updates += 1
            return self._read(outputs, eta)
        if self.graph is None:
            self._inputs = {k: v.clone() for k, v in batch.items()}
            for optimizer in self._optimizers:
                optimizer.optimizer.zero_grad(set_to_none=True)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self._outputs = self._update(self._inputs, self._eta)
        for key, value in batch.items():
            self._inputs[key].copy_(value, non_blocking=True)
        self._eta.fill_(eta)
        self.graph.replay()
        return self._read(self._outputs, eta)

    @staticmethod
    def _read(outputs: dict[str, torch.Tensor], weight: float) -> dict[str, float]:
        values = torch.stack([v.float().reshape(()) for v in outputs.values()]).tolist()  # one host read
        metrics = dict(zip(outputs, values, strict=True))
        if "eta" in metrics:
            metrics["eta"] = weight
        return metrics
