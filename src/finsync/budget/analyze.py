"""`finsync analyze PATH`: what a budget file looks like and how its columns map.

No database and no Airflow: parse -> detect -> map, printed as the contract's JSON
(`--json`) or as a short report.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from finsync.budget.budgets import to_budgets
from finsync.budget.detect import detect_file_type
from finsync.budget.mapping import (
    CONFIDENCE_BAR,
    confirmed_applies,
    map_columns,
    needs_review,
)
from finsync.budget.model import FIELDS, BudgetFileError
from finsync.budget.read import parse_file

_LABELS = {
    "payroll": "a payroll file",
    "expense": "an expense or card-transaction file",
    "invoice": "an invoice or supplier-payment list",
    "gl_actuals": "general-ledger actuals",
    "headcount": "a headcount or position plan",
}


def analyze(
    path: str | Path,
    *,
    sheet: str | None = None,
    header_row: int | None = None,
    confirmed: dict[str, str | None] | None = None,
    fiscal_year_start_month: int = 1,
    default_currency: str = "USD",
    scenario: str | None = None,
    sum_duplicates: bool = False,
) -> dict[str, Any]:
    """The contract's analysis of one file (raises BudgetFileError when it cannot be read),
    plus `grain`: what the file would import as (rows in, budgets out, the columns summed
    away, the scenario kept, conflicts), under the given calendar and currency."""
    parsed = parse_file(path, sheet=sheet, header_row=header_row)
    guess = detect_file_type(parsed)
    mapping = map_columns(parsed, confirmed=confirmed)
    warnings = list(parsed.warnings)
    if confirmed and not confirmed_applies(parsed, confirmed):
        gone = [c for c in confirmed.values() if c and c not in set(parsed.frame.columns)]
        warnings.append(
            "the confirmed mapping no longer fits (missing column(s): "
            + ", ".join(repr(c) for c in gone)
            + "): matched the columns again"
        )
    if guess.file_type == "unknown":
        warnings.append(
            f"this does not look like a budget ({'; '.join(guess.reasons[:3])}): it would be "
            "rejected; check that this is the budget export"
        )
    elif guess.file_type != "budget":
        warnings.append(
            f"this looks like {_LABELS[guess.file_type]}, not a budget "
            f"({'; '.join(guess.reasons[:3])}): it would be rejected"
        )
    review = needs_review(mapping, parsed.layout)
    if review:
        warnings.append(
            "needs review: "
            + ", ".join(review)
            + f" missing or below the confidence bar ({CONFIDENCE_BAR:.2f}); confirm the mapping"
        )
    grain = None
    if guess.file_type == "budget" and not (set(review) & {"department", "budgeted_amount"}):
        try:
            budgets = to_budgets(
                parsed,
                mapping,
                fiscal_year_start_month=fiscal_year_start_month,
                default_currency=default_currency,
                scenario=scenario,
                sum_duplicates=sum_duplicates,
            )
        except BudgetFileError as exc:
            warnings.append(f"could not read the rows under this mapping: {exc}")
        else:
            grain = budgets.report.as_json()
            if budgets.problem:
                warnings.append(f"needs review: {budgets.problem}")
            elif budgets.rows is not None:  # to_budgets gives rows unless there is a problem
                grain["rejected_rows"] = len({e.row for e in budgets.rows.errors})
            warnings.extend(budgets.report.warnings)
    return {
        "file_type": guess.file_type,
        "file_type_confidence": round(guess.confidence, 2),
        "sheet": parsed.sheet,
        "header_row": parsed.header_row,
        "layout": parsed.layout,
        "period_columns": list(parsed.period_columns),
        "rows": len(parsed.frame),
        "mapping": {field: mapping.as_json()[field] for field in FIELDS},
        "grain": grain,
        "warnings": warnings,
    }


def format_report(path: str | Path, result: dict[str, Any]) -> str:
    """The analysis as text for a person."""
    lines = [
        f"{Path(path).name}",
        f"  file type   {result['file_type']} (confidence {result['file_type_confidence']:.2f})",
    ]
    if result["sheet"] is not None:
        lines.append(f"  sheet       {result['sheet']}")
    lines.append(f"  header row  {result['header_row']}")
    lines.append(f"  data rows   {result['rows']:,}")
    layout = result["layout"]
    if layout == "wide":
        periods = result["period_columns"]
        plural = "s" if len(periods) != 1 else ""
        layout += f" ({len(periods)} period column{plural}: {', '.join(periods)})"
    lines.append(f"  layout      {layout}")
    lines.append("  mapping")
    for field, match in result["mapping"].items():
        column = match["column"] if match["column"] is not None else "-"
        flag = "" if match["confidence"] >= CONFIDENCE_BAR or match["column"] is None else " ?"
        lines.append(f"    {field:<16} {column:<32} {match['confidence']:.2f}{flag}")
        if match.get("explanation"):
            lines.append(f"    {'':<16} {match['explanation']}")
        if match["alternatives"]:
            lines.append(f"    {'':<16} alternatives: {', '.join(match['alternatives'])}")
    grain = result.get("grain")
    if grain:
        lines.append(
            f"  grain       {grain['rows_in']:,} row(s) -> {grain['budgets_out']:,} budget(s)"
            + (
                f", {grain['rejected_rows']:,} row(s) rejected"
                if grain.get("rejected_rows")
                else ""
            )
        )
        if grain["summed_columns"]:
            lines.append(f"              summed over {', '.join(grain['summed_columns'])}")
        if grain["scenario"]:
            kept = grain["scenario"]["kept"]
            lines.append(
                f"              scenario {grain['scenario']['column']}: "
                + (
                    f"kept {kept!r}"
                    if kept
                    else "undecided (" + ", ".join(grain["scenario"]["values"]) + ")"
                )
            )
        if grain["conflicts"]:
            lines.append(f"              {grain['conflicts']} conflicting budget key(s)")
    if result["warnings"]:
        lines.append("  warnings")
        lines.extend(f"    - {w}" for w in result["warnings"])
    return "\n".join(lines)


def run_cli(args: Any) -> int:
    """`finsync analyze`: 0 when analysed, 2 when the file cannot be read."""
    try:
        result = analyze(
            args.path,
            sheet=getattr(args, "sheet", None),
            header_row=getattr(args, "header_row", None),
            fiscal_year_start_month=getattr(args, "fiscal_year_start_month", None) or 1,
            default_currency=getattr(args, "currency", None) or "USD",
            scenario=getattr(args, "scenario", None),
            sum_duplicates=getattr(args, "duplicates", None) == "sum",
        )
    except BudgetFileError as exc:
        message = str(exc)
        name = Path(args.path).name
        if message.startswith(f"{name}: "):
            message = message[len(name) + 2 :]
        print(f"finsync analyze: {args.path}: {message}", file=sys.stderr)
        return 2
    if getattr(args, "json", False):
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(format_report(args.path, result))
    return 0
