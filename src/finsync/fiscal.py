"""The fiscal calendar of the finance data contract.

With start month M > 1, fiscal year N runs from month M of year N-1 to month M-1 of year N;
with M = 1 it is calendar year N. Fiscal month 1 is the first month of the fiscal year.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

VARIABLE = "fiscal_year_start_month"


def start_month(read_variable: Callable[[str], object] | None = None) -> int:
    """The Airflow Variable `fiscal_year_start_month` (1-12, default 1).

    Read at run time only (never at DAG parse time): the environment variable
    AIRFLOW_VAR_FISCAL_YEAR_START_MONTH first, then `read_variable(name)`: by default the Task
    SDK's lookup, as a running task has it; where runs are planned (scheduler, API server: the
    timetable) `metastore_variable`. No Airflow to ask: the contract's default.
    """
    raw: object = os.environ.get("AIRFLOW_VAR_" + VARIABLE.upper())
    if raw is None:
        try:
            raw = (read_variable or task_variable)(VARIABLE)
        except Exception:  # noqa: BLE001 - outside a task, or no metastore: use the default
            raw = None
    return parse_start_month(raw)


def task_variable(name: str) -> object:
    """An Airflow Variable as a running task reads it (Task SDK; None when unset)."""
    from airflow.sdk import Variable

    return Variable.get(name, default=None)


def metastore_variable(name: str) -> object:
    """An Airflow Variable as the scheduler and API server read it (None when unset)."""
    from airflow.models.variable import Variable

    return Variable.get(name, default_var=None)


def parse_start_month(raw: object) -> int:
    if raw is None or str(raw).strip() == "":
        return 1
    try:
        month = int(str(raw).strip())
    except ValueError:
        month = 0
    if not 1 <= month <= 12:
        raise ValueError(f"{VARIABLE} must be a whole number from 1 to 12, got {raw!r}")
    return month


def fiscal_year_of(day: date, start: int) -> int:
    if start == 1:
        return day.year
    return day.year + 1 if day.month >= start else day.year


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def year_bounds(fiscal_year: int, start: int) -> tuple[date, date]:
    """First and last day of fiscal year N."""
    first = date(fiscal_year - 1, start, 1) if start > 1 else date(fiscal_year, 1, 1)
    y, m = _add_months(first.year, first.month, 12)
    return first, date(y, m, 1) - timedelta(days=1)


def fiscal_month_of(day: date, start: int) -> int:
    return (day.month - start) % 12 + 1


@dataclass(frozen=True)
class RunPeriod:
    """What one planning run computes: fiscal year N as of date D."""

    fiscal_year: int
    as_of_date: date
    start_month: int
    year_start: date
    year_end: date

    @property
    def as_of_fiscal_month(self) -> int:
        """Fiscal month of D within year N (12 once D is past the year, 0 before it starts)."""
        if self.as_of_date > self.year_end:
            return 12
        if self.as_of_date < self.year_start:
            return 0
        return fiscal_month_of(self.as_of_date, self.start_month)

    @property
    def days_elapsed(self) -> int:
        """Days of year N up to and including D (0 before the year starts)."""
        last = min(self.as_of_date, self.year_end)
        return max((last - self.year_start).days + 1, 0)

    def sql_params(self) -> dict[str, object]:
        return {
            "fiscal_year": self.fiscal_year,
            "as_of_date": self.as_of_date,
            "year_start": self.year_start,
            "year_end": self.year_end,
            "as_of_fiscal_month": self.as_of_fiscal_month,
            "days_elapsed": self.days_elapsed,
        }


def resolve_period(
    fiscal_year: int | None,
    as_of_date: date | str | None,
    logical_date: date | datetime,
    start: int,
) -> RunPeriod:
    """The contract's rule: N defaults to the fiscal year holding the logical date; D is the
    `as_of_date` param if given, else the earlier of the logical date and the last day of N."""
    logical = logical_date.date() if isinstance(logical_date, datetime) else logical_date
    year = int(fiscal_year) if fiscal_year not in (None, "") else fiscal_year_of(logical, start)
    first, last = year_bounds(year, start)
    if as_of_date in (None, ""):
        as_of = min(logical, last)
    elif isinstance(as_of_date, str):
        try:
            as_of = date.fromisoformat(as_of_date)
        except ValueError:
            raise ValueError(f"as_of_date must be YYYY-MM-DD, got {as_of_date!r}") from None
    else:
        as_of = as_of_date
    return RunPeriod(year, as_of, start, first, last)
