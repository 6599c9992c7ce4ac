"""What the API sources (`google_sheets`, `anaplan`, `http`) share: a source whose one "file"
is the content an API returns when asked (`PulledSource`), an HTTP client that retries only
where waiting helps (`WebClient`), and the error that says waiting will not
(`SourceRefusedError`).

A pulled source has no folder to list and no file being written: `list_files` pulls the
content once (a sheet range as CSV, an export's chunks joined, a URL's body) and offers it as
the one candidate, `stat` returns that same pull, `_download` writes it as the working copy.
Its modification time is the time of the pull (or the server's Last-Modified), so the ledger's
(name, size, modified time) never matches an earlier pull: the pulled content's SHA-256
decides `unchanged` (rule 4 of the package docstring). The sync does not wait for it to
settle (`RemoteFile.complete`): an API's answer is complete when it arrives.

Faults, the same for every pulled source:

- 429 (with or without Retry-After) and 5xx, a refused connection or a timeout: retried in
  the same attempt with back-off (Retry-After when the server gives one, else 1, 2, 4 s ...),
  `attempts` tries in all; still failing, a `SourceError` (an outage: recorded, and the task's
  own retries try again later). A Retry-After longer than `max_wait_seconds` is not waited
  for here: the next poll comes sooner.
- 401 after one token refresh, 403, 404, other 4xx: `SourceRefusedError` at once: recorded as
  `failed` with the message, not retried (the credentials, the sharing or the id must change
  first). The previous budgets stay in force.
- A body shorter than its Content-Length (a cut connection): retried like an outage, then a
  `SourceError` saying how many bytes of how many arrived.

Messages name the source, what was being done and the HTTP status with the server's own short
explanation; known secrets (passwords, tokens) are masked out of anything quoted, and no
request header is ever logged.
"""

from __future__ import annotations

import functools
import logging
import re
import ssl
import time
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from finsync.budget.model import BudgetFileError
from finsync.budget.sources.base import (
    DEFAULT_GLOBS,
    BudgetSource,
    RemoteFile,
    SourceError,
    safe_message,
)

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# The largest answer read into memory: far beyond any budget export (parse's own limits are
# lower for what it reads), low enough that a wrong address cannot exhaust a worker.
MAX_BYTES = 512 * 1024 * 1024
# Characters a working copy's name keeps (others become '_'); names stay readable.
_UNSAFE_NAME = re.compile(r"[^\w .,()&+\-]+")


class SourceRefusedError(SourceError, BudgetFileError):
    """The source refused in a way waiting will not change (401 after a token refresh, 403,
    404, a failed export, an empty sheet): the attempt is recorded `failed` with this message
    and not retried. Being a BudgetFileError is what tells the sync so."""


@dataclass(frozen=True)
class Pulled:
    """What one pull returned: the working copy's file name, its bytes and when the content
    last changed at the source (the pull's time when the source does not say)."""

    name: str
    content: bytes
    modified_at: datetime


def working_name(name: str, default_suffix: str = ".csv") -> str:
    """A plain file name for a working copy: no folders, no characters a file system or a log
    line would trip on, and a suffix (`default_suffix` when it has none of its own)."""
    base = name.replace("/", "_").replace("\\", "_").strip().strip(".") or "export"
    base = _UNSAFE_NAME.sub("_", base)[:150].strip() or "export"
    if not Path(base).suffix or len(Path(base).suffix) > 6:
        base += default_suffix
    return base


class PulledSource(BudgetSource):
    """A source whose one file is what an API answers now (see the module docstring).

    Subclasses set `source_type`, `required_keys`, implement `from_config`, `location` and
    `pull`. `sleep` and `clock` are the waits and the monotonic clock used for back-off,
    polling and timeouts (tests may replace them on an instance)."""

    def __init__(self, customer_id: str) -> None:
        super().__init__(customer_id, DEFAULT_GLOBS)
        self.sleep: Callable[[float], None] = time.sleep
        self.clock: Callable[[], float] = time.monotonic
        self._pulled: Pulled | None = None

    @classmethod
    def config_problems(cls, source_config: Mapping[str, Any]) -> list[str]:
        if "glob" in source_config:
            return [f"glob does not apply to a {cls.source_type} source (it reads one export)"]
        return []

    @abstractmethod
    def pull(self) -> Pulled:
        """Ask the API for the content now (raises SourceError or SourceRefusedError)."""

    def list_files(self) -> list[RemoteFile]:
        if self._pulled is None:
            self._pulled = self.pull()
            log.info(
                "pulled %s (%d bytes) from %s",
                self._pulled.name,
                len(self._pulled.content),
                self.describe(),
            )
        pulled = self._pulled
        size, modified = len(pulled.content), pulled.modified_at.astimezone(UTC)
        return [RemoteFile(pulled.name, size, modified, pulled.name, complete=True)]

    def stat(self, name: str) -> RemoteFile | None:
        files = self.list_files()
        return next((f for f in files if f.name == name), None)

    def _download(self, remote: RemoteFile, target: Path) -> None:
        if self._pulled is None or self._pulled.name != remote.name:
            raise self.error(f"{remote.name} was not pulled from this source")
        target.write_bytes(self._pulled.content)

    def refused(self, problem: str, hint: str = "") -> SourceRefusedError:
        """A SourceRefusedError naming this source (no secret in `problem`)."""
        return SourceRefusedError(f"{self.describe()}: {problem}." + (f" {hint}" if hint else ""))


