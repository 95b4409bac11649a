"""Where a method meets the data: one method, prepared once, registering pairs one by one.

An :class:`Evaluator` holds one prepared method. For each pair it times only the
method's ``register`` call (synchronised on a GPU), each time right after one run of
the reference workload (:mod:`regbench.measuring.reference`), ``timing_repeats`` times,
keeping the fastest of each; records its peak memory and how much CPU other processes
took while the pair was evaluated (:mod:`regbench.measuring.contention`); checks the
field, and scores it with every metric; warping and scoring are the harness's job,
the same for every method, on the images as loaded (the method registers copies). A
pair that fails gives a ``failed`` row with the error. Rows follow
:mod:`regbench.outputs.schema`.

By default an evaluator runs in a worker process of its own
(:mod:`regbench.execution.process`), so that a method that crashes, hangs or is
killed for memory loses only the pair it was on.
"""

from __future__ import annotations

import json
import math
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from regbench.execution.plan import MethodJob
from regbench.execution.store import MethodInfo, PairRecord, started_record
from regbench.measuring import devices
from regbench.measuring.contention import OtherProcessesCPU
from regbench.measuring.metrics import mean_std
from regbench.measuring.profiling import PeakRSS
from regbench.measuring.reference import reference_operation, time_reference
from regbench.outputs import schema
from regbench.outputs.nifti import NiftiWriter, preview_arrays, snapshot_arrays
from regbench.plugin.dataset import Dataset, Pair, Subject
from regbench.plugin.method import Method, check_displacement
from regbench.plugin.metric import Metric, PairOutcome


def error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def score(metrics: Sequence[Metric], outcome: PairOutcome, row: dict[str, Any]) -> dict[str, np.ndarray]:
    """Run every metric on one outcome: scalars into ``row``, per-label arrays returned
    (and summarised into ``row`` as NAME_mean / NAME_std). A failing metric is noted in
    ``metric_errors``; the others still count."""
    per_label: dict[str, np.ndarray] = {}
    errors = []
    for metric in metrics:
        if not metric.applies_to(outcome):
            continue
        try:
            values = metric.compute(outcome)
            for key, value in values.items():
                if np.ndim(value) == 0:
                    row[key] = float(value)
                    continue
                array = np.asarray(value, dtype=float)
                if array.shape != (len(outcome.labels),):
                    raise ValueError(f"{key!r} has shape {array.shape}; "
                                     f"expected one value per label ({len(outcome.labels)})")
                per_label[key] = array
                row[f"{key}_mean"], row[f"{key}_std"] = mean_std(array)
        except Exception as error:  # one metric failing never loses the others
            errors.append(f"{metric.name}: {error_text(error)}")
    if errors:
        row["metric_errors"] = "; ".join(errors)
    return per_label


def score_into(record: PairRecord, metrics: Sequence[Metric], outcome: PairOutcome, pair: Pair,
               keep_arrays: bool) -> None:
    """Score ``outcome`` into ``record``: the row's values, one row per label, the pair
    viewer's preview (:func:`~regbench.outputs.nifti.preview_arrays`) and, with
    ``keep_arrays``, the arrays of the report's figure."""
    per_label = score(metrics, outcome, record.row)
    snapshot = snapshot_arrays(outcome)
    record.arrays = {**(snapshot if keep_arrays else {}), **preview_arrays(snapshot)}
    if per_label:
        record.labels = [
            {"method": record.row["method"], "seed": record.row["seed"], "pair": pair.id, "label_id": label, "label": name,
             **{key: float(values[index]) for key, values in per_label.items()}}
            for index, (label, name) in enumerate(outcome.labels.items())
        ]


def pair_outcome(dataset: Dataset, pair: Pair, fixed: Subject, moving: Subject, displacement: np.ndarray,
                 device: str, metrics: Sequence[Metric]) -> PairOutcome:
    """A checked field of ``pair``, with what ``dataset`` knows of the pair's true
    correspondence (landmarks, the true field) where one of ``metrics`` needs it, each
    checked: a dataset's bad landmarks or field fail the pair with an error naming the
    dataset, never score it."""
    where = f"dataset {dataset.name!r}, pair {pair.id}"
    landmarks = truth = None
    if any(metric.needs_landmarks for metric in metrics):
        landmarks = dataset.pair_landmarks(pair, fixed, moving)
    if landmarks is not None:
        landmarks = landmarks.check(fixed.image.shape, moving.image.shape, where)
    if any(metric.needs_true_displacement for metric in metrics):
        truth = dataset.true_displacement(pair, fixed, moving)
    expected = (fixed.image.ndim, *fixed.image.shape)
    if truth is not None and (np.shape(truth) != expected or not np.isfinite(truth).all()):
        raise ValueError(f"{where}: the dataset's true field has shape {np.shape(truth)} or non-finite values; "
                         f"expected finite values of shape {expected}")
    return PairOutcome(fixed=fixed, moving=moving, displacement=displacement, labels=dataset.labels,
                       spacing=dataset.spacing, device=device, landmarks=landmarks, true_displacement=truth)


