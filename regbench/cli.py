"""The ``regbench`` command: ``list`` what is installed, ``run`` a comparison, ``train``
learning methods without evaluating them, ``report`` on a results folder, ``compare``
a run with a baseline (the CI regression gate)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from regbench import options
from regbench.compare import Thresholds, compare, has_regression, read_results
from regbench.dataset import Dataset
from regbench.executors import DaskExecutor, Executor, LocalPool
from regbench.manager import Catalog, collect, plugin_manager
from regbench.method import Method
from regbench.profiles import PROFILES
from regbench.registry import Entry, Registry
from regbench.runner import run_benchmark
from regbench.store import ResultStore
from regbench.tables import console_table, write_run
from regbench.tasks import Task, Timeouts, run_task
from regbench.worker import MethodJob

USAGE_ERROR = 2


class UsageError(Exception):
    """Bad command-line input; reported with exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="regbench", description=__doc__)
    parser.add_argument("-p", dest="plugins", action="append", default=[], metavar="MODULE",
                        help="load a plugin module (repeatable); 'no:NAME' blocks an installed plugin")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list methods, datasets and metrics, installed or not")
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument("--methods", default="all", help="'all' (every installed method) or names joined by commas")
    shared.add_argument("--dataset", default="mni2d", help="dataset name (default: mni2d, embedded)")
    shared.add_argument("--data-dir", default=None, metavar="PATH",
                        help="the dataset's folder, for datasets you bring (oasis2d, oasis3d, l2r-oasis, nifti-pairs)")
    shared.add_argument("--dataset-option", action="append", default=[], metavar="KEY=VALUE",
                        help="set a dataset option, e.g. n_subjects=100 (repeatable)")
    shared.add_argument("--param", action="append", default=[], metavar="METHOD.KEY=VALUE",
                        help="set a method parameter, e.g. eca-unet.dense=false (repeatable)")
    shared.add_argument("--seed", type=int, default=0, help="seed for every method (default: 0)")
    shared.add_argument("--profile", choices=sorted(PROFILES), default="quick",
                        help="training profile of learning methods (default: quick; paper: as published)")
    shared.add_argument("--cache-dir", type=Path, default=None,
                        help="where trained weights are kept (default: $REGBENCH_CACHE or ~/.cache/regbench)")
    shared.add_argument("--no-progress", action="store_true", help="hide progress bars")
    shared.add_argument("--prepare-timeout", type=float, default=None, metavar="SECONDS",
                        help="kill a method whose training (or loading) takes longer (default: no limit)")
    shared.add_argument("--no-isolation", action="store_true",
                        help="run methods in this process (for a debugger): no timeouts, a crash ends the run")
    run = commands.add_parser("run", parents=[shared],
                              help="register a dataset's test pairs with each method and compare")
    run.add_argument("--out", type=Path, default=Path("results"), help="output folder (default: results)")
    run.add_argument("--max-pairs", type=int, default=None, metavar="N", help="evaluate only the first N test pairs")
    run.add_argument("--metrics", default="all", help="'all' (every installed metric) or names joined by commas")
    run.add_argument("--save-warped", action="store_true",
                     help="write warped images, warped labels and displacement fields as NIfTI into OUT/warped/")
    run.add_argument("--figure-pair", default=None, metavar="PAIR",
                     help="pair shown in the report's qualitative figure (default: the first test pair)")
    run.add_argument("--timeout", action="append", default=[], metavar="[METHOD=]SECONDS",
                     help=f"kill a method that takes longer on one pair and record the pair as failed "
                          f"(default {Timeouts.pair:g} s; METHOD=SECONDS for one method; repeatable)")
    run.add_argument("--workers", type=int, default=1, metavar="N",
                     help="evaluate with N worker processes at once (default 1; methods side by side share the cores, "
                          "so compare speeds from runs with one); with --scheduler local, the Dask workers started")
    run.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                     help="run on this Dask cluster, or 'local' for a Dask LocalCluster of --workers workers "
                          "(needs pip install 'regbench[dask]')")
    run.add_argument("--threads", type=int, default=None, metavar="N",
                     help="CPU threads of every worker, wherever it runs (default: this machine's cores); "
                          "learned methods train to the same weights only with the same count")
    run.add_argument("--fresh", action="store_true",
                     help="discard results stored in OUT by an earlier run (default: reuse them and compute the rest)")
    commands.add_parser("train", parents=[shared], help="train (and cache) learning methods without evaluating")
    report = commands.add_parser("report", help="Markdown and HTML report (tables, plots, statistics) of a results folder")
    report.add_argument("results", type=Path, help="a folder written by `regbench run`")
    report.add_argument("--out", type=Path, default=None, help="where to write the report (default: the results folder)")
    gate = commands.add_parser("compare", help="exit 1 when a method's Dice or speed regressed against a baseline run")
    gate.add_argument("current", type=Path, help="results folder of the run to check")
    gate.add_argument("baseline", type=Path, help="results folder of the baseline run (e.g. reports/baseline)")
    gate.add_argument("--dice-tolerance", type=float, default=Thresholds.dice_tolerance,
                      help=f"allowed drop of mean Dice (default {Thresholds.dice_tolerance})")
    gate.add_argument("--speed-factor", type=float, default=Thresholds.speed_factor,
                      help=f"allowed growth of the speed ratio (default {Thresholds.speed_factor})")
    return parser


