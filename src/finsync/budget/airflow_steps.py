"""The bridge between DAG budget_sync's tasks and finsync.budget (no logic of its own).

Outcomes travel through `sync_history` (keyed by the Airflow run id), not XCom, so a
customer whose sync failed is still reported, reviewed and notified.
"""

from __future__ import annotations

import gc
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from finsync.budget import config as configs
from finsync.budget.model import FIELDS
from finsync.budget.run_context import task_of, task_states, triggered_by
from finsync.budget.sync import sync_customer as run_sync
from finsync.warehouse import connect

log = logging.getLogger(__name__)
MAPPING_FIELDS = FIELDS  # the review form asks for every field (model.py)
# A customer's last attempt in a run that ends the run failed: a failed sync (a rejected review
# included) or one that never finished (its worker died). success, partial, unchanged and
# needs_review (a person has yet to answer) do not.
FAILED = ("failed", "running")
# Tasks whose failure no customer outcome explains (sync_customer's failures are the
# customers' `failed` outcomes).
_RUN_TASKS = ("select_customers", "collect_reviews", "review_sync", "apply_reviews")


def work_root() -> Path:
    """Where downloaded copies and reject files live (FINSYNC_WORK_DIR, else under FINSYNC_HOME)."""
    from finsync import embedded

    return Path(os.environ.get("FINSYNC_WORK_DIR", embedded.home() / "budget_work"))


def select_customers(context) -> list[dict]:
    from airflow.sdk.exceptions import AirflowFailException

    params = context["params"]
    with connect() as conn:
        if params.get("customer_id"):
            found = configs.load(conn, customer_id=params["customer_id"])
            if not found:
                raise AirflowFailException(
                    f"no budget source config for customer {params['customer_id']!r}: add one with "
                    "`finsync customers add`"
                )
            chosen = found
        else:
            chosen = configs.due(conn, datetime.now(UTC))
    log.info("customers to sync: %s", ", ".join(c.customer_id for c in chosen) or "none due")
    return [c.for_xcom() for c in chosen]


def sync_customer(customer: dict, context, **overrides) -> dict:
    """One customer's sync. A data failure fails this task instance at once (no retries: the
    file will not change by retrying) after recording it; outages raise and are retried."""
    from airflow.sdk.exceptions import AirflowFailException

    # What the process loaded before the task (Airflow, the DAG: some 750,000 objects) lives as
    # long as the task: frozen, the collector's full passes during the sync skip it (one took
    # 0.2 s of a million-row re-sync).
    gc.freeze()
    run_id = context["dag_run"].run_id
    try:
        with connect() as conn:
            (cfg,) = configs.load(conn, config_id=customer["config_id"])
            outcome = run_sync(
                conn,
                cfg,
                work_dir=work_root() / cfg.customer_id,
                force=bool(context["params"].get("force")) or overrides.pop("force", False),
                triggered_by=overrides.pop("triggered_by", triggered_by(context)),
                run_id=run_id,
                **overrides,
            )
    finally:  # the attempt is final (also when it raised): tell the customer's endpoints
        _announce(run_id, customer["config_id"])
    if outcome.status == "failed":
        raise AirflowFailException(f"{cfg.customer_id}: {outcome.message}")
    return outcome.as_dict()


def _announce(run_id: str, config_id: int) -> None:
    """Webhook events for the config's finished attempts in this run, first try now (a few
    seconds at most; never raises: the budget_webhooks DAG retries)."""
    from finsync.budget import webhooks

    webhooks.after_attempt(run_id, config_id)


def _history(run_id: str, status: str | None = None) -> list[dict]:
    from psycopg.rows import dict_row

    with connect() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "select sync_id, customer_id, config_id, status, message, file_name, review, "
            "created_count, updated_count, unchanged_count, soft_deleted_count, restored_count, "
            "error_count, reject_file, duration_ms from sync_history "
            "where airflow_run_id = %s and (%s::text is null or status = %s) order by sync_id",
            (run_id, status, status),
        )
        return cur.fetchall()


