"""Failure notifications through Airflow's own notifiers, configured per customer.

`budget_data_source_config.notify` (connection ids only, never credentials):

    {"smtp": {"conn_id": "smtp_fpa", "to": ["fpa@customer.example"]},
     "slack_webhook": {"conn_id": "slack_fpa"}}

The message says which customer and file failed, why, and that the previous budgets stay in
force. A notifier that cannot deliver is logged and does not hide the others.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.sdk.bases.notifier import BaseNotifier

log = logging.getLogger(__name__)


def message(row: dict) -> tuple[str, str]:
    status = "needs a review" if row["status"] == "needs_review" else "failed"
    subject = f"finsync: budget sync for {row['customer_id']} {status}"
    text = (
        f"The budget sync for {row['customer_id']} {status}"
        + (f" (file {row['file_name']})" if row.get("file_name") else "")
        + f": {row['message']}\nNothing was imported from this file: the previous budgets stay "
        f"in force. Details: sync_history.sync_id = {row['sync_id']}."
    )
    return subject, text


def notifiers_for(settings: dict, row: dict) -> list:
    return channels(settings, *message(row))


def channels(settings: dict, subject: str, text: str) -> list[BaseNotifier]:
    """The customer's notifiers (`notify` of its config), each carrying this message."""
    found: list[BaseNotifier] = []
    if smtp := settings.get("smtp"):
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        found.append(
            SmtpNotifier(
                to=smtp["to"],
                from_email=smtp.get("from"),
                subject=subject,
                html_content=text.replace("\n", "<br>"),
                smtp_conn_id=smtp.get("conn_id", "smtp_default"),
            )
        )
    if slack := settings.get("slack_webhook"):
        from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

        found.append(
            SlackWebhookNotifier(
                slack_webhook_conn_id=slack.get("conn_id", "slack_default"),
                text=f"*{subject}*\n{text}",
            )
        )
    return found


def threshold_message(alert: dict) -> tuple[str, str]:
    """A budget crossed one of the customer's alert thresholds (budget.threshold_crossed)."""
    what = alert["department"] + (f" / {alert['sub_category']}" if alert["sub_category"] else "")
    subject = (
        f"finsync: {alert['customer_id']} budget {what} {alert['fiscal_period']} is at "
        f"{float(alert['utilization_pct']):g} % (threshold {float(alert['threshold_pct']):g} %)"
    )
    text = (
        f"Budget {what}, {alert['fiscal_period']}, of {alert['customer_id']} is "
        f"{float(alert['utilization_pct']):g} % used (committed {alert['committed']} + reserved "
        f"{alert['reserved']} of budgeted {alert['budgeted']} {alert['currency']}; available "
        f"{alert['available']}): it crossed the {float(alert['threshold_pct']):g} % threshold. "
        "You are told once per crossing; if utilisation falls back below the threshold and "
        f"rises past it again, that is a new alert. Details: budget_id = {alert['budget_id']}."
    )
    return subject, text


def notify_threshold(settings: dict, alert: dict, context) -> list[dict]:
    """Send one threshold alert through each of the customer's channels; what was sent."""
    return _send_all(channels(settings, *threshold_message(alert)), alert["customer_id"], context)


def _send_all(notifiers: list, customer_id: str, context) -> list[dict]:
    sent = []
    for notifier in notifiers:
        kind = type(notifier).__name__
        try:
            notifier.notify(context)
            sent.append({"customer_id": customer_id, "via": kind})
        except Exception as exc:  # noqa: BLE001 - one broken channel must not hide others
            log.error(
                "could not notify %s via %s: %s",
                customer_id,
                kind,
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
            )
    return sent


def notify_failures(rows: list[dict], context) -> list[dict]:
    """Send each failed customer's notifications; what was sent (for the run summary)."""
    from finsync.budget import config as configs
    from finsync.warehouse import connect

    sent = []
    with connect() as conn:
        for row in rows:
            (cfg,) = configs.load(conn, config_id=row["config_id"])
            sent += _send_all(notifiers_for(cfg.notify or {}, row), row["customer_id"], context)
    return sent
