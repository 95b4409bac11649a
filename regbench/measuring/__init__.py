"""How a result is measured, the same for every method: warping, the metric
functions, devices and their timing, peak memory, the reference workload and the
environment recorded with every row.

Names are imported on first use, so ``regbench.measuring.metrics`` stays light while
the warp brings torch.
"""

from regbench.common.lazy import lazy_exports

_EXPORTS = {
    "warp_image": "regbench.measuring.warp",
    "warp_labels": "regbench.measuring.warp",
    "warp_tensor": "regbench.measuring.warp",
    "dice_per_label": "regbench.measuring.metrics",
    "hd95_per_label": "regbench.measuring.metrics",
    "jacobian_determinant": "regbench.measuring.metrics",
    "folding_percent": "regbench.measuring.metrics",
    "sd_log_jacobian": "regbench.measuring.metrics",
    "mean_squared_error": "regbench.measuring.metrics",
    "normalized_cross_correlation": "regbench.measuring.metrics",
    "mean_std": "regbench.measuring.metrics",
    "PeakRSS": "regbench.measuring.profiling",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
