"""Sync management: configs, runs, history, health, uploads, FX rates and over-budget policies."""

from __future__ import annotations

import math
import re
import tempfile
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, HTTPException, Query, UploadFile
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import ConfigDict, Field

from finsync.api import airflow_bridge, db
from finsync.api.auth import Admin, Principal, Who
from finsync.api.schemas import (
    CURRENCY,
    CUSTOMER_ID,
    JsonBool,
    JsonDate,
    JsonInt,
    Money,
    Problem,
    Strict,
    decimal_in,
)
from finsync.budget import config as configs

router = APIRouter()
Frequency = Literal[*configs.FREQUENCIES]  # budget/config.py owns the frequencies
SourceType = Literal["local", "sftp", "s3", "upload"]
Pct = decimal_in(
    maximum=100, places=2, positive=False, text=r"^0*(100(\.00?)?|[0-9]{1,2}(\.[0-9]{1,2})?)$"
)
FxRateValue = decimal_in(
    maximum=10**9,
    places=10,
    positive=True,
    text=r"^0*([1-9][0-9]{0,8}(\.[0-9]{1,10})?|0?\.[0-9]{0,9}[1-9])$",
)
CustomerId = Annotated[str, Field(pattern=CUSTOMER_ID)]
RowId = Annotated[int, PathParam(ge=1, le=2**63 - 1, examples=[1])]
CustomerQuery = Annotated[str | None, Query(pattern=CUSTOMER_ID, examples=["acme"])]
MAX_UPLOAD_BYTES = 512 * 1024 * 1024
CUSTOMER_FORM = "Required with an admin token; a customer token acts for its own customer"


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI declarations of the error statuses a route can answer with."""
    what = {
        403: "Not allowed for this token",
        404: "No such customer, config or file",
        409: "Conflicts with what exists",
        410: "Gone",
        413: "File too large",
        503: "Airflow cannot start the run now",
    }
    return {code: {"model": Problem, "description": what[code]} for code in codes}


def _storable_json(what: str, value: Any) -> None:
    """Refuse (422) JSON that PostgreSQL's jsonb cannot hold: NUL characters, NaN, infinity."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and "\x00" in item:
            raise HTTPException(422, f"{what} must not contain NUL characters")
        elif isinstance(item, float) and not math.isfinite(item):
            raise HTTPException(422, f"{what} must not contain NaN or infinite numbers")


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
    valid_from: Annotated[date, JsonDate]
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


async def _config_write(write, *args, **kwargs):
    """Run one of finsync.budget.config's writes (the one writer of configs and mapping
    versions, shared with the CLI and the DAG) on its own connection in a worker thread.
    Config changes are rare admin requests: a connection each costs a few ms."""
    from finsync import warehouse

    conninfo = (await db.pool()).conninfo

    def work():
        with warehouse.connect(conninfo) as conn:
            return write(conn, *args, **kwargs)

    try:
        return await run_in_threadpool(work)
    except ValueError as exc:  # a bad setting (SourceConfigError too): names keys, not values
        raise HTTPException(422, str(exc)) from None


async def _rows(sql: str, args=()) -> list[dict]:
    p = await db.pool()
    async with p.connection() as conn:
        cur = await conn.execute(sql, args)
        return await cur.fetchall()


# ---- configs (admin) ----------------------------------------------------------------------


@router.get("/sync/config", tags=["sync"], responses=_errors(403), summary="List source configs")
async def list_configs(who: Admin, customer_id: CustomerQuery = None) -> list[dict[str, Any]]:
    return await _rows(
        f"select {configs.COLUMNS} from budget_data_source_config "  # noqa: S608 - constant
        "where %(c)s::text is null or customer_id = %(c)s order by customer_id, config_id",
        {"c": customer_id},
    )


@router.post(
    "/sync/config",
    tags=["sync"],
    status_code=201,
    responses=_errors(403, 409),
    summary="Add a source config",
)
async def create_config(who: Admin, body: ConfigCreate) -> dict[str, Any]:
    """A `column_mapping` given here is the config's mapping version 1 (with its history row)."""
    settings = body.model_dump(exclude_none=True, exclude={"customer_id", "source_type"})
    for key in ("source_config", "column_mapping", "notify"):
        _storable_json(key, settings.get(key))
    row = await _config_write(
        configs.create,
        customer_id=body.customer_id,
        source_type=body.source_type,
        settings=settings,
        confirmed_by=who.name,
    )
    if row is None:
        raise HTTPException(
            409,
            f"customer {body.customer_id!r} already has a {body.source_type} source; "
            "change it with PATCH /sync/config/{config_id}",
        )
    return row


