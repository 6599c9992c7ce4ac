"""Import a file's validated budget rows in one transaction (include/sql/budget_sync/).

Under a per-customer advisory lock: COPY the rows into a transaction-private staging table,
count what would change (the mass-deletion guard stops before any write), then update
changed and restore re-appearing budgets, create new ones, soft-delete missing ones, with
one audit_log row per change. Rows are only ever written for the config's own customer:
the customer id is a bound parameter from the config, never taken from the file.
`budget_utilization` is never touched by an import. A new customer (no budget at all, its
first import) has nothing to diff: its rows are COPYed straight into `budget` and the audit
rows read back from there.

`import_budgets` does it all in one call; `StagedImport` is the same import started before
the rows are gated (the sync uses it: PostgreSQL copies and diffs while Python gates).
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import psycopg

if TYPE_CHECKING:
    import numpy as np

from finsync import sql
from finsync.budget.model import BUDGET_COLUMNS  # what a row gives its budget
from finsync.warehouse import one

log = logging.getLogger(__name__)
AREA = "budget_sync"


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


def _duplicate_keys(frame) -> int:
    """Rows repeating an earlier row's budget key (missing sub_category equal to '', as in
    budget_key). Counted here, before the transaction: the gate rejects duplicates,
    so this only guards other callers (pandas factorises the key columns: ~0.1 s a million
    rows, where counting distinct keys in the staging table took 0.5 s)."""
    if len(frame) < 2:
        return 0
    keys = frame[["department", "sub_category", "fiscal_period"]]
    if keys["sub_category"].isna().any():
        keys = keys.assign(sub_category=keys["sub_category"].fillna(""))
    return int(keys.duplicated().sum())


def _copy_csv(conn: psycopg.Connection, table, into: str) -> None:
    """COPY an Arrow table into `into` ("table (columns)") as CSV serialised by Arrow (fast,
    exact text)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    # one chunk per column: Arrow's CSV writer emits NUL bytes for a column whose first chunk
    # is empty (as pandas.concat of an empty and a full frame gives); a no-op for one chunk
    table = table.combine_chunks()
    # Into Arrow's own buffer, not a Python file object: writing to one takes the GIL for
    # every batch of 1,024 rows, and while the gate runs on the caller's thread each batch
    # waits its turn (a million rows: 0.5 s in the re-sync instead of 0.15 s).
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    data = memoryview(sink.getvalue())
    with (
        _prompt_thread_switches(),
        conn.cursor() as cur,
        cur.copy(f"copy {into} from stdin (format csv)") as copy,
    ):
        step = 8 << 20
        for start in range(0, len(data), step):
            copy.write(data[start : start + step])
    del data


def _copy_rows(conn: psycopg.Connection, frame) -> int:
    """COPY the frame into budget_stage, each row with its position in the frame (`line`)."""
    import numpy as np
    import pyarrow as pa

    table = pa.Table.from_pandas(frame[list(BUDGET_COLUMNS)], preserve_index=False)
    table = table.append_column("line", pa.array(np.arange(len(frame), dtype=np.int64)))
    _copy_csv(conn, table, f"budget_stage ({', '.join(table.column_names)})")
    return len(frame)


def _new_customer(conn: psycopg.Connection, params: dict) -> bool:
    """The customer has no budget at all, active or soft-deleted (its first import)."""
    query = "select exists (select from budget where customer_id = %(customer_id)s)"
    return not one(conn.execute(query, params))[0]


def _copy_new(conn: psycopg.Connection, rows, params: dict, timings: dict[str, float]) -> None:
    """A new customer's first import, part 1: every row is a budget to create, so the rows are
    COPYed straight into `budget` as the customer's, with the import's source and sync id (no
    staging table written and read back, no diff: a million rows, about 1.5 s less). Raises
    what the COPY raises when a row breaks a rule of `budget`."""
    import numpy as np
    import pyarrow as pa

    t = time.perf_counter()
    table = pa.Table.from_pandas(rows[list(BUDGET_COLUMNS)], preserve_index=False)
    first = pa.array(np.zeros(len(rows), dtype=np.int32))
    for name in ("customer_id", "source"):
        table = table.append_column(name, pa.array([params[name]], pa.string()).take(first))
    sync_ids = pa.array(np.full(len(rows), params["sync_id"], dtype=np.int64))
    table = table.append_column("last_sync_id", sync_ids)
    _copy_csv(conn, table, f"budget ({', '.join(table.column_names)})")
    timings["write"] = timings.get("write", 0.0) + time.perf_counter() - t


