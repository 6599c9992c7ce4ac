"""The API sources (google_sheets, anaplan, http) against loopback servers that speak the
documented protocols (saas_servers.py): Google's JWT-bearer token exchange and Sheets API v4,
Anaplan's authentication and Integration API v2 export flow, plain file downloads behind
Basic or Bearer auth. Every request crosses HTTP; the faults are the servers' own answers
(429 with Retry-After, 5xx, 401 for an expired token, 403, 404, a chunk cut short, an export
task that fails or never finishes). Waits are recorded instead of slept (`Waits`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest

from finsync.budget.analyze import analyze
from finsync.budget.sources import SourceConfigError, SourceError, build_source
from finsync.budget.sources.web import SourceRefusedError
from tests.integration.saas_servers import (
    AnaplanAPI,
    AnaplanExport,
    Download,
    FileAPI,
    GoogleAPI,
    Sheet,
    serve,
    service_account_key,
)

pytestmark = pytest.mark.integration

SPREADSHEET = "1FpAbUdGeT2026xYzSheetId"
GOOGLE_CONN, ANAPLAN_CONN, HTTP_CONN = "acme_google", "acme_anaplan", "acme_http"
ANAPLAN_LOGIN, ANAPLAN_PASSWORD = "planner@acme.test", "An4plan-pa55word-test"
HTTP_LOGIN, HTTP_PASSWORD, HTTP_TOKEN = "fpa-export", "Pr0phix-pa55word-test", "tok-3f9a7c1e2b"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

BUDGET_ROWS = [
    ["Acme Corp - Operating budget FY2026", "", "", ""],
    ["", "", "", ""],
    ["Cost Centre", "Account", "Period", "Budget Amount"],
    ["Marketing", "Events", "Jan 2026", "1,000.00"],
    ["", "Travel", "Jan 2026", "250.50"],
    ["IT", "Cloud", "Feb 2026", "800"],
]
BUDGET_CSV = (
    b"Acme Corp - Operating budget FY2026,,,\n"
    b",,,\n"
    b"Cost Centre,Account,Period,Budget Amount\n"
    b'Marketing,Events,Jan 2026,"1,000.00"\n'
    b"Marketing,Travel,Jan 2026,250.50\n"
    b"IT,Cloud,Feb 2026,800\n"
)
# The title merged across A1:D1; Marketing merged down over rows 4-5 (0-based 3..5).
BUDGET_MERGES = [(0, 1, 0, 4), (3, 5, 0, 1)]


class Waits:
    """A clock that moves only when the source waits: `sleep` records and advances."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def waiting(source, waits: Waits | None = None):
    """The source, waiting on `waits` (a new Waits when none is given)."""
    waits = waits or Waits()
    source.sleep, source.clock = waits.sleep, waits.clock
    return source


# ---------------------------------------------------------------------------- Google Sheets


@pytest.fixture
def google(monkeypatch) -> Iterator[GoogleAPI]:
    with serve(GoogleAPI()) as api:
        key = api.make_key()
        api.add(SPREADSHEET, "Acme FY26 Budget", {"Budget": Sheet(BUDGET_ROWS, BUDGET_MERGES)})
        extra = {"keyfile_dict": json.dumps(key), "endpoint": api.url}
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{GOOGLE_CONN.upper()}",
            json.dumps({"conn_type": "google_cloud_platform", "extra": extra}),
        )
        yield api


def sheets_source(
    range_: str = "Budget", spreadsheet_id: str = SPREADSHEET, waits: Waits | None = None
):
    config = {"conn_id": GOOGLE_CONN, "spreadsheet_id": spreadsheet_id, "range": range_}
    return waiting(build_source("acme", "google_sheets", config), waits)


