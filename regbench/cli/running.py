"""``regbench list``, ``run``, ``train`` and ``evaluate``: the commands that load plugins
and run methods (or score fields made elsewhere).

Everything a run will do is decided here, before anything runs: the dataset (its
files checked), the methods and their parameters (resolved once, into jobs), the
metrics, the timeouts and where tasks execute. Then :func:`regbench.execution.runner.run_jobs`
does the work and :mod:`regbench.outputs` writes it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from regbench.cli import config, datasets
from regbench.cli.arguments import MOST_SECONDS, PAIRS_FAILED, UsageError, assignments, user_input, writable
from regbench.cli.datasets import Requested
from regbench.common.defaults import EXPORT_FORMATS, LOG_EVERY
from regbench.common.fingerprint import FileDigests
from regbench.common.lock import FolderLock
from regbench.common.throttle import log_line
from regbench.execution.executors import DaskExecutor, Executor, LocalPool
from regbench.execution.inputs import DataFingerprint
from regbench.execution.plan import MethodJob, Timeouts, plan_job
from regbench.execution.rescoring import score_folders
from regbench.execution.runner import run_jobs
from regbench.execution.store import ResultStore
from regbench.execution.tasks import Task, run_task
from regbench.learning.weights import default_cache_dir
from regbench.measuring import devices
from regbench.outputs.fields import ExportTarget, FieldExport, FieldSource, check_export, field_folder
from regbench.outputs.files import RESULTS_FILE, RUN_FILE, RunOutput, write_run
from regbench.outputs.integrity import DamagedResults, FolderCheck
from regbench.outputs.owned import ForeignFiles
from regbench.outputs.run_info import RunInfo, continued_history, run_record
from regbench.outputs.tables import console_table, table_notes
from regbench.plugin.catalog import Catalog
from regbench.plugin.dataset import Dataset, Pair
from regbench.plugin.manager import PluginConflict, PluginNotFound, collect, plugin_manager
from regbench.plugin.metric import Metric
from regbench.plugin.training import PROFILES, Profile, default_profile
from regbench.plugin.variants import trained_on_label


def catalog(args: argparse.Namespace) -> Catalog:
    """What the installed plugins (and ``-p`` modules) register; their problems as warnings."""
    try:
        found = collect(plugin_manager(args.plugins))
    except (PluginNotFound, PluginConflict) as error:
        raise UsageError(str(error)) from None
    for problem in found.problems:
        print(f"regbench: warning: {problem}; its methods, datasets and metrics are skipped", file=sys.stderr)
    return found


def progress_bars(args: argparse.Namespace) -> bool:
    """Progress bars: on a terminal, unless ``--no-progress``. Written to a file, their
    frames would be noise: a run logs lines instead (:func:`_log_every`)."""
    return not args.no_progress and sys.stderr.isatty()


def _log_every(args: argparse.Namespace) -> float | None:
    """Seconds between progress lines (training steps, pairs registered) when the output
    goes to a file rather than a terminal's bars; None with ``--no-progress`` or bars."""
    return None if args.no_progress or progress_bars(args) else LOG_EVERY


def _note(line: str) -> None:
    """A line beside the results, e.g. a method or metric that ``all`` skips (not installed)."""
    print(line, file=sys.stderr)


def _dataset(args: argparse.Namespace, found: Catalog, asked: Requested | None = None, *,
             data_dir: bool = True) -> Dataset:
    """The dataset asked for (``asked``, else ``--dataset`` with its ``--dataset-option``
    items), with its options and, unless ``data_dir`` is false (a training dataset, which
    takes its folder as an option), ``--data-dir``; every file checked before any training."""
    asked = asked or datasets.one_dataset(args)
    with user_input():
        dataset = found.select_dataset(asked.name, asked.options, data_dir=args.data_dir if data_dir else None)
        dataset.validate(progress=progress_bars(args))
    return dataset


def training_profile(args: argparse.Namespace) -> Profile:
    """``--profile`` (by default ``converge`` where CUDA is available, else ``quick``)
    with the ``--train`` settings applied."""
    name = args.profile or default_profile(cuda=devices.pick_device().type == "cuda")
    items = [part for item in args.train for part in item.split(",") if part.strip()]
    with user_input():
        return PROFILES[name].with_settings(assignments("--train", items))


