"""Deterministic, realistic demo data for every BURC and segmentation source table.

`seed()` empties the source tables of the finance data contract and fills them again by
running include/sql/demo/NN_*.sql in order, in one transaction. Each file is one set-based
statement; pseudo-random values come from `hashtextextended` keyed by the `seed` parameter, so
the same arguments always give the same data. The hierarchy maps are not emptied: demo CSEs
are added with `on conflict do nothing`, so users' mappings stay as they are.

Meant for demo and test databases: it deletes every row of the source tables.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg.rows import dict_row

from finsync import PROJECT_ROOT, sql

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

# Every source table of the contract (migration 001): emptied, then filled by the demo files.
SOURCE_TABLES = (
    "clients",
    "burc_client_revenue_detail",
    "burc_arr_tracking",
    "burc_nrr_metrics",
    "burc_attrition_risk",
    "burc_pipeline_deals",
    "burc_contracts",
    "aging_accounts",
    "client_health_history",
    "burc_monthly_forecast",
    "burc_bu_pnl",
    "planning_kpi_targets",
    "segmentation_tiers",
    "client_segmentation",
    "segmentation_event_types",
    "tier_event_requirements",
    "segmentation_events",
    "segmentation_event_compliance",
    "account_plans",
    "territory_strategies",
)
# Owned by finsync and editable by users: never emptied, only completed.
MAP_TABLES = ("cse_territory_map", "territory_bu_map")

# Tables later demo files read: analysed right after they are filled (inside the transaction)
# so the planner sees their real size when joining them.
_READ_LATER = frozenset(
    {
        "cse_territory_map",
        "territory_bu_map",
        "clients",
        "burc_arr_tracking",
        "burc_client_revenue_detail",
        "segmentation_tiers",
        "segmentation_event_types",
        "tier_event_requirements",
        "client_segmentation",
    }
)

_SEED_FILE = re.compile(r"^\d+_seed_([a-z0-9_]+)\.sql$")
MAX_CLIENTS = 1_000_000
_PG_BIGINT = 2**63


def _validate(clients: int, first_year: int, last_year: int, seed: int, start_month: int) -> None:
    def whole(name: str, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be a whole number, got {value!r}")

    for name, value in (
        ("clients", clients),
        ("first_year", first_year),
        ("last_year", last_year),
        ("seed", seed),
        ("start_month", start_month),
    ):
        whole(name, value)
    if not 1 <= clients <= MAX_CLIENTS:
        raise ValueError(f"clients must be from 1 to {MAX_CLIENTS:,}, got {clients:,}")
    for name, value in (("first_year", first_year), ("last_year", last_year)):
        if not 1900 <= value <= 9000:
            raise ValueError(f"{name} must be a fiscal year from 1900 to 9000, got {value}")
    if first_year > last_year:
        raise ValueError(
            f"first_year ({first_year}) must not be after last_year ({last_year}); "
            "swap them to seed that range"
        )
    if not 1 <= start_month <= 12:
        raise ValueError(f"start_month must be a month number from 1 to 12, got {start_month}")
    if not -_PG_BIGINT <= seed < _PG_BIGINT:
        raise ValueError(f"seed must fit in a PostgreSQL bigint, got {seed}")


def seed(
    conn: psycopg.Connection,
    *,
    clients: int = 150,
    first_year: int,
    last_year: int,
    seed: int = 42,
    start_month: int = 1,
) -> dict[str, int]:
    """Replace the demo data of every BURC and segmentation source table.

    In one transaction: empty the source tables, complete the hierarchy maps with demo CSEs
    (users' rows are kept), then run include/sql/demo in order. After the commit the seeded
    tables are analysed. Fiscal years `first_year`..`last_year` are seeded (NRR bridge rows
    also for the two years before); `start_month` is the fiscal year's first calendar month.

    Returns the number of rows per table (for the maps: their total after seeding).
    Raises ValueError for arguments out of range; nothing is changed then.
    """
    _validate(clients, first_year, last_year, seed, start_month)
    params = {
        "seed": seed,
        "client_count": clients,
        "first_year": first_year,
        "last_year": last_year,
        "start_month": start_month,
    }
    files = sql.numbered_files("demo")
    if not files:
        raise FileNotFoundError("no demo SQL files found under include/sql/demo")

    log.info(
        "seeding demo data: %s clients, fiscal years %s-%s, start month %s, seed %s",
        clients,
        first_year,
        last_year,
        start_month,
        seed,
    )
    counts: dict[str, int] = {}
    started = time.perf_counter()
    with conn.transaction():
        conn.execute("truncate table " + ", ".join(SOURCE_TABLES))
        for path in files:
            step_started = time.perf_counter()
            cur = conn.execute(path.read_text(encoding="utf-8"), params)
            match = _SEED_FILE.match(path.name)
            if match is None:  # e.g. the helper function: nothing to count
                log.info("ran %s in %.2f s", path.name, time.perf_counter() - step_started)
                continue
            table = match.group(1)
            if table in MAP_TABLES:
                row = conn.execute(f"select count(*) from {table}").fetchone()
                counts[table] = int(row[0]) if row else 0
            else:
                counts[table] = max(cur.rowcount, 0)
            if table in _READ_LATER:
                conn.execute(f"analyze {table}")
            log.info(
                "seeded %s: %s rows in %.2f s",
                table,
                f"{counts[table]:,}",
                time.perf_counter() - step_started,
            )
    missing = [t for t in SOURCE_TABLES if t not in counts]
    if missing:
        log.warning("no demo file seeds %s; they are left empty", ", ".join(missing))

    step_started = time.perf_counter()
    conn.execute("analyze " + ", ".join(sorted(set(counts))))
    if not conn.autocommit:
        conn.commit()
    log.info("analysed seeded tables in %.2f s", time.perf_counter() - step_started)
    log.info("demo seed done in %.1f s", time.perf_counter() - started)
    return counts


# ---- the budget part of `make demo` --------------------------------------------------------

DEMO_EXPORTS = PROJECT_ROOT / "samples" / "demo"
BUDGET_RUN_TIMEOUT_S = 600


@dataclass(frozen=True)
class DemoCustomer:
    customer_id: str
    folder: str  # under samples/demo
    what: str
    fiscal_year_start_month: int
    default_currency: str
    expected: str  # the sync's outcome the demo shows


DEMO_CUSTOMERS = (
    DemoCustomer(
        "demo-acme", "acme", "a long CSV (Anaplan style), calendar fiscal year", 1, "USD", "success"
    ),
    DemoCustomer(
        "demo-globex",
        "globex",
        "a wide XLSX (Adaptive style, title rows, a column per month), FY from July: "
        "Jul 2025 is FY2026-M01",
        7,
        "AUD",
        "success",
    ),
    DemoCustomer(
        "demo-initech", "initech", "a payroll file dropped in the budget folder", 1, "USD", "failed"
    ),
)


def prepare_budget_customers(conn: psycopg.Connection) -> int:
    """The demo customers' `local` sources (samples/demo/<folder>), due at the next poll.
    Re-running replaces their settings; nothing else is touched. Returns the latest sync id
    before the demo's run (its outcomes are the ones after it)."""
    from finsync.budget import config as configs
    from finsync.warehouse import one

    for c in DEMO_CUSTOMERS:
        configs.add(
            conn,
            customer_id=c.customer_id,
            source_type="local",
            source_config={"path": str(DEMO_EXPORTS / c.folder)},
            frequency="daily",
            default_currency=c.default_currency,
            fiscal_year_start_month=c.fiscal_year_start_month,
            settle_seconds=0,  # the files are not being written: no need to wait
        )
    configs.make_due(conn, [c.customer_id for c in DEMO_CUSTOMERS])
    row = one(conn.execute("select coalesce(max(sync_id), 0) from sync_history"))
    return int(row[0])


def budget_outcomes(conn: psycopg.Connection, after_sync_id: int) -> dict[str, dict]:
    """Each demo customer's last sync after `after_sync_id`, with its active budgets."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            select distinct on (h.customer_id) h.customer_id, h.status, h.file_name,
                   h.created_count, h.updated_count, h.unchanged_count, h.soft_deleted_count,
                   h.error_count, h.message,
                   (select count(*) from budget b where b.customer_id = h.customer_id
                       and b.deleted_at is null) as budgets,
                   (select min(fiscal_period) || ' .. ' || max(fiscal_period) from budget b
                     where b.customer_id = h.customer_id and b.deleted_at is null) as periods,
                   (select string_agg(t, ', ') from (
                        select to_char(sum(budgeted_amount), 'FM999,999,999,990.00') || ' '
                               || currency as t
                        from budget b where b.customer_id = h.customer_id
                          and b.deleted_at is null
                          and b.fiscal_period ~ '-M' group by currency order by currency) x
                   ) as monthly_total
            from sync_history h
            where h.sync_id > %s and h.customer_id = any(%s)
            order by h.customer_id, h.sync_id desc
            """,
            (after_sync_id, [c.customer_id for c in DEMO_CUSTOMERS]),
        )
        return {r["customer_id"]: r for r in cur.fetchall()}


