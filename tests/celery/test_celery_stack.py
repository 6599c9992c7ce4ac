"""The DAGs, unchanged, on stock Airflow's CeleryExecutor with two workers, against real
PostgreSQL servers over TCP with TLS (verify-full) and SCRAM passwords: the warehouse and
Airflow's metadata database (conftest.py, stack.py). The tests run in file order on one
session stack: the faults (a worker killed, the warehouse restarted) come last, and the last
test greps everything the stack wrote for the warehouse password."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from finsync import demo
from finsync.budget import config as configs
from tests.celery.conftest import POOL_SLOTS
from tests.conftest import fetch
from tests.integration.test_budget_review import ANSWER, ODD, wait_until_asked
from tests.processes import poll

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("celery")]
BUDGET = "budget_sync"
WORKERS = {"worker-a", "worker-b"}
HEADER = "Cost Centre,Account,Period,Budget Amount,Currency\n"
MONTHS = ("Jan", "Feb", "Mar")


def _customer(
    conn, folder: Path, customer_id: str, text: str | None, frequency: str = "manual"
) -> None:
    """A customer syncing from a local folder holding one export (`text`, else already there)."""
    inbox = folder / customer_id
    inbox.mkdir(parents=True, exist_ok=True)
    if text is not None:
        (inbox / "export.csv").write_text(text)
    old = time.time() - 600
    os.utime(inbox / "export.csv", (old, old))
    configs.add(
        conn,
        customer_id=customer_id,
        source_type="local",
        source_config={"path": str(inbox)},
        default_currency="AUD",
        frequency=frequency,
        settle_seconds=0,
    )


def _small_export(i: int) -> tuple[str, set[tuple]]:
    """A 9-row export whose amounts are the customer's own, and the budgets it must give."""
    lines, expected = [], set()
    for d, dept in enumerate(("Marketing", "IT", "Sales")):
        for m, month in enumerate(MONTHS, start=1):
            amount = Decimal(1000 * (i + 1) + 10 * d + m) + Decimal("0.25")
            lines.append(f"{dept},Opex,{month} 2026,{amount},AUD\n")
            expected.add((dept, "Opex", f"FY2026-M{m:02d}", amount, "AUD"))
    return HEADER + "".join(lines), expected


def _budgets(conn, customer_id: str) -> set[tuple]:
    return {
        tuple(r.values())
        for r in fetch(
            conn,
            "select department, sub_category, fiscal_period, budgeted_amount, currency "
            "from budget where customer_id = %s and deleted_at is null",
            (customer_id,),
        )
    }


def _mapped(celery, run_id: str, task_id: str = "sync_customer") -> list[dict]:
    return [t for t in celery.stack.task_instances(BUDGET, run_id) if t["task_id"] == task_id]


def test_both_databases_take_only_tls_with_a_verified_name_and_a_password(celery):
    wh = celery.warehouse
    with celery.connect() as conn:
        ssl = conn.execute("select ssl from pg_stat_ssl where pid = pg_backend_pid()").fetchone()
        assert ssl == (True,)
        assert conn.execute("show password_encryption").fetchone() == ("scram-sha-256",)
    with psycopg.connect(celery.pg.admin.conninfo, autocommit=True) as conn:
        (stored,) = conn.execute(
            "select rolpassword from pg_authid where rolname = %s", (wh.user,)
        ).fetchone()
        assert stored.startswith("SCRAM-SHA-256$")
    refusals = {
        "plain TCP": wh.conninfo.replace("sslmode=verify-full", "sslmode=disable"),
        "a name the certificate does not hold": wh.conninfo.replace(
            "host=localhost", "host=finsync.invalid hostaddr=127.0.0.1"
        ),
        "a wrong password": wh.conninfo.replace(wh.password, wh.password + "x"),
    }
    for what, conninfo in refusals.items():
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(conninfo, connect_timeout=5).close()
            pytest.fail(f"connected with {what}")
    # Airflow's own sessions (scheduler, API server, workers' result backend) are TLS too.
    with psycopg.connect(celery.metadata.conninfo, autocommit=True) as conn:
        sessions = conn.execute(
            "select s.ssl, count(*) from pg_stat_activity a join pg_stat_ssl s using (pid) "
            "where a.usename = 'airflow' and a.pid <> pg_backend_pid() group by 1"
        ).fetchall()
    assert sessions and all(ssl for ssl, _ in sessions), sessions


