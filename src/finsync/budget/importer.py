"""Import a file's validated budget rows in one transaction (include/sql/budget_sync/).

Under a per-customer advisory lock: COPY the rows into a transaction-private staging table,
count what would change (the mass-deletion guard stops before any write), then update
changed and restore re-appearing budgets, create new ones, soft-delete missing ones, with
one audit_log row per change. Rows are only ever written for the config's own customer:
the customer id is a bound parameter from the config, never taken from the file.
`budget_utilization` is never touched by an import.
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import asdict, dataclass

import psycopg

from finsync import sql

log = logging.getLogger(__name__)
AREA = "budget_sync"
STAGE_COLUMNS = (
    "department",
    "sub_category",
    "fiscal_period",
    "budgeted_amount",
    "currency",
    "source_row",
)


class MassDeletionError(RuntimeError):
    """The file would soft-delete more than the allowed share of the customer's budgets."""

    def __init__(self, would_delete: int, active: int, limit_pct: float):
        self.would_delete, self.active, self.limit_pct = would_delete, active, limit_pct
        share = 100 * would_delete / active if active else 0
        super().__init__(
            f"the file would soft-delete {would_delete} of {active} active budgets "
            f"({share:.1f} %), "
            f"more than the allowed {limit_pct:g} %; nothing was imported. If the file is right, "
            "approve it (force) or raise max_soft_delete_pct for this customer."
        )


@dataclass
class ImportCounts:
    staged: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    soft_deleted: int = 0
    restored: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _copy_rows(conn: psycopg.Connection, frame) -> int:
    """COPY the frame into budget_stage as CSV serialised by Arrow (fast, exact text)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pa.Table.from_pandas(frame[list(STAGE_COLUMNS)], preserve_index=False)
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    data = buffer.getvalue()
    with (
        conn.cursor() as cur,
        cur.copy(
            "copy budget_stage (department, sub_category, fiscal_period, budgeted_amount, currency,"
            " source_row) from stdin (format csv)"
        ) as copy,
    ):
        step = 8 << 20
        for start in range(0, len(data), step):
            copy.write(data[start : start + step])
    return len(frame)


def import_budgets(
    conn: psycopg.Connection,
    *,
    customer_id: str,
    sync_id: int,
    rows,
    source: str,
    max_soft_delete_pct: float = 20.0,
    soft_delete: bool = True,
    force: bool = False,
    actor: str = "system:sync",
) -> ImportCounts:
    """Make the customer's budgets match `rows` (a DataFrame with STAGE_COLUMNS; amounts as
    text with two decimals, sub_category None when absent). One transaction; raises
    MassDeletionError (nothing written) when the guard trips and `force` is not set.
    `soft_delete=False` (a partial import) leaves budgets missing from the file alone."""
    params = {"customer_id": customer_id, "sync_id": sync_id, "source": source, "actor": actor}
    timings: dict[str, float] = {}
    with conn.transaction():
        conn.execute("set local work_mem = '256MB'")
        conn.execute("set local enable_nestloop = off")
        conn.execute(
            "select pg_advisory_xact_lock(hashtextextended('finsync.budget.' || %s, 0))",
            (customer_id,),
        )
        t = time.perf_counter()
        conn.execute(sql.load(AREA, "01_create_budget_stage.sql"))
        staged = _copy_rows(conn, rows)
        conn.execute("analyze budget_stage")
        timings["copy"] = time.perf_counter() - t
        duplicates = conn.execute(
            "select count(*) - count(distinct (department, coalesce(sub_category, ''), "
            "fiscal_period)) from budget_stage"
        ).fetchone()[0]
        if duplicates:
            raise ValueError(
                f"{duplicates} duplicate budget key(s) reached the import; "
                "the gate must reject them"
            )
        t = time.perf_counter()
        conn.execute(sql.load(AREA, "02_diff_budgets.sql"), params)
        actions = dict(conn.execute("select action, count(*) from budget_diff group by action"))
        active = conn.execute(
            "select count(*) from budget where customer_id = %s and deleted_at is null",
            (customer_id,),
        ).fetchone()[0]
        creates, updates = actions.get("create", 0), actions.get("update", 0)
        restores, deletes = actions.get("restore", 0), actions.get("soft_delete", 0)
        unchanged = staged - creates - updates - restores
        timings["diff"] = time.perf_counter() - t
        if not soft_delete:
            conn.execute("delete from budget_diff where action = 'soft_delete'")
            deletes = 0
        if deletes and active and 100 * deletes / active > max_soft_delete_pct and not force:
            raise MassDeletionError(deletes, active, max_soft_delete_pct)
        t = time.perf_counter()
        if updates or restores:
            conn.execute(sql.load(AREA, "03_update_budgets.sql"), params)
        if creates:
            conn.execute(sql.load(AREA, "04_create_budgets.sql"), params)
        if deletes:
            conn.execute(sql.load(AREA, "05_soft_delete_budgets.sql"), params)
        timings["write"] = time.perf_counter() - t
    counts = ImportCounts(staged, creates, updates, unchanged, deletes, restores)
    log.info(
        "imported %s for %s: %d created, %d updated, %d unchanged, %d soft-deleted, %d restored "
        "(copy %.2f s, diff %.2f s, write %.2f s)",
        source,
        customer_id,
        creates,
        updates,
        unchanged,
        deletes,
        restores,
        timings["copy"],
        timings["diff"],
        timings["write"],
    )
    return counts