def _cache_dir(args: argparse.Namespace) -> Path:
    """Where weights and file digests are kept (``--cache-dir``, ``$REGBENCH_CACHE`` or the
    default), checked writable before any work: a read-only cache would fail every
    learning method's pairs one by one."""
    folder = args.cache_dir or default_cache_dir()
    if not writable(folder.absolute()):
        given = "--cache-dir" if args.cache_dir else "$REGBENCH_CACHE" if "REGBENCH_CACHE" in os.environ else "the cache"
        raise UsageError(f"{given} {folder}: cannot be written here (a file on the way, or no permission); "
                         f"point --cache-dir at a writable folder")
    return folder


def _fingerprint(args: argparse.Namespace, dataset: Dataset, pairs: Sequence[Pair]) -> DataFingerprint:
    """The content digests of every file the run reads: its pairs' subjects, the atlas
    and the training subjects (remembered in the cache, so unchanged files are read once)."""
    atlas = (dataset.atlas_id,) if dataset.atlas_id is not None else ()
    read = [*atlas, *dataset.train_ids, *(sid for pair in pairs for sid in (pair.fixed_id, pair.moving_id))]
    try:
        return DataFingerprint.of(dataset, read, FileDigests(_cache_dir(args) / "file-digests"))
    except OSError as error:
        raise UsageError(f"dataset {dataset.name!r}: {error}") from None


def _image_ndim(dataset: Dataset, pairs: Sequence[Pair]) -> int | None:
    """How many dimensions the dataset's images have (from one of them), so that methods
    which cannot take them are left out before any work."""
    first = next(iter([*(pair.fixed_id for pair in pairs), *dataset.train_ids]), None)
    return None if first is None else dataset.load(first).image.ndim


Trained = tuple[Dataset, DataFingerprint]  # a dataset learning methods train on, with its files' digests


def _training_sources(args: argparse.Namespace, dataset: Dataset,
                      trained_on: Sequence[Trained]) -> list[tuple[Dataset | None, DataFingerprint | None]]:
    """Each dataset learning methods train on, with its files' digests, checked against
    ``dataset`` (shapes agree; intensities on one scale, else a warning); ``(None, None)``
    for ``dataset`` itself, so a method trained where it is evaluated is planned as
    without ``--train-dataset``: its name, weights and stored results unchanged."""
    sources: list[tuple[Dataset | None, DataFingerprint | None]] = []
    for source, digests in trained_on:
        if datasets.same(source, dataset):
            sources.append((None, None))
            continue
        if source.name == dataset.name:
            _note(f"regbench: note: --train-dataset {source.name} has other options than --dataset {dataset.name} "
                  f"({source.options} against {dataset.options}): its networks, named METHOD@{source.name}, "
                  f"are not trained in-distribution")
        with user_input():
            datasets.check_not_tested_on(source, dataset)
            warning = datasets.check_trainable(source, dataset, several=len(trained_on) > 1 or "," in args.dataset)
        if warning:
            print(f"regbench: warning: {warning}", file=sys.stderr)
        sources.append((source, digests))
    return sources