@dataclass
class FleetRun:
    run_id: str
    expected: dict[str, set[tuple]]
    backoff_logs: list[str]  # task log lines of syncs that waited for the warehouse


def _task_logs(celery, run_id: str) -> list[Path]:
    folder = celery.stack.home / "logs" / f"dag_id={BUDGET}" / f"run_id={run_id}"
    return sorted(folder.rglob("*.log"))


def _waits_for_warehouse(celery, run_id: str) -> list[str]:
    return [
        line
        for path in _task_logs(celery, run_id)
        for line in path.read_text(errors="replace").splitlines()
        if "warehouse at localhost" in line and "retrying in" in line
    ]


@pytest.fixture(scope="session")
def fleet_run(celery, tmp_path_factory) -> FleetRun:
    """One scheduled-style budget_sync run (every due customer) of twenty customers with
    good exports and one whose mapping a person must confirm; the warehouse is restarted
    while the run's syncs start, and the review is answered through the REST API, as the
    UI's Required actions form does. The tests below each check one side of it."""
    s, folder = celery.stack, tmp_path_factory.mktemp("fleet")
    expected = {}
    with celery.connect() as conn:
        for i in range(20):
            text, expected[f"c{i:02d}"] = _small_export(i)
            _customer(conn, folder, f"c{i:02d}", text, frequency="hourly")
        _customer(conn, folder, "odd", ODD, frequency="hourly")
    s.pool("budget_sync", 0)  # the syncs wait for a slot while the warehouse goes down
    try:
        run_id = s.trigger(BUDGET, {})  # every due customer: the 21
        poll("the run's syncs to be mapped", lambda: len(_mapped(celery, run_id)) == 21 or None)
        celery.pg.stop()  # fast shutdown, as `pg_ctl restart -m fast` begins
    finally:
        s.pool("budget_sync", POOL_SLOTS)
    try:
        poll(
            "a sync to wait for the warehouse", lambda: _waits_for_warehouse(celery, run_id) or None
        )
    finally:
        celery.pg.start()  # ... and ends: the same server, port and data
    _answer_review(celery, run_id)
    assert s.wait(BUDGET, run_id, timeout=240) == "success"
    return FleetRun(run_id, expected, _waits_for_warehouse(celery, run_id))


def _answer_review(celery, run_id: str) -> None:
    s = celery.stack
    ti_path = wait_until_asked(
        lambda path: s.rest("GET", path),
        s.service_logs["scheduler"].read_text,
        BUDGET,
        run_id,
        timeout=240,
        exit_timeout=60,
    )
    question = s.rest("GET", ti_path + "/hitlDetails")
    assert question["subject"] == "Confirm the column mapping for odd"
    s.rest(
        "PATCH", ti_path + "/hitlDetails", {"chosen_options": ["Import"], "params_input": ANSWER}
    )


def test_twenty_customers_sync_on_both_workers_exactly(celery, fleet_run):
    mapped = [t for t in _mapped(celery, fleet_run.run_id) if t["rendered_map_index"] != "odd"]
    assert len(mapped) == 20 and {t["state"] for t in mapped} == {"success"}
    by_worker = {w: sum(t["hostname"] == w for t in mapped) for w in WORKERS}
    print(f"sync_customer tasks per worker: {by_worker}")
    assert min(by_worker.values()) >= 1 and sum(by_worker.values()) == 20, by_worker
    with celery.connect() as conn:
        for customer_id, budgets in fleet_run.expected.items():
            assert _budgets(conn, customer_id) == budgets, customer_id
        history = fetch(
            conn,
            "select customer_id, status, created_count from sync_history "
            "where airflow_run_id = %s and customer_id <> 'odd' order by customer_id",
            (fleet_run.run_id,),
        )
    assert [(h["customer_id"], h["status"], h["created_count"]) for h in history] == [
        (c, "success", 9) for c in sorted(fleet_run.expected)
    ]


