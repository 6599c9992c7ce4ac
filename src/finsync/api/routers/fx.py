"""FX rates: the conversions a budget check or booking in another currency uses."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from pydantic import Field

from finsync.api import db
from finsync.api.dependencies import Admin, Who
from finsync.api.schemas import FxRate, sync_errors

router = APIRouter()


@router.get("/fx/rates", tags=["fx"], summary="FX rates")
async def get_rates(who: Who) -> list[dict[str, Any]]:
    return await db.rows(
        "select from_currency, to_currency, valid_from, rate::float8 as rate from budget_fx_rate "
        "order by from_currency, to_currency, valid_from desc"
    )


@router.put("/fx/rates", tags=["fx"], responses=sync_errors(403), summary="Add or replace FX rates")
async def put_rates(
    who: Admin, rates: Annotated[list[FxRate], Field(min_length=1, max_length=10000)]
) -> dict[str, int]:
    same = sorted({r.from_currency for r in rates if r.from_currency == r.to_currency})
    if same:
        raise HTTPException(422, f"a rate from a currency to itself is always 1: {', '.join(same)}")
    p = await db.pool()
    async with p.connection() as conn, conn.transaction(), conn.cursor() as cur:
        await cur.executemany(
            "insert into budget_fx_rate (from_currency, to_currency, valid_from, rate) "
            "values (%s, %s, %s, %s) on conflict (from_currency, to_currency, valid_from) "
            "do update set rate = excluded.rate",
            [(r.from_currency, r.to_currency, r.valid_from, r.rate) for r in rates],
        )
    return {"rates": len(rates)}
