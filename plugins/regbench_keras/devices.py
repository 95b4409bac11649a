"""TensorFlow's device, and its accelerator memory, as regbench records them."""

from __future__ import annotations

from regbench_keras.backend import tf


def _gpu() -> str | None:
    return "GPU:0" if tf.config.list_physical_devices("GPU") else None


def name() -> str:
    """``cpu`` or ``cuda: <GPU name>``, as torch's methods record theirs."""
    gpu = _gpu()
    if gpu is None:
        return "cpu"
    details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
    return f"cuda: {details.get('device_name', gpu)}"


def reset_peak_memory() -> None:
    if _gpu() is not None:
        tf.config.experimental.reset_memory_stats(_gpu())


def peak_memory_mb() -> float | None:
    """Peak memory TensorFlow allocated on the GPU since the last reset, in MiB; None on the CPU
    (there, the worker process's peak RSS holds TensorFlow's memory)."""
    gpu = _gpu()
    return tf.config.experimental.get_memory_info(gpu)["peak"] / 2**20 if gpu is not None else None


def synchronize() -> None:
    """Wait for queued GPU work: eager TensorFlow results are complete once read back."""
    if _gpu() is not None:
        tf.test.experimental.sync_devices()
