"""The budget service's connection pool to the warehouse (one per process and event loop).

The pool opens on the first request, so importing the app (Airflow loads plugins in every
component) never touches the database.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from psycopg.rows import dict_row

_pools: dict = {}


async def pool():
    """This event loop's pool (a loop per uvicorn worker; tests may run several loops)."""
    key = id(asyncio.get_running_loop())
    found = _pools.get(key)
    if found is None:
        from psycopg_pool import AsyncConnectionPool

        from finsync.warehouse import resolve_conninfo

        found = AsyncConnectionPool(
            resolve_conninfo(),
            min_size=int(os.environ.get("FINSYNC_API_POOL_MIN", "2")),
            max_size=int(os.environ.get("FINSYNC_API_POOL_MAX", "10")),
            kwargs={"autocommit": True, "row_factory": dict_row, "prepare_threshold": 0},
            open=False,
            name="finsync-api",
        )
        await found.open()
        _pools[key] = found
    return found


async def close() -> None:
    key = id(asyncio.get_running_loop())
    found = _pools.pop(key, None)
    if found is not None:
        await found.close()


async def rows(sql: str, args: Any = ()) -> list[dict[str, Any]]:
    """One statement on a pooled connection (autocommit): its rows as dicts."""
    p = await pool()
    async with p.connection() as conn:
        cur = await conn.execute(sql, args)
        return await cur.fetchall()
