"""Fiscal periods: the one fiscal calendar and period parser of finsync (issue #9). The budget
sync's normaliser, its column mapper (a column is the period when its values are periods by
THIS parser), the budget API and anything else that reads a period label use it.

Periods (canonical `FY2025`, `FY2025-Q1`, `FY2025-M01`; fiscal year N ends in calendar year N,
finsync.fiscal):

- Year and quarter labels are FISCAL (`2025`, `FY25`, `Q1 2025`, `Q1-FY25` -> FY2025, FY2025-Q1).
  Fiscal month labels (`FY2025-M01`, `FY2025 M1`, `P01 FY25`, `Period 1 2025`) are fiscal months.
  Month names and dates are CALENDAR months placed in the customer's fiscal calendar: with
  fiscal_year_start_month=7, `Jan 2025` is FY2025-M07 and `Jul 2025` is FY2026-M01. A day in a
  date is ignored (a budget month holds the whole month).
- Fiscal-year ranges (`FY16-17`, `2015-16`, `FY2016-17`, `2016/2017`) are the fiscal year that
  ENDS in the second year (FY2017, FY2016, FY2017). The years must be consecutive. With
  fiscal_year_start_month=1 a range is rejected: a January year never spans two calendar
  years, so the label contradicts the configuration (check fiscal_year_start_month).
- `YYYY-MM` with a valid month is a calendar month, so `2011-12` is December 2011, not the
  fiscal year 2011-12 (write `FY2011-12` for that); `2015-16` (no month 16) is a range.
- Two-digit years: 00-68 are 2000-2068, 69-99 are 1969-1999 (Python's %y rule); `Jan-25` is
  January 2025, never "25 January". Years outside 1900-2199 are rejected as typos.
- Excel serial dates (`45658`, `45658.0`) are understood when they fall between 1990-01-01 and
  2099-12-31 (32874-73050); a four-digit number is a year, never a serial. `20250115` is a date,
  `202501` a calendar month.
- `dd/mm/yyyy` versus `mm/dd/yyyy` is decided per column: a first part above 12 means day
  first, a second part above 12 month first; without such evidence, a column whose first parts
  are all 1 is read day-first (first-of-month dates) and one whose second parts are all 1
  month-first. Otherwise the ambiguous dates are rejected (write ISO 2025-01-15). Dates with
  dots (15.01.2025) are day-first.
- A month, quarter or fiscal period without a year (`Jan`, `Q1`, `P01`) is rejected unless
  `default_year` is given; `default_year` is a FISCAL year (with start month 7 and
  default_year=2025, `Jul` is July 2024 = FY2025-M01 and `Jan` is January 2025 = FY2025-M07),
  so a file whose month columns run Jul..Jun lands in one fiscal year.
- Month names: English, Spanish, German and French, full or abbreviated, any case, accents
  optional. Fiscal periods 13+ (4-4-5 calendars) are rejected: budgets have 12 fiscal months.
- A fiscal year written with `FY` next to a month name (`FY26 Jan`, `Jan FY2026`, `FY2025-26
  Mar`) places the CALENDAR month in that FISCAL year on the customer's calendar: with
  fiscal_year_start_month=7, `FY26 Jan` is January 2026 = FY2026-M07 and `FY26 Jul` is July
  2025 = FY2026-M01. A plain year next to a month name (`2026 Jan`) is a calendar year, as in
  `Jan 2026`. Budgets exported with the year and the period in two columns (Oracle EPM,
  Hyperion, Anaplan: Year `FY26` + Period `Jan`, `2026` + `P01`, `2026` + `Q1`) are read as
  the two values joined by a space (longform.to_long), so every form above applies.

`FiscalCalendar` says how to read labels for one customer (fiscal_year_start_month, the
fiscal year of labels without one, a column's date order); `parse_period` reads one label;
`period_table` and `normalize_periods` read a column, each distinct value once;
`period_kind` / `period_evidence` are the mapper's value evidence: a value counts as a period
when the normaliser would read it on some customer's calendar (a month without a year counts:
its year may come from a Year column or the configured default year).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from finsync.fiscal import fiscal_month_of, fiscal_year_of

PERIOD_FORMS = (
    "write FY2025, FY2025-Q1, FY2025-M01, Q1 2025, Jan 2025, 2025-01 or a date such as 2025-01-15"
)
BLANK_PERIOD = "blank fiscal period: every budget row needs one; " + PERIOD_FORMS
UNKNOWN_PERIOD = "not a fiscal period finsync understands; " + PERIOD_FORMS
NO_YEAR = (
    "a month, quarter or period without a year cannot be placed in a fiscal year; "
    "add the year (Jan 2025, Q1 FY2025)"
)
BAD_MONTH = "month must be 1-12; " + PERIOD_FORMS
BAD_QUARTER = "quarter must be Q1-Q4; " + PERIOD_FORMS
BAD_FISCAL_MONTH = "fiscal period must be 1-12 (budgets have 12 fiscal months); " + PERIOD_FORMS
BAD_DATE = "not a valid calendar date; " + PERIOD_FORMS
BAD_YEAR = "year outside 1900-2199; " + PERIOD_FORMS
BAD_RANGE = "a fiscal-year range must name two consecutive years (FY2016-17, 2016/2017)"
RANGE_JANUARY = (
    "a fiscal-year range spans two calendar years, but this customer's fiscal year starts in "
    "January; check fiscal_year_start_month, or write FY2025"
)
AMBIGUOUS_DATE = (
    "ambiguous date: the column does not show whether the day or the month comes first; "
    "write ISO dates (2025-01-15) or months (Jan 2025)"
)

# ---------------------------------------------------------------------------------------------
# Periods

_MONTH_WORDS = {
    1: "jan january janv janvier ene enero januar janner jaenner",
    2: "feb february fev fevr fevrier febrero februar",
    3: "mar march mars marzo marz maerz mrz",
    4: "apr april avr avril abr abril",
    5: "may mai mayo",
    6: "jun june juin junio juni",
    7: "jul july juil juillet julio juli",
    8: "aug august aout ago agosto",
    9: "sep sept september septembre septiembre setiembre set",
    10: "oct october octobre octubre okt oktober",
    11: "nov november novembre noviembre",
    12: "dec december decembre dic diciembre dez dezember",
}
MONTHS = {word.upper(): month for month, words in _MONTH_WORDS.items() for word in words.split()}

_YEAR = (
    r"(?:(?P<fy>FY|FISCAL YEAR|FISCAL) ?[-'.:]? ?)?'?(?P<y1>\d{4}|\d{2})"
    r"(?: ?[-/] ?(?P<y2>\d{4}|\d{2}))?"
)
_QUARTER = r"(?:(?:Q|QTR|QUARTER) ?(?P<q>\d)|(?P<q2>\d) ?(?:ST|ND|RD|TH)? ?(?:Q|QTR|QUARTER))"
_PERIOD = r"(?:P|M|PER|PERIOD|FM|FISCAL MONTH|FISCAL PERIOD|MONTH) ?\.? ?(?P<p>\d{1,2})"
_GAP = r" ?[-/,' ]? ?"

_NUMERIC = re.compile(r"^(\d+)(?:\.(\d+))?$")
_ISO_DATE = re.compile(
    r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?: ?(?:Z|[+-]\d{2}:?\d{2}))?$"
)
_DMY = re.compile(r"^(\d{1,2})([-/.])(\d{1,2})\2(\d{4}|\d{2})(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$")
_YEAR_MONTH = re.compile(r"^(\d{4}) ?[-/.] ?(\d{1,2})$")
_MONTH_YEAR = re.compile(r"^(\d{1,2}) ?[-/.] ?(\d{4})$")
_NAME_YEAR = re.compile(r"^([A-Z]+)\.? ?[-/,.']? ?'?(\d{4}|\d{2})$")
_YEAR_NAME = re.compile(r"^(\d{4}) ?[-/,.]? ?([A-Z]+)\.?$")
_NAME = re.compile(r"^([A-Z]+)\.?$")
_FISCAL_YEAR_NAME = re.compile(rf"^{_YEAR}{_GAP}(?P<name>[A-Z]+)\.?$")
_NAME_FISCAL_YEAR = re.compile(rf"^(?P<name>[A-Z]+)\.?{_GAP}{_YEAR}$")
_YEAR_QUARTER = re.compile(rf"^{_YEAR}{_GAP}{_QUARTER}$")
_QUARTER_YEAR = re.compile(rf"^{_QUARTER}{_GAP}{_YEAR}$")
_QUARTER_ONLY = re.compile(rf"^{_QUARTER}$")
_YEAR_PERIOD = re.compile(rf"^{_YEAR}{_GAP}{_PERIOD}$")
_PERIOD_YEAR = re.compile(rf"^{_PERIOD}{_GAP}{_YEAR}$")
_PERIOD_ONLY = re.compile(rf"^{_PERIOD}$")
_FISCAL_YEAR = re.compile(rf"^{_YEAR}$")

_EXCEL_EPOCH = date(1899, 12, 30)
SERIAL_RANGE = (32874, 73050)  # 1990-01-01 .. 2099-12-31
YEAR_RANGE = (1900, 2199)

Parsed = tuple[str | None, str | None]  # (canonical, reason it is bad)


@dataclass(frozen=True)
class FiscalCalendar:
    """How one customer's period labels are read: `start` is fiscal_year_start_month (1-12;
    fiscal year N ends in calendar year N), `default_year` the FISCAL year of months,
    quarters and periods written without one, `day_first` a column's dd/mm vs mm/dd order
    (None: unknown, decided per value when it can be)."""

    start: int
    default_year: int | None = None
    day_first: bool | None = None


def _fold(raw: str) -> str:
    """Upper case, accents removed, dashes unified, whitespace collapsed."""
    text = unicodedata.normalize("NFKD", raw)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"[\u2010-\u2015\u2212]", "-", text)
    return re.sub(r"[\s_]+", " ", text).strip().upper()


def _full_year(digits: str) -> int:
    year = int(digits)
    if len(digits) == 2:
        year += 2000 if year <= 68 else 1900
    return year


def _month_label(year: int, month: int, cal: FiscalCalendar) -> Parsed:
    if not 1 <= month <= 12:
        return None, BAD_MONTH
    if not YEAR_RANGE[0] <= year <= YEAR_RANGE[1]:
        return None, BAD_YEAR
    first = date(year, month, 1)
    return f"FY{fiscal_year_of(first, cal.start)}-M{fiscal_month_of(first, cal.start):02d}", None


def _date_label(year: int, month: int, day: int, cal: FiscalCalendar) -> Parsed:
    try:
        date(year, month, day)
    except ValueError:
        return None, BAD_DATE
    return _month_label(year, month, cal)


def _bare_month(month: int, cal: FiscalCalendar) -> Parsed:
    """A month name without a year, placed in the fiscal year `default_year`."""
    if cal.default_year is None:
        return None, NO_YEAR
    year = cal.default_year - 1 if cal.start > 1 and month >= cal.start else cal.default_year
    return _month_label(year, month, cal)


def _fiscal_year(m: re.Match, cal: FiscalCalendar) -> tuple[int | None, str | None]:
    """The fiscal year a _YEAR match names: a year, or the year a range ends in."""
    first, second = m["y1"], m["y2"]
    year = _full_year(first)
    if second is not None:
        if m["fy"] is None and len(first) == 2:
            return None, UNKNOWN_PERIOD
        end = _full_year(second) if len(second) == 4 else (year // 100) * 100 + int(second)
        if len(second) == 2 and end <= year:
            end += 100  # 1999-00
        if end != year + 1:
            return None, BAD_RANGE
        if cal.start == 1:
            return None, RANGE_JANUARY
        year = end
    if not YEAR_RANGE[0] <= year <= YEAR_RANGE[1]:
        return None, BAD_YEAR
    return year, None


def _quarter(m: re.Match) -> int:
    return int(m["q"] or m["q2"])


def _rule_numeric(text: str, cal: FiscalCalendar) -> Parsed | None:
    m = _NUMERIC.match(text)
    if m is None:
        return None
    whole, fraction = m.group(1), m.group(2)
    if fraction is not None and set(fraction) != {"0"} and len(whole) != 5:
        return None, UNKNOWN_PERIOD
    if len(whole) == 4:
        year = int(whole)
        if not YEAR_RANGE[0] <= year <= YEAR_RANGE[1]:
            return None, BAD_YEAR
        return f"FY{year}", None
    if len(whole) == 5 and SERIAL_RANGE[0] <= int(whole) <= SERIAL_RANGE[1]:
        day = _EXCEL_EPOCH + timedelta(days=int(whole))
        return _month_label(day.year, day.month, cal)
    if len(whole) == 6 and fraction is None:
        return _month_label(int(whole[:4]), int(whole[4:]), cal)
    if len(whole) == 8 and fraction is None:
        return _date_label(int(whole[:4]), int(whole[4:6]), int(whole[6:]), cal)
    return None, UNKNOWN_PERIOD


def _rule_dates(text: str, cal: FiscalCalendar) -> Parsed | None:
    m = _ISO_DATE.match(text)
    if m:
        return _date_label(int(m.group(1)), int(m.group(2)), int(m.group(3)), cal)
    m = _DMY.match(text)
    if m:
        a, sep, b, year = int(m.group(1)), m.group(2), int(m.group(3)), _full_year(m.group(4))
        day_first = True if sep == "." else cal.day_first
        if a > 12 or (b <= 12 and a == b):
            day_first = True if day_first is None else day_first
        elif b > 12:
            day_first = False if day_first is None else day_first
        if day_first is None:
            return None, AMBIGUOUS_DATE
        day, month = (a, b) if day_first else (b, a)
        return _date_label(year, month, day, cal)
    return None


def _rule_numeric_months(text: str, cal: FiscalCalendar) -> Parsed | None:
    m = _YEAR_MONTH.match(text)
    if m and 1 <= int(m.group(2)) <= 12:
        return _month_label(int(m.group(1)), int(m.group(2)), cal)
    m = _MONTH_YEAR.match(text)
    if m:
        return _month_label(int(m.group(2)), int(m.group(1)), cal)
    return None


def _rule_month_names(text: str, cal: FiscalCalendar) -> Parsed | None:
    m = _NAME_YEAR.match(text)
    if m and m.group(1) in MONTHS:
        return _month_label(_full_year(m.group(2)), MONTHS[m.group(1)], cal)
    m = _YEAR_NAME.match(text)
    if m and m.group(2) in MONTHS:
        return _month_label(int(m.group(1)), MONTHS[m.group(2)], cal)
    m = _NAME.match(text)
    if m and m.group(1) in MONTHS:
        return _bare_month(MONTHS[m.group(1)], cal)
    m = _FISCAL_YEAR_NAME.match(text) or _NAME_FISCAL_YEAR.match(text)
    if m and m["name"] in MONTHS and (m["fy"] or m["y2"]):
        # a FISCAL year next to a calendar month ('FY26 Jan', a Year + Period export)
        year, reason = _fiscal_year(m, cal)
        if reason:
            return None, reason
        return _bare_month(MONTHS[m["name"]], FiscalCalendar(cal.start, year, cal.day_first))
    return None


def _rule_quarters(text: str, cal: FiscalCalendar) -> Parsed | None:
    m = _YEAR_QUARTER.match(text) or _QUARTER_YEAR.match(text)
    found = m or _QUARTER_ONLY.match(text)
    if found is None:
        return None
    quarter = _quarter(found)
    if not 1 <= quarter <= 4:
        return None, BAD_QUARTER
    if m is None:  # (a period without a year)
        if cal.default_year is None:
            return None, NO_YEAR
        return f"FY{cal.default_year}-Q{quarter}", None
    year, reason = _fiscal_year(m, cal)
    return (None, reason) if reason else (f"FY{year}-Q{quarter}", None)


def _rule_fiscal_months(text: str, cal: FiscalCalendar) -> Parsed | None:
    m = _YEAR_PERIOD.match(text) or _PERIOD_YEAR.match(text)
    found = m or _PERIOD_ONLY.match(text)
    if found is None:
        return None
    period = int(found["p"])
    if not 1 <= period <= 12:
        return None, BAD_FISCAL_MONTH
    if m is None:  # (a period without a year)
        if cal.default_year is None:
            return None, NO_YEAR
        return f"FY{cal.default_year}-M{period:02d}", None
    year, reason = _fiscal_year(m, cal)
    return (None, reason) if reason else (f"FY{year}-M{period:02d}", None)


def _rule_fiscal_years(text: str, cal: FiscalCalendar) -> Parsed | None:
    m = _FISCAL_YEAR.match(text)
    if m is None:
        return None
    if m["fy"] is None and len(m["y1"]) == 2:
        return None, UNKNOWN_PERIOD  # '25' alone is not a year
    year, reason = _fiscal_year(m, cal)
    return (None, reason) if reason else (f"FY{year}", None)


_PERIOD_RULES = (
    _rule_numeric,
    _rule_dates,
    _rule_numeric_months,
    _rule_month_names,
    _rule_quarters,
    _rule_fiscal_months,
    _rule_fiscal_years,
)


def parse_period(raw: str | None, cal: FiscalCalendar) -> Parsed:
    """One period label -> (canonical, None) or (None, why it is rejected)."""
    text = _fold(raw or "")
    if not text:
        return None, BLANK_PERIOD
    for rule in _PERIOD_RULES:
        result = rule(text, cal)
        if result is not None:
            return result
    return None, UNKNOWN_PERIOD


def _day_first(distinct: list[str]) -> bool | None:
    """The column's date order for dd/mm/yyyy vs mm/dd/yyyy (module docstring)."""
    pairs = [
        (int(m.group(1)), int(m.group(3)))
        for m in (_DMY.match(_fold(v)) for v in distinct)
        if m and m.group(2) != "."
    ]
    if not pairs:
        return None
    day_first = any(a > 12 for a, _ in pairs)
    month_first = any(b > 12 for _, b in pairs)
    if day_first != month_first:
        return day_first
    if day_first and month_first:
        return None
    if all(a == 1 for a, _ in pairs):
        return True
    if all(b == 1 for _, b in pairs):
        return False
    return None