def test_sheets_range_becomes_a_csv_working_copy_through_a_signed_token(google, tmp_path):
    source = sheets_source()

    [remote] = source.list_files()
    copy = source.fetch(remote, tmp_path / "work")

    assert remote.name == "Acme FY26 Budget - Budget.csv"
    assert copy.read_bytes() == BUDGET_CSV
    assert remote.size == len(BUDGET_CSV)
    # One token, got by a JWT the server verified with the key's public half; every API call
    # carried it, the service account's key never crossed the wire.
    assert google.tokens_issued == 1
    [token_request] = google.seen("/token", "POST")
    assert b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" in token_request.body
    calls = google.seen("/v4/spreadsheets/")
    assert [c.path for c in calls] == [
        f"/v4/spreadsheets/{SPREADSHEET}",
        f"/v4/spreadsheets/{SPREADSHEET}/values/Budget",
    ]
    assert all(c.headers["authorization"].startswith("Bearer ya29.") for c in calls)
    assert calls[1].query["valueRenderOption"] == ["FORMATTED_VALUE"]
    private_key = google.keyfile["private_key"].splitlines()[1]
    assert all(private_key.encode() not in r.body for r in google.requests)


def test_sheets_range_with_cells_and_a_header_of_two_merged_rows(google, tmp_path):
    # "FY2026" merged over the three month columns, "Cost Centre" merged down two header
    # rows: the CSV is what Sheets' own CSV download gives (the merged label once), so the
    # header of two rows is read by the same rules as any CSV's.
    google.add(
        "1WideSheetWithMergesFY26",
        "Globex plan",
        {
            "Notes": Sheet([["ignore me"]]),
            "FY26 Plan": Sheet(
                [
                    ["", "", "", "", ""],
                    ["", "Cost Centre", "FY2026", "", ""],
                    ["", "", "Jan", "Feb", "Mar"],
                    ["", "Sales", "100", "110", "120"],
                ],
                merges=[(1, 3, 1, 2), (1, 2, 2, 5)],
            ),
        },
    )
    source = sheets_source("'FY26 Plan'!B2:E4", "1WideSheetWithMergesFY26")

    [remote] = source.list_files()

    assert remote.name == "Globex plan - FY26 Plan.csv"
    assert (
        source._pulled.content
        == b"Cost Centre,FY2026,,\nCost Centre,Jan,Feb,Mar\nSales,100,110,120\n"
    )
    [values] = google.seen("/values/")
    assert values.path.endswith("/values/'FY26 Plan'!B2:E4")
    # ... and reads as a wide budget whose periods carry the merged year
    result = analyze(source.fetch(remote, tmp_path / "work"))
    assert (result["layout"], result["header_row"]) == ("wide", 2)
    assert result["period_columns"] == ["FY2026 Jan", "FY2026 Feb", "FY2026 Mar"]
    assert result["mapping"]["department"]["column"] == "Cost Centre"


def test_sheets_token_expiring_midway_is_renewed_once(google):
    google.expire_tokens_after(2)  # the token works for spreadsheets.get, not values.get

    [remote] = sheets_source().list_files()

    assert remote.size == len(BUDGET_CSV)
    assert google.tokens_issued == 2
    assert [r.path.rsplit("/", 1)[-1] for r in google.requests] == [
        "token",
        SPREADSHEET,
        "Budget",  # 401: expired
        "token",
        "Budget",
    ]


def test_sheets_token_refused_twice_is_a_clear_refusal(google):
    google.fail("/v4/", 401, times=2)
    with pytest.raises(SourceRefusedError, match="reading the spreadsheet: 401 not authenticated"):
        sheets_source().list_files()
    assert google.tokens_issued == 2  # one renewal, not a loop


def test_sheets_rate_limit_and_outage_are_retried_with_back_off(google):
    google.fail("/v4/spreadsheets", 429, retry_after="7")
    google.fail("/v4/spreadsheets", 503)
    waits = Waits()

    [remote] = sheets_source(waits=waits).list_files()

    assert remote.size == len(BUDGET_CSV)
    assert waits.slept == [7.0, 2.0]  # Retry-After, then the back-off's 2nd step