def _print_registry(title: str, registry: Registry[Any]) -> None:
    print(f"{title}:")
    width = max((len(name) for name in registry.names()), default=0)
    for entry in registry.entries():
        print(f"  {entry.name:<{width}}  {entry.status:<10}  {entry.description}")


def _select(registry: Registry[Any], kind: str, name: str) -> Entry[Any]:
    if name not in registry:
        raise UsageError(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(registry.names())}")
    entry = registry[name]
    if not entry.installed:
        raise UsageError(f"{kind} {name!r} is {entry.status}")
    return entry


def _select_many(registry: Registry[Any], kind: str, spec: str) -> list[Entry[Any]]:
    """``all`` installed entries, or the ones named (comma-separated)."""
    if spec == "all":
        for entry in registry.entries():
            if not entry.installed:
                print(f"skipping {kind} {entry.name}: {entry.status}", file=sys.stderr)
        return [entry for entry in registry.entries() if entry.installed]
    names = [name.strip() for name in spec.split(",") if name.strip()]
    if not names:
        raise UsageError(f"--{kind}s needs 'all' or at least one {kind} name")
    return [_select(registry, kind, name) for name in names]


def _method_params(assignments: Sequence[str], selected: Sequence[Entry[Method]]) -> dict[str, dict[str, Any]]:
    by_method: dict[str, list[str]] = {}
    for item in assignments:
        method, dot, rest = item.partition(".")
        if not dot:
            raise UsageError(f"--param expects METHOD.KEY=VALUE, got {item!r}")
        by_method.setdefault(method, []).append(rest)
    known = {entry.name: entry for entry in selected}
    parsed = {}
    for method, items in by_method.items():
        if method not in known:
            raise UsageError(f"--param names method {method!r}, which is not in this run ({', '.join(known)})")
        parsed[method] = options.parse_assignments(f"method {method!r}", items, known[method].cls.default_params)
    return parsed


def _setup(args: argparse.Namespace, catalog: Catalog) -> tuple[Dataset, list[Entry[Method]], dict[str, dict[str, Any]]]:
    """The dataset, the methods and their parameters a command asked for."""
    dataset_entry = _select(catalog.datasets, "dataset", args.dataset)
    methods = _select_many(catalog.methods, "method", args.methods)
    if not methods:
        raise UsageError("no installed method to run; see `regbench list`")
    assignments = list(args.dataset_option)
    if args.data_dir is not None:
        assignments.append(f"data_dir={args.data_dir}")
    try:
        dataset_options = options.parse_assignments(
            f"dataset {args.dataset!r}", assignments, dataset_entry.cls.default_options
        )
        params = _method_params(args.param, methods)
        dataset = dataset_entry.cls(**dataset_options)
        dataset.validate(progress=not args.no_progress)  # bad files stop us here, before any training
    except ValueError as error:
        raise UsageError(str(error)) from None
    return dataset, methods, params


def _timeouts(args: argparse.Namespace, methods: Sequence[Entry[Method]]) -> Timeouts:
    """``--timeout SECONDS`` for every method, ``--timeout METHOD=SECONDS`` for one."""
    pair, by_method = Timeouts.pair, {}
    names = {entry.name for entry in methods}
    for item in args.timeout:
        method, _, seconds = item.rpartition("=")
        try:
            value = float(seconds)
        except ValueError:
            raise UsageError(f"--timeout expects SECONDS or METHOD=SECONDS, got {item!r}") from None
        if value <= 0:
            raise UsageError(f"--timeout must be positive, got {item!r}")
        if method and method not in names:
            raise UsageError(f"--timeout names method {method!r}, which is not in this run ({', '.join(sorted(names))})")
        if method:
            by_method[method] = value
        else:
            pair = value
    return Timeouts(pair=pair, prepare=args.prepare_timeout, by_method=by_method)


