"""The financials SQL per level on hand-built rows, against figures worked out by hand."""

from datetime import date
from decimal import Decimal as D

import pytest

from finsync.gate import GateError
from finsync.planning import sync as steps
from finsync.planning.common import SourceDataError, resolve_run
from tests.conftest import fetch, insert

pytestmark = pytest.mark.integration


def _run(fiscal_year=2026, as_of=date(2026, 3, 31), start_month=1, dry_run=False, run_id="test"):
    params = {"fiscal_year": fiscal_year, "as_of_date": as_of, "dry_run": dry_run}
    return resolve_run(run_id, params, as_of, start_month)


def seed_four_clients(conn):
    insert(
        conn,
        "clients",
        [
            dict(
                client_id="C1",
                client_name="Acme",
                cse_name="Tracey Bugeja",
                segment="Large",
                country="AU",
                customer_since=date(2020, 1, 15),
                status="active",
            ),
            dict(
                client_id="C2",
                client_name="Orphan Co",
                cse_name="Nobody Mapped",
                segment="Small",
                country="AU",
                customer_since=date(2024, 6, 1),
                status="active",
            ),
            dict(
                client_id="C3",
                client_name="Harbour",
                cse_name="Jess Gawler",
                segment="Medium",
                country="AU",
                customer_since=date(2019, 3, 1),
                status="churned",
            ),
            dict(
                client_id="C4",
                client_name="Lion",
                cse_name="Boon Koh",
                segment="Giant",
                country="SG",
                customer_since=date(2015, 1, 1),
                status="active",
            ),
        ],
    )
    arr = [
        ("C1", 2026, 1, 100, 140),
        ("C1", 2026, 2, 110, 145),
        ("C1", 2026, 3, 120, 150),
        ("C1", 2025, 12, 100, 120),
        ("C1", 2025, 11, 90, 120),
        ("C2", 2026, 12, 50, 60),
        ("C3", 2026, 6, 30, 30),
        ("C4", 2026, 1, 200, 250),
    ]
    insert(
        conn,
        "burc_arr_tracking",
        [
            dict(client_id=c, fiscal_year=y, fiscal_month=m, arr=a, target_arr=t)
            for c, y, m, a, t in arr
        ],
    )
    revenue = [
        ("C1", 2026, 1, "Software", 10),
        ("C1", 2026, 2, "Software", 10),
        ("C1", 2026, 4, "PS", 5),
        ("C1", 2026, 1, "Maintenance", 2),
        ("C1", 2026, 2, "Hardware", 1),
        ("C1", 2025, 7, "Software", 50),
        ("C1", 2027, 1, "Software", 999),
        ("C4", 2026, 1, "Software", 40),
    ]
    insert(
        conn,
        "burc_client_revenue_detail",
        [
            dict(client_id=c, fiscal_year=y, fiscal_month=m, revenue_type=t, amount=a)
            for c, y, m, t, a in revenue
        ],
    )
    deals = [
        ("D1", "C1", "expansion", "business_case", 0.5, 100, "open"),
        ("D2", "C1", "expansion", "pipeline", 0.2, 50, "open"),
        ("D3", "C1", "expansion", "pipeline", 0.9, 1000, "won"),
        ("D4", "C1", "new_logo", "pipeline", 0.1, 200, "open"),
        ("D5", "C1", "renewal", "pipeline", 0.8, 300, "open"),
    ]
    insert(
        conn,
        "burc_pipeline_deals",
        [
            dict(
                deal_id=i,
                client_id=c,
                fiscal_year=2026,
                deal_type=t,
                category=cat,
                stage="Propose",
                probability=p,
                value=v,
                expected_close_date=date(2026, 9, 1),
                status=s,
            )
            for i, c, t, cat, p, v, s in deals
        ],
    )
    bridge = [
        ("C1", 2024, 100, 10, 5, 0),
        ("C1", 2025, 105, 0, 0, 5),
        ("C1", 2026, 100, 20, 0, 0),
        ("C1", 2023, 1000, 0, 0, 1000),
        ("C4", 2026, 200, 0, 0, 0),
    ]
    insert(
        conn,
        "burc_nrr_metrics",
        [
            dict(
                client_id=c,
                fiscal_year=y,
                starting_arr=s,
                expansion_arr=e,
                contraction_arr=x,
                churned_arr=ch,
            )
            for c, y, s, e, x, ch in bridge
        ],
    )
    insert(
        conn,
        "aging_accounts",
        [
            dict(
                client_id="C1",
                as_of_date=date(2026, 2, 28),
                current_amount=10,
                days_1_30=5,
                days_31_60=0,
                days_61_90=0,
                days_over_90=5,
            ),
            dict(
                client_id="C1",
                as_of_date=date(2026, 1, 31),
                current_amount=1,
                days_1_30=0,
                days_31_60=0,
                days_61_90=0,
                days_over_90=0,
            ),
            dict(
                client_id="C1",
                as_of_date=date(2026, 5, 31),
                current_amount=999,
                days_1_30=0,
                days_31_60=0,
                days_61_90=0,
                days_over_90=0,
            ),
        ],
    )
    contracts = [
        ("K1", "C1", date(2026, 6, 30), 40, "active"),
        ("K2", "C1", date(2026, 6, 30), 60, "active"),
        ("K3", "C1", date(2027, 1, 31), 500, "active"),
        ("K4", "C1", date(2026, 4, 30), 70, "expired"),
        ("K5", "C1", date(2026, 3, 1), 80, "active"),
        ("K6", "C1", date(2026, 11, 30), 25, "active"),
    ]
    insert(
        conn,
        "burc_contracts",
        [
            dict(
                contract_id=k,
                client_id=c,
                start_date=date(2023, 1, 1),
                end_date=e,
                annual_value=v,
                status=s,
            )
            for k, c, e, v, s in contracts
        ],
    )
    insert(
        conn,
        "client_health_history",
        [
            dict(client_id="C1", snapshot_date=date(2026, 3, 1), health_score=45),
            dict(client_id="C1", snapshot_date=date(2026, 4, 1), health_score=90),
            dict(client_id="C4", snapshot_date=date(2026, 3, 1), health_score=80),
        ],
    )
    insert(
        conn,
        "burc_attrition_risk",
        [
            dict(
                client_id="C1",
                fiscal_year=2026,
                risk_level="medium",
                arr_at_risk=10,
                expected_date=None,
            ),
            dict(
                client_id="C1",
                fiscal_year=2026,
                risk_level="high",
                arr_at_risk=20,
                expected_date=None,
            ),
        ],
    )
    insert(
        conn,
        "account_plans",
        [
            dict(
                plan_id="P1",
                client_id="C1",
                fiscal_year=2026,
                cse_name="Tracey Bugeja",
                status="draft",
            ),
            dict(
                plan_id="P2",
                client_id="C1",
                fiscal_year=2026,
                cse_name="Tracey Bugeja",
                status="approved",
            ),
            dict(
                plan_id="P3",
                client_id="C4",
                fiscal_year=2026,
                cse_name="Boon Koh",
                status="in_review",
            ),
        ],
    )
    insert(
        conn,
        "burc_bu_pnl",
        [
            dict(business_unit="ANZ", fiscal_year=2026, revenue=1000, ebita=250),
            dict(business_unit="SEA", fiscal_year=2026, revenue=500, ebita=50),
        ],
    )
    insert(
        conn,
        "planning_kpi_targets",
        [
            dict(fiscal_year=2026, business_unit=None, metric="nrr", target_value=110),
            dict(fiscal_year=2026, business_unit="ANZ", metric="ebita_margin", target_value=20),
        ],
    )
    insert(
        conn,
        "territory_strategies",
        [
            dict(territory="Victoria", fiscal_year=2026, status="approved"),
        ],
    )


