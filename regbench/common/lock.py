"""One writer per results folder.

Two runs writing one ``--out`` at once would interleave their tables and each
overwrite what the other assembled: a table of one run's methods with the other's
numbers. :class:`FolderLock` holds an exclusive ``flock`` on ``<folder>/.regbench.lock``
for as long as a command writes there; the kernel releases it when the process ends,
however it ends, so a crash never leaves a stale lock. The file says who holds it.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType

LOCK_FILE = ".regbench.lock"


class FolderBusy(RuntimeError):
    """Another process holds the folder's lock."""


class FolderLock:
    """``with FolderLock(folder, wait=False):`` writes into ``folder`` alone. Without
    ``wait``, a folder another process holds is a :class:`FolderBusy` saying who;
    with it, the lock is awaited."""

    def __init__(self, folder: Path, *, wait: bool = False) -> None:
        self.path = Path(folder) / LOCK_FILE
        self.wait = wait
        self._file: int | None = None

    def __enter__(self) -> FolderLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if self.wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(handle)
            raise FolderBusy(f"{self.path.parent} is being written by {_holder(self.path)}; wait for it to "
                             f"finish (or add --wait to wait here), or write elsewhere with --out") from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(["regbench", *sys.argv[1:]]),
                  "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(handle, 0)
        os.write(handle, json.dumps(holder).encode())
        self._file = handle
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._file is not None:
            os.close(self._file)  # closing the descriptor releases the lock
            self._file = None


def _holder(path: Path) -> str:
    """Who holds the lock, as its file says (it may be mid-write: then less is known)."""
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
        return f"process {holder['pid']} on {holder['host']} since {holder['since']} (`{holder['command']}`)"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"