def format_outcomes(outcomes: dict[str, dict]) -> str:
    lines = [
        f"{'customer':<14}{'file':<36}{'status':<9}{'created':>8}{'updated':>8}"
        f"{'unchanged':>10}{'deleted':>8}{'errors':>7}"
    ]
    for c in DEMO_CUSTOMERS:
        r = outcomes.get(c.customer_id)
        if r is None:
            lines.append(f"{c.customer_id:<14}(no sync recorded)")
            continue
        lines.append(
            f"{c.customer_id:<14}{(r['file_name'] or '-'):<36}{r['status']:<9}"
            f"{r['created_count'] or 0:>8}{r['updated_count'] or 0:>8}"
            f"{r['unchanged_count'] or 0:>10}{r['soft_deleted_count'] or 0:>8}"
            f"{r['error_count'] or 0:>7}"
        )
        lines.append(f"{'':<14}{c.what}")
        if r["status"] in ("success", "partial", "unchanged") and r["budgets"]:
            lines.append(
                f"{'':<14}{r['budgets']} active budgets, {r['periods']}; "
                f"months sum to {r['monthly_total'] or '-'}"
            )
        else:
            lines.append(f"{'':<14}{r['message']}")
    return "\n".join(lines)


def _airflow_exe() -> str:
    return shutil.which("airflow", path=os.path.dirname(sys.executable)) or "airflow"