@router.patch(
    "/sync/config/{config_id}",
    tags=["sync"],
    responses=_errors(403, 404),
    summary="Change a source config",
)
async def patch_config(who: Admin, config_id: RowId, body: ConfigFields) -> dict[str, Any]:
    """A new `column_mapping` becomes the config's next mapping version, recorded in its
    mapping history with the token's name (the same mapping again changes nothing)."""
    changes = body.model_dump(exclude_none=True)
    for key in ("source_config", "column_mapping", "notify"):
        _storable_json(key, changes.get(key))
    row = await _config_write(configs.update, config_id, changes, changed_by=who.name)
    if row is None:
        raise HTTPException(404, f"no source config {config_id}")
    return row


# ---- runs --------------------------------------------------------------------------------


async def _start_run(who: Principal, customer_id: str, force: bool) -> dict:
    found = await _rows(
        "select 1 from budget_data_source_config where customer_id = %s and enabled", (customer_id,)
    )
    if not found:
        raise HTTPException(404, f"customer {customer_id!r} has no enabled source config")
    try:
        return await run_in_threadpool(
            airflow_bridge.trigger, customer_id, force=force, user=who.name
        )
    except LookupError as exc:
        raise HTTPException(503, str(exc)) from None


@router.post(
    "/sync/trigger",
    tags=["sync"],
    status_code=202,
    responses=_errors(403, 404, 503),
    summary="Start a budget_sync run for one customer now",
)
async def trigger_sync(who: Who, body: TriggerRequest) -> dict:
    return await _start_run(who, who.customer(body.customer_id), body.force)


@router.get(
    "/sync/history", tags=["sync"], responses=_errors(403), summary="Sync attempts, newest first"
)
async def history(
    who: Who,
    customer_id: CustomerQuery = None,
    status: Annotated[
        Literal["running", "success", "partial", "failed", "unchanged", "needs_review"] | None,
        Query(),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    errors_limit: Annotated[int, Query(ge=0, le=10000)] = 100,
) -> list[dict[str, Any]]:
    """Each attempt with its counts, message and the first `errors_limit` rejected rows
    (`error_count` has them all; the reject file at /sync/history/{sync_id}/rejects)."""
    if not who.is_admin:
        customer_id = who.customer(customer_id)
    return await _rows(
        "select sync_id, customer_id, config_id, status, start_time, end_time, duration_ms, "
        "file_name, file_sha256, total_rows, created_count, updated_count, unchanged_count, "
        "soft_deleted_count, restored_count, error_count, "
        "(select coalesce(jsonb_agg(e), '[]') from (select e from jsonb_array_elements(errors) e "
        " limit %(el)s) x) as errors, triggered_by, message, "
        "reject_file is not null as has_rejects, "
        "airflow_run_id, review is not null and status = 'needs_review' as awaiting_review, "
        "grain "
        "from sync_history where (%(c)s::text is null or customer_id = %(c)s) "
        "and (%(s)s::text is null or status = %(s)s) order by sync_id desc limit %(l)s",
        {"c": customer_id, "s": status, "l": limit, "el": errors_limit},
    )


@router.get(
    "/sync/history/{sync_id}/rejects",
    tags=["sync"],
    response_class=FileResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "The rejected rows"},
        **_errors(404, 410),
    },
    summary="Download the rejected rows of one sync (CSV)",
)
async def rejects(who: Who, sync_id: RowId):
    rows = await _rows(
        "select customer_id, reject_file from sync_history where sync_id = %s", (sync_id,)
    )
    if not rows or not who.can_see(rows[0]["customer_id"]) or not rows[0]["reject_file"]:
        raise HTTPException(404, f"no reject file for sync {sync_id}")
    path = Path(rows[0]["reject_file"])
    if not path.is_file():
        raise HTTPException(410, f"the reject file of sync {sync_id} was cleaned up")
    return FileResponse(path, filename=f"sync_{sync_id}_rejects{path.suffix}")


