"""What a run will do, decided once before anything runs.

For each method of a run, :func:`plan_job` resolves its parameters (typed, complete)
and fixes the seed, the dataset, the metrics and the training profile into a
:class:`MethodJob`. What in a job decides the method's numbers is one object,
:class:`ResultIdentity`; :func:`result_key` is its digest. The rest of a job says how
and where the work is done (worker settings, folders to write into). Nothing after
planning re-reads the command line or re-checks a parameter: workers receive the job
as it is.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from regbench.common.defaults import PAIR_TIMEOUT
from regbench.common.fingerprint import FileDigests, code_version, digest
from regbench.execution.inputs import DataFingerprint
from regbench.learning.validation import split_validation
from regbench.plugin.dataset import Dataset, Pair
from regbench.plugin.method import Method, TrainingContext
from regbench.plugin.metric import Metric
from regbench.plugin.registry import Entry
from regbench.plugin.training import Profile

if TYPE_CHECKING:
    from regbench.outputs.fields import FieldExport

# Where a field becomes numbers, for every method: this module and all it imports from
# regbench (warping, metrics, regions, timing...) key every result (fingerprint.code_version).
SCORING_MODULE = "regbench.execution.evaluation"


@dataclass(frozen=True)
class MethodJob:
    """Everything needed to prepare one method and evaluate pairs with it.

    It is pickled to the worker process, so the method, dataset and metric classes
    must be defined at the top level of an importable module (as plugins are).
    ``params`` are resolved (:meth:`Method.resolve_params`): complete and typed.
    """

    method: type[Method]
    params: Mapping[str, Any]
    dataset: Dataset
    seed: int
    profile: Profile
    metrics: tuple[Metric, ...] = ()
    cache_dir: Path | None = None
    progress: bool = False
    log_every: float | None = None  # seconds between training progress lines for a log file; None: none
    figure_pair: str | None = None  # keep this pair's arrays for the report's figure
    warped_dir: Path | None = None  # write warped images and fields as NIfTI here
    export: FieldExport | None = None  # write fields here (--export: Learn2Reg's layout, ITK transforms)
    requires: tuple[str, ...] = ()  # modules whose versions go into every row
    threads: int | None = None  # torch CPU threads (None: torch's default); see devices.use_threads
    timing_repeats: int = 1  # register() is timed this many times per pair; the fastest counts
    batch_pairs: int = 1  # pairs registered in one call by a method with register_batch (see tasks.batches)
    label: str = ""  # the name in tables when it is not the method's own: a variant, eca-unet[dense=false]
    inputs: DataFingerprint | None = None  # the data files' digests (None: computed when asked, unremembered)
    # A learning method trains here instead of on ``dataset`` (--train-dataset); None: on ``dataset``.
    train_dataset: Dataset | None = None
    train_inputs: DataFingerprint | None = None  # its files' digests, as ``inputs`` are ``dataset``'s

    @property
    def name(self) -> str:
        """The method's name in every row, table and figure: its variant's, or its own."""
        return self.label or self.method.name

    def instantiate(self) -> Method:
        return self.method(seed=self.seed, **self.params)

    @property
    def learns_from(self) -> Dataset:
        """The dataset whose training subjects the method learns from: ``train_dataset``,
        else the one it is evaluated on."""
        return self.train_dataset if self.train_dataset is not None else self.dataset

    def training_columns(self) -> dict[str, Any]:
        """Where a learning method was trained, for every one of its rows (nothing for a
        method that does not learn): the dataset's name and its options (JSON)."""
        if not self.method.learns:
            return {}
        source = self.learns_from
        return {"train_dataset": source.name,
                "train_dataset_options": json.dumps(source.options, default=str, sort_keys=True)}

    def training_context(self) -> TrainingContext:
        """What the method may learn from: the training subjects of the dataset it learns
        from (:attr:`learns_from`), less, for a learning method, those its profile holds
        out for validation (seeded by the job's seed)."""
        source = self.learns_from
        train_ids, validation_ids = source.train_ids, ()
        if self.method.learns:
            train_ids, validation_ids = split_validation(train_ids, self.profile.validation_fraction, self.seed)
        read = self.training_subjects()
        data = self.training_fingerprint(read).of_subjects(read) if self.method.learns else ""
        return TrainingContext(dataset=source, train_ids=train_ids, validation_ids=validation_ids,
                               profile=self.profile, cache_dir=self.cache_dir, progress=self.progress,
                               log_every=self.log_every, data_digest=data, library_versions=self.library_versions())

    def library_versions(self) -> str:
        """``"monai 1.6.1"``: the versions of the libraries the method is registered as
        requiring, whose code decides its numbers as much as its own."""
        from regbench.measuring.environment import module_versions  # noqa: PLC0415

        return module_versions(self.requires)

    def training_subjects(self) -> tuple[str, ...]:
        """The subjects a learning method reads while it trains: the atlas and the
        training subjects of the dataset it learns from (its validation subjects are among them)."""
        source = self.learns_from
        atlas = (source.atlas_id,) if source.atlas_id is not None else ()
        return (*atlas, *source.train_ids)

    def training_fingerprint(self, subject_ids: tuple[str, ...] = ()) -> DataFingerprint:
        """As :meth:`data_fingerprint`, of the dataset the method learns from."""
        if self.train_dataset is None:
            return self.data_fingerprint(subject_ids)
        return self.train_inputs if self.train_inputs is not None else DataFingerprint.of(self.train_dataset,
                                                                                             subject_ids)

    def data_fingerprint(self, subject_ids: tuple[str, ...] = ()) -> DataFingerprint:
        """The planned digests, or (a job made without them, e.g. in a test) those of
        ``subject_ids`` computed now."""
        return self.inputs if self.inputs is not None else DataFingerprint.of(self.dataset, subject_ids)

    def pair_inputs(self, pair: Pair) -> str:
        """The digest of the data files ``pair``'s result reads (stored with it)."""
        return self.data_fingerprint((pair.fixed_id, pair.moving_id)).pair(pair)

    def method_files(self) -> tuple[str, ...]:
        """The content digests of the files the method reads besides the data
        (:meth:`Method.input_files`: pretrained weights), remembered in the job's cache
        folder when it has one."""
        digests = FileDigests(self.cache_dir / "file-digests" if self.cache_dir is not None else None)
        return tuple(digests(path) for path in self.method.input_files(self.params))

    def _training_dataset_identity(self) -> dict[str, Any] | None:
        """What decides the other dataset a learning method trains on: its name, options,
        code and shared files (its subjects' files are in ``training_data``); None when
        it trains on the dataset it is evaluated on, or does not learn."""
        source = self.train_dataset
        if source is None or not self.method.learns:
            return None
        return {"name": source.name, "options": dict(source.options), "code": code_version(source.code_modules()),
                "files": self.training_fingerprint().shared}

    def identity(self) -> ResultIdentity:
        """What decides this job's numbers (see :class:`ResultIdentity`)."""
        method = self.method
        training = self.training_context().data_digest if method.learns else None
        return ResultIdentity(
            method=method.name,
            params=dict(self.params),
            method_code=code_version(method.code_modules()),
            method_files=self.method_files(),
            method_versions=self.library_versions(),
            seed=self.seed,
            profile=dataclasses.asdict(self.profile) if method.learns else None,
            dataset=self.dataset.name,
            dataset_options=dict(self.dataset.options),
            dataset_code=code_version(self.dataset.code_modules()),
            dataset_files=self.data_fingerprint().shared,
            labels={str(label): name for label, name in self.dataset.labels.items()},
            training_data=training,
            training_dataset=self._training_dataset_identity(),
            metrics=tuple(sorted(metric.name for metric in self.metrics)),
            scoring_code=code_version([SCORING_MODULE, *(type(metric).__module__ for metric in self.metrics)]),
            timing_repeats=self.timing_repeats,
            batch_pairs=self.batch_pairs,
        )


