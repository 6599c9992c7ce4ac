"""Request and response bodies of the budget service (they make its OpenAPI schema)."""

from __future__ import annotations

from datetime import date as Date
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, model_validator

CUSTOMER_ID = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
CURRENCY = r"^[A-Z]{3}$"

# Money in, exactly (2 decimals, up to 10^16); money out as JSON numbers.
MoneyIn = Annotated[Decimal, Field(ge=0, le=Decimal("9999999999999999.99"), decimal_places=2)]
Money = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]
Rate = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]
Text = Annotated[str, Field(min_length=1, max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BudgetTarget(Strict):
    customer_id: str | None = Field(
        None,
        pattern=CUSTOMER_ID,
        description="Required with an admin token; a customer token acts for its own customer",
    )
    department: Text
    sub_category: Text | None = Field(
        None, description="Omit for the department-level budget (no sub-category)"
    )
    date: Date | None = Field(
        None,
        description="The purchase date; the most specific budget period containing it "
        "is used (month, then quarter, then year). Default: today",
    )
    period: Annotated[str, Field(min_length=2, max_length=40)] | None = Field(
        None,
        description="Instead of a date: a period such as FY2025-M03, FY2025-Q1, FY2025, "
        "Q1 2025 or Jan 2025",
    )
    amount: MoneyIn
    currency: str | None = Field(
        None, pattern=CURRENCY, description="ISO 4217; default: the budget's currency"
    )

    @model_validator(mode="after")
    def _date_or_period(self):
        if self.date is not None and self.period is not None:
            raise ValueError("give a date or a period, not both")
        return self


class CheckRequest(BudgetTarget):
    pass


class ReserveRequest(BudgetTarget):
    reference: Annotated[str, Field(max_length=200)] | None = Field(
        None, description="Your requisition or purchase-order number"
    )


class CommitRequest(Strict):
    """Commit a reservation (all of it, or `amount` of it, releasing the rest), or commit
    directly against a budget (give the budget target instead of a reservation)."""

    reservation_id: int | None = Field(None, ge=1, le=2**63 - 1)
    customer_id: str | None = Field(None, pattern=CUSTOMER_ID)
    amount: MoneyIn | None = Field(
        None,
        description="With reservation_id: the amount to commit, in the reservation's "
        "currency (default: all of it)",
    )
    target: ReserveRequest | None = None

    @model_validator(mode="after")
    def _one_of(self):
        if (self.reservation_id is None) == (self.target is None):
            raise ValueError("give either reservation_id or target")
        if self.target is not None and (self.amount is not None or self.customer_id):
            raise ValueError("a direct commit takes its amount and customer inside target")
        return self


class ReleaseRequest(Strict):
    reservation_id: int = Field(ge=1, le=2**63 - 1)
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
    detail: str | dict | list
