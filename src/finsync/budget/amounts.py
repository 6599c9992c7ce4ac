"""Amounts as people write them, read exactly: text with two decimals from int64 cents,
never through floats.

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

Each distinct amount "shape" (digits replaced by 9) is interpreted once in Python; the per-row
work is Arrow compute and numpy on the column's UTF-8 bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from finsync.budget.cells import SPACES, string_array, take_strings
from finsync.budget.currencies import Currency, currency_token

SCALE_SHARE = 0.10
MAX_CENTS = 10**18 - 1  # numeric(18,2): 9999999999999999.99

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


def _series(arr: pa.Array, index: pd.Index) -> pd.Series:
    return pd.Series(arr, dtype="str", index=index)


_SCALES = {
    **dict.fromkeys(("k", "thousand", "thousands", "tsd"), 3),
    **dict.fromkeys(("m", "mm", "mn", "mio", "million", "millions", "millionen"), 6),
    **dict.fromkeys(("b", "bn", "bln", "billion", "billions", "mrd", "milliarde"), 9),
    "milliarden": 9,
}
_NUMBER = re.compile(r"^(?P<pre>[^09]*?)(?P<num>[.,]?[09](?:[09.,' ]*[09])?[.,]?)(?P<post>[^09]*)$")
_TOKEN = re.compile(r"\s*(\(|\)|[-+]|[^\W\d_]+\$|[^\W\d_]+|[^\s\w()+-])")
_SCIENTIFIC = re.compile(r"^[-+]?[09.,]+ ?E ?[-+]?[09]+$", re.IGNORECASE)
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
    currency: Currency | None = None


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
    shape = _SHAPE_MINUS.sub("-", SPACES.sub(" ", shape)).strip()
    if not shape:
        return _Recipe(reason=BLANK_AMOUNT)
    if shape.startswith("#"):
        return _Recipe(reason=EXCEL_ERROR)
    m = _NUMBER.match(shape)
    if m is None:
        tokens = _tokens(shape) or []
        currencies = [t for t in tokens if currency_token(t, default_currency)]
        if tokens.count("-") == 1 and len(tokens) == 1 + len(currencies) <= 2:
            cur = currency_token(currencies[0], default_currency) if currencies else None
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
            currency = currency_token(token, default_currency)
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
class Amounts:
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
    return _suffix_share_ok(_shape_column(string_array(values), None))


def amount_table(
    values: pa.Array, *, scale_allowed: bool | None, default_currency: str | None
) -> Amounts:
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
    reasons = take_strings([r.reason for r in recipes], indices)
    codes = [r.currency.code if r.currency else None for r in recipes]
    families = [r.currency.family if r.currency else None for r in recipes]
    return Amounts(
        text=text,
        reason=pc.if_else(pa.array(beyond), OUT_OF_RANGE, reasons),
        currency=take_strings(codes, indices),
        family=take_strings(families, indices),
        warnings=warnings,
    )


def normalize_amounts(
    values: pd.Series, *, scale_suffixes_allowed: bool, default_currency: str | None = None
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(amount as text with two decimals or missing, the amount's own currency or missing,
    bad) per value. Text, not float: '0.10' stays exact and goes straight into numeric(18,2).
    `default_currency` only resolves shared symbols ('$' means it when it is a dollar)."""
    table = amount_table(
        string_array(values),
        scale_allowed=scale_suffixes_allowed,
        default_currency=default_currency,
    )
    unresolved = pc.and_(pc.is_valid(table.family), pc.is_null(table.currency))
    bad = pc.or_(pc.is_valid(table.reason), unresolved).to_numpy(zero_copy_only=False)
    amounts = pc.if_else(pa.array(bad), None, table.text)
    return (
        _series(amounts, values.index),
        _series(table.currency, values.index),
        pd.Series(bad, index=values.index),
    )
