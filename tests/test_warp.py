"""regbench.measuring.warp against scipy.ndimage.map_coordinates, the field's reference sampler."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import smooth_field
from scipy.ndimage import gaussian_filter, map_coordinates

from regbench.measuring.warp import warp_image, warp_labels, warp_tensor

SHAPES = [(40, 48), (20, 24, 28)]


def reference(array: np.ndarray, displacement: np.ndarray, order: int) -> np.ndarray:
    """``warped(x) = array(x + u(x))``, samples outside reading 0 (interpolated up to the edge)."""
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in array.shape], indexing="ij"))
    return map_coordinates(array, grid + displacement, order=order, mode="grid-constant", cval=0)


@pytest.mark.parametrize("shape", SHAPES, ids=["2d", "3d"])
def test_linear_warp_matches_map_coordinates(shape, rng):
    image = gaussian_filter(rng.random(shape), 1.0)
    field = smooth_field(shape, seed=1, max_displacement=5.0)
    expected = reference(image, field, order=1)

    warped64 = warp_image(image, field)
    warped32 = warp_image(image.astype(np.float32), field.astype(np.float32))

    max_diff64 = np.abs(warped64 - expected).max()
    max_diff32 = np.abs(warped32 - expected).max()
    print(f"{len(shape)}D max |regbench - map_coordinates|: float64 {max_diff64:.2e}, float32 {max_diff32:.2e}")
    assert warped64.dtype == np.float64 and warped32.dtype == np.float32
    assert max_diff64 < 1e-10
    assert max_diff32 < 1e-5


@pytest.mark.parametrize("shape", SHAPES, ids=["2d", "3d"])
def test_label_warp_is_nearest_neighbour(shape, rng):
    labels = rng.integers(0, 40, size=shape).astype(np.int32)
    labels[0] = 2035  # a FreeSurfer-sized label id survives unchanged
    field = smooth_field(shape, seed=2, max_displacement=5.0)

    warped = warp_labels(labels, field)

    assert warped.dtype == labels.dtype
    np.testing.assert_array_equal(warped, reference(labels, field, order=0))


def test_integer_shift_by_hand():
    image = np.arange(20, dtype=np.float64).reshape(4, 5)
    field = np.zeros((2, 4, 5))
    field[1] = 1.0  # warped(i, j) = image(i, j + 1): the picture moves one column left
    expected = np.concatenate([image[:, 1:], np.zeros((4, 1))], axis=1)
    np.testing.assert_array_equal(warp_image(image, field), expected)


def test_half_voxel_shift_interpolates_linearly():
    image = np.array([[0.0, 10.0, 20.0]])
    field = np.stack([np.zeros((1, 3)), np.full((1, 3), 0.5)])
    np.testing.assert_allclose(warp_image(image, field), [[5.0, 15.0, 10.0]])  # last: halfway to the zero outside


def test_batched_tensor_warp_keeps_gradients():
    moving = torch.rand(2, 3, 16, 16)
    displacement = torch.zeros(2, 2, 16, 16, requires_grad=True)
    warped = warp_tensor(moving, displacement + 0.3)
    warped.sum().backward()
    assert warped.shape == moving.shape
    assert displacement.grad is not None and displacement.grad.abs().sum() > 0


def test_wrong_field_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"displacement must have shape \(2, 8, 8\)"):
        warp_image(np.zeros((8, 8)), np.zeros((2, 8, 9)))


def test_float_labels_are_refused():
    with pytest.raises(TypeError, match="integers"):
        warp_labels(np.zeros((4, 4)), np.zeros((2, 4, 4)))