def _finish_new(
    conn: psycopg.Connection, rows, kept, params: dict, timings: dict[str, float]
) -> None:
    """Part 2, after _copy_new: remove the rows at positions not in `kept` (None: all kept),
    which the gate took out, then write the audit rows of what is left, read back from
    `budget` (04_audit_new_customer.sql)."""
    t = time.perf_counter()
    if kept is not None and len(kept) != len(rows):
        import numpy as np

        dropped = np.ones(len(rows), dtype=bool)
        dropped[np.asarray(kept, dtype=np.int64)] = False
        keys = rows.loc[dropped, ["department", "sub_category", "fiscal_period"]]
        conn.execute(
            sql.load(AREA, "04_remove_rejected_new_customer.sql"),
            {
                **params,
                "departments": keys["department"].tolist(),
                "sub_categories": [v if isinstance(v, str) else None for v in keys["sub_category"]],
                "fiscal_periods": keys["fiscal_period"].tolist(),
            },
        )
    conn.execute(sql.load(AREA, "04_audit_new_customer.sql"), params)
    timings["write"] = timings.get("write", 0.0) + time.perf_counter() - t


def _begin(conn: psycopg.Connection, customer_id: str) -> None:
    """The import transaction's settings and the customer's lock (held until it ends)."""
    conn.execute("set local work_mem = '256MB'")
    conn.execute("set local enable_nestloop = off")
    # The diff's full join of the file with the customer's budgets as a hash join: the planner
    # prices it far above the merge join (few departments, many rows each), but the merge
    # join sorts both sides on text keys first (1M rows: 1.9 s merge, 1.4 s hash).
    conn.execute("set local enable_mergejoin = off")
    conn.execute(
        "select pg_advisory_xact_lock(hashtextextended('finsync.budget.' || %s, 0))",
        (customer_id,),
    )


def _stage(conn: psycopg.Connection, rows, timings: dict[str, float]) -> int:
    t = time.perf_counter()
    conn.execute(sql.load(AREA, "01_create_budget_stage.sql"))
    staged = _copy_rows(conn, rows)
    conn.execute("analyze budget_stage")
    timings["copy"] = timings.get("copy", 0.0) + time.perf_counter() - t
    return staged


def _diff(
    conn: psycopg.Connection, params: dict, timings: dict[str, float], staged: int
) -> dict[str, int]:
    """budget_diff: each staged or current budget's action; {action: budgets}. A customer
    without any budget yet (its first import, under its lock) creates every staged row: no
    join, no copy of the rows (02_diff_new_customer.sql)."""
    t = time.perf_counter()
    if _new_customer(conn, params):
        conn.execute(sql.load(AREA, "02_diff_new_customer.sql"))
        actions = {"create": staged} if staged else {}
    else:
        conn.execute(sql.load(AREA, "02_diff_budgets.sql"), params)
        actions = dict(conn.execute("select action, count(*) from budget_diff group by action"))
    timings["diff"] = timings.get("diff", 0.0) + time.perf_counter() - t
    return actions


def _drop_diff(conn: psycopg.Connection) -> None:
    """Drop budget_diff, a table (02_diff_budgets.sql) or a view (02_diff_new_customer.sql)."""
    query = "select relkind::text from pg_class where oid = 'budget_diff'::regclass"
    kind = one(conn.execute(query))[0]
    conn.execute("drop view budget_diff" if kind == "v" else "drop table budget_diff")