def period_table(
    values: pa.Array, start: int, default_year: int | None, first_rows: dict[str, int] | None = None
) -> tuple[pa.Array, pa.Array]:
    """(canonical, reason) per row, each distinct value parsed once. `first_rows`, when
    given, receives canonical -> the row of its first label (the customer's own label of
    that period, e.g. `2026-01` or `Jan-26`; the first of several)."""
    if not 1 <= start <= 12:
        raise ValueError(f"fiscal_year_start_month must be 1-12, got {start!r}")
    encoded = pc.dictionary_encode(pc.fill_null(values, ""))
    distinct = encoded.dictionary.to_pylist()
    cal = FiscalCalendar(start, default_year, _day_first(distinct))
    parsed = [parse_period(value, cal) for value in distinct]
    indices = encoded.indices
    canonical = pa.array([p[0] for p in parsed], pa.string()).take(indices)
    reasons = pa.array([p[1] for p in parsed], pa.string()).take(indices)
    if first_rows is not None and len(indices):
        first_rows.update(_first_rows(indices, [p[0] for p in parsed]))
    return canonical, reasons


def _first_rows(indices: pa.Array, canonical: list[str | None]) -> dict[str, int]:
    """canonical -> the first row holding a label of it. Dictionary codes are numbered in
    order of first appearance, so a code first appears where the running maximum rises (one
    numpy pass, no sort)."""
    codes = indices.to_numpy(zero_copy_only=False)
    highest = np.maximum.accumulate(codes)
    rising = np.concatenate(([0], np.flatnonzero(highest[1:] != highest[:-1]) + 1))
    found: dict[str, int] = {}
    for code, row in zip(codes[rising].tolist(), rising.tolist(), strict=True):
        period = canonical[code]
        if period is not None:
            found.setdefault(period, row)
    return found