@router.get(
    "/sync/totals",
    tags=["sync"],
    responses=_errors(403),
    summary="A customer's total active budget after each of its last syncs",
)
async def totals(
    who: Who,
    customer_id: CustomerQuery = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 30,
) -> list[dict[str, Any]]:
    """Per sync that changed or checked budgets: the change it made (from the audit log) and
    the customer's total active budgeted amount right after it (all currencies summed)."""
    customer_id = who.customer(customer_id)
    return await _rows(
        """
        with syncs as (
            select sync_id, start_time, status from sync_history
            where customer_id = %(c)s and status in ('success', 'partial', 'unchanged')
            order by sync_id desc limit %(l)s
        ), changes as (
            -- what each audited action did to the ACTIVE total: a restored budget comes back
            -- whole (its old amount was not counted while it was deleted)
            select sync_id, sum(case action
                    when 'create' then (new_values->>'budgeted_amount')::numeric
                    when 'restore' then (new_values->>'budgeted_amount')::numeric
                    when 'update' then (new_values->>'budgeted_amount')::numeric
                                     - (old_values->>'budgeted_amount')::numeric
                    when 'soft_delete' then -(old_values->>'budgeted_amount')::numeric
                end) as change
            from audit_log where customer_id = %(c)s and sync_id is not null group by sync_id
        ), current as (
            select coalesce(sum(budgeted_amount), 0) as total from budget
            where customer_id = %(c)s and deleted_at is null
        )
        select s.sync_id, s.start_time, s.status, coalesce(c.change, 0)::float8 as change,
               (cur.total - coalesce(sum(c2.change), 0))::float8 as total_after
        from syncs s cross join current cur
        left join changes c on c.sync_id = s.sync_id
        left join changes c2 on c2.sync_id > s.sync_id
        group by s.sync_id, s.start_time, s.status, c.change, cur.total
        order by s.sync_id
        """,
        {"c": customer_id, "l": limit},
    )


@router.get(
    "/sync/health",
    tags=["sync"],
    responses=_errors(403),
    summary="Scheduled, running, last and stale syncs",
)
async def health(who: Admin) -> dict[str, Any]:
    from finsync.api.money import FREQUENCY_SECONDS

    customers = await _rows(
        """
        select c.customer_id, c.config_id, c.source_type, c.enabled, c.frequency,
               c.source_config, c.last_sync_at, c.last_sync_status, c.next_sync_at,
               c.column_mapping_version,
               (select row_to_json(h) from (
                   select sync_id, status, start_time, end_time, duration_ms, file_name,
                          total_rows, created_count, updated_count, unchanged_count,
                          soft_deleted_count, restored_count, error_count, message,
                          triggered_by, airflow_run_id
                   from sync_history where config_id = c.config_id
                   order by sync_id desc limit 1) h) as last_run,
               (select max(end_time) from sync_history where config_id = c.config_id
                  and status in ('success', 'partial', 'unchanged')) as last_success_at,
               (select sync_id from sync_history where config_id = c.config_id
                  and status = 'needs_review' and review is not null
                  and sync_id = (select max(sync_id) from sync_history h2
                                 where h2.config_id = c.config_id)) as pending_review_sync_id
        from budget_data_source_config c order by c.customer_id, c.config_id
        """
    )
    now = datetime.now(UTC)
    for c in customers:
        c["source"] = _describe_source(c.pop("source_type"), c.pop("source_config"))
        seconds = FREQUENCY_SECONDS.get(c["frequency"])
        last = c["last_success_at"]
        c["stale"] = c["enabled"] and (
            last is None
            if seconds is None and last is None
            else seconds is not None
            and (last is None or (now - last).total_seconds() > 2 * seconds)
        )
    try:
        running = await run_in_threadpool(airflow_bridge.active_runs)
    except Exception as exc:  # noqa: BLE001 - the warehouse view stays useful without Airflow
        running = [{"error": f"Airflow's run list is unavailable: {type(exc).__name__}"}]
    return {
        "checked_at": now,
        "scheduled_customers": sorted(
            {c["customer_id"] for c in customers if c["enabled"] and c["frequency"] != "manual"}
        ),
        "running_syncs": running,
        "stale_customers": sorted({c["customer_id"] for c in customers if c["stale"]}),
        "customers": customers,
    }


def _describe_source(source_type: str, cfg: dict[str, Any]) -> str:
    if source_type == "s3":
        return f"s3://{cfg.get('bucket', '?')}/{cfg.get('prefix', '')}{cfg.get('glob', '')}"
    if source_type == "sftp":
        return f"sftp ({cfg.get('conn_id', '?')}):{cfg.get('path', '')}/{cfg.get('glob', '')}"
    return f"{source_type}:{cfg.get('path', '')}/{cfg.get('glob', '')}"


# ---- files --------------------------------------------------------------------------------


async def _save_upload(upload: UploadFile, folder: Path, *, stamp: bool = True) -> Path:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(upload.filename or "upload").name).strip("._")
    folder.mkdir(parents=True, exist_ok=True)
    name = name or "upload"
    if stamp:  # a drop folder keeps every upload, newest last
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}_{name}"
    target = folder / name
    partial = folder / f".{target.name}.part"  # not matched by the source's glob while written
    size = 0
    with partial.open("wb") as out:
        while chunk := await upload.read(1 << 20):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                out.close()
                partial.unlink()
                raise HTTPException(413, f"file larger than {MAX_UPLOAD_BYTES >> 20} MiB")
            out.write(chunk)
    partial.rename(target)
    return target


