"""Request and response bodies of the budget service, its path and query parameter types and
the error answers routes declare (they make its OpenAPI schema)."""

from __future__ import annotations

import re
from datetime import date as Date
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from fastapi import Path, Query
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)

from finsync.budget.model import SYNC_STATUSES
from finsync.budget.settings import EVENT_TYPES, FREQUENCIES
from finsync.budget.sources.registry import SOURCE_TYPES

CUSTOMER_ID = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
CURRENCY = r"^[A-Z]{3}$"
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL characters
MAX_AMOUNT = 10**12  # one request moves at most a trillion (the columns hold up to 10^16)


def decimal_in(*, maximum: int, places: int, positive: bool, text: str | None) -> tuple[Any, ...]:
    """The metadata of a Decimal given as a JSON number (or, with `text`, a string matching
    that pattern), at most `maximum`, with at most `places` decimals; its OpenAPI schema says
    exactly that. Use as `Annotated[Decimal, *decimal_in(...)]`."""
    step = Decimal(1).scaleb(-places)
    number: dict[str, Any] = {"type": "number", "maximum": maximum, "multipleOf": float(step)}
    number["exclusiveMinimum" if positive else "minimum"] = 0
    schema = {"anyOf": [number, {"type": "string", "pattern": text}]} if text else number

    def check_text(value: Any) -> Any:
        if isinstance(value, str) and (text is None or not re.fullmatch(text, value)):
            raise ValueError(
                f"give a number with at most {places} decimals"
                + (f" (or a string matching {text})" if text else "")
            )
        return value

    bounds = (
        Field(gt=0, le=Decimal(maximum), decimal_places=places)
        if positive
        else Field(ge=0, le=Decimal(maximum), decimal_places=places)
    )
    return (bounds, BeforeValidator(check_text), WithJsonSchema(schema, mode="validation"))


# Money in, exactly (2 decimals, up to MAX_AMOUNT); money out as JSON numbers.
MoneyIn = Annotated[
    Decimal,
    *decimal_in(
        maximum=MAX_AMOUNT, places=2, positive=False, text=r"^0*[0-9]{1,12}(\.[0-9]{1,2})?$"
    ),
]
PositiveMoneyIn = Annotated[
    Decimal,
    *decimal_in(
        maximum=MAX_AMOUNT,
        places=2,
        positive=True,
        text=r"^0*([1-9][0-9]{0,11}(\.[0-9]{1,2})?|0?\.(0[1-9]|[1-9][0-9]?))$",
    ),
]
Money = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]
Rate = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]
Text = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]


# JSON bodies are typed as the schema says: no true for 1, no 1 for true, no number for a date.
def _json_int(value: Any) -> Any:
    if isinstance(value, bool) or not (
        isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    ):
        raise ValueError("give a whole number")
    return value


def _json_bool(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError("give true or false")
    return value


def _json_date(value: Any) -> Any:
    if not (isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value)):
        raise ValueError("give a date as YYYY-MM-DD")
    return value


JsonInt = BeforeValidator(_json_int)
JsonBool = BeforeValidator(_json_bool)
JsonDate = BeforeValidator(_json_date)
# Ids in bodies: bigserial values, bounded where a JSON number (a double) is still exact, so the
# schema's bound means what it says and JavaScript clients keep ids intact.
MAX_ID = 2**53 - 1
ID = Annotated[int, Field(ge=1, le=MAX_ID), JsonInt]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


EXAMPLE_TARGET = {
    "customer_id": "acme",
    "department": "Marketing",
    "sub_category": "Events",
    "date": "2025-01-15",
    "amount": 250.0,
    "currency": "USD",
}


def _target_schema(example: dict[str, Any]) -> dict[str, Any]:
    return {
        # date and period exclude each other (BudgetTarget's validator), said in the schema too
        "not": {
            "required": ["date", "period"],
            "properties": {"date": {"type": "string"}, "period": {"type": "string"}},
        },
        "examples": [example],
    }


class BudgetTarget(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_target_schema(EXAMPLE_TARGET))

    customer_id: str | None = Field(
        None,
        pattern=CUSTOMER_ID,
        description="Required with an admin token; a customer token acts for its own customer",
    )
    department: Text
    sub_category: Text | None = Field(
        None, description="Omit for the department-level budget (no sub-category)"
    )
    date: Annotated[Date, JsonDate] | None = Field(
        None,
        description="The purchase date; the most specific budget period containing it "
        "is used (month, then quarter, then year). Default: today",
    )
    period: Annotated[str, Field(min_length=2, max_length=40, pattern=NO_NUL)] | None = Field(
        None,
        description="Instead of a date: a period such as FY2025-M03, FY2025-Q1, FY2025, "
        "Q1 2025 or Jan 2025",
    )
    amount: MoneyIn
    currency: str | None = Field(
        None, pattern=CURRENCY, description="ISO 4217; default: the budget's currency"
    )

    @model_validator(mode="after")
    def _date_or_period(self) -> Self:
        if self.date is not None and self.period is not None:
            raise ValueError("give a date or a period, not both")
        return self