def test_the_warehouse_restarting_mid_run_is_waited_for_and_loses_nothing(celery, fleet_run):
    # The syncs that started while it was down waited with back-off inside their first try
    # (no task failed, none retried), then imported everything exactly (test above).
    assert fleet_run.backoff_logs
    assert all("unreachable" in line for line in fleet_run.backoff_logs)
    tries = {(t["state"], t["try_number"]) for t in _mapped(celery, fleet_run.run_id)}
    assert tries == {("success", 1)}


def test_a_review_answered_through_the_rest_api_is_applied_on_a_worker(celery, fleet_run):
    (applied,) = _mapped(celery, fleet_run.run_id, "apply_reviews")
    assert applied["state"] == "success" and applied["hostname"] in WORKERS
    with celery.connect() as conn:
        assert _budgets(conn, "odd") == {
            ("Alpha", "Events", "FY2026-M01", Decimal("100.00"), "AUD"),
            ("Bravo", "Cloud", "FY2026-M02", Decimal("200.00"), "AUD"),
        }
        history = fetch(
            conn,
            "select status from sync_history where airflow_run_id = %s and customer_id = 'odd' "
            "order by sync_id",
            (fleet_run.run_id,),
        )
        (config,) = configs.load(conn, customer_id="odd")
    assert [h["status"] for h in history] == ["needs_review", "success"]
    assert config.column_mapping == ANSWER


@pytest.fixture(scope="session")
def planning_runs(celery) -> dict[str, str]:
    """Both planning DAGs started: planning_compliance_sync for FY2026 and a backfill of
    planning_financials_sync over 2025 (one run per fiscal year: FY2025, as of its last day).
    Started by the worker-kill test while it waits for Airflow to retry (only the surviving
    worker runs them then), or by the planning test when run alone."""
    with celery.connect() as conn:
        demo.seed(conn, clients=40, first_year=2024, last_year=2026, seed=11)
    s = celery.stack
    compliance = s.trigger("planning_compliance_sync", {"fiscal_year": 2026})
    s.rest(
        "POST",
        "/backfills",
        {
            "dag_id": "planning_financials_sync",
            "from_date": "2025-01-01T00:00:00Z",
            "to_date": "2025-12-31T00:00:00Z",
            "reprocess_behavior": "none",
            "max_active_runs": 1,
        },
    )
    return {"compliance": compliance}


BIG_DEPARTMENTS = 600  # x 8 accounts x 12 months = 57,600 budget rows


def _big_export(path: Path) -> int:
    with path.open("w") as out:
        out.write(HEADER)
        for d in range(BIG_DEPARTMENTS):
            for a in range(8):
                out.writelines(
                    f"Dept {d:04d},Account {a},{month} 2026,{d + a + m}.50,AUD\n"
                    for m, month in enumerate(
                        (
                            "Jan",
                            "Feb",
                            "Mar",
                            "Apr",
                            "May",
                            "Jun",
                            "Jul",
                            "Aug",
                            "Sep",
                            "Oct",
                            "Nov",
                            "Dec",
                        ),
                        start=1,
                    )
                )
    return BIG_DEPARTMENTS * 8 * 12


def _importing(conn) -> int | None:
    """The backend of a budget import holding its customer's lock (inside the import's
    transaction), if one does."""
    row = conn.execute(
        "select l.pid from pg_locks l join pg_stat_activity a using (pid) "
        "where l.locktype = 'advisory' and l.granted and a.application_name = 'finsync' "
        "and a.datname = current_database() and a.backend_xid is not null limit 1"
    ).fetchone()
    return row[0] if row else None