def _jobs(args: argparse.Namespace, found: Catalog, dataset: Dataset, pairs: Sequence[Pair], *,
          trained_on: Sequence[Trained] = (), **settings: Any) -> list[MethodJob]:
    """One planned job per method (or variant) and seed: parameters resolved and typed,
    here and only here. A method whose results do not depend on the seed runs once,
    with the first seed; only the first seed's jobs keep the report's figure pair. A
    learning method has one job per dataset of ``trained_on`` (``--train-dataset``), named
    ``METHOD@DATASET`` unless that dataset is the one evaluated on."""
    with user_input():
        chosen = found.select_methods(args.methods, args.param, note=_note, ndim=_image_ndim(dataset, pairs))
    learners = any(choice.entry.cls.learns for choice in chosen)
    if trained_on and not learners:
        _note("--train-dataset: no method of this run learns, so it changes nothing")
    sources = _training_sources(args, dataset, trained_on) if trained_on and learners else [(None, None)]
    inputs = _fingerprint(args, dataset, pairs)
    profile = training_profile(args)
    seeds = tuple(args.seeds)
    jobs = []
    with user_input():
        for choice in chosen:
            for source, source_inputs in sources if choice.entry.cls.learns else [(None, None)]:
                label = choice.label if source is None else trained_on_label(choice.label or choice.entry.name,
                                                                             source.name)
                for seed in seeds if choice.entry.cls.seeded else seeds[:1]:
                    later = {"figure_pair": None} if seed != seeds[0] and "figure_pair" in settings else {}
                    jobs.append(plan_job(choice.entry, choice.given, **{**settings, **later}, label=label,
                                         dataset=dataset, seed=seed, profile=profile, cache_dir=_cache_dir(args),
                                         progress=progress_bars(args), log_every=_log_every(args), inputs=inputs,
                                         train_dataset=source,
                                         train_inputs=source_inputs))
    return jobs


def _timeouts(args: argparse.Namespace, jobs: Sequence[MethodJob]) -> Timeouts:
    """``--timeout SECONDS`` for every method, ``--timeout METHOD=SECONDS`` for one
    (a method's name covers its variants; a variant's name only that variant)."""
    pair, by_method = Timeouts.pair, {}
    names = {job.name: [job.name] for job in jobs}
    for job in jobs:
        names.setdefault(job.method.name, []).append(job.name)
    for item in args.timeout:
        method, _, seconds = item.rpartition("=")
        try:
            value = float(seconds)
        except ValueError:
            raise UsageError(f"--timeout expects SECONDS or METHOD=SECONDS, got {item!r}") from None
        if not 0 < value <= MOST_SECONDS:
            raise UsageError(f"--timeout must be positive and at most {MOST_SECONDS:g} s, got {item!r}")
        if method and method not in names:
            raise UsageError(f"--timeout names method {method!r}, which is not in this run ({', '.join(sorted(names))})")
        if method:
            by_method.update(dict.fromkeys(names[method], value))
        else:
            pair = value
    return Timeouts(pair=pair, prepare=args.prepare_timeout, by_method=by_method)


def _executor(args: argparse.Namespace) -> Executor:
    """A local pool of ``--workers`` processes, or the Dask cluster ``--scheduler`` names
    (the counts' ranges are checked with every option's, before any command runs:
    :func:`~regbench.cli.arguments.check_arguments`)."""
    if args.no_isolation and (args.workers > 1 or args.scheduler):
        raise UsageError("--no-isolation runs one method at a time in this process; drop --workers and --scheduler")
    if args.scheduler is None:
        return LocalPool(args.workers)
    try:
        return DaskExecutor(args.scheduler, args.workers)
    except ImportError:
        raise UsageError("--scheduler needs Dask's distributed scheduler: pip install 'regbench[dask]'") from None
    except OSError as error:
        raise UsageError(f"could not reach the Dask scheduler {args.scheduler!r}: {error}") from None


def list_plugins(args: argparse.Namespace) -> int:
    found = catalog(args)
    for title, registry in (("methods", found.methods), ("datasets", found.datasets), ("metrics", found.metrics)):
        print(f"{title}:")
        width = max((len(name) for name in registry.names()), default=0)
        for entry in registry.entries():
            print(f"  {entry.name:<{width}}  {entry.status:<10}  {entry.description}")
            for column in getattr(entry.cls, "columns", ()):  # a metric's columns, defined exactly
                print(f"  {'':<{width}}    {column.result_column}: {column.definition}")
    return 0


def _metrics(args: argparse.Namespace, found: Catalog) -> list[Metric]:
    """The metrics ``--metrics`` names, made (outside :func:`user_input`: a metric that
    fails to construct is a plugin's bug, not a mistake in the command)."""
    with user_input():
        entries = found.select_metrics(args.metrics, note=_note)
    return [entry.cls() for entry in entries]