def _finsync_exe() -> str:
    return shutil.which("finsync", path=os.path.dirname(sys.executable)) or "finsync"


def run_budget_sync(out: Callable[[str], None] = print) -> int:
    """The demo customers' exports through DAG budget_sync, run by stock Airflow
    (`airflow dags test`); prints each customer's outcome. 0 when every customer ended as
    expected (the payroll file refused, the others imported)."""
    from finsync import warehouse
    from finsync.airflow_env import airflow_env

    with warehouse.connect() as conn:
        before = prepare_budget_customers(conn)
    out(
        "\nbudget exports shipped in samples/demo/, one `local` source each: "
        + ", ".join(f"{c.customer_id} ({c.folder}/)" for c in DEMO_CUSTOMERS)
    )
    # force: re-read files an earlier demo imported, so every demo shows the same outcomes
    # (a re-import of an unchanged file leaves every budget untouched: unchanged counts).
    conf = json.dumps({"force": True})
    out(f"$ airflow dags test budget_sync -c '{conf}'")
    started = time.perf_counter()
    try:
        result = subprocess.run(
            [_airflow_exe(), "dags", "test", "budget_sync", "-c", conf],
            env=airflow_env(),
            capture_output=True,
            text=True,
            check=False,
            # A demo export the mapper is unsure of would wait for a person (review_sync):
            # the demo says so instead of waiting for days.
            timeout=BUDGET_RUN_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        raw = exc.stdout or b""  # bytes, whatever text= says
        tail = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
        out(
            f"budget_sync did not finish within {BUDGET_RUN_TIMEOUT_S} s (a review waiting for "
            f"a person?); its output ends:\n{tail[-3000:]}"
        )
        return 1
    with warehouse.connect() as conn:
        outcomes = budget_outcomes(conn, before)
    out(f"budget_sync summary ({time.perf_counter() - started:.1f} s)")
    out(format_outcomes(outcomes))
    wrong = [
        c.customer_id
        for c in DEMO_CUSTOMERS
        if (outcomes.get(c.customer_id) or {}).get("status") != c.expected
    ]
    if wrong:
        out(f"(airflow exited {result.returncode}; its output ends:)\n{result.stdout[-3000:]}")
        out(result.stderr[-3000:])
        out(f"unexpected outcome for {', '.join(wrong)}")
        return 1
    refused = [c.customer_id for c in DEMO_CUSTOMERS if c.expected == "failed"]
    if refused:  # check_outcomes turns the run red when a customer failed: on purpose here
        out(
            f"the budget_sync run itself ends failed (exit {result.returncode}), as it should: "
            f"its last task, check_outcomes, names {', '.join(refused)} (a refused file), "
            "while the other customers' imports stay committed"
        )
    return 0


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port on 127.0.0.1")


def _curl(method: str, url: str, token_var: str, body: dict, key: str | None, show: bool) -> str:
    """The curl command a user would type for this request."""
    parts = [f"curl -s{'i' if show else ''} {url.removeprefix('http://')}"]
    parts.append(f'-H "Authorization: Bearer ${token_var}"')
    if key:
        parts.append(f"-H 'Idempotency-Key: {key}'")
    parts.append("-H 'Content-Type: application/json'")
    parts.append(f"-d '{json.dumps(body)}'")
    return "$ " + " \\\n    ".join([" ".join(parts[:2]), *parts[2:]])


def _answer(response, show_status: bool) -> str:
    lines = []
    if show_status:
        lines.append(f"HTTP/1.1 {response.status_code} {response.reason_phrase}")
        if response.headers.get("idempotent-replayed"):
            lines.append(f"idempotent-replayed: {response.headers['idempotent-replayed']}")
    lines.append(response.text)
    return "\n".join(lines)


def run_budget_service(
    out: Callable[[str], None] = print, *, port: int = 8090
) -> dict[str, httpx.Response]:
    """`finsync api serve` beside Airflow, then a check, a reserve and its retry for demo-acme
    as a user types them (curl), a release (the demo leaves nothing reserved), and the service
    stopped. Returns the answers (for the test)."""
    import httpx

    from finsync import warehouse
    from finsync.api.dependencies import create_token

    port = _free_port(port)
    base = f"http://127.0.0.1:{port}"
    cmd = [_finsync_exe(), "api", "serve", "--port", str(port), "--workers", "1"]
    out(f"\n$ finsync api serve --port {port} --workers 1 &   # the budget service, beside Airflow")
    log_file = tempfile.NamedTemporaryFile(prefix="finsync-demo-api-", suffix=".log", delete=False)
    proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT)
    name = f"demo-procurement-{time.strftime('%Y%m%dT%H%M%S')}"
    answers: dict[str, httpx.Response] = {}
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"`finsync api serve` exited with {proc.returncode}: "
                    + Path(log_file.name).read_text(errors="replace")[-2000:]
                )
            try:
                if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("`finsync api serve` did not answer within 60 s")
            time.sleep(0.2)
        out(f"budget service on {base} (OpenAPI docs: {base}/docs)")

        with warehouse.connect() as conn:
            token = create_token(conn, name=name, scope="customer", customer_id="demo-acme")
        out(f"$ TOKEN=$(finsync tokens create {name} --customer demo-acme | tail -1)")
        out("  (a customer token: shown once, stored hashed; the demo does not print it)")
        auth = {"Authorization": f"Bearer {token}"}
        key = f"req-{uuid.uuid4().hex[:8]}"
        target = {"department": "Marketing", "sub_category": "Events", "date": "2026-02-10"}
        steps = [
            ("check", "/budget/check", {**target, "amount": 50}, None, False),
            (
                "reserve",
                "/budget/reserve",
                {**target, "amount": 2500, "reference": "REQ-4711"},
                key,
                True,
            ),
            (
                "retry",
                "/budget/reserve",
                {**target, "amount": 2500, "reference": "REQ-4711"},
                key,
                True,
            ),
        ]
        with httpx.Client(base_url=base, timeout=30) as http:
            for label, path, body, idem, show in steps:
                if label == "retry":
                    out(
                        "$ # the same request again (a retry after a timeout): the first "
                        "outcome, nothing booked twice"
                    )
                out(_curl("POST", base + path, "TOKEN", body, idem, show))
                headers = {**auth, **({"Idempotency-Key": idem} if idem else {})}
                response = http.post(path, json=body, headers=headers)
                out(_answer(response, show))
                answers[label] = response
            reservation = answers["reserve"].json().get("reservation_id")
            if reservation is not None:
                out("$ # release it, so the demo leaves nothing reserved")
                body = {"reservation_id": reservation}
                release_key = f"rel-{uuid.uuid4().hex[:8]}"
                out(_curl("POST", f"{base}/budget/release", "TOKEN", body, release_key, False))
                response = http.post(
                    "/budget/release",
                    json=body,
                    headers={**auth, "Idempotency-Key": release_key},
                )
                out(_answer(response, False))
                answers["release"] = response
    finally:
        with contextlib.suppress(Exception), warehouse.connect() as conn:
            conn.execute(
                "update budget_api_token set revoked_at = now() "
                "where name = %s and revoked_at is null",
                (name,),
            )
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log_file.close()
        Path(log_file.name).unlink(missing_ok=True)
    out(f"$ finsync tokens revoke {name}; kill %1     # token revoked, service stopped")
    return answers
