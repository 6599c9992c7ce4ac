"""The compliance SQL per level on hand-built rows, against figures worked out by hand.

The six clients of `seed_six_clients` (fiscal year 2026 = calendar 2026, as of 2026-06-30):

| client | territory (CSE) | tier on D | why |
|---|---|---|---|
| K1 | Victoria (Tracey Bugeja) | TA | one open row |
| K2 | New South Wales (Jess Gawler) | TA | TB until 2026-03-31, TA from 2026-04-01 (before D) |
| K3 | Singapore / SEA (Boon Koh) | TB | TB until 2026-08-31, TA from 2026-09-01 (after D) |
| K4 | Unassigned (Nobody Mapped) | none | no segmentation row |
| K5 | Victoria (Tracey Bugeja) | TZ | its tier requires 0 of everything: no rows |
| K6 | Singapore / SEA (Jimmy Leimonitis) | TB | TA from 2019 left open, TB from 2025 (newer wins) |

Requirements: TA E1 4, E2 2, E3 0; TB E1 2, E3 5; TZ E1 0. Event type EX: no requirement.
"""

from datetime import date
from decimal import Decimal as D

import pytest

from finsync.gate import GateError
from finsync.planning import sync as steps
from finsync.planning.common import SourceDataError, resolve_run
from tests.conftest import fetch, insert

pytestmark = pytest.mark.integration
TARGETS = (
    "account_plan_event_requirements",
    "territory_compliance_summary",
    "business_unit_planning",
    "apac_planning_goals",
)


def _run(fiscal_year=2026, as_of=date(2026, 6, 30), start_month=1, dry_run=False, run_id="test"):
    params = {"fiscal_year": fiscal_year, "as_of_date": as_of, "dry_run": dry_run}
    return resolve_run(run_id, params, as_of, start_month)


def _events(rows):
    return [
        dict(event_id=i, client_id=c, event_type_id=t, event_date=d, status=s)
        for i, c, t, d, s in rows
    ]


def seed_reference(conn):
    insert(
        conn,
        "segmentation_tiers",
        [
            dict(tier_id="TA", tier_name="Platinum", tier_level=1),
            dict(tier_id="TB", tier_name="Gold", tier_level=2),
            dict(tier_id="TZ", tier_name="Self-serve", tier_level=5),
        ],
    )
    insert(
        conn,
        "segmentation_event_types",
        [
            dict(event_type_id="E1", code="QBR", name="Quarterly business review"),
            dict(event_type_id="E2", code="EXEC", name="Executive review"),
            dict(event_type_id="E3", code="HEALTH", name="Health check"),
            dict(event_type_id="EX", code="OTHER", name="Not required by any tier"),
        ],
    )
    insert(
        conn,
        "tier_event_requirements",
        [
            dict(tier_id=t, event_type_id=e, required_per_year=n)
            for t, e, n in [
                ("TA", "E1", 4),
                ("TA", "E2", 2),
                ("TA", "E3", 0),
                ("TB", "E1", 2),
                ("TB", "E3", 5),
                ("TZ", "E1", 0),
            ]
        ],
    )


