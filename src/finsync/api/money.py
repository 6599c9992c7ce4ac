"""Budget checks and money movements (reserve, commit, release) against the warehouse.

Correctness under concurrency rests on PostgreSQL, not on this process:
- a reservation is ONE conditional `update budget_utilization ... where available >= amount`;
  the row lock serialises concurrent requests for a budget, and READ COMMITTED re-checks the
  condition against the winner's committed row, so no budget is ever over-reserved;
- the idempotency key is claimed first in the same transaction (primary key on customer and
  key): a concurrent retry waits for the first attempt and then replays its stored outcome;
- a sync never writes budget_utilization, so reservations and syncs never lose each other's work.

Refusals are the domain errors of `errors.py` (Invalid, NotFound, Conflict, InsufficientFunds);
this module knows nothing of HTTP.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

import psycopg
from psycopg import AsyncCursor

from finsync.api.db import Conn
from finsync.api.errors import Conflict, InsufficientFunds, Invalid, NotFound
from finsync.api.schemas import (
    BudgetTarget,
    CheckRequest,
    CommitRequest,
    ReleaseRequest,
    ReserveRequest,
)
from finsync.budget.model import AVAILABLE_SQL, SYNCED_STATUSES, available
from finsync.budget.settings import FREQUENCIES
from finsync.fiscal import fiscal_month_of, fiscal_year_of

CENT = Decimal("0.01")
MAX_RATE = Decimal("1e10")
MAX_BOOKED = Decimal("1e16")  # numeric(18, 2)
RATE_PLACES = Decimal("1e-10")  # the scale of budget_reservation.fx_rate, numeric(20, 10)
# How often each sync frequency runs, in seconds (`manual` never): from budget/config.py.
FREQUENCY_SECONDS = {
    name: int(every.total_seconds()) for name, every in FREQUENCIES.items() if every is not None
}
_FREQUENCY_CASE = (
    "case frequency "
    + " ".join(f"when '{name}' then {seconds}" for name, seconds in FREQUENCY_SECONDS.items())
    + " end"
)

# For SQL: `status in ({SYNCED})`, a sync after which the budgets match the source.
SYNCED = ", ".join(f"'{status}'" for status in SYNCED_STATUSES)

_CUSTOMER_SQL = f"""
select
    (select fiscal_year_start_month from budget_data_source_config
      where customer_id = %(c)s order by enabled desc, config_id limit 1) as fy_start,
    (select min({_FREQUENCY_CASE})
       from budget_data_source_config where customer_id = %(c)s and enabled) as frequency_s,
    (select end_time from sync_history
      where customer_id = %(c)s and status in ({SYNCED})
      order by start_time desc limit 1) as last_synced_at,
    (select over_budget_policy from budget_customer_policy where customer_id = %(c)s) as policy,
    (select tolerance_pct from budget_customer_policy where customer_id = %(c)s) as tolerance_pct
"""

# The customer's settings and the budgets a target matches, in one round trip. Which periods
# match depends on the customer's fiscal-year start, so %(p)s holds the candidate periods for
# every start month ("m1;m2;...;m12", each comma-separated) and the statement takes its
# customer's. One row per matching budget, or one row with null budget columns when none does.
_TARGET_SQL = f"""
with customer as ({_CUSTOMER_SQL})
select c.*, b.*
from customer c
left join lateral (
    select b.budget_id, b.department, b.sub_category, b.fiscal_period, b.budgeted_amount,
           b.currency, coalesce(u.committed_amount, 0) as committed,
           coalesce(u.reserved_amount, 0) as reserved
    from budget b left join budget_utilization u on u.budget_id = b.budget_id
    where b.customer_id = %(c)s and lower(b.department) = lower(%(d)s)
      and lower(coalesce(b.sub_category, '')) = lower(coalesce(%(s)s, ''))
      and b.fiscal_period
          = any(string_to_array(split_part(%(p)s, ';', coalesce(c.fy_start, 1)), ','))
      and b.deleted_at is null
) b on true
"""

_FX_SQL = """
(select rate, valid_from, 0 as inverse from budget_fx_rate
  where from_currency = %(f)s and to_currency = %(t)s and valid_from <= %(d)s
  order by valid_from desc limit 1)
