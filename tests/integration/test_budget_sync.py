"""A customer's budget sync end to end on real PostgreSQL: local folder source, the real
parser, mapper, normaliser, gate and import; sync_history and the ledger as the record."""

import os
import re
import subprocess
import sys
import time
from decimal import Decimal as D
from pathlib import Path

import pytest

from finsync import storage
from finsync.budget import config as configs
from finsync.budget.sync import sync_customer
from tests.conftest import fetch

pytestmark = pytest.mark.integration

GOOD = """Cost Centre,Account,Period,Budget Amount,Currency
Marketing,Events,Jan 2026,"1,000.00",AUD
Marketing,Events,Feb 2026,"1,000.00",AUD
IT,Cloud,Jan 2026,250.50,AUD
IT,Cloud,Feb 2026,250.50,AUD
Sales,Travel,Jan 2026,800,AUD
"""


def _config(conn, folder: Path, customer="acme", **kw):
    config_id = configs.add(
        conn,
        customer_id=customer,
        source_type="local",
        source_config={"path": str(folder), "glob": "*.csv"},
        default_currency="AUD",
        **kw,
    )
    conn.execute(
        "update budget_data_source_config set settle_seconds = 0 where config_id = %s", (config_id,)
    )
    (cfg,) = configs.load(conn, config_id=config_id)
    return cfg


def _drop(folder: Path, name: str, text: str, age_s: float = 120, encoding="utf-8") -> Path:
    path = folder / name
    path.write_text(text, encoding=encoding)
    old = time.time() - age_s
    os.utime(path, (old, old))
    return path


@pytest.fixture
def folders(tmp_path):
    inbox, work = tmp_path / "inbox", tmp_path / "work"
    inbox.mkdir()
    return inbox, work


def history(conn):
    return fetch(conn, "select * from sync_history order by sync_id")


def test_new_file_is_imported_then_the_same_file_is_unchanged(conn, folders):
    inbox, work = folders
    cfg = _config(conn, inbox)
    _drop(inbox, "budget_2026.csv", GOOD)
    outcome = sync_customer(conn, cfg, work_dir=work)
    assert outcome.status == "success", outcome.message
    assert outcome.counts["created"] == 5
    rows = {
        (r["department"], r["sub_category"], r["fiscal_period"]): r["budgeted_amount"]
        for r in fetch(conn, "select * from budget")
    }
    assert rows[("Marketing", "Events", "FY2026-M01")] == D("1000.00")
    assert rows[("IT", "Cloud", "FY2026-M02")] == D("250.50")
    h = history(conn)[-1]
    assert (h["status"], h["created_count"], h["total_rows"], h["file_name"]) == (
        "success",
        5,
        5,
        "budget_2026.csv",
    )
    assert len(h["file_sha256"]) == 64 and h["duration_ms"] >= 0
    (cfg,) = configs.load(conn, config_id=cfg.config_id)
    assert cfg.column_mapping["department"] == "Cost Centre"  # saved for the next files
    assert cfg.last_sync_status == "success" and cfg.next_sync_at is not None

    again = sync_customer(conn, cfg, work_dir=work)
    assert again.status == "unchanged"
    assert (inbox / "budget_2026.csv").exists()  # the customer's file is never deleted
    assert fetch(conn, "select count(*) as n from audit_log")[0]["n"] == 5

    forced = sync_customer(conn, cfg, work_dir=work, force=True)
    assert forced.status == "success" and forced.counts["unchanged"] == 5