def _apply(
    conn: psycopg.Connection,
    params: dict,
    staged: int,
    actions: dict[str, int],
    *,
    max_soft_delete_pct: float,
    soft_delete: bool,
    force: bool,
    timings: dict[str, float],
) -> ImportCounts:
    """The guard, then the writes of the diff in budget_diff (inside the transaction)."""
    creates, updates = actions.get("create", 0), actions.get("update", 0)
    restores, deletes = actions.get("restore", 0), actions.get("soft_delete", 0)
    unchanged = staged - creates - updates - restores
    # The customer's active budgets, from the same diff (no second scan of `budget`): each
    # staged key matched an active budget (update, unchanged), a deleted one (restore) or
    # none (create), and every active budget the file misses is a soft_delete.
    active = staged - creates - restores + deletes
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
    return ImportCounts(staged, creates, updates, unchanged, deletes, restores)


def _check_keys(rows) -> None:
    duplicates = _duplicate_keys(rows)
    if duplicates:
        raise ValueError(
            f"{duplicates} duplicate budget key(s) reached the import; the gate must reject them"
        )


def _log(source: str, customer_id: str, counts: ImportCounts, timings: dict[str, float]) -> None:
    log.info(
        "imported %s for %s: %d created, %d updated, %d unchanged, %d soft-deleted, %d restored "
        "(copy %.2f s, diff %.2f s, write %.2f s)",
        source,
        customer_id,
        counts.created,
        counts.updated,
        counts.unchanged,
        counts.soft_deleted,
        counts.restored,
        timings.get("copy", 0.0),
        timings.get("diff", 0.0),
        timings.get("write", 0.0),
    )


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
    timings: dict[str, float] | None = None,
    also: Callable[[psycopg.Connection], None] | None = None,
) -> ImportCounts:
    """Make the customer's budgets match `rows` (a DataFrame with BUDGET_COLUMNS; amounts as
    text with two decimals, sub_category None when absent). One transaction; raises
    MassDeletionError (nothing written) when the guard trips and `force` is not set.
    `soft_delete=False` (a partial import) leaves budgets missing from the file alone.
    `timings`, when given, receives the seconds each step took (copy, diff, write, commit)."""
    params = {"customer_id": customer_id, "sync_id": sync_id, "source": source, "actor": actor}
    timings = {} if timings is None else timings
    _check_keys(rows)
    with conn.transaction():
        _begin(conn, customer_id)
        if _new_customer(conn, params):
            _copy_new(conn, rows, params, timings)
            _finish_new(conn, rows, None, params, timings)
            counts = ImportCounts(len(rows), len(rows))
        else:
            staged = _stage(conn, rows, timings)
            actions = _diff(conn, params, timings, staged)
            counts = _apply(
                conn,
                params,
                staged,
                actions,
                max_soft_delete_pct=max_soft_delete_pct,
                soft_delete=soft_delete,
                force=force,
                timings=timings,
            )
        if also is not None:  # the caller's own rows, committed with the budgets
            also(conn)
        t = time.perf_counter()
    timings["commit"] = time.perf_counter() - t
    _log(source, customer_id, counts, timings)
    return counts


# While a StagedImport streams its COPY, the caller's thread is busy in Python (importing GX,
# gating). The COPY thread needs the GIL back each time the socket drains (~200 KB, some 300
# times for a million rows) and Python hands it over only every switch interval (5 ms):
# measured, the COPY took 2.2-3.0 s instead of 1.0 s and the re-sync 6.1-6.7 s instead of
# 4.7-5.3 s. A shorter interval while COPYs stream (restored after the last one) fixes that.
_COPY_SWITCH_INTERVAL = 0.0005
_switch_lock = threading.Lock()
_switch_users = 0
_switch_saved = 0.0


@contextmanager
def _prompt_thread_switches() -> Iterator[None]:
    global _switch_users, _switch_saved
    with _switch_lock:
        if _switch_users == 0:
            _switch_saved = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_saved, _COPY_SWITCH_INTERVAL))
        _switch_users += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switch_users -= 1
            if _switch_users == 0:
                sys.setswitchinterval(_switch_saved)


class _Cancelled(Exception):
    pass


class _Undo(Exception):
    pass