def normalize_periods(
    values: pd.Series, *, fiscal_year_start_month: int, default_year: int | None = None
) -> tuple[pd.Series, pd.Series]:
    """(canonical period or missing, bad) per value; see the module docstring for the rules.
    `default_year` is the FISCAL year for months, quarters and periods written without one."""
    if not (isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow"):
        values = values.astype("str")
    arr = pa.array(values)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    canonical, reasons = period_table(arr.cast(pa.string()), fiscal_year_start_month, default_year)
    bad = pd.Series(pc.is_valid(reasons).to_numpy(zero_copy_only=False), index=values.index)
    return pd.Series(canonical, dtype="str", index=values.index), bad


# ---------------------------------------------------------------------------------------------
# Value evidence for the column mapper: the same parser, no customer calendar needed

# Read with a July calendar, so fiscal-year ranges (rejected only for January customers) and
# dates whose day/month order a column decides count as periods; a label without a year
# counts too (its year may come from a Year column or the configured default year).
_EVIDENCE_CALENDAR = FiscalCalendar(start=7)
_NEEDS_CONTEXT = frozenset({NO_YEAR, AMBIGUOUS_DATE, RANGE_JANUARY})
_FISCAL_YEAR_ONLY = re.compile(r"^FY\d{4}$")
_PLAIN_NUMBER = re.compile(r"^\d+(?:\.0+)?$")

PERIOD_KINDS = ("year", "dated", "yearless", "number")


@lru_cache(maxsize=65536)
def period_kind(raw: str) -> str | None:
    """What a label is as a period, or None when the normaliser would never read it as one:
    'year' (a fiscal year: `FY26`, `2026`, `2025-26`), 'dated' (a month, quarter or date with
    its year), 'yearless' (`Jan`, `Q1`, `P01`: the year must come from elsewhere) or 'number'
    (an Excel serial date, `202501`, `20250115`: a period only in a column that holds
    periods; amounts look like this too)."""
    canonical, reason = parse_period(raw, _EVIDENCE_CALENDAR)
    if reason is not None:
        if reason not in _NEEDS_CONTEXT:
            return None
        return "yearless" if reason == NO_YEAR else "dated"
    text = _fold(raw)
    if _PLAIN_NUMBER.match(text) and len(text.split(".")[0]) != 4:
        return "number"
    return "year" if _FISCAL_YEAR_ONLY.match(canonical or "") else "dated"


@dataclass(frozen=True)
class PeriodEvidence:
    """Shares of a column's non-blank values (weighted by rows) by period_kind."""

    periods: float = 0.0  # any kind: what the normaliser can read
    years: float = 0.0
    yearless: float = 0.0
    numbers: float = 0.0


EVIDENCE_DISTINCT = 500  # the most frequent distinct values looked at


def period_evidence(values: pd.Series) -> PeriodEvidence:
    """How much of a column the period parser reads, and as what (each distinct value parsed
    once, the EVIDENCE_DISTINCT most frequent; blanks ignored)."""
    text = values.astype("str").str.strip()
    text = text[text.notna() & (text != "")]
    if text.empty:
        return PeriodEvidence()
    counts = text.value_counts().head(EVIDENCE_DISTINCT)
    total = float(counts.sum())
    shares = dict.fromkeys(PERIOD_KINDS, 0.0)
    for value, count in counts.items():
        kind = period_kind(str(value))
        if kind is not None:
            shares[kind] += count / total
    return PeriodEvidence(
        periods=sum(shares.values()),
        years=shares["year"],
        yearless=shares["yearless"],
        numbers=shares["number"],
    )