def test_sheets_persistent_5xx_is_an_outage_after_bounded_tries(google):
    google.fail("/v4/spreadsheets", 500, times=10)
    waits = Waits()

    with pytest.raises(SourceError) as err:
        sheets_source(waits=waits).list_files()

    assert not isinstance(err.value, SourceRefusedError)  # an outage: the task retries later
    assert str(err.value) == (
        f"google_sheets source of customer 'acme' (connection 'acme_google', spreadsheet "
        f"{SPREADSHEET}, range Budget): reading the spreadsheet: 500 server error (Internal "
        "error encountered.), 4 tries. The service is busy or down; the next poll tries again."
    )
    assert waits.slept == [1.0, 2.0, 4.0]
    assert len(google.seen("/v4/")) == 4


def test_sheets_retry_after_longer_than_the_cap_is_left_to_the_next_poll(google):
    google.fail("/v4/spreadsheets", 429, retry_after="3600")
    waits = Waits()
    with pytest.raises(SourceError, match="it asks to wait longer than 60 s"):
        sheets_source(waits=waits).list_files()
    assert waits.slept == []


def test_sheets_not_shared_is_refused_naming_the_service_account(google):
    google.shared_with.clear()
    with pytest.raises(SourceRefusedError) as err:
        sheets_source().list_files()
    assert str(err.value) == (
        f"google_sheets source of customer 'acme' (connection 'acme_google', spreadsheet "
        f"{SPREADSHEET}, range Budget): reading the spreadsheet: 403 access denied (The caller "
        "does not have permission). Share the spreadsheet with "
        "budget-reader@finsync-test.iam.gserviceaccount.com (Viewer is enough), or check that "
        "the Sheets API is enabled for the service account's project."
    )
    assert len(google.seen("/v4/")) == 1  # refused at once, no retry


def test_sheets_unknown_spreadsheet_and_bad_range_are_refused(google):
    with pytest.raises(SourceRefusedError, match=r"404 not found \(Requested entity was not"):
        sheets_source(spreadsheet_id="1NoSuchSpreadsheet000").list_files()
    with pytest.raises(SourceRefusedError, match=r"400 bad request \(Unable to parse range: Budgt"):
        sheets_source("Budgt").list_files()


def test_empty_sheet_is_refused_saying_which_range(google):
    google.add("1EmptySheetIdFY2026", "Empty", {"Budget": Sheet([["", ""], [""]])})
    with pytest.raises(SourceRefusedError) as err:
        sheets_source(spreadsheet_id="1EmptySheetIdFY2026").list_files()
    assert "range Budget!A1:Z1000 is empty: nothing to import" in str(err.value)


def test_sheets_key_the_token_endpoint_does_not_trust_is_refused(google, monkeypatch):
    impostor, _ = service_account_key(google.token_uri, label="another project")
    extra = {"keyfile_dict": impostor, "endpoint": google.url}
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{GOOGLE_CONN.upper()}",
        json.dumps({"conn_type": "google_cloud_platform", "extra": extra}),
    )
    with pytest.raises(SourceRefusedError) as err:
        sheets_source().list_files()
    assert "getting an access token: 400 bad request (Invalid JWT" in str(err.value)
    assert "Check the service account key in connection 'acme_google'" in str(err.value)
    assert impostor["private_key"].splitlines()[1] not in str(err.value)


def test_sheets_connection_without_a_key_or_missing_is_refused(google, monkeypatch):
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{GOOGLE_CONN.upper()}",
        json.dumps({"conn_type": "google_cloud_platform", "extra": {"keyfile_dict": "{}"}}),
    )
    with pytest.raises(SourceRefusedError, match="is not a service account key"):
        sheets_source().list_files()
    source = waiting(
        build_source(
            "acme",
            "google_sheets",
            {"conn_id": "nobody", "spreadsheet_id": SPREADSHEET, "range": "Budget"},
        ),
    )
    with pytest.raises(SourceRefusedError, match="the Airflow connection 'nobody' is not defined"):
        source.list_files()


# ---------------------------------------------------------------------------- Anaplan

WORKSPACE, MODEL = "8a81b09d5e8c6f27015ea01d8f1b2f3c", "75A40874E6B64FA3AE0743278996850F"
MODEL_PATH = f"/2/0/workspaces/{WORKSPACE}/models/{MODEL}"
ANAPLAN_CSV = b"Cost Centre,Account,Period,Budget Amount\n" + b"".join(
    f"Dept {i:02d},Travel,Jan 2026,{100 + i}\n".encode() for i in range(40)
)