def _export_target(args: argparse.Namespace, dataset: Dataset) -> ExportTarget | None:
    """``--export FORMAT DIR``: where fields go (FORMAT checked, and every pair's file name distinct)."""
    if args.export is None:
        return None
    format_, folder = args.export
    if format_ not in EXPORT_FORMATS:
        raise UsageError(f"--export FORMAT must be one of {', '.join(EXPORT_FORMATS)}, got {format_!r}")
    with user_input(f"--export {format_}: "):
        check_export(format_, dataset.test_pairs())
    return ExportTarget(format_, Path(folder))


def _exported_note(export_to: ExportTarget) -> str:
    return (f"fields exported to {export_to.root}/<method>/ as {EXPORT_FORMATS[export_to.format]} "
            f"(score them: regbench evaluate)")


def _previous_run(out: Path) -> RunInfo:
    """The run.json a rerun into ``out`` replaces, for its history; nothing recorded when
    there is none or it is damaged (the rerun writes a whole new one)."""
    try:
        return FolderCheck.open(out, RUN_FILE).run_info
    except DamagedResults:
        return RunInfo()


def _print_outcome(output: RunOutput, dataset: Dataset, out: Path, seconds: float) -> None:
    """The run's Table 1, contention, failures and where it was written, on the console."""
    n_pairs = output.results["pair"].nunique()
    print(f"\nDice (mean ± std over labels) on {dataset.name}, {n_pairs} test pairs:\n")
    print(console_table(output.results))
    for note in table_notes(output.results):
        print(f"\n{note}")
    failures = output.results[output.results["status"] != "ok"]
    for method, rows in failures.groupby("method", sort=False):
        print(f"\n{method}: {len(rows)} failed pair(s); first error: {rows['error'].iloc[0]}", file=sys.stderr)
    errors = _metric_errors(output.results)
    for method, rows in output.results[errors != ""].groupby("method", sort=False):
        print(f"\n{method}: a metric failed on {len(rows)} pair(s), its columns left empty there; first error: "
              f"{errors[rows.index[0]]}", file=sys.stderr)
    print(f"\nresults written to {out}/ in {seconds:.0f} s")


def _warn_unscored(spec: str, metrics: Sequence[Metric], results: pd.DataFrame, dataset: Dataset) -> None:
    """A metric named in ``--metrics`` (``spec``) that scored none, or only some, of the
    pairs that succeeded: said once, since its columns are otherwise just empty (a
    dataset without landmarks has no TRE; TRE over some pairs is not over all)."""
    if spec == "all":
        return
    ok = results[results["status"] == "ok"]
    for metric in metrics:
        columns = [column.result_column for column in metric.columns if column.result_column in ok]
        scored = int(ok[columns].notna().any(axis=1).sum()) if columns else 0
        needs = [what for what, needed in (("label maps", metric.needs_labels), ("landmarks", metric.needs_landmarks),
                                           ("a true field", metric.needs_true_displacement)) if needed]
        if needs and len(ok) and scored < len(ok):  # a metric that failed on a pair is named by _print_outcome
            print(f"regbench: warning: metric {metric.name!r} scored {scored} of {len(ok)} pair(s): it needs "
                  f"{' and '.join(needs)}, which dataset {dataset.name!r} does not give for the others",
                  file=sys.stderr)


def _figure_pair(args: argparse.Namespace, pairs: Sequence[Pair]) -> str | None:
    """``--figure-pair`` (one of the pairs evaluated), or the first pair."""
    if args.figure_pair is None:
        return pairs[0].id if pairs else None
    ids = [pair.id for pair in pairs]
    if args.figure_pair not in ids:
        shown = ", ".join(ids[:5]) + (f" (and {len(ids) - 5} more)" if len(ids) > 5 else "")
        raise UsageError(f"--figure-pair {args.figure_pair!r} is not a pair of this run; its pairs: {shown}")
    return args.figure_pair


def _check_out(out: Path, *, refuse_run_folder: bool = False) -> None:
    """Check that a command's tables in ``out`` would only replace regbench's own: a
    folder holding a ``results.csv`` without the ``run.json`` regbench writes beside it
    is someone else's. ``refuse_run_folder``: ``evaluate`` never writes over a run's results."""
    if (out / RESULTS_FILE).exists() and not (out / RUN_FILE).is_file():
        raise UsageError(f"--out {out}: holds a {RESULTS_FILE} that regbench did not write (no {RUN_FILE} beside it); "
                         f"choose another folder, or move it away")
    if refuse_run_folder and (out / "progress").is_dir():
        raise UsageError(f"--out {out}: is the results folder of a `regbench run`; evaluate would overwrite its "
                         f"tables: choose another folder")
    if (out / "progress").exists() and not writable(out / "progress"):
        raise UsageError(f"--out {out}: its progress/ folder cannot be written (no permission)")


