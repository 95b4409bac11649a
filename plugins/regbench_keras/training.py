"""The Keras twin of :func:`regbench.learning.train`: the same batches
(:class:`regbench.learning.TrainingBatches`), the same loss (MSE + ``reg_weight`` ×
diffusion, VoxelMorph's ``Grad('l2')``), Adam at the profile's learning rate, in a
``tf.GradientTape`` loop. The moving image is warped with Keras'
``map_coordinates`` (linear, zeros outside), as regbench's own warp does."""

from __future__ import annotations

import numpy as np

from regbench import Dataset
from regbench.learning import (
    Profile,
    TrainingBatches,
    TrainingReport,
    make_validator,
    run_steps,
)
from regbench_keras import devices
from regbench_keras.backend import keras, tf


def warp(moving: tf.Tensor, flow: tf.Tensor) -> tf.Tensor:
    """``moving(x + flow(x))`` for channels-last batches ``(B, *S, 1)`` and ``(B, *S, ndim)``."""
    ndim = flow.shape[-1]
    axes = [tf.range(size, dtype=flow.dtype) for size in flow.shape[1:-1]]
    grid = tf.stack(tf.meshgrid(*axes, indexing="ij"))  # (ndim, *S)

    def one(pair: tuple[tf.Tensor, tf.Tensor]) -> tf.Tensor:
        image, field = pair
        coordinates = grid + tf.transpose(field, [ndim, *range(ndim)])
        return keras.ops.image.map_coordinates(image[..., 0], coordinates, order=1, fill_mode="constant")

    return tf.map_fn(one, (moving, flow), fn_output_signature=moving.dtype)[..., None]


def diffusion(flow: tf.Tensor) -> tf.Tensor:
    """Mean squared forward differences of the field, averaged over spatial axes."""
    ndim = flow.shape[-1]
    terms = [tf.reduce_mean(tf.square(tf.experimental.numpy.diff(flow, axis=axis))) for axis in range(1, ndim + 1)]
    return tf.add_n(terms) / ndim


def train(model: keras.Model, dataset: Dataset, train_ids: tuple[str, ...], *, validation_ids: tuple[str, ...] = (),
          profile: Profile, reg_weight: float, seed: int, progress: bool = False,
          description: str = "train") -> TrainingReport:
    """Train ``model`` (``[moving, fixed] -> flow``) unsupervised, validated and stopped,
    as the PyTorch trainer does."""
    ndim = len(dataset.spacing)
    batches = TrainingBatches(dataset, train_ids, profile.batch_for(ndim), seed)
    atlas = (np.broadcast_to(batches.atlas, (batches.batch_size, *batches.atlas.shape))[..., None]
             if batches.atlas is not None else None)
    optimizer = keras.optimizers.Adam(learning_rate=profile.lr)

    @tf.function
    def step(moving: tf.Tensor, fixed: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            flow = model([moving, fixed], training=True)
            loss = tf.reduce_mean(tf.square(fixed - warp(moving, flow))) + reg_weight * diffusion(flow)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss

    def run(moving: np.ndarray, fixed: np.ndarray | None) -> float:
        return float(step(tf.constant(moving[..., None]), tf.constant(atlas if fixed is None else fixed[..., None])))

    def predict(moving: np.ndarray, fixed: np.ndarray) -> np.ndarray:
        flow = model([tf.constant(moving[..., None]), tf.constant(fixed[..., None])], training=False)
        return np.moveaxis(flow.numpy(), -1, 1)

    best: dict[str, list[np.ndarray]] = {}
    validator = make_validator(dataset, validation_ids, profile, predict,
                               keep_best=lambda: best.update(weights=model.get_weights()),
                               restore_best=lambda: model.set_weights(best["weights"]) if best else None)
    devices.reset_peak_memory()
    steps = run_steps(run, batches, profile.total_steps(len(train_ids), ndim), progress=progress, description=description,
                      synchronize=devices.synchronize, validator=validator)
    return TrainingReport(seconds=steps.seconds, steps=len(steps.losses), losses=steps.losses, device=devices.name(),
                          peak_cuda_mb=devices.peak_memory_mb(), peak_rss_mb=steps.peak_rss_mb,
                          validation=steps.validation, stop=steps.stop, best_step=steps.best_step)