def test_a_payroll_file_is_refused_and_nothing_is_kept(conn, folders):
    inbox, work = folders
    cfg = _config(conn, inbox)
    payroll = (
        "Employee ID,Employee Name,Department,Job Title,Base Salary,Overtime,Gross Pay\n"
        + "".join(
            f"E{i},Person {i},Sales,Rep,{50000 + i},{i * 10},{52000 + i}\n" for i in range(30)
        )
    )
    _drop(inbox, "export.csv", payroll)
    outcome = sync_customer(conn, cfg, work_dir=work)
    assert outcome.status == "failed"
    assert "looks like a payroll file" in outcome.message
    assert "Person" not in outcome.message  # no personal values in messages
    assert fetch(conn, "select count(*) as n from budget")[0]["n"] == 0
    assert not list(work.rglob("export.csv"))  # no copy of personal data kept


def test_rejected_rows_fail_the_file_in_full_and_change_nothing(conn, folders):
    inbox, work = folders
    cfg = _config(conn, inbox)
    _drop(inbox, "b1.csv", GOOD, age_s=300)
    assert sync_customer(conn, cfg, work_dir=work).status == "success"
    before = fetch(conn, "select * from budget order by budget_id")
    bad = (
        GOOD
        + "HR,Training,Q5 2026,100,AUD\nHR,Hiring,Mar 2026,lots,AUD\nOps,Rent,Mar 2026,90,XYZ\n"
    )
    _drop(inbox, "b2.csv", bad, age_s=100)
    outcome = sync_customer(conn, cfg, work_dir=work)
    assert outcome.status == "failed"
    assert fetch(conn, "select * from budget order by budget_id") == before
    h = history(conn)[-1]
    assert h["error_count"] == 3
    assert sorted(e["row"] for e in h["errors"]) == [7, 8, 9]
    assert {e["value"] for e in h["errors"]} >= {"Q5 2026", "lots", "XYZ"}
    # kept in shared storage under a key any machine resolves: header + every rejected row
    assert h["reject_file"] == f"rejects/{cfg.customer_id}/sync_{h['sync_id']}_rejects.csv"
    assert storage.read_bytes(h["reject_file"]).decode("utf-8-sig").count("\n") == 4


def test_error_tolerance_imports_the_valid_rows_as_partial(conn, folders):
    inbox, work = folders
    cfg = _config(conn, inbox, error_tolerance_pct=30)
    _drop(inbox, "b.csv", GOOD + "HR,Training,Q5 2026,100,AUD\n")
    outcome = sync_customer(conn, cfg, work_dir=work)
    assert outcome.status == "partial" and outcome.counts["created"] == 5
    assert history(conn)[-1]["error_count"] == 1


def test_unclear_mapping_stops_as_needs_review_and_a_confirmed_mapping_imports(conn, folders):
    # no header says what it holds, nor do the department column's values name departments
    inbox, work = folders
    cfg = _config(conn, inbox)
    _drop(
        inbox,
        "odd.csv",
        "Thing,Other,When,Value\nAlpha,Events,Jan 2026,100\nBravo,Cloud,Jan 2026,200\n",
    )
    outcome = sync_customer(conn, cfg, work_dir=work)
    assert outcome.status == "needs_review"
    assert outcome.review["kind"] == "mapping" and "Thing" in outcome.review["headers"]
    assert fetch(conn, "select count(*) as n from budget")[0]["n"] == 0
    confirmed = {
        "department": "Thing",
        "sub_category": "Other",
        "fiscal_period": "When",
        "budgeted_amount": "Value",
        "currency": None,
    }
    done = sync_customer(
        conn, cfg, work_dir=work, force=True, confirmed_mapping=confirmed, confirmed_by="user:ana"
    )
    assert done.status == "success" and done.counts["created"] == 2
    versions = fetch(conn, "select version, confirmed_by from budget_column_mapping_history")
    assert versions == [{"version": 1, "confirmed_by": "user:ana"}]
    # The next file with the same headers reuses the confirmed mapping without asking.
    _drop(
        inbox,
        "odd2.csv",
        "Thing,Other,When,Value\nAlpha,Events,Jan 2026,150\nBravo,Cloud,Jan 2026,200\n",
        age_s=60,
    )
    # as a mapping saved before the fiscal_year field existed: no such key
    conn.execute(
        "update budget_data_source_config set column_mapping = column_mapping - 'fiscal_year' "
        "where config_id = %s",
        (cfg.config_id,),
    )
    (cfg,) = configs.load(conn, config_id=cfg.config_id)
    assert "fiscal_year" not in cfg.column_mapping
    nxt = sync_customer(conn, cfg, work_dir=work)
    assert nxt.status == "success" and nxt.counts["updated"] == 1
    # ... is the same mapping: no new version
    assert fetch(conn, "select count(*) as n from budget_column_mapping_history")[0]["n"] == 1