def _metric_errors(results: pd.DataFrame) -> pd.Series:
    """Each row's metric errors ('' for none): a metric that failed on a pair leaves its
    columns empty there, which a table would show as a missing value, not as a failure."""
    if "metric_errors" not in results:
        return pd.Series("", index=results.index)
    return results["metric_errors"].fillna("").astype(str)


def _exit_status(output: RunOutput) -> int:
    """0, or :data:`PAIRS_FAILED` when any pair failed, or any metric failed on a pair
    (every table is written first)."""
    failed = (output.results["status"] != "ok").any() or (_metric_errors(output.results) != "").any()
    return PAIRS_FAILED if failed else 0


def run(args: argparse.Namespace) -> int:
    found = catalog(args)
    tests, trains = datasets.requested(args)
    named = {test.name for test in tests}
    sources = [_dataset(args, found, asked, data_dir=asked.name in named) for asked in trains]
    trained_on = [(source, _fingerprint(args, source, ())) for source in sources]  # digested once, for every test
    several = len(tests) > 1  # a train × test matrix: one results folder per dataset evaluated on
    planned = [_plan_on(_on(args, test.name) if several else args, found, test, trained_on)
               for test in tests]  # all checked before any work
    executor = _executor(args)
    statuses = []
    with contextlib.ExitStack() as locks, contextlib.closing(executor):
        for out, _ in planned:
            locks.enter_context(FolderLock(out, wait=args.wait))
        for test, (out, work) in zip(tests, planned, strict=True):
            if several:
                print(f"regbench: evaluating on {test.name}, into {out}/", file=sys.stderr)
            statuses.append(work(executor))
    if several:
        folders = " ".join(str(out) for out, _ in planned)
        print(f"next, the matrix across datasets: regbench report {folders} --out {args.out / 'report'}")
    return max(statuses)


def _on(args: argparse.Namespace, name: str) -> argparse.Namespace:
    """``args`` for the run on dataset ``name`` of several: its results into OUT/NAME, its
    exported fields into DIR/NAME (each dataset's own, as its results)."""
    export = [args.export[0], str(Path(args.export[1]) / name)] if args.export else None
    return argparse.Namespace(**{**vars(args), "out": args.out / name, "export": export})


def _plan_on(args: argparse.Namespace, found: Catalog, test: Requested,
             trained_on: Sequence[Trained]) -> tuple[Path, Callable[[Executor], int]]:
    """``regbench run`` on one dataset (``test``), learning methods trained on each of
    ``trained_on`` (none: on ``test``), into ``--out``: everything decided and checked
    now; returned, that folder and the call that does the work there with an executor
    (the folder locked by the caller)."""
    _check_out(args.out)
    dataset = _dataset(args, found, test)
    pairs = dataset.test_pairs()[: args.max_pairs]
    figure_pair = _figure_pair(args, pairs)
    metrics = _metrics(args, found)
    export_to = _export_target(args, dataset)
    jobs = _jobs(args, found, dataset, pairs, trained_on=trained_on, metrics=tuple(metrics), figure_pair=figure_pair,
                 threads=args.threads or devices.cpu_threads(), timing_repeats=args.repeats,
                 batch_pairs=args.batch_pairs)
    timeouts = _timeouts(args, jobs)
    return args.out, lambda executor: _run_planned(args, found, dataset, pairs, jobs, metrics, export_to, timeouts,
                                                   executor)