union all
(select 1 / rate, valid_from, 1 as inverse from budget_fx_rate
  where from_currency = %(t)s and to_currency = %(f)s and valid_from <= %(d)s
  order by valid_from desc limit 1)
order by valid_from desc, inverse limit 1
"""

# The one statement that moves money into a bucket, only if the policy allows it. In the same
# statement (no extra round trip), threshold alerts (docs/budget_service.md): the utilisation
# after the booking, (committed + reserved) / budgeted, against the customer's thresholds
# (its first enabled config's, as for its fiscal calendar) records a crossing at most once per
# budget and threshold while it stays crossed, and closes crossings it fell back below. DAG
# budget_webhooks announces new crossings outside the request.
_BOOK_SQL = f"""
with booked as (
    update budget_utilization u
       set reserved_amount = u.reserved_amount + %(r)s,
           committed_amount = u.committed_amount + %(k)s, updated_at = now()
      from budget b
     where b.budget_id = u.budget_id and u.budget_id = %(b)s
       and (not %(check)s or (b.deleted_at is null
            and {AVAILABLE_SQL} - %(r)s - %(k)s >= -round(b.budgeted_amount * %(tol)s / 100, 2)))
    returning b.budget_id, b.customer_id, b.budgeted_amount, u.committed_amount,
              u.reserved_amount
),
usage as (
    select booked.*,
           round((committed_amount + reserved_amount) * 100 / budgeted_amount, 2) as pct,
           coalesce((select c.alert_thresholds_pct from budget_data_source_config c
                      where c.customer_id = booked.customer_id
                      order by c.enabled desc, c.config_id limit 1), '{{80,100}}') as thresholds
    from booked where budgeted_amount > 0
),
crossed as (
    insert into budget_threshold_crossing (budget_id, customer_id, threshold_pct,
        utilization_pct, budgeted_amount, committed_amount, reserved_amount)
    select s.budget_id, s.customer_id, t.pct, s.pct, s.budgeted_amount, s.committed_amount,
           s.reserved_amount
    from usage s cross join lateral unnest(s.thresholds) as t (pct)
    where s.pct >= t.pct and not exists (
        select from budget_threshold_crossing x
        where x.budget_id = s.budget_id and x.threshold_pct = t.pct and x.reset_at is null)
    on conflict (budget_id, threshold_pct) where reset_at is null do nothing
),
fell_back as (
    update budget_threshold_crossing x set reset_at = now()
    from usage s
    where x.budget_id = s.budget_id and x.reset_at is null and s.pct < x.threshold_pct
)
select budgeted_amount, committed_amount, reserved_amount from booked
"""


Row = dict[str, Any]


async def _the_row(cur: AsyncCursor[Row]) -> Row:
    """The row a statement returns by construction (an insert's `returning`, a row that
    exists under the caller's lock)."""
    row = await cur.fetchone()
    if row is None:
        raise RuntimeError("the statement returned no row")
    return row


@dataclass
class Customer:
    customer_id: str
    fy_start: int
    last_synced_at: datetime | None
    stale: bool
    policy: str
    tolerance_pct: Decimal


def money(value: Decimal | int | str) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def candidate_periods(on: date | None, period: str | None, fy_start: int) -> list[str]:
    """Periods that contain the date (or the given period), most specific first."""
    if period is not None:
        canonical = _canonical_period(period, fy_start)
        year = canonical[:6]
        if "-M" in canonical:
            quarter = (int(canonical[-2:]) - 1) // 3 + 1
            return [canonical, f"{year}-Q{quarter}", year]
        return [canonical, year] if "-Q" in canonical else [canonical]
    on = on or datetime.now(UTC).date()
    fy, fm = fiscal_year_of(on, fy_start), fiscal_month_of(on, fy_start)
    return [f"FY{fy}-M{fm:02d}", f"FY{fy}-Q{(fm - 1) // 3 + 1}", f"FY{fy}"]


def _canonical_period(raw: str, fy_start: int) -> str:
    """A period as the syncs understand it (FY2025-M03, Q1 2025, Jan 2025 ...), canonical."""
    canonical, why = _parse_period(raw, fy_start)
    if canonical is None:
        raise Invalid(f"period {raw!r}: {why}")
    return canonical


@lru_cache(maxsize=2048)
def _parse_period(raw: str, fy_start: int) -> tuple[str | None, str | None]:
    from finsync.budget.periods import FiscalCalendar, parse_period

    return parse_period(raw, FiscalCalendar(start=fy_start))


def _customer(customer_id: str, row: Row) -> Customer:
    last = row["last_synced_at"]
    if last is None:
        stale = True  # never synced: nothing vouches for these figures
    elif row["frequency_s"] is None:
        stale = False  # manual syncs only: no schedule to be late against
    else:
        stale = datetime.now(UTC) - last > timedelta(seconds=2 * row["frequency_s"])
    return Customer(
        customer_id,
        row["fy_start"] or 1,
        last,
        stale,
        row["policy"] or "block",
        row["tolerance_pct"] if row["policy"] == "tolerance" else Decimal(0),
    )


def _figures(row: Row) -> dict[str, Any]:
    budgeted, committed, reserved = (row["budgeted_amount"], row["committed"], row["reserved"])
    return {
        "budget_id": row["budget_id"],
        "fiscal_period": row["fiscal_period"],
        "currency": row["currency"],
        "budgeted": budgeted,
        "committed": committed,
        "reserved": reserved,
        "available": available(budgeted, committed, reserved),
    }


async def load_target(
    conn: Conn, customer_id: str, target: BudgetTarget
) -> tuple[Customer, list[Row]]:
    """The customer's settings and the budgets matching the target, most specific period
    first (NotFound when none does), in one statement."""
    on = target.date or (datetime.now(UTC).date() if target.period is None else None)
    by_start: list[str] = []
    unreadable: dict[int, Invalid] = {}
    for start in range(1, 13):
        try:
            by_start.append(",".join(candidate_periods(on, target.period, start)))
        except Invalid as exc:  # a period this fiscal calendar cannot read
            by_start.append("")
            unreadable[start] = exc
    cur = await conn.execute(
        _TARGET_SQL,
        {
            "c": customer_id,
            "d": target.department.strip(),
            "s": target.sub_category.strip() if target.sub_category else None,
            "p": ";".join(by_start),
        },
    )
    rows = await cur.fetchall()
    customer = _customer(customer_id, rows[0])
    if customer.fy_start in unreadable:
        raise unreadable[customer.fy_start]
    periods = by_start[customer.fy_start - 1].split(",")
    rows = [r for r in rows if r["budget_id"] is not None]
    if not rows:
        what = f"department {target.department!r}" + (
            f", sub-category {target.sub_category!r}"
            if target.sub_category
            else " (no sub-category)"
        )
        raise NotFound(
            f"no active budget for customer {customer.customer_id!r}, {what}, in "
            f"{', '.join(periods)}",
        )
    rank = {p: i for i, p in enumerate(periods)}
    return customer, sorted(rows, key=lambda r: rank[r["fiscal_period"]])


async def fx_rate(conn: Conn, from_currency: str, to_currency: str, on: date) -> Decimal:
    if from_currency == to_currency:
        return Decimal(1)
    cur = await conn.execute(_FX_SQL, {"f": from_currency, "t": to_currency, "d": on})
    row = await cur.fetchone()
    if row is None:
        raise Invalid(
            f"no FX rate from {from_currency} to {to_currency} on or before {on}: "
            "load one with PUT /fx/rates or `finsync fx set`",
        )
    # Rounded as budget_reservation.fx_rate stores it, so every amount derived from the rate
    # (a booking now, a partial commit later) uses the very rate that is recorded.
    rate = Decimal(row["rate"]).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)
    if not 0 < rate < MAX_RATE:
        raise Invalid(
            f"the FX rate from {from_currency} to {to_currency} on {on} ({rate}) is outside "
            "what a reservation can record",
        )
    return rate