def seed_six_clients(conn):
    seed_reference(conn)
    insert(
        conn,
        "clients",
        [
            dict(
                client_id=c,
                client_name=f"Client {c}",
                cse_name=cse,
                segment="Large",
                country="AU",
                customer_since=date(2015, 1, 1),
                status="active",
            )
            for c, cse in [
                ("K1", "Tracey Bugeja"),
                ("K2", "Jess Gawler"),
                ("K3", "Boon Koh"),
                ("K4", "Nobody Mapped"),
                ("K5", "Tracey Bugeja"),
                ("K6", "Jimmy Leimonitis"),
            ]
        ],
    )
    insert(
        conn,
        "client_segmentation",
        [
            dict(client_id=c, tier_id=t, cse_name=None, effective_from=f, effective_to=e)
            for c, t, f, e in [
                ("K1", "TA", date(2020, 1, 1), None),
                ("K2", "TB", date(2020, 1, 1), date(2026, 3, 31)),
                ("K2", "TA", date(2026, 4, 1), None),
                ("K3", "TB", date(2020, 1, 1), date(2026, 8, 31)),
                ("K3", "TA", date(2026, 9, 1), None),
                ("K5", "TZ", date(2020, 1, 1), None),
                ("K6", "TA", date(2019, 1, 1), None),
                ("K6", "TB", date(2025, 1, 1), None),
            ]
        ],
    )
    insert(
        conn,
        "segmentation_events",
        _events(
            [
                # K1 E1: first and last day of the year count; a day outside either end does not;
                # cancelled never counts; scheduled counts only on or after D.
                ("V01", "K1", "E1", date(2026, 1, 1), "completed"),
                ("V02", "K1", "E1", date(2026, 12, 31), "completed"),
                ("V03", "K1", "E1", date(2025, 12, 31), "completed"),
                ("V04", "K1", "E1", date(2027, 1, 1), "completed"),
                ("V05", "K1", "E1", date(2026, 3, 1), "cancelled"),
                ("V06", "K1", "E1", date(2026, 7, 15), "scheduled"),
                ("V07", "K1", "E1", date(2026, 5, 1), "scheduled"),
                ("V08", "K1", "E1", date(2026, 2, 10), "completed"),
                ("V09", "K1", "E2", date(2026, 3, 3), "completed"),
                ("V10", "K1", "E2", date(2026, 4, 4), "completed"),
                ("V11", "K1", "E2", date(2026, 5, 5), "completed"),
                ("V12", "K1", "EX", date(2026, 2, 2), "completed"),
                ("V13", "K1", "E3", date(2026, 2, 2), "completed"),  # TA requires 0 health checks
                # K2: TA since 2026-04-01, but every completed event of the year counts.
                ("V21", "K2", "E1", date(2026, 2, 1), "completed"),
                ("V22", "K2", "E1", date(2026, 5, 1), "completed"),
                ("V23", "K2", "E1", date(2026, 6, 30), "completed"),
                ("V24", "K2", "E3", date(2026, 3, 1), "completed"),  # E3 was TB's, not TA's
                # K3: still TB on D.
                ("V31", "K3", "E1", date(2026, 9, 1), "scheduled"),
                ("V32", "K3", "E1", date(2026, 10, 1), "scheduled"),
                ("V33", "K3", "E3", date(2026, 1, 10), "completed"),
                ("V34", "K3", "E3", date(2026, 2, 10), "completed"),
                ("V35", "K3", "E3", date(2026, 3, 10), "completed"),
                ("V36", "K3", "E3", date(2026, 4, 10), "completed"),
                ("V41", "K4", "E1", date(2026, 3, 3), "completed"),  # unsegmented: counts nowhere
                ("V61", "K6", "E1", date(2026, 1, 5), "completed"),
                ("V62", "K6", "E1", date(2026, 3, 5), "completed"),
                ("V63", "K6", "E1", date(2026, 7, 5), "completed"),
                ("V64", "K6", "E3", date(2026, 2, 2), "completed"),
            ]
        ),
    )
    insert(
        conn,
        "segmentation_event_compliance",
        [
            dict(client_id=c, event_type_id=t, fiscal_year=y, adjustment_count=n)
            for c, t, y, n in [
                ("K1", "E1", 2026, -1),
                ("K1", "E1", 2025, 7),
                ("K2", "E2", 2026, 2),
                ("K6", "E3", 2026, -3),
                ("K1", "EX", 2026, 1),
            ]
        ],
    )
    insert(
        conn,
        "account_plans",
        [
            dict(plan_id=p, client_id=c, fiscal_year=y, cse_name=None, status=s)
            for p, c, y, s in [
                ("P1", "K1", 2026, "approved"),
                ("P2", "K2", 2026, "draft"),
                ("P3", "K2", 2026, "approved"),
                ("P4", "K3", 2026, "in_review"),
                ("P5", "K4", 2026, "approved"),
                ("P6", "K5", 2025, "approved"),
            ]
        ],
    )
    insert(
        conn,
        "territory_strategies",
        [
            dict(territory=t, fiscal_year=2026, status=s)
            for t, s in [
                ("Victoria", "approved"),
                ("New South Wales", "in_review"),
                ("Singapore / SEA", "approved"),
            ]
        ],
    )
    insert(
        conn,
        "planning_kpi_targets",
        [
            dict(fiscal_year=2026, business_unit=None, metric="compliance", target_value=90),
            dict(fiscal_year=2026, business_unit="ANZ", metric="compliance", target_value=85),
            dict(fiscal_year=2025, business_unit=None, metric="compliance", target_value=70),
        ],
    )


