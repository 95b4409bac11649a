"""NDV (Liu et al. 2024, as LUMIR scores it) against a slow geometric oracle
(``ndv_reference``), hand-computed cases, the authors' own published 2D example, and
the central-difference folding it is meant to improve on."""

from __future__ import annotations

import ndv_reference as reference
import numpy as np
import pytest
import torch
from conftest import smooth_field
from regbench_metrics.ndv import Ndv, regbench_register_metrics

from regbench.measuring import diffeomorphism
from regbench.measuring.diffeomorphism import (
    NonDiffeomorphicVolume,
    non_diffeomorphic_volume,
    simplex_jacobian_determinants,
)
from regbench.measuring.metrics import folding_percent, jacobian_determinant
from regbench.plugin.dataset import Subject
from regbench.plugin.metric import PairOutcome

SHAPES = {"2d": (12, 14), "3d": (8, 9, 10)}


def rough_field(shape: tuple[int, ...], seed: int, scale: float = 0.6) -> np.ndarray:
    """Independent noise per voxel: folds everywhere, of every kind."""
    return np.random.default_rng(seed).normal(0.0, scale, size=(len(shape), *shape))


def grid(shape: tuple[int, ...]) -> np.ndarray:
    return np.stack(np.meshgrid(*(np.arange(n, dtype=float) for n in shape), indexing="ij"))