@pytest.fixture
def anaplan(monkeypatch) -> Iterator[AnaplanAPI]:
    with serve(AnaplanAPI(ANAPLAN_LOGIN, ANAPLAN_PASSWORD)) as api:
        api.add_export(
            WORKSPACE,
            MODEL,
            "116000000001",
            AnaplanExport("Budget FY26.csv", ANAPLAN_CSV, chunk_size=300),
        )
        monkeypatch.setenv(f"AIRFLOW_CONN_{ANAPLAN_CONN.upper()}", anaplan_connection(api))
        yield api


def anaplan_connection(api: AnaplanAPI, password: str = ANAPLAN_PASSWORD) -> str:
    return json.dumps(
        {
            "conn_type": "http",
            "login": ANAPLAN_LOGIN,
            "password": password,
            "extra": {"endpoint": api.url, "auth_endpoint": api.url},
        }
    )


def anaplan_source(waits: Waits | None = None, **config):
    base = {
        "conn_id": ANAPLAN_CONN,
        "workspace_id": WORKSPACE,
        "model_id": MODEL,
        "export_id": "116000000001",
    }
    return waiting(build_source("acme", "anaplan", base | config), waits)


def test_anaplan_export_runs_polls_and_joins_its_chunks(anaplan, tmp_path):
    waits = Waits()
    source = anaplan_source(waits)

    [remote] = source.list_files()
    copy = source.fetch(remote, tmp_path / "work")

    assert remote.name == "Budget FY26.csv"
    assert copy.read_bytes() == ANAPLAN_CSV
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == hashlib.sha256(ANAPLAN_CSV).hexdigest()
    chunk_gets = [r.path.rsplit("/", 1)[-1] for r in anaplan.seen("/chunks/")]
    assert chunk_gets == ["0", "1", "2", "3"]  # 4 chunks of up to 300 bytes, in order
    polls = anaplan.seen("/tasks/", "GET")
    assert len(polls) == 4  # IN_PROGRESS three times, then COMPLETE
    assert waits.slept == [5.0, 7.5, 11.25]
    [start] = anaplan.seen("/tasks", "POST")
    assert json.loads(start.body) == {"localeName": "en_US"}
    # The password only went to the authentication service; the API saw the token.
    [auth] = anaplan.seen("/token/authenticate")
    assert auth.headers["authorization"].startswith("Basic ")
    api_calls = anaplan.seen("/2/0/")
    assert all(c.headers["authorization"].startswith("AnaplanAuthToken ") for c in api_calls)
    assert anaplan.authentications == 1


def test_anaplan_expired_token_signs_in_again_once(anaplan):
    anaplan.expire_tokens_after(3)  # sign-in, start, first poll; the second poll gets 401
    [remote] = anaplan_source().list_files()
    assert remote.size == len(ANAPLAN_CSV)
    assert anaplan.authentications == 2


def test_anaplan_token_near_its_expiry_is_renewed_with_token_refresh(anaplan):
    anaplan.token_lifetime_seconds = 120  # inside the 5 minutes before expiry
    [remote] = anaplan_source().list_files()
    assert remote.size == len(ANAPLAN_CSV)
    assert anaplan.refreshes >= 1 and anaplan.authentications == 1


def test_anaplan_failed_export_task_is_refused_with_anaplans_reason(anaplan):
    anaplan.task_outcome = "failed"
    with pytest.raises(SourceRefusedError) as err:
        anaplan_source().list_files()
    assert "failed in Anaplan (Export failed: the saved view no longer exists)" in str(err.value)
    assert anaplan.seen("/chunks") == []


def test_anaplan_export_that_never_finishes_times_out_and_is_cancelled(anaplan):
    anaplan.task_outcome = "never"
    waits = Waits()

    with pytest.raises(SourceError) as err:
        anaplan_source(waits, timeout_seconds=60, poll_seconds=5).list_files()

    assert not isinstance(err.value, SourceRefusedError)  # waiting may help: retried later
    assert "was still IN_PROGRESS after 60 s" in str(err.value)
    assert "it was cancelled" in str(err.value)
    assert len(anaplan.seen("/tasks/", "DELETE")) == 1
    assert sum(waits.slept) <= 60 and len(waits.slept) >= 4


