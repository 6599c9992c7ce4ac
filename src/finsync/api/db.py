"""The budget service's connection pool to the warehouse (one per process and event loop).

The pool opens on the first request, so importing the app (Airflow loads plugins in every
component) never touches the database.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any, TypeAlias

from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

# A pooled connection: autocommit, rows as dicts.
Conn: TypeAlias = AsyncConnection[DictRow]
_pools: dict[int, AsyncConnectionPool[Conn]] = {}


async def pool() -> AsyncConnectionPool[Conn]:
    """This event loop's pool (a loop per uvicorn worker; tests may run several loops)."""
    key = id(asyncio.get_running_loop())
    found = _pools.get(key)
    if found is None:
        from psycopg_pool import AsyncConnectionPool

        from finsync.warehouse import resolve_conninfo

        found = AsyncConnectionPool(
            resolve_conninfo(),
            connection_class=AsyncConnection[DictRow],
            min_size=int(os.environ.get("FINSYNC_API_POOL_MIN", "2")),
            max_size=int(os.environ.get("FINSYNC_API_POOL_MAX", "10")),
            kwargs={"autocommit": True, "row_factory": dict_row, "prepare_threshold": 0},
            open=False,
            name="finsync-api",
        )
        await found.open()
        _pools[key] = found
    return found


async def conninfo() -> str:
    """The warehouse's conninfo, as this process's pool connects (for work on a connection of
    its own, in a worker thread)."""
    found = (await pool()).conninfo
    if not isinstance(found, str):  # (the pool is always given a string above)
        raise TypeError("the pool's conninfo is not a string")
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
