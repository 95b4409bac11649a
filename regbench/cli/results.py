"""``regbench report`` and ``regbench compare``: commands that read results folders."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable

from regbench.cli.arguments import UsageError, assignments
from regbench.outputs.compare import (
    NOT_COMPARABLE,
    REGRESSION,
    SPEED_NOT_JUDGED,
    Thresholds,
    compare,
    configuration_differences,
    exit_status,
    read_results,
    readable,
)
from regbench.outputs.integrity import DamagedResults


def report(args: argparse.Namespace) -> int:
    """The report of one results folder, or of several (one per dataset) combined: then
    ``--out`` is required, and must not be one of them (its own report would be replaced)."""
    # matplotlib costs seconds to import; only here
    from regbench.outputs.report import SameDataset, write_combined_report, write_report  # noqa: PLC0415

    if len(args.results) > 1 and args.out is None:
        raise UsageError("with several results folders, --out names the folder for their combined report")
    if len(args.results) > 1 and args.out.resolve() in {folder.resolve() for folder in args.results}:
        raise UsageError(f"--out {args.out} is one of the results folders; the combined report goes in its own folder")
    try:
        markdown, page = (write_report(args.results[0], args.out) if len(args.results) == 1
                          else write_combined_report(args.results, args.out))
    except (FileNotFoundError, DamagedResults, SameDataset) as error:
        raise UsageError(str(error)) from None
    print(f"wrote {markdown} and {page}")
    return 0


def _tolerances(items: list[str], judged: set[str]) -> dict[str, float]:
    """``--tolerance METRIC=VALUE`` items: a metric either run judges, and a number at least 0."""
    tolerances = {}
    for name, text in assignments("--tolerance", items).items():
        if name not in judged:
            raise UsageError(f"--tolerance {name}={text}: no metric {name!r} with a better direction in these runs; "
                             f"known: {', '.join(sorted(judged))}")
        try:
            tolerances[name] = float(text)
        except ValueError:
            tolerances[name] = math.nan
        if not tolerances[name] >= 0:
            raise UsageError(f"--tolerance {name}={text}: expected a number at least 0")
    return tolerances


def compare_runs(args: argparse.Namespace) -> int:
    """Exit 0, or a verdict (1, 3, 4) on two folders read whole and checked first: a
    damaged or foreign one is a usage error (2), never a verdict."""
    try:
        current, baseline = read_results(args.current), read_results(args.baseline)
    except (FileNotFoundError, ValueError) as error:  # DamagedResults, or a folder too old to compare
        raise UsageError(str(error)) from None
    tolerances = _tolerances(args.tolerance, {column.name for folder in (current, baseline)
                                             for column in folder.metric_columns if column.better is not None})
    if args.dice_tolerance is not None:
        tolerances["dice"] = args.dice_tolerance
    table = compare(current, baseline, Thresholds(speed_factor=args.speed_factor, tolerances=tolerances))
    text = readable(table)
    print(text.to_markdown(disable_numparse=True, colalign=("left", *("left" if column == "verdict" else "right"
                                                                      for column in text.columns))))
    status = exit_status(table)
    differences = configuration_differences(current, baseline)
    if differences:
        print(f"\nnot comparable (exit status {NOT_COMPARABLE}): the runs differ in more than the code under test:",
              file=sys.stderr)
        for difference in differences:
            print(f"  {difference}", file=sys.stderr)
        print("compare runs of one configuration, e.g. the baseline's command from its run.json", file=sys.stderr)
    elif status == REGRESSION:
        print("\nregression: see the verdict column", file=sys.stderr)
    elif status == SPEED_NOT_JUDGED:
        print("\nno accuracy regression; speed not judged for some methods: other processes used the CPU while "
              "they were timed (exit status 3); rerun on an idle machine", file=sys.stderr)
    else:
        print("\nno regression")
    return status


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"report": report, "compare": compare_runs}
