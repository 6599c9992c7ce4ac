"""`http` sources: any HTTPS (or loopback HTTP) address that answers with a CSV or XLSX file
(`conn_id`, `url`): the scheduled export links of Prophix, Adaptive, Planful and others.

The connection (type `http`) holds the credentials: login and password are sent as Basic
auth; a password without a login is sent as a Bearer token (extra `auth_type`: `basic` or
`bearer` says so explicitly); extra `headers` adds headers of its own (an API key header).
When the connection has a host, the URL must be on that host, so a typo in a config never
sends a customer's credentials elsewhere. Credentials only travel over HTTPS (plain HTTP only
to the workers' own loopback address). Redirects are followed; httpx drops the Authorization
header when a redirect leaves the host (signed storage links).

The working copy is named after the server's Content-Disposition file name, else the URL's
last path segment, with a suffix from the Content-Type when the name has none, so the file
keeps its type. A web page (text/html: a sign-in page, an expired link) or a JSON answer is
refused with a message saying so. Its modification time is the pull's: the content's
SHA-256 alone decides whether it is new (a Last-Modified header is not trusted for that).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from finsync.budget.sources.web import (
    Pulled,
    PulledSource,
    WebClient,
    connection,
    extra_of,
    is_loopback,
    working_name,
)

ACCEPT = (
    "text/csv, application/vnd.openxmlformats-officedocument.spreadsheetml.sheet, "
    "application/vnd.ms-excel;q=0.9, text/plain;q=0.8, application/octet-stream;q=0.5"
)
_SUFFIXES = {
    "text/csv": ".csv",
    "application/csv": ".csv",
    "text/tab-separated-values": ".tsv",
    "text/plain": ".txt",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.ms-excel": ".xls",
}
# A query parameter that carries a credential: it belongs in the connection.
_SECRET_PARAM = re.compile(
    r"token|secret|passw|api_?key|apikey|signature|^sig$|^key$|credential|auth", re.I
)
_FILENAME_STAR = re.compile(r"filename\*\s*=\s*([^']*)'[^']*'([^;]+)", re.I)
_FILENAME = re.compile(r'filename\s*=\s*"?([^";]+)"?', re.I)


class HttpSource(PulledSource):
    source_type = "http"
    required_keys = ("conn_id", "url")

    def __init__(self, customer_id: str, conn_id: str, url: str) -> None:
        super().__init__(customer_id)
        self.conn_id = conn_id
        self.url = url.strip()

    @classmethod
    def from_config(
        cls, customer_id: str, source_config: Mapping[str, Any], globs: Sequence[str]
    ) -> HttpSource:
        return cls(customer_id, source_config["conn_id"], source_config["url"])

    @classmethod
    def config_problems(cls, source_config: Mapping[str, Any]) -> list[str]:
        problems = super().config_problems(source_config)
        url = source_config.get("url")
        if "url" in source_config and not isinstance(url, str):
            return [*problems, "url must be a string"]
        if isinstance(url, str) and url.strip():
            parts = urlsplit(url.strip())
            if parts.scheme not in ("https", "http") or not parts.hostname:
                problems.append("url must be a whole https:// address")
            secret_params = sorted(
                {
                    k
                    for k, _ in parse_qsl(parts.query, keep_blank_values=True)
                    if _SECRET_PARAM.search(k)
                }
            )
            if secret_params:
                problems.append(
                    "url must not carry credentials in its query (found: "
                    f"{', '.join(secret_params)}); put them in the Airflow connection"
                )
        return problems

    def location(self) -> str:
        parts = urlsplit(self.url)
        return f"connection {self.conn_id!r}, {parts.scheme}://{parts.netloc}{parts.path}"

    def pull(self) -> Pulled:
        conn = connection(self, self.conn_id)
        extra = extra_of(conn)
        parts = urlsplit(self.url)
        if conn.host and _host_of(conn.host) != (parts.hostname or "").lower():
            raise self.refused(
                f"the url's host {parts.hostname} is not the host of connection {self.conn_id!r}",
                "Correct source_config.url, or name the connection made for that host.",
            )
        headers, secrets = self._auth_headers(conn, extra)
        if headers and parts.scheme != "https" and not is_loopback(parts.hostname):
            raise self.refused(
                "credentials are only sent over HTTPS",
                "Use the https:// address of the export.",
            )
        client = WebClient(self, conn_id=self.conn_id, secrets=secrets)
        try:
            response = client.request(
                "GET",
                self.url,
                what="downloading the export",
                headers={**headers, "Accept": ACCEPT},
                hints={
                    404: "Check source_config.url: the export link may have changed.",
                    401: f"Check the credentials in connection {self.conn_id!r} (a login "
                    "and password for Basic, a password alone for a Bearer token).",
                },
            )
        finally:
            client.close()
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type in ("text/html", "application/xhtml+xml", "application/json"):
            kind = "a web page" if "html" in content_type else "JSON"
            raise self.refused(
                f"the url answered {kind} ({content_type}), not a CSV or XLSX file",
                "Check that the url is the export's download link (not its page) and that "
                f"connection {self.conn_id!r} signs in.",
            )
        return Pulled(_file_name(response, content_type), response.content, datetime.now(UTC))

    def _auth_headers(self, conn: Any, extra: Mapping[str, Any]) -> tuple[dict[str, str], list]:
        """The Authorization (and extra) headers from the connection, and the secret values
        to mask in messages."""
        headers: dict[str, str] = {}
        secrets: list[str] = []
        extra_headers = extra.get("headers")
        if isinstance(extra_headers, Mapping):
            headers.update({str(k): str(v) for k, v in extra_headers.items()})
            secrets += [str(v) for v in extra_headers.values()]
        auth_type = str(extra.get("auth_type") or "").lower()
        if auth_type not in ("", "basic", "bearer"):
            raise self.refused(
                f"connection {self.conn_id!r} has auth_type {auth_type!r}",
                "Use basic or bearer (or leave it out).",
            )
        password = conn.password or ""
        if password:
            secrets.append(password)
            if auth_type == "bearer" or (not auth_type and not conn.login):
                headers["Authorization"] = f"Bearer {password}"
            else:
                pair = base64.b64encode(f"{conn.login or ''}:{password}".encode()).decode()
                headers["Authorization"] = f"Basic {pair}"
                secrets.append(pair)
        return headers, secrets


def _host_of(host: str) -> str:
    host = host.strip()
    return ((urlsplit(host).hostname or "") if "://" in host else host.split(":")[0]).lower()


def _file_name(response: Any, content_type: str) -> str:
    """Content-Disposition's file name, else the last segment of the (final) URL; a suffix
    from the Content-Type when the name has none."""
    disposition = response.headers.get("Content-Disposition", "")
    name = ""
    star, plain = _FILENAME_STAR.search(disposition), _FILENAME.search(disposition)
    if star:
        name = unquote(star.group(2).strip(), encoding=star.group(1) or "utf-8", errors="replace")
    elif plain:
        name = plain.group(1).strip()
    if not name:
        name = unquote(urlsplit(str(response.url)).path.rstrip("/").rsplit("/", 1)[-1])
    suffix = _SUFFIXES.get(content_type, ".csv")
    return working_name(name or "export", suffix)