PAIR_FIGURES = (
    "required_count",
    "event_completed_count",
    "adjustment_count",
    "completed_count",
    "credited_count",
    "remaining_count",
    "scheduled_count",
    "cancelled_count",
    "compliance_pct",
    "status",
)


def pairs(conn, fiscal_year=2026):
    rows = fetch(
        conn, "select * from account_plan_event_requirements where fiscal_year = %s", (fiscal_year,)
    )
    return {(r["client_id"], r["event_type_id"]): r for r in rows}


def figures(row, names=PAIR_FIGURES):
    return tuple(row[n] for n in names)


def test_client_level_exact_figures(conn):
    seed_six_clients(conn)
    steps.run_all(steps.compliance(), conn, _run())
    got = pairs(conn)
    # No row for K4 (no tier), K5 (tier requires 0), TA's E3 (0) or the unrequired EX.
    assert set(got) == {
        ("K1", "E1"),
        ("K1", "E2"),
        ("K2", "E1"),
        ("K2", "E2"),
        ("K3", "E1"),
        ("K3", "E3"),
        ("K6", "E1"),
        ("K6", "E3"),
    }
    expected = {
        # req, events, adj, completed, credited, remaining, scheduled, cancelled, pct, status
        ("K1", "E1"): (4, 3, -1, 2, 2, 2, 1, 1, D("50.00"), "at_risk"),
        ("K1", "E2"): (2, 3, 0, 3, 2, 0, 0, 0, D("150.00"), "exceeded"),
        ("K2", "E1"): (4, 3, 0, 3, 3, 1, 0, 0, D("75.00"), "at_risk"),
        ("K2", "E2"): (2, 0, 2, 2, 2, 0, 0, 0, D("100.00"), "exceeded"),
        ("K3", "E1"): (2, 0, 0, 0, 0, 2, 2, 0, D("0.00"), "critical"),
        ("K3", "E3"): (5, 4, 0, 4, 4, 1, 0, 0, D("80.00"), "compliant"),
        ("K6", "E1"): (2, 3, 0, 3, 2, 0, 0, 0, D("150.00"), "exceeded"),
        ("K6", "E3"): (5, 1, -3, -2, 0, 5, 0, 0, D("-40.00"), "critical"),
    }
    assert {k: figures(v) for k, v in got.items()} == expected
    k1 = got[("K1", "E1")]
    assert (k1["last_completed_date"], k1["next_scheduled_date"]) == (
        date(2026, 12, 31),
        date(2026, 7, 15),
    )
    assert (k1["tier_id"], k1["tier_name"], k1["event_type_code"]) == ("TA", "Platinum", "QBR")
    assert (k1["territory"], k1["business_unit"], k1["is_unassigned"]) == ("Victoria", "ANZ", False)
    assert got[("K2", "E1")]["tier_effective_from"] == date(2026, 4, 1)
    assert got[("K6", "E1")]["tier_id"] == "TB"


def test_tier_change_after_the_as_of_date_counts_from_that_date(conn):
    seed_six_clients(conn)
    sync = steps.compliance()
    steps.run_all(sync, conn, _run(run_id="june"))
    # As of 2026-10-01 K3 is TA: E1 now requires 4, E2 appears, E3 (TB's) goes away.
    summary = steps.run_all(sync, conn, _run(as_of=date(2026, 10, 1), run_id="october"))
    k3 = {t: figures(r) for (c, t), r in pairs(conn).items() if c == "K3"}
    assert k3 == {
        "E1": (4, 0, 0, 0, 0, 4, 1, 0, D("0.00"), "critical"),  # only 2026-10-01 is still ahead
        "E2": (2, 0, 0, 0, 0, 2, 0, 0, D("0.00"), "critical"),
    }
    counts = summary["tables"]["account_plan_event_requirements"]
    assert (counts["inserted"], counts["deleted"]) == (1, 1)
    # K1's scheduled QBR on 2026-07-15 is now in the past: no longer counted as scheduled.
    assert pairs(conn)[("K1", "E1")]["scheduled_count"] == 0


def territory(conn, name):
    return fetch(conn, "select * from territory_compliance_summary where territory = %s", (name,))[
        0
    ]


