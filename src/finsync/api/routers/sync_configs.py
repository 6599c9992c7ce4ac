"""Source configs (admin): list, add, change. Written through `finsync.budget.config`, the
one writer of configs and mapping versions (shared with the CLI and the DAG)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool

from finsync import warehouse
from finsync.api import db
from finsync.api.dependencies import Admin
from finsync.api.schemas import ConfigCreate, ConfigFields, CustomerQuery, RowId, sync_errors
from finsync.budget import config as configs
from finsync.budget.writeback import last_writeback_sql

router = APIRouter()


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


async def _config_write(
    write: Callable[..., dict[str, Any] | None], *args: Any, **kwargs: Any
) -> dict[str, Any] | None:
    """Run one of finsync.budget.config's writes (the one writer of configs and mapping
    versions, shared with the CLI and the DAG) on its own connection in a worker thread.
    Config changes are rare admin requests: a connection each costs a few ms."""
    conninfo = await db.conninfo()

    def work() -> dict[str, Any] | None:
        # retry=False: a person is waiting, so one attempt (no ~30 s back-off as in a task)
        with warehouse.connect(conninfo, retry=False) as conn:
            return write(conn, *args, **kwargs)

    try:
        return await run_in_threadpool(work)
    except ValueError as exc:  # a bad setting (SourceConfigError too): names keys, not values
        raise HTTPException(422, str(exc)) from None


@router.get(
    "/sync/config", tags=["sync"], responses=sync_errors(403), summary="List source configs"
)
async def list_configs(who: Admin, customer_id: CustomerQuery = None) -> list[dict[str, Any]]:
    """Each config's settings and its last write-back (`last_writeback`: status, when, the
    file names; null when it never ran)."""
    return await db.rows(
        f"select {configs.COLUMNS}, "  # noqa: S608 - constant
        f"{last_writeback_sql('budget_data_source_config.config_id')} as last_writeback "
        "from budget_data_source_config "
        "where %(c)s::text is null or customer_id = %(c)s order by customer_id, config_id",
        {"c": customer_id},
    )


@router.post(
    "/sync/config",
    tags=["sync"],
    status_code=201,
    responses=sync_errors(403, 409),
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
    responses=sync_errors(403, 404),
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
