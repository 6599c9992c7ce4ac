"""`google_sheets` sources: one range of a Google Sheet (`conn_id`, `spreadsheet_id`, `range`),
read with the Sheets API v4 as a service account, becoming a CSV working copy.

The connection (type `google_cloud_platform`, as the Google provider's) holds the service
account's JSON key in extra `keyfile_dict` (or a key file on the workers in `key_path`); extra
`endpoint` overrides the Sheets API's address (default https://sheets.googleapis.com) and the
key's own `token_uri` says where tokens come from. The spreadsheet must be shared with the
service account's e-mail address (Viewer is enough).

One pull:

1. An access token by the OAuth 2.0 JWT-bearer grant (RFC 7523, Google's "service account"
   flow): a JWT naming the service account (`iss`), the read-only Sheets scope, the token
   endpoint (`aud`), valid one hour, signed RS256 with the key (`kid` = the key's id), posted
   to `token_uri`. No Google library: PyJWT signs it (docs/budget_sync.md says why).
2. `spreadsheets.get` for the range's sheet: the spreadsheet's title, the sheet's title and
   its merged cells.
3. `spreadsheets.values.get` for the range, formatted as the sheet shows it
   (`valueRenderOption=FORMATTED_VALUE`: "1,250.00", "Jan 2026").
4. The rows written as CSV (UTF-8, rows padded to the same width) named
   "<spreadsheet title> - <sheet title>.csv", as Sheets' own "Download as CSV" names it. Like
   that download, a merged cell's value stands in its first cell only, except that a merged
   cell one column wide over several rows (a department over its lines) is filled down, as a
   reader of the sheet sees it: the header of several rows is then read by the same rules as
   any CSV's (budget/read/).

An expired or revoked token (401) gets one new token and the request again; an empty range is
refused with a message saying which range was read.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from finsync.budget.sources.web import (
    Pulled,
    PulledSource,
    WebClient,
    base_url,
    connection,
    extra_of,
    working_name,
)

DEFAULT_ENDPOINT = "https://sheets.googleapis.com"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/spreadsheets.readonly"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_SPREADSHEET_ID = re.compile(r"^[A-Za-z0-9_-]{10,200}$")


class GoogleSheetsSource(PulledSource):
    source_type = "google_sheets"
    required_keys = ("conn_id", "spreadsheet_id", "range")

    def __init__(self, customer_id: str, conn_id: str, spreadsheet_id: str, range_: str) -> None:
        super().__init__(customer_id)
        self.conn_id = conn_id
        self.spreadsheet_id = spreadsheet_id
        self.range = range_
        self._client: WebClient | None = None
        self._key: dict[str, Any] = {}
        self._token_uri = DEFAULT_TOKEN_URI
        self._auth: dict[str, str] = {}
        self._signing_key: Any = None

    @classmethod
    def from_config(
        cls, customer_id: str, source_config: Mapping[str, Any], globs: Sequence[str]
    ) -> GoogleSheetsSource:
        return cls(
            customer_id,
            source_config["conn_id"],
            source_config["spreadsheet_id"],
            source_config["range"],
        )

    @classmethod
    def config_problems(cls, source_config: Mapping[str, Any]) -> list[str]:
        problems = super().config_problems(source_config)
        spreadsheet_id = source_config.get("spreadsheet_id")
        if isinstance(spreadsheet_id, str) and not _SPREADSHEET_ID.match(spreadsheet_id.strip()):
            problems.append(
                "spreadsheet_id must be the id in the sheet's address "
                "(docs.google.com/spreadsheets/d/<id>/edit), not the whole address"
            )
        for key in ("spreadsheet_id", "range"):
            if key in source_config and not isinstance(source_config[key], str):
                problems.append(f"{key} must be a string")
        if "sheet" in source_config:
            problems.append("sheet does not apply to a google_sheets source: name it in range")
        return problems

    def location(self) -> str:
        return f"connection {self.conn_id!r}, spreadsheet {self.spreadsheet_id}, range {self.range}"

    # ------------------------------------------------------------------ the pull

    def pull(self) -> Pulled:
        endpoint = self._connect()
        client = self._client
        assert client is not None
        try:
            self._auth = {"Authorization": f"Bearer {self._access_token()}"}
            book = client.request(
                "GET",
                f"{endpoint}/v4/spreadsheets/{quote(self.spreadsheet_id, safe='')}",
                params={
                    "ranges": self.range,
                    "includeGridData": "false",
                    "fields": "properties.title,sheets(properties(sheetId,title),merges)",
                },
                what="reading the spreadsheet",
                headers=self._auth,
                refresh=self._refresh,
                hints=self._hints(),
            ).json()
            values = client.request(
                "GET",
                f"{endpoint}/v4/spreadsheets/{quote(self.spreadsheet_id, safe='')}"
                f"/values/{quote(self.range, safe='')}",
                params={"majorDimension": "ROWS", "valueRenderOption": "FORMATTED_VALUE"},
                what="reading the values",
                headers=self._auth,
                refresh=self._refresh,
                hints=self._hints(),
            ).json()
        finally:
            client.close()
        title = str((book.get("properties") or {}).get("title") or self.spreadsheet_id)
        sheet = (book.get("sheets") or [{}])[0]
        sheet_title = str((sheet.get("properties") or {}).get("title") or "Sheet")
        rows = _cells(values.get("values") or [])
        read = values.get("range") or self.range
        if not any(cell.strip() for row in rows for cell in row):
            raise self.refused(
                f"the range {read} is empty: nothing to import",
                "Check source_config.range (a sheet name such as Budget, or Budget!A1:H500) "
                "and that the sheet holds the budget.",
            )
        origin = _origin(read)
        _fill_down(rows, sheet.get("merges") or [], origin)
        name = working_name(f"{title} - {sheet_title}", ".csv")
        if not name.lower().endswith(".csv"):
            name += ".csv"
        return Pulled(name, _to_csv(rows), datetime.now(UTC))

    def _connect(self) -> str:
        """Read the connection: the key (kept for signing), the endpoints; returns the Sheets
        API's base URL."""
        conn = connection(self, self.conn_id)
        extra = extra_of(conn)
        self._key = self._load_key(extra)
        self._token_uri = str(self._key.get("token_uri") or DEFAULT_TOKEN_URI)
        endpoint = base_url(str(_extra(extra, "endpoint") or DEFAULT_ENDPOINT))
        self._client = WebClient(
            self, conn_id=self.conn_id, secrets=[str(self._key.get("private_key", ""))]
        )
        return endpoint

    def _load_key(self, extra: Mapping[str, Any]) -> dict[str, Any]:
        """The service account key from extra keyfile_dict (JSON text or an object) or
        key_path; refused, without quoting it, when it is missing or not such a key."""
        raw = _extra(extra, "keyfile_dict")
        where = "keyfile_dict"
        if not raw and _extra(extra, "key_path"):
            where = "the file named by key_path"
            try:
                raw = Path(str(_extra(extra, "key_path"))).read_text()
            except OSError as exc:
                raise self.refused(
                    f"the key file of connection {self.conn_id!r} cannot be read "
                    f"({type(exc).__name__})",
                    "Check key_path and that the file is on every worker.",
                ) from None
        if not raw:
            raise self.refused(
                f"connection {self.conn_id!r} has no service account key",
                "Put the key's JSON in the connection's extra keyfile_dict (or key_path).",
            )
        try:
            key = json.loads(raw) if isinstance(raw, str) else dict(raw)
        except (TypeError, ValueError):
            key = {}
        missing = [k for k in ("client_email", "private_key") if not key.get(k)]
        if missing:
            raise self.refused(
                f"{where} of connection {self.conn_id!r} is not a service account key "
                f"(no {' or '.join(missing)})",
                "Download a JSON key for the service account from Google Cloud's console.",
            )
        return key

    def _access_token(self) -> str:
        """A new access token for the service account (the JWT-bearer grant)."""
        import jwt

        client = self._client
        assert client is not None
        now = int(time.time())
        claims = {
            "iss": self._key["client_email"],
            "scope": SCOPE,
            "aud": self._token_uri,
            "iat": now,
            "exp": now + 3600,
        }
        headers = {"kid": self._key["private_key_id"]} if self._key.get("private_key_id") else {}
        try:
            if self._signing_key is None:  # loading a PEM key takes a while: once per pull
                self._signing_key = jwt.algorithms.RSAAlgorithm(
                    jwt.algorithms.RSAAlgorithm.SHA256
                ).prepare_key(self._key["private_key"])
            assertion = jwt.encode(claims, self._signing_key, algorithm="RS256", headers=headers)
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise self.refused(
                f"the private_key of connection {self.conn_id!r} cannot sign "
                f"({type(exc).__name__})",
                "Put the service account's JSON key, unchanged, in keyfile_dict.",
            ) from None
        client.add_secret(assertion)
        answer = client.request(
            "POST",
            self._token_uri,
            data={"grant_type": JWT_BEARER, "assertion": assertion},
            what="getting an access token",
            hints={
                400: f"Check the service account key in connection {self.conn_id!r}: it may "
                "have been deleted or replaced, or the workers' clock is wrong.",
                401: f"Check the service account key in connection {self.conn_id!r}.",
            },
        ).json()
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise self.error("getting an access token: the answer holds no access_token")
        client.add_secret(token)
        return token

    def _refresh(self) -> dict[str, str]:
        self._auth = {"Authorization": f"Bearer {self._access_token()}"}
        return self._auth

    def _hints(self) -> dict[int, str]:
        email = self._key.get("client_email", "the service account")
        return {
            403: f"Share the spreadsheet with {email} (Viewer is enough), or check that the "
            "Sheets API is enabled for the service account's project.",
            404: "Check source_config.spreadsheet_id (the id in the sheet's address).",
            400: "Check source_config.range: a sheet name (Budget) or a sheet and cells "
            "(Budget!A1:H500); quote names with spaces ('FY26 Budget'!A:H).",
        }