def test_a_worker_killed_mid_import_leaves_the_warehouse_unchanged_and_the_retry_succeeds(
    celery, tmp_path, request
):
    s = celery.stack
    inbox = tmp_path / "big"
    inbox.mkdir()
    rows = _big_export(inbox / "export.csv")
    with celery.connect() as conn:
        _customer(conn, tmp_path, "big", None)
        run_id = s.trigger(BUDGET, {"customer_id": "big"})
        poll(
            "the big customer's import to start",
            lambda: _importing(conn),
            timeout=180,
            every=0.05,
        )
        (ti,) = _mapped(celery, run_id)
        victim = ti["hostname"]
        assert victim in WORKERS and ti["state"] == "running" and ti["try_number"] == 1
        s.kill_worker(victim)  # the worker, its task supervisors and tasks: SIGKILL
        # The server ends the dead client's transaction: nothing of the import stays.
        poll("the killed import to end", lambda: _importing(conn) is None or None, timeout=30)
        assert fetch(conn, "select count(*) as n from budget where customer_id = 'big'") == [
            {"n": 0}
        ]
        (attempt,) = fetch(
            conn,
            "select status from sync_history where customer_id = 'big' and airflow_run_id = %s",
            (run_id,),
        )
        assert attempt["status"] == "running"  # the attempt that never finished

        # Airflow fails the try once its heartbeats stop, then retries it after the DAG's
        # retry delay (30 s and more): meanwhile the surviving worker runs the planning DAGs.
        request.getfixturevalue("planning_runs")
        survivor = (WORKERS - {victim}).pop()

        def retried():
            (t,) = _mapped(celery, run_id)
            return t if t["try_number"] == 2 and t["state"] in ("running", "success") else None

        retry = poll("the retry to start", retried, timeout=180)
        assert retry["hostname"] == survivor
        s.start_worker(victim)  # back to two workers for what follows
        assert s.wait(BUDGET, run_id, timeout=180) == "success"
        (done,) = _mapped(celery, run_id)
        assert (done["state"], done["try_number"], done["hostname"]) == ("success", 2, survivor)
        assert fetch(
            conn,
            "select count(*) as n from budget where customer_id = 'big' and deleted_at is null",
        ) == [{"n": rows}]
        history = fetch(
            conn, "select status from sync_history where customer_id = 'big' order by sync_id"
        )
        assert [h["status"] for h in history] == ["running", "success"]


def test_both_planning_dags_and_a_fiscal_year_backfill(celery, planning_runs):
    s = celery.stack

    def backfill_runs():
        runs = s.rest("GET", "/dags/planning_financials_sync/dagRuns?run_type=backfill&limit=100")[
            "dag_runs"
        ]
        return runs if runs and all(r["state"] in ("success", "failed") for r in runs) else None

    compliance = planning_runs["compliance"]
    assert s.wait("planning_compliance_sync", compliance, timeout=240) == "success"
    runs = poll("the backfill's runs", backfill_runs, timeout=240)
    assert [(r["logical_date"][:10], r["state"]) for r in runs] == [("2025-12-31", "success")]
    ran_on = {
        t["hostname"]
        for dag_id, run_id in [
            ("planning_compliance_sync", compliance),
            *(("planning_financials_sync", r["dag_run_id"]) for r in runs),
        ]
        for t in s.task_instances(dag_id, run_id)
    }
    assert ran_on <= WORKERS
    with celery.connect() as conn:
        goals = fetch(
            conn,
            "select fiscal_year, financials_as_of_date from apac_planning_goals "
            "where financials_as_of_date is not null order by 1",
        )
        assert goals == [{"fiscal_year": 2025, "financials_as_of_date": date(2025, 12, 31)}]
        assert fetch(
            conn, "select count(*) as n from account_plan_financials where fiscal_year = 2025"
        ) == [{"n": 40}]
        pairs = fetch(conn, "select count(*) as n from account_plan_event_requirements")[0]["n"]
        assert pairs > 40
        assert fetch(
            conn, "select count(*) as n from apac_planning_goals where fiscal_year = 2026"
        ) == [{"n": 1}]


