"""``keras-vxm1`` and ``keras-vxm2``: the Keras twins of ``vxm1`` and ``vxm2``.

TensorFlow is imported when a method is prepared, not when the plugin is listed.
Weights are cached as ``.weights.h5`` under the same kind of key as the PyTorch
methods', by the same load-or-train routine (:class:`regbench.learning.CachedWeights`).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, ClassVar

import numpy as np
from regbench_methods.vxm import ENCODER, VXM1_DECODER, VXM2_DECODER

from regbench import Range, RegistrationResult, TrainingContext
from regbench.learning import DEFAULT_REG_WEIGHT, CachedWeights


def _devices() -> ModuleType:
    """The plugin's TensorFlow device module, imported only once a method runs."""
    from regbench_keras import devices  # noqa: PLC0415

    return devices


class KerasVxm(CachedWeights):
    decoder: ClassVar[tuple[int, ...]]
    weights_suffix = ".weights.h5"
    default_params: ClassVar[dict[str, Any]] = {
        "reg_weight": DEFAULT_REG_WEIGHT["mse"],  # σ of the diffusion term (loss: MSE + σ·diffusion, as the paper)
    }
    param_rules: ClassVar[dict[str, Any]] = {"reg_weight": Range(at_least=0)}

    def __init__(self, *, seed: int = 0, **params: Any) -> None:
        super().__init__(seed=seed, **params)
        self.model: Any = None
        self._forward: Any = None

    @classmethod
    def code_modules(cls) -> tuple[str, ...]:
        return (*super().code_modules(), "regbench_keras.network", "regbench_keras.training",
                "regbench.learning.batches", "regbench_methods.vxm")

    @property
    def device(self) -> str:
        return _devices().name()

    @property
    def parameter_count(self) -> int | None:
        return None if self.model is None else int(self.model.count_params())

    def reset_peak_memory(self) -> None:
        _devices().reset_peak_memory()

    def peak_memory_mb(self) -> float | None:
        return _devices().peak_memory_mb()

    def synchronize(self) -> None:
        _devices().synchronize()

    def prepare(self, context: TrainingContext) -> None:
        from regbench_keras import network, training  # noqa: PLC0415
        from regbench_keras.backend import keras, tf  # noqa: PLC0415

        shape = self.image_shape(context)
        keras.utils.set_random_seed(self.seed)
        tf.config.experimental.enable_op_determinism()
        self.model = network.vxm_model(len(shape), ENCODER, self.decoder)
        # One traced graph for registration, not eager layer-by-layer calls.
        self._forward = tf.function(lambda moving, fixed: self.model([moving, fixed], training=False))
        self.load_or_train(
            context,
            load=self.model.load_weights,
            train=lambda: training.train(self.model, context.dataset, context.train_ids,
                                         validation_ids=context.validation_ids, profile=context.profile,
                                         reg_weight=self.params["reg_weight"], seed=self.seed,
                                         progress=context.progress, description=f"train {self.name}"),
            save=self.model.save_weights,
        )

    def register(self, fixed: np.ndarray, moving: np.ndarray) -> RegistrationResult:
        if self.model is None:
            raise RuntimeError(f"method {self.name!r} must be prepared (trained) before it registers")
        batch = lambda image: np.ascontiguousarray(image, np.float32)[None, ..., None]  # noqa: E731
        flow = self._forward(batch(moving), batch(fixed)).numpy()[0]
        return RegistrationResult(np.moveaxis(flow, -1, 0))


class KerasVxm1(KerasVxm):
    name = "keras-vxm1"
    description = "VoxelMorph Vxm-1 in TensorFlow/Keras (the twin of vxm1)"
    decoder = VXM1_DECODER


class KerasVxm2(KerasVxm):
    name = "keras-vxm2"
    description = "VoxelMorph Vxm-2 in TensorFlow/Keras (the twin of vxm2)"
    decoder = VXM2_DECODER
