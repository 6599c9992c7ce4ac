"""Failure notifications through Airflow's SMTP and Slack-webhook notifiers, delivered to a
real SMTP server (aiosmtpd) and a real HTTP endpoint on loopback."""

import json
import socket
from email import message_from_string

import pytest
from aiosmtpd.controller import Controller

from finsync.budget import config as configs
from finsync.budget.notify import notify_failures

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((envelope.rcpt_tos, envelope.content.decode("utf-8", "replace")))
        return "250 OK"


@pytest.fixture
def smtp_server(monkeypatch):
    inbox = _Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP_FPA",
        json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": port,
                "login": "",
                "password": "",
                "extra": {
                    "disable_ssl": True,
                    "disable_tls": True,
                    "from_email": "finsync@example.test",
                    "timeout": 10,
                    "retry_limit": 1,
                },
            }
        ),
    )
    yield inbox
    controller.stop()


def test_a_failed_sync_is_notified_by_email_and_slack(conn, smtp_server, slack):
    config_id = configs.add(
        conn,
        customer_id="acme",
        source_type="local",
        source_config={"path": "/tmp/x"},
        notify={
            "smtp": {"conn_id": "smtp_fpa", "to": ["fpa@acme.example"]},
            "slack_webhook": {"conn_id": "slack_fpa"},
        },
    )
    row = {
        "sync_id": 41,
        "config_id": config_id,
        "customer_id": "acme",
        "status": "failed",
        "file_name": "payroll.csv",
        "message": "payroll.csv looks like a payroll file",
    }
    sent = notify_failures([row], {})
    assert sorted(s["via"] for s in sent) == ["SlackWebhookNotifier", "SmtpNotifier"]
    ((rcpt, raw),) = smtp_server.messages
    assert rcpt == ["fpa@acme.example"]
    email = message_from_string(raw)
    assert email["Subject"] == "finsync: budget sync for acme failed"
    body = next(p for p in email.walk() if p.get_content_type() == "text/html").get_payload(
        decode=True
    )
    assert b"previous budgets stay in force" in body and b"sync_id = 41" in body
    (post,) = slack
    assert "acme" in post["text"] and "previous budgets stay in force" in post["text"]


def test_a_broken_channel_does_not_hide_the_others(conn, slack, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP_FPA",
        json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": _free_port(),
                "extra": {
                    "disable_ssl": True,
                    "disable_tls": True,
                    "from_email": "f@example.test",
                    "timeout": 2,
                    "retry_limit": 1,
                },
            }
        ),
    )
    config_id = configs.add(
        conn,
        customer_id="acme",
        source_type="local",
        source_config={"path": "/tmp/x"},
        notify={
            "smtp": {"conn_id": "smtp_fpa", "to": ["fpa@acme.example"]},
            "slack_webhook": {"conn_id": "slack_fpa"},
        },
    )
    row = {
        "sync_id": 42,
        "config_id": config_id,
        "customer_id": "acme",
        "status": "needs_review",
        "file_name": "b.csv",
        "message": "the mapping needs a person",
    }
    sent = notify_failures([row], {})
    assert [s["via"] for s in sent] == ["SlackWebhookNotifier"]
    assert "needs a review" in slack[0]["text"]