@router.post(
    "/files/analyze",
    tags=["files"],
    responses=_errors(413),
    summary="Analyze a budget file (nothing stored)",
)
async def analyze_file(
    who: Who,
    file: Annotated[UploadFile, File(description="CSV, XLSX or XLS")],
    sheet: Annotated[str, Form(max_length=100, description="Default: the budget sheet")] = None,
    header_row: Annotated[int, Form(ge=1, le=10000, description="Default: detected")] = None,
) -> dict[str, Any]:
    from finsync.budget.analyze import analyze
    from finsync.budget.model import BudgetFileError

    with tempfile.TemporaryDirectory(prefix="finsync-analyze-") as tmp:
        path = await _save_upload(file, Path(tmp), stamp=False)  # errors name the file
        try:
            return await run_in_threadpool(analyze, path, sheet=sheet, header_row=header_row)
        except BudgetFileError as exc:
            raise HTTPException(422, str(exc)) from None


@router.post(
    "/files/import",
    tags=["files"],
    status_code=202,
    responses=_errors(403, 404, 409, 413, 503),
    summary="Upload a budget file and sync it like any other source",
)
async def import_file(
    who: Who,
    file: Annotated[UploadFile, File(description="CSV, XLSX or XLS")],
    customer_id: Annotated[str, Form(pattern=CUSTOMER_ID, description=CUSTOMER_FORM)] = None,
) -> dict[str, Any]:
    """Writes the file to the customer's `upload` source folder and starts a `budget_sync`
    run for the customer; follow it with GET /sync/history."""
    customer_id = who.customer(customer_id)
    rows = await _rows(
        "select source_config from budget_data_source_config "
        "where customer_id = %s and source_type = 'upload' and enabled",
        (customer_id,),
    )
    if not rows:
        raise HTTPException(
            404,
            f"customer {customer_id!r} has no enabled upload source: add one with "
            "POST /sync/config (source_type upload, source_config.path = the drop folder)",
        )
    folder = rows[0]["source_config"].get("path")
    if not isinstance(folder, str) or not folder:
        raise HTTPException(
            409, f"customer {customer_id!r}'s upload source has no path: set source_config.path"
        )
    saved = await _save_upload(file, Path(folder))
    run = await _start_run(who, customer_id, force=False)
    return {**run, "file_name": saved.name}


# ---- FX rates and over-budget policies ----------------------------------------------------


@router.get("/fx/rates", tags=["fx"], summary="FX rates")
async def get_rates(who: Who) -> list[dict[str, Any]]:
    return await _rows(
        "select from_currency, to_currency, valid_from, rate::float8 as rate from budget_fx_rate "
        "order by from_currency, to_currency, valid_from desc"
    )


@router.put("/fx/rates", tags=["fx"], responses=_errors(403), summary="Add or replace FX rates")
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


@router.get(
    "/budget/policy",
    tags=["budget"],
    responses=_errors(403),
    summary="A customer's over-budget policy",
)
async def get_policy(who: Who, customer_id: CustomerQuery = None) -> PolicyOut:
    customer_id = who.customer(customer_id)
    rows = await _rows(
        "select over_budget_policy, tolerance_pct from budget_customer_policy "
        "where customer_id = %s",
        (customer_id,),
    )
    found = rows[0] if rows else {"over_budget_policy": "block", "tolerance_pct": 0}
    return PolicyOut(customer_id=customer_id, **found)


@router.put(
    "/budget/policy/{customer_id}",
    tags=["budget"],
    responses=_errors(403),
    summary="Set an over-budget policy",
)
async def put_policy(
    who: Admin,
    customer_id: Annotated[str, PathParam(pattern=CUSTOMER_ID, examples=["acme"])],
    body: Policy,
) -> PolicyOut:
    tolerance = body.tolerance_pct if body.over_budget_policy == "tolerance" else Decimal(0)
    await _rows(
        "insert into budget_customer_policy (customer_id, over_budget_policy, tolerance_pct) "
        "values (%s, %s, %s) on conflict (customer_id) do update set "
        "over_budget_policy = excluded.over_budget_policy, "
        "tolerance_pct = excluded.tolerance_pct, updated_at = now() returning customer_id",
        (customer_id, body.over_budget_policy, tolerance),
    )
    return PolicyOut(
        customer_id=customer_id, over_budget_policy=body.over_budget_policy, tolerance_pct=tolerance
    )