def client(conn, client_id):
    return fetch(conn, "select * from account_plan_financials where client_id = %s", (client_id,))[
        0
    ]


def test_client_level_core_figures(conn):
    seed_four_clients(conn)
    steps.run_all(steps.financials(), conn, _run())
    c1 = client(conn, "C1")
    # ARR: the row with the highest fiscal_month of year N.
    assert (c1["current_arr"], c1["target_arr"], c1["mrr"]) == (
        D("120.00"),
        D("150.00"),
        D("10.00"),
    )
    assert c1["prior_year_arr"] == D("100.00") and c1["arr_growth_pct"] == D("20.00")
    assert (
        c1["q1_arr"] == D("120.00") and c1["q2_arr"] is None and c1["q1_target_arr"] == D("150.00")
    )
    # Revenue of year N by type; lifetime value = all revenue up to and including N.
    assert (
        c1["revenue_software"],
        c1["revenue_ps"],
        c1["revenue_maintenance"],
        c1["revenue_hardware"],
    ) == (D("20.00"), D("5.00"), D("2.00"), D("1.00"))
    assert c1["total_revenue"] == D("28.00") and c1["lifetime_value"] == D("78.00")
    # Revenue to date: fiscal months up to March (D = 2026-03-31), so PS in April is out.
    assert c1["revenue_to_date"] == D("23.00")
    # Open expansion deals only; weighted by probability.
    assert c1["expansion_pipeline"] == D("150.00") and c1["weighted_pipeline"] == D("60.00")
    assert c1["gap_closure_business_case"] == D("50.00") and c1["gap_closure_pipeline"] == D(
        "30.00"
    )
    assert c1["gap_to_target"] == D("30.00") and c1["gap_coverage_pct"] == D("266.67")
    # NRR/GRR over N-2..N from the summed bridge (2023 is outside the window).
    assert c1["starting_arr_3yr"] == D("305.00")
    assert c1["nrr_3yr"] == D("106.56") and c1["grr_3yr"] == D("96.72")
    # AR: the latest snapshot on or before D.
    assert (c1["ar_balance"], c1["ar_overdue"], c1["ar_over_90"]) == (
        D("20.00"),
        D("10.00"),
        D("5.00"),
    )
    assert c1["collection_risk"] == "high"  # overdue is 50 % of the balance
    # DSO = balance x days elapsed (90) / revenue to date (23).
    assert c1["dso_days"] == D("78.3")
    # Renewal: earliest active end_date >= D, value of the contracts ending that day.
    assert c1["renewal_date"] == date(2026, 6, 30) and c1["renewal_value"] == D("100.00")
    assert c1["days_to_renewal"] == 91
    assert (c1["renewal_q2_value"], c1["renewal_q4_value"], c1["renewal_q1_value"]) == (
        D("100.00"),
        D("25.00"),
        D("0.00"),
    )
    # Health is the latest snapshot on or before D (45: at risk); attrition takes the highest level.
    assert c1["health_score"] == 45 and c1["health_status"] == "at_risk"
    assert (
        c1["attrition_risk_level"] == "high"
        and c1["arr_at_risk"] == D("30.00")
        and c1["is_at_risk"]
    )
    assert c1["renewal_risk"] == "medium"  # 91 days away with health 45
    assert c1["account_plan_status"] == "approved"
    assert c1["tenure_months"] == 74
    assert (c1["territory"], c1["business_unit"], c1["is_unassigned"]) == ("Victoria", "ANZ", False)


