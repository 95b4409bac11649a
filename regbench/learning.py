"""Base class for learning-based methods: train once through the shared trainer,
cache the weights, then register pairs with one forward pass.

A subclass only builds its network (:meth:`LearnedMethod.build_network`): a module
taking ``(moving, fixed)`` batches ``(B, 1, *spatial)`` and returning the
displacement ``(B, ndim, *spatial)`` in regbench's convention.

Weights are cached under a key made of the method, its parameters, the dataset and
its options, the training profile, the seed and a hash of the code that defines the
network and the training, so changing any of them trains again. They are loaded
with ``torch.load(..., weights_only=True)``, which cannot run code from the file.
"""

from __future__ import annotations

import abc
import dataclasses
import json
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from regbench import devices, training
from regbench.atomic import atomic_write, atomic_write_text
from regbench.method import RegistrationResult, TrainingContext
from regbench.weights import CachedWeights


class LearnedMethod(CachedWeights):
    """A network trained by :func:`regbench.training.train`."""

    default_params: ClassVar[dict[str, Any]] = {
        "similarity": "mse",  # or "ncc" (window 9)
        "reg_weight": 0.01,  # σ of the diffusion term; VoxelMorph recommends 1.0 with ncc
    }

    def __init__(self, *, seed: int = 0, **params: Any) -> None:
        super().__init__(seed=seed, **params)
        self._device = devices.pick_device()
        self.network: nn.Module | None = None

    @classmethod
    def code_modules(cls) -> tuple[str, ...]:
        return (*super().code_modules(), training.__name__)

    @abc.abstractmethod
    def build_network(self, ndim: int) -> nn.Module:
        """The untrained network for images with ``ndim`` spatial axes."""

    @property
    def device(self) -> str:
        return devices.device_name(self._device)

    @property
    def parameter_count(self) -> int | None:
        if self.network is None:
            return None
        return sum(p.numel() for p in self.network.parameters())

    def prepare(self, context: TrainingContext) -> None:
        shape = self.image_shape(context)
        torch.manual_seed(self.seed)
        self.network = self.build_network(len(shape)).to(self._device)
        stem = self.weights_stem(context)
        weights, report_file = stem.with_suffix(".pt"), stem.with_suffix(".json")
        if weights.is_file() and report_file.is_file():
            state = torch.load(weights, map_location=self._device, weights_only=True)
            self.network.load_state_dict(state)
            self.training = training.TrainingReport(**{**json.loads(report_file.read_text()), "cached": True})
        else:
            self.training = training.train(
                self.network,
                context.dataset,
                context.train_ids,
                profile=context.profile,
                similarity=self.params["similarity"],
                reg_weight=self.params["reg_weight"],
                seed=self.seed,
                device=self._device,
                progress=context.progress,
                description=f"train {self.name}",
            )
            weights.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(weights, lambda path: torch.save(self.network.state_dict(), path))
            atomic_write_text(report_file, json.dumps(dataclasses.asdict(self.training)))
        self.network.eval()

    def register(self, fixed: np.ndarray, moving: np.ndarray) -> RegistrationResult:
        if self.network is None:
            raise RuntimeError(f"method {self.name!r} must be prepared (trained) before it registers")
        to_batch = lambda image: torch.from_numpy(np.ascontiguousarray(image, np.float32))[None, None].to(self._device)  # noqa: E731
        with torch.inference_mode():
            displacement = self.network(to_batch(moving), to_batch(fixed))
        return RegistrationResult(displacement[0].float().cpu().numpy())