BAD_ROW = """Cost Centre,Account,Period,Budget Amount,Currency
Marketing,Events,Jan 2026,"1,000.00",AUD
IT,Cloud,Jan 2026,lots,AUD
Sales,Travel,Q1 2026,800,AUD
"""


def test_an_upload_through_the_service_syncs_on_a_worker_and_its_rejects_download(celery):
    """POST /files/import to the service in Airflow's API server: the file goes to shared
    storage, the run it starts syncs on a Celery worker (a working folder of its own), the
    worker keeps the reject file in shared storage, and the API server serves it."""
    import httpx

    from finsync.api.dependencies import create_token

    s = celery.stack
    with celery.connect() as conn:
        configs.add(
            conn,
            customer_id="uploader",
            source_type="upload",
            source_config={},
            default_currency="AUD",
            error_tolerance_pct=50,
            settle_seconds=0,
        )
        token = create_token(conn, name="uploader-app", scope="customer", customer_id="uploader")
    service = httpx.Client(
        base_url=s.api_url + "/finsync", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    with service:
        posted = service.post("/files/import", files={"file": ("budget.csv", BAD_ROW, "text/csv")})
        assert posted.status_code == 202, posted.text
        run_id = posted.json()["dag_run_id"]
        assert s.wait(BUDGET, run_id, timeout=180) == "success"
        (ti,) = _mapped(celery, run_id)
        assert ti["hostname"] in WORKERS
        with celery.connect() as conn:
            (h,) = fetch(conn, "select * from sync_history where airflow_run_id = %s", (run_id,))
        assert h["status"] == "partial" and h["file_name"] == posted.json()["file_name"]
        assert h["reject_file"] == f"rejects/uploader/sync_{h['sync_id']}_rejects.csv"
        served = service.get(f"/sync/history/{h['sync_id']}/rejects")
        assert served.status_code == 200, served.text
        lines = served.content.decode("utf-8-sig").splitlines()
        assert lines[0] == "row,column,value,message"
        assert lines[1].startswith("3,Budget Amount,lots,")
    # Kept in the stack's shared base, not in a worker's own folder (which no other
    # machine could read).
    shared = Path(urllib.parse.urlparse(s.env["FINSYNC_STORAGE_URL"]).path)
    assert (shared / h["reject_file"]).is_file()
    for worker in s.workers.values():
        kept = [p for p in worker.work_dir.rglob("*rejects*.csv") if p.is_file()]
        assert not kept, worker.name


def test_the_warehouse_password_is_in_no_log_xcom_or_sync_history(celery, fleet_run, planning_runs):
    """Last: after everything above (on its own, after the fleet run and the planning runs)."""
    s = celery.stack
    secrets_ = {"warehouse": celery.warehouse.password, "metadata": celery.metadata.password}
    logs = s.log_files()
    task_logs = [p for p in logs if p.is_relative_to(s.home / "logs")]
    assert len(task_logs) > 40 and any(
        "budget sync" in p.read_text(errors="replace") for p in task_logs
    )
    for path in [*logs, celery.pg.log]:
        text = path.read_text(errors="replace")
        for what, secret in secrets_.items():
            assert secret not in text, f"the {what} password is in {path}"
    with psycopg.connect(celery.metadata.conninfo, autocommit=True) as conn:
        xcoms = [json.dumps(v, default=str) for (v,) in conn.execute("select value from xcom")]
        assert len(xcoms) > 20
        for table, column in (("log", "extra"), ("task_instance", "rendered_map_index")):
            xcoms += [str(v) for (v,) in conn.execute(f"select {column} from {table}")]
    with celery.connect() as conn:
        history = [
            json.dumps(r, default=str)
            for r in fetch(conn, "select message, errors, review from sync_history")
        ]
    assert len(history) >= 22
    for text in xcoms + history:
        for what, secret in secrets_.items():
            assert secret not in text, f"the {what} password is in {text[:200]}"