def test_client_without_sources_counts_as_zero_and_unmapped_cse_rolls_up_to_unassigned(conn):
    seed_four_clients(conn)
    summary = steps.run_all(steps.financials(), conn, _run())
    c2 = client(conn, "C2")
    assert (c2["territory"], c2["business_unit"], c2["is_unassigned"]) == (
        "Unassigned",
        "Unassigned",
        True,
    )
    assert (
        c2["current_arr"] == D("50.00") and c2["nrr_3yr"] is None and c2["ar_balance"] == D("0.00")
    )
    assert c2["collection_risk"] == "none" and c2["renewal_risk"] == "none"
    assert c2["account_plan_status"] == "missing" and c2["health_status"] == "unknown"
    assert summary["metrics"]["unassigned_clients"] == 1
    assert "C2 (CSE Nobody Mapped)" in summary["notes"]["rolled_up_to_unassigned"]
    unassigned = fetch(
        conn, "select * from territory_strategy_financials where territory = 'Unassigned'"
    )[0]
    assert unassigned["count_clients"] == 1 and unassigned["current_arr"] == D("50.00")


def test_rollups_sum_and_recompute_ratios(conn):
    seed_four_clients(conn)
    steps.run_all(steps.financials(), conn, _run())
    territories = {
        r["territory"]: r for r in fetch(conn, "select * from territory_strategy_financials")
    }
    # Every mapped territory gets a row, with zeros where it has no clients.
    assert len(territories) == 12 and territories["Queensland"]["count_clients"] == 0
    vic = territories["Victoria"]
    assert vic["current_arr"] == D("120.00") and vic["strategy_status"] == "approved"
    assert vic["count_plans_approved"] == 1 and vic["plan_coverage_pct"] == D("100.00")
    assert vic["top_clients_arr_share_pct"] == D("100.00") and vic["arr_hhi"] == D("10000.00")
    assert vic["concentration_risk"] == "high"
    assert territories["New South Wales"]["count_active_clients"] == 0
    units = {r["business_unit"]: r for r in fetch(conn, "select * from business_unit_planning")}
    anz = units["ANZ"]
    assert (
        anz["current_arr"] == D("150.00")
        and anz["count_clients"] == 2
        and anz["count_territories"] == 5
    )
    # HHI of shares 80 % and 20 %: 6400 + 400.
    assert anz["arr_hhi"] == D("6800.00") and anz["top_clients_arr_share_pct"] == D("100.00")
    assert anz["ebita_margin_pct"] == D("25.00") and anz["kpi_target_ebita_margin"] == D("20.00")
    assert anz["bu_contribution_pct"] == D("37.50")  # 150 of 400
    # Rule of 40 = ARR growth (prior 100 -> 150: 50 %) + EBITA margin (25 %).
    assert anz["arr_growth_pct"] == D("50.00") and anz["rule_of_40"] == D("75.00")
    assert anz["planning_status"] == "in_progress"
    apac = fetch(conn, "select * from apac_planning_goals")[0]
    assert apac["current_arr"] == D("400.00") and apac["count_clients"] == 4
    assert apac["count_unassigned_clients"] == 1 and apac["count_business_units"] == 4
    # Portfolio NRR from the summed bridge rows: (505 + 30 - 5 - 5) / 505.
    assert apac["starting_arr_3yr"] == D("505.00") and apac["nrr_3yr"] == D("103.96")
    assert apac["kpi_target_nrr"] == D("110.00") and apac["nrr_gap"] == D("6.04")
    assert apac["ebita_margin_pct"] == D("20.00")  # 300 of 1500
    assert apac["gap_to_target"] == apac["target_arr"] - apac["current_arr"]


