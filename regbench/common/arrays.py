"""Arrays read back from ``.npz`` files in full and checked: what regbench reads, from
its progress records to a report's snapshot, is either what was written or an error
that says so, never a partial array."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

# What numpy raises on a damaged or foreign file: a cut archive, a bad checksum, garbage.
NOT_NPZ = (OSError, EOFError, ValueError, TypeError, KeyError, NotImplementedError, zipfile.BadZipFile, zlib.error)


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` file at ``path``, read in full, so that a damaged one
    fails its checksum here rather than in a figure; a ValueError saying why it cannot be
    read otherwise."""
    try:
        loaded = np.load(path)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("one array, not an archive of them")
        with loaded:
            return {name: loaded[name] for name in loaded.files}
    except NOT_NPZ as error:
        raise ValueError(f"not a readable .npz file ({type(error).__name__}: {error})") from None
