"""`sftp` sources: a directory on an SFTP server (`conn_id`, `path`, `glob`), through the
SFTP provider's `SFTPHook`."""

from __future__ import annotations

import io
import posixpath
import stat
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from finsync.budget.sources.base import (
    DEFAULT_GLOBS,
    BudgetSource,
    RemoteFile,
    matches,
    safe_message,
)


class SFTPSource(BudgetSource):
    """A directory on an SFTP server, read through the SFTP provider's SFTPHook; the
    connection (`conn_id`, type sftp or ssh) holds host, port, login and password or key.

    One connection attempt per call (the hook's default is three, 3 to 5 s apart): the
    task's own retries with back-off take care of transient failures."""

    source_type = "sftp"
    required_keys = ("conn_id", "path")

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

    @classmethod
    def from_config(
        cls, customer_id: str, source_config: Mapping[str, Any], globs: Sequence[str]
    ) -> SFTPSource:
        return cls(customer_id, source_config["conn_id"], source_config["path"], globs)

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

    # Writing back (BudgetSource.write).
    writable = True

    @contextmanager
    def session(self) -> Iterator[None]:
        """One SSH connection for every call made meanwhile (the hook's managed connection
        is shared by nested uses)."""
        hook = self.hook()
        with ExitStack() as stack:
            with self._errors("connecting"):
                stack.enter_context(hook.get_managed_conn())
            yield

    def _put(self, name: str, data: bytes) -> None:
        hook = self.hook()
        with self._errors(f"writing {name}"), hook.get_managed_conn() as sftp:
            self._make_folder(sftp)
            sftp.putfo(io.BytesIO(data), posixpath.join(self.path, name), confirm=True)

    def _make_folder(self, sftp: Any) -> None:
        """Create the folder (and its parents) when missing."""
        missing: list[str] = []
        folder = self.path.rstrip("/") or "/"
        while folder not in ("", "/"):
            try:
                sftp.stat(folder)
                break
            except FileNotFoundError:
                missing.append(folder)
                folder = posixpath.dirname(folder)
        for path in reversed(missing):
            sftp.mkdir(path)

    def _rename(self, name: str, new_name: str) -> None:
        hook = self.hook()
        with self._errors(f"renaming {name} to {new_name}"), hook.get_managed_conn() as sftp:
            # posix-rename@openssh.com replaces the target in one step; plain SFTP rename
            # refuses an existing target.
            sftp.posix_rename(posixpath.join(self.path, name), posixpath.join(self.path, new_name))

    def _remove(self, name: str) -> None:
        hook = self.hook()
        with self._errors(f"removing {name}"), hook.get_managed_conn() as sftp:
            try:
                sftp.remove(posixpath.join(self.path, name))
            except FileNotFoundError:
                pass

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
                f"{action}: cannot reach or use the server ({safe_message(exc, self._secrets())})",
                f"Check host, port and network access in connection {self.conn_id!r}.",
            ) from None

    def _secrets(self) -> list[str]:
        hook = self._hook
        return [hook.password] if hook is not None and hook.password else []