def _executor(args: argparse.Namespace) -> Executor:
    """A local pool of ``--workers`` processes, or the Dask cluster ``--scheduler`` names."""
    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads must be at least 1, got {args.threads}")
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


def _run(args: argparse.Namespace, catalog: Catalog) -> int:
    dataset, methods, params = _setup(args, catalog)
    metrics = [entry.cls() for entry in _select_many(catalog.metrics, "metric", args.metrics)]
    timeouts = _timeouts(args, methods)
    store = ResultStore(args.out / "progress")
    if args.fresh:
        store.clear()
    started = time.perf_counter()
    executor = _executor(args)
    try:
        output = run_benchmark(methods, dataset, store, seed=args.seed, params=params, metrics=metrics,
                               max_pairs=args.max_pairs, profile=PROFILES[args.profile], cache_dir=args.cache_dir,
                               progress=not args.no_progress, figure_pair=args.figure_pair,
                               warped_out=args.out if args.save_warped else None, timeouts=timeouts,
                               isolate=not args.no_isolation, executor=executor, threads=args.threads)
    finally:
        executor.close()
    run_info = {
        "command": "regbench " + " ".join(sys.argv[1:]),
        "dataset": dataset.name,
        "dataset_options": dataset.options,
        "methods": [entry.name for entry in methods],
        "params": params,
        "seed": args.seed,
        "profile": args.profile,
        "seconds": round(time.perf_counter() - started, 3),
        "reused_results": output.reused,
        "workers": executor.workers,
        "scheduler": args.scheduler,
    }
    write_run(args.out, output, run_info)
    n_pairs = output.results["pair"].nunique()
    print(f"\nDice (mean ± std over labels) on {dataset.name}, {n_pairs} test pairs:\n")
    print(console_table(output.results))
    failures = output.results[output.results["status"] != "ok"]
    for method, rows in failures.groupby("method", sort=False):
        print(f"\n{method}: {len(rows)} failed pair(s); first error: {rows['error'].iloc[0]}", file=sys.stderr)
    if output.reused:
        print(f"\n{output.reused} result(s) reused from {args.out / 'progress'} (--fresh recomputes them)")
    print(f"\nresults written to {args.out}/ in {run_info['seconds']:.0f} s")
    return 0


def _train(args: argparse.Namespace, catalog: Catalog) -> int:
    dataset, methods, params = _setup(args, catalog)
    failed = 0
    for entry in methods:
        job = MethodJob(method=entry.cls, params=params.get(entry.name, {}), dataset=dataset, seed=args.seed,
                        profile=PROFILES[args.profile], cache_dir=args.cache_dir, progress=not args.no_progress)
        outcome = run_task(Task(job, key="", timeouts=Timeouts(prepare=args.prepare_timeout),
                                isolate=not args.no_isolation))
        if outcome.info is None:
            print(f"{entry.name}: failed: {outcome.error}", file=sys.stderr)
            failed += 1
        elif not outcome.info.losses:
            print(f"{entry.name}: nothing to train")
        else:
            columns = outcome.info.columns
            state = "cached" if columns["train_cached"] else "trained"
            print(f"{entry.name}: {state}, {columns['train_steps']} steps, {columns['train_seconds']:.1f} s, "
                  f"final loss {outcome.info.losses[-1]:.5g}")
    return 1 if failed else 0


def _report(args: argparse.Namespace) -> int:
    from regbench.report import write_report  # noqa: PLC0415 - matplotlib costs seconds to import; only here

    try:
        markdown, page = write_report(args.results, args.out)
    except FileNotFoundError as error:
        raise UsageError(str(error)) from None
    print(f"wrote {markdown} and {page}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    try:
        current, baseline = read_results(args.current), read_results(args.baseline)
    except (FileNotFoundError, ValueError) as error:
        raise UsageError(str(error)) from None
    table = compare(current, baseline, Thresholds(args.dice_tolerance, args.speed_factor))
    print(table.to_markdown(floatfmt=".4g"))
    if has_regression(table):
        print("\nregression: see the verdict column", file=sys.stderr)
        return 1
    print("\nno regression")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        catalog = collect(plugin_manager(args.plugins))
        for problem in catalog.problems:
            print(f"regbench: warning: {problem}; its methods, datasets and metrics are skipped", file=sys.stderr)
        if args.command == "list":
            _print_registry("methods", catalog.methods)
            _print_registry("datasets", catalog.datasets)
            _print_registry("metrics", catalog.metrics)
            return 0
        if args.command == "report":
            return _report(args)
        if args.command == "compare":
            return _compare(args)
        return _run(args, catalog) if args.command == "run" else _train(args, catalog)
    except UsageError as error:
        print(f"regbench: error: {error}", file=sys.stderr)
        return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
