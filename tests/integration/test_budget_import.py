"""The budget import on real PostgreSQL: diff-first writes, audit, soft delete and restore,
the mass-deletion guard, customer isolation, concurrency and a kill -9 mid-import."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from decimal import Decimal as D

import pandas as pd
import psycopg
import pytest

from finsync.budget.importer import ImportCounts, MassDeletionError, Options, import_budgets
from tests.conftest import fetch

pytestmark = pytest.mark.integration


def rows(*items):
    """(department, sub_category, period, amount[, currency]) tuples -> the import's frame."""
    records = []
    for n, item in enumerate(items, start=2):
        dept, sub, period, amount, *cur = item
        records.append(
            dict(
                department=dept,
                sub_category=sub,
                fiscal_period=period,
                budgeted_amount=amount,
                currency=cur[0] if cur else "AUD",
                source_row=n,
            )
        )
    return pd.DataFrame.from_records(records)


BASE = rows(
    ("Marketing", "Events", "FY2026-Q1", "1000.00"),
    ("Marketing", None, "FY2026", "5000.00"),
    ("IT", "Cloud", "FY2026-M01", "250.50"),
    ("IT", "Cloud", "FY2026-M02", "250.50"),
    ("Sales", "Travel", "FY2026", "800.00"),
)


def run_import(conn, frame, customer="acme", sync_id=1, **kw):
    return import_budgets(
        conn, customer_id=customer, sync_id=sync_id, rows=frame, source="f.csv", **kw
    )


def budgets(conn, customer="acme"):
    return {
        (r["department"], r["sub_category"], r["fiscal_period"]): r
        for r in fetch(conn, "select * from budget where customer_id = %s", (customer,))
    }


def test_first_import_creates_every_budget_with_an_audit_row(conn):
    counts = run_import(conn, BASE)
    assert counts == ImportCounts(staged=5, created=5)
    b = budgets(conn)
    assert b[("IT", "Cloud", "FY2026-M01")]["budgeted_amount"] == D("250.50")
    assert b[("Marketing", None, "FY2026")]["currency"] == "AUD"
    audit = fetch(conn, "select action, new_values from audit_log order by audit_id")
    assert [a["action"] for a in audit] == ["create"] * 5
    assert audit[0]["new_values"]["department"] in {"Marketing", "IT", "Sales"}


def test_a_customer_whose_budgets_are_all_soft_deleted_gets_them_restored(conn):
    """Only a customer without any budget row is new (every staged row created at once);
    soft-deleted budgets are restored, never created twice."""
    run_import(conn, BASE, sync_id=1)
    other = rows(("Ops", None, "FY2026", "1.00"))
    run_import(conn, other, sync_id=2, max_soft_delete_pct=100)
    counts = run_import(conn, BASE, sync_id=3, max_soft_delete_pct=100)
    assert counts == ImportCounts(staged=5, restored=5, soft_deleted=1)
    assert fetch(conn, "select count(*) as n from budget where customer_id = 'acme'")[0]["n"] == 6


def test_same_rows_again_change_nothing(conn):
    run_import(conn, BASE, sync_id=1)
    before = budgets(conn)
    counts = run_import(conn, BASE, sync_id=2)
    assert counts == ImportCounts(staged=5, unchanged=5)
    assert budgets(conn) == before  # same updated_at, same last_sync_id
    assert fetch(conn, "select count(*) as n from audit_log where sync_id = 2")[0]["n"] == 0


