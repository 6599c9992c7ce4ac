"""Where customers' budget files come from, and taking each file exactly once.

Sources (docs/budget_sync.md, "Sources and `source_config` keys"), built from a row's
`source_type` and `source_config` by `build_source`:

- `local`: a folder on the Airflow workers (`path`, `glob`); `upload`: the drop folder the
  API writes posted files to, read the same way.
- `sftp`: a directory on an SFTP server (`conn_id`, `path`, `glob`), through the SFTP
  provider's `SFTPHook`.
- `s3`: a bucket and a folder-like prefix (`conn_id`, `bucket`, `prefix`, `glob`), through
  `S3Hook`; any S3-compatible endpoint (the connection's extra `endpoint_url`).

Rules every source keeps:

- Credentials live only in Airflow connections; `source_config` names one with `conn_id` and
  `validate_source_config` refuses anything that looks like a credential. Errors name the
  customer, the source type, the host or bucket and the path, never a password, key or secret.
- A listing is one level deep (no sub-folders; for S3 the prefix is a folder, `exports` and
  `exports/` mean the same). The glob (a pattern or a list, default `*.csv`, `*.xlsx`, `*.xls`)
  matches the file name case-insensitively; hidden files (`.name`) and Office lock files
  (`~$name`) never match.
- Customer files are never modified, moved or deleted: `fetch` copies a file to a local
  working copy, `cleanup_downloads` only removes working copies.

Exactly once (the ledger `budget_file_ledger`, one row per file version and outcome):

1. Only the NEWEST matching file (latest modified time, ties broken by name) is a candidate.
   Older files are superseded, never taken after a newer one: an import makes the warehouse
   match the file (soft-deleting what is absent), so an older export would roll budgets back.
2. The candidate is already processed when the ledger holds its (name, size, modified time)
   with any outcome. Then the run does nothing and reports `unchanged`. Only outcomes about the
   file's content are recorded (`failed` for a wrong or rejected file, `needs_review` waiting
   for a person): the same bytes would fail again, and polling them every hour would repeat
   the failure notice and the review request. Outages (an unreachable server, a dropped
   warehouse connection) raise before anything is recorded, so the next try takes the file
   again. A person's answer to a review, or a manual run with `force`, re-takes a file.
3. A candidate modified less than `settle_seconds` ago waits for a later poll; so does one
   whose size or modified time changes between two looks a short pause apart (`is_settled`):
   it is still being written.
4. The file is fetched (the working copy must have the listed size, else it is still
   changing) and its SHA-256 computed. When the same name with the same checksum is already
   in the ledger with a done status (a re-export of identical content: new modified time,
   same bytes), the run records this version as `unchanged` without parsing it.
5. Otherwise the file is processed and its version recorded with the sync's outcome
   (`ledger_record`, idempotent: recording the same version again updates its status).
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import re
import shutil
import stat
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import psycopg

log = logging.getLogger(__name__)

SOURCE_TYPES = ("local", "upload", "sftp", "s3")
DEFAULT_GLOBS = ("*.csv", "*.xlsx", "*.xls")
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "local": ("path",),
    "upload": ("path",),
    "sftp": ("conn_id", "path"),
    "s3": ("conn_id", "bucket"),
}
LEDGER_STATUSES = ("success", "partial", "failed", "unchanged", "needs_review")
# Statuses after which a file version counts as processed (rule 2 of the module docstring).
DONE_STATUSES = LEDGER_STATUSES
# Marks a folder as holding working copies: the only folders cleanup_downloads touches.
WORKING_COPY_MARKER = ".finsync-working-copies"

# A key whose name looks like a credential (compared lowercased, '-' as '_').
_CREDENTIAL_KEY = re.compile(
    r"^pass$|pass(word|wd|phrase)|pwd|secret|token|credential|private_?key|api_?key"
    r"|access_?key|key_?file|ssh_?key|session_?key|^auth"
)
# A value carrying one: a URL with user:password@, or a PEM/OpenSSH key.
_CREDENTIAL_VALUE = re.compile(r"://[^/\s:@]+:[^/\s@]+@|-----BEGIN [A-Z ]*KEY-----")


class SourceError(RuntimeError):
    """A source cannot be read: the message names the source and says what to check."""


class FileChangedError(SourceError):
    """The file changed while it was being fetched: it is taken again at the next poll."""


class SourceConfigError(ValueError):
    """A `source_config` is unusable: the message lists every problem found."""


@dataclass(frozen=True)
class RemoteFile:
    """One file at a source: its name (no folder), size in bytes, modification time (aware,
    UTC) and `ref`, where the source finds it again (full path, or the S3 key)."""

    name: str
    size: int
    modified_at: datetime
    ref: str

    def __post_init__(self) -> None:
        if self.modified_at.tzinfo is None:
            raise ValueError(f"modified_at of {self.name!r} must be timezone-aware")


@dataclass(frozen=True)
class Choice:
    """The file a run takes (None when there is nothing to take yet) and why."""

    file: RemoteFile | None
    reason: str


# ---------------------------------------------------------------------------- config


def validate_source_config(source_type: str, source_config: Mapping[str, Any]) -> None:
    """Refuse a `source_config` that holds a credential (any key that looks like one, at any
    depth, or a value carrying one), lacks a required key for its type, or has a known key of
    the wrong type. Raises SourceConfigError naming the keys, never their values."""
    if source_type not in SOURCE_TYPES:
        raise SourceConfigError(
            f"source_type must be one of {', '.join(SOURCE_TYPES)}, got {source_type!r}"
        )
    if not isinstance(source_config, Mapping):
        raise SourceConfigError(f"source_config of a {source_type} source must be an object")
    credentials = sorted(_credential_keys(source_config))
    if credentials:
        raise SourceConfigError(
            f"source_config of a {source_type} source must not hold credentials (found: "
            f"{', '.join(credentials)}). Put them in an Airflow connection and name it with "
            "conn_id."
        )
    problems = [
        f"{key} is required"
        for key in REQUIRED_KEYS[source_type]
        if not _nonempty_str(source_config.get(key))
    ]
    problems += _type_problems(source_config)
    if problems:
        raise SourceConfigError(
            f"source_config of a {source_type} source is not usable: {'; '.join(problems)}"
        )


def _credential_keys(config: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Paths of keys that look like credentials, or whose string value carries one."""
    for key, value in config.items():
        path = f"{prefix}{key}"
        if _CREDENTIAL_KEY.search(str(key).lower().replace("-", "_")):
            yield path
        elif isinstance(value, str) and _CREDENTIAL_VALUE.search(value):
            yield path
        elif isinstance(value, Mapping):
            yield from _credential_keys(value, f"{path}.")


