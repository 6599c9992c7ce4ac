"""The budget_sync run's state: failed when a customer failed (a rejected review included) or a
task failed with no customer outcome to explain it; green otherwise. Whole runs:
tests/integration/test_budget_dag.py and test_budget_review.py."""

from finsync.budget.airflow_steps import run_problems

GREEN_STATES = {
    "select_customers": "success",
    "sync_customer_0": "success",
    "sync_customer_1": "success",
    "collect_reviews": "success",
    "review_sync": "skipped",
    "apply_reviews": "skipped",
    "report_summary": "success",
}


def _summary(**statuses: str) -> dict:
    return {
        "customers": {c: {"status": s, "message": f"{c} {s}"} for c, s in statuses.items()},
        "failed": {c: f"{c} {s}" for c, s in statuses.items() if s in ("failed", "running")},
    }


def test_success_partial_unchanged_and_waiting_for_review_stay_green():
    summary = _summary(a="success", b="partial", c="unchanged", d="needs_review")
    assert run_problems(summary, GREEN_STATES) == []
    assert run_problems(_summary(), GREEN_STATES) == []  # nobody due


def test_each_failed_customer_is_named_with_its_reason():
    states = {**GREEN_STATES, "sync_customer_1": "failed"}
    summary = _summary(acme="success", beta="failed", gamma="failed")
    assert run_problems(summary, states) == ["beta: beta failed", "gamma: gamma failed"]


def test_a_rejected_review_fails_the_run():
    summary = {
        "customers": {"beta": {"status": "failed"}},
        "failed": {"beta": "odd.csv was rejected in review by admin: nothing was imported"},
    }
    assert run_problems(summary, GREEN_STATES) == [
        "beta: odd.csv was rejected in review by admin: nothing was imported"
    ]


def test_a_sync_that_never_finished_fails_the_run():
    assert run_problems(_summary(acme="running"), GREEN_STATES) == ["acme: acme running"]


def test_task_failures_without_a_customer_outcome_fail_the_run():
    states = {**GREEN_STATES, "select_customers": "failed", "sync_customer_0": "upstream_failed"}
    assert run_problems(_summary(), states) == ["task select_customers failed"]
    states = {**GREEN_STATES, "review_sync_0": "failed", "apply_reviews": "upstream_failed"}
    assert run_problems(_summary(acme="needs_review"), states) == [
        "task apply_reviews upstream_failed",
        "task review_sync_0 failed",
    ]
    states = {**GREEN_STATES, "sync_customer_0": "failed"}
    assert run_problems(_summary(acme="success"), states) == [
        "1 sync_customer task(s) failed with no outcome recorded"
    ]
