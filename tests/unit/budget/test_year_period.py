"""Periods from two columns (issue #10 item 2): Year + Period/Month/Quarter, as Oracle EPM,
Hyperion and Anaplan time dimensions export them."""

from __future__ import annotations

import pandas as pd
import pytest

from finsync.budget import periods as pr
from finsync.budget.longform import to_long
from finsync.budget.mapping import CONFIDENCE_BAR, map_columns, needs_review
from finsync.budget.normalize import normalize
from finsync.budget.read import parse_file


@pytest.mark.parametrize(
    ("year", "period", "start", "expected"),
    [
        ("FY26", "Jan", 7, "FY2026-M07"),  # Jan placed on the customer's calendar
        ("FY26", "Jul", 7, "FY2026-M01"),
        ("FY26", "Jun", 7, "FY2026-M12"),
        ("FY26", "Jan", 1, "FY2026-M01"),
        ("FY26", "Dec", 1, "FY2026-M12"),
        ("FY2026", "January", 4, "FY2026-M10"),
        ("FY2026", "Mar", 4, "FY2026-M12"),
        ("FY2026", "Apr", 4, "FY2026-M01"),
        ("FY2025-26", "Mar", 7, "FY2026-M09"),
        ("2026", "P01", 7, "FY2026-M01"),
        ("2026", "Period 3", 1, "FY2026-M03"),
        ("FY2026", "Period 3", 7, "FY2026-M03"),
        ("2026", "Q1", 7, "FY2026-Q1"),
        ("FY26", "Q4", 1, "FY2026-Q4"),
        ("2026", "Jan", 1, "FY2026-M01"),  # a plain year with a month name: calendar, as 'Jan 2026'
        ("2026", "Jan", 7, "FY2026-M07"),
    ],
)
def test_every_year_period_combination(year, period, start, expected):
    assert pr.parse_period(f"{year} {period}", pr.FiscalCalendar(start)) == (expected, None)


@pytest.mark.parametrize(
    ("label", "reason"),
    [
        ("2026 P13", pr.BAD_FISCAL_MONTH),  # a 4-4-5 calendar's 13th period
        ("FY26 P00", pr.BAD_FISCAL_MONTH),
        ("2026 Q5", pr.BAD_QUARTER),
        ("FY2025-26 Jan", pr.RANGE_JANUARY),  # a range for a January fiscal year
        ("FY26 Foo", pr.UNKNOWN_PERIOD),
    ],
)
def test_a_pair_the_calendar_cannot_hold_is_rejected(label, reason):
    assert pr.parse_period(label, pr.FiscalCalendar(1)) == (None, reason)


def epm_file(write_csv, periods: list[str], years: list[str] | None = None):
    header = ["Entity", "Account", "Scenario", "Years", "Period", "Amount"]
    years = years or ["FY26"] * len(periods)
    rows = [
        [f"E{i % 3}", f"6{i:03d}", "Plan", y, p, f"{100 + i}.00"]
        for i, (y, p) in enumerate(zip(years, periods, strict=True))
    ]
    return parse_file(write_csv([header, *rows]))


MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def test_mapper_proposes_the_year_column_and_the_period_column(write_csv):
    parsed = epm_file(write_csv, MONTHS * 2)
    mapping = map_columns(parsed)
    assert mapping.fields["fiscal_period"].column == "Period"
    assert mapping.fields["fiscal_year"].column == "Years"
    assert mapping.fields["fiscal_year"].confidence >= CONFIDENCE_BAR
    assert "values are years" in mapping.fields["fiscal_year"].explanation
    assert needs_review(mapping, parsed.layout) == []


def test_no_year_column_when_the_periods_carry_a_year(write_csv):
    parsed = epm_file(write_csv, [f"{m} 2026" for m in MONTHS], years=["FY26"] * 12)
    mapping = map_columns(parsed)
    assert mapping.fields["fiscal_period"].column == "Period"
    assert mapping.fields["fiscal_year"].column is None