def test_anaplan_truncated_chunk_is_fetched_again_then_an_error(anaplan):
    anaplan.truncate_chunk = "2"

    with pytest.raises(SourceError) as err:
        anaplan_source().list_files()

    assert "downloading chunk 3 of 4 of Budget FY26.csv: the download was cut short " in str(
        err.value
    )
    assert "(150 of 300 bytes), 4 tries" in str(err.value)
    assert len(anaplan.seen("/chunks/2")) == 4


def test_anaplan_rate_limited_chunk_waits_as_told(anaplan):
    chunk_1 = f"{MODEL_PATH}/files/116000000001/chunks/1"
    anaplan.fail(chunk_1, 429, retry_after="3")
    waits = Waits()
    [remote] = anaplan_source(waits).list_files()
    assert remote.size == len(ANAPLAN_CSV)
    assert waits.slept[-1] == 3.0 and len(anaplan.seen(chunk_1)) == 2


def test_anaplan_wrong_password_is_refused_without_the_password(anaplan, monkeypatch):
    wrong = "Wr0ng-anaplan-pa55word"
    monkeypatch.setenv(f"AIRFLOW_CONN_{ANAPLAN_CONN.upper()}", anaplan_connection(anaplan, wrong))
    with pytest.raises(SourceRefusedError) as err:
        anaplan_source().list_files()
    assert "signing in: 401 not authenticated (Login failed)" in str(err.value)
    assert wrong not in str(err.value) and ANAPLAN_PASSWORD not in str(err.value)
    assert len(anaplan.seen("/token/authenticate")) == 1


def test_anaplan_unknown_export_is_refused(anaplan):
    with pytest.raises(SourceRefusedError, match="starting the export: 404 not found"):
        anaplan_source(export_id="116000000099").list_files()


# ---------------------------------------------------------------------------- http


@pytest.fixture
def files(monkeypatch) -> Iterator[FileAPI]:
    with serve(FileAPI(login=HTTP_LOGIN, password=HTTP_PASSWORD, token=HTTP_TOKEN)) as api:
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{HTTP_CONN.upper()}",
            json.dumps({"conn_type": "http", "login": HTTP_LOGIN, "password": HTTP_PASSWORD}),
        )
        yield api


def http_source(url: str, conn_id: str = HTTP_CONN):
    return waiting(build_source("acme", "http", {"conn_id": conn_id, "url": url}))


def test_http_basic_auth_csv_named_by_content_disposition(files, tmp_path):
    files.files["/exports/12345/download"] = Download(
        BUDGET_CSV, "text/csv; charset=utf-8", filename="Prophix Budget FY26.csv"
    )
    source = http_source(f"{files.url}/exports/12345/download")

    [remote] = source.list_files()

    assert remote.name == "Prophix Budget FY26.csv"
    assert source.fetch(remote, tmp_path / "work").read_bytes() == BUDGET_CSV
    [request] = files.requests
    assert request.headers["authorization"].startswith("Basic ")


def test_http_bearer_xlsx_behind_a_redirect_keeps_its_type(files, monkeypatch):
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{HTTP_CONN.upper()}",
        json.dumps({"conn_type": "http", "password": HTTP_TOKEN}),
    )
    xlsx = b"PK\x03\x04 pretend workbook bytes"
    files.files["/files/Budget_FY26"] = Download(xlsx, XLSX)
    files.redirects["/schedules/77/latest"] = "/files/Budget_FY26"

    [remote] = http_source(f"{files.url}/schedules/77/latest").list_files()

    assert remote.name == "Budget_FY26.xlsx"
    assert remote.size == len(xlsx)
    assert [r.headers["authorization"] for r in files.requests] == [f"Bearer {HTTP_TOKEN}"] * 2