def test_update_create_soft_delete_restore_and_utilisation_untouched(conn):
    run_import(conn, BASE, sync_id=1)
    sales = budgets(conn)[("Sales", "Travel", "FY2026")]["budget_id"]
    conn.execute(
        "insert into budget_utilization (budget_id, committed_amount, reserved_amount) "
        "values (%s, 300, 50)",
        (sales,),
    )
    second = rows(
        ("Marketing", "Events", "FY2026-Q1", "1200.00"),  # changed
        ("Marketing", None, "FY2026", "5000.00"),
        ("IT", "Cloud", "FY2026-M01", "250.50"),
        ("IT", "Cloud", "FY2026-M02", "250.50"),
        ("HR", None, "FY2026", "90.00"),  # new; Sales is missing
    )
    counts = run_import(conn, second, sync_id=2, max_soft_delete_pct=50)
    assert counts == ImportCounts(staged=5, created=1, updated=1, unchanged=3, soft_deleted=1)
    b = budgets(conn)
    assert b[("Sales", "Travel", "FY2026")]["deleted_at"] is not None
    assert b[("Marketing", "Events", "FY2026-Q1")]["budgeted_amount"] == D("1200.00")
    util = fetch(conn, "select committed_amount, reserved_amount from budget_utilization")
    assert util == [{"committed_amount": D("300.00"), "reserved_amount": D("50.00")}]
    audit = fetch(
        conn,
        "select action, old_values, new_values from audit_log where sync_id = 2 order by action",
    )
    assert [a["action"] for a in audit] == ["create", "soft_delete", "update"]
    update = audit[2]
    assert (
        update["old_values"]["budgeted_amount"] == 1000.0
        and update["new_values"]["budgeted_amount"] == 1200.0
    )

    counts = run_import(conn, BASE, sync_id=3, max_soft_delete_pct=50)  # Sales is back, HR goes
    assert counts.restored == 1 and counts.soft_deleted == 1 and counts.updated == 1
    assert budgets(conn)[("Sales", "Travel", "FY2026")]["deleted_at"] is None
    assert (
        budgets(conn)[("Sales", "Travel", "FY2026")]["budget_id"] == sales
    )  # same row, same money
    actions = [
        a["action"]
        for a in fetch(conn, "select action from audit_log where sync_id = 3 order by action")
    ]
    assert actions == ["restore", "soft_delete", "update"]


def test_mass_deletion_guard_stops_before_writing(conn):
    run_import(conn, BASE, sync_id=1)
    before = budgets(conn)
    with pytest.raises(
        MassDeletionError, match=r"would soft-delete 4 of 5 active budgets \(80.0 %\)"
    ):
        run_import(conn, BASE.head(1), sync_id=2)
    assert budgets(conn) == before
    assert fetch(conn, "select count(*) as n from audit_log where sync_id = 2")[0]["n"] == 0
    counts = run_import(conn, BASE.head(1), sync_id=3, force=True)
    assert counts.soft_deleted == 4


def test_partial_import_does_not_soft_delete(conn):
    run_import(conn, BASE, sync_id=1)
    counts = run_import(conn, BASE.head(2), sync_id=2, soft_delete=False)
    assert counts.soft_deleted == 0
    assert all(b["deleted_at"] is None for b in budgets(conn).values())


def test_one_customer_never_writes_another_customers_budgets(conn):
    run_import(conn, BASE, customer="beta", sync_id=1)
    beta = budgets(conn, "beta")
    run_import(conn, BASE.head(1), customer="acme", sync_id=2)
    run_import(
        conn, rows(("IT", "Cloud", "FY2026-M01", "1.00")), customer="acme", sync_id=3, force=True
    )
    assert budgets(conn, "beta") == beta


def test_two_imports_for_one_customer_serialise(warehouse):
    """Both run at once; the advisory lock makes one wait, so the second sees the first."""
    results, errors = [], []

    def worker(frame, sync_id):
        try:
            with psycopg.connect(warehouse, autocommit=True) as c:
                results.append(run_import(c, frame, sync_id=sync_id))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(BASE, i)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(r.created for r in results) == [0, 5]  # never two creates of the same keys
    assert sorted(r.unchanged for r in results) == [0, 5]
    with psycopg.connect(warehouse) as c:
        assert c.execute("select count(*) from budget").fetchone()[0] == 5
        assert c.execute("select count(*) from audit_log").fetchone()[0] == 5


