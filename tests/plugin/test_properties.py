"""Property-based tests (hypothesis) of what guards the numbers: the check of every
field a method returns, the NIfTI loaders, and the result store."""

from __future__ import annotations

import gzip
import math
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from regbench.data.nifti import DataError, read_image, read_labels
from regbench.execution.store import PairRecord, ResultStore
from regbench.plugin.method import check_displacement

FIXED = np.zeros((5, 6), np.float32)
EXPECTED = (2, 5, 6)

dtypes = st.one_of(hnp.floating_dtypes(), hnp.integer_dtypes(), hnp.boolean_dtypes(), hnp.complex_number_dtypes())
shapes = st.one_of(st.just(EXPECTED), hnp.array_shapes(min_dims=1, max_dims=4, max_side=6))


@settings(max_examples=300, deadline=None)
@given(hnp.arrays(dtype=dtypes, shape=shapes))
def test_a_field_is_accepted_exactly_when_it_has_the_right_shape_float_dtype_and_finite_values(field):
    valid = (field.shape == EXPECTED and np.issubdtype(field.dtype, np.floating) and np.isfinite(field).all())
    if valid:
        assert check_displacement("m", field, FIXED) is field
    else:
        with pytest.raises((TypeError, ValueError), match=r"^method 'm' returned a displacement "):
            check_displacement("m", field, FIXED)


@given(st.one_of(st.none(), st.integers(), st.lists(st.floats(), max_size=3), st.text(max_size=3)))
def test_a_field_that_is_not_an_array_names_the_method_and_the_expected_shape(value):
    with pytest.raises(TypeError, match=r"^method 'm' returned a displacement of type \w+; expected a numpy array "
                                        r"of shape \(2, 5, 6\)$"):
        check_displacement("m", value, FIXED)


def _volumes(dtype: type) -> st.SearchStrategy[np.ndarray]:
    low = 0 if dtype is np.uint8 else -1000
    elements = {"min_value": low, "max_value": 255 if dtype is np.uint8 else 1000}
    if np.issubdtype(dtype, np.floating):
        elements.update(allow_nan=False, allow_infinity=False)
    return hnp.arrays(dtype, hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=7), elements=elements)


volumes = st.sampled_from([np.uint8, np.int16, np.int32, np.float32, np.float64]).flatmap(_volumes)


def _save(array: np.ndarray, folder: str) -> Path:
    path = Path(folder) / "image.nii.gz"
    nib.save(nib.Nifti1Image(array, np.diag([1.5, 1.0, 2.0, 1.0])), path)
    return path


@settings(max_examples=60, deadline=None)
@given(volumes)
def test_an_image_reads_back_as_float32_of_its_own_shape(array):
    with tempfile.TemporaryDirectory() as folder:
        image, affine = read_image(_save(array, folder), array.ndim)
    assert image.dtype == np.float32 and image.shape == array.shape
    np.testing.assert_allclose(image, array.astype(np.float32), rtol=1e-6)
    np.testing.assert_array_equal(affine, np.diag([1.5, 1.0, 2.0, 1.0]))


@settings(max_examples=60, deadline=None)
@given(volumes)
def test_a_label_map_reads_back_exactly_or_is_refused_with_the_reason(array):
    with tempfile.TemporaryDirectory() as folder:
        path = _save(array, folder)
        integral = np.array_equal(array, np.round(array)) and array.min() >= 0
        if integral:
            np.testing.assert_array_equal(read_labels(path, array.ndim), array.astype(np.int32))
        else:
            with pytest.raises(DataError, match=rf"^{path} holds (negative labels|non-integer values)"):
                read_labels(path, array.ndim)


@settings(max_examples=60, deadline=None)
@given(volumes)
def test_an_image_of_the_other_dimensionality_is_refused_naming_the_file(array):
    wanted = 5 - array.ndim  # 2 for a 3D file, 3 for a 2D one
    with tempfile.TemporaryDirectory() as folder:
        path = _save(array, folder)
        if array.ndim == 3 and array.shape[-1] == 1:  # (H, W, 1) is a 2D slice stored as 3D (as neurite does)
            assert read_image(path, wanted)[0].shape == array.shape[:2]
            return
        with pytest.raises(DataError, match=rf"^{path} has shape .*; expected a {wanted}D image$"):
            read_image(path, wanted)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.floats(min_value=0.0, max_value=0.999), st.booleans())
def test_a_truncated_or_corrupt_file_is_a_data_error_naming_it(fraction, recompress):
    """Cut anywhere, in the compressed stream or in the NIfTI bytes: always a DataError."""
    with tempfile.TemporaryDirectory() as folder:
        path = _save(np.arange(6 * 7, dtype=np.float32).reshape(6, 7), folder)
        raw = path.read_bytes()
        if recompress:  # a valid gzip stream of a cut NIfTI file
            nifti = gzip.decompress(raw)
            path.write_bytes(gzip.compress(nifti[: int(len(nifti) * fraction)]))
        else:  # a cut gzip stream
            path.write_bytes(raw[: int(len(raw) * fraction)])
        with pytest.raises(DataError, match=rf"^{path} (is not a readable NIfTI file|could not be read) \("):
            read_image(path, 2)


scalars = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2**53, 2**53), st.booleans(),
                    st.text(max_size=20), st.none())
rows = st.dictionaries(st.text(min_size=1, max_size=12), scalars, max_size=8)


def _same(a: object, b: object) -> bool:
    return (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)) or a == b


@settings(max_examples=100, deadline=None)
@given(rows, st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=20))
def test_a_stored_row_reads_back_unchanged(row, pair_id, method):
    row = {**row, "pair": pair_id, "status": "ok"}
    with tempfile.TemporaryDirectory() as folder:
        store = ResultStore(Path(folder))
        store.save(method, "key", PairRecord(row=row, labels=[{"label": 1, "dice": 0.5}]))
        (read,) = store.records(method, "key").values()
    assert read.row.keys() == row.keys()
    assert all(_same(read.row[key], value) for key, value in row.items())
    assert read.labels == [{"label": 1, "dice": 0.5}] and read.ok
