"""A conformance suite for method plugins: run it in your package's CI.

It sits at the top of regbench, above the contract it checks: it runs a method the
way ``regbench run`` does (a job, a task, a worker process) on a dataset and with the
metrics the plugin registry provides.

Subclass :class:`MethodConformance` in a test module of your package and name your
method class; pytest collects every check below::

    # tests/test_conformance.py (in your package)
    from regbench.testing import MethodConformance
    from my_package.plugin import MyMethod

    class TestMyMethod(MethodConformance):
        method = MyMethod
        params = {"iterations": 5}     # small settings, for speed (optional)

The checks: the method is found through its installed distribution's entry point in
the group ``regbench`` (as ``regbench list`` finds it) and registered by that plugin;
it pickles to a worker, prepares (a learning method trains for ``profile``), returns a
field of the right shape, dtype and finite values in each of the method's
``dimensions`` (2D and 3D unless it declares fewer; the other checks use its
smallest), leaves its inputs untouched, gives the same field for the same seed,
rejects unknown parameters clearly, registers an image onto itself without folding it
and runs in a regbench worker process. And it follows regbench's convention: on known
motions (:mod:`regbench.testing.motions`: a shift by a different amount along each
axis, and a shift with anisotropic scaling, in each of its dimensions; a learning
method first fits them for ``convention_profile``) its field points the right way
(pull-back, ``warped(x) = moving(x + u(x))``) with its components in array-axis order,
and lies clearly nearer to the right answer than to any mistake.
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
from regbench.testing.motions import MARGIN, MIN_SHARE, NEAR, KnownMotionDataset, verdict
from regbench.testing.packaging import entry_point_problem, plugin_modules


def _dataset(shape: tuple[int, ...]) -> Dataset:
    """The tiny synthetic dataset the checks run on, from the registry as a run gets it."""
    entry = collect(plugin_manager()).datasets["synthetic"]
    assert entry.installed, f"regbench's synthetic dataset is {entry.status}"
    return entry.cls(shape=shape, n_subjects=6, test_fraction=0.34)


class MethodConformance:
    """Checks every regbench method plugin should pass (see module doc)."""

    method: ClassVar[type[Method]]
    # The module your entry point names, when it is neither the method's module nor a package above it.
    plugin: ClassVar[str | None] = None
    params: ClassVar[Mapping[str, Any]] = {}
    shape_2d: ClassVar[tuple[int, ...]] = (32, 32)
    shape_3d: ClassVar[tuple[int, ...]] = (16, 16, 16)
    profile: ClassVar[Profile] = Profile("conformance", batch_size=2, lr=1e-3, steps=2)
    timeout: ClassVar[float] = 600.0  # seconds for one pair in a worker process
    # How a learning method fits the known motions before its convention is judged:
    # enough steps to fit four pairs, not to learn a dataset.
    convention_profile: ClassVar[Profile] = Profile("convention", batch_size=8, lr=3e-3, steps=50, validate_every=50)
    recovers_motion: ClassVar[bool] = True  # False only for a floor that never moves (identity)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A test class pytest collects must name a Method class: said at collection, not as a skip."""
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("Test") or cls.__dict__.get("__test__", True) is False:
            return  # not collected: e.g. a base class the package's test classes share
        method = cls.__dict__.get("method", getattr(cls, "method", None))
        if not (isinstance(method, type) and issubclass(method, Method)):
            raise TypeError(f"{cls.__qualname__}: set the class attribute method = YourMethod (a subclass of "
                            f"regbench.Method) for the conformance suite to check; got {method!r}")

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

    def test_is_found_through_its_entry_point(self) -> None:
        modules = (self.plugin,) if self.plugin else plugin_modules(self.method.__module__)
        problem = entry_point_problem(self.method.name, modules)
        assert problem is None, problem
        catalog = collect(plugin_manager())
        hook = " or ".join(modules)
        assert self.method.name in catalog.methods, (
            f"the installed plugins register no method {self.method.name!r}: does the hook in {hook} call "
            f"register({self.method.__name__})?" + "".join(f"\n{problem}" for problem in catalog.problems))
        registered = catalog.methods[self.method.name].cls
        assert registered is self.method, f"{self.method.name!r} is registered as {registered!r}, another class"

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

    def test_follows_the_field_convention_in_2d(self, tmp_path: Path) -> None:
        self._check_convention(self.shape_2d, tmp_path)

    def test_follows_the_field_convention_in_3d(self, tmp_path: Path) -> None:
        self._check_convention(self.shape_3d, tmp_path)

    def _check_convention(self, shape: tuple[int, ...], cache: Path) -> None:
        """The method's fields on the known motions point along the right answer (see
        :mod:`regbench.testing.motions`), or, for a floor, recover none of them."""
        if len(shape) not in self.method.dimensions:
            pytest.skip(f"{self.method.name} declares dimensions = {self.method.dimensions}")
        dataset = KnownMotionDataset(shape=shape)
        method = self.method(seed=0, **self.params)
        method.prepare(TrainingContext(dataset=dataset, train_ids=dataset.train_ids, profile=self.convention_profile,
                                       cache_dir=cache))
        problems = []
        for case in dataset.cases.values():
            field = check_displacement(method.name, method.register(case.fixed.copy(), case.moving.copy()).displacement,
                                       case.fixed)
            found = verdict(field, case.answer, case.fixed)
            motion = case.description
            nearest = f"{found.distance:.2f} of the motion's size from the {found.match} answer"
            if not self.recovers_motion:
                if found.follows:
                    problems.append(f"{motion}: its field lies {nearest}; recovers_motion = False says the method "
                                    f"never moves")
            elif found.mistake:
                problems.append(f"{motion}: {_MISTAKES[found.mistake]} (its field lies {nearest}, and "
                                f"{found.distances['right']:.2f} from the right one)")
            elif not found.right:
                shares = ", ".join(f"{share:.0%}" for share in found.shares)
                problems.append(f"{motion}: does not recover the motion clearly: its field lies {nearest}, and its "
                                f"components recover {shares} of their motion (expected within {NEAR} of the right "
                                f"answer, {MARGIN} nearer to it than to a mistake, and at least {MIN_SHARE:.0%} of "
                                f"each axis's motion the right way); a learning method first fits these pairs for "
                                f"convention_profile: raise its steps if it needs more; a method with a short budget "
                                f"or a coarse pyramid may need convention_params or larger shape_2d / shape_3d")
        assert not problems, f"{method.name} in {len(shape)}D:\n" + "\n".join(problems) + "\n" + CONVENTION


CONVENTION = ("regbench's convention: the field pulls back, warped(x) = moving(x + u(x)), so u(x) points from a "
              "voxel of the fixed image to where its content lies in the moving image, and u[i] is the "
              "displacement along array axis i (numpy's order). A moving image whose content moved by +2 voxels "
              "along axis 0 is registered by u[0] = +2, u[1] = 0.")
_MISTAKES = {
    "negated": "your field points the wrong way (a push-forward, fixed(x) = moving(x - u(x))): negate it",
    "reversed": "your components are in the wrong order ((x, y, z) as ITK and SimpleITK give them, not array-axis "
                "order): reverse them, field[::-1]",
    "negated and reversed": "your field points the wrong way and its components are in the wrong order: "
                            "negate it and reverse its components, -field[::-1]",
}
