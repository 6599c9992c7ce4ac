"""Sync runs: start one now, the history of attempts, the totals after each, the health of
every customer's schedule."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from finsync.api import airflow_bridge, db
from finsync.api.dependencies import Admin, Who
from finsync.api.money import FREQUENCY_SECONDS, SYNCED
from finsync.api.schemas import CustomerQuery, SyncStatus, TriggerRequest, sync_errors
from finsync.budget.writeback import last_writeback_sql

router = APIRouter()


@router.post(
    "/sync/trigger",
    tags=["sync"],
    status_code=202,
    responses=sync_errors(403, 404, 503),
    summary="Start a budget_sync run for one customer now",
)
async def trigger_sync(who: Who, body: TriggerRequest) -> dict[str, Any]:
    return await airflow_bridge.start_run(
        who.customer(body.customer_id), force=body.force, user=who.name
    )


@router.get(
    "/sync/history",
    tags=["sync"],
    responses=sync_errors(403),
    summary="Sync attempts, newest first",
)
async def history(
    who: Who,
    customer_id: CustomerQuery = None,
    status: Annotated[
        SyncStatus | None,
        Query(),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    errors_limit: Annotated[int, Query(ge=0, le=10000)] = 100,
) -> list[dict[str, Any]]:
    """Each attempt with its counts, message and the first `errors_limit` rejected rows
    (`error_count` has them all; the reject file at /sync/history/{sync_id}/rejects)."""
    if not who.is_admin:
        customer_id = who.customer(customer_id)
    return await db.rows(
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
    "/sync/totals",
    tags=["sync"],
    responses=sync_errors(403),
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
    return await db.rows(
        f"""
        with syncs as (
            select sync_id, start_time, status from sync_history
            where customer_id = %(c)s and status in ({SYNCED})
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
            from audit_log
            where customer_id = %(c)s
              -- a total after a sync is today's less what the later syncs changed, so only
              -- the listed syncs and later ones count: found through audit_log_sync_idx,
              -- not by reading every customer's audit rows
              and sync_id = any(array(
                  select h.sync_id from sync_history h
                  where h.customer_id = %(c)s and h.sync_id >= (select min(sync_id) from syncs)
              ))
            group by sync_id
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
    responses=sync_errors(403),
    summary="Scheduled, running, last and stale syncs",
)
async def health(who: Admin) -> dict[str, Any]:
    customers = await db.rows(
        f"""
        select c.customer_id, c.config_id, c.source_type, c.enabled, c.frequency,
               c.source_config, c.last_sync_at, c.last_sync_status, c.next_sync_at,
               c.column_mapping_version, {last_writeback_sql("c.config_id")} as last_writeback,
               (select row_to_json(h) from (
                   select sync_id, status, start_time, end_time, duration_ms, file_name,
                          total_rows, created_count, updated_count, unchanged_count,
                          soft_deleted_count, restored_count, error_count, message,
                          triggered_by, airflow_run_id
                   from sync_history where config_id = c.config_id
                   order by sync_id desc limit 1) h) as last_run,
               (select max(end_time) from sync_history where config_id = c.config_id
                  and status in ({SYNCED})) as last_success_at,
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
    if source_type == "google_sheets":
        sheet = f"{cfg.get('spreadsheet_id', '?')} {cfg.get('range', '')}"
        return f"google_sheets ({cfg.get('conn_id', '?')}):{sheet}"
    if source_type == "anaplan":
        ids = "/".join(str(cfg.get(k, "?")) for k in ("workspace_id", "model_id", "export_id"))
        return f"anaplan ({cfg.get('conn_id', '?')}):{ids}"
    if source_type == "http":
        url = str(cfg.get("url", "")).split("?", 1)[0]
        return f"http ({cfg.get('conn_id', '?')}):{url}"
    return f"{source_type}:{cfg.get('path', '')}/{cfg.get('glob', '')}"