TERRITORY_FIGURES = (
    "count_clients",
    "count_segmented_clients",
    "count_unsegmented_clients",
    "count_clients_no_requirements",
    "count_clients_critical",
    "count_clients_at_risk",
    "count_clients_compliant",
    "count_clients_exceeded",
    "count_clients_compliance_at_risk",
    "count_compliance_pairs",
    "count_pairs_critical",
    "count_pairs_at_risk",
    "count_pairs_compliant",
    "count_pairs_exceeded",
    "count_required_events",
    "count_credited_events",
    "count_completed_events",
    "count_scheduled_events",
    "compliance_pct",
    "compliance_status",
    "count_clients_plan_approved",
    "planning_coverage_pct",
    "strategy_status",
)


def test_territory_level(conn):
    seed_six_clients(conn)
    summary = steps.run_all(steps.compliance(), conn, _run())
    rows = fetch(conn, "select territory from territory_compliance_summary")
    assert len(rows) == 12  # 11 mapped territories + Unassigned
    assert figures(territory(conn, "Victoria"), TERRITORY_FIGURES) == (
        2,
        2,
        0,
        1,
        0,
        1,
        0,
        0,
        1,  # K1 at risk (4 of 6 = 66.67), K5 requires nothing
        2,
        0,
        1,
        0,
        1,
        6,
        4,
        5,
        1,
        D("66.67"),
        "at_risk",
        1,
        D("50.00"),
        "approved",
    )
    assert figures(territory(conn, "New South Wales"), TERRITORY_FIGURES) == (
        1,
        1,
        0,
        0,
        0,
        0,
        1,
        0,
        0,  # K2: 5 of 6 = 83.33, compliant
        2,
        0,
        1,
        0,
        1,
        6,
        5,
        5,
        0,
        D("83.33"),
        "compliant",
        1,
        D("100.00"),
        "in_review",
    )
    assert figures(territory(conn, "Singapore / SEA"), TERRITORY_FIGURES) == (
        2,
        2,
        0,
        0,
        1,
        1,
        0,
        0,
        2,  # K3 4 of 7 at risk, K6 2 of 7 critical
        4,
        2,
        0,
        1,
        1,
        14,
        6,
        5,
        2,
        D("42.86"),
        "critical",
        0,
        D("0.00"),
        "approved",
    )
    unassigned = territory(conn, "Unassigned")
    assert figures(unassigned, TERRITORY_FIGURES) == (
        1,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        0,  # K4: reported as unsegmented, not dropped
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        None,
        None,
        1,
        D("100.00"),
        "missing",
    )
    assert (unassigned["business_unit"], unassigned["is_unassigned"]) == ("Unassigned", True)
    queensland = territory(conn, "Queensland")
    assert (
        queensland["count_clients"],
        queensland["compliance_pct"],
        queensland["planning_coverage_pct"],
    ) == (0, None, None)
    assert summary["notes"]["clients_without_tier"] == "1: client_id=K4"


BU_FIGURES = (
    "overall_compliance_percentage",
    "count_compliance_pairs",
    "count_pairs_critical",
    "count_pairs_at_risk",
    "count_pairs_compliant",
    "count_pairs_exceeded",
    "count_required_events",
    "count_credited_events",
    "count_segmented_clients",
    "count_unsegmented_clients",
    "count_clients_compliance_at_risk",
    "count_clients_plan_approved",
    "planning_coverage_pct",
    "count_territory_strategies_approved",
    "compliance_as_of_date",
)


def test_business_unit_level(conn):
    seed_six_clients(conn)
    steps.run_all(steps.compliance(), conn, _run())
    units = {r["business_unit"]: r for r in fetch(conn, "select * from business_unit_planning")}
    assert set(units) == {"ANZ", "SEA", "Greater China", "Unassigned"}
    d = date(2026, 6, 30)
    assert figures(units["ANZ"], BU_FIGURES) == (
        D("75.00"),
        4,
        0,
        2,
        0,
        2,
        12,
        9,
        3,
        0,
        1,
        2,
        D("66.67"),
        1,
        d,
    )
    assert figures(units["SEA"], BU_FIGURES) == (
        D("42.86"),
        4,
        2,
        0,
        1,
        1,
        14,
        6,
        2,
        0,
        2,
        0,
        D("0.00"),
        1,
        d,
    )
    assert figures(units["Greater China"], BU_FIGURES) == (
        None,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        None,
        0,
        d,
    )
    assert figures(units["Unassigned"], BU_FIGURES) == (
        None,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        1,
        0,
        1,
        D("100.00"),
        0,
        d,
    )
    # The financials sync's columns stay empty: this sync never writes them.
    anz = units["ANZ"]
    assert anz["current_arr"] is None and anz["financials_synced_at"] is None
    assert anz["compliance_synced_at"] is not None and anz["plan_coverage_pct"] is None


