"""`local` and `upload` sources: a folder on the Airflow workers (`path`, `glob`); `upload`
is the drop folder the API writes posted files to, read the same way."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from finsync.budget.sources.base import DEFAULT_GLOBS, BudgetSource, RemoteFile, matches


def _from_epoch_ns(ns: int) -> datetime:
    """An aware UTC datetime from nanoseconds since the epoch, exact to the microsecond."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)


class LocalSource(BudgetSource):
    """A folder on the workers; `upload` is the API's drop folder, read the same way."""

    source_type = "local"
    required_keys = ("path",)

    def __init__(
        self,
        customer_id: str,
        path: str,
        globs: Sequence[str] = DEFAULT_GLOBS,
        source_type: str | None = None,
    ) -> None:
        super().__init__(customer_id, globs)
        if source_type is not None:
            self.source_type = source_type
        self.folder = Path(path).expanduser()

    @classmethod
    def from_config(
        cls, customer_id: str, source_config: Mapping[str, Any], globs: Sequence[str]
    ) -> LocalSource:
        return cls(customer_id, source_config["path"], globs)

    def location(self) -> str:
        return f"folder {self.folder}"

    def list_files(self) -> list[RemoteFile]:
        if not self.folder.is_dir():
            raise self.error(
                "the folder does not exist or is not a folder",
                "Check source_config.path and that the folder is mounted on the workers.",
            )
        try:
            entries = list(os.scandir(self.folder))
        except PermissionError:
            raise self.error("permission denied listing the folder") from None
        return [self._entry_file(e) for e in entries if e.is_file() and matches(e.name, self.globs)]

    def stat(self, name: str) -> RemoteFile | None:
        path = self.folder / name
        return self._entry_file(path) if path.is_file() else None

    def _entry_file(self, entry: os.DirEntry | Path) -> RemoteFile:
        st = entry.stat()
        path = os.fspath(entry)  # a DirEntry's path, or the Path itself
        return self._file(entry.name, st.st_size, _from_epoch_ns(st.st_mtime_ns), path)

    def _check_destination(self, dest_dir: Path) -> None:
        if dest_dir.resolve().is_relative_to(self.folder.resolve()):
            raise self.error(
                "the working folder is inside the customer's folder",
                "Choose a working folder outside it: the customer's folder is read only.",
            )

    def _download(self, remote: RemoteFile, target: Path) -> None:
        # copyfile, not copy2: the working copy's own mtime is its download time (retention).
        shutil.copyfile(remote.ref, target)

    # Writing back (BudgetSource.write): a local folder can; the API's drop folder cannot.
    writable = True

    def _put(self, name: str, data: bytes) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(self.folder / name, "xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except PermissionError:
            raise self.error(f"permission denied writing {name}") from None

    def _rename(self, name: str, new_name: str) -> None:
        os.replace(self.folder / name, self.folder / new_name)

    def _remove(self, name: str) -> None:
        (self.folder / name).unlink(missing_ok=True)


class UploadSource(BudgetSource):
    """Files posted to the budget service (`/files/import`): they live in shared storage
    (finsync/storage.py, area `uploads/<customer>/`), so whichever machine the API ran on,
    any worker takes them. `source_config.path` is no longer needed (older configs keep it;
    it is not read). finsync's own area: there is no customer tool to write back to."""

    source_type = "upload"
    required_keys = ()
    writable = False

    @classmethod
    def from_config(
        cls, customer_id: str, source_config: Mapping[str, Any], globs: Sequence[str]
    ) -> UploadSource:
        return cls(customer_id, globs)

    def location(self) -> str:
        from finsync import storage

        return f"uploads/{self.customer_id} in shared storage {storage.describe()}"

    def list_files(self) -> list[RemoteFile]:
        from finsync import storage

        with self._errors("listing the uploads"):
            stored = storage.listing("uploads", self.customer_id)
        return [
            self._file(s.name, s.size, s.modified_at, s.key)
            for s in stored
            if matches(s.name, self.globs)
        ]

    def stat(self, name: str) -> RemoteFile | None:
        from finsync import storage

        with self._errors(f"looking at {name}"):
            try:
                s = storage.stat(storage.key("uploads", self.customer_id, name))
            except storage.Missing:
                return None
        return self._file(s.name, s.size, s.modified_at, s.key)

    def _download(self, remote: RemoteFile, target: Path) -> None:
        from finsync import storage

        with self._errors(f"reading {remote.name}"):
            storage.copy_to(remote.ref, target)

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Shared storage's errors as this source's (they name the base, never a secret)."""
        from finsync import storage

        try:
            yield
        except storage.StorageError as exc:
            raise self.error(f"{action}: {exc}") from None
