"""The budget service's health in numbers: the Prometheus metrics `GET /metrics` exposes, and
the figures the Budget sync page shows (`GET /sync/stats`); the routes are routers/metrics.py.

Two kinds of figure:
- the service's own, counted as it serves: requests and their latency per endpoint, method
  and status (a histogram: `_count` is the request count), bookings (reserve, commit,
  release) by outcome and refusals by reason. Label values come from fixed sets (the route's
  path template, never the raw URL), so cardinality stays bounded.
- the syncs', read from the warehouse when scraped, with ONE query (`FIGURES_SQL`) cached for
  `FINSYNC_METRICS_CACHE_SECONDS` (default 10): per customer (label `customer`) the last
  sync's status, end and duration, the data's age (freshness), its schedule, whether it is
  stale (the budget check's own rule: older than twice the schedule), attempts over 24 h by
  outcome, rows read, imported and rejected, wrong files prevented, reviews pending. With more
  than `FINSYNC_METRICS_MAX_CUSTOMERS` customers (default 500) the customer label is
  `_all` instead: sums, the longest durations, and the freshness of the customer furthest
  behind its schedule.

A scrape while the warehouse is down or slow answers within `FINSYNC_METRICS_WAREHOUSE_TIMEOUT`
seconds (default 2) with the service's own metrics and `finsync_warehouse_up 0`. Nothing here
carries a token, a connection detail, a file name or a message: only counts, times, statuses
and customer ids (escaped by prometheus_client's exposition format).

With several uvicorn workers (`finsync api serve --workers N`) the service's counters live in
PROMETHEUS_MULTIPROC_DIR (set by `finsync api serve`), so any worker answers for all of them.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily, Metric
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from finsync.api import db
from finsync.api.db import Conn
from finsync.api.money import FREQUENCY_SECONDS, SYNCED
from finsync.budget.model import SYNC_STATUSES

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
ALL = "_all"  # the customer label when customers are aggregated
# how a finished attempt is counted: its status, except a file refused as not a budget
OUTCOMES = ("success", "partial", "unchanged", "failed", "wrong_file", "needs_review")
STATUSES = tuple(s for s in SYNC_STATUSES if s != "running")  # a finished attempt's
# budget/sync.py's message when detection refuses a file ("<file> looks like a payroll file,
# not a budget (confidence 0.93: ...)"); tests/integration/test_metrics.py runs the real sync
# to keep the two in step.
WRONG_FILE_LIKE = "% looks like a % file, not a budget (confidence %"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})

REQUESTS = Histogram(
    "finsync_http_request_duration_seconds",
    "Budget service requests by endpoint (route template), method and status: latency in "
    "seconds (_count is the number of requests)",
    ("endpoint", "method", "status"),
    buckets=LATENCY_BUCKETS,
    registry=None,
)
BOOKINGS = Counter(
    "finsync_bookings",
    "Money movements by operation (reserve, commit, release) and outcome (booked, refused, "
    "replayed: an idempotent retry answered with the first outcome)",
    ("operation", "outcome"),
    registry=None,
)
REFUSALS = Counter(
    "finsync_booking_refusals",
    "Refused money movements by operation and reason",
    ("operation", "reason"),
    registry=None,
)
_OWN = (REQUESTS, BOOKINGS, REFUSALS)


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


# ---- the service's own figures (the hot path: a dict lookup and one observe per request) ----


class Middleware:
    """Pure ASGI: times each HTTP request and counts it under its route's path template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._children: dict[tuple[str, str, int], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "other"
            method = scope.get("method", "")
            if method not in METHODS:  # a client's made-up method: not a label value of its own
                method = "other"
            key = (endpoint, method, status)
            child = self._children.get(key)
            if child is None:
                child = self._children[key] = REQUESTS.labels(endpoint, method, str(status))
            child.observe(time.perf_counter() - start)


def booking(operation: str, status_code: int, body: Any, *, replayed: bool = False) -> None:
    """Count one money movement's outcome (called by routers/budget.py's _move)."""
    if replayed:
        BOOKINGS.labels(operation, "replayed").inc()
    elif status_code < 300:
        BOOKINGS.labels(operation, "booked").inc()
    else:
        BOOKINGS.labels(operation, "refused").inc()
        REFUSALS.labels(operation, refusal_reason(status_code, body)).inc()


