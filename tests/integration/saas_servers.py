"""Loopback servers speaking the documented protocols of the SaaS budget sources, for tests:

- `GoogleAPI`: Google's OAuth 2.0 token endpoint for service accounts (the JWT-bearer grant of
  RFC 7523: an RS256 JWT signed with the service account's key, verified here with the public
  half of the test key) and the Sheets API v4 (`spreadsheets.get` with merges,
  `spreadsheets.values.get`), with Google's error bodies.
- `AnaplanAPI`: Anaplan's authentication service (`/token/authenticate` with Basic auth,
  `/token/refresh`) and the Integration API v2 export flow (`exports`, `tasks` that stay
  `IN_PROGRESS` for a few polls, `files`, `chunks`), `AnaplanAuthToken` headers.
- `FileAPI`: plain file downloads (CSV, XLSX) behind Basic or Bearer auth, with a redirect
  like scheduled-export links have.

Each is a `http.server.ThreadingHTTPServer` on 127.0.0.1 (a free port) in a thread of the
test process; `serve(api)` starts it and stops it when its block ends, and it stops by itself
after `lifetime_seconds` whatever happens to the test. Faults are switched on per test:
`fail(path, status, times=, retry_after=)` answers the next requests under a path with an
error (429 with Retry-After, 5xx, 403 ...), `expire_tokens()` makes every token issued so far
answer 401 (Google's and Anaplan's expired-token answers), `AnaplanAPI.task_outcome` makes an
export task fail or never finish, `truncate` cuts a body short of its Content-Length. Every
request is recorded (`requests`) so tests can check what crossed the wire.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

LOOPBACK = "127.0.0.1"
LIFETIME_SECONDS = 600.0
SHEETS_SCOPE = "https://www.googleapis.com/auth/spreadsheets.readonly"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Send only this many bytes of the body while announcing its full Content-Length.
    truncate_to: int | None = None


def json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(
        status,
        json.dumps(payload).encode(),
        {"Content-Type": "application/json; charset=UTF-8", **(headers or {})},
    )


@dataclass
class _Fault:
    path: str
    reply: Reply
    times: int


class LoopbackAPI:
    """What every fake API shares: the request log and injected faults."""

    def __init__(self) -> None:
        self.url = ""  # set by serve(): http://127.0.0.1:PORT
        self.requests: list[Seen] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._expire_countdown: int | None = None

    # ---- switches

    def fail(
        self,
        path: str,
        status: int,
        *,
        times: int = 1,
        retry_after: str | None = None,
        body: Any = None,
    ) -> None:
        """Answer the next `times` requests whose path starts with `path` with `status` (and a
        Retry-After header when given), before any other handling."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        payload = body if body is not None else self.error_body(status)
        with self._lock:
            self._faults.append(_Fault(path, json_reply(status, payload, headers), times))

    def error_body(self, status: int) -> Any:
        return {"error": {"code": status, "message": f"status {status}"}}

    def expire_tokens(self) -> None:
        """Every token issued so far answers 401 from now on (APIs with tokens override)."""

    def expire_tokens_after(self, requests: int) -> None:
        """Expire every token issued so far once `requests` more requests have been answered:
        a token that runs out in the middle of a client's work."""
        with self._lock:
            self._expire_countdown = requests

    def seen(self, path_part: str, method: str | None = None) -> list[Seen]:
        return [
            r
            for r in self.requests
            if path_part in r.path and (method is None or r.method == method)
        ]

    # ---- dispatch

    def respond(self, request: Seen) -> Reply:
        with self._lock:
            self.requests.append(request)
            countdown = self._expire_countdown
            if countdown is not None:
                self._expire_countdown = countdown - 1 if countdown > 0 else None
        if countdown == 0:
            self.expire_tokens()
        with self._lock:
            for fault in self._faults:
                if request.path.startswith(fault.path) and fault.times > 0:
                    fault.times -= 1
                    return fault.reply
        return self.handle(request)

    def handle(self, request: Seen) -> Reply:  # pragma: no cover - each API overrides
        raise NotImplementedError


