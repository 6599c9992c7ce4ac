from datetime import date, datetime

import pytest

from finsync import fiscal


@pytest.mark.parametrize(
    ("day", "start", "year"),
    [
        (date(2026, 1, 1), 1, 2026),
        (date(2026, 12, 31), 1, 2026),
        (date(2026, 6, 30), 7, 2026),
        (date(2026, 7, 1), 7, 2027),
        (date(2025, 7, 1), 7, 2026),
        (date(2026, 3, 31), 4, 2026),
        (date(2026, 4, 1), 4, 2027),
    ],
)
def test_fiscal_year_of(day, start, year):
    assert fiscal.fiscal_year_of(day, start) == year


def test_year_bounds_calendar_and_july():
    assert fiscal.year_bounds(2026, 1) == (date(2026, 1, 1), date(2026, 12, 31))
    assert fiscal.year_bounds(2026, 7) == (date(2025, 7, 1), date(2026, 6, 30))
    assert fiscal.year_bounds(2024, 3) == (date(2023, 3, 1), date(2024, 2, 29))


def test_fiscal_month_of_july_start():
    assert fiscal.fiscal_month_of(date(2025, 7, 15), 7) == 1
    assert fiscal.fiscal_month_of(date(2026, 6, 1), 7) == 12
    assert fiscal.fiscal_month_of(date(2026, 1, 1), 7) == 7


def test_resolve_period_defaults_follow_the_contract():
    # N = fiscal year holding the logical date; D = min(logical date, last day of N).
    p = fiscal.resolve_period(None, None, datetime(2026, 3, 15, 2, 0), 7)
    assert (p.fiscal_year, p.as_of_date) == (2026, date(2026, 3, 15))
    p = fiscal.resolve_period(2025, None, date(2026, 3, 15), 7)
    assert (p.fiscal_year, p.as_of_date) == (2025, date(2025, 6, 30))
    p = fiscal.resolve_period(2026, "2026-02-01", date(2026, 11, 1), 1)
    assert p.as_of_date == date(2026, 2, 1)
    assert p.as_of_fiscal_month == 2
    assert p.days_elapsed == 32


def test_as_of_outside_the_year():
    p = fiscal.resolve_period(2026, "2027-03-01", date(2026, 1, 1), 1)
    assert p.as_of_fiscal_month == 12 and p.days_elapsed == 365
    p = fiscal.resolve_period(2026, "2025-12-01", date(2026, 1, 1), 1)
    assert p.as_of_fiscal_month == 0 and p.days_elapsed == 0


@pytest.mark.parametrize("raw", ["0", "13", "July", "1.5"])
def test_bad_start_month_is_a_clear_error(raw):
    with pytest.raises(
        ValueError, match="fiscal_year_start_month must be a whole number from 1 to 12"
    ):
        fiscal.parse_start_month(raw)


def test_start_month_from_the_airflow_variable_env(monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_FISCAL_YEAR_START_MONTH", "7")
    assert fiscal.start_month() == 7


def test_bad_as_of_date():
    with pytest.raises(ValueError, match="as_of_date must be YYYY-MM-DD"):
        fiscal.resolve_period(2026, "21/11/2026", date(2026, 1, 1), 1)


def test_start_month_reads_the_variable_where_it_is_asked_for(monkeypatch):
    monkeypatch.delenv("AIRFLOW_VAR_FISCAL_YEAR_START_MONTH", raising=False)
    asked = []

    def metastore(name):
        asked.append(name)
        return "7"

    assert fiscal.start_month(metastore) == 7 and asked == [fiscal.VARIABLE]
    monkeypatch.setenv("AIRFLOW_VAR_FISCAL_YEAR_START_MONTH", "4")
    assert fiscal.start_month(metastore) == 4 and len(asked) == 1  # the environment first
    monkeypatch.delenv("AIRFLOW_VAR_FISCAL_YEAR_START_MONTH")

    def unreachable(name):
        raise RuntimeError("no metastore")

    assert fiscal.start_month(unreachable) == 1  # the contract's default