def test_july_fiscal_year(conn):
    insert(
        conn,
        "clients",
        [
            dict(
                client_id="J1",
                client_name="July Co",
                cse_name="Tracey Bugeja",
                segment="Small",
                country="AU",
                customer_since=date(2020, 7, 1),
                status="active",
            )
        ],
    )
    insert(
        conn,
        "burc_contracts",
        [
            dict(
                contract_id=k,
                client_id="J1",
                start_date=date(2024, 7, 1),
                end_date=e,
                annual_value=v,
                status="active",
            )
            for k, e, v in [
                ("A", date(2025, 9, 30), 10),
                ("B", date(2026, 1, 15), 20),
                ("C", date(2026, 7, 1), 40),
            ]
        ],
    )
    insert(
        conn,
        "aging_accounts",
        [
            dict(
                client_id="J1",
                as_of_date=date(2025, 7, 31),
                current_amount=5,
                days_1_30=0,
                days_31_60=0,
                days_61_90=0,
                days_over_90=0,
            )
        ],
    )
    insert(
        conn,
        "burc_client_revenue_detail",
        [
            dict(
                client_id="J1", fiscal_year=2026, fiscal_month=1, revenue_type="Software", amount=31
            ),
            dict(
                client_id="J1", fiscal_year=2026, fiscal_month=2, revenue_type="Software", amount=99
            ),
        ],
    )
    # FY2026 with a July start runs 2025-07-01..2026-06-30; D = 2025-07-31 is fiscal month 1.
    steps.run_all(steps.financials(), conn, _run(2026, date(2025, 7, 31), start_month=7))
    j1 = client(conn, "J1")
    assert j1["renewal_date"] == date(2025, 9, 30)
    # Renewals by fiscal quarter: September is Q1, January Q3, July 2026 is next year.
    assert (j1["renewal_q1_value"], j1["renewal_q3_value"], j1["renewal_q4_value"]) == (
        D("10.00"),
        D("20.00"),
        D("0.00"),
    )
    assert j1["revenue_to_date"] == D("31.00")
    assert j1["dso_days"] == D("5.0")  # 5 x 31 days / 31


def test_dry_run_counts_without_writing(conn):
    seed_four_clients(conn)
    summary = steps.run_all(steps.financials(), conn, _run(dry_run=True))
    assert summary["tables"]["account_plan_financials"]["inserted"] == 4
    assert fetch(conn, "select count(*) as n from account_plan_financials")[0]["n"] == 0
    assert (
        fetch(conn, "select count(*) as n from finsync_stage.account_plan_financials")[0]["n"] == 0
    )