def _extra(extra: Mapping[str, Any], key: str) -> Any:
    """An extra field, also under the Google provider's old prefixed name."""
    return extra.get(key) or extra.get(f"extra__google_cloud_platform__{key}")


def _cells(values: list[Any]) -> list[list[str]]:
    """values.get's rows as lists of strings, padded to the widest row."""
    rows = [["" if c is None else str(c) for c in (row or [])] for row in values]
    width = max((len(r) for r in rows), default=0)
    return [r + [""] * (width - len(r)) for r in rows]


_CELL = re.compile(r"^\$?([A-Za-z]*)\$?(\d*)$")


def _origin(a1: str) -> tuple[int, int]:
    """(row, column), 0-based, of the first cell of an A1 range such as "'FY26'!B3:H40"."""
    cells = a1.rsplit("!", 1)[-1] if "!" in a1 else ""
    first = cells.split(":", 1)[0]
    match = _CELL.match(first)
    if not match:
        return 0, 0
    letters, digits = match.groups()
    column = 0
    for ch in letters.upper():
        column = column * 26 + ord(ch) - 64
    return (int(digits) - 1 if digits else 0), (column - 1 if letters else 0)


def _fill_down(rows: list[list[str]], merges: list[dict[str, Any]], origin: tuple[int, int]):
    """Fill each merge one column wide over several rows with its first cell's value (in
    place); other merges keep their value in the first cell only."""
    top, left = origin
    for merge in merges:
        r1 = int(merge.get("startRowIndex", 0)) - top
        r2 = int(merge.get("endRowIndex", 0)) - top
        c1 = int(merge.get("startColumnIndex", 0)) - left
        c2 = int(merge.get("endColumnIndex", 0)) - left
        if c2 - c1 != 1 or r2 - r1 < 2 or not 0 <= r1 < len(rows):
            continue
        if not 0 <= c1 < len(rows[r1]):
            continue
        value = rows[r1][c1]
        for r in range(r1 + 1, min(r2, len(rows))):
            if rows[r][c1] == "":
                rows[r][c1] = value


def _to_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")
