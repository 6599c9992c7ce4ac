"""From a parsed file and its column mapping to one row per budget: keep the budget scenario,
put the file in long form, normalise periods and amounts, sum rows finer than the budget key
(grain.py). One function used by the sync, `finsync analyze` and the onboarding preview, so
the three always agree on what a file imports as.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field

from finsync.budget import grain, longform
from finsync.budget.headers import period_label
from finsync.budget.model import ColumnMapping, ParsedFile
from finsync.budget.normalize import NormalizedRows, normalize


@dataclass
class Budgets:
    """`rows`: normalize()'s result summed to one row per budget key (errors included);
    `report`: the grain report; `total_rows`: the file rows that held budget lines;
    `problem`: why a person must decide first (an unresolved scenario), else None."""

    rows: NormalizedRows | None
    report: grain.GrainReport
    total_rows: int = 0
    problem: str | None = None
    scenario: grain.Scenario | None = None  # the scenario a person must choose (problem)
    # canonical period -> (Year label or None, period label) as the file wrote it: what
    # write-back writes for that period (budget_period_label)
    period_labels: dict[str, tuple[str | None, str]] = field(default_factory=dict)


def _untimed(step: str) -> AbstractContextManager:
    return nullcontext()


def to_budgets(
    parsed: ParsedFile,
    mapping: ColumnMapping,
    *,
    fiscal_year_start_month: int,
    default_currency: str,
    scenario: str | None = None,
    sum_duplicates: bool = False,
    timed: Callable[[str], AbstractContextManager] = _untimed,
) -> Budgets:
    """The budgets `parsed` holds under `mapping` (module docstring). `scenario` names the
    scenario value to keep; `timed(step)` wraps each step (the sync's timings)."""
    with timed("grain"):
        report = grain.GrainReport(dropped_rows=dict(parsed.dropped_rows))
        scenarios = grain.find_scenarios(parsed, mapping, scenario)
        undecided = [s for s in scenarios if s.kept is None]
        if undecided:
            report.scenario = asdict(undecided[0])
            problem = grain.scenario_problem(undecided[0], scenario)
            return Budgets(None, report, 0, problem, undecided[0])
        for chosen in scenarios:  # Scenario = Budget, then Version = Final: never summed
            parsed = grain.keep_scenario(parsed, chosen)
        if scenarios:
            report.scenario = asdict(scenarios[0])
            report.other_scenarios = [asdict(s) for s in scenarios[1:]]
        dims, file_rows = grain.file_dimensions(parsed, mapping, scenarios, report)
        totals = parsed.frame[grain.total_columns(parsed)]
    with timed("long"):
        long_rows = longform.to_long(parsed, mapping)
        # Counted in the file's rows (a wide file's row holds several periods).
        total = int(long_rows["source_row"].nunique())
    columns = mapping.columns()
    with timed("normalize"):
        normalised = normalize(
            long_rows,
            fiscal_year_start_month=fiscal_year_start_month,
            default_currency=default_currency,
            columns=columns,
        )
        labels = period_labels(parsed, mapping, long_rows, normalised.period_rows)
    with timed("grain"):
        summed = grain.sum_to_budgets(
            normalised,
            long_rows,
            dims=dims,
            file_rows=file_rows,
            sum_duplicates=sum_duplicates,
            report=report,
            totals_frame=totals,
            fiscal_year_start_month=fiscal_year_start_month,
            default_currency=default_currency,
            columns=columns,
        )
    return Budgets(summed, report, total, period_labels=labels)


def period_labels(
    parsed: ParsedFile, mapping: ColumnMapping, long_rows, first_rows: dict[str, int]
) -> dict[str, tuple[str | None, str]]:
    """canonical -> (Year label or None, period label): the customer's own label of each
    period, read at the long row where it first occurs (a handful of cells, never a column).
    A long file's period cell (`2026-01`, `Jan-26`, `P01 FY26`), a wide file's period header
    (the period part headers.period_label reads); with a Year column, its cell beside it."""
    columns = mapping.columns()
    raw = long_rows["period_raw"]
    wide = parsed.layout == "wide" and bool(parsed.period_columns)
    period_column = columns.get("fiscal_period")
    found: dict[str, tuple[str | None, str]] = {}
    for canonical, row in first_rows.items():
        joined = str(raw.iat[row])
        if wide:
            part = period_label(str(long_rows["source_column"].iat[row]))
        elif period_column is not None and columns.get("fiscal_year"):
            part = str(parsed.frame[period_column].iat[row])
        else:
            found[canonical] = (None, joined)
            continue
        # longform joined them as `year + " " + period` (the year trimmed) when a year is set
        year = joined[: -len(part) - 1] if joined != part and joined.endswith(part) else None
        found[canonical] = (year, part)
    return found
