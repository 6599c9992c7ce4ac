"""The API sources' pure rules: working copy names, Retry-After, a Sheets range's origin and
its merged cells, an http answer's file name (the protocols themselves: the integration tests
against loopback servers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from finsync.budget.sources.google_sheets import _fill_down, _origin, _to_csv
from finsync.budget.sources.http import _file_name
from finsync.budget.sources.web import _retry_after_seconds, working_name


@pytest.mark.parametrize(
    ("name", "suffix", "expected"),
    [
        ("Acme FY26 - Budget", ".csv", "Acme FY26 - Budget.csv"),
        ("Budget FY26.xlsx", ".csv", "Budget FY26.xlsx"),
        ("../../etc/passwd", ".csv", "_.._etc_passwd.csv"),
        ("Q1/Q2 plan: v2*", ".csv", "Q1_Q2 plan_ v2_.csv"),
        ("", ".xlsx", "export.xlsx"),
        ("...", ".csv", "export.csv"),
        ("v1.2026-budget", ".csv", "v1.2026-budget.csv"),  # '.2026-budget' is no suffix
    ],
)
def test_working_name_is_a_plain_file_name_with_a_suffix(name, suffix, expected):
    assert working_name(name, suffix) == expected


def test_retry_after_in_seconds_or_as_a_date():
    soon = datetime.now(UTC) + timedelta(seconds=30)
    assert _retry_after_seconds("7") == 7.0
    assert 25 <= _retry_after_seconds(format_datetime(soon, usegmt=True)) <= 30
    assert _retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert _retry_after_seconds(None) is None
    assert _retry_after_seconds("soon") is None


@pytest.mark.parametrize(
    ("a1", "origin"),
    [
        ("Budget!A1:Z1000", (0, 0)),
        ("'FY26 Plan'!B2:E4", (1, 1)),
        ("Sheet1!$C$10:$F$20", (9, 2)),
        ("Budget!AA3:AB9", (2, 26)),
        ("Budget!C:F", (0, 2)),
        ("Budget", (0, 0)),
    ],
)
def test_origin_of_a_range(a1, origin):
    assert _origin(a1) == origin


def merge(r1, r2, c1, c2):
    return {"startRowIndex": r1, "endRowIndex": r2, "startColumnIndex": c1, "endColumnIndex": c2}


def test_only_merges_one_column_wide_over_rows_are_filled_down():
    rows = [
        ["Title", "", ""],
        ["Dept", "Account", "Amount"],
        ["Sales", "Travel", "1"],
        ["", "Meals", "2"],
        ["", "Hotels", "3"],
        ["IT", "Cloud", "4"],
    ]
    merges = [merge(0, 1, 0, 3), merge(2, 5, 0, 1), merge(5, 6, 1, 3)]

    _fill_down(rows, merges, (0, 0))

    assert [r[0] for r in rows] == ["Title", "Dept", "Sales", "Sales", "Sales", "IT"]
    assert rows[0] == ["Title", "", ""]  # a title across columns keeps its one cell


def test_merges_are_placed_relative_to_the_ranges_origin():
    rows = [["Sales", "1"], ["", "2"]]  # the range starts at C4 (row 3, column 2)
    _fill_down(rows, [merge(3, 5, 2, 3), merge(0, 9, 0, 1)], (3, 2))
    assert rows == [["Sales", "1"], ["Sales", "2"]]


def test_csv_quotes_what_needs_it():
    assert _to_csv([["a,b", 'say "hi"', "1,000.00"], ["x", "", ""]]) == (
        b'"a,b","say ""hi""","1,000.00"\nx,,\n'
    )


def answer(url: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.Response(200, headers=headers, request=httpx.Request("GET", url))


@pytest.mark.parametrize(
    ("url", "headers", "content_type", "name"),
    [
        (
            "https://x.test/e/1/download",
            {"Content-Disposition": 'attachment; filename="Plan FY26.xlsx"'},
            "text/csv",
            "Plan FY26.xlsx",
        ),
        (
            "https://x.test/e/1",
            {"Content-Disposition": "attachment; filename*=UTF-8''Budg%C3%A9t%202026.csv"},
            "text/csv",
            "Budgét 2026.csv",
        ),
        ("https://x.test/files/Budget_FY26", {}, "application/vnd.ms-excel", "Budget_FY26.xls"),
        ("https://x.test/exports/plan.csv?x=1", {}, "text/csv", "plan.csv"),
        ("https://x.test/", {}, "text/csv", "export.csv"),
    ],
)
def test_http_file_name(url, headers, content_type, name):
    assert _file_name(answer(url, headers), content_type) == name