def connection(source: BudgetSource, conn_id: str) -> Any:
    """The Airflow connection `conn_id`; a SourceRefusedError naming it when it is not
    defined (a person must create it: retrying will not)."""
    from airflow.providers.common.compat.sdk import AirflowNotFoundException, BaseHook

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise SourceRefusedError(
            f"{source.describe()}: the Airflow connection {conn_id!r} is not defined. Create it "
            "(UI, AIRFLOW_CONN_* variable or secrets backend)."
        ) from None


def extra_of(conn: Any) -> dict[str, Any]:
    try:
        return dict(conn.extra_dejson) if conn.extra else {}
    except (TypeError, ValueError):
        return {}


def is_loopback(host: str | None) -> bool:
    return (host or "").lower() in ("127.0.0.1", "localhost", "::1", "[::1]")


def base_url(value: str, default_scheme: str = "https") -> str:
    """`value` as a base URL without a trailing slash ('api.x.com' -> 'https://api.x.com')."""
    value = value.strip().rstrip("/")
    return value if "://" in value else f"{default_scheme}://{value}"


class WebClient:
    """httpx with bounded retries for one source (module docstring, "Faults").

    `secrets` are masked out of every message; `refresh` (when given) is called once after a
    401 to get fresh auth headers, and the request is sent again with them."""

    def __init__(
        self,
        source: PulledSource,
        *,
        conn_id: str,
        secrets: Sequence[str] = (),
        attempts: int = 4,
        backoff_seconds: float = 1.0,
        max_wait_seconds: float = 60.0,
        timeout_seconds: float = 60.0,
    ) -> None:
        import httpx

        self.source = source
        self.conn_id = conn_id
        self.secrets = [s for s in secrets if s]
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.max_wait_seconds = max_wait_seconds
        self._client = httpx.Client(
            timeout=timeout_seconds, follow_redirects=True, verify=_tls_context()
        )

    def close(self) -> None:
        self._client.close()

    def add_secret(self, value: str | None) -> None:
        if value:
            self.secrets.append(value)

    def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        headers: Mapping[str, str] | None = None,
        refresh: Callable[[], Mapping[str, str]] | None = None,
        hints: Mapping[int, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """The response (2xx) to `method url`, its body read in full, after retries; `what`
        says what the request is for ("reading the values"), in messages."""
        import httpx

        headers = dict(headers or {})
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._send(method, url, headers, kwargs)
            except _TooLarge as big:
                raise self.source.refused(
                    f"{what}: the answer is {big.size / 1024**2:,.0f} MB, over the "
                    f"{MAX_BYTES // 1024**2} MB limit",
                    "Check the address: a budget export is far smaller.",
                ) from None
            except _Truncated as cut:
                problem = f"the download was cut short ({cut.received} of {cut.expected} bytes)"
                if attempt >= self.attempts:
                    raise self.source.error(
                        f"{what}: {problem}, {attempt} tries", "The next poll tries again."
                    ) from None
                self._wait(attempt, None, what, problem)
                continue
            except httpx.TransportError as exc:
                problem = f"cannot reach {_host(url)} ({safe_message(exc, self.secrets)})"
                if attempt >= self.attempts:
                    raise self.source.error(
                        f"{what}: {problem}, {attempt} tries",
                        f"Check the address in connection {self.conn_id!r} and network access.",
                    ) from None
                self._wait(attempt, None, what, problem)
                continue
            status = response.status_code
            if status < 300:
                return response
            if status == 401 and refresh is not None and not refreshed:
                refreshed = True
                log.info("%s: %s answered 401; getting a new token once", what, _host(url))
                headers.update(refresh())
                continue
            if status in RETRY_STATUSES:
                problem = self.describe_status(response)
                if attempt >= self.attempts:
                    raise self.source.error(
                        f"{what}: {problem}, {attempt} tries",
                        "The service is busy or down; the next poll tries again.",
                    ) from None
                wait = self._wait(attempt, response.headers.get("Retry-After"), what, problem)
                if wait is None:
                    raise self.source.error(
                        f"{what}: {problem}; it asks to wait longer than "
                        f"{self.max_wait_seconds:.0f} s",
                        "The next poll tries again.",
                    ) from None
                continue
            raise self.source.refused(
                f"{what}: {self.describe_status(response)}",
                (hints or {}).get(status) or self._hint(status),
            ) from None

    def _send(self, method: str, url: str, headers: dict[str, str], kwargs: dict) -> Any:
        """One request with its body read in full; _Truncated when the connection ends before
        the body's Content-Length (h11 checks it)."""
        import httpx

        with self._client.stream(method, url, headers=headers, **kwargs) as response:
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > MAX_BYTES:
                raise _TooLarge(int(length))
            try:
                response.read()
            except httpx.RemoteProtocolError as exc:
                numbers = re.search(r"received (\d+) bytes, expected (\d+)", str(exc))
                if numbers:
                    raise _Truncated(int(numbers[1]), numbers[2]) from None
                raise
            return response

    def _wait(self, attempt: int, retry_after: str | None, what: str, problem: str) -> float | None:
        """Sleep before the next try: Retry-After when given (None when it is longer than
        max_wait_seconds), else back-off doubling from backoff_seconds."""
        wait = _retry_after_seconds(retry_after)
        if wait is None:
            wait = self.backoff_seconds * 2 ** (attempt - 1)
        if wait > self.max_wait_seconds:
            return None
        log.warning("%s: %s; trying again in %.1f s (try %d)", what, problem, wait, attempt + 1)
        self.source.sleep(wait)
        return wait

    def describe_status(self, response: Any) -> str:
        """'403 access denied: <the server's short explanation>' (secrets masked)."""
        status = response.status_code
        reason = _REASONS.get(status) or response.reason_phrase.lower() or "an error"
        said = _server_says(response)
        for secret in self.secrets:
            said = said.replace(secret, "***")
        return f"{status} {reason}" + (f" ({said})" if said else "")

    def _hint(self, status: int) -> str:
        if status == 401:
            return f"Check the credentials in connection {self.conn_id!r}."
        if status == 403:
            return f"Check that the account of connection {self.conn_id!r} may read it."
        if status == 404:
            return "Check the ids in source_config."
        return ""


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default verifying TLS context (certifi's CAs), built once per process: loading
    the CA bundle takes a tenth of a second."""
    import httpx

    return httpx.create_ssl_context()


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(f"{size} bytes")
        self.size = size


class _Truncated(Exception):
    def __init__(self, received: int, expected: str) -> None:
        super().__init__(f"{received} of {expected} bytes")
        self.received, self.expected = received, expected


_REASONS = {
    400: "bad request",
    401: "not authenticated",
    403: "access denied",
    404: "not found",
    408: "request timeout",
    410: "gone",
    429: "rate-limited",
    500: "server error",
    502: "bad gateway",
    503: "unavailable",
    504: "gateway timeout",
}


def _host(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc.rsplit("@", 1)[-1] or url


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds to wait: delta-seconds or an HTTP date; None when absent or
    unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _server_says(response: Any) -> str:
    """The server's own short explanation of an error: Google's error.message, Anaplan's
    status message, a plain-text first line; nothing from an HTML page."""
    content_type = response.headers.get("Content-Type", "")
    text = ""
    if "json" in content_type:
        try:
            body = response.json()
        except ValueError:
            body = None
        text = _message_in(body)
    elif content_type.startswith("text/plain"):
        text = response.text.strip().splitlines()[0] if response.text.strip() else ""
    text = " ".join(text.split())
    return text[:200] + ("..." if len(text) > 200 else "")


def _message_in(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    if isinstance(body.get("error_description"), str):
        return body["error_description"]
    if isinstance(error, str):
        return error
    status = body.get("status")
    if isinstance(status, dict) and isinstance(status.get("message"), str):
        return status["message"]
    for key in ("statusMessage", "message"):
        if isinstance(body.get(key), str):
            return body[key]
    return ""