def assert_matches_reference(u: np.ndarray, border: str = "crop", mask: np.ndarray | None = None) -> None:
    ours = non_diffeomorphic_volume(u, mask=mask, border=border)
    theirs = reference.ndv(u, mask=mask, border=border)
    np.testing.assert_allclose(ours.volume, theirs["volume"], rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(ours.percent, theirs["percent"], rtol=1e-12, atol=1e-13)
    assert ours.voxels == theirs["voxels"]
    assert ours.scored_voxels == theirs["scored"]
    dets, expected = simplex_jacobian_determinants(u, border=border), reference.jacobians(u, border)
    assert dets.keys() == expected.keys()
    for key in dets:
        np.testing.assert_allclose(dets[key], expected[key], rtol=1e-12, atol=1e-12, err_msg=key)


# --- (a) the reference -----------------------------------------------------------------

@pytest.mark.parametrize("dims", ["2d", "3d"])
@pytest.mark.parametrize("border", ["crop", "replicate"])
def test_smooth_fields_match_reference(dims, border):
    u = smooth_field(SHAPES[dims], seed=3, max_displacement=4.0)
    assert_matches_reference(u, border)
    assert non_diffeomorphic_volume(u, border=border).volume > 0  # folds, so the comparison means something


@pytest.mark.parametrize("dims", ["2d", "3d"])
@pytest.mark.parametrize("border", ["crop", "replicate"])
def test_rough_fields_match_reference(dims, border):
    u = rough_field(SHAPES[dims], seed=7)
    assert_matches_reference(u, border)
    result = non_diffeomorphic_volume(u, border=border)
    assert result.volume > 0 and result.voxels > 0


@pytest.mark.parametrize("dims", ["2d", "3d"])
def test_mask_matches_reference(dims):
    shape = SHAPES[dims]
    mask = np.random.default_rng(11).random(shape) < 0.6
    assert_matches_reference(rough_field(shape, seed=5), mask=mask)


def test_float32_field_is_measured_in_float64():
    u = rough_field(SHAPES["3d"], seed=2).astype(np.float32)
    theirs = reference.ndv(u.astype(np.float64))
    np.testing.assert_allclose(non_diffeomorphic_volume(u).volume, theirs["volume"], rtol=1e-12)


def test_slabs_add_up(monkeypatch):
    """The slab loop (one row at a time here) gives what one slab gives."""
    u = rough_field((9, 8, 7), seed=4)
    whole = non_diffeomorphic_volume(u)
    monkeypatch.setattr(diffeomorphism, "_SLAB_VOXELS", 1)
    sliced = non_diffeomorphic_volume(u)
    np.testing.assert_allclose(sliced.volume, whole.volume, rtol=1e-12)
    assert sliced.voxels == whole.voxels


# --- (b) by hand ----------------------------------------------------------------------

@pytest.mark.parametrize("dims", ["2d", "3d"])
def test_identity_has_no_ndv(dims):
    shape = SHAPES[dims]
    result = non_diffeomorphic_volume(np.zeros((len(shape), *shape)))
    interior = int(np.prod([n - 2 for n in shape]))
    assert result == NonDiffeomorphicVolume(volume=0.0, percent=0.0, voxels=0, scored_voxels=interior)
    for det in simplex_jacobian_determinants(np.zeros((len(shape), *shape))).values():
        np.testing.assert_array_equal(det, 1.0)


@pytest.mark.parametrize("dims", ["2d", "3d"])
def test_affine_with_positive_determinant_has_no_ndv(dims):
    shape = SHAPES[dims]
    ndim = len(shape)
    matrix = {2: np.array([[0.7, 0.6], [-0.3, 1.4]]), 3: np.array([[0.9, 0.5, 0.0], [-0.2, 1.3, 0.4],
                                                                    [0.3, 0.0, 0.6]])}[ndim]
    x = grid(shape)
    u = np.einsum("ck,k...->c...", matrix - np.eye(ndim), x) + np.arange(1, ndim + 1).reshape((ndim,) + (1,) * ndim)
    # an affine map is linear on every simplex: each one's Jacobian is det A
    for det in simplex_jacobian_determinants(u).values():
        np.testing.assert_allclose(det, np.linalg.det(matrix), rtol=1e-12)
    result = non_diffeomorphic_volume(u)
    assert result.volume == 0.0 and result.voxels == 0


@pytest.mark.parametrize("dims", ["2d", "3d"])
def test_reflection_is_all_non_diffeomorphic(dims):
    shape = SHAPES[dims]
    u = np.zeros((len(shape), *shape))
    u[0] = -2.0 * grid(shape)[0]  # phi_0(x) = -x_0: every simplex has J = -1
    result = non_diffeomorphic_volume(u)
    interior = int(np.prod([n - 2 for n in shape]))
    # per voxel: 1/2 * (sum of the simplices' volumes, 2 cells' worth) * 1 = 1 voxel volume
    assert result.percent == pytest.approx(100.0, rel=1e-12)
    assert result.volume == pytest.approx(interior, rel=1e-12)
    assert result.voxels == interior == result.scored_voxels


def test_local_fold_2d_by_hand():
    # 5x5, only the centre p = (2, 2) moves, by a = 2.5 along axis 1, past its neighbour
    # p + e1. phi(p) - phi(p - s e0) = (s, a): the triangles at p with a forward step on
    # axis 1 have J = det[(1, -s0 a), (0, 1 - a)] = 1 - a (s0 = ±: 2 of them); at p + e1
    # the two with a backward step on axis 1 reach p: J = det[(1, 0), (0, 1 - a)] = 1 - a.
    # Every other triangle keeps J > 0. NDV = 1/2 * 4 triangles * (1/2) * (a - 1) = 1.5
    # pixels of the 3x3 = 9 scored. Central differences: only at p + e1, where the axis-1
    # column is (phi(p + 2e1) - phi(p)) / 2 = (0, (2 - a) / 2) = (0, -0.25): 1 voxel.
    u = np.zeros((2, 5, 5))
    u[1, 2, 2] = 2.5
    result = non_diffeomorphic_volume(u)
    assert result.volume == pytest.approx(1.5, rel=1e-12)
    assert result.percent == pytest.approx(100 * 1.5 / 9, rel=1e-12)
    assert result.voxels == 1 and result.scored_voxels == 9
    dets = simplex_jacobian_determinants(u)
    assert dets["++"][1, 1] == dets["-+"][1, 1] == dets["+-"][1, 2] == dets["--"][1, 2] == -1.5


def test_local_fold_3d_by_hand():
    # 5x5x5, only p = (2, 2, 2) moves, by a = 2.5 along axis 2. Corner tetrahedra: at p with
    # a forward step on axis 2 (4 of them) and at p + e2 with a backward one (4) have
    # J = 1 - a = -1.5 (the matrix is triangular with that on its diagonal): 8 * 1/2 * 1/6
    # * 1.5 = 1. Central tetrahedra: moving a vertex by a e2 changes J by a * n_z * A with A
    # the opposite face's area (sqrt(3)/2) and n_z = ∓1/sqrt(3): J = 1 - a/2 = -0.25 for
    # the 4 of them lying above p (in the 4 cubes above it): 4 * 1/2 * 1/3 * 0.25 = 1/6.
    # NDV = 7/6 of the 27 scored voxels; central differences fold only at p + e2
    # ((phi(p + 2e2) - phi(p)) / 2 = (2 - a) / 2 < 0 on the diagonal): 1 voxel.
    u = np.zeros((3, 5, 5, 5))
    u[2, 2, 2, 2] = 2.5
    result = non_diffeomorphic_volume(u)
    assert result.volume == pytest.approx(7 / 6, rel=1e-12)
    assert result.percent == pytest.approx(100 * 7 / 6 / 27, rel=1e-12)
    assert result.voxels == 1 and result.scored_voxels == 27
    dets = simplex_jacobian_determinants(u)
    assert sum(int((det < 0).sum()) for key, det in dets.items() if "*" not in key) == 8
    assert sum(int((det < 0).sum()) for key, det in dets.items() if "*" in key) == 4


def test_authors_published_2d_example():
    """Liu et al.'s package's own test (tests/test_nda.py): the 3x3 identity with the
    centre moved to (0, 2), edge-padded ("replicate"); its expected Jacobians and its
    non-diffeomorphic area 1/4 (J = -1 on one triangle: 1/2 * 1/2 * 1)."""
    u = np.zeros((2, 3, 3))
    u[:, 1, 1] = (0 - 1, 2 - 1)
    dets = simplex_jacobian_determinants(u, border="replicate")
    np.testing.assert_array_equal(dets["++"], [[1, 0, 1], [2, 1, 1], [1, 1, 1]])
    np.testing.assert_array_equal(dets["+-"], [[1, 0, 1], [1, 3, 0], [1, 1, 1]])
    np.testing.assert_array_equal(dets["-+"], [[1, 1, 1], [2, -1, 1], [1, 2, 1]])
    np.testing.assert_array_equal(dets["--"], [[1, 1, 1], [1, 1, 0], [1, 2, 1]])
    result = non_diffeomorphic_volume(u, border="replicate")
    assert result.volume == 0.25 and result.percent == pytest.approx(25 / 9, rel=1e-12)
    assert result.voxels == 0  # their central-difference dets: [[1, .5, 1], [1.5, 1, .5], [1, 1.5, 1]]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="shape"):
        non_diffeomorphic_volume(np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match="at least 3"):
        non_diffeomorphic_volume(np.zeros((2, 2, 5)))
    with pytest.raises(ValueError, match="border"):
        non_diffeomorphic_volume(np.zeros((2, 5, 5)), border="wrap")
    with pytest.raises(ValueError, match="mask shape"):
        non_diffeomorphic_volume(np.zeros((2, 5, 5)), mask=np.ones((4, 5)))


# --- (c) against central differences ---------------------------------------------------

@pytest.mark.parametrize("dims", ["2d", "3d"])
def test_smooth_field_neither_folds(dims):
    u = smooth_field(SHAPES[dims], seed=1, max_displacement=1.0)
    assert folding_percent(jacobian_determinant(torch.as_tensor(u))) == 0.0
    result = non_diffeomorphic_volume(u)
    assert result.volume == 0.0 and result.voxels == 0


@pytest.mark.parametrize("dims", ["2d", "3d"])
def test_voxel_count_is_central_difference_folding_inside(dims):
    u = rough_field(SHAPES[dims], seed=9)
    central = jacobian_determinant(torch.as_tensor(u)).numpy()[(slice(1, -1),) * u.shape[0]]
    assert non_diffeomorphic_volume(u).voxels == int((central <= 0).sum()) > 0


@pytest.mark.parametrize("dims", ["2d", "3d"])
def test_checkerboard_fold_that_central_differences_miss(dims):
    # phi_0(x) = x_0 - (-1)^x_0 swaps every pair of rows (0 <-> 1, 2 <-> 3, ...): the map
    # folds everywhere, but (phi(x + e0) - phi(x - e0)) / 2 = 1, and with an even number of
    # rows the one-sided differences at both ends are +3, so np.gradient's det J is 1 or 3
    # everywhere. One-sided differences along axis 0 alternate -1 and 3, so at every voxel
    # half the corner simplices (and, in 3D, one of the two central ones) have J = -1:
    # NDV = 1/2 * (2D: 2 * 1/2; 3D: 4 * 1/6 + 1/3) = 1/2 per voxel = 50 %.
    shape = SHAPES[dims]
    assert shape[0] % 2 == 0
    u = np.zeros((len(shape), *shape))
    u[0] = -((-1.0) ** grid(shape)[0])
    assert folding_percent(jacobian_determinant(torch.as_tensor(u))) == 0.0
    result = non_diffeomorphic_volume(u)
    assert result.percent == pytest.approx(50.0, rel=1e-12)
    assert result.voxels == 0  # Liu et al.'s voxel count is central differences': blind here too


# --- (d) the plugin -------------------------------------------------------------------

@pytest.mark.parametrize("dims", ["2d", "3d"])
def test_plugin_reports_both_columns(dims):
    shape = SHAPES[dims]
    image = np.zeros(shape, dtype=np.float32)
    u = rough_field(shape, seed=13)
    outcome = PairOutcome(fixed=Subject("f", image), moving=Subject("m", image), displacement=u, labels={},
                          spacing=(1.0,) * len(shape))
    metric = Ndv()
    assert metric.applies_to(outcome)
    values = metric.compute(outcome)
    assert set(values) == {column.name for column in Ndv.columns} == {"ndv_percent", "ndv_voxels"}
    theirs = reference.ndv(u)
    np.testing.assert_allclose(values["ndv_percent"], theirs["percent"], rtol=1e-12)
    assert values["ndv_voxels"] == theirs["voxels"]


def test_plugin_registers_itself():
    registered = []
    regbench_register_metrics(lambda metric, **_: registered.append(metric))
    assert registered == [Ndv] and Ndv.name == "ndv"
    assert all(column.family == "common" and column.better == "lower" for column in Ndv.columns)