def test_apac_level_and_summary(conn):
    seed_six_clients(conn)
    summary = steps.run_all(steps.compliance(), conn, _run())
    apac = fetch(conn, "select * from apac_planning_goals")[0]
    # 15 of 26 required events credited; the region's target is 90 (not ANZ's 85 or 2025's 70).
    assert (apac["actual_compliance"], apac["target_compliance"], apac["compliance_gap"]) == (
        D("57.69"),
        D("90.00"),
        D("32.31"),
    )
    assert (
        apac["count_compliance_pairs"],
        apac["count_pairs_critical"],
        apac["count_pairs_at_risk"],
        apac["count_pairs_compliant"],
        apac["count_pairs_exceeded"],
    ) == (8, 2, 2, 1, 3)
    assert (apac["count_required_events"], apac["count_credited_events"]) == (26, 15)
    assert (
        apac["count_segmented_clients"],
        apac["count_unsegmented_clients"],
        apac["count_clients_compliance_at_risk"],
    ) == (5, 1, 3)
    assert (
        apac["count_clients_plan_approved"],
        apac["planning_coverage_pct"],
        apac["count_territory_strategies_approved"],
    ) == (3, D("50.00"), 2)
    assert apac["compliance_as_of_date"] == date(2026, 6, 30) and apac["region"] is None
    metrics = summary["metrics"]
    assert (
        metrics["actual_compliance_pct"],
        metrics["target_compliance_pct"],
        metrics["compliance_gap"],
        metrics["clients_at_risk"],
        metrics["pairs"],
    ) == (57.69, 90.0, 32.31, 3, 8)
    assert summary["notes"] == {
        "adjustments_of_unrequired_type": "1: client_id=K1 event_type_id=EX",
        "clients_without_tier": "1: client_id=K4",
        "events_of_unrequired_type": "1: event_id=V12 event_type_id=EX",
        "negative_completed_count": "1: client_id=K6 event_type_id=E3 completed_count=-2",
        "rolled_up_to_unassigned": "1: K4 (CSE Nobody Mapped)",
        "superseded_segmentation_rows": "1: client_id=K6 tier_id=TA effective_from=2019-01-01 effective_to=",
    }


def test_july_fiscal_year_bounds(conn):
    seed_reference(conn)
    insert(
        conn,
        "clients",
        [
            dict(
                client_id="J1",
                client_name="July Co",
                cse_name="Boon Koh",
                segment="Small",
                country="SG",
                customer_since=date(2015, 1, 1),
                status="active",
            )
        ],
    )
    insert(
        conn,
        "client_segmentation",
        [
            dict(
                client_id="J1",
                tier_id="TA",
                cse_name=None,
                effective_from=date(2020, 1, 1),
                effective_to=None,
            )
        ],
    )
    insert(
        conn,
        "segmentation_events",
        _events(
            [
                ("J01", "J1", "E1", date(2025, 7, 1), "completed"),  # first day of FY2026
                ("J02", "J1", "E1", date(2026, 6, 30), "completed"),  # last day
                ("J03", "J1", "E1", date(2025, 6, 30), "completed"),  # last day of FY2025
                ("J04", "J1", "E1", date(2026, 7, 1), "completed"),  # first day of FY2027
                ("J05", "J1", "E1", date(2026, 1, 15), "scheduled"),
                ("J06", "J1", "E1", date(2025, 12, 1), "scheduled"),  # before D: not ahead
            ]
        ),
    )
    insert(
        conn,
        "segmentation_event_compliance",
        [
            dict(client_id="J1", event_type_id="E1", fiscal_year=2026, adjustment_count=1),
            dict(client_id="J1", event_type_id="E1", fiscal_year=2025, adjustment_count=5),
        ],
    )
    # FY2026 with a July start runs 2025-07-01..2026-06-30.
    steps.run_all(steps.compliance(), conn, _run(2026, date(2025, 12, 31), start_month=7))
    row = pairs(conn)[("J1", "E1")]
    assert figures(row) == (4, 2, 1, 3, 3, 1, 1, 0, D("75.00"), "at_risk")
    # The region: E1 3 of 4 and E2 0 of 2 credited.
    assert fetch(conn, "select actual_compliance from apac_planning_goals")[0] == {
        "actual_compliance": D("50.00")
    }


