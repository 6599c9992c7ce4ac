"""What a task's Airflow context says about its DAG run: who started it and how its tasks
stand. Shared by the DAGs' bridges (airflow_steps.py for budget_sync, writeback.py for
budget_writeback), which import it; it imports nothing of theirs."""

from __future__ import annotations

from typing import Any

from finsync.budget.model import API_RUN_PREFIX


def triggered_by(context: Any) -> str:
    """api (a run the budget service started), schedule or manual."""
    run = context["dag_run"]
    if str(run.run_id).startswith(API_RUN_PREFIX):
        return "api"
    return "schedule" if "scheduled" in str(getattr(run, "run_type", "")).lower() else "manual"


def task_states(context: Any) -> dict[str, str]:
    """This run's task states as Airflow reports them to a task ({task_id[_map_index]: state})."""
    ti, run = context["ti"], context["dag_run"]
    found = ti.get_task_states(dag_id=run.dag_id, run_ids=[run.run_id])
    return {k: str(getattr(v, "value", v)) for k, v in found.get(run.run_id, {}).items()}


def task_of(key: str, task_id: str) -> bool:
    """Is `key` (a task_states key) task `task_id` or one of its mapped instances?"""
    return key == task_id or (key.startswith(task_id + "_") and key[len(task_id) + 1 :].isdigit())
