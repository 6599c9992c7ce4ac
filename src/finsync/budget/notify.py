"""Failure notifications through Airflow's own notifiers, configured per customer.

`budget_data_source_config.notify` (connection ids only, never credentials):

    {"smtp": {"conn_id": "smtp_fpa", "to": ["fpa@customer.example"]},
     "slack_webhook": {"conn_id": "slack_fpa"}}

The message says which customer and file failed, why, and that the previous budgets stay in
force. A notifier that cannot deliver is logged and does not hide the others.
"""

from __future__ import annotations

import logging

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
    subject, text = message(row)
    found = []
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


def notify_failures(rows: list[dict], context) -> list[dict]:
    """Send each failed customer's notifications; what was sent (for the run summary)."""
    from finsync.budget import config as configs
    from finsync.warehouse import connect

    sent = []
    with connect() as conn:
        for row in rows:
            (cfg,) = configs.load(conn, config_id=row["config_id"])
            for notifier in notifiers_for(cfg.notify or {}, row):
                kind = type(notifier).__name__
                try:
                    notifier.notify(context)
                    sent.append({"customer_id": row["customer_id"], "via": kind})
                except Exception as exc:  # noqa: BLE001 - one broken channel must not hide others
                    log.error(
                        "could not notify %s via %s: %s",
                        row["customer_id"],
                        kind,
                        str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                    )
    return sent