def _type_problems(config: Mapping[str, Any]) -> list[str]:
    problems = []
    for key in ("conn_id", "path", "bucket", "prefix"):
        if key in config and not isinstance(config[key], str):
            problems.append(f"{key} must be a string")
    if "bucket" in config and "/" in str(config["bucket"]):
        problems.append("bucket must be a bucket name (put folders in prefix)")
    if "glob" in config and not _globs_ok(config["glob"]):
        problems.append("glob must be a non-empty pattern or a list of them")
    if "settle_seconds" in config and not _int_at_least(config["settle_seconds"], 0):
        problems.append("settle_seconds must be a whole number >= 0")
    if "header_row" in config and not _int_at_least(config["header_row"], 1):
        problems.append("header_row must be a whole number >= 1 (rows count from 1)")
    if "sheet" in config and not isinstance(config["sheet"], str | int):
        problems.append("sheet must be a sheet name or a 0-based index")
    if "scenario" in config and not _nonempty_str(config["scenario"]):
        problems.append("scenario must name the scenario or version to import (e.g. Budget)")
    if "duplicates" in config and config["duplicates"] not in ("reject", "sum"):
        problems.append("duplicates must be 'reject' (the default) or 'sum'")
    return problems


def _nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _int_at_least(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _globs_ok(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    return isinstance(value, list | tuple) and bool(value) and all(_nonempty_str(v) for v in value)


def globs_of(source_config: Mapping[str, Any]) -> tuple[str, ...]:
    """The config's glob patterns (one pattern or a list), else the default ones."""
    value = source_config.get("glob")
    if not value:
        return DEFAULT_GLOBS
    return (value,) if isinstance(value, str) else tuple(value)


def matches(name: str, globs: Sequence[str]) -> bool:
    """Whether a file name matches one of the globs, case-insensitively. Hidden files and
    Office lock files (`~$budget.xlsx`) never match."""
    if name.startswith((".", "~$")):
        return False
    lowered = name.lower()
    return any(fnmatchcase(lowered, pattern.lower()) for pattern in globs)


# ---------------------------------------------------------------------------- sources


class BudgetSource(ABC):
    """A place a customer's files are polled from. Reading only: never writes there."""

    source_type: str

    def __init__(self, customer_id: str, globs: Sequence[str] = DEFAULT_GLOBS) -> None:
        self.customer_id = customer_id
        self.globs = tuple(globs)

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


def _working_copy_path(dest_dir: Path, name: str) -> Path:
    """dest_dir/name, with dest_dir created and marked as a folder of working copies."""
    if not name or Path(name).name != name or name in (".", ".."):
        raise ValueError(f"not a plain file name: {name!r}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    (dest_dir / WORKING_COPY_MARKER).touch()
    return dest_dir / name


def _from_epoch_ns(ns: int) -> datetime:
    """An aware UTC datetime from nanoseconds since the epoch, exact to the microsecond."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)


class LocalSource(BudgetSource):
    """A folder on the workers; `upload` is the API's drop folder, read the same way."""

    def __init__(
        self,
        customer_id: str,
        path: str,
        globs: Sequence[str] = DEFAULT_GLOBS,
        source_type: str = "local",
    ) -> None:
        super().__init__(customer_id, globs)
        self.source_type = source_type
        self.folder = Path(path).expanduser()

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


class SFTPSource(BudgetSource):
    """A directory on an SFTP server, read through the SFTP provider's SFTPHook; the
    connection (`conn_id`, type sftp or ssh) holds host, port, login and password or key.

    One connection attempt per call (the hook's default is three, 3 to 5 s apart): the
    task's own retries with back-off take care of transient failures."""

    source_type = "sftp"

    def __init__(
        self,
        customer_id: str,
        conn_id: str,
        path: str,
        globs: Sequence[str] = DEFAULT_GLOBS,
        *,
        conn_retry_attempts: int = 1,
        conn_timeout: int = 30,
    ) -> None:
        super().__init__(customer_id, globs)
        self.conn_id = conn_id
        self.path = path
        self.conn_retry_attempts = conn_retry_attempts
        self.conn_timeout = conn_timeout
        self._hook: Any = None

    def location(self) -> str:
        host = "host unknown"
        if self._hook is not None:
            host = f"host {self._hook.remote_host}:{self._hook.port or 22}"
        return f"connection {self.conn_id!r}, {host}, path {self.path}"

    def hook(self) -> Any:
        """The SFTPHook for the connection (looked up once); SourceError when it is missing."""
        if self._hook is None:
            from airflow.providers.sftp.hooks.sftp import SFTPHook

            with self._errors("reading the Airflow connection"):
                hook = SFTPHook(
                    ssh_conn_id=self.conn_id, conn_retry_attempts=self.conn_retry_attempts
                )
            # The connection's extra conn_timeout wins; without one, do not wait forever.
            hook.conn_timeout = hook.conn_timeout or self.conn_timeout
            self._hook = hook
        return self._hook

    def list_files(self) -> list[RemoteFile]:
        hook = self.hook()
        with self._errors("listing the folder"), hook.get_managed_conn():
            entries = hook.list_directory_with_attr(self.path)
        return [
            self._attr_file(a)
            for a in entries
            if a.st_mode is not None and stat.S_ISREG(a.st_mode) and matches(a.filename, self.globs)
        ]

    def stat(self, name: str) -> RemoteFile | None:
        hook = self.hook()
        with self._errors(f"looking at {name}"), hook.get_managed_conn() as sftp:
            try:
                attrs = sftp.stat(posixpath.join(self.path, name))
            except FileNotFoundError:
                return None
        attrs.filename = name
        return self._attr_file(attrs)

    def _attr_file(self, attrs: Any) -> RemoteFile:
        modified = datetime.fromtimestamp(attrs.st_mtime or 0, UTC)
        ref = posixpath.join(self.path, attrs.filename)
        return self._file(attrs.filename, attrs.st_size or 0, modified, ref)

    def _download(self, remote: RemoteFile, target: Path) -> None:
        hook = self.hook()
        with self._errors(f"downloading {remote.name}"), hook.get_managed_conn():
            hook.retrieve_file(remote.ref, str(target))

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn the hook's and paramiko's errors into a SourceError that names the source,
        says what to check, and holds no credential."""
        import paramiko
        from airflow.providers.common.compat.sdk import AirflowException, AirflowNotFoundException

        try:
            yield
        except AirflowNotFoundException:
            raise self.error(
                f"the Airflow connection {self.conn_id!r} is not defined",
                "Create it (UI, AIRFLOW_CONN_* variable or secrets backend).",
            ) from None
        except paramiko.AuthenticationException:
            raise self.error(
                f"{action}: authentication failed",
                f"Check the login and password or key of connection {self.conn_id!r}.",
            ) from None
        except paramiko.BadHostKeyException:
            raise self.error(
                f"{action}: the server's host key is not the one the connection expects",
                f"Check host_key in connection {self.conn_id!r} (or whether the server moved).",
            ) from None
        except FileNotFoundError:
            raise self.error(
                f"{action}: no such file or folder on the server",
                "Check source_config.path.",
            ) from None
        except PermissionError:
            raise self.error(f"{action}: permission denied on the server") from None
        except (OSError, EOFError, paramiko.SSHException, AirflowException, ValueError) as exc:
            raise self.error(
                f"{action}: cannot reach or use the server ({_safe(exc, self._secrets())})",
                f"Check host, port and network access in connection {self.conn_id!r}.",
            ) from None

    def _secrets(self) -> list[str]:
        hook = self._hook
        return [hook.password] if hook is not None and hook.password else []


class S3Source(BudgetSource):
    """A bucket and folder-like prefix, read through S3Hook with connection `conn_id`
    (type aws: login/password as key id and secret, or any AWS auth it supports; extra
    `endpoint_url` for an S3-compatible store).

    The connection must exist: S3Hook alone would fall back silently to whatever
    credentials and endpoint the worker's environment has."""

    source_type = "s3"

    def __init__(
        self,
        customer_id: str,
        conn_id: str,
        bucket: str,
        prefix: str = "",
        globs: Sequence[str] = DEFAULT_GLOBS,
    ) -> None:
        super().__init__(customer_id, globs)
        self.conn_id = conn_id
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._hook: Any = None
        self._endpoint = "endpoint unknown"
        self._secret_values: list[str] = []

    def location(self) -> str:
        return (
            f"connection {self.conn_id!r}, {self._endpoint}, "
            f"bucket {self.bucket}, prefix {self.prefix or '(none)'}"
        )

    def hook(self) -> Any:
        """The S3Hook for the connection; SourceError when the connection is not defined."""
        if self._hook is None:
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook
            from airflow.providers.common.compat.sdk import AirflowNotFoundException, BaseHook

            try:
                conn = BaseHook.get_connection(self.conn_id)
            except AirflowNotFoundException:
                raise self.error(
                    f"the Airflow connection {self.conn_id!r} is not defined",
                    "Create it (UI, AIRFLOW_CONN_* variable or secrets backend).",
                ) from None
            extra = conn.extra_dejson if conn.extra else {}
            self._endpoint = f"endpoint {extra.get('endpoint_url') or 'AWS default'}"
            self._secret_values = [
                v for v in (conn.password, extra.get("aws_secret_access_key")) if v
            ]
            self._hook = S3Hook(aws_conn_id=self.conn_id)
        return self._hook

    def list_files(self) -> list[RemoteFile]:
        hook = self.hook()
        with self._errors("listing the bucket"):
            objects = list(hook.iter_file_metadata(prefix=self.prefix, bucket_name=self.bucket))
        files = []
        for obj in objects:
            name = obj["Key"][len(self.prefix) :]
            if name and "/" not in name and matches(name, self.globs):
                files.append(self._file(name, obj["Size"], obj["LastModified"], obj["Key"]))
        return files

    def stat(self, name: str) -> RemoteFile | None:
        hook = self.hook()
        key = self.prefix + name
        with self._errors(f"looking at {name}"):
            head = hook.head_object(key=key, bucket_name=self.bucket)
        if head is None:
            return None
        return self._file(name, head["ContentLength"], head["LastModified"], key)

    def _download(self, remote: RemoteFile, target: Path) -> None:
        hook = self.hook()
        with self._errors(f"downloading {remote.name}"):
            downloaded = hook.download_file(
                key=remote.ref, bucket_name=self.bucket, local_path=str(target.parent)
            )
        os.replace(downloaded, target)

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn botocore's errors into a SourceError naming the source, without secrets."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            raise self.error(
                f"{action}: {_s3_problem(code)}", _s3_hint(code, self.conn_id)
            ) from None
        except BotoCoreError as exc:
            raise self.error(
                f"{action}: cannot reach or use the endpoint ({_safe(exc, self._secret_values)})",
                f"Check endpoint_url, region and network access in connection {self.conn_id!r}.",
            ) from None


def _s3_problem(code: str) -> str:
    known = {
        "NoSuchBucket": "the bucket does not exist",
        "404": "not found",
        "NoSuchKey": "the file is gone",
        "AccessDenied": "access denied",
        "403": "access denied",
        "InvalidAccessKeyId": "the access key is not known to the endpoint",
        "SignatureDoesNotMatch": "the secret key does not match the access key",
    }
    return known.get(code, f"the endpoint answered {code or 'an error'}")


def _s3_hint(code: str, conn_id: str) -> str:
    if code in ("NoSuchBucket", "404", "NoSuchKey"):
        return "Check source_config.bucket and prefix."
    return f"Check the credentials and permissions of connection {conn_id!r}."


def _safe(exc: BaseException, secrets: Sequence[str]) -> str:
    """`Type: first line` of an exception, with any known secret masked."""
    text = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def build_source(
    customer_id: str, source_type: str, source_config: Mapping[str, Any]
) -> BudgetSource:
    """The source a config row describes (validated first: SourceConfigError if unusable)."""
    validate_source_config(source_type, source_config)
    globs = globs_of(source_config)
    if source_type in ("local", "upload"):
        return LocalSource(customer_id, source_config["path"], globs, source_type=source_type)
    if source_type == "sftp":
        return SFTPSource(customer_id, source_config["conn_id"], source_config["path"], globs)
    return S3Source(
        customer_id,
        source_config["conn_id"],
        source_config["bucket"],
        source_config.get("prefix", ""),
        globs,
    )


# ---------------------------------------------------------------------------- choosing


def explain_choice(
    files: Sequence[RemoteFile],
    *,
    already_seen: Callable[[RemoteFile], bool],
    settle_seconds: float,
    now: datetime,
) -> Choice:
    """Rules 1 to 3 of the module docstring (first look): the newest file, unless it was
    already processed or was modified less than `settle_seconds` before `now`."""
    if not files:
        return Choice(None, "no file matches the glob")
    newest = max(files, key=lambda f: (f.modified_at, f.name))
    if already_seen(newest):
        return Choice(None, f"the newest file {newest.name} was already processed: unchanged")
    age = (now - newest.modified_at).total_seconds()
    if age < settle_seconds:
        return Choice(
            None,
            f"the newest file {newest.name} was modified {max(age, 0):.0f} s ago; "
            f"waiting until it is {settle_seconds:.0f} s old",
        )
    return Choice(newest, f"the newest file {newest.name} is new and settled")


def choose_file(
    files: Sequence[RemoteFile],
    *,
    already_seen: Callable[[RemoteFile], bool],
    settle_seconds: float,
    now: datetime,
) -> RemoteFile | None:
    """The file to take now, or None (the reason is logged; `explain_choice` returns it)."""
    choice = explain_choice(
        files, already_seen=already_seen, settle_seconds=settle_seconds, now=now
    )
    log.info("%s", choice.reason)
    return choice.file


def is_settled(
    source: BudgetSource,
    remote: RemoteFile,
    pause_seconds: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Rule 3, second look: after `pause_seconds`, the file must still be there with the same
    size and modified time; otherwise it is still being written and waits for the next poll."""
    sleep(pause_seconds)
    again = source.stat(remote.name)
    if again is None:
        log.info(
            "%s disappeared from %s; waiting for the next poll", remote.name, source.describe()
        )
        return False
    if (again.size, again.modified_at) != (remote.size, remote.modified_at):
        log.info(
            "%s is still changing (%d -> %d bytes); waiting for the next poll",
            remote.name,
            remote.size,
            again.size,
        )
        return False
    return True


# ---------------------------------------------------------------------------- local files


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


# ---------------------------------------------------------------------------- ledger

_LEDGER_LOOKUP = """
    select status
    from budget_file_ledger
    where config_id = %(config_id)s
        and file_name = %(file_name)s
        and size_bytes = %(size_bytes)s
        and modified_at = %(modified_at)s
    order by processed_at desc
    limit 1
"""

# Rule: the same bytes under the same name count as processed once a sync took them in.
_LEDGER_SEEN_CHECKSUM = """
    select exists (
        select 1
        from budget_file_ledger
        where config_id = %(config_id)s
            and file_name = %(file_name)s
            and sha256 = %(sha256)s
            and status = any(%(done)s)
    )
"""

# One row per file version; recording it again keeps the latest outcome.
_LEDGER_RECORD = """
    insert into budget_file_ledger (
        config_id, file_name, size_bytes, modified_at, sha256, status, sync_id
    )
    values (
        %(config_id)s, %(file_name)s, %(size_bytes)s, %(modified_at)s, %(sha256)s,
        %(status)s, %(sync_id)s
    )
    on conflict (config_id, file_name, size_bytes, modified_at, sha256) do update set
        status = excluded.status,
        sync_id = coalesce(excluded.sync_id, budget_file_ledger.sync_id),
        processed_at = now()
    where (budget_file_ledger.status, budget_file_ledger.sync_id)
        is distinct from (excluded.status, coalesce(excluded.sync_id, budget_file_ledger.sync_id))
"""


def _version(config_id: int, remote: RemoteFile) -> dict[str, Any]:
    return {
        "config_id": config_id,
        "file_name": remote.name,
        "size_bytes": remote.size,
        "modified_at": remote.modified_at,
    }


def ledger_lookup(conn: psycopg.Connection, config_id: int, remote: RemoteFile) -> str | None:
    """The latest status recorded for this (name, size, modified time), or None."""
    row = conn.execute(_LEDGER_LOOKUP, _version(config_id, remote)).fetchone()
    return row[0] if row else None


def is_done(status: str | None) -> bool:
    """Whether a ledger status means the file version was processed (rule 2)."""
    return status in DONE_STATUSES


def ledger_already_seen(conn: psycopg.Connection, config_id: int) -> Callable[[RemoteFile], bool]:
    """`already_seen` for choose_file: the file version is in the ledger with a done status."""
    return lambda remote: is_done(ledger_lookup(conn, config_id, remote))


def ledger_seen_checksum(conn: psycopg.Connection, config_id: int, name: str, sha256: str) -> bool:
    """Whether the same content under the same name was already processed (rule 4)."""
    params = {"config_id": config_id, "file_name": name, "sha256": sha256}
    row = conn.execute(_LEDGER_SEEN_CHECKSUM, {**params, "done": list(DONE_STATUSES)}).fetchone()
    return bool(row[0])


def ledger_record(
    conn: psycopg.Connection,
    config_id: int,
    remote: RemoteFile,
    sha256: str,
    status: str,
    sync_id: int | None,
) -> None:
    """Record a file version's outcome (idempotent: the same version again keeps one row,
    with the latest status; unchanged rows are not rewritten)."""
    if status not in LEDGER_STATUSES:
        raise ValueError(f"ledger status must be one of {', '.join(LEDGER_STATUSES)}: {status!r}")
    params = {**_version(config_id, remote), "sha256": sha256, "status": status}
    conn.execute(_LEDGER_RECORD, {**params, "sync_id": sync_id})