def _handler_for(api: LoopbackAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body in one segment, sent at once: else the client's delayed ACK holds
        # every keep-alive answer up by 40 ms.
        wbufsize = -1
        disable_nagle_algorithm = True

        def _any(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Seen(
                self.command,
                unquote(parts.path),
                parse_qs(parts.query),
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
            try:
                reply = api.respond(request)
            except Exception as exc:  # a bug in the fake: say so, as a 500
                reply = json_reply(500, {"error": f"fake server: {type(exc).__name__}: {exc}"})
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            if reply.truncate_to is not None:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(
                reply.body if reply.truncate_to is None else reply.body[: reply.truncate_to]
            )
            self.wfile.flush()

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any  # noqa: N815 - http.server names

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            return None  # quiet: tests read api.requests instead

    return Handler


@contextmanager
def serve(api: LoopbackAPI, *, lifetime_seconds: float = LIFETIME_SECONDS) -> Iterator[LoopbackAPI]:
    """Serve `api` on 127.0.0.1 (a free port) until the block ends or `lifetime_seconds`."""
    server = ThreadingHTTPServer((LOOPBACK, 0), _handler_for(api))
    server.daemon_threads = True
    api.url = f"http://{LOOPBACK}:{server.server_address[1]}"
    thread = threading.Thread(
        target=functools.partial(server.serve_forever, poll_interval=0.05),
        name=f"{type(api).__name__}-loopback",
        daemon=True,
    )
    thread.start()
    timer = threading.Timer(lifetime_seconds, server.shutdown)
    timer.daemon = True
    timer.start()
    try:
        yield api
    finally:
        timer.cancel()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _bearer(request: Seen, prefix: str = "Bearer ") -> str | None:
    value = request.headers.get("authorization", "")
    return value[len(prefix) :] if value.startswith(prefix) else None


# ---------------------------------------------------------------------------- Google


@dataclass
class Sheet:
    """A sheet as Sheets shows it: rows of formatted cell values and merged ranges
    (row and column indexes from 0, end exclusive, as the API's GridRange)."""

    rows: list[list[str]]
    merges: list[tuple[int, int, int, int]] = field(default_factory=list)


@dataclass
class Spreadsheet:
    title: str
    sheets: dict[str, Sheet]


@functools.cache
def _rsa_key(label: str = "service account") -> Any:
    """An RSA key per label, made once per test process (making one takes a moment)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def service_account_key(token_uri: str, label: str = "service account") -> tuple[dict, str]:
    """A service-account key file (as Google's console downloads it, its token_uri pointing
    at the loopback server) and the public key PEM that verifies its signatures."""
    from cryptography.hazmat.primitives import serialization

    key = _rsa_key(label)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    keyfile = {
        "type": "service_account",
        "project_id": "finsync-test",
        "private_key_id": secrets.token_hex(20),
        "private_key": private_pem,
        "client_email": "budget-reader@finsync-test.iam.gserviceaccount.com",
        "client_id": "104242424242424242424",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "universe_domain": "googleapis.com",
    }
    return keyfile, public_pem


_A1 = re.compile(r"^([A-Z]+)?(\d+)?$")


def _column_index(letters: str) -> int:
    index = 0
    for ch in letters:
        index = index * 26 + ord(ch) - 64
    return index - 1


def _column_letters(index: int) -> str:
    letters, index = "", index + 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


class GoogleAPI(LoopbackAPI):
    """oauth2.googleapis.com/token and sheets.googleapis.com/v4, for one service account.

    `spreadsheets` maps spreadsheet ids to what they hold; `shared_with` is the set of
    spreadsheet ids the service account may read (others answer 403, as an unshared sheet
    does)."""

    def __init__(self) -> None:
        super().__init__()
        self.spreadsheets: dict[str, Spreadsheet] = {}
        self.shared_with: set[str] = set()
        self.keyfile: dict[str, str] = {}
        self._public_pem = ""
        self._tokens: dict[str, float] = {}  # access token -> expiry (epoch seconds)
        self.tokens_issued = 0

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def make_key(self) -> dict[str, str]:
        """A service-account key this server trusts (call once the server has its URL)."""
        self.keyfile, self._public_pem = service_account_key(self.token_uri)
        return self.keyfile

    def add(self, spreadsheet_id: str, title: str, sheets: dict[str, Sheet], shared=True):
        self.spreadsheets[spreadsheet_id] = Spreadsheet(title, sheets)
        if shared:
            self.shared_with.add(spreadsheet_id)

    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens = {token: 0.0 for token in self._tokens}

    def error_body(self, status: int) -> Any:
        names = {
            400: "INVALID_ARGUMENT",
            401: "UNAUTHENTICATED",
            403: "PERMISSION_DENIED",
            404: "NOT_FOUND",
            429: "RESOURCE_EXHAUSTED",
            500: "INTERNAL",
            503: "UNAVAILABLE",
        }
        messages = {
            429: "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per "
            "minute per user' of service 'sheets.googleapis.com'",
            503: "The service is currently unavailable.",
            500: "Internal error encountered.",
        }
        return {
            "error": {
                "code": status,
                "message": messages.get(status, f"status {status}"),
                "status": names.get(status, "UNKNOWN"),
            }
        }

    def handle(self, request: Seen) -> Reply:
        if request.path == "/token" and request.method == "POST":
            return self._token(request)
        match = re.fullmatch(r"/v4/spreadsheets/([^/]+)(?:/values/(.+))?", request.path)
        if match and request.method == "GET":
            denied = self._check_token(request)
            if denied:
                return denied
            spreadsheet_id, a1 = match.groups()
            book = self.spreadsheets.get(spreadsheet_id)
            if book is None:
                return json_reply(404, self._error(404, "Requested entity was not found."))
            if spreadsheet_id not in self.shared_with:
                return json_reply(403, self._error(403, "The caller does not have permission"))
            if a1 is None:
                return self._spreadsheet(spreadsheet_id, book, request)
            return self._values(book, a1, request)
        return json_reply(404, self._error(404, f"no such endpoint: {request.path}"))

    def _error(self, status: int, message: str) -> dict:
        body = self.error_body(status)
        body["error"]["message"] = message
        return body

    def _token(self, request: Seen) -> Reply:
        import jwt

        form = parse_qs(request.body.decode())
        if form.get("grant_type") != [JWT_BEARER] or "assertion" not in form:
            return json_reply(
                400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}
            )
        assertion = form["assertion"][0]
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(
                assertion,
                self._public_pem,
                algorithms=["RS256"],
                audience=self.token_uri,
                options={"require": ["iss", "aud", "iat", "exp"]},
            )
        except jwt.PyJWTError as exc:
            return json_reply(
                400, {"error": "invalid_grant", "error_description": f"Invalid JWT: {exc}"}
            )
        problems = []
        if header.get("kid") != self.keyfile["private_key_id"]:
            problems.append("kid is not the key's private_key_id")
        if claims["iss"] != self.keyfile["client_email"]:
            problems.append("iss is not the service account")
        if SHEETS_SCOPE not in str(claims.get("scope", "")).split():
            problems.append("scope lacks spreadsheets.readonly")
        if claims["exp"] - claims["iat"] > 3600:
            problems.append("Invalid JWT: Token must be a short-lived token (60 minutes)")
        if problems:
            return json_reply(
                400, {"error": "invalid_grant", "error_description": "; ".join(problems)}
            )
        token = "ya29." + secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = time.time() + 3599
            self.tokens_issued += 1
        return json_reply(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def _check_token(self, request: Seen) -> Reply | None:
        token = _bearer(request)
        with self._lock:
            expiry = self._tokens.get(token or "")
        if expiry is None or expiry < time.time():
            return json_reply(
                401,
                self._error(
                    401,
                    "Request had invalid authentication credentials. Expected OAuth 2 access "
                    "token, login cookie or other valid authentication credential.",
                ),
                {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
            )
        return None

    def _split(self, book: Spreadsheet, a1: str) -> tuple[str, Sheet, str] | None:
        if "!" in a1:
            name, cells = a1.rsplit("!", 1)
        elif a1.strip("'") in book.sheets:
            name, cells = a1, ""
        else:
            name, cells = next(iter(book.sheets)), a1
        name = name.strip("'").replace("''", "'")
        sheet = book.sheets.get(name)
        return None if sheet is None else (name, sheet, cells)

    def _bounds(self, sheet: Sheet, cells: str) -> tuple[int, int, int, int] | None:
        """(first row, end row, first column, end column) of an A1 range, 0-based, end
        exclusive; the whole sheet when no cells are named."""
        height = max(len(sheet.rows), 1000)
        width = max((len(r) for r in sheet.rows), default=0)
        width = max(width, 26)
        if not cells:
            return 0, height, 0, width
        start, _, end = cells.partition(":")
        a, b = _A1.match(start), _A1.match(end or start)
        if not a or not b:
            return None
        r1 = int(a.group(2)) - 1 if a.group(2) else 0
        c1 = _column_index(a.group(1)) if a.group(1) else 0
        r2 = int(b.group(2)) if b.group(2) else height
        c2 = _column_index(b.group(1)) + 1 if b.group(1) else width
        return r1, r2, c1, c2

    def _values(self, book: Spreadsheet, a1: str, request: Seen) -> Reply:
        split = self._split(book, a1)
        bounds = split and self._bounds(split[1], split[2])
        if not split or not bounds:
            return json_reply(400, self._error(400, f"Unable to parse range: {a1}"))
        name, sheet, _ = split
        r1, r2, c1, c2 = bounds
        rows = [list(row[c1:c2]) for row in sheet.rows[r1:r2]]
        for row in rows:  # the API leaves out trailing empty cells and rows
            while row and row[-1] == "":
                row.pop()
        while rows and not rows[-1]:
            rows.pop()
        quoted = f"'{name}'" if not re.fullmatch(r"\w+", name) else name
        body: dict[str, Any] = {
            "range": f"{quoted}!{_column_letters(c1)}{r1 + 1}:{_column_letters(c2 - 1)}{r2}",
            "majorDimension": request.query.get("majorDimension", ["ROWS"])[0],
        }
        if rows:
            body["values"] = rows
        return json_reply(200, body)

    def _spreadsheet(self, spreadsheet_id: str, book: Spreadsheet, request: Seen) -> Reply:
        wanted = request.query.get("ranges", [])
        names = []
        for a1 in wanted:
            split = self._split(book, a1)
            if split is None:
                return json_reply(400, self._error(400, f"Unable to parse range: {a1}"))
            names.append(split[0])
        sheets = []
        for index, (name, sheet) in enumerate(book.sheets.items()):
            if wanted and name not in names:
                continue
            entry: dict[str, Any] = {
                "properties": {"sheetId": index * 1000, "title": name, "index": index}
            }
            if sheet.merges:
                entry["merges"] = [
                    {
                        "sheetId": index * 1000,
                        "startRowIndex": r1,
                        "endRowIndex": r2,
                        "startColumnIndex": c1,
                        "endColumnIndex": c2,
                    }
                    for r1, r2, c1, c2 in sheet.merges
                ]
            sheets.append(entry)
        return json_reply(
            200,
            {
                "spreadsheetId": spreadsheet_id,
                "properties": {"title": book.title},
                "sheets": sheets,
            },
        )


# ---------------------------------------------------------------------------- Anaplan


@dataclass
class AnaplanExport:
    name: str  # the export file's name in Anaplan ("Budget FY26.csv")
    content: bytes
    export_format: str = "text/csv"
    chunk_size: int = 1024 * 1024  # Anaplan's chunks are up to 50 MB; small here to split


class AnaplanAPI(LoopbackAPI):
    """auth.anaplan.com and api.anaplan.com/2/0 on one loopback server, for one user.

    `polls_in_progress`: how many status polls answer IN_PROGRESS before COMPLETE;
    `task_outcome`: "success", "failed" (COMPLETE with result.successful false, as Anaplan
    reports a failed export), "cancelled", or "never" (IN_PROGRESS for ever);
    `truncate_chunk`: a chunk id whose download stops half-way short of its Content-Length."""

    def __init__(self, login: str, password: str) -> None:
        super().__init__()
        self.login, self.password = login, password
        self.exports: dict[tuple[str, str, str], AnaplanExport] = {}
        self.polls_in_progress = 3
        self.task_outcome = "success"
        self.truncate_chunk: str | None = None
        self.token_lifetime_seconds = 35 * 60  # Anaplan's tokens last 35 minutes
        self._tokens: dict[str, float] = {}
        self._tasks: dict[str, dict[str, Any]] = {}
        self.authentications = 0
        self.refreshes = 0

    def add_export(self, workspace: str, model: str, export_id: str, export: AnaplanExport):
        self.exports[(workspace, model, export_id)] = export

    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens = {token: 0.0 for token in self._tokens}

    def error_body(self, status: int) -> Any:
        return {"status": {"code": status, "message": f"status {status}"}}

    def _token_reply(self) -> Reply:
        token = secrets.token_urlsafe(32)
        expires = time.time() + self.token_lifetime_seconds
        with self._lock:
            self._tokens[token] = expires
        return json_reply(
            201,
            {
                "meta": {"validationUrl": f"{self.url}/token/validate"},
                "status": "SUCCESS",
                "statusMessage": "Login successful",
                "tokenInfo": {
                    "expiresAt": int(expires * 1000),
                    "tokenId": str(uuid.uuid4()),
                    "tokenValue": token,
                    "refreshTokenId": str(uuid.uuid4()),
                },
            },
        )

    def _valid(self, request: Seen) -> bool:
        token = _bearer(request, "AnaplanAuthToken ")
        with self._lock:
            expiry = self._tokens.get(token or "")
        return expiry is not None and expiry >= time.time()

    def handle(self, request: Seen) -> Reply:
        if request.path == "/token/authenticate" and request.method == "POST":
            basic = _bearer(request, "Basic ")
            given = base64.b64decode(basic).decode() if basic else ""
            if given != f"{self.login}:{self.password}":
                return json_reply(
                    401, {"status": "FAILURE_BAD_CREDENTIAL", "statusMessage": "Login failed"}
                )
            self.authentications += 1
            return self._token_reply()
        if request.path == "/token/refresh" and request.method == "POST":
            if not self._valid(request):
                return json_reply(
                    401, {"status": "FAILURE_BAD_CREDENTIAL", "statusMessage": "Token expired"}
                )
            self.refreshes += 1
            return self._token_reply()
        if not request.path.startswith("/2/0/"):
            return json_reply(404, self._status(404, "Not Found"))
        if not self._valid(request):
            return Reply(401, b"Unauthorized", {"Content-Type": "text/plain"})
        return self._integration(request)

    def _status(self, code: int, message: str) -> dict[str, Any]:
        return {"status": {"code": code, "message": message}}

    def _integration(self, request: Seen) -> Reply:
        m = re.fullmatch(r"/2/0/workspaces/([^/]+)/models/([^/]+)/(.*)", request.path)
        if not m:
            return json_reply(404, self._status(404, "Not Found"))
        workspace, model, rest = m.groups()
        in_model = {e: x for (w, mo, e), x in self.exports.items() if (w, mo) == (workspace, model)}
        if not in_model:
            return json_reply(404, self._status(404, "Model or workspace not found"))
        meta = {"meta": {"schema": f"{self.url}/2/0/objects/task"}}
        ok = self._status(200, "Success")
        if rest == "exports" and request.method == "GET":
            listing = [
                {"id": e, "name": x.name, "exportFormat": x.export_format, "encoding": "UTF-8"}
                for e, x in in_model.items()
            ]
            return json_reply(200, {**meta, **ok, "exports": listing})
        if rest == "files" and request.method == "GET":
            files = [
                {
                    "id": e,
                    "name": x.name,
                    "chunkCount": len(self._chunks(x)),
                    "encoding": "UTF-8",
                    "format": "txt",
                    "firstDataRow": 2,
                    "headerRow": 1,
                    "separator": ",",
                    "delimiter": '"',
                }
                for e, x in in_model.items()
            ]
            return json_reply(200, {**meta, **ok, "files": files})
        task = re.fullmatch(r"exports/([^/]+)/tasks(?:/([^/]+))?", rest)
        if task:
            export_id, task_id = task.groups()
            if export_id not in in_model:
                return json_reply(404, self._status(404, f"Export {export_id} not found"))
            if task_id is None and request.method == "POST":
                return self._start_task(export_id, in_model[export_id], meta, ok)
            if task_id is not None and request.method == "GET":
                return self._poll_task(task_id, meta, ok)
            if task_id is not None and request.method == "DELETE":
                with self._lock:
                    known = self._tasks.pop(task_id, None)
                if known is None:
                    return json_reply(404, self._status(404, f"Task {task_id} not found"))
                body = {"taskId": task_id, "taskState": "CANCELLING"}
                return json_reply(200, {**meta, **ok, "task": body})
        chunk = re.fullmatch(r"files/([^/]+)/chunks(?:/([^/]+))?", rest)
        if chunk and request.method == "GET":
            file_id, chunk_id = chunk.groups()
            export = in_model.get(file_id)
            if export is None:
                return json_reply(404, self._status(404, f"File {file_id} not found"))
            parts = self._chunks(export)
            if chunk_id is None:
                listing = [{"id": str(i), "name": f"Chunk {i}"} for i in range(len(parts))]
                return json_reply(200, {**meta, **ok, "chunks": listing})
            if not chunk_id.isdigit() or int(chunk_id) >= len(parts):
                return json_reply(404, self._status(404, f"Chunk {chunk_id} not found"))
            data = parts[int(chunk_id)]
            truncate = len(data) // 2 if chunk_id == self.truncate_chunk else None
            return Reply(200, data, {"Content-Type": "application/octet-stream"}, truncate)
        return json_reply(404, self._status(404, "Not Found"))

    def _chunks(self, export: AnaplanExport) -> list[bytes]:
        size = export.chunk_size
        return [export.content[i : i + size] for i in range(0, len(export.content), size)] or [b""]

    def _start_task(self, export_id: str, export: AnaplanExport, meta, ok) -> Reply:
        task_id = uuid.uuid4().hex.upper()
        with self._lock:
            self._tasks[task_id] = {"export_id": export_id, "name": export.name, "polls": 0}
        body = {"taskId": task_id, "taskState": "NOT_STARTED", "creationTime": _ms()}
        return json_reply(200, {**meta, **ok, "task": body})

    def _poll_task(self, task_id: str, meta, ok) -> Reply:
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None:
                return json_reply(404, self._status(404, f"Task {task_id} not found"))
            task["polls"] += 1
            polls = task["polls"]
        body: dict[str, Any] = {
            "type": "taskInformation",
            "taskId": task_id,
            "creationTime": _ms(),
        }
        if self.task_outcome == "never" or polls <= self.polls_in_progress:
            body |= {"taskState": "IN_PROGRESS", "progress": 0.5, "currentStep": "Exporting"}
        elif self.task_outcome == "cancelled":
            body |= {"taskState": "CANCELLED", "progress": 1.0, "currentStep": "Cancelled."}
        else:
            successful = self.task_outcome == "success"
            body |= {
                "taskState": "COMPLETE",
                "progress": 1.0,
                "currentStep": "Complete.",
                "result": {
                    "successful": successful,
                    "failureDumpAvailable": not successful,
                    "objectId": task["export_id"],
                    "objectName": task["name"],
                    "details": []
                    if successful
                    else [{"localMessageText": "Export failed: the saved view no longer exists"}],
                },
            }
        return json_reply(200, {**meta, **ok, "task": body})


def _ms() -> int:
    return int(time.time() * 1000)


# ---------------------------------------------------------------------------- plain files


@dataclass
class Download:
    content: bytes
    content_type: str
    filename: str | None = None  # sent as Content-Disposition: attachment; filename="..."
    last_modified: str | None = None  # an HTTP date


class FileAPI(LoopbackAPI):
    """File downloads behind Basic auth (`login`, `password`) or a Bearer `token`; `redirects`
    maps a path to another (a 302, as scheduled-export links answer)."""

    def __init__(self, *, login: str = "", password: str = "", token: str = "") -> None:
        super().__init__()
        self.login, self.password, self.token = login, password, token
        self.files: dict[str, Download] = {}
        self.redirects: dict[str, str] = {}
        self.truncate: set[str] = set()

    def error_body(self, status: int) -> Any:
        return {"message": f"status {status}"}

    def _authorised(self, request: Seen) -> bool:
        header = request.headers.get("authorization", "")
        if self.token and header == f"Bearer {self.token}":
            return True
        if self.login:
            expected = base64.b64encode(f"{self.login}:{self.password}".encode()).decode()
            return header == f"Basic {expected}"
        return not self.token

    def handle(self, request: Seen) -> Reply:
        if request.path in self.redirects:
            return Reply(302, b"", {"Location": self.redirects[request.path]})
        if not self._authorised(request):
            return Reply(
                401,
                b"<html><body>Please sign in</body></html>",
                {"Content-Type": "text/html", "WWW-Authenticate": 'Basic realm="exports"'},
            )
        download = self.files.get(request.path)
        if download is None:
            return Reply(404, b"<html><body>Not found</body></html>", {"Content-Type": "text/html"})
        headers = {"Content-Type": download.content_type}
        if download.filename:
            headers["Content-Disposition"] = f'attachment; filename="{download.filename}"'
        if download.last_modified:
            headers["Last-Modified"] = download.last_modified
        truncate = len(download.content) // 2 if request.path in self.truncate else None
        return Reply(200, download.content, headers, truncate)
