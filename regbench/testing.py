"""A conformance suite for method plugins: run it in your package's CI.

It sits at the top of regbench, above the contract it checks: it runs a method the
way ``regbench run`` does (a job, a task, a worker process) on a dataset and with the
metrics the plugin registry provides.

Subclass :class:`MethodConformance` in a test module of your package, name your
method class (and, optionally, the plugin module that registers it), and pytest
collects every check below::

    # tests/test_conformance.py (in your package)
    from regbench.testing import MethodConformance
    from my_package.plugin import MyMethod

    class TestMyMethod(MethodConformance):
        method = MyMethod
        plugin = "my_package.plugin"   # checks the hook registers it (optional)
        params = {"iterations": 5}     # small settings, for speed (optional)

The checks run the method on a tiny synthetic dataset the way ``regbench run``
does, in a worker process of its own: it is registered by its plugin, pickles to a
worker, prepares (a learning method trains for ``profile``), returns a field of the
right shape, dtype and finite values in each of the method's ``dimensions`` (2D and
3D unless it declares fewer; the other checks use its smallest), leaves its inputs untouched, gives the same field for the same seed, rejects unknown
parameters clearly, and registers an image onto itself without folding it.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from regbench.execution.plan import MethodJob, Timeouts
from regbench.execution.tasks import Task, run_task
from regbench.measuring.metrics import folding_percent, jacobian_determinant
from regbench.plugin.dataset import Dataset
from regbench.plugin.manager import collect, plugin_manager
from regbench.plugin.method import Method, TrainingContext, check_displacement
from regbench.plugin.training import Profile


def _dataset(shape: tuple[int, ...]) -> Dataset:
    """The tiny synthetic dataset the checks run on, from the registry as a run gets it."""
    entry = collect(plugin_manager()).datasets["synthetic"]
    assert entry.installed, f"regbench's synthetic dataset is {entry.status}"
    return entry.cls(shape=shape, n_subjects=6, test_fraction=0.34)


class MethodConformance:
    """Checks every regbench method plugin should pass (see module doc)."""

    method: ClassVar[type[Method]]
    plugin: ClassVar[str | None] = None  # the module with the regbench_register_methods hook
    params: ClassVar[Mapping[str, Any]] = {}
    shape_2d: ClassVar[tuple[int, ...]] = (32, 32)
    shape_3d: ClassVar[tuple[int, ...]] = (16, 16, 16)
    profile: ClassVar[Profile] = Profile("conformance", batch_size=2, lr=1e-3, steps=2)
    timeout: ClassVar[float] = 600.0  # seconds for one pair in a worker process

    @property
    def _shape(self) -> tuple[int, ...]:
        """The image shape of the checks that take one: 2D unless the method is 3D only."""
        return self.shape_2d if 2 in self.method.dimensions else self.shape_3d

    def _prepared(self, shape: tuple[int, ...], cache: Path, seed: int = 0) -> tuple[Method, Dataset]:
        dataset = _dataset(shape)
        method = self.method(seed=seed, **self.params)
        method.prepare(TrainingContext(dataset=dataset, train_ids=dataset.train_ids, profile=self.profile,
                                       cache_dir=cache))
        return method, dataset

    def _field(self, method: Method, dataset: Dataset, moving_id: str | None = None) -> np.ndarray:
        fixed = dataset.load(dataset.atlas_id).image
        moving = dataset.load(moving_id or dataset.test_ids[0]).image
        return check_displacement(method.name, method.register(fixed, moving).displacement, fixed)

    def test_has_a_name_and_a_description(self) -> None:
        assert isinstance(self.method.name, str) and self.method.name, "set a class attribute name"
        assert self.method.description, "set a one-line class attribute description (regbench list shows it)"

    def test_is_registered_by_its_plugin(self) -> None:
        if self.plugin is None:
            pytest.skip("set plugin = 'module.name' to check the hook")
        catalog = collect(plugin_manager([self.plugin]))
        assert not catalog.problems, catalog.problems
        assert self.method.name in catalog.methods, f"{self.plugin} does not register {self.method.name!r}"
        assert catalog.methods[self.method.name].cls is self.method

    def test_pickles_for_worker_processes(self) -> None:
        assert pickle.loads(pickle.dumps(self.method)) is self.method, "define the class at a module's top level"

    def test_rejects_unknown_parameters_by_name(self) -> None:
        with pytest.raises(ValueError, match="no_such_parameter"):
            self.method(seed=0, no_such_parameter=1)

    def test_returns_a_valid_2d_field_and_leaves_its_inputs_alone(self, tmp_path: Path) -> None:
        if 2 not in self.method.dimensions:
            pytest.skip(f"{self.method.name} declares dimensions = {self.method.dimensions}")
        method, dataset = self._prepared(self.shape_2d, tmp_path)
        fixed, moving = dataset.load(dataset.atlas_id).image, dataset.load(dataset.test_ids[0]).image
        before = fixed.copy(), moving.copy()
        result = method.register(fixed, moving)
        check_displacement(method.name, result.displacement, fixed)
        np.testing.assert_array_equal(fixed, before[0], err_msg="register() changed the fixed image")
        np.testing.assert_array_equal(moving, before[1], err_msg="register() changed the moving image")

    def test_returns_a_valid_3d_field(self, tmp_path: Path) -> None:
        if 3 not in self.method.dimensions:
            pytest.skip(f"{self.method.name} declares dimensions = {self.method.dimensions}")
        method, dataset = self._prepared(self.shape_3d, tmp_path)
        assert self._field(method, dataset).shape == (3, *self.shape_3d)

    def test_the_same_seed_gives_the_same_field(self, tmp_path: Path) -> None:
        first = self._field(*self._prepared(self._shape, tmp_path / "first"))
        second = self._field(*self._prepared(self._shape, tmp_path / "second"))
        np.testing.assert_array_equal(first, second, err_msg="seed the method's randomness with self.seed")

    def test_an_image_onto_itself_is_not_folded(self, tmp_path: Path) -> None:
        method, dataset = self._prepared(self._shape, tmp_path)
        image = dataset.load(dataset.atlas_id).image
        field = check_displacement(method.name, method.register(image, image.copy()).displacement, image)
        assert folding_percent(jacobian_determinant(field)) < 1.0, "registering an image onto itself folded space"

    def test_runs_in_a_regbench_worker_process(self, tmp_path: Path) -> None:
        dataset = _dataset(self._shape)
        metrics = tuple(entry.cls() for entry in collect(plugin_manager()).metrics.entries() if entry.installed)
        job = MethodJob(method=self.method, params=self.method.resolve_params(self.params), dataset=dataset, seed=0,
                        profile=self.profile, cache_dir=tmp_path, metrics=metrics)
        outcome = run_task(Task(job, key="", pairs=tuple(dataset.test_pairs()), timeouts=Timeouts(pair=self.timeout)))
        errors = [record.row["error"] for record in outcome.records if not record.ok]
        assert outcome.info is not None, outcome.error
        assert not errors, errors
        assert all(0.0 <= record.row["dice_mean"] <= 1.0 for record in outcome.records)
