"""The Great Expectations gate on normalised budget rows, the sync's decision, the reject file.

`check(rows)` runs the suite `budget_rows` (SUITE, through finsync.gate) on the rows
normalize() accepted and returns the rows that pass, every rejected row (all of them, not a
sample) and warnings. Rules:

- required fields present: department (not blank), fiscal_period, budgeted_amount, currency;
- budgeted_amount is a number within numeric(18,2) written with two decimals (AMOUNT_PATTERN);
- fiscal_period is canonical (PERIOD_PATTERN);
- currency is an active ISO 4217 code (ISO_4217);
- one row per budget key (department, sub_category with missing equal to missing,
  fiscal_period): rows repeating another row exactly (same amount and currency) are collapsed
  into the first with a warning; when a key's rows disagree on the amount or currency, every
  row of that key is rejected, since none of them can be trusted to be the budget.

`decide()` turns error counts into success / partial / failed under the customer's
tolerance; `write_reject_file()` writes the CSV a person downloads.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

from finsync.budget.currencies import ISO_4217
from finsync.budget.model import BUDGET_COLUMNS, RowError
from finsync.gate import Check, GateError, GateFailure, run

SUITE = "budget_rows"
PERIOD_PATTERN = r"^FY[0-9]{4}(?:-Q[1-4]|-M(?:0[1-9]|1[0-2]))?$"  # groups not captured
AMOUNT_PATTERN = r"^-?[0-9]{1,16}\.[0-9]{2}$"
# A character that is not whitespace: Python's \S, spelled as the class of every character
# str.isspace() accepts, so pandas runs it in Arrow (RE2) instead of falling back to Python's
# re row by row (RE2's \s differs, so pandas never hands \S to it).
NOT_BLANK_PATTERN = (
    r"[^\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0" + "\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
)
KEY = ("department", "sub_category", "fiscal_period")
FIELDS = BUDGET_COLUMNS  # a budget row's columns (model.py)
LINE = "_line"  # position of a row in the frame given to check(): GX reports failures by it

# (expectation, column) -> the message a person reads for each failing row
MESSAGES = {
    ("expect_column_values_to_not_be_null", "department"): "department is missing",
    ("expect_column_values_to_match_regex", "department"): "department is blank",
    ("expect_column_values_to_match_regex", "sub_category"): (
        "sub-category is an empty string; leave it missing instead"
    ),
    ("expect_column_values_to_not_be_null", "fiscal_period"): "fiscal period is missing",
    ("expect_column_values_to_match_regex", "fiscal_period"): (
        "fiscal period is not canonical (FY2025, FY2025-Q1 or FY2025-M01)"
    ),
    ("expect_column_values_to_not_be_null", "budgeted_amount"): "amount is missing",
    ("expect_column_values_to_match_regex", "budgeted_amount"): (
        "amount is not a number with two decimals within numeric(18,2) "
        "(at most 16 digits before the decimal point)"
    ),
    ("expect_column_values_to_not_be_null", "currency"): "currency is missing",
    ("expect_column_values_to_be_in_set", "currency"): (
        "currency is not an active ISO 4217 code (e.g. USD, EUR, GBP)"
    ),
}
DUPLICATE = (
    "duplicate budget (also {}): same department, sub-category and fiscal period with a "
    "different amount or currency, so every row of this budget is rejected; keep one row"
)
EXAMPLES = 20


def suite() -> list[Check]:
    """The expectations, in the order failures are reported."""
    return [
        Check("not_null", "department"),
        Check("match_regex", "department", {"regex": NOT_BLANK_PATTERN}),
        Check("match_regex", "sub_category", {"regex": NOT_BLANK_PATTERN}),
        Check("not_null", "fiscal_period"),
        Check("match_regex", "fiscal_period", {"regex": PERIOD_PATTERN}),
        Check("not_null", "budgeted_amount"),
        Check("match_regex", "budgeted_amount", {"regex": AMOUNT_PATTERN}),
        Check("not_null", "currency"),
        Check("in_set", "currency", {"value_set": sorted(ISO_4217)}),
        Check("compound_unique", kwargs={"column_list": list(KEY)}),
    ]


@dataclass
class GateResult:
    """`valid`: the rows to import (exact duplicates collapsed), a fresh index. `errors`: every
    rejected row with row, column, value and reason. `rejected_count`: rows rejected.
    `lines`: each valid row's position in the rows given to check()."""

    valid: pd.DataFrame
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rejected_count: int = 0
    lines: np.ndarray | None = None


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _column_names(frame: pd.DataFrame, columns: dict[str, str | None] | None) -> dict[str, list]:
    """The file's column per field and row (amounts: the row's source_column)."""
    names = {k: v for k, v in (columns or {}).items() if v}
    n = len(frame)
    out = {name: [names.get(name, name)] * n for name in FIELDS}
    if "source_column" in frame.columns:
        out["budgeted_amount"] = frame["source_column"].fillna("budgeted_amount").tolist()
    return out