def _handed_copies(fixed: Subject, movings: Sequence[Subject]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The images a method is given to register: fresh copies, in their layout, so a
    method that writes into its inputs (``moving[...] = fixed``, or an in-place
    ``image -= image.mean()``) changes neither what it is scored against nor the cached
    atlas of later pairs (:class:`PairLoader`). Copies rather than read-only views:
    in-place work on an input stays legal, as every method was promised, and torch's
    ``from_numpy`` does not warn about a read-only array."""
    return fixed.image.copy(order="K"), [moving.image.copy(order="K") for moving in movings]


class PairLoader:
    """Loads pairs one at a time, keeping only the last fixed image (the atlas)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self._fixed: Subject | None = None

    def __call__(self, pair: Pair) -> tuple[Subject, Subject]:
        """The pair's subjects, checked to be the ones asked for, of one shape: a dataset
        that loads another subject, or images of two shapes, fails the pair naming the
        dataset, never scores it against the wrong subject or blames the method."""
        if self._fixed is None or self._fixed.id != pair.fixed_id:
            self._fixed = self._load(pair.fixed_id)
        moving = self._load(pair.moving_id)
        if moving.image.shape != self._fixed.image.shape:
            raise ValueError(f"dataset {self.dataset.name!r}: subject {moving.id!r} has shape {moving.image.shape} but "
                             f"the fixed image {self._fixed.id!r} has {self._fixed.image.shape}; expected one shape "
                             f"(the dataset's shape option crops or pads them)")
        return self._fixed, moving

    def _load(self, subject_id: str) -> Subject:
        subject = self.dataset.load(subject_id)
        if subject.id != subject_id:
            raise ValueError(f"dataset {self.dataset.name!r} loaded subject {subject.id!r} when asked for "
                             f"{subject_id!r}")
        return subject


def _method_columns(method: Method, wall: float, others: float) -> dict[str, Any]:
    """Columns that describe the prepared method, the same for all its rows; ``wall`` and
    ``others``: the seconds :meth:`Method.prepare` took and the CPU seconds other
    processes used meanwhile, kept when it trained here (not from cached weights)."""
    report = method.training
    trained_here = report is not None and not report.cached
    return {
        "parameters": method.parameter_count,
        "method_params": json.dumps(method.params, default=str, sort_keys=True),
        "train_seconds": report.seconds if report else np.nan,
        "train_steps": report.steps if report else np.nan,
        "train_batch_size": report.batch_size if report and report.batch_size is not None else np.nan,
        "train_preflight_cuda_mb": report.preflight_cuda_mb if report else np.nan,
        "train_cached": report.cached if report else np.nan,
        "train_peak_rss_mb": report.peak_rss_mb if report else np.nan,
        "train_peak_cuda_mb": report.peak_cuda_mb if report else np.nan,
        "train_stop": report.stop if report else None,
        "train_best_step": report.best_step if report and report.best_step is not None else np.nan,
        "train_val_dice": best["val_dice"] if report and (best := report.best_validation) else np.nan,
        "train_wall_seconds": wall if trained_here else np.nan,
        "train_others_cpu_seconds": others if trained_here else np.nan,
    }


class Evaluator:
    """Prepares one method, then evaluates pairs with it (see module doc)."""

    def __init__(self, job: MethodJob) -> None:
        self.job = job
        self.method: Method | None = None
        self.info: MethodInfo | None = None
        self._where: dict[str, Any] = {}  # the device and environment, for every row
        self._load = PairLoader(job.dataset)
        self._nifti = NiftiWriter(job.warped_dir) if job.warped_dir is not None else None

    def prepare(self) -> MethodInfo:
        """Instantiate and prepare (train, or load cached weights); errors propagate."""
        job = self.job
        devices.use_threads(job.threads)
        method = job.instantiate()
        with OtherProcessesCPU() as others:
            started = time.perf_counter()
            method.prepare(job.training_context())
            wall = time.perf_counter() - started
        self.method = method
        report = method.training
        self.info = MethodInfo(columns=_method_columns(method, wall, others.seconds),
                               losses=list(report.losses) if report else [],
                               validation=list(report.validation) if report else [])
        self._where = {"device": method.device, **schema.environment_columns(job.requires, job.threads)}
        reference_operation()  # warm-up: the first run pays for allocations the timed ones do not
        return self.info

    def evaluate(self, pairs: Sequence[Pair]) -> list[PairRecord]:
        """Register and score ``pairs`` (one, or a batch of pairs with one fixed image for a
        method with ``register_batch``: registered in one call, each pair's seconds that
        call's share); any error becomes ``failed`` rows: of the batch when registering
        fails, of one pair when its scoring does."""
        if self.method is None or self.info is None:
            raise RuntimeError(f"method {self.job.name!r} must be prepared before it evaluates pairs")
        records = [started_record(self.job, pair) for pair in pairs]
        with OtherProcessesCPU() as others:
            started = time.perf_counter()
            try:
                self._evaluate(pairs, records)
            except Exception as error:  # registering failed: every pair of the call
                for record in records:
                    record.row.update(status=schema.FAILED, error=error_text(error),
                                      traceback=traceback.format_exc(limit=5))
                    record.labels, record.arrays = [], {}
            wall = time.perf_counter() - started
        for record in records:
            record.row.update(pair_wall_seconds=wall / len(records), others_cpu_seconds=others.seconds / len(records),
                              **self._where)
        return records

    def _timed(self, register: Callable[[np.ndarray, list[np.ndarray]], list[np.ndarray]], fixed: Subject,
               movings: Sequence[Subject], rows: Sequence[dict[str, Any]]) -> list[np.ndarray]:
        """The fields ``register`` returns for ``movings`` onto ``fixed`` (``rows``' pairs);
        its time (the fastest of ``timing_repeats``, each right after one run of the
        reference workload, whose fastest is kept too), shared equally by the rows, and
        its peak memory (the highest) into every row. The fields are the first call's.
        Every call gets fresh copies of the images (:func:`_handed_copies`), made before
        its clock and memory measurement start."""
        method = self.method
        assert method is not None
        seconds = reference = math.inf
        peaks: list[tuple[float, float, float | None]] = []
        fields = None
        for _ in range(self.job.timing_repeats):
            fixed_image, moving_images = _handed_copies(fixed, movings)
            reference = min(reference, time_reference())
            method.reset_peak_memory()
            with PeakRSS() as rss:
                started = time.perf_counter()
                result = register(fixed_image, moving_images)
                method.synchronize()
                seconds = min(seconds, time.perf_counter() - started)
            peaks.append((rss.mb, rss.increase_mb, method.peak_memory_mb()))
            fields = result if fields is None else fields
        cuda = [peak for _, _, peak in peaks if peak is not None]
        for row in rows:
            row.update(seconds=seconds / len(rows), reference_seconds=reference, timing_repeats=self.job.timing_repeats,
                       timing_batch=len(rows), peak_rss_mb=max(p[0] for p in peaks),
                       rss_increase_mb=max(p[1] for p in peaks), peak_cuda_mb=max(cuda) if cuda else None)
        assert fields is not None
        return fields

    def _evaluate(self, pairs: Sequence[Pair], records: Sequence[PairRecord]) -> None:
        method, dataset = self.method, self.job.dataset
        assert method is not None
        loaded = [self._load(pair) for pair in pairs]
        fixed = loaded[0][0]
        if len(pairs) == 1:
            register = lambda fixed_image, movings: [method.register(fixed_image, movings[0]).displacement]  # noqa: E731
        else:
            if any(pair.fixed_id != pairs[0].fixed_id for pair in pairs):
                raise ValueError("a batch of pairs must share its fixed image")
            register = lambda fixed_image, movings: [  # noqa: E731
                result.displacement for result in method.register_batch(fixed_image, movings)]
        fields = self._timed(register, fixed, [moving for _, moving in loaded], [record.row for record in records])
        for pair, (_, moving), field_, record in zip(pairs, loaded, fields, records, strict=True):
            try:
                displacement = check_displacement(method.name, field_, fixed.image)
                outcome = pair_outcome(dataset, pair, fixed, moving, displacement, method.device_type,
                                       self.job.metrics)
                score_into(record, self.job.metrics, outcome, pair, keep_arrays=pair.id == self.job.figure_pair)
                if self._nifti is not None:
                    self._nifti(pair, outcome)
                if self.job.export is not None:
                    self.job.export.write(pair, displacement, fixed, moving, dataset.spacing)
                record.row["status"] = schema.OK
            except Exception as error:  # one pair failing never loses the others
                record.row.update(error=error_text(error), traceback=traceback.format_exc(limit=5))
                record.labels, record.arrays = [], {}