def refusal_reason(status_code: int, body: Any) -> str:
    """A refusal's reason from a fixed set (never the message itself)."""
    detail = body.get("detail") if isinstance(body, dict) else body
    text = detail if isinstance(detail, str) else ""
    if status_code == 409:
        if isinstance(detail, dict):
            return "over_budget"
        return "budget_removed" if "removed by a sync" in text else "reservation_state"
    if status_code == 404:
        return "no_reservation" if text.startswith("no reservation") else "no_budget"
    if status_code == 422:
        return "fx_rate" if "FX rate" in text else "invalid_amount"
    return f"http_{status_code}" if 400 <= status_code < 600 else "other"


# ---- the syncs' figures, from the warehouse ------------------------------------------------

FIGURES_SQL = """
with freq (frequency, seconds) as (
    select * from unnest(%(freq_names)s::text[], %(freq_seconds)s::int[])
),
cust as (
    select c.customer_id, bool_or(c.enabled) as enabled,
           min(f.seconds) filter (where c.enabled) as interval_s,
           min(c.created_at) as since
    from budget_data_source_config c left join freq f using (frequency)
    group by c.customer_id
),
per_customer as (
    select c.customer_id, c.enabled, c.interval_s,
           l.status as last_status, extract(epoch from l.end_time) as last_end,
           l.duration_ms / 1000.0 as last_duration_s,
           ok.end_time as last_ok_at,
           extract(epoch from now() - coalesce(ok.end_time, c.since)) as age_s,
           coalesce(extract(epoch from now() - run.oldest), 0) as running_s,
           rv.n as reviews_pending
    from cust c
    left join lateral (
        select h.status, h.end_time, h.duration_ms from sync_history h
        where h.customer_id = c.customer_id and h.status <> 'running'
        order by h.start_time desc limit 1) l on true
    left join lateral (
        select h.end_time from sync_history h
        where h.customer_id = c.customer_id and h.status in ({synced})
        order by h.start_time desc limit 1) ok on true
    left join lateral (
        select min(h.start_time) as oldest from sync_history h
        where h.customer_id = c.customer_id and h.status = 'running'
          and h.start_time > now() - interval '24 hours') run on true
    left join lateral (
        select count(*) as n from budget_data_source_config cc cross join lateral (
            select h.status, h.review from sync_history h
            where h.customer_id = cc.customer_id and h.config_id = cc.config_id
            order by h.start_time desc limit 1) x
        where cc.customer_id = c.customer_id and x.status = 'needs_review'
          and x.review is not null) rv on true
),
attempts as (
    select h.customer_id,
           case when h.status = 'failed' and h.message like %(wrong_file)s then 'wrong_file'
                else h.status end as outcome,
           h.start_time > now() - interval '24 hours' as day,
           h.duration_ms, h.total_rows, h.error_count
    from cust c join sync_history h on h.customer_id = c.customer_id
    where h.start_time > now() - interval '7 days' and h.status <> 'running'
),
windows as (
    select customer_id as w_customer, grouping(customer_id) = 1 as is_total,
           {outcome_columns},
           coalesce(sum(total_rows) filter (where day), 0) as rows_read_24h,
           coalesce(sum(error_count) filter (where day), 0) as rows_rejected_24h,
           coalesce(sum(total_rows - error_count)
                    filter (where day and outcome in ('success', 'partial')), 0)
               as rows_imported_24h,
           count(*) as syncs_7d,
           count(*) filter (where outcome = 'failed') as failed_7d,
           count(*) filter (where outcome = 'wrong_file') as wrong_file_7d,
           coalesce(sum(total_rows), 0) as rows_read_7d,
           coalesce(sum(error_count), 0) as rows_rejected_7d,
           percentile_cont(0.95) within group (order by duration_ms) / 1000.0
               as p95_duration_s_7d
    from attempts group by grouping sets ((customer_id), ())
)
select p.customer_id, p.enabled, p.interval_s, p.last_status, p.last_end, p.last_duration_s,
       p.last_ok_at, p.age_s, p.running_s, p.reviews_pending, w.*
from per_customer p full join windows w on w.w_customer = p.customer_id
""".replace(
    "{outcome_columns}",
    ",\n           ".join(
        f"count(*) filter (where day and outcome = '{o}') as {o}_24h" for o in OUTCOMES
    ),
).replace("{synced}", SYNCED)