def _run_planned(args: argparse.Namespace, found: Catalog, dataset: Dataset, pairs: Sequence[Pair],
                 jobs: Sequence[MethodJob], metrics: Sequence[Metric], export_to: ExportTarget | None,
                 timeouts: Timeouts, executor: Executor) -> int:
    """The work of ``regbench run`` once everything is planned and ``--out`` is this run's alone."""
    store = ResultStore(args.out / "progress")
    history = continued_history(_previous_run(args.out), fresh=args.fresh)
    if args.fresh:
        store.clear()
    every = _log_every(args)
    started = time.perf_counter()
    try:
        output = run_jobs(jobs, pairs, store, dataset=dataset, progress=progress_bars(args), timeouts=timeouts,
                          isolate=not args.no_isolation, executor=executor,
                          warped_out=args.out if args.save_warped else None, export_to=export_to,
                          **({} if every is None else {"log": log_line, "log_every": every}))
    except ForeignFiles as error:  # raised while planning the files to write, before any work
        raise UsageError(str(error)) from None
    output.figure_pair = jobs[0].figure_pair if jobs else None
    seeds = tuple(args.seeds)
    seconds = round(time.perf_counter() - started, 3)
    run_info = RunInfo(
        command=args.command_line,
        dataset=dataset.name,
        dataset_options=dataset.options,
        train_datasets={job.train_dataset.name: dict(job.train_dataset.options)
                        for job in jobs if job.train_dataset is not None},
        methods=tuple(dict.fromkeys(job.name for job in jobs)),
        requested_methods=args.methods,
        not_installed={entry.name: entry.status for entry in found.methods.entries() if not entry.installed},
        params={job.name: dict(job.params) for job in jobs},
        seed=seeds[0],
        seeds=seeds,
        run_once=tuple(job.name for job in jobs if not job.method.seeded) if len(seeds) > 1 else (),
        profile=jobs[0].profile.name,
        training=dataclasses.asdict(jobs[0].profile),
        seconds=seconds,
        reused_results=output.reused,
        workers=executor.workers,
        scheduler=args.scheduler,
        timing_repeats=args.repeats,
        batch_pairs=args.batch_pairs,
        export=tuple(args.export) if args.export else None,
        config_file=str(args.config) if args.config else None,
        config=config.resolved(args),
        columns=tuple(column for metric in metrics for column in metric.columns),
    )
    computed = len(output.results) - output.reused
    earlier = history if output.reused else ()  # nothing reused: no earlier run's results are left to describe
    run_info = dataclasses.replace(run_info, history=(*earlier, run_record(run_info, computed, datetime.now(UTC))))
    write_run(args.out, output, run_info)
    _print_outcome(output, dataset, args.out, seconds)
    _warn_unscored(args.metrics, metrics, output.results, dataset)
    if output.reused:
        print(f"{output.reused} result(s) reused from {args.out / 'progress'} (--fresh recomputes them)")
    if export_to is not None:
        print(_exported_note(export_to))
    if any(job.method.learns for job in jobs):
        print(f"trained weights are cached in {args.cache_dir or default_cache_dir()}/ (--cache-dir)")
    print(f"next: regbench report {args.out}")
    return _exit_status(output)


def train(args: argparse.Namespace) -> int:
    found = catalog(args)
    failed = 0
    dataset = _dataset(args, found)
    for job in _jobs(args, found, dataset, ()):
        name = job.name if len(args.seeds) == 1 else f"{job.name} (seed {job.seed})"
        outcome = run_task(Task(job, key="", timeouts=Timeouts(prepare=args.prepare_timeout),
                                isolate=not args.no_isolation))
        if outcome.info is None:
            print(f"{name}: failed: {outcome.error}", file=sys.stderr)
            failed += 1
        elif not outcome.info.losses:
            print(f"{name}: nothing to train")
        else:
            columns = outcome.info.columns
            state = "cached" if columns["train_cached"] else "trained"
            validation = (f", validation Dice {columns['train_val_dice']:.4f} (step {columns['train_best_step']:.0f})"
                          if columns["train_val_dice"] == columns["train_val_dice"] else "")
            print(f"{name}: {state}, {columns['train_steps']} steps, stopped: {columns['train_stop']}, "
                  f"{columns['train_seconds']:.1f} s, final loss {outcome.info.losses[-1]:.5g}{validation}")
    return 1 if failed else 0


