"""Shared storage for the files that cross machines: uploads posted to the budget service, the
copies of files syncs took (kept for support and audit), and reject files. The API server and
every Airflow worker read and write them here, never on their own disks, so a file uploaded
through one machine is synced on another and its reject file is downloaded through a third.

One base, through Airflow's `ObjectStoragePath` (docs/operations.md, "Shared storage"):

- `FINSYNC_STORAGE_URL`: `file:///srv/finsync-storage` (a shared volume) or
  `s3://bucket/prefix` (any S3-compatible store); default `file://<FINSYNC_HOME>/storage`.
- `FINSYNC_STORAGE_CONN_ID`: the Airflow connection the base is reached with (type aws for
  `s3://`: credentials and `endpoint_url` live there, never in the URL); default none.

Both are read from the environment at each use, so every process (API server, scheduler,
Celery workers with their own FINSYNC_WORK_DIR) that sets the same two values shares the files.

Layout under the base (AREAS), one folder per customer:

    uploads/<customer>/<UTC stamp>_<name>     posted to /files/import, taken by `upload` sources
    downloads/<customer>/<name>               a copy of each file a sync took
    rejects/<customer>/sync_<id>_rejects.csv  a sync's rejected rows

A stored file is named in the warehouse (`sync_history.reject_file`) by its key under the base
(`rejects/acme/sync_12_rejects.csv`), never by a machine's path; a key every machine resolves
against its own setting of the same base. Files older than their area's RETENTION are removed
by `remove_expired` (the syncs call it): a key then answers `Expired`, not `Missing`.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, unquote, urlsplit

log = logging.getLogger(__name__)

URL_ENV = "FINSYNC_STORAGE_URL"
CONN_ENV = "FINSYNC_STORAGE_CONN_ID"
AREAS = ("uploads", "downloads", "rejects")
# How long each area's files are kept (then `remove_expired` removes them).
RETENTION = {
    "uploads": timedelta(days=7),
    "downloads": timedelta(days=7),
    "rejects": timedelta(days=30),
}
_SAFE = "@+"  # kept as they are in a key's parts, beside letters, digits and "_.-~"
_CHUNK = 1 << 20


class StorageError(RuntimeError):
    """Shared storage cannot be used: the message names the base (never a credential)."""


class Missing(StorageError):
    """No file under that key (it should be there: a wrong base, or removed by hand)."""


class Expired(Missing):
    """The file was removed by its area's retention: it will not come back."""


@dataclass(frozen=True)
class StoredFile:
    key: str  # area/customer/name under the base (parts encoded)
    name: str  # the file's name as given
    size: int
    modified_at: datetime  # aware, UTC


def base_url() -> str:
    url = os.environ.get(URL_ENV, "").strip()
    if url:
        return url.rstrip("/")
    from finsync import embedded

    return (embedded.home() / "storage").as_uri()


def conn_id() -> str | None:
    return os.environ.get(CONN_ENV, "").strip() or None


def describe() -> str:
    """The base for messages: the URL (user info dropped) and the connection's id."""
    url = re.sub(r"//[^/@]*@", "//", base_url())
    return url + (f" (connection {conn_id()!r})" if conn_id() else "")


def base():
    """The base as an ObjectStoragePath (the connection attached when one is set)."""
    url = base_url()
    if urlsplit(url).password is not None:
        raise StorageError(
            f"{URL_ENV} must not carry credentials: name an Airflow connection in {CONN_ENV}"
        )
    return _path(url, conn_id())


def _path(url: str, conn: str | None = None):
    """ObjectStoragePath(url, conn_id=conn). A local path without a connection gets the
    filesystem Airflow itself gives `file://` (fsspec's LocalFileSystem), attached here:
    otherwise its first use in a process loads every provider's filesystem first (the
    amazon provider's imports boto3: 0.3-0.4 s of each sync task on local storage)."""
    from airflow.sdk import ObjectStoragePath

    scheme = urlsplit(url).scheme
    if conn is None and scheme in ("file", "local"):
        from airflow.sdk.io import attach
        from fsspec.implementations.local import LocalFileSystem

        attach(scheme, fs=LocalFileSystem())  # (a no-op once attached)
    return ObjectStoragePath(url, conn_id=conn)


def _part(text: str) -> str:
    """A customer id or file name as one part of a key: percent-encoded (a space, a '/' or a
    '%' can never make another folder or meet another name), never '', '.' or '..'."""
    if text in ("", ".", ".."):
        raise ValueError(f"not a name for shared storage: {text!r}")
    return quote(text, safe=_SAFE)


def key(area: str, customer_id: str, name: str) -> str:
    """`area/customer/name` (customer and name encoded by `_part`)."""
    if area not in AREAS:
        raise ValueError(f"storage area must be one of {', '.join(AREAS)}, got {area!r}")
    return f"{area}/{_part(customer_id)}/{_part(name)}"


def _check_key(ref: str) -> list[str]:
    parts = ref.split("/")
    if (
        len(parts) != 3
        or parts[0] not in AREAS
        or not all(p not in ("", ".", "..") and _part(unquote(p)) == p for p in parts[1:])
    ):
        raise ValueError(f"not a shared-storage key: {ref!r}")
    return parts


def path(ref: str):
    """Where a key (or a legacy absolute local path, from before shared storage) is."""
    if ref.startswith("/"):  # a reject file recorded as a worker's local path
        return _path(Path(ref).as_uri())
    return base().joinpath(*_check_key(ref))