def test_long_rows_join_year_and_period_and_the_calendar_places_them(write_csv):
    parsed = epm_file(write_csv, ["Jan", "Jul", "P03", "Q2"], years=["FY26", "FY26", "2026", ""])
    mapping = map_columns(parsed)
    mapping.fields["fiscal_year"].column = "Years"
    mapping.fields["fiscal_period"].column = "Period"
    long_rows = to_long(parsed, mapping)
    assert long_rows["period_raw"].tolist() == ["FY26 Jan", "FY26 Jul", "2026 P03", "Q2"]
    result = normalize(
        long_rows, fiscal_year_start_month=7, default_currency="USD", columns=mapping.columns()
    )
    assert result.frame["fiscal_period"].tolist() == ["FY2026-M07", "FY2026-M01", "FY2026-M03"]
    # a row without a year: the period alone, rejected for want of one
    (error,) = result.errors
    assert (error.row, error.column, error.message) == (5, "Years + Period", pr.NO_YEAR)


def test_period_13_is_a_row_error_naming_rows_and_columns(write_csv):
    periods = [f"P{i:02d}" for i in range(1, 14)]
    parsed = epm_file(write_csv, periods, years=["2026"] * 13)
    mapping = map_columns(parsed)
    assert mapping.columns()["fiscal_year"] == "Years"
    result = normalize(
        to_long(parsed, mapping),
        fiscal_year_start_month=1,
        default_currency="USD",
        columns=mapping.columns(),
    )
    assert len(result.frame) == 12
    (error,) = result.errors
    assert error.row == 14  # the file's row: header + 13th data row
    assert error.column == "Years + Period"
    assert error.value == "2026 P13"
    assert error.message == pr.BAD_FISCAL_MONTH


def test_wide_file_with_a_year_column(write_csv):
    header = ["Department", "Fiscal Year", *MONTHS[:3]]
    rows = [["Sales", "FY26", "1", "2", "3"], ["IT", "FY27", "4", "5", "6"]]
    parsed = parse_file(write_csv([header, *rows]))
    assert parsed.layout == "wide"
    mapping = map_columns(parsed)
    assert mapping.fields["fiscal_year"].column == "Fiscal Year"
    long_rows = to_long(parsed, mapping)
    result = normalize(
        long_rows, fiscal_year_start_month=1, default_currency="USD", columns=mapping.columns()
    )
    assert result.errors == []
    assert result.frame["fiscal_period"].tolist() == [
        "FY2026-M01",
        "FY2026-M02",
        "FY2026-M03",
        "FY2027-M01",
        "FY2027-M02",
        "FY2027-M03",
    ]


def test_a_year_only_file_keeps_its_year_as_the_period(write_csv):
    path = write_csv(
        [["Department", "Year", "Budget"], ["Sales", "2026", "10"], ["IT", "2026", "5"]]
    )
    mapping = map_columns(parse_file(path))
    assert mapping.fields["fiscal_period"].column == "Year"
    assert mapping.fields["fiscal_year"].column is None


def test_year_column_values_must_be_years(write_csv):
    frame = pd.DataFrame({"Year": ["abc"] * 3})
    assert pr.period_evidence(frame["Year"]).years == 0.0
    path = write_csv(
        [["Department", "Year", "Month", "Budget"]]
        + [["Sales", "n/a", m, "10"] for m in MONTHS[:4]]
    )
    mapping = map_columns(parse_file(path))
    assert mapping.fields["fiscal_period"].column == "Month"
    assert mapping.fields["fiscal_year"].column is None


def test_months_without_a_year_and_no_year_column(write_csv):
    """'Jan'..'Dec' is still the period column (the confidence is about the choice), and the
    explanation says the year is missing; each row is then rejected saying how to add it."""
    path = write_csv(
        [["Department", "Account", "Month", "Budget"]]
        + [[d, "Rent", m, "10"] for d in ("Sales", "IT") for m in MONTHS]
    )
    parsed = parse_file(path)
    mapping = map_columns(parsed)
    assert mapping.fields["fiscal_period"].column == "Month"
    assert mapping.fields["fiscal_year"].column is None
    assert "values carry no year" in mapping.fields["fiscal_period"].explanation
    result = normalize(
        to_long(parsed, mapping),
        fiscal_year_start_month=1,
        default_currency="USD",
        columns=mapping.columns(),
    )
    assert result.frame.empty
    assert {(e.column, e.message) for e in result.errors} == {("Month", pr.NO_YEAR)}