class CheckRequest(BudgetTarget):
    pass


class ReserveRequest(BudgetTarget):
    model_config = ConfigDict(
        json_schema_extra=_target_schema({**EXAMPLE_TARGET, "reference": "PR-1042"})
    )

    amount: PositiveMoneyIn
    reference: Annotated[str, Field(max_length=200, pattern=NO_NUL)] | None = Field(
        None, description="Your requisition or purchase-order number"
    )


class CommitRequest(Strict):
    """Commit a reservation (all of it, or `amount` of it, releasing the rest), or commit
    directly against a budget (give the budget target instead of a reservation)."""

    model_config = ConfigDict(
        extra="forbid",
        # exactly one of reservation_id and target (the validator below), said in the schema too
        json_schema_extra={
            "oneOf": [
                {
                    "required": ["reservation_id"],
                    "properties": {
                        "reservation_id": {"type": "integer"},
                        "target": {"type": "null"},
                    },
                },
                {
                    "required": ["target"],
                    "properties": {
                        "target": {"type": "object"},
                        "reservation_id": {"type": "null"},
                        "customer_id": {"type": "null"},
                        "amount": {"type": "null"},
                    },
                },
            ],
            "examples": [{"reservation_id": 1, "customer_id": "acme", "amount": 200.0}],
        },
    )

    reservation_id: ID | None = None
    customer_id: str | None = Field(None, pattern=CUSTOMER_ID)
    amount: PositiveMoneyIn | None = Field(
        None,
        description="With reservation_id: the amount to commit, in the reservation's "
        "currency (default: all of it)",
    )
    target: ReserveRequest | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.reservation_id is None) == (self.target is None):
            raise ValueError("give either reservation_id or target")
        if self.target is not None and (self.amount is not None or self.customer_id):
            raise ValueError("a direct commit takes its amount and customer inside target")
        return self


class ReleaseRequest(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reservation_id": 2, "customer_id": "acme"}]},
    )

    reservation_id: ID
    customer_id: str | None = Field(None, pattern=CUSTOMER_ID)


class BudgetFigures(BaseModel):
    budget_id: int
    fiscal_period: str
    currency: str
    budgeted: Money
    committed: Money
    reserved: Money
    available: Money


class CheckResponse(BudgetFigures):
    customer_id: str
    department: str
    sub_category: str | None
    amount: Money = Field(description="The requested amount in the budget's currency")
    request_amount: Money
    request_currency: str
    fx_rate: Rate
    fits: bool = Field(description="available >= amount")
    allowed: bool = Field(description="A reservation would be accepted (over-budget policy)")
    over_budget_policy: Literal["block", "tolerance"]
    tolerance_pct: Money
    matches: list[BudgetFigures] = Field(
        description="Every budget whose period contains the date, most specific first"
    )
    last_synced_at: datetime | None
    stale: bool = Field(description="Last successful sync older than twice the sync frequency")
    warnings: list[str]


class ReservationResponse(BudgetFigures):
    reservation_id: int
    customer_id: str
    status: Literal["reserved", "committed", "released"]
    amount: Money
    request_amount: Money
    request_currency: str
    fx_rate: Rate
    reference: str | None
    warnings: list[str]


class Problem(BaseModel):
    detail: str | dict[str, Any] | list[Any]