def review_request(row: dict) -> dict:
    """What the person sees and answers in the UI for one needs_review sync."""
    from airflow.sdk import Param

    review = row["review"] or {}
    if review.get("kind") == "mass_deletion":
        body = (
            f"**{row['customer_id']}**, file `{row['file_name']}`: {row['message']}\n\n"
            "**Import** soft-deletes them (restorable; committed and reserved money is kept); "
            "**Reject** leaves the budgets as they are."
        )
        return {
            "subject": f"Approve deletions for {row['customer_id']}?",
            "body": body,
            "params": {},
        }
    if review.get("kind") == "scenario":
        body = (
            f"**{row['customer_id']}**, file `{row['file_name']}`: {row['message']}\n\n"
            "Choose the scenario or version to import, then **Import** (it is saved in the "
            "config for the next files) or **Reject**. Other scenarios are left out, never summed."
        )
        return {
            "subject": f"Which scenario of {row['customer_id']}'s file is the budget?",
            "body": body,
            "params": {
                "scenario": Param(
                    None,
                    type=["null", "string"],
                    enum=[None, *review.get("values", [])],
                    description=f"the value of column {review.get('column')!r} to import",
                )
            },
        }
    proposal = review.get("proposal", {})
    headers = review.get("headers", [])
    lines = [
        f"| {f} | {m.get('column') or '—'} | {m.get('confidence', 0):.2f} | "
        f"{m.get('explanation', '')} |"
        for f, m in proposal.items()
    ]
    body = (
        f"**{row['customer_id']}**, file `{row['file_name']}`: {row['message']}\n\n"
        "| field | proposed column | confidence | why |\n|---|---|---|---|\n"
        + "\n".join(lines)
        + "\n\nCorrect the columns below if needed, then **Import** (the mapping is saved for the "
        "next files with the same headers) or **Reject**."
    )
    params = {
        name: Param(
            (proposal.get(name) or {}).get("column"),
            type=["null", "string"],
            enum=[None, *headers],
            description=f"the file's column holding {name.replace('_', ' ')}",
        )
        for name in MAPPING_FIELDS
    }
    return {
        "subject": f"Confirm the column mapping for {row['customer_id']}",
        "body": body,
        "params": params,
    }


def collect_reviews(context) -> list[dict]:
    rows = _history(context["dag_run"].run_id, "needs_review")
    return [
        {
            "sync_id": r["sync_id"],
            "config_id": r["config_id"],
            "customer_id": r["customer_id"],
            "kind": (r["review"] or {}).get("kind"),
            "hitl": review_request(r),
        }
        for r in rows
    ]


def _record_rejection(review: dict, who: str) -> None:
    """A rejected review ends its needs_review sync as failed (nothing imported, nobody is asked
    again for that file), saying who rejected it."""
    with connect() as conn, conn.transaction():
        conn.execute(
            "update sync_history set status = 'failed', message = coalesce(file_name, 'the file') "
            "|| ' was rejected in review by ' || %s || ': nothing was imported and the previous "
            "budgets stay in force' where sync_id = %s and status = 'needs_review'",
            (who, review["sync_id"]),
        )
        configs.record_rejected_review(conn, review["config_id"])


def _save_scenario(config_id: int, scenario: str, who: str) -> None:
    """The scenario a person chose becomes the config's, so the next files need nobody."""
    with connect() as conn:
        (current,) = configs.load(conn, config_id=config_id)
        settings = {**current.source_config, "scenario": scenario}
        configs.update(conn, config_id, {"source_config": settings}, changed_by=f"user:{who}")


