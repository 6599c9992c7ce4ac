"""`anaplan` sources: one export action of an Anaplan model (`conn_id`, `workspace_id`,
`model_id`, `export_id`), run and downloaded with Anaplan's Integration API v2.

The connection (any type; `http` suits) holds the Anaplan user's login and password; extra
`endpoint` overrides the API's address (default https://api.anaplan.com) and extra
`auth_endpoint` the authentication service's (default https://auth.anaplan.com), for regional
or test hosts.

One pull, as Anaplan documents the export flow:

1. `POST {auth}/token/authenticate` with Basic auth -> a token, sent as
   `Authorization: AnaplanAuthToken <token>`. A token close to its `expiresAt` is renewed with
   `POST {auth}/token/refresh`; a request answered 401 (the token expired or was revoked)
   authenticates again once and is sent again.
2. `POST .../exports/{export_id}/tasks` starts the export; `GET .../tasks/{task_id}` is polled
   (every `poll_seconds`, default 5) until `taskState` is `COMPLETE`, for at most
   `timeout_seconds` (default 900). A task still running then is cancelled and the attempt
   fails as an outage (the next try starts a new export); a task that completes with
   `result.successful` false, or is cancelled, is refused with Anaplan's own explanation.
3. `GET .../files` gives the export file's name and chunk count (an export's file has the
   export's id); `GET .../files/{id}/chunks` lists the chunks and each
   `GET .../chunks/{n}` (`application/octet-stream`) is downloaded and joined in order. A chunk
   cut short of its Content-Length is fetched again (then it is an outage); a chunk list that
   disagrees with the file's chunk count is an error.

The working copy keeps the export file's name ("Budget FY26.csv"; an XLSX export stays .xlsx).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from finsync.budget.sources.web import (
    Pulled,
    PulledSource,
    SourceRefusedError,
    WebClient,
    base_url,
    connection,
    extra_of,
    working_name,
)

DEFAULT_ENDPOINT = "https://api.anaplan.com"
DEFAULT_AUTH_ENDPOINT = "https://auth.anaplan.com"
DEFAULT_POLL_SECONDS = 5.0
DEFAULT_TIMEOUT_SECONDS = 900
# Renew a token this long before Anaplan says it expires (tokens last 35 minutes).
RENEW_BEFORE_SECONDS = 300
_SUFFIXES = {
    "text/csv": ".csv",
    "text/plain": ".txt",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.ms-excel": ".xls",
}


class AnaplanSource(PulledSource):
    source_type = "anaplan"
    required_keys = ("conn_id", "workspace_id", "model_id", "export_id")

    def __init__(
        self,
        customer_id: str,
        conn_id: str,
        workspace_id: str,
        model_id: str,
        export_id: str,
        *,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(customer_id)
        self.conn_id = conn_id
        self.workspace_id = workspace_id
        self.model_id = model_id
        self.export_id = export_id
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        self._client: WebClient | None = None
        self._auth_url = DEFAULT_AUTH_ENDPOINT
        self._basic = ""
        self._headers: dict[str, str] = {}
        self._expires_at = 0.0  # epoch seconds

    @classmethod
    def from_config(
        cls, customer_id: str, source_config: Mapping[str, Any], globs: Sequence[str]
    ) -> AnaplanSource:
        return cls(
            customer_id,
            source_config["conn_id"],
            source_config["workspace_id"],
            source_config["model_id"],
            source_config["export_id"],
            poll_seconds=source_config.get("poll_seconds", DEFAULT_POLL_SECONDS),
            timeout_seconds=source_config.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS),
        )

    @classmethod
    def config_problems(cls, source_config: Mapping[str, Any]) -> list[str]:
        problems = super().config_problems(source_config)
        for key in ("workspace_id", "model_id", "export_id"):
            value = source_config.get(key)
            if key in source_config and (not isinstance(value, str) or "/" in value):
                problems.append(f"{key} must be the id as Anaplan shows it (text, no '/')")
        poll = source_config.get("poll_seconds")
        if "poll_seconds" in source_config and not (
            isinstance(poll, int | float) and not isinstance(poll, bool) and 0 < poll <= 300
        ):
            problems.append("poll_seconds must be a number of seconds above 0, at most 300")
        timeout = source_config.get("timeout_seconds")
        if "timeout_seconds" in source_config and not (
            isinstance(timeout, int) and not isinstance(timeout, bool) and 1 <= timeout <= 86400
        ):
            problems.append("timeout_seconds must be a whole number of seconds, 1 to 86400")
        if "sheet" in source_config:
            problems.append("sheet does not apply to an anaplan source")
        return problems

    def location(self) -> str:
        return (
            f"connection {self.conn_id!r}, workspace {self.workspace_id}, "
            f"model {self.model_id}, export {self.export_id}"
        )

    # ------------------------------------------------------------------ the pull

    def pull(self) -> Pulled:
        api = self._connect()
        client = self._client
        assert client is not None
        model = (
            f"{api}/2/0/workspaces/{quote(self.workspace_id, safe='')}"
            f"/models/{quote(self.model_id, safe='')}"
        )
        export = f"{model}/exports/{quote(self.export_id, safe='')}"
        try:
            self._authenticate()
            task = self._call(
                "POST",
                f"{export}/tasks",
                "starting the export",
                json={"localeName": "en_US"},
                hints={404: "Check workspace_id, model_id and export_id in source_config."},
            ).json()
            task_id = str((task.get("task") or {}).get("taskId") or "")
            if not task_id:
                raise self.error("starting the export: Anaplan's answer holds no taskId")
            self._wait_for(f"{export}/tasks/{quote(task_id, safe='')}", task_id)
            name, chunk_count = self._export_file(model)
            content = self._chunks(
                f"{model}/files/{quote(self.export_id, safe='')}", name, chunk_count
            )
        finally:
            client.close()
        return Pulled(name, content, datetime.now(UTC))

    def _connect(self) -> str:
        conn = connection(self, self.conn_id)
        extra = extra_of(conn)
        if not conn.login or not conn.password:
            raise self.refused(
                f"connection {self.conn_id!r} has no login and password",
                "Put the Anaplan user's login and password in the connection.",
            )
        self._basic = base64.b64encode(f"{conn.login}:{conn.password}".encode()).decode()
        self._auth_url = base_url(str(extra.get("auth_endpoint") or DEFAULT_AUTH_ENDPOINT))
        self._client = WebClient(self, conn_id=self.conn_id, secrets=[conn.password, self._basic])
        return base_url(str(extra.get("endpoint") or DEFAULT_ENDPOINT))

    def _token_answer(self, path: str, authorization: str, what: str) -> None:
        client = self._client
        assert client is not None
        answer = client.request(
            "POST",
            f"{self._auth_url}{path}",
            what=what,
            headers={"Authorization": authorization, "Accept": "application/json"},
            hints={
                401: f"Check the login and password in connection {self.conn_id!r} (and that "
                "the user may sign in with a password, not only single sign-on)."
            },
        ).json()
        info = answer.get("tokenInfo") or {}
        token = info.get("tokenValue")
        if not isinstance(token, str) or not token:
            raise self.refused(f"{what}: Anaplan's answer holds no token")
        client.add_secret(token)
        self._headers = {"Authorization": f"AnaplanAuthToken {token}"}
        expires_ms = info.get("expiresAt")
        self._expires_at = expires_ms / 1000 if isinstance(expires_ms, int | float) else 0.0

    def _authenticate(self) -> dict[str, str]:
        self._token_answer("/token/authenticate", f"Basic {self._basic}", "signing in")
        return self._headers

    def _renew_if_due(self) -> None:
        """Renew a token about to expire; one Anaplan no longer renews means signing in
        again."""
        if self._expires_at and self._expires_at - time.time() < RENEW_BEFORE_SECONDS:
            try:
                self._token_answer(
                    "/token/refresh", self._headers["Authorization"], "renewing the token"
                )
            except SourceRefusedError:
                self._authenticate()

    def _call(self, method: str, url: str, what: str, **kwargs: Any) -> Any:
        client = self._client
        assert client is not None
        self._renew_if_due()
        accept = kwargs.pop("accept", "application/json")
        return client.request(
            method,
            url,
            what=what,
            headers={**self._headers, "Accept": accept},
            refresh=lambda: {**self._authenticate(), "Accept": accept},
            **kwargs,
        )

    def _wait_for(self, url: str, task_id: str) -> None:
        """Poll the export task until it completes; refused when it fails or is cancelled,
        an outage (after cancelling it) when it is still running at the timeout."""
        started = self.clock()
        wait = self.poll_seconds
        polls = 0
        while True:
            polls += 1
            task = self._call("GET", url, "waiting for the export").json().get("task") or {}
            state = task.get("taskState")
            if state == "COMPLETE":
                result = task.get("result") or {}
                if result.get("successful") is True:
                    return
                raise self.refused(
                    f"the export task {task_id} failed in Anaplan ({_details(result)})",
                    "Run the export in Anaplan to see why (its saved view or list may have "
                    "changed).",
                )
            if state in ("CANCELLED", "CANCELLING"):
                raise self.refused(
                    f"the export task {task_id} was cancelled in Anaplan",
                    "Run the sync again when the model is free.",
                )
            if self.clock() - started + wait > self.timeout_seconds:
                self._cancel(url)
                raise self.error(
                    f"the export task {task_id} was still {state or 'not finished'} after "
                    f"{self.timeout_seconds:.0f} s ({polls} polls); it was cancelled",
                    "The model may be busy; the next try starts a new export (raise "
                    "source_config.timeout_seconds for a long export).",
                )
            self.sleep(wait)
            wait = min(wait * 1.5, 30.0)

    def _cancel(self, url: str) -> None:
        """Ask Anaplan to cancel a task we stop waiting for (best effort)."""
        client = self._client
        assert client is not None
        try:
            client.request("DELETE", url, what="cancelling the export", headers=self._headers)
        except Exception:  # noqa: BLE001 - the timeout is what gets reported
            pass

    def _export_file(self, model: str) -> tuple[str, int]:
        files = self._call("GET", f"{model}/files", "looking up the export's file").json()
        for entry in files.get("files") or []:
            if str(entry.get("id")) == self.export_id:
                count = entry.get("chunkCount")
                suffix = _SUFFIXES.get(str(entry.get("format") or ""), ".csv")
                name = working_name(str(entry.get("name") or f"export {self.export_id}"), suffix)
                return name, count if isinstance(count, int) else -1
        raise self.refused(
            f"Anaplan lists no file for export {self.export_id} after the export ran",
            "Check export_id: it must be an export action's id.",
        )

    def _chunks(self, file_url: str, name: str, chunk_count: int) -> bytes:
        listing = self._call("GET", f"{file_url}/chunks", f"listing the chunks of {name}").json()
        chunk_ids = [str(c.get("id")) for c in listing.get("chunks") or []]
        if chunk_count >= 0 and len(chunk_ids) != chunk_count:
            raise self.error(
                f"Anaplan lists {len(chunk_ids)} chunks of {name} but the file has {chunk_count}",
                "The export may have been run again meanwhile; the next try downloads it anew.",
            )
        parts = []
        for number, chunk_id in enumerate(chunk_ids, start=1):
            response = self._call(
                "GET",
                f"{file_url}/chunks/{quote(chunk_id, safe='')}",
                f"downloading chunk {number} of {len(chunk_ids)} of {name}",
                accept="application/octet-stream",
            )
            parts.append(response.content)
        return b"".join(parts)


def _details(result: Mapping[str, Any]) -> str:
    texts = [
        str(d.get("localMessageText"))
        for d in result.get("details") or []
        if isinstance(d, Mapping) and d.get("localMessageText")
    ]
    return "; ".join(texts)[:300] or "Anaplan gives no details"