def test_mass_deletion_needs_review(conn, folders):
    inbox, work = folders
    cfg = _config(conn, inbox)
    _drop(inbox, "full.csv", GOOD, age_s=300)
    sync_customer(conn, cfg, work_dir=work)
    (cfg,) = configs.load(conn, config_id=cfg.config_id)  # each run reads its config afresh
    _drop(
        inbox,
        "tiny.csv",
        "Cost Centre,Account,Period,Budget Amount,Currency\nMarketing,Events,Jan 2026,1000,AUD\n",
        age_s=100,
    )
    outcome = sync_customer(conn, cfg, work_dir=work)
    assert outcome.status == "needs_review" and outcome.review["kind"] == "mass_deletion"
    assert fetch(conn, "select count(*) as n from budget where deleted_at is not null")[0]["n"] == 0
    approved = sync_customer(conn, cfg, work_dir=work, force=True, approve_mass_deletion=True)
    assert approved.status == "success" and approved.counts["soft_deleted"] == 4


FINER = """Cost Centre,Entity,GL Account,Account,Period,Budget Amount,Currency,Scenario
Marketing,AU Pty,6100,Events,Jan 2026,600.00,AUD,Budget
Marketing,NZ Ltd,6100,Events,Jan 2026,400.00,AUD,Budget
Marketing,NZ Ltd,6100,Events,Jan 2026,999.00,AUD,Forecast
IT,AU Pty,6200,Cloud,Jan 2026,250.50,AUD,Budget
IT,AU Pty,6210,Cloud,Jan 2026,49.50,AUD,Budget
IT,AU Pty,6210,Cloud,Jan 2026,49.50,AUD,Actual
"""


def test_a_finer_file_is_summed_to_budgets_and_the_grain_recorded(conn, folders):
    inbox, work = folders
    cfg = _config(conn, inbox)
    _drop(inbox, "budget_entities.csv", FINER)
    outcome = sync_customer(conn, cfg, work_dir=work)
    assert outcome.status == "success", outcome.message
    assert outcome.counts["created"] == 2
    budgets = {
        (r["department"], r["sub_category"], r["fiscal_period"]): r["budgeted_amount"]
        for r in fetch(conn, "select * from budget")
    }
    assert budgets == {
        ("Marketing", "Events", "FY2026-M01"): D("1000.00"),
        ("IT", "Cloud", "FY2026-M01"): D("300.00"),
    }
    (row,) = history(conn)
    grain = row["grain"]
    assert (grain["rows_in"], grain["budgets_out"], grain["summed_budgets"]) == (4, 2, 2)
    assert grain["summed_columns"] == ["Entity", "GL Account"]
    assert grain["scenario"] == {
        "column": "Scenario",
        "kept": "Budget",
        "values": ["Actual", "Budget", "Forecast"],
        "dropped_rows": 2,
    }
    assert "4 row(s) -> 2 budget(s) (summed over Entity, GL Account)" in row["message"]


