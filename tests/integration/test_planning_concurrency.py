"""Both planning syncs at the same moment, many times, against real PostgreSQL.

Two identical warehouses: `reference` runs financials then compliance one after the other;
`race` runs five financials and five compliance syncs at once (threads, one connection each,
distinct run ids, released together by a barrier). After every round both warehouses must hold
the same figures in all six targets, so neither sync lost the other's columns of the shared
tables, and the publishes must have been serialised: each row was changed by exactly one run.
"""

from __future__ import annotations

import threading
import uuid
from datetime import date

import psycopg
import pytest

from finsync import demo, embedded
from finsync.planning import sync as steps
from finsync.planning.common import PlanningRun, resolve_run
from finsync.publish import owned_columns
from tests.conftest import _admin, fetch

pytestmark = pytest.mark.integration
YEAR, AS_OF = 2026, date(2026, 9, 30)
RUNS_PER_SYNC = 5
TARGETS = (
    "account_plan_financials",
    "territory_strategy_financials",
    "account_plan_event_requirements",
    "territory_compliance_summary",
    "business_unit_planning",
    "apac_planning_goals",
)
STAMPS = {"synced_at", "financials_synced_at", "compliance_synced_at"}

# Source changes between rounds, each touching both syncs' figures.
ROUND_CHANGES = (
    (),
    (
        "update burc_arr_tracking set arr = arr + 1000 where client_id <= 'C000020'",
        "update segmentation_events set status = 'completed' "
        "where status = 'scheduled' and client_id <= 'C000030'",
        "update territory_strategies set status = 'approved' where fiscal_year = 2026",
        "update account_plans set status = 'approved' "
        "where fiscal_year = 2026 and client_id <= 'C000040'",
    ),
    (
        "delete from segmentation_event_compliance where client_id <= 'C000040'",
        "update cse_territory_map set territory = 'Queensland' where cse_name = 'Jess Gawler'",
    ),
)


@pytest.fixture
def reference_and_race(warehouse, template_db):
    """Two migrated warehouses seeded with the same demo data."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with _admin() as admin:
        admin.execute(f'create database "{name}" template "{template_db}"')
    conninfos = (warehouse, embedded.conninfo(name))
    try:
        for conninfo in conninfos:
            with psycopg.connect(conninfo) as conn:
                demo.seed(conn, clients=80, first_year=2025, last_year=2026, seed=11)
        yield conninfos
    finally:
        with _admin() as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')


def _run(sync_name: str, run_id: str) -> PlanningRun:
    return resolve_run(run_id, {"fiscal_year": YEAR, "as_of_date": AS_OF}, AS_OF, 1)


def _figures(conninfo: str) -> dict[str, list[dict]]:
    """Every target's rows without the change stamps (they differ between warehouses)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        out = {}
        for table in TARGETS:
            rows = (
                fetch(conn, f"select * from {table} order by 1, 2, 3")
                if table.endswith("requirements")
                else fetch(conn, f"select * from {table} order by 1, 2")
            )
            out[table] = [{k: v for k, v in r.items() if k not in STAMPS} for r in rows]
        return out


def _changed(summary: dict) -> dict[str, int]:
    return {t: c["inserted"] + c["updated"] + c["deleted"] for t, c in summary["tables"].items()}


def _race(conninfo: str, round_no: int) -> list[tuple[str, dict]]:
    """RUNS_PER_SYNC runs of each sync, all released at the same moment; their summaries."""
    jobs = [
        (name, factory)
        for name, factory in (("financials", steps.financials), ("compliance", steps.compliance))
        for _ in range(RUNS_PER_SYNC)
    ]
    barrier = threading.Barrier(len(jobs))
    results: list[tuple[str, dict]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(index: int, name: str, factory) -> None:
        try:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                run = _run(name, f"race-{round_no}-{name}-{index}")
                barrier.wait(timeout=120)
                summary = steps.run_all(factory(), conn, run)
            with lock:
                results.append((name, summary))
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            with lock:
                errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(i, name, factory))
        for i, (name, factory) in enumerate(jobs)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors
    assert len(results) == len(jobs)
    return results


def test_both_syncs_at_once_many_times_lose_neither_figures(reference_and_race):
    reference, race = reference_and_race
    for round_no, statements in enumerate(ROUND_CHANGES):
        for conninfo in (reference, race):
            with psycopg.connect(conninfo, autocommit=True) as conn:
                for statement in statements:
                    conn.execute(statement)
        with psycopg.connect(reference, autocommit=True) as conn:
            expected_changes = {
                "financials": _changed(
                    steps.run_all(steps.financials(), conn, _run("financials", f"ref-{round_no}-f"))
                ),
                "compliance": _changed(
                    steps.run_all(steps.compliance(), conn, _run("compliance", f"ref-{round_no}-c"))
                ),
            }
        results = _race(race, round_no)

        assert _figures(race) == _figures(reference), f"round {round_no}"
        # Serialised publishes: per sync and table, the five runs together changed exactly the
        # rows the one sequential run changed (one of them did it; the others found it done).
        for name in ("financials", "compliance"):
            totals: dict[str, int] = {}
            for sync_name, summary in results:
                if sync_name == name:
                    for table, n in _changed(summary).items():
                        totals[table] = totals.get(table, 0) + n
            assert totals == expected_changes[name], (round_no, name)
        if round_no == 1:
            assert all(n > 0 for n in expected_changes["financials"].values())
            assert all(n > 0 for n in expected_changes["compliance"].values())

    with psycopg.connect(race, autocommit=True) as conn:
        anz = fetch(
            conn,
            "select * from business_unit_planning where business_unit = 'ANZ' "
            "and fiscal_year = 2026",
        )[0]
        assert anz["current_arr"] is not None and anz["overall_compliance_percentage"] is not None
        assert anz["financials_as_of_date"] == anz["compliance_as_of_date"] == AS_OF
        leftovers = fetch(
            conn,
            "select"
            " (select count(*) from finsync_stage.business_unit_financials)"
            " + (select count(*) from finsync_stage.business_unit_compliance)"
            " as n",
        )
        assert leftovers == [{"n": 0}]


def test_the_syncs_own_disjoint_columns_of_the_shared_tables(conn):
    from finsync.planning import compliance, financials

    for table in ("business_unit_planning", "apac_planning_goals"):
        fin = next(t for t in financials.TARGETS if t.table == table)
        comp = next(t for t in compliance.TARGETS if t.table == table)
        assert fin.shared and comp.shared and fin.keys == comp.keys
        fin_columns, comp_columns = set(owned_columns(conn, fin)), set(owned_columns(conn, comp))
        assert fin_columns and comp_columns and not fin_columns & comp_columns, table
        assert not (set(fin.stamp_columns) & set(comp.stamp_columns)) - {"synced_at"}
