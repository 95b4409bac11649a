"""The content of the data a run reads, as digests that key its results and weights.

Before anything runs, every file the dataset names for the subjects a run reads
(:meth:`regbench.Dataset.subject_files`) and every file all of them depend on
(:meth:`regbench.Dataset.shared_files`) is fingerprinted by content
(:class:`regbench.common.fingerprint.FileDigests`). A stored pair result records the
digest of its two subjects' files and is recomputed when either changes; a learning
method's weights and results are keyed by the digest of the subjects it trained on.
So a file replaced in place recomputes exactly the results and weights that read it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from regbench.common.fingerprint import FileDigests, digest
from regbench.plugin.dataset import Dataset, Pair


@dataclass(frozen=True)
class DataFingerprint:
    """Digests of a dataset's files: ``shared`` for the files every subject depends on,
    ``subjects`` for each subject's own (the empty digest of no files for a generated one)."""

    shared: str
    subjects: Mapping[str, str]

    @classmethod
    def of(cls, dataset: Dataset, subject_ids: Iterable[str], digests: FileDigests | None = None) -> DataFingerprint:
        """Fingerprint ``dataset``'s shared files and the files of ``subject_ids``."""
        digests = digests or FileDigests()

        def files_digest(paths: Iterable[object]) -> str:
            return digest(sorted((str(path), digests(path)) for path in paths))

        subjects = {sid: files_digest(dataset.subject_files(sid)) for sid in dict.fromkeys(subject_ids)}
        return cls(shared=files_digest(dataset.shared_files()), subjects=subjects)

    def subject(self, subject_id: str) -> str:
        """One subject's digest; a subject not fingerprinted is a KeyError naming it (a
        planning mistake that would otherwise key results by nothing)."""
        try:
            return self.subjects[subject_id]
        except KeyError:
            raise KeyError(f"subject {subject_id!r} was not fingerprinted before the run") from None

    def of_subjects(self, subject_ids: Iterable[str]) -> str:
        """The digest of several subjects' files together with the shared files."""
        return digest([self.shared, *(self.subject(sid) for sid in subject_ids)])

    def pair(self, pair: Pair) -> str:
        """The digest of what a pair's result read: its two subjects' files and the shared ones."""
        return self.of_subjects((pair.fixed_id, pair.moving_id))