@contextmanager
def _errors(action: str) -> Iterator[None]:
    """Storage errors with the base named; FileNotFoundError stays itself (callers decide)."""
    try:
        yield
    except (FileNotFoundError, StorageError, ValueError):
        raise
    except Exception as exc:  # noqa: BLE001 - botocore, s3fs, OS: one clear message
        from finsync.budget.sources.base import safe_message

        raise StorageError(
            f"shared storage {describe()}: {action} failed ({safe_message(exc, [])}). Check "
            f"{URL_ENV} and {CONN_ENV} on this machine"
        ) from None


def put(ref: str, source: bytes | Path | IO[bytes]) -> StoredFile:
    """Store bytes, a local file or a binary stream under `ref`. On a file:// base it is
    written to a hidden temporary name and renamed, so no reader sees half a file; an object
    store writes each object whole."""
    target = path(ref)
    with _errors(f"writing {ref}"):
        local = target.protocol in ("file", "local", "")
        if local:  # (an object store has no folders; s3fs's mkdir would create a bucket)
            target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.part"
        written = partial if local else target
        try:
            with written.open("wb") as out:
                if isinstance(source, bytes):
                    out.write(source)
                elif isinstance(source, Path):
                    with source.open("rb") as f:
                        shutil.copyfileobj(f, out, _CHUNK)
                else:
                    shutil.copyfileobj(source, out, _CHUNK)
            if local:
                os.replace(partial.path, target.path)
        finally:
            if local and partial.exists():
                partial.unlink()
    log.info("stored %s in %s", ref, describe())
    return stat(ref)


def stat(ref: str) -> StoredFile:
    """The stored file's size and modified time; Missing when there is none."""
    target = path(ref)
    with _errors(f"looking at {ref}"):
        try:
            info = target.stat()
        except FileNotFoundError:
            raise Missing(f"{ref} is not in shared storage {describe()}") from None
    return StoredFile(ref, unquote(target.name), int(info.st_size), _modified(info))


def _modified(info: Any) -> datetime:
    value = getattr(info, "st_mtime", None)
    if value is None and hasattr(info, "get"):
        value = info.get("LastModified") or info.get("mtime") or info.get("created")
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromtimestamp(float(value or 0), UTC)


@contextmanager
def open_read(ref: str) -> Iterator[IO[bytes]]:
    """The stored file, open for reading; Missing when there is none."""
    target = path(ref)
    with _errors(f"reading {ref}"):
        try:
            handle = target.open("rb")
        except FileNotFoundError:
            raise Missing(f"{ref} is not in shared storage {describe()}") from None
    with handle:
        yield handle


def read_bytes(ref: str) -> bytes:
    with open_read(ref) as f:
        return f.read()


def copy_to(ref: str, local: Path) -> Path:
    """Copy a stored file to a local path (a worker's working copy)."""
    local.parent.mkdir(parents=True, exist_ok=True)
    with open_read(ref) as src, local.open("wb") as out:
        shutil.copyfileobj(src, out, _CHUNK)
    return local


def listing(area: str, customer_id: str) -> list[StoredFile]:
    """A customer's files in an area (hidden temporary files left out)."""
    folder = base().joinpath(area, _part(customer_id))
    found = []
    with _errors(f"listing {area}/{customer_id}"):
        if not folder.exists():
            return []
        for entry in folder.iterdir():
            if entry.name.startswith(".") or not entry.is_file():
                continue
            info = entry.stat()
            found.append(
                StoredFile(
                    f"{area}/{_part(customer_id)}/{entry.name}",
                    unquote(entry.name),
                    int(info.st_size),
                    _modified(info),
                )
            )
    return found


def remove(ref: str) -> None:
    target = path(ref)
    with _errors(f"removing {ref}"):
        try:
            target.unlink()
        except FileNotFoundError:
            pass


def remove_expired(area: str, customer_id: str, now: datetime) -> list[str]:
    """Remove a customer's files in `area` older than RETENTION[area]; the removed keys."""
    cutoff = now - RETENTION[area]
    removed = []
    for stored in listing(area, customer_id):
        if stored.modified_at < cutoff:
            remove(stored.key)
            removed.append(stored.key)
    if removed:
        log.info("removed %d expired file(s) from %s/%s", len(removed), area, customer_id)
    return removed


def recorded(ref: str, recorded_at: datetime | None, now: datetime | None = None) -> StoredFile:
    """A file the warehouse names (a reject file), looked at before it is served. Expired when
    it is gone and older than its area's retention (removed on purpose: it will not come
    back); Missing when it should still be there (the message says where it was looked for)."""
    try:
        return stat(ref)
    except Missing:
        area = "rejects" if ref.startswith("/") else ref.split("/", 1)[0]
        now = now or datetime.now(UTC)
        kept = RETENTION.get(area)
        if recorded_at is not None and kept is not None and recorded_at < now - kept:
            raise Expired(
                f"removed by the {kept.days}-day retention of shared storage ({area} are kept "
                f"{kept.days} days; this one is from {recorded_at:%Y-%m-%d})"
            ) from None
        raise


def chunks(ref: str) -> Iterator[bytes]:
    """The stored file's bytes, a chunk at a time (a download streamed to a client)."""
    with open_read(ref) as f:
        while chunk := f.read(_CHUNK):
            yield chunk