def _key_groups(frame: pd.DataFrame) -> np.ndarray:
    return frame.groupby(list(KEY), dropna=False, sort=False).ngroup().to_numpy()


def _collapse_exact(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(is a repeat of an earlier identical row, the line of that earlier row or -1)."""
    subset = [*KEY, "budgeted_amount", "currency"]
    repeat = frame.duplicated(subset=subset, keep="first").to_numpy()
    twin = np.full(len(frame), -1)
    if repeat.any():
        groups = frame.groupby(subset, dropna=False, sort=False).ngroup().to_numpy()
        _, first = np.unique(groups, return_index=True)
        first_of_group = np.empty(groups.max() + 1, dtype=np.int64)
        first_of_group[np.unique(groups)] = first
        twin[repeat] = first_of_group[groups[repeat]]
    return repeat, twin


def _failure_errors(
    failures: list[GateFailure],
    frame: pd.DataFrame,
    rows: np.ndarray,
    names: dict[str, list],
) -> dict[int, list[RowError]]:
    """Errors per line from the gate's failures; a failure without rows raises GateError."""
    errors: dict[int, list[RowError]] = {}
    duplicate_lines: list[int] = []
    for failure in failures:
        if not failure.unexpected_rows:
            raise GateError([failure])
        lines = [int(entry[LINE]) for entry in failure.unexpected_rows]
        if failure.expectation == "expect_compound_columns_to_be_unique":
            duplicate_lines.extend(lines)
            continue
        column = failure.column
        if column is None:  # (the row expectations here each name their column)
            raise GateError([failure])
        message = MESSAGES.get((failure.expectation, column), failure.expectation)
        values = frame[column].to_numpy(dtype=object)
        for line in lines:
            error = RowError(int(rows[line]), names[column][line], _text(values[line]), message)
            errors.setdefault(line, []).append(error)
    if duplicate_lines:
        groups = _key_groups(frame)
        members: dict[int, list[int]] = {}
        for line in sorted(duplicate_lines):
            members.setdefault(int(groups[line]), []).append(line)
        amounts = frame["budgeted_amount"].to_numpy(dtype=object)
        amount_columns = names["budgeted_amount"]
        for line in duplicate_lines:
            column = amount_columns[line]
            others = [
                f"row {rows[o]}"
                + (f" (column {amount_columns[o]})" if amount_columns[o] != column else "")
                for o in members[int(groups[line])]
                if o != line
            ]
            more = f" and {len(others) - EXAMPLES} more" if len(others) > EXAMPLES else ""
            message = DUPLICATE.format(", ".join(others[:EXAMPLES]) + more)
            errors.setdefault(line, []).append(
                RowError(int(rows[line]), column, _text(amounts[line]), message)
            )
    return errors


def check(rows: pd.DataFrame, *, columns: dict[str, str | None] | None = None) -> GateResult:
    """Gate normalize()'s rows (module docstring). `columns` maps fields to the file's headers
    for the error report; amounts are reported under each row's source_column."""
    missing = [c for c in (*FIELDS, "source_row") if c not in rows.columns and c != "sub_category"]
    if missing:
        raise ValueError(f"rows to gate lack column(s) {missing}")
    frame = rows.reset_index(drop=True)
    if "sub_category" not in frame.columns:
        frame["sub_category"] = pd.Series([None] * len(frame), dtype="str")
    if frame.empty:
        return GateResult(frame, [], [], 0, np.arange(0))
    source_rows = frame["source_row"].to_numpy()
    repeat, twin = _collapse_exact(frame)
    any_repeat = bool(repeat.any())
    kept_lines = np.flatnonzero(~repeat) if any_repeat else np.arange(len(frame))
    # the gate's own frame: the kept rows (no copy when none repeats) and their line
    kept = frame[list(FIELDS)]  # what the suite checks: GX fingerprints every column
    kept = kept.iloc[kept_lines] if any_repeat else kept
    kept = kept.assign(**{LINE: kept_lines})
    failures = run(SUITE, kept, suite(), key_columns=[LINE])
    del kept
    names = _column_names(frame, columns) if failures else {}
    errors = _failure_errors(failures, frame, source_rows, names)
    warnings: list[str] = []
    collapsed = []
    for line in np.flatnonzero(repeat).tolist():
        origin = int(twin[line])
        if origin in errors:  # rejected with the row it repeats
            errors[line] = [
                RowError(int(source_rows[line]), e.column, e.value, e.message)
                for e in errors[origin]
            ]
        else:
            collapsed.append((int(source_rows[line]), int(source_rows[origin])))
    if collapsed:
        examples = ", ".join(f"row {r} (same as row {o})" for r, o in collapsed[:EXAMPLES])
        more = f" and {len(collapsed) - EXAMPLES} more" if len(collapsed) > EXAMPLES else ""
        warnings.append(
            f"{len(collapsed)} row(s) repeat an earlier row exactly (same department, "
            f"sub-category, fiscal period, amount and currency) and were imported once: "
            f"{examples}{more}"
        )
    rejected = np.zeros(len(frame), dtype=bool)
    rejected[list(errors)] = True
    drop = rejected | repeat
    if drop.any():
        lines = np.flatnonzero(~drop)
        valid = frame.iloc[lines].reset_index(drop=True)
    else:
        lines, valid = np.arange(len(frame)), frame
    ordered = [
        e for line in sorted(errors, key=lambda i: (source_rows[i], i)) for e in errors[line]
    ]
    return GateResult(valid, ordered, warnings, int(rejected.sum()), lines)


def decide(total_rows: int, error_rows: int, tolerance_pct: float = 0.0) -> str:
    """'success' when no row was rejected; 'partial' when some were, at most tolerance_pct %
    of total_rows, and at least one row is left to import; else 'failed'. A file without a
    single row is 'failed' (importing it would soft-delete every budget). The comparison is
    exact (1 error in 3 rows is 33.33...% and fails a 33.33 tolerance)."""
    if total_rows < 0 or not 0 <= error_rows <= total_rows:
        raise ValueError(f"need 0 <= error_rows ({error_rows}) <= total_rows ({total_rows})")
    if not 0 <= tolerance_pct <= 100:
        raise ValueError(f"tolerance_pct must be 0-100, got {tolerance_pct!r}")
    if total_rows == 0:
        return "failed"
    if error_rows == 0:
        return "success"
    within = Fraction(error_rows * 100, total_rows) <= Fraction(str(tolerance_pct))
    return "partial" if within and error_rows < total_rows else "failed"


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """A cell a spreadsheet will not run as a formula: prefixed with ' when it starts with
    = + - @ tab or carriage return (OWASP CSV injection)."""
    return "'" + text if text.startswith(FORMULA_START) else text


def write_reject_file(
    errors: list[RowError], path: str | Path, *, personal_data: bool = False
) -> Path:
    """Write the rejected rows as CSV (row, column, value, message; UTF-8 with BOM so Excel
    reads it). With `personal_data` the value column stays empty: messages never repeat
    values, so nothing from the file's cells is written."""
    path = Path(path)
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["row", "column", "value", "message"])
        for error in errors:
            value = "" if personal_data else neutralise(_text(error.value))
            writer.writerow(
                [
                    "" if error.row is None else error.row,
                    neutralise(_text(error.column)),
                    value,
                    neutralise(error.message),
                ]
            )
    return path