def apply_reviews(reviews: list[dict], responses: list[dict], context) -> list[dict]:
    """Import the reviewed files the way the person decided; save confirmed mappings."""
    results = []
    for review, response in zip(reviews, responses, strict=False):
        chosen = (response or {}).get("chosen_options") or []
        who = ((response or {}).get("responded_by_user") or {}).get("name") or "a reviewer"
        if "Import" not in chosen:
            log.info("%s: review rejected by %s; budgets unchanged", review["customer_id"], who)
            _record_rejection(review, who)
            _announce(context["dag_run"].run_id, review["config_id"])
            results.append({"customer_id": review["customer_id"], "status": "rejected"})
            continue
        overrides: dict = {"force": True, "triggered_by": "manual"}
        if review["kind"] == "mass_deletion":
            overrides["approve_mass_deletion"] = True
        elif review["kind"] == "scenario":
            chosen_scenario = ((response or {}).get("params_input") or {}).get("scenario")
            if chosen_scenario:
                _save_scenario(review["config_id"], chosen_scenario, who)
            overrides["scenario"] = chosen_scenario
        else:
            answer = (response or {}).get("params_input") or {}
            overrides["confirmed_mapping"] = {f: answer.get(f) or None for f in MAPPING_FIELDS}
            overrides["confirmed_by"] = f"user:{who}"
        outcome = sync_customer({"config_id": review["config_id"]}, context, **overrides)
        results.append({"customer_id": review["customer_id"], "status": outcome["status"]})
    return results


def report_summary(context) -> dict:
    """Every customer's outcome in this run, logged as a table; failures notified."""
    from finsync.budget.notify import notify_failures

    rows = _history(context["dag_run"].run_id)
    lines = [
        f"{'customer':<20}{'status':<14}{'created':>8}{'updated':>8}{'unchanged':>10}"
        f"{'deleted':>8}{'errors':>7}  message"
    ]
    for r in rows:
        lines.append(
            f"{r['customer_id']:<20}{r['status']:<14}{r['created_count']:>8}"
            f"{r['updated_count']:>8}{r['unchanged_count']:>10}{r['soft_deleted_count']:>8}"
            f"{r['error_count']:>7}  {r['message']}"
        )
    log.info("budget_sync summary\n%s", "\n".join(lines))
    latest = {}
    for r in rows:  # a reviewed customer's last attempt is its outcome
        latest[r["customer_id"]] = r
    failed = [r for r in latest.values() if r["status"] in ("failed", "needs_review")]
    notified = notify_failures(failed, context) if failed else []
    return {
        "failed": {
            c: r["message"] or "the sync did not finish"
            for c, r in latest.items()
            if r["status"] in FAILED
        },
        "customers": {
            c: {
                k: r[k]
                for k in (
                    "status",
                    "message",
                    "created_count",
                    "updated_count",
                    "unchanged_count",
                    "soft_deleted_count",
                    "error_count",
                )
            }
            for c, r in latest.items()
        },
        "notified": notified,
    }


def check_outcomes(summary: dict, context) -> str:
    """The run's last task: fails it (so the run ends failed) when a customer failed, naming
    each with the reason, or when a task failed with no customer outcome to explain it. The
    other customers' imports are committed either way."""
    from airflow.sdk.exceptions import AirflowFailException

    problems = run_problems(summary, task_states(context))
    if problems:
        raise AirflowFailException(
            f"budget_sync: {len(problems)} problem(s); the other customers' imports are "
            "committed:\n" + "\n".join(f"- {p}" for p in problems)
        )
    return f"{len(summary.get('customers', {}))} customer(s), none failed"


def run_problems(summary: dict, states: dict[str, str]) -> list[str]:
    """Why a run must end failed (empty: it stays green), from report_summary's return value and
    the run's task states ({task_id or task_id_mapindex: state})."""
    problems = [f"{c}: {message}" for c, message in summary.get("failed", {}).items()]
    problems += [
        f"task {k} {v}"
        for k, v in sorted(states.items())
        if v in ("failed", "upstream_failed") and any(task_of(k, t) for t in _RUN_TASKS)
    ]
    syncs_failed = [k for k, v in states.items() if task_of(k, "sync_customer") and v == "failed"]
    if syncs_failed and not summary.get("failed"):
        problems.append(
            f"{len(syncs_failed)} sync_customer task(s) failed with no outcome recorded"
        )
    return problems