def test_kill_minus_9_during_the_import_changes_nothing_and_a_rerun_succeeds(warehouse, conn):
    run_import(conn, BASE, sync_id=1)
    before = budgets(conn)
    script = textwrap.dedent(f"""
        import pandas as pd, psycopg, sys
        from finsync.budget.importer import import_budgets
        n = 400_000
        frame = pd.DataFrame({{
            "department": [f"Dept {{i % 997}}" for i in range(n)],
            "sub_category": [f"Sub {{i}}" for i in range(n)],
            "fiscal_period": ["FY2026"] * n, "budgeted_amount": ["10.00"] * n,
            "currency": ["AUD"] * n, "source_row": range(2, n + 2)}})
        with psycopg.connect({warehouse!r}, autocommit=True) as c:
            print("importing", flush=True)
            import_budgets(c, customer_id="acme", sync_id=9, rows=frame, source="big.csv", force=True)
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    assert proc.stdout.readline().strip() == "importing"
    deadline = time.time() + 60
    while time.time() < deadline:  # wait until the import's transaction holds the lock
        held = conn.execute(
            "select count(*) from pg_locks where locktype = 'advisory' and granted"
        ).fetchone()[0]
        if held:
            break
        time.sleep(0.05)
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    deadline = time.time() + 30  # the server notices the dead client and rolls back
    while conn.execute("select count(*) from pg_locks where locktype = 'advisory'").fetchone()[0]:
        assert time.time() < deadline
        time.sleep(0.1)
    assert budgets(conn) == before
    assert fetch(conn, "select count(*) as n from audit_log where sync_id = 9")[0]["n"] == 0
    counts = run_import(conn, BASE.head(4), sync_id=10, max_soft_delete_pct=50)
    assert counts.soft_deleted == 1 and counts.unchanged == 4


# StagedImport: the same import, staged and diffed while the caller gates the rows.


def staged(conn, frame, customer="acme", sync_id=1, expect=None):
    from finsync.budget.importer import StagedImport

    return StagedImport(
        conn, customer_id=customer, sync_id=sync_id, rows=frame, source="f.csv", expect=expect
    )


def held_locks(conn):
    return conn.execute(
        "select count(*) from pg_locks where locktype = 'advisory' and granted"
    ).fetchone()[0]


def test_staged_import_writes_what_import_budgets_writes(conn, warehouse):
    """The gate took rows 1 and 5 out (a bad row, an exact repeat): only the others count."""
    ungated = pd.concat(
        [BASE.head(1), rows(("Ops", None, "FY2026", "1.00", "XXX")), BASE.iloc[1:], BASE.head(1)],
        ignore_index=True,
    )
    import_ = staged(conn, ungated, sync_id=1)
    counts = import_.finish(rows=BASE, lines=[0, 2, 3, 4, 5])
    assert counts == ImportCounts(staged=5, created=5)
    assert set(budgets(conn)) == {
        (r.department, r.sub_category if isinstance(r.sub_category, str) else None, r.fiscal_period)
        for r in BASE.itertuples()
    }
    assert held_locks(conn) == 0
    with psycopg.connect(warehouse, autocommit=True) as other:  # and as import_budgets would
        second = rows(
            ("Marketing", "Events", "FY2026-Q1", "1200.00"),
            ("Marketing", None, "FY2026", "5000.00"),
            ("HR", None, "FY2026", "90.00"),
        )
        counts = staged(other, second, sync_id=2).finish(
            rows=second, lines=[0, 1, 2], options=Options(max_soft_delete_pct=100)
        )
    assert counts == ImportCounts(staged=3, created=1, updated=1, unchanged=1, soft_deleted=3)
    audit = fetch(conn, "select action from audit_log where sync_id = 2 order by action")
    assert [a["action"] for a in audit] == ["create"] + ["soft_delete"] * 3 + ["update"]


def test_staged_import_cancelled_writes_nothing_and_releases_the_lock(conn, warehouse):
    run_import(conn, BASE, sync_id=1)
    before = budgets(conn)
    with psycopg.connect(warehouse, autocommit=True) as other:
        import_ = staged(other, BASE.head(2), sync_id=2)
        import_.cancel()
        import_.cancel()  # idempotent
        with pytest.raises(RuntimeError, match="already finished or cancelled"):
            import_.finish(rows=BASE.head(2), lines=[0, 1])
    assert budgets(conn) == before and held_locks(conn) == 0
    assert fetch(conn, "select count(*) as n from audit_log where sync_id = 2")[0]["n"] == 0


def test_staged_import_guards_mass_deletion_and_duplicates_like_import_budgets(conn):
    run_import(conn, BASE, sync_id=1)
    before = budgets(conn)
    with pytest.raises(MassDeletionError, match=r"would soft-delete 4 of 5 active budgets"):
        staged(conn, BASE.head(1), sync_id=2).finish(rows=BASE.head(1), lines=[0])
    twice = pd.concat([BASE.head(1), BASE.head(1)], ignore_index=True)
    with pytest.raises(ValueError, match="1 duplicate budget key"):
        staged(conn, twice, sync_id=3).finish(rows=twice, lines=[0, 1])
    assert budgets(conn) == before and held_locks(conn) == 0
    counts = staged(conn, BASE.head(1), sync_id=4).finish(
        rows=BASE.head(1), lines=[0], options=Options(force=True)
    )
    assert counts.soft_deleted == 4
    counts = staged(conn, BASE, sync_id=5).finish(
        rows=BASE.head(2), lines=[0, 1], options=Options(soft_delete=False)
    )
    assert counts == ImportCounts(staged=2, unchanged=1, restored=1)


def test_staged_import_falls_back_when_ungated_rows_break_the_staging_table(conn):
    """An amount the gate rejects ('abc') fails the COPY into numeric: the gated rows are
    then imported afresh, in a new transaction."""
    ungated = pd.concat([BASE, rows(("Ops", None, "FY2026", "abc"))], ignore_index=True)
    counts = staged(conn, ungated, sync_id=1).finish(rows=BASE, lines=[0, 1, 2, 3, 4])
    assert counts == ImportCounts(staged=5, created=5)
    assert len(budgets(conn)) == 5 and held_locks(conn) == 0


SECOND = rows(
    ("Marketing", "Events", "FY2026-Q1", "1200.00"),  # changed
    ("Marketing", None, "FY2026", "5000.00"),
    ("IT", "Cloud", "FY2026-M01", "250.50"),
    ("IT", "Cloud", "FY2026-M02", "250.50"),
    ("HR", None, "FY2026", "90.00"),  # new; Sales is missing
)
SECOND_COUNTS = ImportCounts(staged=5, created=1, updated=1, unchanged=3, soft_deleted=1)


def audit_of(conn, sync_id):
    return sorted(
        (a["action"], a["budget_id"])
        for a in fetch(
            conn, "select action, budget_id from audit_log where sync_id = %s", (sync_id,)
        )
    )


def test_staged_import_applies_ahead_and_commits_when_the_verdict_agrees(conn, warehouse):
    run_import(conn, BASE, sync_id=1)
    before = budgets(conn)
    expect = Options(max_soft_delete_pct=50)
    with psycopg.connect(warehouse, autocommit=True) as other:
        import_ = staged(other, SECOND, sync_id=2, expect=expect)
        deadline = time.time() + 30
        while "write" not in import_.timings:  # applied, not committed: nobody sees it
            assert time.time() < deadline
            time.sleep(0.02)
        assert budgets(conn) == before and audit_of(conn, 2) == []
        counts = import_.finish(rows=SECOND, lines=range(5), options=expect)
    assert counts == SECOND_COUNTS and import_.applied_ahead
    assert [a for a, _ in audit_of(conn, 2)] == ["create", "soft_delete", "update"]
    assert budgets(conn)[("Sales", "Travel", "FY2026")]["deleted_at"] is not None


@pytest.mark.parametrize(
    ("expect", "lines", "options", "expected"),
    [
        # a partial import after all (no soft-deletes): the writes ahead are undone
        (
            Options(max_soft_delete_pct=50),
            range(5),
            Options(max_soft_delete_pct=50, soft_delete=False),
            ImportCounts(staged=5, created=1, updated=1, unchanged=3),
        ),
        # the gate took the new row out
        (
            Options(max_soft_delete_pct=50),
            range(4),
            Options(max_soft_delete_pct=50),
            ImportCounts(staged=4, updated=1, unchanged=3, soft_deleted=1),
        ),
        # ahead, the guard stopped the writes; the verdict (partial) deletes nothing
        (
            Options(max_soft_delete_pct=10),
            range(5),
            Options(max_soft_delete_pct=10, soft_delete=False),
            ImportCounts(staged=5, created=1, updated=1, unchanged=3),
        ),
    ],
    ids=["partial", "row-rejected", "guard-ahead"],
)
def test_staged_import_redoes_what_the_verdict_changes(conn, expect, lines, options, expected):
    run_import(conn, BASE, sync_id=1)
    import_ = staged(conn, SECOND, sync_id=2, expect=expect)
    counts = import_.finish(rows=SECOND.iloc[list(lines)], lines=lines, options=options)
    assert counts == expected and not import_.applied_ahead
    actions = [a for a, _ in audit_of(conn, 2)]
    assert len(actions) == expected.created + expected.updated + expected.soft_deleted
    assert ("soft_delete" in actions) == bool(expected.soft_deleted)
    assert ("HR", None, "FY2026") in budgets(conn) or expected.created == 0


@pytest.mark.parametrize(
    "lines", [range(6), [0, 2, 3, 5]], ids=["every-row-kept", "gate-took-two-out"]
)
def test_a_new_customers_rows_go_straight_into_budget_while_the_gate_runs(conn, warehouse, lines):
    """No budget yet: the rows are COPYed into `budget` ahead of the verdict (invisible until
    finish), the rows the gate took out are removed by key (a missing sub-category too), and
    each budget left gets one audit row with its values; another customer is untouched."""
    run_import(conn, BASE, customer="other", sync_id=1)
    ungated = pd.concat([BASE, rows(("Ops", None, "FY2026-M03", "7.25"))], ignore_index=True)
    expect = Options(max_soft_delete_pct=50)
    with psycopg.connect(warehouse, autocommit=True) as own:
        import_ = staged(own, ungated, sync_id=2, expect=expect)
        deadline = time.time() + 30
        while "write" not in import_.timings:
            assert time.time() < deadline
            time.sleep(0.02)
        assert budgets(conn) == {} and audit_of(conn, 2) == []
        gated = ungated.iloc[list(lines)]
        counts = import_.finish(rows=gated, lines=lines, options=expect)
    assert counts == ImportCounts(staged=len(gated), created=len(gated)) and import_.applied_ahead
    kept = {
        (r.department, r.sub_category if isinstance(r.sub_category, str) else None, r.fiscal_period)
        for r in gated.itertuples()
    }
    assert set(budgets(conn)) == kept
    audit = fetch(
        conn, "select budget_id, customer_id, new_values from audit_log where sync_id = 2"
    )
    by_id = {b["budget_id"]: b for b in budgets(conn).values()}
    assert sorted(a["budget_id"] for a in audit) == sorted(by_id)
    for a in audit:
        b = by_id[a["budget_id"]]
        assert a["customer_id"] == "acme" and a["new_values"] == {
            "department": b["department"],
            "sub_category": b["sub_category"],
            "fiscal_period": b["fiscal_period"],
            "budgeted_amount": float(b["budgeted_amount"]),
            "currency": "AUD",
        }
        assert b["last_sync_id"] == 2 and b["source"] == "f.csv"
    assert len(budgets(conn, "other")) == 5 and held_locks(conn) == 0


def test_staged_import_survives_a_row_that_breaks_budget_ahead_of_the_gate(conn):
    """'usd' stages (text) but breaks budget's currency check when created ahead; the gate
    takes the row out, so the import goes through without it."""
    ungated = pd.concat([SECOND, rows(("Ops", None, "FY2026", "1.00", "usd"))], ignore_index=True)
    import_ = staged(conn, ungated, sync_id=1, expect=Options(max_soft_delete_pct=50))
    counts = import_.finish(rows=SECOND, lines=range(5), options=Options(max_soft_delete_pct=50))
    assert counts == ImportCounts(staged=5, created=5) and not import_.applied_ahead
    assert ("Ops", None, "FY2026") not in budgets(conn) and held_locks(conn) == 0


def test_staged_imports_restore_the_thread_switch_interval(conn, warehouse):
    import sys

    before = sys.getswitchinterval()
    with psycopg.connect(warehouse, autocommit=True) as other:
        first = staged(conn, BASE, customer="acme", sync_id=1)
        second = staged(other, BASE, customer="beta", sync_id=2)  # two COPYs at once
        first.finish(rows=BASE, lines=range(5))
        second.finish(rows=BASE, lines=range(5))
    assert sys.getswitchinterval() == before
