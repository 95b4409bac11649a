"""The ``regbench`` command: ``list`` what is installed, ``run`` a comparison, ``train``
learning methods without evaluating them, ``evaluate`` fields made elsewhere, ``report``
on a results folder, ``compare`` a run with a baseline (the CI regression gate).

``report`` and ``compare`` read files only: they load no plugin and no torch, so they
start in a fraction of a second.

Exit statuses: 0 done; 1, 3 and 4 ``compare``'s verdicts; 2 a usage or data error (one
``regbench: error:`` line); 5 a run or evaluation that wrote every table but had
failed pairs; 130 and 143 interrupted by SIGINT (Ctrl-C) or SIGTERM, with one line
saying what is kept and that the same command continues; 141 when the output's reader
went away (a pipe closed), as a shell reports SIGPIPE.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from regbench.cli import config
from regbench.cli.arguments import BROKEN_PIPE, INTERRUPTED, USAGE_ERROR, UsageError, check_arguments, parser
from regbench.common.lock import FolderBusy


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


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C's KeyboardInterrupt would be, so both unwind alike:
    worker processes killed, every stored result kept."""


def _terminate(number: int, frame: FrameType | None) -> None:
    raise _Terminated


def main(argv: Sequence[str] | None = None) -> int:
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if on_main_thread else None
    args = None
    try:
        given = list(sys.argv[1:] if argv is None else argv)
        args = _arguments(given)
        args.command_line = shlex.join(["regbench", *given])  # as typed: run.json records it, to run again
        if args.command in ("report", "compare"):
            from regbench.cli import results  # noqa: PLC0415 - light: tables and figures only

            return results.COMMANDS[args.command](args)
        from regbench.cli import running  # noqa: PLC0415 - plugins, torch and the execution machinery

        return running.COMMANDS[args.command](args)
    except (UsageError, FolderBusy) as error:
        print(f"regbench: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except BrokenPipeError:  # the reader went away (`regbench list | head -3`): nothing left to say to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so Python's own final flush is silent
        return BROKEN_PIPE
    except KeyboardInterrupt as interrupt:
        name = "SIGTERM" if isinstance(interrupt, _Terminated) else "SIGINT"
        print(f"\nregbench: interrupted ({name}): {_kept(args)}", file=sys.stderr)
        return INTERRUPTED[name]
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _kept(args: argparse.Namespace | None) -> str:
    """What an interrupted command leaves, and how to go on."""
    if args is None or args.command not in ("run", "train"):
        return "nothing was written; run the same command again"
    from regbench.cli import running  # noqa: PLC0415 - already imported by the interrupted command

    return running.interrupted_note(args)
