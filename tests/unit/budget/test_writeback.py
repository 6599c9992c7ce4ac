"""writeback.py without a database: settings, period labels, column names, the files' bytes."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest

from finsync.budget import writeback as wb
from finsync.budget.periods import FiscalCalendar, parse_period
from finsync.budget.sources import matches

FY2026 = [
    "FY2026",
    *(f"FY2026-Q{q}" for q in range(1, 5)),
    *(f"FY2026-M{m:02d}" for m in range(1, 13)),
]


def test_a_usable_setting_passes_and_defaults_fill_in():
    wb.validate_writeback("sftp", {"folder": "finsync/out", "formats": ["csv", "xlsx"]})
    wb.validate_writeback("local", None)  # off
    settings = wb.Settings(**{**wb.DEFAULTS, "formats": ("csv",)})
    assert settings.file_names() == {"csv": "finsync_utilisation.csv"}


@pytest.mark.parametrize(
    ("source_type", "value", "problem"),
    [
        ("local", {"folder": "../elsewhere"}, "relative sub-folder"),
        ("local", {"folder": "/abs"}, "relative sub-folder"),
        ("local", {"folder": ""}, "must name a sub-folder"),
        ("s3", {"formats": ["pdf"]}, "formats must be"),
        ("s3", {"formats": []}, "formats must be"),
        ("sftp", {"frequency": "weekly"}, "frequency must be one of hourly, every_4_hours"),
        ("sftp", {"period_labels": "roman"}, "period_labels must be"),
        ("sftp", {"folder": "x", "password": "no"}, "unknown key 'password'"),
        ("upload", {"folder": "x"}, "a upload source has none"),
        ("local", ["finsync"], "must be an object"),
    ],
)
def test_an_unusable_setting_is_refused_saying_what(source_type, value, problem):
    with pytest.raises(wb.WritebackError, match="writeback") as caught:
        wb.validate_writeback(source_type, value)
    assert problem in str(caught.value)


@pytest.mark.parametrize("start", range(1, 13))
@pytest.mark.parametrize("style", ["calendar", "fiscal", "split"])
def test_every_label_reads_back_as_its_period_on_the_customers_calendar(start, style):
    labels = wb.PeriodLabels(start, "calendar" if style == "split" else style, {}, style == "split")
    calendar = FiscalCalendar(start=start)
    for canonical in FY2026:
        year, period = labels.label(canonical)
        text = f"{year} {period}".strip() if style == "split" else period
        assert parse_period(text, calendar) == (canonical, None), (canonical, year, period)


def test_calendar_labels_are_the_calendar_month_of_the_fiscal_month():
    july = wb.PeriodLabels(7)
    assert july.label("FY2026-M01") == (None, "Jul 2025")
    assert july.label("FY2026-M07") == (None, "Jan 2026")
    assert july.label("FY2026-Q3") == (None, "Q3 FY2026")
    assert july.label("FY2026") == (None, "FY2026")
    assert wb.PeriodLabels(7, split_year=True).label("FY2026-M07") == ("FY2026", "Jan 2026"[:3])


def test_a_wide_exports_own_period_headers_are_its_labels():
    headers = ["Cost Centre", "Account", "Jul 2025", "Aug 2025", "FY26 Total", "Notes"]
    own = wb.own_period_labels(headers, 7, skip=["Cost Centre", "Account"])
    assert own["FY2026-M01"] == "Jul 2025" and own["FY2026-M02"] == "Aug 2025"
    assert "Notes" not in own.values()
    labels = wb.PeriodLabels(7, "calendar", own)
    assert labels.label("FY2026-M02") == (None, "Aug 2025")
    assert labels.label("FY2026-M03") == (None, "Sep 2025")  # not in the file: calendar style


def test_columns_carry_the_customers_names_then_the_figures():
    mapping = {
        "department": "Cost Centre",
        "sub_category": "Account",
        "fiscal_period": "Period",
        "budgeted_amount": "Budget Amount",
        "currency": None,
        "fiscal_year": None,
    }
    names = wb.columns_for(mapping, split_year=False, subs=True)
    assert list(names.values()) == [
        "Cost Centre",
        "Account",
        "Period",
        "Currency",
        "Budget Amount",
        "Committed",
        "Reserved",
        "Available",
    ]
    # no sub-categories anywhere and none mapped: no such column; a clash gets a suffix
    clash = wb.columns_for({"department": "Committed"}, split_year=False, subs=False)
    assert list(clash.values()) == [
        "Committed",
        "Period",
        "Currency",
        "Budgeted",
        "Committed (finsync)",
        "Reserved",
        "Available",
    ]


ROWS = [
    {
        "department": "IT",
        "sub_category": "Cloud, hosting",
        "fiscal_period": "FY2026-M01",
        "currency": "AUD",
        "budgeted_amount": Decimal("1000.00"),
        "committed_amount": Decimal("250.50"),
        "reserved_amount": Decimal("100.00"),
    },
    {
        "department": "Sales",
        "sub_category": None,
        "fiscal_period": "FY2026-Q1",
        "currency": "AUD",
        "budgeted_amount": Decimal("800.00"),
        "committed_amount": Decimal("0"),
        "reserved_amount": Decimal("900.00"),
    },
]


def test_the_csv_is_exact_and_available_is_the_services_formula():
    mapping = {"department": "Cost Centre", "sub_category": "Account", "fiscal_period": "Period"}
    table = wb.compose(ROWS, mapping, wb.PeriodLabels(1))
    assert wb.to_csv(table).decode() == (
        "Cost Centre,Account,Period,Currency,Budgeted,Committed,Reserved,Available\r\n"
        'IT,"Cloud, hosting",Jan 2026,AUD,1000.00,250.50,100.00,649.50\r\n'
        "Sales,,Q1 FY2026,AUD,800.00,0.00,900.00,-100.00\r\n"
    )


def test_the_xlsx_holds_the_same_table_with_numbers():
    from openpyxl import load_workbook

    table = wb.compose(ROWS, None, wb.PeriodLabels(1, "fiscal"))
    sheet = load_workbook(io.BytesIO(wb.to_xlsx(table)), read_only=True)["Utilisation"]
    got = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert got[0] == table.columns
    assert got[1][:4] == ["IT", "Cloud, hosting", "FY2026-M01", "AUD"]
    assert [Decimal(str(v)) for v in got[1][4:]] == [
        Decimal(x) for x in "1000 250.5 100 649.5".split()
    ]
    assert got[2][2] == "FY2026-Q1" and got[2][1] is None  # an empty cell, as the customer's


def test_the_sync_never_takes_finsyncs_own_files():
    assert not matches("finsync_utilisation.csv", ["*.csv"])
    assert not matches("FINSYNC_utilisation.xlsx", ["*.xlsx"])
    assert not matches(".finsync_utilisation.csv.abc.part", ["*"])
    assert matches("budget_finsync_utilisation.csv", ["*.csv"])


def test_the_content_hash_changes_with_rows_place_and_names():
    one = wb.content_sha256(b"a", "t", {"csv": "finsync_utilisation.csv"})
    assert one == wb.content_sha256(b"a", "t", {"csv": "finsync_utilisation.csv"})
    assert one != wb.content_sha256(b"b", "t", {"csv": "finsync_utilisation.csv"})
    assert one != wb.content_sha256(b"a", "u", {"csv": "finsync_utilisation.csv"})
    assert one != wb.content_sha256(b"a", "t", {"xlsx": "finsync_utilisation.xlsx"})


# ---------------------------------------------------------------------------- own labels


def _budgets_of(tmp_path, text: str):
    from finsync.budget.budgets import to_budgets
    from finsync.budget.mapping import map_columns
    from finsync.budget.read import parse_file

    path = tmp_path / "export.csv"
    path.write_text(text)
    parsed = parse_file(path)
    return to_budgets(
        parsed, map_columns(parsed), fiscal_year_start_month=7, default_currency="AUD"
    )


def test_each_period_keeps_the_first_label_the_file_used_for_it(tmp_path):
    made = _budgets_of(
        tmp_path,
        "Cost Centre,Period,Budget Amount\n"
        "IT,Jan-26,1\nIT,P08 FY26,2\nHR,2026-01,3\nHR,Q3 FY26,4\nHR,bad,5\n",
    )
    # Jan-26 and 2026-01 are one period: the first label wins; a bad label records nothing
    assert made.period_labels == {
        "FY2026-M07": (None, "Jan-26"),
        "FY2026-M08": (None, "P08 FY26"),
        "FY2026-Q3": (None, "Q3 FY26"),
    }


def test_a_year_and_period_pair_keeps_both_cells_and_a_wide_file_its_headers(tmp_path):
    made = _budgets_of(
        tmp_path,
        "Cost Centre,Fiscal Year,Period,Budget Amount\nIT, FY 26 ,Jan,1\nIT,2026,Feb,2\n",
    )
    assert made.period_labels == {"FY2026-M07": ("FY 26", "Jan"), "FY2026-M08": ("2026", "Feb")}
    wide = _budgets_of(tmp_path, "Cost Centre,Jul-25,Aug-25\nIT,1,2\nHR,3,\n")
    assert wide.period_labels == {"FY2026-M01": (None, "Jul-25"), "FY2026-M02": (None, "Aug-25")}


def test_recorded_labels_come_first_and_unseen_periods_fall_back():
    recorded = {"FY2026-M01": (None, "2025-07"), "FY2026-M02": ("FY26", "Aug")}
    labels = wb.PeriodLabels(7, "calendar", {"FY2026-M01": "Jul 2025 hdr"}, False, recorded)
    assert labels.label("FY2026-M01") == (None, "2025-07")  # before the wide headers
    assert labels.label("FY2026-M02") == (None, "FY26 Aug")  # a pair, now one column
    assert labels.label("FY2026-M03") == (None, "Sep 2025")  # never imported: calendar
    split = wb.PeriodLabels(7, "calendar", {}, True, recorded)
    assert split.label("FY2026-M02") == ("FY26", "Aug")
    assert split.label("FY2026-M01") == ("", "2025-07")  # imported without a Year cell
    assert split.label("FY2026-M03") == ("FY2026", "Sep")