@dataclass
class Figures:
    """One read of the warehouse: a row per customer (dict) and the totals' window figures."""

    customers: list[dict[str, Any]] = field(default_factory=list)
    total: dict[str, Any] = field(default_factory=dict)
    query_seconds: float = 0.0
    read_at: float = 0.0


def is_stale(c: dict[str, Any]) -> bool:
    """The budget check's rule (money.py): enabled, and never synced, or its last good sync
    older than twice its (shortest) schedule; manual-only customers are fresh once synced."""
    if not c["enabled"]:
        return False
    if c["last_ok_at"] is None:
        return True
    return c["interval_s"] is not None and c["age_s"] > 2 * c["interval_s"]


async def read_figures(conn: Conn) -> Figures:
    t = time.perf_counter()
    cur = await conn.execute(
        FIGURES_SQL,
        {
            "freq_names": list(FREQUENCY_SECONDS),
            "freq_seconds": list(FREQUENCY_SECONDS.values()),
            "wrong_file": WRONG_FILE_LIKE,
        },
    )
    rows = await cur.fetchall()
    out = Figures(query_seconds=time.perf_counter() - t, read_at=time.monotonic())
    for r in rows:
        if r.get("is_total"):
            out.total = r
        elif r["enabled"] is not None:  # (a customer with attempts but no config: skipped)
            r["stale"] = is_stale(r)
            out.customers.append(r)
    return out


_cache: dict[int, tuple[Any, float, Figures | None, asyncio.Lock]] = {}


async def figures() -> Figures | None:
    """The warehouse's figures, at most FINSYNC_METRICS_CACHE_SECONDS old; None when the
    warehouse did not answer within FINSYNC_METRICS_WAREHOUSE_TIMEOUT (remembered as long)."""
    ttl = _env_float("FINSYNC_METRICS_CACHE_SECONDS", 10.0)
    loop = asyncio.get_running_loop()
    key = id(loop)
    entry = _cache.get(key)
    if entry is None or entry[0] is not loop:  # (an id may be reused by a later loop)
        entry = _cache[key] = (loop, -math.inf, None, asyncio.Lock())
    lock = entry[3]
    async with lock:  # concurrent scrapes wait for one query
        _, at, found, _ = _cache[key]
        if time.monotonic() - at < ttl:
            return found
        timeout = _env_float("FINSYNC_METRICS_WAREHOUSE_TIMEOUT", 2.0)
        try:
            # the pool is built once per process (resolving the Airflow connection, which
            # imports Airflow the first time: not the warehouse's answer time); then a
            # connection and the query get `timeout` seconds
            await _warm_up(timeout)
            p = await db.pool()
            found = await asyncio.wait_for(_read(p, timeout), timeout)
        except Warming:  # not an answer from the warehouse: ask again at the next scrape
            return None
        except Exception:  # noqa: BLE001 - down, slow or misconfigured: finsync_warehouse_up 0
            found = None
        _cache[key] = (loop, time.monotonic(), found, lock)
        return found


class Warming(Exception):
    pass


_warming: list[Future[str]] = []  # this process's one warm-up (a concurrent.futures.Future)


async def _warm_up(timeout: float) -> None:
    """A process's first pool resolves the warehouse's Airflow connection, which imports
    Airflow: seconds, blocking the event loop. Do that once in a thread, so a scrape meanwhile
    answers within `timeout` (raises Warming) instead of waiting for it."""
    if not _warming:
        from finsync.warehouse import resolve_conninfo

        pool = ThreadPoolExecutor(1, thread_name_prefix="finsync-metrics-warm-up")
        _warming.append(pool.submit(resolve_conninfo))
        pool.shutdown(wait=False)
    future = _warming[0]
    if not future.done():
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), timeout)
        except TimeoutError:
            raise Warming from None