def problems(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI declarations of the error statuses a route can answer with."""
    return {code: {"model": Problem, "description": what} for code, what in descriptions.items()}


# ---- sync management: configs, runs, files, FX rates, over-budget policies -----------------

SYNC_ERRORS = {
    403: "Not allowed for this token",
    404: "No such customer, config or file",
    409: "Conflicts with what exists",
    410: "Gone",
    413: "File too large",
    503: "Airflow cannot start the run now",
}


def sync_errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The sync management routes' error declarations, by status."""
    return problems({code: SYNC_ERRORS[code] for code in codes})


# Built from budget/settings.py's FREQUENCIES and budget/model.py's SYNC_STATUSES (their one
# definitions) when imported, which a static checker cannot evaluate: to mypy, they are Any.
Frequency = Literal[*FREQUENCIES]  # type: ignore[valid-type]
SyncStatus = Literal[*SYNC_STATUSES]  # type: ignore[valid-type]
DEFAULT_FREQUENCY = "daily"  # as budget/config.add and the configs table default
# The source types are budget/sources/registry.py's SOURCES (one entry per type), likewise.
SourceType = Literal[*SOURCE_TYPES]  # type: ignore[valid-type]
Pct = Annotated[
    Decimal,
    *decimal_in(
        maximum=100, places=2, positive=False, text=r"^0*(100(\.00?)?|[0-9]{1,2}(\.[0-9]{1,2})?)$"
    ),
]
FxRateValue = Annotated[
    Decimal,
    *decimal_in(
        maximum=10**9,
        places=10,
        positive=True,
        text=r"^0*([1-9][0-9]{0,8}(\.[0-9]{1,10})?|0?\.[0-9]{0,9}[1-9])$",
    ),
]
CustomerId = Annotated[str, Field(pattern=CUSTOMER_ID)]
RowId = Annotated[int, Path(ge=1, le=2**63 - 1, examples=[1])]
CustomerQuery = Annotated[str | None, Query(pattern=CUSTOMER_ID, examples=["acme"])]


URL_CHARS = (
    r"^https://[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+$"
)


class WebhookEndpoint(Strict):
    """An endpoint for signed events (docs/webhooks.md); its secret is in the Airflow
    connection `conn_id`, never here."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"url": "https://erp.example.com/hooks/finsync", "conn_id": "acme_webhook"}
            ]
        },
    )

    # No control characters or white space, each named: `\s` means different characters in
    # the schema's regex dialect (ECMAScript), pydantic's (Rust) and Python's (U+0085, U+FEFF).
    url: str = Field(pattern=URL_CHARS, max_length=2000)
    conn_id: str = Field(pattern=r"^[A-Za-z0-9_.\-]{1,250}$")
    events: list[Literal[*EVENT_TYPES]] | None = Field(  # type: ignore[valid-type]
        None, min_length=1, description="the event types it takes (default: all)"
    )


ThresholdPct = Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)]


class ConfigFields(Strict):
    enabled: Annotated[bool, JsonBool] | None = None
    frequency: Frequency | None = None
    source_config: dict[str, Any] | None = None
    column_mapping: dict[str, str | None] | None = None
    fiscal_year_start_month: Annotated[int, Field(ge=1, le=12), JsonInt] | None = None
    default_currency: str | None = Field(None, pattern=CURRENCY)
    error_tolerance_pct: Pct | None = None
    max_soft_delete_pct: Pct | None = None
    settle_seconds: Annotated[int, Field(ge=0, le=86400), JsonInt] | None = None
    notify: dict[str, Any] | None = None
    # people's confirmed mappings teach the mapper for every customer (docs/budget_mapping.md)
    share_mappings: Annotated[bool, JsonBool] | None = None
    # signed events after each sync and on threshold alerts (docs/webhooks.md)
    webhooks: list[WebhookEndpoint] | None = Field(None, max_length=10)
    # utilisation thresholds for alerts, % of budgeted (docs/budget_service.md); [] = none
    alert_thresholds_pct: list[ThresholdPct] | None = Field(None, max_length=5)
    # utilisation written back to the customer's location: folder, formats, frequency,
    # period_labels, enabled (docs/budget_writeback.md; checked by budget/config.py)
    writeback: dict[str, Any] | None = None


class ConfigCreate(ConfigFields):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "globex",
                    "source_type": "sftp",
                    "frequency": "daily",
                    "source_config": {
                        "conn_id": "globex_sftp",
                        "path": "/exports/budget",
                        "glob": "*.xlsx",
                    },
                    "fiscal_year_start_month": 7,
                    "default_currency": "AUD",
                }
            ]
        },
    )

    customer_id: CustomerId
    source_type: SourceType
    source_config: dict[str, Any]


class TriggerRequest(Strict):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"customer_id": "acme", "force": False}]}
    )

    customer_id: CustomerId | None = None
    force: Annotated[bool, JsonBool] = False


class FxRate(Strict):
    """1 unit of from_currency = rate units of to_currency, from valid_from on."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "from_currency": "EUR",
                    "to_currency": "USD",
                    "valid_from": "2025-01-01",
                    "rate": 1.08,
                }
            ]
        },
    )

    from_currency: str = Field(pattern=CURRENCY)
    to_currency: str = Field(pattern=CURRENCY)
    valid_from: Annotated[Date, JsonDate]
    rate: FxRateValue


class Policy(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"over_budget_policy": "tolerance", "tolerance_pct": 5}]},
    )

    over_budget_policy: Literal["block", "tolerance"]
    tolerance_pct: Pct = Decimal(0)


class PolicyOut(Policy):
    customer_id: str
    tolerance_pct: Money