@dataclass(frozen=True)
class Options:
    """How an import treats what the file misses (import_budgets' keyword arguments)."""

    max_soft_delete_pct: float = 20.0
    soft_delete: bool = True
    force: bool = False


@dataclass
class _Verdict:
    lines: np.ndarray  # the gated rows' positions in the staged rows
    options: Options


class StagedImport:
    """`import_budgets` started before the rows are gated, so PostgreSQL works while Python
    gates them (on a 2-core machine the two overlap instead of queueing).

    `StagedImport(conn, rows=normalised, expect=Options(...))` opens the import's one
    transaction on a worker thread, takes the customer's lock, COPYs the rows, computes the
    diff and, under a savepoint, already applies it with the options the caller expects
    (guard included); then it waits. `finish(rows=gated, lines=..., options=...)` hands over
    the gate's verdict: when the gate kept every row and the options are the expected ones,
    the applied diff simply commits; otherwise it is rolled back to the savepoint, the rows
    the gate took out (rejected, or exact repeats) are deleted from the staging table, the
    diff is computed again and applied with the given options. Either way the result, the
    audit rows and the errors (MassDeletionError, duplicate keys) are exactly those of
    `import_budgets(rows=gated, ...)`, and nothing is visible to anyone before finish()
    commits. `cancel()` rolls everything back (a failed gate, an error); it is safe to call at
    any time and must be called (or finish) in a `finally`. While the worker runs, the
    connection is its own: the caller must not use `conn` until finish() or cancel()
    returned. If staging fails (ungated rows that break a constraint of the staging table),
    finish() falls back to `import_budgets` with the gated rows.

    A new customer's rows skip the staging table: they are COPYed straight into `budget` under
    the savepoint (_create_ahead); on the verdict, the rows the gate took out are removed by
    key and the audit rows written. If that COPY fails, the staged path above takes over."""

    def __init__(
        self,
        conn: psycopg.Connection,
        *,
        customer_id: str,
        sync_id: int,
        rows,
        source: str,
        expect: Options | None = None,
        actor: str = "system:sync",
        also: Callable[[psycopg.Connection], None] | None = None,
    ):
        self._conn = conn
        self._also = also  # run in the import's transaction just before it commits
        self._customer_id, self._source = customer_id, source
        self._sync_id, self._actor = sync_id, actor
        self._params = {
            "customer_id": customer_id,
            "sync_id": sync_id,
            "source": source,
            "actor": actor,
        }
        self._expect = expect
        self.timings: dict[str, float] = {}
        self.applied_ahead = False  # the diff applied before the verdict was the one committed
        self._verdicts: queue.Queue[_Verdict | None] = queue.Queue(maxsize=1)
        self._counts: ImportCounts | None = None
        self._error: BaseException | None = None
        self._staging = False  # COPYing the ungated rows into the staging table
        self._closed = False
        self._verdict_taken: float | None = None
        self._taken: _Verdict | None = None
        self._thread = threading.Thread(
            target=self._run, args=(rows,), name=f"budget-import-{customer_id}", daemon=True
        )
        self._thread.start()

    def _verdict(self) -> _Verdict:
        """The gate's verdict (waited for once; the same one after)."""
        if self._taken is None:
            verdict = self._verdicts.get()
            self._verdict_taken = time.perf_counter()
            if verdict is None:
                raise _Cancelled
            self._taken = verdict
        return self._taken

    def _create_ahead(self, rows) -> None:
        """A new customer's rows COPYed straight into `budget` while the gate runs (_copy_new),
        under a savepoint; on the verdict, the rows it took out are removed by key and the
        audit rows written (_finish_new). The options do not matter: a new customer has
        nothing to soft-delete. Any error (a row breaking a rule of `budget`, which the gate
        rejects) rolls back to the savepoint and the staged path decides: self._counts stays
        None."""
        conn, params, timings = self._conn, self._params, self.timings
        try:
            with conn.transaction():
                _copy_new(conn, rows, params, timings)
                verdict = self._verdict()
                _finish_new(conn, rows, verdict.lines, params, timings)
                kept = len(verdict.lines)
                self._counts, self.applied_ahead = ImportCounts(kept, kept), True
        except _Cancelled:
            raise
        except Exception:  # noqa: BLE001 - the staged path meets it again, or imports anyway
            timings.pop("write", None)

    def _run(self, rows) -> None:
        conn, params, timings = self._conn, self._params, self.timings
        try:
            with conn.transaction():
                _begin(conn, self._customer_id)
                if self._expect is not None and _new_customer(conn, params):
                    self._create_ahead(rows)
                if self._counts is None:
                    self._stage_and_apply(rows)
                if self._also is not None:
                    self._also(conn)
                t = time.perf_counter()
            timings["commit"] = time.perf_counter() - t
        except _Cancelled:
            pass
        except BaseException as exc:  # handed to the caller's thread
            self._error = exc

    def _stage_and_apply(self, rows) -> None:
        """The staged path: COPY and diff, apply the diff under a savepoint with the expected
        options, then decide on the verdict (see the class docstring)."""
        import numpy as np

        conn, params, timings = self._conn, self._params, self.timings
        self._staging = True
        staged = _stage(conn, rows, timings)
        actions = _diff(conn, params, timings, staged)
        self._staging = False
        if self._expect is not None:
            try:
                with conn.transaction():  # a savepoint: kept only if the verdict agrees
                    counts = _apply(
                        conn, params, staged, actions, **asdict(self._expect), timings=timings
                    )
                    verdict = self._verdict()
                    if verdict.options != self._expect or len(verdict.lines) != staged:
                        raise _Undo
                    self._counts, self.applied_ahead = counts, True
                    return
            except (_Undo, MassDeletionError, psycopg.Error):
                # rolled back to the savepoint (a guard, or a row the gate will reject
                # breaking a constraint of `budget`): decided again below
                pass
        verdict = self._verdict()
        kept = np.zeros(staged, dtype=bool)
        kept[np.asarray(verdict.lines, dtype=np.int64)] = True
        dropped = np.flatnonzero(~kept)
        if len(dropped):  # the gate took rows out: diff what is left
            t = time.perf_counter()
            conn.execute("delete from budget_stage where line = any(%s)", (dropped.tolist(),))
            _drop_diff(conn)
            if len(dropped) * 10 > staged:
                conn.execute("analyze budget_stage")
            timings["copy"] += time.perf_counter() - t
            staged -= len(dropped)
            actions = _diff(conn, params, timings, staged)
        self._counts = _apply(
            conn, params, staged, actions, **asdict(verdict.options), timings=timings
        )

    def finish(self, *, rows, lines, options: Options | None = None) -> ImportCounts:
        """Import `rows`, the gated subset of the staged rows at positions `lines` (see the
        class docstring); the same result and errors as import_budgets(rows=rows, ...)."""
        options = options or Options()
        if self._closed:
            raise RuntimeError("this import was already finished or cancelled")
        try:
            _check_keys(rows)
        except ValueError:
            self.cancel()
            raise
        t = time.perf_counter()
        self._closed = True
        if self._thread.is_alive():
            self._verdicts.put(_Verdict(lines, options))
        self._thread.join()
        # how long the gated rows waited for the database still at work (0: it was done first)
        taken = self._verdict_taken
        self.timings["stage_wait"] = max(0.0, (taken or t) - t)
        if self._error is not None and self._staging:
            log.warning(
                "staging the ungated rows failed (%s); importing the gated rows afresh",
                str(self._error).splitlines()[0] if str(self._error) else type(self._error),
            )
            self._error = None
            return import_budgets(
                self._conn,
                customer_id=self._customer_id,
                sync_id=self._sync_id,
                rows=rows,
                source=self._source,
                actor=self._actor,
                timings=self.timings,
                also=self._also,
                **asdict(options),
            )
        if self._error is not None:
            raise self._error
        assert self._counts is not None
        _log(self._source, self._customer_id, self._counts, self.timings)
        return self._counts

    def cancel(self) -> None:
        """Roll the import back (nothing was written) and wait for the worker to end."""
        if not self._closed:
            self._closed = True
            if self._thread.is_alive():
                self._verdicts.put(None)
        self._thread.join()