async def _read(p: AsyncConnectionPool[Conn], timeout: float) -> Figures:
    async with p.connection(timeout=timeout) as conn:
        return await read_figures(conn)


def _families(f: Figures | None, max_customers: int) -> list[Metric]:
    up = GaugeMetricFamily(
        "finsync_warehouse_up", "1 if the warehouse answered this scrape's query in time"
    )
    up.add_metric([], 0 if f is None else 1)
    out: list[Metric] = [up]
    if f is None:
        return out
    took = GaugeMetricFamily("finsync_warehouse_query_seconds", "The figures query's duration")
    took.add_metric([], f.query_seconds)
    out.append(took)

    customers = f.customers
    enabled = [c for c in customers if c["enabled"]]
    count = GaugeMetricFamily("finsync_customers", "Customers with an enabled sync source")
    count.add_metric([], len(enabled))
    stale = GaugeMetricFamily(
        "finsync_customers_stale",
        "Customers whose budgets are stale (the budget check's rule: never synced, or the last "
        "good sync older than twice the schedule)",
    )
    stale.add_metric([], sum(c["stale"] for c in customers))
    by_status = GaugeMetricFamily(
        "finsync_customers_by_last_sync_status",
        "Customers by their last finished sync attempt's status (none: never synced)",
        labels=["status"],
    )
    for s in (*STATUSES, "none"):
        n = sum((c["last_status"] or "none") == s for c in enabled)
        by_status.add_metric([s], n)
    aggregated = len(customers) > max_customers
    agg = GaugeMetricFamily(
        "finsync_metrics_customers_aggregated",
        f'1 if customers are aggregated under customer="{ALL}" (more than '
        "FINSYNC_METRICS_MAX_CUSTOMERS)",
    )
    agg.add_metric([], 1 if aggregated else 0)
    out += [count, stale, by_status, agg]

    def gauge(name: str, doc: str, extra: tuple[str, ...] = ()) -> GaugeMetricFamily:
        g = GaugeMetricFamily(name, doc, labels=["customer", *extra])
        out.append(g)
        return g

    syncs = gauge(
        "finsync_syncs_24h",
        "Finished sync attempts started in the last 24 h, by outcome (wrong_file: refused as "
        "not a budget)",
        ("outcome",),
    )
    read = gauge("finsync_sync_rows_read_24h", "Rows in the files synced in the last 24 h")
    imported = gauge(
        "finsync_sync_rows_imported_24h", "Rows imported by successful and partial syncs, 24 h"
    )
    rejected = gauge(
        "finsync_sync_rows_rejected_24h", "Rows rejected (failed validation) in the last 24 h"
    )
    wrong = gauge(
        "finsync_wrong_files_prevented_24h",
        "Files refused in the last 24 h because they were not budgets (payroll, expenses...)",
    )
    reviews = gauge("finsync_reviews_pending", "Sources whose last sync waits for a person")
    duration = gauge(
        "finsync_last_sync_duration_seconds", "Duration of the last finished sync attempt"
    )
    running = gauge(
        "finsync_sync_running_seconds",
        "How long the oldest sync still running (started in the last 24 h) has run; 0 if none",
    )
    age = gauge(
        "finsync_data_age_seconds",
        "Freshness: seconds since the last sync that left the budgets matching the source "
        "(success, partial, unchanged), or since the customer was set up if never",
    )
    interval = gauge(
        "finsync_sync_interval_seconds",
        "The customer's shortest enabled schedule (absent for customers synced only manually)",
    )

    def windows(c: dict[str, Any], label: str) -> None:
        for o in OUTCOMES:
            syncs.add_metric([label, o], c.get(f"{o}_24h") or 0)
        read.add_metric([label], c.get("rows_read_24h") or 0)
        imported.add_metric([label], c.get("rows_imported_24h") or 0)
        rejected.add_metric([label], c.get("rows_rejected_24h") or 0)
        wrong.add_metric([label], c.get("wrong_file_24h") or 0)

    if aggregated:
        windows(f.total, ALL)
        reviews.add_metric([ALL], sum(c["reviews_pending"] for c in customers))
        duration.add_metric([ALL], max((c["last_duration_s"] or 0) for c in customers))
        running.add_metric([ALL], max(c["running_s"] for c in customers))
        scheduled = [c for c in enabled if c["interval_s"] is not None]
        if scheduled:  # the customer furthest behind its schedule stands for all
            worst = max(scheduled, key=lambda c: c["age_s"] - 2 * c["interval_s"])
            age.add_metric([ALL], worst["age_s"])
            interval.add_metric([ALL], worst["interval_s"])
        return out

    last_status = gauge(
        "finsync_last_sync_status",
        "1 for the status of the customer's last finished sync attempt",
        ("status",),
    )
    last_end = gauge(
        "finsync_last_sync_timestamp_seconds", "When the last finished sync attempt ended"
    )
    stale_one = gauge("finsync_customer_stale", "1 if the customer's budgets are stale")
    for c in customers:
        cid = c["customer_id"]
        windows(c, cid)
        reviews.add_metric([cid], c["reviews_pending"])
        stale_one.add_metric([cid], 1 if c["stale"] else 0)
        if c["last_status"] is not None:
            for s in STATUSES:
                last_status.add_metric([cid, s], 1 if c["last_status"] == s else 0)
            duration.add_metric([cid], c["last_duration_s"] or 0)
            if c["last_end"] is not None:
                last_end.add_metric([cid], c["last_end"])
        running.add_metric([cid], c["running_s"])
        if c["enabled"]:
            age.add_metric([cid], c["age_s"])
            if c["interval_s"] is not None:
                interval.add_metric([cid], c["interval_s"])
    return out


