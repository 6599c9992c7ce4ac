"""Normalise a budget file's long-form rows: canonical fiscal periods, exact amounts, ISO
currencies. Every rejected row is reported as a RowError; no row is ever dropped silently.

Decisions a finance engineer must know
--------------------------------------
Periods: finsync.budget.periods (the one fiscal calendar and period parser).

Amounts: finsync.budget.amounts (every common format, exact to the cent, row errors).

Currency (per row: the currency column, else a symbol or code in the amount, else the
config's default_currency): finsync.budget.currencies.

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

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from finsync.budget.amounts import Amounts, amount_table
from finsync.budget.cells import SPACES, string_array, take_strings
from finsync.budget.currencies import ISO_4217, SHARED_SYMBOL, SYMBOLS, currency_cell, symbol_users
from finsync.budget.model import RowError
from finsync.budget.periods import period_table

LONG_COLUMNS = ("department", "period_raw", "amount_raw", "source_row", "source_column")

BLANK_DEPARTMENT = "blank department: every budget row needs a department"
CURRENCY_CONFLICT = "the currency column contradicts the currency written in the amount"


def _tidy(text: str) -> str:
    return SPACES.sub(" ", text).strip()


def _clean_text(arr: pa.Array) -> pa.Array:
    """Trimmed, every run of whitespace (no-break spaces too) one space; null -> ''. Each
    distinct value is cleaned once."""
    indices, cleaned = _map_distinct(arr, _tidy)
    return take_strings(cleaned, indices)


def _map_distinct(arr: pa.Array, parse) -> tuple[np.ndarray, list]:
    """(row -> distinct index, parse(value) per distinct value): each distinct string once."""
    encoded = pc.dictionary_encode(pc.fill_null(arr, ""))
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    return indices, [parse(value) for value in encoded.dictionary.to_pylist()]


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
    # canonical period -> the long row of its first label (budgets.period_labels reads the
    # customer's own label there, which write-back writes again)
    period_rows: dict[str, int] = field(default_factory=dict)


def _column(frame: pd.DataFrame, name: str) -> pa.Array:
    if name in frame.columns:
        return string_array(frame[name])
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
    column_currency: pa.Array, amounts: Amounts
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
        conflict[i] = family is None or code not in SYMBOLS[family][1]
    unresolved = unresolved_symbol & ~has_column
    families = amounts.family.take(pa.array(np.flatnonzero(unresolved), pa.int64())).to_pylist()
    messages = [SHARED_SYMBOL.format(symbol_users(f)) for f in families]
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
    period_rows: dict[str, int] = {}
    period, period_reason = period_table(
        period_raw, fiscal_year_start_month, default_year, period_rows
    )
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
    amounts = amount_table(amount_raw, scale_allowed=None, default_currency=default_currency)
    amount_bad = pc.is_valid(amounts.reason).to_numpy(zero_copy_only=False)

    currency_raw = _column(long_frame, "currency_raw")
    indices, cells = _map_distinct(currency_raw, lambda v: currency_cell(v, default_currency))
    column_currency = take_strings([c[0] for c in cells], indices)
    column_reason = take_strings([c[1] for c in cells], indices)
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
    return NormalizedRows(frame, errors, int(rejected.sum()), amounts.warnings, period_rows)