def test_http_sign_in_page_instead_of_a_file_is_refused(files):
    files.files["/export"] = Download(b"<html>Sign in</html>", "text/html; charset=utf-8")
    with pytest.raises(SourceRefusedError, match=r"answered a web page \(text/html\), not a CSV"):
        http_source(f"{files.url}/export").list_files()


def test_http_wrong_password_404_and_truncation(files, monkeypatch):
    files.files["/budget.csv"] = Download(BUDGET_CSV, "text/csv")
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{HTTP_CONN.upper()}",
        json.dumps({"conn_type": "http", "login": HTTP_LOGIN, "password": "Wr0ng-pa55"}),
    )
    with pytest.raises(SourceRefusedError) as denied:
        http_source(f"{files.url}/budget.csv").list_files()
    assert "downloading the export: 401 not authenticated. Check the credentials" in str(
        denied.value
    )
    assert "Wr0ng-pa55" not in str(denied.value) and len(files.requests) == 1

    monkeypatch.setenv(
        f"AIRFLOW_CONN_{HTTP_CONN.upper()}",
        json.dumps({"conn_type": "http", "login": HTTP_LOGIN, "password": HTTP_PASSWORD}),
    )
    with pytest.raises(SourceRefusedError, match="404 not found. Check source_config.url"):
        http_source(f"{files.url}/gone.csv").list_files()

    files.truncate.add("/budget.csv")
    with pytest.raises(SourceError, match=r"cut short \(\d+ of \d+ bytes\), 4 tries"):
        http_source(f"{files.url}/budget.csv").list_files()


def test_http_never_sends_credentials_to_another_host_or_in_clear(files, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_PINNED",
        json.dumps({"conn_type": "http", "host": "exports.prophix.test", "password": HTTP_TOKEN}),
    )
    with pytest.raises(SourceRefusedError, match="is not the host of connection 'pinned'"):
        http_source(f"{files.url}/budget.csv", "pinned").list_files()
    with pytest.raises(SourceRefusedError, match="credentials are only sent over HTTPS"):
        http_source("http://exports.prophix.test/budget.csv", "pinned").list_files()
    assert files.requests == []


# ---------------------------------------------------------------------------- configs


@pytest.mark.parametrize(
    ("source_type", "config", "message"),
    [
        ("google_sheets", {"conn_id": "g", "range": "Budget"}, "spreadsheet_id is required"),
        (
            "google_sheets",
            {
                "conn_id": "g",
                "spreadsheet_id": "https://docs.google.com/spreadsheets/d/1Abc/edit",
                "range": "A",
            },
            "spreadsheet_id must be the id in the sheet's address",
        ),
        (
            "google_sheets",
            {"conn_id": "g", "spreadsheet_id": SPREADSHEET, "range": "B", "glob": "*.csv"},
            "glob does not apply to a google_sheets source",
        ),
        ("anaplan", {"conn_id": "a", "workspace_id": "w", "model_id": "m"}, "export_id is req"),
        (
            "anaplan",
            {
                "conn_id": "a",
                "workspace_id": "w",
                "model_id": "m",
                "export_id": "e",
                "timeout_seconds": 0,
            },
            "timeout_seconds must be a whole number",
        ),
        ("http", {"conn_id": "h", "url": "ftp://x.test/b.csv"}, "url must be a whole https://"),
        (
            "http",
            {"conn_id": "h", "url": "https://x.test/b.csv?access_token=abc123secret"},
            r"url must not carry credentials in its query \(found: access_token\)",
        ),
    ],
)
def test_configs_of_the_api_sources_are_checked(source_type, config, message):
    with pytest.raises(SourceConfigError, match=message) as err:
        build_source("acme", source_type, config)
    assert "abc123secret" not in str(err.value)


def test_http_answer_over_the_size_limit_is_refused_unread(files, monkeypatch):
    from finsync.budget.sources import web

    files.files["/huge.csv"] = Download(BUDGET_CSV, "text/csv")
    monkeypatch.setattr(web, "MAX_BYTES", 100)
    with pytest.raises(
        SourceRefusedError, match="downloading the export: the answer is 0 MB, over"
    ):
        http_source(f"{files.url}/huge.csv").list_files()