class _Static:
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if values.ValueClass is not values.MutexValue:  # PROMETHEUS_MULTIPROC_DIR at import
        from prometheus_client.multiprocess import MultiProcessCollector

        MultiProcessCollector(registry)
    else:
        for metric in _OWN:
            registry.register(metric)
    return registry


# ---- the Budget sync page's numbers --------------------------------------------------------


def week_summary(f: Figures) -> dict[str, Any]:
    """The last 7 days' figures the page shows, from the same query as the metrics."""
    t = f.total
    syncs, failed = t.get("syncs_7d") or 0, t.get("failed_7d") or 0
    return {
        "window_days": 7,
        "syncs": syncs,
        "success_rate": None if not syncs else round(1 - failed / syncs, 4),
        "failed": failed,
        "p95_duration_seconds": t.get("p95_duration_s_7d"),
        "rows_read": t.get("rows_read_7d") or 0,
        "rows_rejected": t.get("rows_rejected_7d") or 0,
        "wrong_files_prevented": t.get("wrong_file_7d") or 0,
        "customers": sum(1 for c in f.customers if c["enabled"]),
        "stale_customers": sorted(c["customer_id"] for c in f.customers if c["stale"]),
    }


async def exposition() -> bytes:
    """The service's own metrics and the warehouse's figures, in Prometheus' text format."""
    found = await figures()
    registry = _registry()
    max_customers = int(_env_float("FINSYNC_METRICS_MAX_CUSTOMERS", 500))
    registry.register(_Static(_families(found, max_customers)))
    return generate_latest(registry)


# ---- several uvicorn workers: one directory for everyone's counters ------------------------


def prepare_workers(workers: int) -> str | None:
    """For `finsync api serve`: with several workers, a fresh PROMETHEUS_MULTIPROC_DIR
    (unless one is set) shared by the workers it starts, removed at exit; returns it. Such
    directories left by a server that was killed (no exit handler ran) are removed first."""
    if os.environ.get(MULTIPROC_ENV):
        return os.environ[MULTIPROC_ENV]
    if workers < 2:
        return None  # one process: its counters in memory
    for old in Path(tempfile.gettempdir()).glob(f"{_DIR_PREFIX}*"):
        pid = old.name[len(_DIR_PREFIX) :].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    path = tempfile.mkdtemp(prefix=f"{_DIR_PREFIX}{os.getpid()}-")
    os.environ[MULTIPROC_ENV] = path
    import atexit

    atexit.register(shutil.rmtree, path, True)
    return path


_DIR_PREFIX = "finsync-metrics-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