def _field_sources(folders: Sequence[Path], pairs: Sequence[Pair]) -> dict[str, FieldSource]:
    """Each folder of fields by the method name it stands for (its own name)."""
    sources: dict[str, FieldSource] = {}
    for folder in folders:
        name = folder.resolve().name
        if name in sources:
            raise UsageError(f"two folders are named {name!r} ({sources[name].folder} and {folder}); each folder "
                             f"names a method, so rename one")
        with user_input():
            sources[name] = field_folder(folder, pairs)
    return sources


def evaluate(args: argparse.Namespace) -> int:
    found = catalog(args)
    _check_out(args.out, refuse_run_folder=True)
    dataset = _dataset(args, found)
    all_pairs = dataset.test_pairs()
    pairs = all_pairs[: args.max_pairs]
    sources = _field_sources(args.folders, all_pairs)
    metrics = _metrics(args, found)
    figure_pair = _figure_pair(args, pairs)
    export_to = _export_target(args, dataset)
    started = time.perf_counter()
    with FolderLock(args.out, wait=args.wait):
        exports = _evaluation_exports(export_to, sources, all_pairs, pairs)
        output = score_folders(sources, pairs, dataset, metrics, figure_pair, progress=progress_bars(args),
                               exports=exports)
        status = _write_evaluation(args, dataset, sources, metrics, output, started)
    if export_to is not None:
        print(_exported_note(export_to))
    return status


def _evaluation_exports(export_to: ExportTarget | None, sources: Mapping[str, FieldSource],
                        all_pairs: Sequence[Pair], pairs: Sequence[Pair]) -> dict[str, FieldExport]:
    """``evaluate --export FORMAT DIR``: each source's folder of exported fields, never the
    folder it reads (claiming it would remove the files being scored). Claimed under a key
    of this evaluation alone: an evaluation writes every pair it scores, so the files an
    earlier one wrote go, and a pair that fails now leaves no stale field behind."""
    if export_to is None:
        return {}
    exports = {}
    for name, source in sources.items():
        if (export_to.root / name).resolve() == source.folder.resolve():
            raise UsageError(f"--export {export_to.format} {export_to.root}: would write into {source.folder}, "
                             f"the folder being scored; export into another folder")
        try:
            exports[name] = export_to.for_method(name, f"evaluate {uuid.uuid4().hex}", all_pairs, pairs)
        except ValueError as error:  # ForeignFiles, or a missing extra
            raise UsageError(f"--export {export_to.format}: {error}") from None
    return exports


def _write_evaluation(args: argparse.Namespace, dataset: Dataset, sources: dict[str, FieldSource],
                      metrics: Sequence[Metric], output: RunOutput, started: float) -> int:
    """``regbench evaluate``'s tables, and its exit status."""
    seconds = round(time.perf_counter() - started, 3)
    run_info = RunInfo(
        command=args.command_line,
        dataset=dataset.name,
        dataset_options=dataset.options,
        methods=tuple(sources),
        fields={name: str(source.folder) for name, source in sources.items()},
        export=tuple(args.export) if args.export else None,
        seconds=seconds,
        columns=tuple(column for metric in metrics for column in metric.columns),
    )
    write_run(args.out, output, run_info)
    _print_outcome(output, dataset, args.out, seconds)
    _warn_unscored(args.metrics, metrics, output.results, dataset)
    print(f"next: regbench report {args.out}")
    return _exit_status(output)


def interrupted_note(args: argparse.Namespace) -> str:
    """What an interrupted ``run`` or ``train`` keeps: the results stored so far (or
    the weights of every network trained), and that the same command continues."""
    if args.command == "train":
        return (f"the weights of every network trained so far are cached in {args.cache_dir or default_cache_dir()}/; "
                f"the same command trains the rest")
    tests = datasets.names("--dataset", args.dataset)
    folders = [args.out / name for name in tests] if len(tests) > 1 else [args.out]  # a matrix: OUT/NAME
    stored = sum(ResultStore(folder / "progress").count() for folder in folders)
    where = " and ".join(f"{folder / 'progress'}/" for folder in folders)
    return f"{stored} result(s) are stored in {where}; the same command continues where this one stopped"


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "list": list_plugins, "run": run, "train": train, "evaluate": evaluate}