def test_dry_run_counts_without_writing(conn):
    seed_six_clients(conn)
    summary = steps.run_all(steps.compliance(), conn, _run(dry_run=True))
    assert summary["dry_run"] is True
    tables = summary["tables"]
    assert {t: (c["inserted"], c["updated"], c["unchanged"]) for t, c in tables.items()} == {
        "account_plan_event_requirements": (8, 0, 0),
        "territory_compliance_summary": (12, 0, 0),
        "business_unit_planning": (4, 0, 0),
        "apac_planning_goals": (1, 0, 0),
    }
    assert all(fetch(conn, f"select count(*) as n from {t}")[0]["n"] == 0 for t in TARGETS)
    staged = "select count(*) as n from finsync_stage.account_plan_event_requirements"
    assert fetch(conn, staged)[0]["n"] == 0
    # A dry run after a real one reports the would-be update and writes nothing.
    steps.run_all(steps.compliance(), conn, _run(run_id="real"))
    insert(
        conn, "segmentation_events", _events([("V99", "K2", "E1", date(2026, 6, 1), "completed")])
    )
    again = steps.run_all(steps.compliance(), conn, _run(run_id="dry", dry_run=True))
    assert again["tables"]["account_plan_event_requirements"] == {
        "staged": 8,
        "inserted": 0,
        "updated": 1,
        "unchanged": 7,
        "deleted": 0,
    }
    assert pairs(conn)[("K2", "E1")]["completed_count"] == 3


def test_second_run_changes_nothing_and_a_new_event_updates_one_row_per_level(conn):
    seed_six_clients(conn)
    sync = steps.compliance()
    steps.run_all(sync, conn, _run(run_id="a"))
    before = {t: fetch(conn, f"select * from {t} order by 1, 2") for t in TARGETS}
    again = steps.run_all(sync, conn, _run(run_id="b"))
    assert {t: c["inserted"] + c["updated"] + c["deleted"] for t, c in again["tables"].items()} == {
        t: 0 for t in TARGETS
    }
    assert {t: fetch(conn, f"select * from {t} order by 1, 2") for t in TARGETS} == before
    # K2's fourth QBR: K2 E1 becomes 4 of 4 (exceeded), NSW and ANZ and APAC change.
    insert(
        conn, "segmentation_events", _events([("V99", "K2", "E1", date(2026, 6, 1), "completed")])
    )
    changed = steps.run_all(sync, conn, _run(run_id="c"))
    assert {t: c["updated"] for t, c in changed["tables"].items()} == {t: 1 for t in TARGETS}
    assert figures(pairs(conn)[("K2", "E1")])[-2:] == (D("100.00"), "exceeded")
    assert territory(conn, "New South Wales")["compliance_pct"] == D("100.00")


