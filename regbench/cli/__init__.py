"""The ``regbench`` command: ``list`` what is installed, ``run`` a comparison, ``train``
learning methods without evaluating them, ``evaluate`` fields made elsewhere, ``report``
on a results folder, ``compare`` a run with a baseline (the CI regression gate).

``report`` and ``compare`` read files only: they load no plugin and no torch, so they
start in a fraction of a second.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from regbench.cli import config
from regbench.cli.arguments import USAGE_ERROR, UsageError, check_arguments, parser


def _arguments(argv: Sequence[str]) -> argparse.Namespace:
    """The parsed command line; with ``--config FILE``, the file's settings under the
    command line's own flags (:mod:`regbench.cli.config`)."""
    args = parser().parse_args(argv)
    if getattr(args, "config", None) is not None:
        check_arguments(argparse.Namespace(config=args.config))
        argv = config.with_config(argv, args.command, args.config, parser().parse_args([args.command]))
        args = parser().parse_args(argv)
    check_arguments(args)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _arguments(sys.argv[1:] if argv is None else argv)
        if args.command in ("report", "compare"):
            from regbench.cli import results  # noqa: PLC0415 - light: tables and figures only

            return results.COMMANDS[args.command](args)
        from regbench.cli import running  # noqa: PLC0415 - plugins, torch and the execution machinery

        return running.COMMANDS[args.command](args)
    except UsageError as error:
        print(f"regbench: error: {error}", file=sys.stderr)
        return USAGE_ERROR