@dataclass(frozen=True)
class ResultIdentity:
    """Everything that decides a method's numbers, and nothing else: its name,
    parameters, code, the libraries it requires (their versions), the files it reads
    besides the data (pretrained weights) and seed; the dataset, its options, its code (which makes generated
    subjects, landmarks and true fields), the labels it scores and the
    content of the files all its subjects share; for a method that learns, the training profile and the
    content of the subjects it learns from (and, when it learns from another dataset, that dataset's
    name, options, code and shared files); the metrics and the code that scores; how
    often each pair is timed and how many pairs one call registers. The content of each
    test pair's own files is recorded with the pair's stored result
    (:meth:`DataFingerprint.pair`), so a changed file recomputes only its pairs."""

    method: str
    params: Mapping[str, Any]
    method_code: str
    method_files: tuple[str, ...]
    method_versions: str
    seed: int
    profile: Mapping[str, Any] | None
    dataset: str
    dataset_options: Mapping[str, Any]
    dataset_code: str
    dataset_files: str
    labels: Mapping[str, str]
    training_data: str | None
    training_dataset: Mapping[str, Any] | None  # for a method trained on another dataset (--train-dataset)
    metrics: tuple[str, ...]
    scoring_code: str
    timing_repeats: int
    batch_pairs: int


@dataclass(frozen=True)
class Timeouts:
    """Hard limits in seconds (None: no limit). ``pair`` bounds one registration and
    its scoring, ``by_method`` overrides it for named methods; ``prepare`` bounds
    training (or loading) a method."""

    pair: float | None = PAIR_TIMEOUT
    prepare: float | None = None
    by_method: Mapping[str, float | None] = field(default_factory=dict)

    def for_pair(self, method: str) -> float | None:
        return self.by_method.get(method, self.pair)


def plan_job(entry: Entry[Method], given: Mapping[str, Any], **settings: Any) -> MethodJob:
    """``entry``'s job with its parameters resolved from ``given`` (values or text); a
    bad parameter, or a dataset too small to hold out validation subjects, is a
    ValueError naming the method (its variant, with ``label``)."""
    what = settings.get("label") or entry.name
    try:
        params = entry.cls.resolve_params(given)
    except ValueError as error:
        raise ValueError(str(error).replace(f"method {entry.name!r}", f"method {what!r}", 1)) from None
    job = MethodJob(method=entry.cls, params=params, requires=entry.requires, **settings)
    try:
        job.training_context()
    except ValueError as error:
        raise ValueError(f"method {job.name!r}: {error}") from None
    return job


def result_key(job: MethodJob) -> str:
    """The key stored results are kept under: the digest of the job's :class:`ResultIdentity`
    (without ``method_files``, ``method_versions`` or ``training_dataset`` when empty, so
    that the results of a method that reads no such files, requires no library and trains
    on the dataset it is evaluated on keep the keys they were stored under before those
    fields existed)."""
    identity = dataclasses.asdict(job.identity())
    for later in ("method_files", "method_versions", "training_dataset"):
        if not identity[later]:
            del identity[later]
    return digest(identity)
