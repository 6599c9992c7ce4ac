"""A column mapping below the confidence bar stops the customer's sync as `needs_review` and asks
a person through the human-in-the-loop task `review_sync` of DAG budget_sync; the test answers
through Airflow's public REST API exactly as the UI's *Required actions* form does. Stock Airflow
(API server, scheduler, LocalExecutor) on real PostgreSQL; nothing is mocked."""

import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from finsync.budget import config as configs
from finsync.budget.airflow_steps import MAPPING_FIELDS
from tests.conftest import fetch
from tests.processes import poll

pytestmark = pytest.mark.integration
DAG_ID = "budget_sync"
# No header says what it holds, nor do the values of the department column (no department's
# name): the mapper finds no department, a required field, and asks a person.
ODD = "Thing,Other,When,Value\nAlpha,Events,Jan 2026,100\nBravo,Cloud,Feb 2026,200\n"
# What the person picks in the form (the file has no currency column: the config's default).
ANSWER = {
    "department": "Thing",
    "sub_category": "Other",
    "fiscal_period": "When",
    "budgeted_amount": "Value",
    "currency": None,
    "fiscal_year": None,  # the periods carry their year
}
DONE = ("success", "failed")


def _api(env, method: str, path: str, body=None):
    request = urllib.request.Request(
        env["api_url"] + "/api/v2" + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        exc.msg = f"{exc.msg}: {exc.read().decode(errors='replace')}"
        raise


def _drop(folder: Path, name: str, text: str, age_s: float) -> None:
    path = folder / name
    path.write_text(text)
    old = time.time() - age_s
    os.utime(path, (old, old))


def _customer(conn, tmp_path, customer_id: str) -> Path:
    """A customer synced only on demand, from a local folder; returns the folder."""
    inbox = tmp_path / customer_id
    inbox.mkdir()
    config_id = configs.add(
        conn,
        customer_id=customer_id,
        source_type="local",
        source_config={"path": str(inbox)},
        default_currency="AUD",
        frequency="manual",
    )
    conn.execute(
        "update budget_data_source_config set settle_seconds = 0 where config_id = %s",
        (config_id,),
    )
    return inbox


@pytest.fixture
def airflow(airflow_services, tmp_path):
    env = dict(airflow_services, FINSYNC_WORK_DIR=str(tmp_path / "work"))
    try:
        _api(env, "POST", "/pools", {"name": "budget_sync", "slots": 5})
    except urllib.error.HTTPError as exc:
        if exc.code != 409:  # already there from an earlier test of the session
            raise
    _api(env, "PATCH", f"/dags/{DAG_ID}", {"is_paused": False})
    return env


def _trigger(env, customer_id: str) -> str:
    run = _api(
        env,
        "POST",
        f"/dags/{DAG_ID}/dagRuns",
        {"logical_date": None, "conf": {"customer_id": customer_id}},
    )
    return run["dag_run_id"]


def _finished(env, run_id: str, timeout: float = 90) -> str:
    def state():
        run = _api(env, "GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")
        return run["state"] if run["state"] in DONE else None

    return poll(f"run {run_id} to finish", state, timeout)


def wait_until_asked(
    get,
    scheduler_log,
    dag_id: str,
    run_id: str,
    map_index: int = 0,
    timeout: float = 90,
    exit_timeout: float = 30,
) -> str:
    """Poll until review_sync[map_index] of the run waits for its answer (`get(path)`: the REST
    API), then until the scheduler has taken in that the worker which parked it exited
    (`scheduler_log()`: its text); the task instance's API path. An answer before that hits
    Airflow 3.3.2's race explained at review_sync in dags/budget_sync.py (that try fails, its
    retry asks again), which would make a test depend on timing. A person answers seconds to
    days later. Shared with the Celery tests."""
    ti_path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/review_sync/{map_index}"

    def parked():
        try:
            ti = get(ti_path)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:  # not expanded yet
                return None
            raise
        assert ti["state"] not in ("failed", "upstream_failed", "skipped", "success"), ti
        return ti if ti["state"] == "awaiting_input" else None

    ti = poll(f"review_sync[{map_index}] of {run_id} to ask", parked, timeout=timeout)
    exited = (
        "Received executor event with state success for task instance TaskInstanceKey("
        f"dag_id='{dag_id}', task_id='review_sync', run_id='{run_id}', "
        f"try_number={ti['try_number']}, map_index={map_index})"
    )
    poll(
        "the scheduler to see the parking worker exit",
        lambda: exited in scheduler_log() or None,
        timeout=exit_timeout,
    )
    return ti_path


def _question(env, run_id: str, map_index: int = 0) -> dict:
    """The review_sync request a person sees, once the task waits for the answer."""
    ti_path = wait_until_asked(
        lambda path: _api(env, "GET", path),
        lambda: Path(env["scheduler_log"]).read_text(),
        DAG_ID,
        run_id,
        map_index,
    )
    assert _api(env, "GET", ti_path)["state"] == "awaiting_input"
    return _api(env, "GET", ti_path + "/hitlDetails")


def _review_task(env, run_id: str, map_index: int = 0) -> tuple[str, int]:
    ti = _api(env, "GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/review_sync/{map_index}")
    return ti["state"], ti["try_number"]


def _answer(env, run_id: str, chosen: str, params_input: dict, map_index: int = 0) -> dict:
    """What the UI's Required actions form sends."""
    return _api(
        env,
        "PATCH",
        f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/review_sync/{map_index}/hitlDetails",
        {"chosen_options": [chosen], "params_input": params_input},
    )


def _history(conn, run_id: str) -> list[dict]:
    return fetch(
        conn,
        "select status, message, triggered_by, file_name from sync_history "
        "where airflow_run_id = %s order by sync_id",
        (run_id,),
    )


def test_a_person_confirms_the_mapping_and_the_file_is_imported_and_remembered(
    conn, airflow, tmp_path
):
    inbox = _customer(conn, tmp_path, "acme")
    _drop(inbox, "odd.csv", ODD, age_s=900)
    run_id = _trigger(airflow, "acme")

    question = _question(airflow, run_id)
    (stopped,) = _history(conn, run_id)
    assert stopped["status"] == "needs_review"
    assert "needs a person" in stopped["message"] and "nothing was imported" in stopped["message"]
    assert fetch(conn, "select count(*) as n from budget")[0]["n"] == 0
    assert question["subject"] == "Confirm the column mapping for acme"
    assert question["options"] == ["Import", "Reject"] and not question["response_received"]
    assert "odd.csv" in question["body"]
    assert set(question["params"]) == set(MAPPING_FIELDS)
    assert question["params"]["department"]["schema"]["enum"] == [
        None,
        "Thing",
        "Other",
        "When",
        "Value",
    ]

    answered = _answer(airflow, run_id, "Import", ANSWER)
    assert answered["chosen_options"] == ["Import"] and answered["params_input"] == ANSWER
    assert _finished(airflow, run_id) == "success"
    assert _review_task(airflow, run_id) == ("success", 1)  # the try that asked took the answer

    assert [(h["status"], h["triggered_by"]) for h in _history(conn, run_id)] == [
        ("needs_review", "manual"),
        ("success", "manual"),
    ]
    budgets = fetch(
        conn,
        "select department, sub_category, fiscal_period, budgeted_amount::float8 as amount, "
        "currency from budget where customer_id = 'acme' order by department",
    )
    assert [tuple(b.values()) for b in budgets] == [
        ("Alpha", "Events", "FY2026-M01", 100.0, "AUD"),
        ("Bravo", "Cloud", "FY2026-M02", 200.0, "AUD"),
    ]
    (cfg,) = configs.load(conn, customer_id="acme")
    assert cfg.column_mapping == ANSWER and cfg.column_mapping_version == 1
    (saved,) = fetch(
        conn,
        "select version, headers, column_mapping, confirmed_by from budget_column_mapping_history",
    )
    who = answered["responded_by"]["name"]
    assert saved == {
        "version": 1,
        "headers": ["Thing", "Other", "When", "Value"],
        "column_mapping": ANSWER,
        "confirmed_by": f"user:{who}",
    }

    # The customer's next file has the same headers: imported with the saved mapping, nobody asked.
    _drop(inbox, "odd2.csv", ODD.replace(",200", ",250"), age_s=600)
    again = _trigger(airflow, "acme")
    assert _finished(airflow, again) == "success"
    assert _api(airflow, "GET", f"/dags/{DAG_ID}/dagRuns/{again}/hitlDetails")["total_entries"] == 0
    assert [(h["status"], h["file_name"]) for h in _history(conn, again)] == [
        ("success", "odd2.csv")
    ]
    assert fetch(
        conn, "select budgeted_amount::float8 as a from budget where department = 'Bravo'"
    ) == [{"a": 250.0}]
    assert configs.load(conn, customer_id="acme")[0].column_mapping_version == 1


def test_a_rejected_file_imports_nothing_and_sync_history_says_so(conn, airflow, tmp_path):
    inbox = _customer(conn, tmp_path, "beta")
    _drop(inbox, "odd.csv", ODD, age_s=900)
    run_id = _trigger(airflow, "beta")

    question = _question(airflow, run_id)
    # The form's fields as proposed, untouched: the person just rejects the file.
    proposed = {name: field["value"] for name, field in question["params"].items()}
    answered = _answer(airflow, run_id, "Reject", proposed)
    # The review task took the answer; the run then ends failed, its last task saying why.
    assert _finished(airflow, run_id) == "failed"
    assert _review_task(airflow, run_id) == ("success", 1)
    tasks = f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances"
    assert _api(airflow, "GET", f"{tasks}/report_summary")["state"] == "success"
    assert _api(airflow, "GET", f"{tasks}/check_outcomes")["state"] == "failed"
    log = json.dumps(_api(airflow, "GET", f"{tasks}/check_outcomes/logs/1?full_content=true"))
    assert "beta: odd.csv was rejected in review by " in log  # who failed and why

    (rejected,) = _history(conn, run_id)
    assert rejected["status"] == "failed"
    assert rejected["message"] == (
        f"odd.csv was rejected in review by {answered['responded_by']['name']}: nothing was "
        "imported and the previous budgets stay in force"
    )
    assert fetch(conn, "select count(*) as n from budget")[0]["n"] == 0
    (cfg,) = configs.load(conn, customer_id="beta")
    assert cfg.column_mapping is None and cfg.column_mapping_version == 0
    assert cfg.last_sync_status == "failed"
