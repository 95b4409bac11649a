"""Which files in a folder regbench wrote: the only ones it ever removes or replaces.

``--save-warped`` and ``--export`` write one method's files into a folder a user may
also keep files in (a submission folder, say). Before a run writes there,
:func:`claim_files` reads the folder's record (:data:`OWNED_FILE`: file name -> the
result key it was written under), removes the files regbench wrote under another key
(other settings, code or data: a folder never mixes two configurations), and records
the files this run will write. A file the record does not name is someone else's: it
is never removed, and a run that would overwrite it stops before any work with a
:class:`ForeignFiles` error naming it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from regbench.common.atomic import atomic_write_text
from regbench.common.listing import some

OWNED_FILE = ".regbench-files.json"


class ForeignFiles(ValueError):
    """regbench would overwrite files it did not write."""


def owned_files(folder: Path) -> dict[str, str]:
    """The folder's record: the names of the files regbench wrote there, with their
    result keys (empty when there is none; an unreadable record owns nothing)."""
    try:
        record = json.loads((folder / OWNED_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(record, dict):
        return {}
    return {name: str(key) for name, key in record.items() if isinstance(name, str) and Path(name).name == name}


def claim_files(folder: Path, result_key: str, paths: Sequence[Path]) -> None:
    """Make ``folder`` ready for a run to write ``paths`` under ``result_key`` (module doc)."""
    record = owned_files(folder)
    foreign = sorted(path.name for path in paths if path.exists() and path.name not in record)
    if foreign:
        raise ForeignFiles(f"{folder} holds {len(foreign)} file(s) regbench did not write and would overwrite "
                           f"({some(foreign)}); move them away, or write elsewhere")
    for name, key in list(record.items()):
        if key != result_key:
            (folder / name).unlink(missing_ok=True)
            del record[name]
    record.update((path.name, result_key) for path in paths)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / OWNED_FILE, json.dumps(record, indent=0, sort_keys=True))
