"""Normalise a budget file's long-form rows: canonical fiscal periods, exact amounts, ISO
currencies. Every rejected row is reported as a RowError; no row is ever dropped silently.

Decisions a finance engineer must know
--------------------------------------
Periods: finsync.budget.periods (the one fiscal calendar and period parser).

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
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from finsync.budget.model import RowError
from finsync.budget.periods import period_table
from finsync.budget.quality import ISO_4217

SCALE_SHARE = 0.10
MAX_CENTS = 10**18 - 1  # numeric(18,2): 9999999999999999.99
LONG_COLUMNS = ("department", "period_raw", "amount_raw", "source_row", "source_column")

# ---------------------------------------------------------------------------------------------
# Messages (what is wrong, what would be accepted; never the value itself)

AMOUNT_FORMS = (
    "write a number such as 1234.56, 1,234.56, 1.234,56 or (1,234.56), optionally with a "
    "currency code or symbol (USD 1234.56, €1.234,56)"
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
    period, period_reason = period_table(period_raw, fiscal_year_start_month, default_year)
    period_bad = pc.is_valid(period_reason).to_numpy(zero_copy_only=False)
    if "fiscal_year" in names and "fiscal_period" in names:  # Year and Period cells joined
        period_column = f"{names['fiscal_year']} + {names['fiscal_period']}"
    elif "fiscal_year" in names:  # a wide file's Year column and period header
        period_column = pc.binary_join_element_wise(names["fiscal_year"], source_column, " + ")
    elif "fiscal_period" in names:
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