def test_second_run_changes_nothing_and_a_change_updates_one_row(conn):
    seed_four_clients(conn)
    sync = steps.financials()
    steps.run_all(sync, conn, _run(run_id="a"))
    before = {
        r["client_id"]: r["synced_at"]
        for r in fetch(conn, "select client_id, synced_at from account_plan_financials")
    }
    again = steps.run_all(sync, conn, _run(run_id="b"))
    assert {t: c["inserted"] + c["updated"] + c["deleted"] for t, c in again["tables"].items()} == {
        "account_plan_financials": 0,
        "territory_strategy_financials": 0,
        "business_unit_planning": 0,
        "apac_planning_goals": 0,
    }
    after = {
        r["client_id"]: r["synced_at"]
        for r in fetch(conn, "select client_id, synced_at from account_plan_financials")
    }
    assert before == after
    conn.execute(
        "update burc_arr_tracking set arr = 130 where client_id = 'C1' and fiscal_month = 3"
    )
    changed = steps.run_all(sync, conn, _run(run_id="c"))
    assert changed["tables"]["account_plan_financials"]["updated"] == 1
    assert changed["tables"]["territory_strategy_financials"]["updated"] == 1
    assert changed["tables"]["apac_planning_goals"]["updated"] == 1


def test_a_client_removed_from_the_sources_is_removed_from_the_year(conn):
    seed_four_clients(conn)
    sync = steps.financials()
    steps.run_all(sync, conn, _run(run_id="a"))
    conn.execute("delete from clients where client_id = 'C3'")
    conn.execute("delete from burc_arr_tracking where client_id = 'C3'")
    summary = steps.run_all(sync, conn, _run(run_id="b"))
    assert summary["tables"]["account_plan_financials"]["deleted"] == 1
    assert fetch(conn, "select count(*) as n from account_plan_financials")[0]["n"] == 3


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        (
            "update burc_pipeline_deals set probability = 1.5 where deal_id = 'D1'",
            "burc_pipeline_deals: 1 row(s) break 'probability must be between 0 and 1', e.g. deal_id=D1 probability=1.5",
        ),
        (
            "update burc_arr_tracking set fiscal_month = 13 where client_id = 'C2'",
            "burc_arr_tracking: 1 row(s) break 'fiscal_month must be 1-12', e.g. client_id=C2 fiscal_year=2026 fiscal_month=13",
        ),
        (
            "insert into burc_arr_tracking values ('C4', 2026, 1, 1, 1)",
            "burc_arr_tracking: 1 row(s) break 'one row per (client_id, fiscal_year, fiscal_month)', e.g. client_id=C4 fiscal_year=2026 fiscal_month=1",
        ),
        (
            "insert into burc_client_revenue_detail values ('C9', 2026, 1, 'Software', 5)",
            "burc_client_revenue_detail: 1 row(s) break 'client_id must exist in clients', e.g. client_id=C9",
        ),
        ("drop table burc_contracts", "source table(s) missing from the warehouse: burc_contracts"),
    ],
)
def test_bad_source_rows_fail_with_the_table_and_rows_and_change_nothing(conn, statement, expected):
    seed_four_clients(conn)
    sync = steps.financials()
    steps.run_all(sync, conn, _run(run_id="good"))
    snapshot = fetch(conn, "select * from account_plan_financials order by client_id")
    conn.execute(statement)
    with pytest.raises(SourceDataError) as err:
        steps.run_all(sync, conn, _run(run_id="bad"))
    assert expected in str(err.value)
    assert fetch(conn, "select * from account_plan_financials order by client_id") == snapshot


def test_gate_catches_figures_out_of_range(conn):
    seed_four_clients(conn)
    # Contraction larger than the starting ARR is not a contract violation of a single row,
    # but makes GRR negative: the gate must stop it before anything is published.
    conn.execute("update burc_nrr_metrics set contraction_arr = 900 where client_id = 'C4'")
    with pytest.raises(GateError) as err:
        steps.run_all(steps.financials(), conn, _run())
    assert "expect_column_values_to_be_between on grr_3yr" in str(err.value)
    assert "C4" in str(err.value)
    assert fetch(conn, "select count(*) as n from account_plan_financials")[0]["n"] == 0
