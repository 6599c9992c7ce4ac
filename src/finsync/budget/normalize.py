"""Normalise a budget file's long-form rows: canonical fiscal periods, exact amounts, ISO
currencies. Every rejected row is reported as a RowError; no row is ever dropped silently.

Decisions a finance engineer must know
--------------------------------------
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

Amounts (returned as text with exactly two decimals, e.g. '-1234.50', ready for COPY into
numeric(18,2); computed as int64 cents, never through floats):

- Separators: when a value has both '.' and ',', the last one is the decimal mark. One
  separator followed by exactly three digits after a 1-3 digit integer part (`1.234`,
  `12,345`) is ambiguous: it is read with the column's dominant style (the decimal mark that
  the column's unambiguous values use, weighted by rows); with no evidence at all it is a
  thousands separator (budgets do not carry three decimals), and a warning says so. A
  repeated separator (`1.234.567`) is a thousands separator, a separator followed by 1, 2 or
  4+ digits (or after a leading 0 or a 4+ digit integer part) is the decimal mark. Spaces,
  no-break spaces, narrow no-break spaces and apostrophes (`1'234.50`) are thousands
  separators only. Thousands groups must have three digits (Indian 12,34,567 grouping is
  accepted too); anything else is rejected.
- Negative: `-1234.56`, `(1,234.56)`, trailing minus `1234-` (German exports); two sign markers
  are rejected. Excel's accounting zero (`-` alone, optionally with a currency) is 0.00.
- Blank is MISSING: an error for that row, never zero. Excel error values (`#N/A`, `#REF!`),
  text notes (`120000 Appx`), scientific notation (`1.2E+06`: the export lost digits) and two
  numbers in a cell are rejected with a message saying what to write instead.
- Scale suffixes (`450k`, `1.2M`, `1.2MM`, `3bn`, `2 Mio`, `1 Mrd`) are applied only when the
  file clearly uses them: at least SCALE_SHARE (10 %) of the column's non-blank values carry
  one (uses_scale_suffixes). Otherwise a suffixed value is rejected. `M` is a million.
- Rounded to cents half-up (away from zero, like Decimal's ROUND_HALF_UP): 0.005 -> 0.01,
  -0.005 -> -0.01. More than 16 digits before the decimal point (after rounding) is beyond
  numeric(18,2) and rejected.

Currency (per row: the currency column, else a symbol or code in the amount, else the
config's default_currency):

- ISO 4217 codes (any case in a currency column; upper case inside an amount, so `500 top`
  is a note, not Tongan pa'anga); symbols `€` EUR, `£` GBP, `₹` INR, `A$` AUD, `C$` CAD, `NZ$` NZD,
  `HK$` HKD, `S$` SGD, `R$` BRL, `MX$` MXN, `US$` USD and more (_SYMBOLS). A symbol shared by
  several currencies means the default currency when the default is one of them, else its
  usual meaning: `$` is the default currency when that is a dollar or peso currency, else USD;
  `¥` is CNY when the default is CNY, else JPY; `kr` has no usual meaning (SEK, NOK, DKK, ISK)
  and needs a currency column or a `kr` default.
- A currency column value that contradicts the amount's own currency (EUR next to `£12`) is
  rejected; a shared symbol agrees with any currency that uses it (CAD next to `$12`).
- Unknown codes are rejected. Only active ISO 4217 currencies are accepted (quality.ISO_4217).

Text: department is trimmed and internal whitespace collapsed (case kept: `Sales` and `SALES`
are different budgets); a blank department is an error. An empty sub_category is missing
(NaN in pandas 3's str dtype, NULL in the database), never ''. The accepted frame keeps each
row's `source_column` next to the importer's columns, so later errors can name the cell.

Messages never repeat the cell's value (it is in RowError.value, which the reject file can
withhold for personal data). Each distinct period string and each distinct amount "shape"
(digits replaced by 9) is interpreted once in Python; the per-row work is Arrow compute and
numpy on the column's UTF-8 bytes (bench/budget_normalize: 1M rows in well under a second).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from finsync.budget.model import RowError
from finsync.budget.quality import ISO_4217
from finsync.fiscal import fiscal_month_of, fiscal_year_of

SCALE_SHARE = 0.10
MAX_CENTS = 10**18 - 1  # numeric(18,2): 9999999999999999.99
LONG_COLUMNS = ("department", "period_raw", "amount_raw", "source_row", "source_column")

# ---------------------------------------------------------------------------------------------
# Messages (what is wrong, what would be accepted; never the value itself)

PERIOD_FORMS = (
    "write FY2025, FY2025-Q1, FY2025-M01, Q1 2025, Jan 2025, 2025-01 or a date such as 2025-01-15"
)
AMOUNT_FORMS = (
    "write a number such as 1234.56, 1,234.56, 1.234,56 or (1,234.56), optionally with a "
    "currency code or symbol (USD 1234.56, €1.234,56)"
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

BLANK_AMOUNT = "blank amount: a missing amount is an error, not zero; write 0 for a zero budget"
EXCEL_ERROR = "an Excel error value instead of an amount; fix the formula and export again"
SCIENTIFIC = (
    "scientific notation loses digits; export the full amount (format the cells as numbers)"
)
TEXT_IN_AMOUNT = "text next to the number (put notes in another column); " + AMOUNT_FORMS
NOT_AN_AMOUNT = "not an amount; " + AMOUNT_FORMS
BAD_GROUPING = "digit grouping is not valid (thousands groups have three digits); " + AMOUNT_FORMS
TWO_SIGNS = "more than one sign (minus, trailing minus, parentheses); use one"
BAD_PARENS = "unbalanced parentheses; write (1,234.56) for a negative amount"
TWO_CURRENCIES = "more than one currency in the amount; keep one"
UNKNOWN_CODE = "a three-letter code that is not an active ISO 4217 currency; " + AMOUNT_FORMS
SCALE_NOT_USED = (
    "a scale suffix (k, M, bn) in a file whose amounts do not use them; write the full amount"
)
OUT_OF_RANGE = "beyond numeric(18,2): at most 16 digits before the decimal point"
SHARED_SYMBOL = (
    "the currency symbol is used by several currencies ({}); write the ISO code or add a "
    "currency column"
)
BLANK_DEPARTMENT = "blank department: every budget row needs a department"
UNKNOWN_CURRENCY = "not an active ISO 4217 currency code or known symbol; write e.g. USD, EUR, GBP"
CURRENCY_CONFLICT = "the currency column contradicts the currency written in the amount"

# ---------------------------------------------------------------------------------------------
# Currencies

_DOLLARS = frozenset(
    "USD AUD CAD NZD SGD HKD TWD MXN ARS CLP COP CUP DOP UYU BSD BBD BMD BND BZD FJD GYD JMD "
    "KYD LRD NAD SBD SRD TTD XCD".split()
)
# token (lower case) -> (usual currency or None, every currency that writes it this way)
_SYMBOLS: dict[str, tuple[str | None, frozenset[str]]] = {
    "$": ("USD", _DOLLARS),
    "¥": ("JPY", frozenset({"JPY", "CNY"})),
    "￥": ("JPY", frozenset({"JPY", "CNY"})),
    "kr": (None, frozenset({"SEK", "NOK", "DKK", "ISK"})),
    **{
        token: (code, frozenset({code}))
        for token, code in {
            "us$": "USD",
            "a$": "AUD",
            "au$": "AUD",
            "c$": "CAD",
            "ca$": "CAD",
            "can$": "CAD",
            "nz$": "NZD",
            "hk$": "HKD",
            "s$": "SGD",
            "sg$": "SGD",
            "r$": "BRL",
            "mx$": "MXN",
            "nt$": "TWD",
            "€": "EUR",
            "£": "GBP",
            "₹": "INR",
            "₩": "KRW",
            "₽": "RUB",
            "₺": "TRY",
            "₪": "ILS",
            "₫": "VND",
            "₱": "PHP",
            "฿": "THB",
            "₦": "NGN",
            "₴": "UAH",
            "₸": "KZT",
            "₼": "AZN",
            "₾": "GEL",
            "₡": "CRC",
            "₲": "PYG",
            "₵": "GHS",
            "元": "CNY",
            "rmb": "CNY",
            "zł": "PLN",
            "kč": "CZK",
        }.items()
    },
}


@dataclass(frozen=True)
class _Currency:
    code: str | None  # resolved ISO code, None when a shared symbol cannot be resolved
    family: str | None = None  # the shared symbol ('$', '¥', 'kr') when the token is one


def _currency_token(
    token: str, default_currency: str | None, *, any_case: bool = False
) -> _Currency | None:
    """The currency a token names, or None when it is not a currency. In amounts an ISO code
    must be upper case ('500 top' is a note, not Tongan pa'anga); a currency column's cells
    (`any_case`) may be written in any case."""
    code = token.upper()
    if code in ISO_4217 and token.isascii() and token.isalpha() and (any_case or token == code):
        return _Currency(code)
    entry = _SYMBOLS.get(token.lower())
    if entry is None:
        return None
    usual, users = entry
    if len(users) == 1:
        return _Currency(usual)
    code = default_currency if default_currency in users else usual
    return _Currency(code, token.lower())


# ---------------------------------------------------------------------------------------------
# Arrow helpers


def _arrow(values: pd.Series) -> pa.Array:
    """The column as an Arrow string array (missing -> null), without copying str columns."""
    if not (isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow"):
        values = values.astype("str")
    arr = pa.array(values)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(pa.string())


_SPACES = re.compile(r"[\s\u00a0\u2007\u2009\u202f\ufeff]+")


def _tidy(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def _clean_text(arr: pa.Array) -> pa.Array:
    """Trimmed, every run of whitespace (no-break spaces too) one space; null -> ''. Each
    distinct value is cleaned once."""
    indices, cleaned = _map_distinct(arr, _tidy)
    return _take_strings(cleaned, indices)


def _map_distinct(arr: pa.Array, parse) -> tuple[np.ndarray, list]:
    """(row -> distinct index, parse(value) per distinct value): each distinct string once."""
    encoded = pc.dictionary_encode(pc.fill_null(arr, ""))
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    return indices, [parse(value) for value in encoded.dictionary.to_pylist()]


def _take_strings(values: list[str | None], indices: np.ndarray) -> pa.Array:
    return pa.array(values, pa.string()).take(pa.array(indices))


def _series(arr: pa.Array, index: pd.Index) -> pd.Series:
    return pd.Series(arr, dtype="str", index=index)


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
class _Calendar:
    start: int
    default_year: int | None = None
    day_first: bool | None = None  # the column's dd/mm vs mm/dd order; None: unknown


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


def _month_label(year: int, month: int, cal: _Calendar) -> Parsed:
    if not 1 <= month <= 12:
        return None, BAD_MONTH
    if not YEAR_RANGE[0] <= year <= YEAR_RANGE[1]:
        return None, BAD_YEAR
    first = date(year, month, 1)
    return f"FY{fiscal_year_of(first, cal.start)}-M{fiscal_month_of(first, cal.start):02d}", None


def _date_label(year: int, month: int, day: int, cal: _Calendar) -> Parsed:
    try:
        date(year, month, day)
    except ValueError:
        return None, BAD_DATE
    return _month_label(year, month, cal)


def _bare_month(month: int, cal: _Calendar) -> Parsed:
    """A month name without a year, placed in the fiscal year `default_year`."""
    if cal.default_year is None:
        return None, NO_YEAR
    year = cal.default_year - 1 if cal.start > 1 and month >= cal.start else cal.default_year
    return _month_label(year, month, cal)


def _fiscal_year(m: re.Match, cal: _Calendar) -> tuple[int | None, str | None]:
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


def _rule_numeric(text: str, cal: _Calendar) -> Parsed | None:
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


def _rule_dates(text: str, cal: _Calendar) -> Parsed | None:
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


def _rule_numeric_months(text: str, cal: _Calendar) -> Parsed | None:
    m = _YEAR_MONTH.match(text)
    if m and 1 <= int(m.group(2)) <= 12:
        return _month_label(int(m.group(1)), int(m.group(2)), cal)
    m = _MONTH_YEAR.match(text)
    if m:
        return _month_label(int(m.group(2)), int(m.group(1)), cal)
    return None


def _rule_month_names(text: str, cal: _Calendar) -> Parsed | None:
    m = _NAME_YEAR.match(text)
    if m and m.group(1) in MONTHS:
        return _month_label(_full_year(m.group(2)), MONTHS[m.group(1)], cal)
    m = _YEAR_NAME.match(text)
    if m and m.group(2) in MONTHS:
        return _month_label(int(m.group(1)), MONTHS[m.group(2)], cal)
    m = _NAME.match(text)
    if m and m.group(1) in MONTHS:
        return _bare_month(MONTHS[m.group(1)], cal)
    return None


def _rule_quarters(text: str, cal: _Calendar) -> Parsed | None:
    m = _YEAR_QUARTER.match(text) or _QUARTER_YEAR.match(text)
    only = None if m else _QUARTER_ONLY.match(text)
    if m is None and only is None:
        return None
    quarter = _quarter(m or only)
    if not 1 <= quarter <= 4:
        return None, BAD_QUARTER
    if only is not None:
        if cal.default_year is None:
            return None, NO_YEAR
        return f"FY{cal.default_year}-Q{quarter}", None
    year, reason = _fiscal_year(m, cal)
    return (None, reason) if reason else (f"FY{year}-Q{quarter}", None)


def _rule_fiscal_months(text: str, cal: _Calendar) -> Parsed | None:
    m = _YEAR_PERIOD.match(text) or _PERIOD_YEAR.match(text)
    only = None if m else _PERIOD_ONLY.match(text)
    if m is None and only is None:
        return None
    period = int((m or only)["p"])
    if not 1 <= period <= 12:
        return None, BAD_FISCAL_MONTH
    if only is not None:
        if cal.default_year is None:
            return None, NO_YEAR
        return f"FY{cal.default_year}-M{period:02d}", None
    year, reason = _fiscal_year(m, cal)
    return (None, reason) if reason else (f"FY{year}-M{period:02d}", None)


def _rule_fiscal_years(text: str, cal: _Calendar) -> Parsed | None:
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


def parse_period(raw: str | None, cal: _Calendar) -> Parsed:
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


def _period_table(
    values: pa.Array, start: int, default_year: int | None
) -> tuple[pa.Array, pa.Array]:
    """(canonical, reason) per row, each distinct value parsed once."""
    if not 1 <= start <= 12:
        raise ValueError(f"fiscal_year_start_month must be 1-12, got {start!r}")
    encoded = pc.dictionary_encode(pc.fill_null(values, ""))
    distinct = encoded.dictionary.to_pylist()
    cal = _Calendar(start, default_year, _day_first(distinct))
    parsed = [parse_period(value, cal) for value in distinct]
    indices = encoded.indices
    canonical = pa.array([p[0] for p in parsed], pa.string()).take(indices)
    reasons = pa.array([p[1] for p in parsed], pa.string()).take(indices)
    return canonical, reasons


def normalize_periods(
    values: pd.Series, *, fiscal_year_start_month: int, default_year: int | None = None
) -> tuple[pd.Series, pd.Series]:
    """(canonical period or missing, bad) per value; see the module docstring for the rules.
    `default_year` is the FISCAL year for months, quarters and periods written without one."""
    canonical, reasons = _period_table(_arrow(values), fiscal_year_start_month, default_year)
    bad = pd.Series(pc.is_valid(reasons).to_numpy(zero_copy_only=False), index=values.index)
    return _series(canonical, values.index), bad


# ---------------------------------------------------------------------------------------------
# Amounts

_SCALES = {
    **dict.fromkeys(("k", "thousand", "thousands", "tsd"), 3),
    **dict.fromkeys(("m", "mm", "mn", "mio", "million", "millions", "millionen"), 6),
    **dict.fromkeys(("b", "bn", "bln", "billion", "billions", "mrd", "milliarde"), 9),
    "milliarden": 9,
}
_NUMBER = re.compile(r"^(?P<pre>[^09]*?)(?P<num>[.,]?[09](?:[09.,' ]*[09])?[.,]?)(?P<post>[^09]*)$")
_TOKEN = re.compile(r"\s*(\(|\)|[-+]|[^\W\d_]+\$|[^\W\d_]+|[^\s\w()+-])")
_SCIENTIFIC = re.compile(r"^[-+]?[09.,]+ ?E ?[-+]?[09]+$", re.IGNORECASE)
_SHAPE_SPACES = re.compile(r"[\s\u00a0\u2007\u2009\u202f\ufeff]+")
_SHAPE_MINUS = re.compile(r"[\u2212\u2013]")
_SEPS = np.frombuffer(b".,'", dtype=np.uint8)  # separators inside a number


@dataclass
class _Recipe:
    """How to read every amount of one shape."""

    reason: str | None = None
    negative: bool = False
    decimal: str | None = None  # '.' or ',' when the number has a decimal mark
    ambiguous: str | None = None  # the separator of 1.234 / 12,345 until the column decides
    evidence: str | None = None  # the decimal mark this shape proves the column uses
    scale: int = 0  # power of ten of a k/M/bn suffix
    zero: bool = False
    currency: _Currency | None = None


def _tokens(text: str) -> list[str] | None:
    tokens, pos, text = [], 0, text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            return None
        tokens.append(m.group(1))
        pos = m.end()
    return tokens


def _grouping_ok(integer: str, sep: str) -> bool:
    groups = integer.split(sep)
    if any(not g for g in groups):
        return False
    western = 1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])
    indian = (
        sep == ","
        and len(groups) >= 3
        and 1 <= len(groups[0]) <= 2
        and all(len(g) == 2 for g in groups[1:-1])
        and len(groups[-1]) == 3
    )
    return western or indian


def _classify_number(num: str) -> _Recipe:
    """The separators of a number shape ('9,999.99', '0,99', '9.999')."""
    seps = [c for c in num if c not in "09"]
    if not seps:
        return _Recipe()
    last = seps[-1]
    cut = num.rfind(last)
    before, after = num[:cut], num[cut + 1 :]
    kinds = set(seps)
    other = {".": ",", ",": "."}
    if last in " '" or seps.count(last) > 1:
        if kinds != {last} or not _grouping_ok(num, last):
            return _Recipe(reason=BAD_GROUPING)
        return _Recipe(evidence=other.get(last))
    if len(kinds) > 2:
        return _Recipe(reason=BAD_GROUPING)
    if len(kinds) == 2:
        (thousands,) = kinds - {last}
        if thousands in ".," and thousands == last or not _grouping_ok(before, thousands):
            return _Recipe(reason=BAD_GROUPING)
        return _Recipe(decimal=last, evidence=last)
    if not after or not before:
        return _Recipe(decimal=last)
    if len(after) != 3 or before == "0" or len(before) > 3:
        return _Recipe(decimal=last, evidence=last)
    return _Recipe(ambiguous=last)


def _amount_recipe(shape: str, default_currency: str | None) -> _Recipe:
    """Interpret one amount shape: digits replaced by 9, a lone 0 before a separator kept."""
    shape = _SHAPE_MINUS.sub("-", _SHAPE_SPACES.sub(" ", shape)).strip()
    if not shape:
        return _Recipe(reason=BLANK_AMOUNT)
    if shape.startswith("#"):
        return _Recipe(reason=EXCEL_ERROR)
    m = _NUMBER.match(shape)
    if m is None:
        tokens = _tokens(shape) or []
        currencies = [t for t in tokens if _currency_token(t, default_currency)]
        if tokens.count("-") == 1 and len(tokens) == 1 + len(currencies) <= 2:
            cur = _currency_token(currencies[0], default_currency) if currencies else None
            return _Recipe(zero=True, currency=cur)  # Excel's accounting zero
        if _SCIENTIFIC.match(shape):
            return _Recipe(reason=SCIENTIFIC)
        return _Recipe(reason=NOT_AN_AMOUNT)
    pre, post = _tokens(m["pre"]), _tokens(m["post"])
    if pre is None or post is None:
        return _Recipe(reason=NOT_AN_AMOUNT)
    recipe = _classify_number(m["num"])
    if recipe.reason:
        return recipe
    if post and post[0].lower() in _SCALES:
        recipe.scale = _SCALES[post[0].lower()]
        post = post[1:]
    reason = _read_marks(recipe, pre, post, default_currency)
    return _Recipe(reason=reason) if reason else recipe


def _read_marks(
    recipe: _Recipe, pre: list[str], post: list[str], default_currency: str | None
) -> str | None:
    """Signs and currency around the number into `recipe`; the reason they are bad, if so."""
    signs, currencies = [], []
    opened = closed = 0
    for position, tokens in (("pre", pre), ("post", post)):
        for token in tokens:
            currency = _currency_token(token, default_currency)
            if currency is not None:
                currencies.append(currency)
            elif token == "(" and position == "pre":
                opened += 1
            elif token == ")" and position == "post":
                closed += 1
            elif token == "-" or (token == "+" and position == "pre"):
                signs.append(token)
            elif token in ("(", ")"):
                return BAD_PARENS
            elif token == "+":
                return TWO_SIGNS
            elif len(token) == 3 and token.isascii() and token.isalpha() and token.isupper():
                return UNKNOWN_CODE
            else:
                return TEXT_IN_AMOUNT
    if opened != closed or opened > 1:
        return BAD_PARENS
    if len(signs) + opened > 1:
        return TWO_SIGNS
    if len({(c.code, c.family) for c in currencies}) > 1:
        return TWO_CURRENCIES
    recipe.negative = opened == 1 or signs == ["-"]
    recipe.currency = currencies[0] if currencies else None
    return None


def _resolve_ambiguous(recipes: list[_Recipe], counts: np.ndarray) -> list[str]:
    """Give ambiguous shapes (1.234) the column's dominant decimal mark; warnings."""
    weight = {".": 0, ",": 0}
    for recipe, count in zip(recipes, counts, strict=True):
        if recipe.evidence and not recipe.reason:
            weight[recipe.evidence] += int(count)
    warnings, guessed = [], 0
    for recipe, count in zip(recipes, counts, strict=True):
        sep = recipe.ambiguous
        if sep is None or recipe.reason:
            continue
        other = "," if sep == "." else "."
        if weight[sep] > weight[other]:
            recipe.decimal = sep
        elif weight[sep] == weight[other] == 0:
            guessed += int(count)
    if guessed:
        warnings.append(
            f"{guessed} amount(s) with one separator followed by three digits (like 1.234 or "
            "12,345) were read as thousands (1234.00, 12345.00): the file shows no decimal mark "
            "to decide by; check them"
        )
    return warnings


def _utf8(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(bytes, offsets from 0) of a string array without nulls: numpy views, no copy."""
    _, offsets_buffer, data_buffer = arr.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer else np.zeros(0, np.uint8)
    return data[offsets[0] : offsets[-1]], offsets - offsets[0]


def _shapes(data: np.ndarray, offsets: np.ndarray) -> pa.Array:
    """Each value with its digits replaced by 9, except a 0 that is a whole integer part
    before a separator (0.123 is never thousands), which stays 0. Same byte lengths."""
    shaped = np.where((data - np.uint8(48)) < 10, np.uint8(57), data)
    zeros = np.flatnonzero((data[:-1] == 48) & ((data[1:] == 46) | (data[1:] == 44)))
    if len(zeros):
        row = np.searchsorted(offsets, zeros, side="right") - 1
        zeros = zeros[zeros + 1 < offsets[row + 1]]  # the separator is in the same value
        start = offsets[np.searchsorted(offsets, zeros, side="right") - 1]
        prev = np.where(zeros > start, data[np.maximum(zeros - 1, 0)], 0)
        before = np.where(zeros > start + 1, data[np.maximum(zeros - 2, 0)], 0)
        grouped = (prev == 32) & ((before - np.uint8(48)) < 10)  # 1 000,50
        in_number = ((prev - np.uint8(48)) < 10) | np.isin(prev, _SEPS) | grouped
        shaped[zeros[~in_number]] = 48
    return pa.StringArray.from_buffers(
        len(offsets) - 1, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(shaped)
    )


def _digit_places(shape: bytes, recipe: _Recipe) -> tuple[np.ndarray, np.ndarray] | None:
    """(byte positions of the number's digits in amounts of this shape, the power of ten of
    cents each digit is worth: its place, shifted by a k/M/bn scale); None: nothing to sum."""
    if recipe.reason or recipe.zero:
        return None
    digits = [i for i, b in enumerate(shape) if b in b"09"]
    mark = shape.rfind(recipe.decimal.encode()) if recipe.decimal else len(shape)
    integer = [i for i in digits if i < mark]
    fraction = [i for i in digits if i > mark]
    shift = recipe.scale + 2
    powers = [len(integer) - 1 - k + shift for k in range(len(integer))]
    powers += [shift - j for j in range(1, len(fraction) + 1)]
    return np.array(integer + fraction, dtype=np.int64), np.array(powers, dtype=np.int64)


def _cents(
    data: np.ndarray,
    offsets: np.ndarray,
    indices: np.ndarray,
    places: list[tuple[np.ndarray, np.ndarray] | None],
) -> tuple[np.ndarray, np.ndarray]:
    """(magnitude in cents rounded half-up, beyond numeric(18,2)) per row. Rows of one shape
    have their digits at the same byte positions: per shape, one gather of a rows x digits
    matrix and one product with what each digit is worth."""
    cents = np.zeros(len(indices), dtype=np.int64)
    beyond = np.zeros(len(indices), dtype=bool)
    order = np.argsort(indices, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(np.bincount(indices, minlength=len(places)))))
    starts = offsets[:-1].astype(np.int64)
    for k, place in enumerate(places):
        if place is None or bounds[k] == bounds[k + 1]:
            continue
        rows = order[bounds[k] : bounds[k + 1]]
        base = starts[rows][:, None]
        positions, powers = place
        counted = (powers >= 0) & (powers <= 17)
        if counted.any():
            digits = data[base + positions[counted]].astype(np.int64) - 48
            cents[rows] = digits @ (10 ** powers[counted])
        half = positions[powers == -1]  # the digit that rounds half-up
        if len(half):
            cents[rows] += data[base[:, 0] + half[0]] >= 53
        high = positions[powers >= 18]  # a nonzero digit there is beyond numeric(18,2)
        if len(high):
            beyond[rows] = (data[base + high] != 48).any(axis=1)
    return cents, beyond | (cents > MAX_CENTS)


def format_cents(cents: np.ndarray, negative: np.ndarray) -> pa.Array:
    """Signed cents as text with exactly two decimals ('-1234.50'; never '-0.00')."""
    whole = pc.cast(pa.array(cents // 100), pa.string())
    part = pc.utf8_lpad(pc.cast(pa.array(cents % 100), pa.string()), 2, "0")
    sign = pc.if_else(pa.array(negative & (cents != 0)), "-", "")
    return pc.binary_join_element_wise(sign, whole, ".", part, "")


@dataclass
class _Amounts:
    text: pa.Array  # '1234.50' or null
    reason: pa.Array  # why the amount is bad, or null
    currency: pa.Array  # the amount's own currency, or null
    family: pa.Array  # the shared symbol the currency came from ('$', '¥', 'kr'), or null
    warnings: list[str]


@dataclass
class _Shaped:
    data: np.ndarray  # the column's UTF-8 bytes
    offsets: np.ndarray  # where each row's bytes start (and the last one ends)
    indices: np.ndarray  # row -> distinct shape
    shapes: list[bytes]
    recipes: list[_Recipe]
    counts: np.ndarray  # rows per distinct shape


def _shape_column(values: pa.Array, default_currency: str | None) -> _Shaped:
    arr = pc.fill_null(values, "")
    data, offsets = _utf8(arr)
    encoded = pc.dictionary_encode(_shapes(data, offsets))
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    shapes = encoded.dictionary.to_pylist()
    recipes = [_amount_recipe(s, default_currency) for s in shapes]
    counts = np.bincount(indices, minlength=len(recipes))
    return _Shaped(data, offsets, indices, [s.encode() for s in shapes], recipes, counts)


def _suffix_share_ok(shaped: _Shaped) -> bool:
    filled = sum(
        int(c)
        for r, c in zip(shaped.recipes, shaped.counts, strict=True)
        if r.reason != BLANK_AMOUNT
    )
    suffixed = sum(int(c) for r, c in zip(shaped.recipes, shaped.counts, strict=True) if r.scale)
    return filled > 0 and suffixed >= SCALE_SHARE * filled


def uses_scale_suffixes(values: pd.Series) -> bool:
    """Whether the column clearly uses k/M/bn suffixes: at least SCALE_SHARE of its
    non-blank values carry one."""
    return _suffix_share_ok(_shape_column(_arrow(values), None))


def _amount_table(
    values: pa.Array, *, scale_allowed: bool | None, default_currency: str | None
) -> _Amounts:
    """Amounts of a column; `scale_allowed=None`: decided by uses_scale_suffixes' rule."""
    shaped = _shape_column(values, default_currency)
    recipes, indices = shaped.recipes, shaped.indices
    if scale_allowed is None:
        scale_allowed = _suffix_share_ok(shaped)
    if not scale_allowed:
        for recipe in recipes:
            if recipe.scale and not recipe.reason:
                recipe.reason = SCALE_NOT_USED
    warnings = _resolve_ambiguous(recipes, shaped.counts)
    places = [_digit_places(s, r) for s, r in zip(shaped.shapes, recipes, strict=True)]
    negative = np.array([r.negative for r in recipes], dtype=bool)[indices]
    ok = np.array([r.reason is None for r in recipes], dtype=bool)[indices]
    cents, beyond = _cents(shaped.data, shaped.offsets, indices, places)
    beyond &= ok
    cents[~ok | beyond] = 0
    text = pc.if_else(pa.array(ok & ~beyond), format_cents(cents, negative), None)
    reasons = _take_strings([r.reason for r in recipes], indices)
    codes = [r.currency.code if r.currency else None for r in recipes]
    families = [r.currency.family if r.currency else None for r in recipes]
    return _Amounts(
        text=text,
        reason=pc.if_else(pa.array(beyond), OUT_OF_RANGE, reasons),
        currency=_take_strings(codes, indices),
        family=_take_strings(families, indices),
        warnings=warnings,
    )


def normalize_amounts(
    values: pd.Series, *, scale_suffixes_allowed: bool, default_currency: str | None = None
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(amount as text with two decimals or missing, the amount's own currency or missing,
    bad) per value. Text, not float: '0.10' stays exact and goes straight into numeric(18,2).
    `default_currency` only resolves shared symbols ('$' means it when it is a dollar)."""
    table = _amount_table(
        _arrow(values), scale_allowed=scale_suffixes_allowed, default_currency=default_currency
    )
    unresolved = pc.and_(pc.is_valid(table.family), pc.is_null(table.currency))
    bad = pc.or_(pc.is_valid(table.reason), unresolved).to_numpy(zero_copy_only=False)
    amounts = pc.if_else(pa.array(bad), None, table.text)
    return (
        _series(amounts, values.index),
        _series(table.currency, values.index),
        pd.Series(bad, index=values.index),
    )


# ---------------------------------------------------------------------------------------------
# Currency column


def _currency_cell(text: str, default_currency: str | None) -> tuple[str | None, str | None]:
    """A currency column cell -> (ISO code or None when blank, reason it is bad)."""
    if not text:
        return None, None
    currency = _currency_token(text.strip(), default_currency, any_case=True)
    if currency is None:
        return None, UNKNOWN_CURRENCY
    if currency.code is None:
        users = ", ".join(sorted(_SYMBOLS[currency.family][1]))
        return None, SHARED_SYMBOL.format(users)
    return currency.code, None


# ---------------------------------------------------------------------------------------------
# The whole long frame


@dataclass
class NormalizedRows:
    """`frame`: the accepted rows (department, sub_category, fiscal_period, budgeted_amount as
    text with two decimals, currency, source_row, source_column), str dtype, a fresh index.
    `errors`: every rejected cell (a row can have several). `rejected_count`: how many long
    rows were rejected (a wide file's row holds one long row per period column)."""

    frame: pd.DataFrame
    errors: list[RowError] = field(default_factory=list)
    rejected_count: int = 0
    warnings: list[str] = field(default_factory=list)


def _column(frame: pd.DataFrame, name: str) -> pa.Array:
    if name in frame.columns:
        return _arrow(frame[name])
    return pa.nulls(len(frame), pa.string())


def _errors(
    bad: np.ndarray,
    rows: np.ndarray,
    columns: pa.Array | str,
    values: pa.Array,
    reasons: pa.Array | list[str] | str,
) -> list[tuple[int, str, str, str]]:
    """(row, column, value, message) of every bad row; `columns` and `reasons` per row, or
    one for all (`reasons` also per bad row)."""
    where = pa.array(np.flatnonzero(bad), pa.int64())
    if isinstance(reasons, pa.Array):
        messages = reasons.take(where).to_pylist()
    else:
        messages = [reasons] * len(where) if isinstance(reasons, str) else reasons
    names = [columns] * len(where) if isinstance(columns, str) else columns.take(where).to_pylist()
    return list(
        zip(
            rows[bad].tolist(),
            names,
            pc.fill_null(values.take(where), "").to_pylist(),
            messages,
            strict=True,
        )
    )


def _currency_disagreements(
    column_currency: pa.Array, amounts: _Amounts
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(conflict, unresolved, messages of the unresolved rows): the currency column against
    the amount's own currency. A shared symbol ('$') agrees with any currency that uses it."""
    has_column = pc.is_valid(column_currency).to_numpy(zero_copy_only=False)
    shared = pc.is_valid(amounts.family).to_numpy(zero_copy_only=False)
    unresolved_symbol = shared & pc.is_null(amounts.currency).to_numpy(zero_copy_only=False)
    differs = pc.fill_null(pc.not_equal(column_currency, amounts.currency), False)
    suspect = np.flatnonzero(
        differs.to_numpy(zero_copy_only=False) | (has_column & unresolved_symbol)
    )
    conflict = np.zeros(len(has_column), dtype=bool)
    where = pa.array(suspect, pa.int64())
    for i, code, family in zip(
        suspect.tolist(),
        column_currency.take(where).to_pylist(),
        amounts.family.take(where).to_pylist(),
        strict=True,
    ):
        conflict[i] = family is None or code not in _SYMBOLS[family][1]
    unresolved = unresolved_symbol & ~has_column
    families = amounts.family.take(pa.array(np.flatnonzero(unresolved), pa.int64())).to_pylist()
    messages = [SHARED_SYMBOL.format(", ".join(sorted(_SYMBOLS[f][1]))) for f in families]
    return conflict, unresolved, messages


def _sorted_errors(found: list[list[tuple[int, str, str, str]]]) -> list[RowError]:
    """By row, then field (the order of `found`); identical errors once (a wide file's blank
    department is one error, not one per period column)."""
    keyed = sorted(
        ((row, rank, i), (row, column, value, message))
        for rank, errors in enumerate(found)
        for i, (row, column, value, message) in enumerate(errors)
    )
    unique = dict.fromkeys(error for _, error in keyed)
    return [RowError(*error) for error in unique]


def normalize(
    long_frame: pd.DataFrame,
    *,
    fiscal_year_start_month: int,
    default_currency: str,
    default_year: int | None = None,
    columns: Mapping[str, str | None] | None = None,
) -> NormalizedRows:
    """Normalise `to_long()`'s rows (module docstring). `columns` maps a field to the file's
    header (ColumnMapping.columns()) so errors name the file's columns; amounts are reported
    under each row's source_column, and so are periods of a wide file (the period header)."""
    missing = [c for c in LONG_COLUMNS if c not in long_frame.columns]
    if missing:
        raise ValueError(f"long-form rows lack column(s) {missing}; expected {LONG_COLUMNS}")
    default_currency = default_currency.strip().upper()
    if default_currency not in ISO_4217:
        raise ValueError(f"default_currency {default_currency!r} is not an ISO 4217 code")
    names = {k: v for k, v in (columns or {}).items() if v}
    rows = long_frame["source_row"].to_numpy(dtype=np.int64)
    source_column = pc.fill_null(_column(long_frame, "source_column"), "")

    def named(field_name: str) -> str:
        return names.get(field_name, field_name)

    department_raw = _column(long_frame, "department")
    department = _clean_text(department_raw)
    department_bad = pc.equal(department, "").to_numpy(zero_copy_only=False)
    sub_category = _clean_text(_column(long_frame, "sub_category"))
    sub_category = pc.if_else(pc.equal(sub_category, ""), None, sub_category)

    period_raw = _column(long_frame, "period_raw")
    period, period_reason = _period_table(period_raw, fiscal_year_start_month, default_year)
    period_bad = pc.is_valid(period_reason).to_numpy(zero_copy_only=False)
    if "fiscal_period" in names:
        period_column = named("fiscal_period")
    else:  # a wide file's period is its column header
        is_header = pc.fill_null(pc.equal(period_raw, source_column), False)
        period_column = pc.if_else(
            is_header, source_column, pa.scalar(named("fiscal_period"), pa.string())
        )

    amount_raw = _column(long_frame, "amount_raw")
    amounts = _amount_table(amount_raw, scale_allowed=None, default_currency=default_currency)
    amount_bad = pc.is_valid(amounts.reason).to_numpy(zero_copy_only=False)

    currency_raw = _column(long_frame, "currency_raw")
    indices, cells = _map_distinct(currency_raw, lambda v: _currency_cell(v, default_currency))
    column_currency = _take_strings([c[0] for c in cells], indices)
    column_reason = _take_strings([c[1] for c in cells], indices)
    column_bad = pc.is_valid(column_reason).to_numpy(zero_copy_only=False)
    conflict, unresolved, unresolved_messages = _currency_disagreements(column_currency, amounts)
    conflict &= ~column_bad
    currency = pc.coalesce(column_currency, amounts.currency, default_currency)

    errors = _sorted_errors(
        [
            _errors(department_bad, rows, named("department"), department_raw, BLANK_DEPARTMENT),
            _errors(period_bad, rows, period_column, period_raw, period_reason),
            _errors(amount_bad, rows, source_column, amount_raw, amounts.reason),
            _errors(unresolved, rows, source_column, amount_raw, unresolved_messages),
            _errors(column_bad, rows, named("currency"), currency_raw, column_reason),
            _errors(conflict, rows, named("currency"), currency_raw, CURRENCY_CONFLICT),
        ]
    )
    rejected = department_bad | period_bad | amount_bad | unresolved | column_bad | conflict
    any_rejected = bool(rejected.any())
    keep = pa.array(~rejected)

    def kept(values: pa.Array) -> pd.Series:  # no copy when every row is accepted
        return pd.Series(values.filter(keep) if any_rejected else values, dtype="str")

    frame = pd.DataFrame(
        {
            "department": kept(department),
            "sub_category": kept(sub_category),
            "fiscal_period": kept(period),
            "budgeted_amount": kept(amounts.text),
            "currency": kept(currency),
            "source_row": rows[~rejected] if any_rejected else rows,
            "source_column": kept(source_column),
        }
    )
    return NormalizedRows(frame, errors, int(rejected.sum()), amounts.warnings)