async def check(conn: Conn, customer_id: str, req: CheckRequest) -> dict[str, Any]:
    customer, rows = await load_target(conn, customer_id, req)
    best = rows[0]
    currency = req.currency or best["currency"]
    rate = await fx_rate(conn, currency, best["currency"], req.date or datetime.now(UTC).date())
    amount = money(req.amount * rate)
    figures = _figures(best)
    available = figures["available"]
    allowance = money(best["budgeted_amount"] * customer.tolerance_pct / 100)
    warnings = _warnings(customer, available, amount, allowance)
    return {
        **figures,
        "customer_id": customer_id,
        "department": best["department"],
        "sub_category": best["sub_category"],
        "amount": amount,
        "request_amount": req.amount,
        "request_currency": currency,
        "fx_rate": rate,
        "fits": available >= amount,
        "allowed": available - amount >= -allowance,
        "over_budget_policy": customer.policy,
        "tolerance_pct": customer.tolerance_pct,
        "matches": [_figures(r) for r in rows],
        "last_synced_at": customer.last_synced_at,
        "stale": customer.stale,
        "warnings": warnings,
    }


def _warnings(
    customer: Customer, available: Decimal, amount: Decimal, allowance: Decimal
) -> list[str]:
    out = []
    if customer.stale:
        out.append(
            "budget data is stale: the last successful sync was "
            + (customer.last_synced_at.isoformat() if customer.last_synced_at else "never")
        )
    if amount > available and available - amount >= -allowance:
        out.append(
            f"over budget by {amount - available} (within the customer's "
            f"{customer.tolerance_pct}% tolerance)"
        )
    return out


