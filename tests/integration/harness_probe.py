"""Run only by tests/integration/test_users_checkout.py, as a pytest session of its own started
the way `make test` starts one (FINSYNC_HOME exported, the user's `finsync env` in the shell):
writes to Airflow's metadata every way the suite does (a whole DAG run in this process, a
human-review request through Airflow's models, a connection and a variable through the
`airflow` CLI in a subprocess), then proves each landed in the session's own metadata database.
Not collected by a normal session (its name does not start with test_)."""

from __future__ import annotations

import os
import uuid

import pytest

from tests.conftest import SESSION_HOME
from tests.integration.conftest import run_airflow
from tests.integration.dagrun import run_dag, task_states

pytestmark = pytest.mark.integration
MARK = f"probe_{uuid.uuid4().hex[:8]}"


def test_the_session_writes_only_into_its_own_airflow(warehouse, airflow_db):
    from airflow.configuration import conf
    from airflow.models.connection import Connection
    from airflow.models.dagrun import DagRun
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session

    assert os.environ["FINSYNC_HOME"] == str(SESSION_HOME)
    assert os.environ["AIRFLOW_HOME"].startswith(str(SESSION_HOME))
    assert str(SESSION_HOME) in conf.get("database", "sql_alchemy_conn").replace("%2F", "/")

    run = run_dag("budget_sync", {})  # nobody configured: a green run with no customer
    assert task_states(run)["check_outcomes"] == "success"
    with create_session() as session:
        ti = session.query(TaskInstance).filter_by(dag_id="budget_sync", run_id=run.run_id).first()
        session.add(HITLDetail(ti_id=ti.id, options=["Import", "Reject"], subject=MARK))
    run_airflow(os.environ.copy(), "variables", "set", MARK, "1")
    run_airflow(
        os.environ.copy(), "connections", "add", MARK, "--conn-uri", "postgresql://u@h:5432/d"
    )

    with create_session() as session:
        assert session.query(DagRun).filter_by(run_id=run.run_id).count() == 1
        assert session.query(HITLDetail).filter_by(subject=MARK).count() == 1
        assert session.query(Connection).filter_by(conn_id=MARK).count() == 1
        assert session.query(Variable).filter_by(key=MARK).count() == 1
    print(f"probe wrote {MARK} into {SESSION_HOME}")