def test_compliance_leaves_the_financials_columns_alone(conn):
    seed_six_clients(conn)
    steps.run_all(steps.financials(), conn, _run(run_id="fin"))
    financial = fetch(
        conn,
        "select business_unit, current_arr, count_clients, plan_coverage_pct, "
        "count_strategies_approved, planning_status, financials_synced_at "
        "from business_unit_planning order by 1",
    )
    steps.run_all(steps.compliance(), conn, _run(run_id="comp"))
    assert (
        fetch(
            conn,
            "select business_unit, current_arr, count_clients, plan_coverage_pct, "
            "count_strategies_approved, planning_status, financials_synced_at "
            "from business_unit_planning order by 1",
        )
        == financial
    )
    anz = fetch(conn, "select * from business_unit_planning where business_unit = 'ANZ'")[0]
    assert anz["count_clients"] == 3 and anz["overall_compliance_percentage"] == D("75.00")
    assert anz["synced_at"] == anz["compliance_synced_at"] >= anz["financials_synced_at"]


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        # Two tier rows for K1 starting the same day: the tier is ambiguous.
        (
            "insert into client_segmentation values ('K1', 'TB', null, '2020-01-01', null)",
            "client_segmentation: 2 row(s) break 'one tier in force on the as-of date (no two rows "
            "with the same latest effective_from)', e.g. client_id=K1 tier_id=TA "
            "effective_from=2020-01-01 effective_to=; client_id=K1 tier_id=TB "
            "effective_from=2020-01-01",
        ),
        (
            "insert into tier_event_requirements values ('TQ', 'E1', 3)",
            "tier_event_requirements: 1 row(s) break 'tier_id must exist in segmentation_tiers', "
            "e.g. tier_id=TQ event_type_id=E1",
        ),
        (
            "insert into tier_event_requirements values ('TA', 'E9', 1)",
            "tier_event_requirements: 1 row(s) break 'event_type_id must exist in "
            "segmentation_event_types', e.g. tier_id=TA event_type_id=E9",
        ),
        (
            "insert into tier_event_requirements values ('TA', 'E1', 1)",
            "tier_event_requirements: 1 row(s) break 'one row per (tier_id, event_type_id)', "
            "e.g. tier_id=TA event_type_id=E1",
        ),
        (
            "update segmentation_events set status = 'done' where event_id = 'V21'",
            "segmentation_events: 1 row(s) break 'status must be completed, scheduled or cancelled', "
            "e.g. event_id=V21 status=done",
        ),
        (
            "alter table segmentation_events drop constraint segmentation_events_pkey; "
            "insert into segmentation_events values ('V21', 'K2', 'E1', '2026-02-02', 'completed')",
            "segmentation_events: 1 row(s) break 'event_id must be present and unique', "
            "e.g. event_id=V21",
        ),
        (
            "insert into segmentation_events values ('V98', 'K9', 'E1', '2026-02-02', 'completed')",
            "segmentation_events: 1 row(s) break 'client_id must exist in clients', "
            "e.g. event_id=V98 client_id=K9",
        ),
        (
            "insert into segmentation_event_compliance values ('K2', 'E2', 2026, 1)",
            "segmentation_event_compliance: 1 row(s) break 'one row per (client_id, event_type_id, "
            "fiscal_year)', e.g. client_id=K2 event_type_id=E2 fiscal_year=2026",
        ),
        (
            "insert into client_segmentation values ('K4', 'TX', null, '2021-01-01', null)",
            "client_segmentation: 1 row(s) break 'tier_id must exist in segmentation_tiers', "
            "e.g. client_id=K4 tier_id=TX effective_from=2021-01-01",
        ),
        (
            "drop table segmentation_event_compliance",
            "source table(s) missing from the warehouse: segmentation_event_compliance",
        ),
    ],
)
def test_bad_source_rows_fail_with_the_rows_and_change_nothing(conn, statement, expected):
    seed_six_clients(conn)
    sync = steps.compliance()
    steps.run_all(sync, conn, _run(run_id="good"))
    snapshot = {t: fetch(conn, f"select * from {t} order by 1, 2") for t in TARGETS}
    conn.execute(statement)
    conn.execute(
        "insert into segmentation_events values ('V97', 'K1', 'E1', '2026-06-01', 'completed')"
    )  # a real change, which must not be published either
    with pytest.raises(SourceDataError) as err:
        steps.run_all(sync, conn, _run(run_id="bad"))
    assert expected in str(err.value)
    assert "nothing was written" in str(err.value) or "missing" in expected
    assert {t: fetch(conn, f"select * from {t} order by 1, 2") for t in TARGETS} == snapshot


def test_gate_stops_figures_that_do_not_reconcile(conn):
    seed_six_clients(conn)
    sync = steps.compliance()
    run = _run(run_id="tampered")
    sync.start(conn, run)
    for level in sync.levels:
        sync.stage_level(conn, run, level.name)
    # A territory figure that no longer equals the sum of its client rows.
    conn.execute(
        "update finsync_stage.territory_compliance_summary "
        "set count_credited_events = count_credited_events + 1 "
        "where territory = 'Victoria'"
    )
    with pytest.raises(GateError) as err:
        sync.validate(conn, run)
    message = str(err.value)
    assert (
        "[territory_reconciles_with_client] expect_column_values_to_be_between on difference"
    ) in message
    assert "'key': 'Victoria', 'column_name': 'count_credited_events'" in message
    assert "business_unit_reconciles_with_territory" in message  # ANZ no longer adds up either
    assert all(fetch(conn, f"select count(*) as n from {t}")[0]["n"] == 0 for t in TARGETS)