def test_conflicting_rows_reject_the_file_and_keep_the_previous_budgets(conn, folders):
    inbox, work = folders
    cfg = _config(conn, inbox)
    _drop(inbox, "budget_2026.csv", GOOD)
    assert sync_customer(conn, cfg, work_dir=work).status == "success"
    before = fetch(conn, "select * from budget order by budget_id")
    conflicting = GOOD + "IT,Cloud,Jan 2026,999.00,AUD\n"
    _drop(inbox, "budget_2026_v2.csv", conflicting, age_s=60)
    outcome = sync_customer(conn, cfg, work_dir=work)
    assert outcome.status == "failed"
    assert fetch(conn, "select * from budget order by budget_id") == before
    errors = history(conn)[-1]["errors"]
    assert [(e["row"], e["column"]) for e in errors] == [(4, "Budget Amount"), (7, "Budget Amount")]
    assert "conflicting budget rows (also row 7)" in errors[0]["message"]
    # the customer's config may say such rows are separate lines to sum
    conn.execute(
        "update budget_data_source_config set source_config = source_config || "
        '\'{"duplicates": "sum"}\' where config_id = %s',
        (cfg.config_id,),
    )
    (cfg,) = configs.load(conn, config_id=cfg.config_id)
    outcome = sync_customer(conn, cfg, work_dir=work, force=True)
    assert outcome.status == "success", outcome.message
    (cloud,) = fetch(
        conn,
        "select budgeted_amount from budget where department = 'IT' "
        "and fiscal_period = 'FY2026-M01'",
    )
    assert cloud["budgeted_amount"] == D("1249.50")


def test_an_undecided_scenario_waits_for_a_person_then_imports_the_chosen_one(conn, folders):
    inbox, work = folders
    cfg = _config(conn, inbox)
    _drop(
        inbox,
        "budget_versions.csv",
        "Cost Centre,Account,Period,Budget Amount,Version\n"
        "IT,Cloud,Jan 2026,100,Working\nIT,Cloud,Jan 2026,120,Final\n",
    )
    outcome = sync_customer(conn, cfg, work_dir=work)
    assert outcome.status == "needs_review"
    assert outcome.review == {
        "kind": "scenario",
        "column": "Version",
        "values": ["Final", "Working"],
    }
    assert fetch(conn, "select * from budget") == []
    outcome = sync_customer(conn, cfg, work_dir=work, force=True, scenario="Final")
    assert outcome.status == "success", outcome.message
    (budget,) = fetch(conn, "select budgeted_amount from budget")
    assert budget["budgeted_amount"] == D("120.00")


ODD_HEADERS = "Thing,Other,When,Value\n"


