"""Over-budget policies: block, or allow up to a tolerance over budget, per customer."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam

from finsync.api import db
from finsync.api.dependencies import Admin, Who
from finsync.api.schemas import CUSTOMER_ID, CustomerQuery, Policy, PolicyOut, sync_errors

router = APIRouter()


@router.get(
    "/budget/policy",
    tags=["budget"],
    responses=sync_errors(403),
    summary="A customer's over-budget policy",
)
async def get_policy(who: Who, customer_id: CustomerQuery = None) -> PolicyOut:
    customer_id = who.customer(customer_id)
    rows = await db.rows(
        "select over_budget_policy, tolerance_pct from budget_customer_policy "
        "where customer_id = %s",
        (customer_id,),
    )
    found = rows[0] if rows else {"over_budget_policy": "block", "tolerance_pct": 0}
    return PolicyOut(customer_id=customer_id, **found)


@router.put(
    "/budget/policy/{customer_id}",
    tags=["budget"],
    responses=sync_errors(403),
    summary="Set an over-budget policy",
)
async def put_policy(
    who: Admin,
    customer_id: Annotated[str, PathParam(pattern=CUSTOMER_ID, examples=["acme"])],
    body: Policy,
) -> PolicyOut:
    tolerance = body.tolerance_pct if body.over_budget_policy == "tolerance" else Decimal(0)
    await db.rows(
        "insert into budget_customer_policy (customer_id, over_budget_policy, tolerance_pct) "
        "values (%s, %s, %s) on conflict (customer_id) do update set "
        "over_budget_policy = excluded.over_budget_policy, "
        "tolerance_pct = excluded.tolerance_pct, updated_at = now() returning customer_id",
        (customer_id, body.over_budget_policy, tolerance),
    )
    return PolicyOut(
        customer_id=customer_id, over_budget_policy=body.over_budget_policy, tolerance_pct=tolerance
    )
