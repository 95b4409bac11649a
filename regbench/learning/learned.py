"""Base class for PyTorch learning methods: train once through the shared trainer,
cache the weights, then register pairs with one forward pass.

A subclass only builds its network (:meth:`LearnedMethod.build_network`): a module
taking ``(moving, fixed)`` batches ``(B, 1, *spatial)`` and returning the
displacement ``(B, ndim, *spatial)`` in regbench's convention. Weights are loaded with
``torch.load(..., weights_only=True)``, which cannot run code from the file.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from regbench.learning import trainer
from regbench.learning.weights import CachedWeights
from regbench.measuring import devices
from regbench.plugin.method import RegistrationResult, TrainingContext


class LearnedMethod(CachedWeights):
    """A network trained by :func:`regbench.learning.trainer.train`."""

    default_params: ClassVar[dict[str, Any]] = {
        "similarity": "mse",  # or "ncc" (window 9)
        "reg_weight": "auto",  # σ of the diffusion term; auto: VoxelMorph's for the similarity
    }

    def __init__(self, *, seed: int = 0, **params: Any) -> None:
        super().__init__(seed=seed, **params)
        self._device = devices.pick_device()
        self.network: nn.Module | None = None

    @classmethod
    def resolve_params(cls, given: Mapping[str, Any]) -> dict[str, Any]:
        """As :meth:`Method.resolve_params`, with the similarity checked and ``reg_weight``
        a number: ``auto`` becomes VoxelMorph's recommendation for the similarity
        (0.01 with MSE, 1.0 with NCC)."""
        params = super().resolve_params(given)
        similarity = params["similarity"]
        if similarity not in trainer.DEFAULT_REG_WEIGHT:
            raise ValueError(f"method {cls.name!r}: similarity must be one of "
                             f"{', '.join(trainer.DEFAULT_REG_WEIGHT)}, got {similarity!r}")
        weight = params["reg_weight"]
        if weight == "auto":
            params["reg_weight"] = trainer.DEFAULT_REG_WEIGHT[similarity]
        else:
            try:
                params["reg_weight"] = float(weight)
            except ValueError:
                raise ValueError(f"method {cls.name!r}: reg_weight expects a number or 'auto', got {weight!r}") from None
        return params

    @classmethod
    def code_modules(cls) -> tuple[str, ...]:
        return (*super().code_modules(), trainer.__name__)

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
        network = self.network = self.build_network(len(shape)).to(self._device)
        self.load_or_train(
            context,
            load=lambda path: network.load_state_dict(torch.load(path, map_location=self._device, weights_only=True)),
            train=lambda: trainer.train(network, context.dataset, context.train_ids,
                                        validation_ids=context.validation_ids, profile=context.profile,
                                        similarity=self.params["similarity"], reg_weight=self.params["reg_weight"],
                                        seed=self.seed, device=self._device, progress=context.progress,
                                        description=f"train {self.name}"),
            save=lambda path: torch.save(network.state_dict(), path),
        )
        network.eval()

    def register(self, fixed: np.ndarray, moving: np.ndarray) -> RegistrationResult:
        if self.network is None:
            raise RuntimeError(f"method {self.name!r} must be prepared (trained) before it registers")
        to_batch = lambda image: torch.from_numpy(np.ascontiguousarray(image, np.float32))[None, None].to(self._device)  # noqa: E731
        with torch.inference_mode():
            displacement = self.network(to_batch(moving), to_batch(fixed))
        return RegistrationResult(displacement[0].float().cpu().numpy())
