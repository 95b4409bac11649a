"""The embedded default dataset: shape, labels, split, determinism, no network."""

from __future__ import annotations

import socket

import numpy as np
import pytest
from regbench_datasets import mni2d
from regbench_datasets.mni2d import Mni2d


def test_atlas_is_a_labelled_160x192_slice():
    dataset = Mni2d(n_subjects=10)
    atlas = dataset.load(dataset.atlas_id)
    assert atlas.image.shape == (160, 192) and atlas.image.dtype == np.float32
    assert 0.0 <= atlas.image.min() and atlas.image.max() <= 1.0
    assert set(np.unique(atlas.seg)) == {0, *dataset.labels}
    assert dataset.spacing == (1.0, 1.0)


def test_split_is_four_to_one_and_disjoint():
    dataset = Mni2d(n_subjects=400)
    assert (len(dataset.train_ids), len(dataset.test_ids)) == (320, 80)
    assert not set(dataset.train_ids) & set(dataset.test_ids)
    assert dataset.atlas_id not in dataset.train_ids + dataset.test_ids
    assert all(pair.fixed_id == dataset.atlas_id for pair in dataset.test_pairs())


def test_subjects_are_deterministic_for_a_seed_and_vary_with_it():
    first = Mni2d(n_subjects=12, seed=3).load("mni2d-0007")
    again = Mni2d(n_subjects=300, seed=3).load("mni2d-0007")  # independent of the number of subjects
    other_seed = Mni2d(n_subjects=12, seed=4).load("mni2d-0007")
    np.testing.assert_array_equal(first.image, again.image)
    np.testing.assert_array_equal(first.seg, again.seg)
    assert not np.array_equal(first.image, other_seed.image)


def test_subjects_differ_from_the_atlas_but_keep_its_anatomy():
    dataset = Mni2d(n_subjects=10)
    atlas = dataset.load(dataset.atlas_id)
    subject = dataset.load(dataset.test_ids[0])
    assert set(np.unique(subject.seg)) == {0, *dataset.labels}
    overlap = np.mean((atlas.seg > 0) == (subject.seg > 0))
    assert 0.8 < overlap < 1.0  # deformed, yet the same brain


def test_unknown_subject_and_option_are_clear_errors():
    with pytest.raises(KeyError, match="mni2d has no subject 'nope'"):
        Mni2d(n_subjects=4).load("nope")
    with pytest.raises(ValueError, match="no option.*n_subject.*valid: .*n_subjects"):
        Mni2d(n_subject=4)


def test_building_touches_no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("mni2d tried to open a network connection")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    mni2d.template_slab.cache_clear()  # read the template files again, under the block
    try:
        dataset = Mni2d(n_subjects=5)
        for subject_id in (dataset.atlas_id, *dataset.train_ids, *dataset.test_ids):
            assert dataset.load(subject_id).image.shape == (160, 192)
    finally:
        mni2d.template_slab.cache_clear()
