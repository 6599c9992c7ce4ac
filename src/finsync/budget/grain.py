"""Grain: exports finer than the budget key, summed into one budget per key.

A budget is one (customer, department, sub-category, fiscal period). FP&A exports usually
carry more columns than that (entity, GL account, fund, program, project, line item), so a
file often has several rows per budget key. The rules (docs/budget_grain.md):

- Rows of one key that differ in any other column of the file (a *dimension*) are summed into
  one budget. A column holding a single value throughout the file is not a dimension, nor is
  a measure (another numeric column such as Amendments or Forecast), nor a mapped column.
- Rows of one key that differ in nothing but the amount are a *conflict*: every row of that
  key is rejected, row by row, unless the customer's config says `duplicates: sum`.
- Rows repeating another row exactly (same key, dimensions, amount and currency) are imported
  once, with a warning.
- Rows of one key in two currencies are a conflict: summing never hides a currency conflict.
- A scenario or version column with several values (Budget, Forecast, Actual; Working, Final)
  is never summed: the budget scenario is kept (the config's `scenario` names it), else the
  file needs a person.

Everything is set-based (pandas group-by on the rows that share a key); a file whose rows
are already one per key pays one `duplicated()` pass and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from finsync.budget.amounts import MAX_CENTS, normalize_amounts
from finsync.budget.cells import non_blank, number_ratio
from finsync.budget.headers import ACTUAL_WORDS, BUDGET_WORDS, VARIANCE_WORDS, fold_text
from finsync.budget.model import ColumnMapping, ParsedFile, RowError
from finsync.budget.normalize import NormalizedRows, normalize

KEY = ("department", "sub_category", "fiscal_period")
EXAMPLES = 20

SCENARIO_HEADER_WORDS = frozenset(
    "scenario scenarios version versions ledger plantype szenario escenario".split()
)
SCENARIO_HEADER_PHRASES = (
    "plan type",
    "budget type",
    "budget version",
    "data type",
    "category type",
)
# Values that name a scenario or version; the first group is what "the budget" means.
BUDGET_SCENARIO_WORDS = frozenset(
    "budget budgets budgeted bud bgt plan planned adopted approved original aob".split()
)
OTHER_SCENARIO_WORDS = frozenset(
    "actual actuals act forecast fcst fc outlook estimate projection prior py ly ytd variance"
    " working draft final proposed submitted revised amended target stretch best worst case"
    " v1 v2 v3 version current baseline latest".split()
)
MEASURE_WORDS = (
    BUDGET_WORDS
    | ACTUAL_WORDS
    | VARIANCE_WORDS
    | frozenset(
        "amount amounts amt value total totals cost costs price qty quantity units fte hours"
        " balance ytd sum importe monto betrag".split()
    )
)
IDENTIFIER_WORDS = frozenset(
    "code id no nr num number fund account acct gl cost center centre dept department org"
    " program programme project entity unit object line key ref subsidiary company".split()
)

CONFLICT = (
    "conflicting budget rows (also {}): same department, sub-category and fiscal period, "
    "and nothing else in the file tells them apart, but the amounts differ, so every row of "
    "this budget is rejected; keep one row, add the column that tells them apart, or set the "
    "config's duplicates to 'sum'"
)
TWO_CURRENCIES = (
    "rows of one budget in more than one currency ({}; also {}): they cannot be summed, so "
    "every row of this budget is rejected; export one currency per budget"
)
SUM_TOO_LARGE = "the sum of this budget's rows is beyond numeric(18,2) (16 digits before the point)"
INCOMPLETE = (
    "another row of this budget ({}) was rejected, so its sum would be incomplete; this "
    "budget is not imported until that row is fixed"
)


@dataclass
class Scenario:
    column: str
    kept: str | None  # None: could not decide (the file needs a person)
    values: list[str]
    dropped_rows: int = 0


@dataclass
class GrainReport:
    """What the sync did to the file's grain (sync_history.grain, the run summary, the page,
    `finsync analyze`)."""

    rows_in: int = 0  # budget lines that reached grain (a wide file: one per row and period)
    budgets_out: int = 0  # budgets after summing
    summed_budgets: int = 0  # budgets made of more than one row
    summed_columns: list[str] = field(default_factory=list)  # the dimensions summed away
    constant_columns: list[str] = field(default_factory=list)
    scenario: dict[str, Any] | None = None  # {column, kept, values, dropped_rows}
    other_scenarios: list[dict[str, Any]] = field(default_factory=list)  # a second one (Version)
    conflicts: int = 0  # budget keys rejected as conflicts
    repeated_rows: int = 0  # exact repeats imported once
    dropped_rows: dict[str, int] = field(default_factory=dict)  # total/blank rows of the file
    warnings: list[str] = field(default_factory=list)  # repeats, total columns that disagree

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """'1,200 rows -> 84 budgets (summed over Fund, Account Type)' for logs and messages."""
        text = f"{self.rows_in:,} row(s) -> {self.budgets_out:,} budget(s)"
        if self.summed_columns:
            text += f" (summed over {', '.join(self.summed_columns)})"
        if self.scenario and self.scenario.get("kept"):
            text += (
                f"; scenario {self.scenario['column']}={self.scenario['kept']!r} kept, "
                f"{self.scenario['dropped_rows']:,} other row(s) left out"
            )
        return text


# ---------------------------------------------------------------------------------------------
# Scenario / version columns


def _words(text: str) -> set[str]:
    return set(fold_text(text).split())


def _is_scenario_header(name: str) -> bool:
    folded = fold_text(name)
    return bool(set(folded.split()) & SCENARIO_HEADER_WORDS) or any(
        phrase in folded for phrase in SCENARIO_HEADER_PHRASES
    )


def _scenario_value_share(values: list[str]) -> float:
    known = BUDGET_SCENARIO_WORDS | OTHER_SCENARIO_WORDS
    hits = [v for v in values if _words(v) and _words(v) <= known | {"fy", "case"}]
    return len(hits) / len(values) if values else 0.0


def find_scenarios(
    parsed: ParsedFile, mapping: ColumnMapping, preferred: str | None = None
) -> list[Scenario]:
    """Every scenario/version column with several values (a file may have both, Scenario and
    Version), each with the value to keep: `preferred` (the config's `scenario`) where the
    column holds it, else the one value that means budget, else None (a person decides)."""
    mapped = {c for c in mapping.columns().values() if c}
    frame = parsed.frame
    found: list[Scenario] = []
    for name in frame.columns:
        if name in mapped or name in parsed.period_columns:
            continue
        values = non_blank(frame[name])
        distinct = [str(v).strip() for v in values.unique()[:50]]
        if len(distinct) < 2 or len(distinct) > 12:
            continue
        by_header = _is_scenario_header(str(name))
        share = _scenario_value_share(distinct)
        if not ((by_header and share >= 0.5) or share == 1.0):
            continue
        scenario = Scenario(str(name), None, sorted(distinct))
        wanted = (preferred or "").strip().casefold()
        match = [v for v in scenario.values if v.casefold() == wanted]
        budget = [v for v in scenario.values if _words(v) & BUDGET_SCENARIO_WORDS]
        if match:
            scenario.kept = match[0]
        elif len(budget) == 1:
            scenario.kept = budget[0]
        found.append(scenario)
    return found


def keep_scenario(parsed: ParsedFile, scenario: Scenario) -> ParsedFile:
    """`parsed` with only the rows of the kept scenario (a new ParsedFile; rows renumbered
    in the frame, file row numbers kept)."""
    if scenario.kept is None:
        raise ValueError("no scenario to keep")
    cells = parsed.frame[scenario.column].astype("str").str.strip()
    keep = (cells == scenario.kept).to_numpy(dtype=bool)
    scenario.dropped_rows = int((~keep).sum())
    rows = np.asarray(parsed.source_rows, dtype=np.int64)
    kept_frame = parsed.frame.loc[keep].reset_index(drop=True)
    return ParsedFile(
        **{
            **parsed.__dict__,
            "frame": kept_frame,
            "source_rows": rows[keep].tolist() if len(rows) else [],
        }
    )


def scenario_problem(scenario: Scenario, preferred: str | None) -> str:
    values = ", ".join(repr(v) for v in scenario.values)
    if preferred and not any(v.casefold() == preferred.casefold() for v in scenario.values):
        return (
            f"the config keeps scenario {preferred!r}, but column {scenario.column!r} holds "
            f"only {values}; name one of them as the config's scenario"
        )
    return (
        f"column {scenario.column!r} holds several scenarios or versions ({values}) and none "
        "of them is plainly the budget; scenarios are never summed, so name the one to import "
        "as the config's scenario (source_config.scenario)"
    )


# ---------------------------------------------------------------------------------------------
# Dimensions


def _is_measure(name: str, values: pd.Series) -> bool:
    """Another amount column (Amendments, Forecast, Total), not a code (GL 6100, Fund 1010,
    Segment 2 = 0400): numbers written as money, or a measure's header, or integers of varying
    length under a header that names no identifier."""
    values = non_blank(values.head(2_000))
    if values.empty or number_ratio(values) < 0.9:
        return False
    words = _words(name)
    if words & MEASURE_WORDS:
        return True
    text = values.astype("str").str.strip()
    if text.str.contains(r"[.,()\-$€£¥]|\s", regex=True).mean() > 0.1:
        return True  # money-like: separators, decimals, signs, symbols
    digits_only = bool(text.str.fullmatch(r"\d+").all())
    lengths = text.str.len()
    code_like = digits_only and (
        bool(words & IDENTIFIER_WORDS)
        or (lengths.min() == lengths.max() and lengths.min() >= 2)
        or bool(text.str.startswith("0").any())
    )
    return not code_like


def dimension_columns(
    parsed: ParsedFile, mapping: ColumnMapping, scenarios: Sequence[Scenario] = ()
) -> tuple[list[str], list[str]]:
    """(dimensions, constant columns): the file's other columns that can tell two rows of
    one budget apart, and those holding a single value throughout."""
    excluded = {c for c in mapping.columns().values() if c}
    excluded |= set(parsed.period_columns) | set(parsed.total_columns)
    excluded |= {s.column for s in scenarios}
    frame = parsed.frame
    dims: list[str] = []
    constants: list[str] = []
    for name in frame.columns:
        if name in excluded:
            continue
        column = frame[name]
        distinct = column.nunique(dropna=False)
        if distinct <= 1:
            constants.append(str(name))
            continue
        if _is_measure(str(name), column):
            continue
        dims.append(str(name))
    return dims, constants


# ---------------------------------------------------------------------------------------------
# Summing


def _cents(amounts: pd.Series) -> np.ndarray:
    """'-1234.50' -> -123450 (normalised amounts always have two decimals)."""
    return amounts.str.replace(".", "", regex=False).astype("int64").to_numpy()


def _format(cents: np.ndarray) -> pd.Series:
    magnitude = np.abs(cents)
    whole = pd.Series(magnitude // 100).astype("str")
    part = pd.Series(magnitude % 100).astype("str").str.zfill(2)
    sign = pd.Series(np.where(cents < 0, "-", ""))
    return (sign + whole + "." + part).astype("str")


def _row_names(rows: np.ndarray) -> str:
    shown = ", ".join(f"row {int(r)}" for r in rows[:EXAMPLES])
    more = f" and {len(rows) - EXAMPLES} more" if len(rows) > EXAMPLES else ""
    return shown + more


@dataclass
class Summed:
    rows: pd.DataFrame  # one row per budget key (columns as normalize() gives them)
    errors: list[RowError]
    warnings: list[str]
    report: GrainReport


def aggregate(
    rows: pd.DataFrame,
    *,
    dims: pd.DataFrame | None,
    file_rows: np.ndarray | None,
    sum_duplicates: bool = False,
    report: GrainReport | None = None,
    amount_column: str | None = None,
) -> Summed:
    """Sum normalize()'s accepted rows to one per budget key (module docstring).

    `dims`: the file's dimension columns, one row per file data row, aligned with
    `file_rows` (the 1-based file row numbers, ascending); `rows.source_row` points into it.
    """
    report = report or GrainReport()
    report.rows_in = len(rows)
    frame = rows.reset_index(drop=True)
    if frame.empty:
        report.budgets_out = 0
        return Summed(frame, [], [], report)
    shared = frame.duplicated(list(KEY), keep=False).to_numpy()
    if not shared.any():  # one row per budget already: nothing to do
        report.budgets_out = len(frame)
        return Summed(frame, [], [], report)

    lines = np.flatnonzero(shared)
    sub = frame.iloc[lines].reset_index(drop=True)
    group = sub.groupby(list(KEY), dropna=False, sort=False).ngroup().to_numpy()
    if dims is not None and len(dims.columns) and file_rows is not None:
        at = np.searchsorted(file_rows, sub["source_row"].to_numpy(dtype=np.int64))
        dim_rows = dims.iloc[at].reset_index(drop=True)
        signature = pd.util.hash_pandas_object(dim_rows, index=False).to_numpy()
    else:
        dim_rows = None
        signature = np.zeros(len(sub), dtype=np.uint64)
    source_rows = sub["source_row"].to_numpy(dtype=np.int64)
    amount_names = (
        sub["source_column"].fillna(amount_column or "budgeted_amount").tolist()
        if "source_column" in sub.columns
        else [amount_column or "budgeted_amount"] * len(sub)
    )
    errors: list[RowError] = []
    warnings: list[str] = []
    rejected = np.zeros(len(sub), dtype=bool)

    def reject(mask: np.ndarray, message_of) -> None:
        for i in np.flatnonzero(mask & ~rejected).tolist():
            errors.append(
                RowError(
                    int(source_rows[i]),
                    amount_names[i],
                    str(sub.at[i, "budgeted_amount"]),
                    message_of(i),
                )
            )
        rejected[mask] = True

    # two currencies under one key: never summed
    currency = sub["currency"].astype("str").to_numpy()
    currencies = pd.Series(currency).groupby(group)
    mixed_groups = currencies.nunique().to_numpy() > 1
    # each key's rows, for messages: one sort, then a slice per key (never a scan per row)
    by_group = np.argsort(group, kind="stable")
    starts = np.searchsorted(group[by_group], np.arange(group.max() + 2))

    def members(g: int) -> np.ndarray:
        return by_group[starts[g] : starts[g + 1]]

    def others(i: int) -> str:  # the other rows of row i's budget key
        rows_of_key = source_rows[members(int(group[i]))]
        return _row_names(rows_of_key[rows_of_key != source_rows[i]])

    if mixed_groups.any():
        mixed = mixed_groups[group]
        reject(
            mixed,
            lambda i: TWO_CURRENCIES.format(
                ", ".join(sorted(set(currency[members(int(group[i]))]))),
                others(i),
            ),
        )
        report.conflicts += int(mixed_groups.sum())

    # exact repeats (same key, dimensions, amount and currency): imported once
    keys = pd.DataFrame(
        {
            "g": group,
            "s": signature,
            "a": sub["budgeted_amount"].to_numpy(),
            "c": currency,
        }
    )
    # (with duplicates: sum, two identical lines are two lines: both are summed)
    repeat = np.zeros(len(sub), dtype=bool)
    if not sum_duplicates:
        repeat = keys.duplicated(keep="first").to_numpy() & ~rejected
    if repeat.any():
        report.repeated_rows = int(repeat.sum())
        first = keys.groupby(["g", "s", "a", "c"], sort=False).ngroup().to_numpy()
        origin = pd.Series(np.arange(len(sub))).groupby(first).transform("first").to_numpy()
        pairs = [
            f"row {source_rows[i]} (same as row {source_rows[origin[i]]})"
            for i in np.flatnonzero(repeat)[:EXAMPLES]
        ]
        more = f" and {int(repeat.sum()) - EXAMPLES} more" if repeat.sum() > EXAMPLES else ""
        warnings.append(
            f"{int(repeat.sum())} row(s) repeat an earlier row exactly (same department, "
            f"sub-category, fiscal period, every other column, amount and currency) and were "
            f"imported once: {', '.join(pairs)}{more}"
        )
    live = ~rejected & ~repeat

    # rows of one key that nothing else tells apart: a conflict (unless the config sums)
    if not sum_duplicates:
        same = keys.loc[live, ["g", "s"]].duplicated(keep=False).to_numpy()
        clash_rows = np.flatnonzero(live)[same]
        if len(clash_rows):
            clash_groups = np.unique(group[clash_rows])
            in_clash = np.isin(group, clash_groups) & live
            report.conflicts += len(clash_groups)
            reject(
                in_clash,
                lambda i: CONFLICT.format(others(i)),
            )
            live &= ~in_clash

    # sum the rest, one budget per key
    kept_idx = np.flatnonzero(live)
    summed_rows = sub.iloc[kept_idx]
    summed_groups = group[kept_idx]
    cents = _cents(summed_rows["budgeted_amount"].astype("str"))
    totals = pd.Series(cents).groupby(summed_groups, sort=False).sum()
    firsts = pd.Series(np.arange(len(kept_idx))).groupby(summed_groups, sort=False).first()
    counts = pd.Series(summed_groups).value_counts()
    out = summed_rows.iloc[firsts.to_numpy()].reset_index(drop=True)
    total_cents = totals.to_numpy()
    out["budgeted_amount"] = _format(total_cents).to_numpy()
    too_large = np.abs(total_cents) > MAX_CENTS
    if too_large.any():
        for i in np.flatnonzero(too_large).tolist():
            errors.append(
                RowError(int(out.at[i, "source_row"]), amount_column, None, SUM_TOO_LARGE)
            )
        out = out.loc[~too_large].reset_index(drop=True)
    report.summed_budgets = int((counts.reindex(totals.index).to_numpy() > 1).sum())

    # which dimensions were summed away: those varying inside a summed key
    if dim_rows is not None and report.summed_budgets:
        multi = counts[counts > 1].index.to_numpy()
        inside = np.isin(summed_groups, multi)
        varied = (
            dim_rows.iloc[kept_idx[inside]].groupby(summed_groups[inside]).nunique(dropna=False)
        )
        report.summed_columns = [str(c) for c in varied.columns if (varied[c] > 1).any()]

    single = frame.iloc[np.flatnonzero(~shared)]
    result = pd.concat([single, out], ignore_index=True)
    order = np.argsort(result["source_row"].to_numpy(dtype=np.int64), kind="stable")
    result = result.iloc[order].reset_index(drop=True)
    for name in result.columns:
        if name != "source_row":
            result[name] = result[name].astype("str")
    report.budgets_out = len(result)
    errors.sort(key=lambda e: e.row or 0)
    return Summed(result, errors, warnings, report)


def file_dimensions(
    parsed: ParsedFile, mapping: ColumnMapping, scenarios: list[Scenario], report: GrainReport
) -> tuple[pd.DataFrame, np.ndarray]:
    """The dimension columns of `parsed` and its file row numbers, for aggregate()."""
    dims, constants = dimension_columns(parsed, mapping, scenarios)
    report.constant_columns = constants
    frame = parsed.frame[dims] if dims else parsed.frame.iloc[:, :0]
    return frame, np.asarray(parsed.source_rows, dtype=np.int64)


def incomplete_sums(summed: Summed, rejected_keys: pd.DataFrame) -> Summed:
    """Reject summed budgets whose key a rejected file row also belonged to (its sum would
    be short of that row). `rejected_keys`: department, sub_category, fiscal_period (None:
    every period of that department and sub-category) and source_row of rejected rows."""
    if rejected_keys.empty or not summed.report.summed_budgets:
        return summed
    rows = summed.rows
    on = ["department", "sub_category"]

    def keyed(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(
            department=frame["department"].astype("str").fillna(""),
            sub_category=frame["sub_category"].astype("str").fillna(""),
        )

    budgets = keyed(rows[[*on, "fiscal_period"]]).assign(line=np.arange(len(rows)))
    rejected = keyed(rejected_keys)
    dated = rejected["fiscal_period"].notna()
    hits = pd.concat(  # set-based: a join, not a scan of the budgets per rejected row
        [
            budgets.merge(rejected.loc[dated], on=[*on, "fiscal_period"]),
            budgets.merge(rejected.loc[~dated].drop(columns="fiscal_period"), on=on),
        ]
    )[["line", "source_row"]]
    if hits.empty:
        return summed
    why = {
        int(line): sorted(set(group.astype("int64").tolist()))
        for line, group in hits.groupby("line")["source_row"]
    }
    bad = np.zeros(len(rows), dtype=bool)
    bad[list(why)] = True
    errors = list(summed.errors)
    for i in np.flatnonzero(bad).tolist():
        errors.append(
            RowError(
                int(rows.at[i, "source_row"]),
                str(rows.at[i, "source_column"]) if "source_column" in rows.columns else None,
                str(rows.at[i, "budgeted_amount"]),
                INCOMPLETE.format(_row_names(np.asarray(why[i]))),
            )
        )
    errors.sort(key=lambda e: e.row or 0)
    kept = rows.loc[~bad].reset_index(drop=True)
    summed.report.budgets_out = len(kept)
    return Summed(kept, errors, summed.warnings, summed.report)


# ---------------------------------------------------------------------------------------------
# Wide files: a total column is a check, not a period


def total_columns(parsed: ParsedFile) -> list[str]:
    """A wide file's total / full-year columns (never periods; checked against the periods)."""
    return list(parsed.total_columns) if parsed.layout == "wide" else []


def check_totals(
    parsed_totals: pd.DataFrame,
    file_rows: np.ndarray,
    rows: pd.DataFrame,
    rejected_rows: set[int],
    default_currency: str,
) -> list[str]:
    """Warnings for rows whose total column differs from the sum of their period amounts.
    `parsed_totals`: the total columns, one row per file data row (aligned with file_rows);
    `rows`: normalize()'s accepted long rows (one per file row and period)."""
    if parsed_totals.empty or rows.empty:
        return []
    sums = (
        pd.Series(_cents(rows["budgeted_amount"].astype("str")))
        .groupby(rows["source_row"].to_numpy(dtype=np.int64))
        .sum()
    )
    warnings = []
    for name in parsed_totals.columns:
        amounts, _, bad = normalize_amounts(
            parsed_totals[name], scale_suffixes_allowed=False, default_currency=default_currency
        )
        usable = (~bad.to_numpy(dtype=bool)) & amounts.notna().to_numpy()
        usable &= ~np.isin(file_rows, list(rejected_rows))
        if not usable.any():
            continue
        where = file_rows[usable]
        stated = _cents(amounts[usable].astype("str"))
        computed = sums.reindex(where).fillna(0).to_numpy(dtype=np.int64)
        differs = stated != computed
        if not differs.any():
            continue
        shown = ", ".join(
            f"row {int(r)} ({s / 100:,.2f} stated, {c / 100:,.2f} summed)"
            for r, s, c in list(
                zip(where[differs], stated[differs], computed[differs], strict=True)
            )[:8]
        )
        more = f" and {int(differs.sum()) - 8} more" if differs.sum() > 8 else ""
        warnings.append(
            f"the total column {name!r} differs from the sum of the period columns in "
            f"{int(differs.sum())} row(s): {shown}{more}; the period columns were imported"
        )
    return warnings


# ---------------------------------------------------------------------------------------------
# The sync's step


def _rejected_keys(
    long_rows: pd.DataFrame, error_rows: set[int], **normalize_options: Any
) -> pd.DataFrame:
    """The budget keys of the long rows normalize() rejected, read again with every amount
    set to 0 (so only the department and period decide); a key whose period cannot be read
    covers every period of its department and sub-category."""
    bad = long_rows.loc[long_rows["source_row"].isin(list(error_rows))]
    if bad.empty:
        return pd.DataFrame(columns=["department", "sub_category", "fiscal_period", "source_row"])
    again = normalize(bad.assign(amount_raw="0", currency_raw=None), **normalize_options)
    known = again.frame[["department", "sub_category", "fiscal_period", "source_row"]]
    unknown_rows = sorted(set(bad["source_row"].tolist()) - set(known["source_row"].tolist()))
    unknown = bad.loc[bad["source_row"].isin(unknown_rows)].drop_duplicates("source_row")
    unknown = pd.DataFrame(
        {
            "department": unknown["department"].astype("str").str.strip(),
            "sub_category": unknown["sub_category"].astype("str").str.strip().replace("", None),
            "fiscal_period": None,
            "source_row": unknown["source_row"],
        }
    )
    return pd.concat([known, unknown], ignore_index=True)


def sum_to_budgets(
    normalised: NormalizedRows,
    long_rows: pd.DataFrame,
    *,
    dims: pd.DataFrame,
    file_rows: np.ndarray,
    sum_duplicates: bool,
    report: GrainReport,
    totals_frame: pd.DataFrame | None = None,
    fiscal_year_start_month: int,
    default_currency: str,
    columns: dict[str, str | None],
) -> NormalizedRows:
    """normalize()'s result with its rows summed to one per budget key (aggregate()), the
    grain's errors added to the row errors, and a wide file's total columns checked."""
    error_rows = {e.row for e in normalised.errors if e.row is not None}
    warnings = list(normalised.warnings)
    if totals_frame is not None and not totals_frame.empty:
        warnings += check_totals(
            totals_frame, file_rows, normalised.frame, error_rows, default_currency
        )
    summed = aggregate(
        normalised.frame,
        dims=dims,
        file_rows=file_rows,
        sum_duplicates=sum_duplicates,
        report=report,
        amount_column=columns.get("budgeted_amount"),
    )
    if error_rows and summed.report.summed_budgets:
        keys = _rejected_keys(
            long_rows,
            error_rows,
            fiscal_year_start_month=fiscal_year_start_month,
            default_currency=default_currency,
            columns=columns,
        )
        summed = incomplete_sums(summed, keys)
    errors = sorted([*normalised.errors, *summed.errors], key=lambda e: (e.row is None, e.row or 0))
    report.warnings = [w for w in warnings + summed.warnings if w not in normalised.warnings]
    return NormalizedRows(
        summed.rows,
        errors,
        normalised.rejected_count + len({e.row for e in summed.errors}),
        warnings + summed.warnings,
    )