# ---- money movements: one transaction each, idempotent ------------------------------------


def request_digest(operation: str, body: dict[str, Any]) -> str:
    canonical = json.dumps({"op": operation, "body": body}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Replay(Exception):
    def __init__(self, status_code: int, body: Any) -> None:
        self.status_code, self.body = status_code, body


async def claim_key(conn: Conn, customer_id: str, key: str, operation: str, digest: str) -> None:
    """Claim the idempotency key inside the open transaction, or raise Replay with the stored
    outcome. A concurrent holder of the key makes this wait until it commits."""
    cur = await conn.execute(
        "insert into budget_api_request (customer_id, idempotency_key, operation, request_sha256) "
        "values (%s, %s, %s, %s) on conflict do nothing returning 1",
        (customer_id, key, operation, digest),
    )
    if await cur.fetchone():
        return
    cur = await conn.execute(
        "select operation, request_sha256, status_code, response from budget_api_request "
        "where customer_id = %s and idempotency_key = %s",
        (customer_id, key),
    )
    prior = await _the_row(cur)
    if prior["request_sha256"] != digest:
        raise Invalid(
            f"Idempotency-Key {key!r} was already used for a different request "
            f"({prior['operation']}); use a new key for a new request",
        )
    raise Replay(prior["status_code"], prior["response"])


async def store_outcome(
    conn: Conn, customer_id: str, key: str, status_code: int, body: Any
) -> None:
    await conn.execute(
        "update budget_api_request set status_code = %s, response = %s "
        "where customer_id = %s and idempotency_key = %s",
        (status_code, json.dumps(body, default=_json_default), customer_id, key),
    )


def _json_default(value: object) -> float | str:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


async def _book(
    conn: Conn, budget_id: int, *, reserve: Decimal, commit: Decimal, tolerance: Decimal | None
) -> Row | None:
    """Move money; with a tolerance, only if the budget (still active) can take it."""
    await conn.execute(
        "insert into budget_utilization (budget_id) values (%s) on conflict do nothing",
        (budget_id,),
    )
    try:
        cur = await conn.execute(
            _BOOK_SQL,
            {
                "b": budget_id,
                "r": reserve,
                "k": commit,
                "tol": tolerance or 0,
                "check": tolerance is not None,
            },
        )
    except psycopg.errors.NumericValueOutOfRange:  # the caller's savepoint undoes the attempt
        raise Invalid(
            f"booking {reserve + commit} would exceed what the budget's totals can hold"
        ) from None
    return await cur.fetchone()


async def _give_back(conn: Conn, budget_id: int, *, reserve: Decimal, commit: Decimal) -> Row:
    """Move money held by a reservation (commit or release it): no policy to check, so the
    budget's row is always updated."""
    booked = await _book(conn, budget_id, reserve=reserve, commit=commit, tolerance=None)
    if booked is None:
        raise RuntimeError(f"budget {budget_id} has no utilization row")
    return booked


async def _over_budget(conn: Conn, budget_id: int, amount: Decimal, customer: Customer) -> Conflict:
    cur = await conn.execute(
        f"select {AVAILABLE_SQL} as available, b.deleted_at "
        "from budget b left join budget_utilization u using (budget_id) where b.budget_id = %s",
        (budget_id,),
    )
    row = await _the_row(cur)
    if row["deleted_at"] is not None:
        return Conflict("the budget was removed by a sync; nothing was booked")
    left = row["available"]
    policy = (
        "blocks over-budget requests"
        if customer.policy == "block"
        else f"allows up to {customer.tolerance_pct}% over budget"
    )
    return InsufficientFunds(
        {
            "message": f"over budget: {amount} requested, {left} available; the "
            f"customer's policy {policy}; nothing was booked",
            "available": float(left),
            "requested": float(amount),
        },
    )


async def _log(
    conn: Conn,
    reservation_id: int,
    budget_id: int,
    action: str,
    reserved: Decimal,
    committed: Decimal,
    actor: str,
    key: str,
) -> None:
    await conn.execute(
        "insert into budget_utilization_log (reservation_id, budget_id, action, reserved_delta, "
        "committed_delta, actor, idempotency_key) values (%s, %s, %s, %s, %s, %s, %s)",
        (reservation_id, budget_id, action, reserved, committed, actor, key),
    )


def _reservation_body(res: Row, booked: Row, warnings: list[str]) -> dict[str, Any]:
    budgeted, committed, reserved = (
        booked["budgeted_amount"],
        booked["committed_amount"],
        booked["reserved_amount"],
    )
    return {
        "reservation_id": res["reservation_id"],
        "customer_id": res["customer_id"],
        "status": res["status"],
        "budget_id": res["budget_id"],
        "fiscal_period": res["fiscal_period"],
        "currency": res["currency"],
        "amount": res["amount"],
        "request_amount": res["request_amount"],
        "request_currency": res["request_currency"],
        "fx_rate": res["fx_rate"],
        "reference": res["reference"],
        "budgeted": budgeted,
        "committed": committed,
        "reserved": reserved,
        "available": available(budgeted, committed, reserved),
        "warnings": warnings,
    }


async def book_new(
    conn: Conn, customer_id: str, req: ReserveRequest, *, status: str, actor: str, key: str
) -> dict[str, Any]:
    """Reserve (status 'reserved') or directly commit (status 'committed') against a budget."""
    customer, rows = await load_target(conn, customer_id, req)
    best = rows[0]
    currency = req.currency or best["currency"]
    rate = await fx_rate(conn, currency, best["currency"], req.date or datetime.now(UTC).date())
    amount = money(req.amount * rate)
    if amount <= 0:
        raise Invalid(
            f"amount must be more than 0 (it is {amount} {best['currency']} at rate {rate})"
        )
    if amount >= MAX_BOOKED:
        raise Invalid(f"amount {amount} {best['currency']} is too large to book")
    reserve, commit = (amount, Decimal(0)) if status == "reserved" else (Decimal(0), amount)
    booked = await _book(
        conn, best["budget_id"], reserve=reserve, commit=commit, tolerance=customer.tolerance_pct
    )
    if booked is None:
        raise await _over_budget(conn, best["budget_id"], amount, customer)
    cur = await conn.execute(
        "insert into budget_reservation (customer_id, budget_id, status, amount, request_amount, "
        "request_currency, fx_rate, reference, actor) values (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "returning reservation_id, customer_id, budget_id, status, amount, request_amount, "
        "request_currency, fx_rate, reference",
        (
            customer_id,
            best["budget_id"],
            status,
            amount,
            req.amount,
            currency,
            rate,
            req.reference,
            actor,
        ),
    )
    res = {
        **await _the_row(cur),
        "fiscal_period": best["fiscal_period"],
        "currency": best["currency"],
    }
    await _log(
        conn,
        res["reservation_id"],
        best["budget_id"],
        "reserve" if status == "reserved" else "commit",
        reserve,
        commit,
        actor,
        key,
    )
    # From the row as booked (under its lock), not from the lookup before it: a concurrent
    # booking in between changes what was available.
    budgeted = booked["budgeted_amount"]
    available_before = (
        available(budgeted, booked["committed_amount"], booked["reserved_amount"])
        + reserve
        + commit
    )
    allowance = money(budgeted * customer.tolerance_pct / 100)
    return _reservation_body(res, booked, _warnings(customer, available_before, amount, allowance))


async def _locked_reservation(conn: Conn, customer_id: str, reservation_id: int) -> Row:
    cur = await conn.execute(
        "select r.*, b.fiscal_period, b.currency from budget_reservation r "
        "join budget b using (budget_id) "
        "where r.reservation_id = %s and r.customer_id = %s for update of r",
        (reservation_id, customer_id),
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no reservation {reservation_id} for customer {customer_id!r}")
    return row


async def commit_reservation(
    conn: Conn, customer_id: str, req: CommitRequest, *, actor: str, key: str
) -> dict[str, Any]:
    if req.reservation_id is None:  # (a direct commit books through book_new)
        raise Invalid("give either reservation_id or target")
    res = await _locked_reservation(conn, customer_id, req.reservation_id)
    if res["status"] != "reserved":
        raise Conflict(
            f"reservation {res['reservation_id']} is {res['status']}, "
            "only a reserved one can be committed",
        )
    held = res["amount"]
    amount = held if req.amount is None else money(req.amount * res["fx_rate"])
    if amount <= 0 or amount > held:
        raise Invalid(
            f"commit amount must be more than 0 and at most the reserved {res['request_amount']} "
            f"{res['request_currency']}",
        )
    booked = await _give_back(conn, res["budget_id"], reserve=-held, commit=amount)
    await conn.execute(
        "update budget_reservation set status = 'committed', amount = %s, updated_at = now() "
        "where reservation_id = %s",
        (amount, res["reservation_id"]),
    )
    await _log(conn, res["reservation_id"], res["budget_id"], "commit", -held, amount, actor, key)
    warnings = [] if amount == held else [f"{held - amount} {res['currency']} released"]
    return _reservation_body({**res, "status": "committed", "amount": amount}, booked, warnings)


async def release(
    conn: Conn, customer_id: str, req: ReleaseRequest, *, actor: str, key: str
) -> dict[str, Any]:
    res = await _locked_reservation(conn, customer_id, req.reservation_id)
    if res["status"] == "released":
        raise Conflict(f"reservation {res['reservation_id']} is already released")
    held = res["amount"]
    reserve, commit = (-held, Decimal(0)) if res["status"] == "reserved" else (Decimal(0), -held)
    booked = await _give_back(conn, res["budget_id"], reserve=reserve, commit=commit)
    await conn.execute(
        "update budget_reservation set status = 'released', updated_at = now() "
        "where reservation_id = %s",
        (res["reservation_id"],),
    )
    await _log(
        conn, res["reservation_id"], res["budget_id"], "release", reserve, commit, actor, key
    )
    return _reservation_body({**res, "status": "released"}, booked, [])
