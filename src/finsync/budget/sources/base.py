"""What every budget source is: the `BudgetSource` interface, the files it lists
(`RemoteFile`), the errors it raises, glob matching and the local working copies.

The concrete sources (`local.py`, `sftp.py`, `s3.py`) import this module and nothing else of
the package; `registry.py` names them by `source_type`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, ClassVar

log = logging.getLogger(__name__)

DEFAULT_GLOBS = ("*.csv", "*.xlsx", "*.xls")
# Marks a folder as holding working copies: the only folders cleanup_downloads touches.
WORKING_COPY_MARKER = ".finsync-working-copies"
# Every file finsync writes at a customer's location (budget_writeback) is named so; the sync
# never takes such a file as a budget export, and `write` writes no other name.
WRITE_PREFIX = "finsync_"


class SourceError(RuntimeError):
    """A source cannot be read: the message names the source and says what to check."""


class FileChangedError(SourceError):
    """The file changed while it was being fetched: it is taken again at the next poll."""


class SourceConfigError(ValueError):
    """A `source_config` is unusable: the message lists every problem found."""


class ForeignFileError(SourceError):
    """A file finsync did not write (or one changed since) holds the name `write` would
    write: it is never replaced."""


@dataclass(frozen=True)
class RemoteFile:
    """One file at a source: its name (no folder), size in bytes, modification time (aware,
    UTC) and `ref`, where the source finds it again (full path, or the S3 key). `complete`:
    the file cannot still be being written (an API's answer, pulled whole), so the settle
    rules do not apply to it."""

    name: str
    size: int
    modified_at: datetime
    ref: str
    complete: bool = False

    def __post_init__(self) -> None:
        if self.modified_at.tzinfo is None:
            raise ValueError(f"modified_at of {self.name!r} must be timezone-aware")


@dataclass(frozen=True)
class Choice:
    """The file a run takes (None when there is nothing to take yet) and why."""

    file: RemoteFile | None
    reason: str


# ---------------------------------------------------------------------------- globs


def globs_of(source_config: Mapping[str, Any]) -> tuple[str, ...]:
    """The config's glob patterns (one pattern or a list), else the default ones."""
    value = source_config.get("glob")
    if not value:
        return DEFAULT_GLOBS
    return (value,) if isinstance(value, str) else tuple(value)


def matches(name: str, globs: Sequence[str]) -> bool:
    """Whether a file name matches one of the globs, case-insensitively. Hidden files, Office
    lock files (`~$budget.xlsx`) and finsync's own files (`finsync_...`, written back by
    budget_writeback) never match."""
    if name.startswith((".", "~$")) or name.lower().startswith(WRITE_PREFIX):
        return False
    lowered = name.lower()
    return any(fnmatchcase(lowered, pattern.lower()) for pattern in globs)


# ---------------------------------------------------------------------------- the interface


class BudgetSource(ABC):
    """A place a customer's files are polled from. A source never modifies, moves or deletes
    a customer's file.

    A new source type is one module with a subclass of this class plus one entry in
    `registry.SOURCES`. The subclass sets `source_type` and `required_keys` (the
    `source_config` keys it cannot do without), builds itself from a checked config in
    `from_config`, may add its own config checks in `config_problems`, and implements the
    four abstract methods. Writing files back (`write`) is optional: a source that supports
    it sets `writable = True` and overrides `write`."""

    source_type: str
    required_keys: ClassVar[tuple[str, ...]] = ()
    writable: ClassVar[bool] = False

    def __init__(self, customer_id: str, globs: Sequence[str] = DEFAULT_GLOBS) -> None:
        self.customer_id = customer_id
        self.globs = tuple(globs)

    @classmethod
    @abstractmethod
    def from_config(
        cls, customer_id: str, source_config: Mapping[str, Any], globs: Sequence[str]
    ) -> BudgetSource:
        """The source a checked `source_config` describes."""

    @classmethod
    def config_problems(cls, source_config: Mapping[str, Any]) -> list[str]:
        """Problems with this type's own keys, beyond the required keys and the checks every
        config gets (`checks.config_problems`); each says which key and what is expected."""
        return []

    @abstractmethod
    def location(self) -> str:
        """Where the files are (host or bucket, and path), for messages: no credentials."""

    @abstractmethod
    def list_files(self) -> list[RemoteFile]:
        """The files matching the glob, directly in the folder (not in sub-folders)."""

    @abstractmethod
    def stat(self, name: str) -> RemoteFile | None:
        """A fresh look at one file by name (None when it is gone)."""

    @abstractmethod
    def _download(self, remote: RemoteFile, target: Path) -> None:
        """Copy the remote file's bytes to `target` (a new local file)."""

    def write(self, name: str, data: bytes, *, replaces: RemoteFile | None = None) -> RemoteFile:
        """Write `data` as file `name` in the source's folder and return it as listed: to a
        temporary hidden name first, then renamed into place, so a reader never sees half a
        file. `name` must start with WRITE_PREFIX. A file already under that name is replaced
        only when it is `replaces` (what finsync wrote there last time: same size and modified
        time); anything else is the customer's, or was changed since: ForeignFileError, and
        nothing is written. Only sources with `writable = True` (which implement `_put`,
        `_rename` and `_remove`) can."""
        if not self.writable:
            raise self.error("this source type is read only: files cannot be written back")
        if not name.startswith(WRITE_PREFIX) or Path(name).name != name or "/" in name:
            raise ValueError(f"finsync writes only plain file names starting {WRITE_PREFIX!r}")
        with self.session():
            return self._write(name, data, replaces)

    def session(self) -> AbstractContextManager[None]:
        """Several calls over one connection (a remote source overrides it): `write` holds
        one for its look, upload and rename; callers may hold one around several writes."""
        return nullcontext()

    def refuse_foreign(self, name: str, replaces: RemoteFile | None) -> None:
        """ForeignFileError when a file under `name` is there and is not `replaces` (what
        finsync wrote last time). `write` checks it; a caller writing several files checks
        them all first, so it writes all or none."""
        there = self.stat(name)
        ours = replaces is not None and (there is None or _same_version(there, replaces))
        if there is not None and not ours:
            raise ForeignFileError(
                f"{self.describe()}: {name} is already there and finsync did not write it, or it "
                "was changed since; it is left as it is and nothing was written. Move or rename "
                "that file to let finsync write its own."
            )

    def _write(self, name: str, data: bytes, replaces: RemoteFile | None) -> RemoteFile:
        self.refuse_foreign(name, replaces)
        temporary = f".{name}.{uuid.uuid4().hex[:12]}.part"
        self._put(temporary, data)
        try:
            self._rename(temporary, name)
        except BaseException:
            self._remove(temporary)
            raise
        written = self.stat(name)
        if written is None:
            raise self.error(f"{name} is not there right after it was written")
        log.info("wrote %s (%d bytes) to %s", name, written.size, self.describe())
        return written

    def _put(self, name: str, data: bytes) -> None:
        """Write a new file `name` in the source's folder (creating the folder if needed)."""
        raise NotImplementedError

    def _rename(self, name: str, new_name: str) -> None:
        """Rename `name` to `new_name` in the source's folder, replacing `new_name` if there."""
        raise NotImplementedError

    def _remove(self, name: str) -> None:
        """Remove `name` from the source's folder if it is there (a temporary file only)."""
        raise NotImplementedError

    def describe(self) -> str:
        return f"{self.source_type} source of customer {self.customer_id!r} ({self.location()})"

    def error(self, problem: str, hint: str = "") -> SourceError:
        """A SourceError naming this source (callers make sure `problem` holds no secret)."""
        return SourceError(f"{self.describe()}: {problem}." + (f" {hint}" if hint else ""))

    def fetch(self, remote: RemoteFile, dest_dir: Path) -> Path:
        """Download `remote` to `dest_dir / remote.name` (replacing an earlier working copy
        of the same name) and return that path. The copy must have the listed size, else
        FileChangedError: the file is still changing. The customer's file is left as is."""
        self._check_destination(Path(dest_dir))
        target = _working_copy_path(Path(dest_dir), remote.name)
        partial = target.with_name(f".{target.name}.part")
        try:
            self._download(remote, partial)
            size = partial.stat().st_size
            if size != remote.size:
                raise FileChangedError(
                    f"{self.describe()}: {remote.name} changed while it was fetched "
                    f"({remote.size} bytes listed, {size} fetched); it is taken at the next poll."
                )
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        log.info("fetched %s from %s to %s", remote.name, self.describe(), target)
        return target

    def _check_destination(self, dest_dir: Path) -> None:
        """Refuse a working folder where writing would touch the customer's files (remote
        sources: none can)."""
        return None

    def _file(self, name: str, size: int, modified_at: datetime, ref: str) -> RemoteFile:
        return RemoteFile(name=name, size=size, modified_at=modified_at.astimezone(UTC), ref=ref)


def _same_version(a: RemoteFile, b: RemoteFile) -> bool:
    return (a.size, a.modified_at) == (b.size, b.modified_at)


def safe_message(exc: BaseException, secrets: Sequence[str]) -> str:
    """`Type: first line` of an exception, with any known secret masked."""
    text = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


# ---------------------------------------------------------------------------- working copies


def _working_copy_path(dest_dir: Path, name: str) -> Path:
    """dest_dir/name, with dest_dir created and marked as a folder of working copies."""
    if not name or Path(name).name != name or name in (".", ".."):
        raise ValueError(f"not a plain file name: {name!r}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    (dest_dir / WORKING_COPY_MARKER).touch()
    return dest_dir / name


def sha256_of(path: Path) -> str:
    """The file's SHA-256 (hex), read in chunks (any size)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def cleanup_downloads(work_dir: Path, retention: timedelta, now: datetime) -> list[Path]:
    """Remove working copies last written before `now - retention` and the folders they
    leave empty. Only folders marked by `fetch` are touched, so a customer's folder given by
    mistake loses nothing. Returns the removed files."""
    work_dir = Path(work_dir)
    cutoff = (now - retention).timestamp()
    removed: list[Path] = []
    for folder, _dirs, names in os.walk(work_dir, topdown=False):
        here = Path(folder)
        if WORKING_COPY_MARKER not in names:
            continue
        for name in names:
            path = here / name
            if name != WORKING_COPY_MARKER and not path.is_symlink():
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed.append(path)
        if here != work_dir and os.listdir(here) == [WORKING_COPY_MARKER]:
            (here / WORKING_COPY_MARKER).unlink()
            here.rmdir()
    return removed
