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


def _adversarial_field(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Samples on exact half-voxel ties, on and just beside the image's edges (0, n-1,
    -0.5, n-0.5, one float64 step either side), and anywhere else, in every axis."""
    identity = np.indices(shape, dtype=np.float64)
    edges = [np.array([0, n - 1, -0.5, n - 0.5, -1e-12, n - 1 + 1e-12, -0.5 + 1e-12, n - 0.5 - 1e-12])
             for n in shape]
    positions = []
    for axis, n in enumerate(shape):
        kind = rng.integers(0, 3, shape)
        ties = rng.integers(-2, n + 1, shape) + 0.5
        edge = rng.choice(edges[axis], shape)
        anywhere = rng.uniform(-2, n + 1, shape)
        positions.append(np.choose(kind, [ties, edge, anywhere]))
    return np.stack(positions) - identity


@pytest.mark.parametrize("shape", [(7, 8), (160, 9), (5, 6, 7)], ids=["2d-odd-even", "2d-160", "3d"])
def test_label_rules_on_ties_and_edges(shape, rng):
    """Learn2Reg's rule equals its oracle, map_coordinates(order=0, mode='constant'), on every
    sample; the common rule rounds the exact position, halves to even, and keeps a sample
    up to half a voxel outside on the edge voxel (by hand, with numpy's rint)."""
    seg = rng.integers(1, 60, size=shape).astype(np.int16)
    field = _adversarial_field(shape, rng)
    positions = np.indices(shape) + field
    np.testing.assert_array_equal(warp_labels(seg, field, rule="learn2reg"),
                                  map_coordinates(seg, positions, order=0, mode="constant", cval=0))
    index = np.rint(positions).astype(np.int64)  # halves to even
    inside = np.all([(index[axis] >= 0) & (index[axis] < n) for axis, n in enumerate(shape)], axis=0)
    clipped = tuple(np.clip(index[axis], 0, n - 1) for axis, n in enumerate(shape))
    warped = warp_labels(seg, field)
    assert warped.dtype == seg.dtype
    np.testing.assert_array_equal(warped, np.where(inside, seg[clipped], 0))


def test_ties_by_hand():
    seg = np.array([[10, 11, 12, 13, 14, 15]], dtype=np.int32)
    field = np.zeros((2, *seg.shape))
    field[1] = [-0.5, 0.5, -1.5, 2.5, -0.5, 0.5]  # positions -0.5, 1.5, 0.5, 5.5, 3.5, 5.5
    assert warp_labels(seg, field).tolist() == [[10, 12, 10, 0, 14, 0]]  # halves to even; 5.5 -> 6 is outside
    assert warp_labels(seg, field, rule="learn2reg").tolist() == [[0, 12, 11, 0, 14, 0]]  # halves up; 0 off [0, 5]
