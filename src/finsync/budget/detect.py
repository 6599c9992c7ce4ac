"""What kind of file this is, by its content (headers and values, never its name).

A budget import must refuse files that merely look like budgets: a payroll export has a
department and money columns, a purchase-card file has a department, a category, a currency
and an amount, a general-ledger extract has the same dimensions as a budget. Each file type
has concepts (groups of header words, several languages) with a weight; a concept counts
once. Budget words count fully only over an amount column ('Budget Institution' names a
dimension, not an amount). The reasons name headers, never cell values: a payroll file's
values are personal data.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from finsync.budget.cells import VALUE_SAMPLE_ROWS, non_blank, number_ratio
from finsync.budget.column_values import describe_values
from finsync.budget.header_match import MIN_SCORE, best_synonym, header_score
from finsync.budget.model import FileTypeGuess, ParsedFile

# file type -> concept -> (weight, header phrases)
CONCEPTS: dict[str, dict[str, tuple[float, list[str]]]] = {
    "payroll": {
        "employee": (
            4,
            [
                "employee",
                "employee name",
                "employee id",
                "employee number",
                "emp id",
                "staff id",
                "staff number",
                "personnel number",
                "personalnummer",
                "mitarbeiter",
                "empleado",
                "funcionario",
                "salarie",
                "ssn",
                "social security number",
            ],
        ),
        "person name": (1, ["name", "first name", "last name", "surname", "full name"]),
        "pay": (
            3,
            [
                "earnings",
                "total earnings",
                "gross pay",
                "net pay",
                "pay period",
                "pay date",
                "payroll",
                "paycheck",
                "overtime",
                "retro",
                "retro pay",
                "deductions",
                "tax withheld",
                "withholding",
                "hours worked",
                "hourly rate",
                "lohn",
                "gehalt",
                "nomina",
                "sueldo",
            ],
        ),
        "salary": (2, ["salary", "salaries", "wage", "wages", "bonus", "incentive"]),
        "job": (1, ["title", "job title", "job", "regular", "injured", "detail", "postal"]),
    },
    "headcount": {
        "fte": (
            4,
            [
                "fte",
                "ftes",
                "full time equivalent",
                "headcount",
                "head count",
                "vzae",
                "vollzeitaquivalent",
                "vollzeitaequivalent",
                "stellen",
                "stellenplan",
                "planstellen",
                "plazas",
                "positions",
                "number of positions",
                "employees count",
            ],
        ),
        "role": (2, ["role", "position", "grade", "job grade", "vacancy", "vacancies"]),
        "tenure": (2, ["start date", "end date", "hire date", "termination date"]),
        "civil servants": (1, ["beamte", "tarif"]),
    },
    "expense": {
        "card": (
            4,
            [
                "merchant",
                "merchant name",
                "card number",
                "cardholder",
                "card holder",
                "mcc",
                "merchant category",
                "expense report",
                "claimant",
            ],
        ),
        "transaction date": (2, ["transaction date", "trans date", "purchase date"]),
        "receipt": (1, ["receipt", "vat", "reimbursement", "mileage", "billing currency"]),
    },
    "invoice": {
        "supplier": (4, ["supplier", "vendor", "payee", "proveedor", "lieferant", "fournisseur"]),
        "invoice": (
            4,
            ["invoice", "invoice number", "invoice date", "factura", "rechnung", "facture"],
        ),
        "payment": (
            2,
            [
                "due date",
                "payment date",
                "paid date",
                "date executed",
                "date paid",
                "receipt number",
                "purchase order",
                "po number",
                "remittance",
                "payment terms",
            ],
        ),
    },
    "gl_actuals": {
        "ledger": (
            3,
            [
                "ledger",
                "general ledger",
                "journal",
                "journal entry",
                "posting date",
                "posted",
                "voucher",
                "document number",
            ],
        ),
        "actuals": (2, ["actual", "actuals", "actual amount", "ist", "ejercido", "devengado"]),
        "transaction amount": (2, ["transaction amount", "debit", "credit"]),
    },
    "budget": {
        "budget words": (
            3,
            [
                "budget",
                "budgeted",
                "budget amount",
                "plan",
                "planned",
                "appropriation",
                "adopted",
                "approved",
                "amended",
                "proposed",
                "allocation",
                "forecast",
                "target",
                "presupuesto",
                "monto aprobado",
                "haushaltsansatz",
                "ansatz",
                "planung",
                "orcamento",
                "dotacao",
                "буџет",
                "бюджет",
            ],
        ),
    },
}

_PERSON_CONCEPTS = {"payroll", "headcount"}


@dataclass(frozen=True)
class _Hit:
    file_type: str
    concept: str
    weight: float
    column: str


def detect_file_type(parsed: ParsedFile) -> FileTypeGuess:
    """budget, payroll, expense, invoice, gl_actuals, headcount or unknown, with a confidence
    and the headers that made the call."""
    frame = parsed.frame
    columns = [str(c) for c in frame.columns]
    sample = frame.head(VALUE_SAMPLE_ROWS)
    numeric = {c: number_ratio(sample[c], lenient=True) >= 0.5 for c in columns}
    hits = _concept_hits(columns, numeric)
    if parsed.layout == "wide" and parsed.period_columns:
        # a budget-vs-actual report: its actual columns are a comparison next to the budget
        # periods (left out by the layout), not a ledger extract
        hits = [h for h in hits if (h.file_type, h.concept) != ("gl_actuals", "actuals")]
    scores: dict[str, float] = {t: 0.0 for t in CONCEPTS}
    reasons: dict[str, list[str]] = {t: [] for t in CONCEPTS}
    for hit in hits:
        scores[hit.file_type] += hit.weight
        reasons[hit.file_type].append(f'header "{hit.column}" ({hit.concept})')
    _add_value_evidence(sample, columns, scores, reasons)
    _add_budget_structure(parsed, columns, numeric, scores, reasons)
    return _decide(scores, reasons)


def _concept_hits(columns: list[str], numeric: dict[str, bool]) -> list[_Hit]:
    """The best column for each concept (a concept counts once)."""
    best: dict[tuple[str, str], tuple[float, str]] = {}
    for file_type, concepts in CONCEPTS.items():
        for concept, (weight, phrases) in concepts.items():
            synonyms = dict.fromkeys(phrases, 100)
            for column in columns:
                match = best_synonym(column, synonyms)
                if match.score < 88:
                    continue
                value = weight
                if file_type == "budget" and not numeric[column]:
                    value = 1.0  # 'Budget Institution', 'Budget Year': a dimension
                if file_type == "gl_actuals" and concept == "actuals" and not numeric[column]:
                    value = 0.5
                key = (file_type, concept)
                if value > best.get(key, (0.0, ""))[0]:
                    best[key] = (value, column)
    return [_Hit(t, c, w, col) for (t, c), (w, col) in best.items()]


def _add_value_evidence(
    sample: pd.DataFrame,
    columns: list[str],
    scores: dict[str, float],
    reasons: dict[str, list[str]],
) -> None:
    """A text column that says 'actual(s)' on (nearly) every row marks a ledger extract;
    money columns next to a person-name column mark payroll (no value is quoted)."""
    for column in columns:
        values = non_blank(sample[column]).str.strip().str.casefold()
        if values.empty:
            continue
        if values.isin(["actual", "actuals", "act", "ist", "real"]).mean() > 0.8:
            scores["gl_actuals"] += 4
            reasons["gl_actuals"].append(f'column "{column}" marks the rows as actuals')
        elif values.isin(["budget", "plan", "budgeted", "forecast"]).mean() > 0.8:
            scores["budget"] += 3
            reasons["budget"].append(f'column "{column}" marks the rows as budget')


def _add_budget_structure(
    parsed: ParsedFile,
    columns: list[str],
    numeric: dict[str, bool],
    scores: dict[str, float],
    reasons: dict[str, list[str]],
) -> None:
    """A department-like column, an amount column and periods make a file budget-shaped."""
    sample = parsed.frame.head(VALUE_SAMPLE_ROWS)
    department = _best_column("department", columns, sample)
    if department:
        scores["budget"] += 1.5
        reasons["budget"].append(f'department-like column "{department}"')
    if parsed.layout == "wide":
        scores["budget"] += 1.5
        reasons["budget"].append(
            f"amounts in {len(parsed.period_columns)} period columns "
            f'("{parsed.period_columns[0]}" …)'
        )
    else:
        amount = _best_column("budgeted_amount", [c for c in columns if numeric[c]], sample)
        if amount:
            scores["budget"] += 1.5
            reasons["budget"].append(f'amount column "{amount}"')
        period = _best_column("fiscal_period", columns, sample)
        if period:
            scores["budget"] += 1
            reasons["budget"].append(f'period column "{period}"')
    if any(numeric.values()):
        scores["budget"] += 1
        reasons["budget"].append("numeric columns")
    else:
        scores["budget"] = min(scores["budget"], 1.0)


def _best_column(field: str, columns: list[str], sample: pd.DataFrame) -> str | None:
    best, best_score = None, 0.0
    for column in columns:
        match = header_score(field, column)
        if match.score < MIN_SCORE + 10:
            continue
        values = describe_values(sample[column])
        if field in ("department", "fiscal_period") and values.numbers > 0.5 and not values.years:
            continue
        if match.score > best_score:
            best, best_score = column, match.score
    return best


def _decide(scores: dict[str, float], reasons: dict[str, list[str]]) -> FileTypeGuess:
    budget = scores["budget"]
    others = sorted(((s, t) for t, s in scores.items() if t != "budget"), reverse=True)
    best_score, best_type = others[0]
    runner_up = max(budget, others[1][0])
    if best_score >= 4 and best_score > budget:
        chosen, margin = best_type, best_score - runner_up
        score = best_score
    elif budget >= 2.5:
        chosen, margin, score = "budget", budget - best_score, budget
    elif best_score >= 3:
        chosen, margin, score = best_type, best_score - runner_up, best_score
    else:
        why = ["no header says budget, amount, department or period"]
        if budget:
            why = reasons["budget"] + ["too little that looks like a budget"]
        return FileTypeGuess("unknown", round(0.5 + 0.1 * (2.5 - budget), 2), why)
    confidence = min(0.99, max(0.35, 0.45 + 0.05 * score + 0.06 * margin))
    found = reasons[chosen][:5]
    if chosen in _PERSON_CONCEPTS:
        found.append("rows look like people (personal data): values are not shown")
    return FileTypeGuess(chosen, round(confidence, 2), found)
