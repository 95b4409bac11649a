"""Base class for PyTorch learning methods: train once through the shared trainer,
cache the weights, then register pairs with one forward pass.

A subclass only builds its network (:meth:`LearnedMethod.build_network`): a module
taking ``(moving, fixed)`` batches ``(B, 1, *spatial)`` and returning the
displacement ``(B, ndim, *spatial)`` in regbench's convention. Weights are loaded with
``torch.load(..., weights_only=True)``, which cannot run code from the file.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, cast

import numpy as np
import torch
from torch import nn

from regbench.data.synthesis import SynthesisedImages
from regbench.learning import memory, trainer
from regbench.learning.weights import CachedWeights
from regbench.measuring import devices
from regbench.plugin.dataset import Dataset
from regbench.plugin.method import RegistrationResult, TrainingContext
from regbench.plugin.options import Choices, Range, check_rule

TRAIN_IMAGES = ("data", "synth")  # the values of the train_images parameter


class LearnedMethod(CachedWeights):
    """A network trained by :func:`regbench.learning.trainer.train`."""

    default_params: ClassVar[dict[str, Any]] = {
        "similarity": "mse",  # or "ncc" (window 9)
        "reg_weight": "auto",  # σ of the diffusion term; auto: VoxelMorph's for the similarity
        "precision": "fp32",  # or bf16, fp16 (CUDA), auto: mixed precision (regbench.learning.memory)
        "checkpointing": False,  # recompute activations in the backward pass: less memory, more time
        # data: the training subjects' images; synth: images synthesised from their label maps
        # (SynthMorph-style, regbench.data.synthesis), so the network never sees a real intensity
        "train_images": "data",
    }
    param_rules: ClassVar[dict[str, Any]] = {"similarity": Choices(*trainer.DEFAULT_REG_WEIGHT),
                                             "precision": Choices(*memory.PRECISIONS, memory.AUTO),
                                             "train_images": Choices(*TRAIN_IMAGES)}

    def __init__(self, *, seed: int = 0, **params: Any) -> None:
        super().__init__(seed=seed, **params)
        self._device = devices.pick_device()
        self.network: nn.Module | None = None

    @classmethod
    def resolve_params(cls, given: Mapping[str, Any]) -> dict[str, Any]:
        """As :meth:`Method.resolve_params`, with ``reg_weight`` a number (``auto``
        becomes VoxelMorph's recommendation for the similarity: 0.01 with MSE, 1.0 with NCC)
        and ``precision`` concrete (``auto`` becomes bf16 or fp32 for this machine's device,
        :func:`regbench.learning.memory.resolve_precision`), so that both are in the keys
        and rows as they ran."""
        params = super().resolve_params(given)
        params["precision"] = memory.resolve_precision(params["precision"], devices.pick_device())
        similarity = params["similarity"]
        weight = params["reg_weight"]
        if weight == "auto":
            params["reg_weight"] = trainer.DEFAULT_REG_WEIGHT[similarity]
        else:
            try:
                params["reg_weight"] = float(weight)
            except ValueError:
                raise ValueError(f"method {cls.name!r}: reg_weight expects a number or 'auto', got {weight!r}") from None
            check_rule(f"method {cls.name!r}", "reg_weight", params["reg_weight"], Range(at_least=0))
        return params

    @classmethod
    def code_modules(cls) -> tuple[str, ...]:
        return (*super().code_modules(), trainer.__name__)

    @abc.abstractmethod
    def build_network(self, ndim: int) -> nn.Module:
        """The untrained network for images with ``ndim`` spatial axes."""

    def checkpoint_blocks(self, network: nn.Module) -> list[nn.Module]:
        """The blocks ``checkpointing=true`` recomputes (default:
        :func:`regbench.learning.memory.checkpoint_blocks`); override for another layout."""
        return memory.checkpoint_blocks(network)

    def _reduce_with(self) -> list[str]:
        """This method's settings that would lower its memory, for out-of-memory messages."""
        hints = []
        if self.params["precision"] == "fp32":
            hints.append(f"--param {self.name}.precision=bf16")
        if not self.params["checkpointing"]:
            hints.append(f"--param {self.name}.checkpointing=true")
        return hints

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
        memory.check_precision(self.params["precision"], self._device)
        torch.manual_seed(self.seed)
        network = self.network = self.build_network(len(shape)).to(self._device)
        if self.params["checkpointing"]:
            memory.use_checkpointing(self.checkpoint_blocks(network))
        self.load_or_train(
            context,
            load=lambda path: network.load_state_dict(torch.load(path, map_location=self._device, weights_only=True)),
            train=lambda: trainer.train(network, self._training_data(context), context.train_ids,
                                        validation_ids=context.validation_ids, profile=context.profile,
                                        similarity=self.params["similarity"], reg_weight=self.params["reg_weight"],
                                        seed=self.seed, device=self._device, precision=self.params["precision"],
                                        progress=context.progress, log_every=context.log_every,
                                        description=f"train {self.name}",
                                        reduce_with=self._reduce_with()),
            save=lambda path: torch.save(network.state_dict(), path),
        )
        network.eval()

    def _training_data(self, context: TrainingContext) -> Dataset:
        """The dataset to train (and validate) on: the context's, or with ``train_images=synth``
        its subjects' label maps as synthesised images (seeded by the method's seed)."""
        if self.params["train_images"] == "synth":
            return cast(Dataset, SynthesisedImages(context.dataset, self.seed))
        return context.dataset

    def register(self, fixed: np.ndarray, moving: np.ndarray) -> RegistrationResult:
        return self.register_batch(fixed, [moving])[0]

    def register_batch(self, fixed: np.ndarray, movings: Sequence[np.ndarray]) -> list[RegistrationResult]:
        """Register every image of ``movings`` onto ``fixed`` in one forward pass: the
        fields :meth:`register` gives one by one (up to the last bits of float order)."""
        if self.network is None:
            raise RuntimeError(f"method {self.name!r} must be prepared (trained) before it registers")
        to_batch = lambda images: torch.from_numpy(np.ascontiguousarray(images, np.float32))[:, None].to(self._device)  # noqa: E731
        moving = to_batch(np.stack(movings))
        hints = [hint for hint in self._reduce_with() if "precision" in hint] + ["fewer images per batch"]
        with (memory.reported_as_out_of_memory(doing=f"while {self.name} registered {len(movings)} image(s) of "
                                                     f"{'×'.join(map(str, fixed.shape))}",
                                               device=self._device, reduce_with=hints),
              torch.inference_mode(), memory.autocast(self._device, self.params["precision"])):
            displacement = self.network(moving, to_batch(fixed[None]).expand_as(moving))
        fields = displacement.float().cpu().numpy()
        return [RegistrationResult(field) for field in fields]