def test_a_persons_mapping_teaches_the_mapper_for_other_customers(conn, folders, tmp_path):
    inbox, work = folders
    acme = _config(conn, inbox)
    _drop(inbox, "odd.csv", ODD_HEADERS + "Alpha,Events,Jan 2026,100\nBravo,Cloud,Jan 2026,200\n")
    assert sync_customer(conn, acme, work_dir=work).status == "needs_review"
    confirmed = {
        "department": "Thing",
        "sub_category": "Other",
        "fiscal_period": "When",
        "budgeted_amount": "Value",
    }
    done = sync_customer(
        conn, acme, work_dir=work, force=True, confirmed_mapping=confirmed, confirmed_by="user:ana"
    )
    assert done.status == "success", done.message
    learned = {(r["header_key"], r["field"]): r for r in configs.learned_rows(conn)}
    assert set(learned) == {
        ("thing", "department"),
        ("other", "sub_category"),
        ("when", "fiscal_period"),
        ("value", "budgeted_amount"),
    }
    thing = learned[("thing", "department")]
    assert (thing["confirmations"], thing["customer_ids"], thing["last_confirmed_by"]) == (
        1,
        ["acme"],
        "user:ana",
    )

    def customer(name: str, **kw):
        folder = tmp_path / name
        folder.mkdir()
        _drop(folder, "odd.csv", ODD_HEADERS + "Gamma,Rent,Feb 2026,10\nDelta,Power,Feb 2026,20\n")
        return _config(conn, folder, customer=name, **kw)

    # a second customer on the same tool: not asked, the people's answer is the evidence
    beta = customer("beta")
    outcome = sync_customer(conn, beta, work_dir=work)
    assert outcome.status == "success", outcome.message
    rows = fetch(conn, "select department, sub_category from budget where customer_id = 'beta'")
    assert sorted((r["department"], r["sub_category"]) for r in rows) == [
        ("Delta", "Power"),
        ("Gamma", "Rent"),
    ]
    (history_row,) = fetch(
        conn,
        "select confirmed_by from budget_column_mapping_history h join "
        "budget_data_source_config c using (config_id) where c.customer_id = 'beta'",
    )
    assert history_row["confirmed_by"].startswith("system:auto")  # not a person: not learned
    assert configs.learned_rows(conn)[0]["confirmations"] == 1

    # a customer that opted out neither uses nor feeds what others taught
    gamma = customer("gamma")
    conn.execute(
        "update budget_data_source_config set share_mappings = false where config_id = %s",
        (gamma.config_id,),
    )
    (gamma,) = configs.load(conn, config_id=gamma.config_id)
    assert sync_customer(conn, gamma, work_dir=work).status == "needs_review"
    sync_customer(
        conn, gamma, work_dir=work, force=True, confirmed_mapping=confirmed, confirmed_by="user:bo"
    )
    assert {r["confirmations"] for r in configs.learned_rows(conn)} == {1}

    # the CLI lists what was learned, and forgets a header: the next customer is asked again
    cli = str(Path(sys.executable).with_name("finsync"))
    listed = subprocess.run(
        [cli, "mappings", "learned"], capture_output=True, text=True, check=True
    ).stdout
    assert re.search(r"^Thing\s+department\s+1\s+1\s+.* by user:ana$", listed, re.M), listed
    forgot = subprocess.run(
        [cli, "mappings", "learned", "--forget", "THING"], capture_output=True, text=True
    )
    assert forgot.stdout.strip() == "forgot 1 learned pair(s) for header 'THING'"
    delta = customer("delta")
    outcome = sync_customer(conn, delta, work_dir=work)
    assert outcome.status == "needs_review"
    assert "department" in outcome.message


def test_a_scenario_review_asks_which_scenario_and_the_answer_is_kept(conn, folders):
    """The review_sync form for an undecided scenario, then apply_reviews with the answer:
    the file imports the chosen scenario and the config keeps it for the next files."""
    from types import SimpleNamespace

    from finsync.budget import airflow_steps

    inbox, work = folders
    cfg = _config(conn, inbox)
    _drop(
        inbox,
        "budget_versions.csv",
        "Cost Centre,Account,Period,Budget Amount,Version\n"
        "IT,Cloud,Jan 2026,100,Working\nIT,Cloud,Jan 2026,120,Final\n",
    )
    outcome = sync_customer(conn, cfg, work_dir=work, run_id="run-1")
    assert outcome.status == "needs_review"
    (row,) = fetch(conn, "select * from sync_history where status = 'needs_review'")
    form = airflow_steps.review_request(row)
    assert form["subject"] == "Which scenario of acme's file is the budget?"
    assert form["params"]["scenario"].schema["enum"] == [None, "Final", "Working"]
    review = {"config_id": cfg.config_id, "customer_id": "acme", "kind": "scenario"}
    answer = {
        "chosen_options": ["Import"],
        "params_input": {"scenario": "Final"},
        "responded_by_user": {"name": "ana"},
    }
    context = {"params": {}, "dag_run": SimpleNamespace(run_id="run-1", run_type="manual")}
    (result,) = airflow_steps.apply_reviews([review], [answer], context)
    assert result == {"customer_id": "acme", "status": "success"}
    (budget,) = fetch(conn, "select budgeted_amount from budget")
    assert budget["budgeted_amount"] == D("120.00")
    (cfg,) = configs.load(conn, config_id=cfg.config_id)
    assert cfg.source_config["scenario"] == "Final"
