"""The data passed between the budget sync's steps (parse -> detect -> map -> normalise ->
gate -> import). Plain dataclasses; pandas frames hold the cells as strings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

# The columns of a budget row (the normaliser's output, the gate, the import).
BUDGET_COLUMNS = ("department", "sub_category", "fiscal_period", "budgeted_amount", "currency")
# The budget fields a file's columns are mapped to (docs/budget_sync.md): a budget row's
# columns, and `fiscal_year`, optional: the column holding the year when the period column's
# values carry none (Year `FY26` + Period `Jan`, as Oracle EPM, Hyperion and Anaplan export
# them); the period read is then the two values joined by a space (`FY26 Jan`).
FIELDS = (*BUDGET_COLUMNS, "fiscal_year")
REQUIRED_FIELDS = ("department", "fiscal_period", "budgeted_amount")
# Runs the budget service starts (POST /sync/trigger, /files/import) carry this run-id
# prefix, so their syncs are recorded as triggered_by = 'api'.
API_RUN_PREFIX = "api__"
FILE_TYPES = ("budget", "payroll", "expense", "invoice", "gl_actuals", "headcount", "unknown")
# A sync attempt's status (sync_history.status, as migration 008 checks it), and the statuses
# after which the budgets match the source: freshness and staleness count from the last one.
SYNC_STATUSES = ("running", "success", "partial", "failed", "unchanged", "needs_review")
SYNCED_STATUSES = ("success", "partial", "unchanged")


def available(budgeted: Decimal, committed: Decimal, reserved: Decimal) -> Decimal:
    """What is left to spend of a budget: budgeted - committed - reserved (the budget
    service's figure, the threshold events' and the write-back's)."""
    return budgeted - committed - reserved


# The same figure in SQL, over `budget b` joined to `budget_utilization u` (a budget with no
# utilization row has nothing committed or reserved).
AVAILABLE_SQL = (
    "(b.budgeted_amount - coalesce(u.committed_amount, 0) - coalesce(u.reserved_amount, 0))"
)


class BudgetFileError(ValueError):
    """The file cannot be used; the message says what is wrong and where (never cell values
    of a file that looks like personal data)."""


@dataclass
class ParsedFile:
    """A file's table as found: one column per header (names as written, de-duplicated),
    every cell a string ('' for empty), `source_rows` the 1-based row numbers in the file
    (or sheet) of each data row, totals and blank rows already dropped."""

    frame: Any  # pandas.DataFrame of str
    source_rows: list[int]
    sheet: str | None
    header_row: int  # 1-based
    layout: str = "long"  # "long" or "wide"
    period_columns: list[str] = field(default_factory=list)  # wide: the period columns in order
    # wide: total / full-year columns (never periods; checked against the periods)
    total_columns: list[str] = field(default_factory=list)
    dropped_rows: dict[str, int] = field(default_factory=dict)  # 'total', 'blank', 'header'
    warnings: list[str] = field(default_factory=list)
    file_format: str = "csv"  # csv, xlsx, xls
    encoding: str | None = None
    delimiter: str | None = None


@dataclass
class FileTypeGuess:
    file_type: str  # one of FILE_TYPES
    confidence: float  # 0..1
    reasons: list[str] = field(default_factory=list)


@dataclass
class FieldMatch:
    """A field's column (None: no column) and the probability that this choice is right
    (`confidence`, calibrated on bench/corpus). `evidence` is what the confidence was
    computed from (mapping.chosen_confidence / none_confidence): the chosen column's score
    (0-100), the best rival's, whether a rival is another level of the same hierarchy;
    empty when the choice is not the mapper's (a confirmed mapping, a wide file's periods)."""

    column: str | None
    confidence: float
    alternatives: list[str] = field(default_factory=list)
    explanation: str = ""
    evidence: dict[str, float] = field(default_factory=dict)


@dataclass
class ColumnMapping:
    fields: dict[str, FieldMatch]

    def columns(self) -> dict[str, str | None]:
        return {name: match.column for name, match in self.fields.items()}

    def as_json(self) -> dict[str, dict[str, Any]]:
        return {
            name: {
                "column": m.column,
                "confidence": round(m.confidence, 2),
                "alternatives": m.alternatives,
                "explanation": m.explanation,
            }
            for name, m in self.fields.items()
        }


@dataclass
class RowError:
    """One rejected cell or row: `row` is the 1-based row number in the file."""

    row: int | None
    column: str | None
    value: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
