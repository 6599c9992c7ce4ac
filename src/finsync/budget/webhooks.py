"""Webhooks: signed events to the customer's own systems (docs/webhooks.md).

After each sync attempt (`sync.succeeded`, `sync.partial`, `sync.failed`,
`sync.needs_review`; an `unchanged` poll sends nothing) and when a booking takes a budget past
one of the customer's alert thresholds (`budget.threshold_crossed`), finsync POSTs a JSON event
to every endpoint of the customer's config:

    "webhooks": [{"url": "https://erp.example.com/hooks/finsync", "conn_id": "acme_webhook",
                  "events": ["sync.failed", "budget.threshold_crossed"]}]   # events: optional

signed per the Standard Webhooks scheme (headers `webhook-id`, `webhook-timestamp`,
`webhook-signature` = `v1,` + base64 HMAC-SHA256 over `{id}.{timestamp}.{body}`, keyed with the
base64 secret after `whsec_`). The secret is the password of the Airflow connection `conn_id`;
it never appears in a config, a log, an error or the database.

Delivery never blocks or fails an import: the event rows are written (`webhook_event`, one per
event and endpoint, its id deterministic so a second announcement creates nothing), the first
try goes out at once with a short timeout, every try is recorded (`webhook_delivery`), and
what failed is retried with exponential back-off by DAG `budget_webhooks` for up to a day.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg.rows import dict_row

from finsync.budget.model import available
from finsync.budget.settings import (  # the event names (settings.py checks the setting)
    EVENT_TYPES,
    SYNC_EVENTS,
    THRESHOLD_EVENT,
)

log = logging.getLogger(__name__)

# The first try runs inside the sync task, right after the attempt: it may hold the task up by
# at most this long (all endpoints are tried at once).
FIRST_TRY_TIMEOUT_S = 3.0
RETRY_TIMEOUT_S = 10.0
GIVE_UP_AFTER = timedelta(days=1)
# Back-off after the n-th failed try: 5 min, 10, 20, 40, 80, 160, then every 4 h, until the
# event is a day old (11 tries in all). The retry DAG runs every 5 minutes.
FIRST_RETRY = timedelta(minutes=5)
MAX_RETRY_DELAY = timedelta(hours=4)
# While one sender tries an event, nobody else does (the event is not due until then).
LEASE = timedelta(minutes=2)
SERVICE_URL_VARIABLE = "finsync_service_url"


def describe_url(url: str) -> str:
    """An endpoint as logs and errors show it: scheme, host, port and path (no query string,
    which some receivers use for tokens)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


# ---- signing ---------------------------------------------------------------------------------


class SecretError(RuntimeError):
    """The signing secret cannot be read (the message names the connection, never the value)."""


def secret_key(conn_id: str) -> bytes:
    """The HMAC key: the connection's password, `whsec_` + base64 (the Standard Webhooks form)."""
    from airflow.sdk import BaseHook

    try:
        connection = BaseHook.get_connection(conn_id)
    except Exception as exc:  # noqa: BLE001 - "not defined" has several exception types
        raise SecretError(
            f"no Airflow connection {conn_id!r} holding the signing secret ({type(exc).__name__})"
        ) from None
    raw = (connection.password or "").strip()
    if raw.startswith("whsec_"):
        raw = raw[len("whsec_") :]
    try:
        key = base64.b64decode(raw, validate=True)
    except ValueError:
        key = b""
    if len(key) < 16:
        raise SecretError(
            f"the password of Airflow connection {conn_id!r} is not a signing secret: expected "
            "whsec_ followed by at least 16 base64-encoded random bytes"
        )
    return key


def sign(key: bytes, event_id: str, timestamp: int, body: str) -> str:
    """The `webhook-signature` header value for one send."""
    digest = hmac.new(key, f"{event_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(key: bytes, event_id: str, body: str, now: float | None = None) -> dict:
    timestamp = int(now if now is not None else time.time())
    return {
        "content-type": "application/json",
        "user-agent": "finsync-webhooks/1",
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(key, event_id, timestamp, body),
    }


# ---- events ----------------------------------------------------------------------------------


def event_id(subject: str, event_type: str, url: str) -> str:
    """Deterministic: the same event for the same endpoint always has the same id (receivers
    de-duplicate on it; announcing twice inserts nothing)."""
    digest = hashlib.sha256(f"{subject}|{event_type}|{url}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


def history_url(customer_id: str) -> str | None:
    """The customer's sync history in the budget service: Airflow Variable
    `finsync_service_url` (the service's base URL, e.g. https://airflow.example.com/finsync),
    else Airflow's [api] base_url + /finsync; None when neither is set."""
    from urllib.parse import quote

    base = _variable(SERVICE_URL_VARIABLE)
    if not base:
        try:
            from airflow.configuration import conf

            airflow_base = conf.get("api", "base_url", fallback="") or ""
        except Exception:  # noqa: BLE001 - Airflow not configured: no link
            airflow_base = ""
        base = airflow_base.rstrip("/") + "/finsync" if airflow_base.startswith("http") else ""
    if not base:
        return None
    return f"{base.rstrip('/')}/sync/history?customer_id={quote(customer_id)}"


def _variable(name: str) -> str | None:
    try:
        from airflow.sdk import Variable

        return Variable.get(name, default=None)
    except Exception:  # noqa: BLE001 - outside a task without a metadata DB: unset
        import os

        return os.environ.get(f"AIRFLOW_VAR_{name.upper()}")


def _json_default(value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    raise TypeError(type(value).__name__)


def body_of(event_type: str, data: dict[str, Any], at: datetime | None = None) -> str:
    """The event as sent: {"type", "timestamp", "data"} (the Standard Webhooks envelope)."""
    envelope = {
        "type": event_type,
        "timestamp": (at or datetime.now(UTC)),
        "data": data,
    }
    return json.dumps(envelope, default=_json_default, separators=(",", ":"))


def _wants(endpoint: dict, event_type: str) -> bool:
    return event_type in (endpoint.get("events") or EVENT_TYPES)


def enqueue(
    conn: psycopg.Connection,
    *,
    customer_id: str,
    config_id: int | None,
    subject: str,
    event_type: str,
    data: dict[str, Any],
    endpoints: Iterable[dict],
    first_try_soon: bool = True,
) -> list[str]:
    """Write one event per endpoint that wants it; the ids newly written (none when the event was
    announced before). With first_try_soon, the caller tries them at once and the retry DAG
    leaves them alone for LEASE."""
    created = []
    body = body_of(event_type, data)
    lease = LEASE if first_try_soon else timedelta(0)
    for endpoint in endpoints:
        if not _wants(endpoint, event_type):
            continue
        eid = event_id(subject, event_type, endpoint["url"])
        row = conn.execute(
            "insert into webhook_event (event_id, customer_id, config_id, event_type, subject, "
            "endpoint_url, conn_id, payload, next_attempt_at, give_up_at) "
            "values (%s, %s, %s, %s, %s, %s, %s, %s, now() + %s, now() + %s) "
            "on conflict (event_id) do nothing returning event_id",
            (
                eid,
                customer_id,
                config_id,
                event_type,
                subject,
                endpoint["url"],
                endpoint["conn_id"],
                body,
                lease,
                GIVE_UP_AFTER,
            ),
        ).fetchone()
        if row:
            created.append(row[0])
    return created


def _period_totals(conn: psycopg.Connection, customer_id: str) -> dict[str, Any]:
    """Active budgets after the attempt: how many, and the budgeted total per fiscal period
    and currency (what the customer's systems compare with their own)."""
    periods: dict[str, dict[str, float]] = {}
    count = 0
    for period, currency, total, n in conn.execute(
        "select fiscal_period, currency, sum(budgeted_amount), count(*) from budget "
        "where customer_id = %s and deleted_at is null group by 1, 2 order by 1, 2",
        (customer_id,),
    ):
        periods.setdefault(period, {})[currency] = float(total)
        count += n
    return {"active_budgets": count, "by_period": periods}


def _sync_data(conn: psycopg.Connection, row: dict) -> dict[str, Any]:
    return {
        "customer_id": row["customer_id"],
        "config_id": row["config_id"],
        "sync_id": row["sync_id"],
        "status": row["status"],
        "file_name": row["file_name"],
        "message": row["message"],
        "triggered_by": row["triggered_by"],
        "started_at": row["start_time"],
        "finished_at": row["end_time"],
        "duration_ms": row["duration_ms"],
        "counts": {
            "total_rows": row["total_rows"],
            "created": row["created_count"],
            "updated": row["updated_count"],
            "unchanged": row["unchanged_count"],
            "soft_deleted": row["soft_deleted_count"],
            "restored": row["restored_count"],
            "errors": row["error_count"],
        },
        "totals": _period_totals(conn, row["customer_id"]),
        "history_url": history_url(row["customer_id"]),
    }


def announce_syncs(
    conn: psycopg.Connection,
    *,
    run_id: str | None = None,
    config_id: int | None = None,
    sync_ids: list[int] | None = None,
) -> list[str]:
    """Events for the finished attempts of a run (of one config) or the given attempts; the ids
    newly written. Attempts that already have their event get none again."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "select h.*, c.webhooks from sync_history h "
            "join budget_data_source_config c using (config_id) "
            "where h.status = any(%(statuses)s) and jsonb_array_length(c.webhooks) > 0 "
            "and (%(run)s::text is null or h.airflow_run_id = %(run)s) "
            "and (%(config)s::bigint is null or h.config_id = %(config)s) "
            "and (%(ids)s::bigint[] is null or h.sync_id = any(%(ids)s)) "
            "order by h.sync_id",
            {"statuses": list(SYNC_EVENTS), "run": run_id, "config": config_id, "ids": sync_ids},
        )
        rows = cur.fetchall()
    created = []
    for row in rows:
        with conn.transaction():
            created += enqueue(
                conn,
                customer_id=row["customer_id"],
                config_id=row["config_id"],
                subject=f"sync:{row['sync_id']}",
                event_type=SYNC_EVENTS[row["status"]],
                data=_sync_data(conn, row),
                endpoints=row["webhooks"],
            )
    return created


def after_attempt(run_id: str, config_id: int) -> dict[str, int]:
    """Called by the sync task once an attempt (or a review's decision) is final: announce it
    and try each new event once, briefly. Never raises: a webhook problem must not fail or hold
    up an import (the retry DAG has the rest)."""
    from finsync.warehouse import connect

    try:
        with connect() as conn:
            conn.autocommit = True
            created = announce_syncs(conn, run_id=run_id, config_id=config_id)
            if not created:
                return {"events": 0, "delivered": 0}
            results = deliver(conn, created, timeout=FIRST_TRY_TIMEOUT_S, sent_by="sync")
            return {"events": len(created), "delivered": sum(r.ok for r in results)}
    except Exception as exc:  # noqa: BLE001 - the retry DAG picks up whatever is left
        log.warning(
            "webhooks for config %s not announced or tried now (%s: %s); DAG budget_webhooks "
            "will retry what was written",
            config_id,
            type(exc).__name__,
            str(exc).splitlines()[0] if str(exc) else "",
        )
        return {"events": 0, "delivered": 0}


# ---- delivery --------------------------------------------------------------------------------


@dataclass
class Result:
    event_id: str
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: int


def _claim(conn: psycopg.Connection, event_ids: list[str] | None, limit: int) -> list[dict]:
    """Take pending events (the given ones, or those due) and hold them for LEASE, so a
    concurrent sender (the sync's first try, another DAG run) does not send them too."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "select event_id, customer_id, endpoint_url, conn_id, payload, attempts, give_up_at "
            "from webhook_event where status = 'pending' "
            "and (case when %(ids)s::text[] is null then next_attempt_at <= now() "
            "else event_id = any(%(ids)s) end) "
            "order by next_attempt_at limit %(limit)s for update skip locked",
            {"ids": event_ids, "limit": limit},
        )
        events = cur.fetchall()
        if events:
            cur.execute(
                "update webhook_event set next_attempt_at = now() + %s where event_id = any(%s)",
                (LEASE, [e["event_id"] for e in events]),
            )
    return events


def _send(event: dict, key: bytes | None, key_error: str | None, timeout: float) -> Result:
    import httpx

    started = time.perf_counter()
    if key is None:
        return Result(event["event_id"], False, None, key_error, 0)
    headers = signed_headers(key, event["event_id"], event["payload"])
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            response = client.post(
                event["endpoint_url"], content=event["payload"].encode(), headers=headers
            )
        ok = 200 <= response.status_code < 300
        error = None if ok else f"HTTP {response.status_code}"
        code: int | None = response.status_code
    except httpx.TimeoutException:
        ok, code, error = False, None, f"no answer within {timeout:g} s"
    except httpx.HTTPError as exc:
        ok, code = False, None
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
        error = error.replace(event["endpoint_url"], describe_url(event["endpoint_url"]))
    return Result(event["event_id"], ok, code, error, int((time.perf_counter() - started) * 1000))


def next_delay(attempts: int) -> timedelta:
    """How long to wait after the attempts-th failed try (exponential, capped)."""
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), MAX_RETRY_DELAY)


def deliver(
    conn: psycopg.Connection,
    event_ids: list[str] | None = None,
    *,
    timeout: float = RETRY_TIMEOUT_S,
    sent_by: str = "retry",
    limit: int = 40,
) -> list[Result]:
    """Try the given events (or up to `limit` due ones) once, 8 at a time; record each try and
    schedule the next one with back-off, or give up once the event is a day old. 40 events
    that all hang take 5 x the timeout (50 s), well inside the 2-minute lease."""
    events = _claim(conn, event_ids, limit)
    if not events:
        return []
    keys: dict[str, tuple[bytes | None, str | None]] = {}
    for conn_id in {e["conn_id"] for e in events}:
        try:
            keys[conn_id] = (secret_key(conn_id), None)
        except SecretError as exc:
            keys[conn_id] = (None, str(exc))
    with ThreadPoolExecutor(max_workers=min(8, len(events))) as pool:
        results = list(pool.map(lambda e: _send(e, *keys[e["conn_id"]], timeout=timeout), events))
    by_id = {e["event_id"]: e for e in events}
    now = datetime.now(UTC)
    for r in results:
        event = by_id[r.event_id]
        attempt = event["attempts"] + 1
        retry_at = now + next_delay(attempt)
        gives_up = not r.ok and retry_at > event["give_up_at"]
        with conn.transaction():
            conn.execute(
                "insert into webhook_delivery (event_id, attempt, sent_by, duration_ms, "
                "status_code, is_success, error) values (%s, %s, %s, %s, %s, %s, %s)",
                (r.event_id, attempt, sent_by, r.duration_ms, r.status_code, r.ok, r.error),
            )
            conn.execute(
                "update webhook_event set attempts = %s, status = %s, last_error = %s, "
                "delivered_at = case when %s then now() end, next_attempt_at = %s "
                "where event_id = %s",
                (
                    attempt,
                    "delivered" if r.ok else ("failed" if gives_up else "pending"),
                    r.error,
                    r.ok,
                    now if r.ok or gives_up else retry_at,
                    r.event_id,
                ),
            )
        if not r.ok:
            log.warning(
                "webhook %s to %s (%s), try %d: %s; %s",
                r.event_id,
                describe_url(event["endpoint_url"]),
                event["customer_id"],
                attempt,
                r.error,
                "given up (a day old)" if gives_up else f"next try after {retry_at:%H:%M:%S} UTC",
            )
    return results


# ---- threshold alerts --------------------------------------------------------------------------


def _customer_settings(conn: psycopg.Connection, customer_id: str) -> tuple[list[dict], dict]:
    """The customer's webhook endpoints (every enabled config's, each URL once) and its
    notification channels (its first enabled config's `notify`, as for its fiscal calendar)."""
    endpoints: dict[str, dict] = {}
    notify: dict | None = None
    for webhooks, settings in conn.execute(
        "select webhooks, notify from budget_data_source_config where customer_id = %s "
        "order by enabled desc, config_id",
        (customer_id,),
    ):
        for e in webhooks or []:
            endpoints.setdefault(e["url"], e)
        if notify is None:
            notify = settings or {}
    return list(endpoints.values()), notify or {}


def crossing_data(row: dict) -> dict[str, Any]:
    budgeted, committed, reserved = (
        row["budgeted_amount"],
        row["committed_amount"],
        row["reserved_amount"],
    )
    return {
        "customer_id": row["customer_id"],
        "budget_id": row["budget_id"],
        "department": row["department"],
        "sub_category": row["sub_category"],
        "fiscal_period": row["fiscal_period"],
        "currency": row["currency"],
        "threshold_pct": row["threshold_pct"],
        "utilization_pct": row["utilization_pct"],
        "budgeted": budgeted,
        "committed": committed,
        "reserved": reserved,
        "available": available(budgeted, committed, reserved),
        "crossed_at": row["crossed_at"],
        "crossing_id": row["crossing_id"],
    }


def announce_crossings(conn: psycopg.Connection, context: dict | None = None) -> dict[str, int]:
    """Turn new threshold crossings (recorded by the bookings' transactions) into one webhook
    event per endpoint and one notification per channel each; mark them announced."""
    from finsync.budget.notify import notify_threshold

    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "select x.*, b.department, b.sub_category, b.fiscal_period, b.currency "
            "from budget_threshold_crossing x join budget b using (budget_id) "
            "where x.announced_at is null order by x.crossing_id limit 500 "
            "for update of x skip locked"
        )
        rows = cur.fetchall()
        created: list[str] = []
        alerts: list[tuple[dict, dict]] = []  # (the customer's notify settings, the alert)
        settings: dict[str, tuple[list[dict], dict]] = {}
        for row in rows:
            customer = row["customer_id"]
            if customer not in settings:
                settings[customer] = _customer_settings(conn, customer)
            endpoints, notify = settings[customer]
            data = crossing_data(row)
            created += enqueue(
                conn,
                customer_id=customer,
                config_id=None,
                subject=f"threshold:{row['crossing_id']}",
                event_type=THRESHOLD_EVENT,
                data=data,
                endpoints=endpoints,
                first_try_soon=False,
            )
            alerts.append((notify, data))
        if rows:
            cur.execute(
                "update budget_threshold_crossing set announced_at = now() "
                "where crossing_id = any(%s)",
                ([r["crossing_id"] for r in rows],),
            )
    # Notified once the crossings are marked (at most once each; a channel that cannot deliver
    # is logged, as for failed syncs), outside the transaction.
    notified = sum(len(notify_threshold(n, data, context or {})) for n, data in alerts)
    return {"crossings": len(rows), "events": len(created), "notifications": notified}


# ---- what the API and the CLI show --------------------------------------------------------------


# Each configured endpoint with its last delivery try and how many events wait or were given up
# (%(c)s: one customer, or null for all). The CLI and GET /sync/webhooks both use it.
ENDPOINTS_SQL = """
with endpoints as (
    select c.customer_id, c.config_id, e ->> 'url' as url, e ->> 'conn_id' as conn_id,
           e -> 'events' as events
    from budget_data_source_config c, jsonb_array_elements(c.webhooks) e
    where %(c)s::text is null or c.customer_id = %(c)s
)
select p.customer_id, p.config_id, p.url, p.conn_id, p.events,
       last.event_id as last_event_id, last.event_type as last_event_type,
       last.attempted_at as last_attempt_at, last.status_code as last_status_code,
       last.is_success as last_success, last.error as last_error,
       (select count(*) from webhook_event w where w.customer_id = p.customer_id
         and w.endpoint_url = p.url and w.status = 'pending') as pending,
       (select count(*) from webhook_event w where w.customer_id = p.customer_id
         and w.endpoint_url = p.url and w.status = 'failed') as given_up
from endpoints p
left join lateral (
    select d.*, w.event_type from webhook_event w
    join webhook_delivery d using (event_id)
    where w.customer_id = p.customer_id and w.endpoint_url = p.url
    order by d.delivery_id desc limit 1
) last on true
order by p.customer_id, p.config_id, p.url
"""


def described(rows: list[dict]) -> list[dict]:
    """ENDPOINTS_SQL rows as shown: the endpoint without its query string, not the full URL."""
    return [
        {**{k: v for k, v in r.items() if k != "url"}, "endpoint": describe_url(r["url"])}
        for r in rows
    ]


def endpoint_status(conn: psycopg.Connection, customer_id: str | None = None) -> list[dict]:
    """Each configured endpoint with its last delivery try and pending events."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(ENDPOINTS_SQL, {"c": customer_id})
        return described(cur.fetchall())


# ---- DAG budget_webhooks ------------------------------------------------------------------------


def announce_crossings_task(context) -> dict[str, int]:
    """Task announce_threshold_crossings: new crossings -> webhook events and notifications."""
    from finsync.warehouse import connect

    with connect() as conn:
        conn.autocommit = True
        found = announce_crossings(conn, context)
    log.info(
        "%d new threshold crossing(s): %d webhook event(s), %d notification(s)",
        found["crossings"],
        found["events"],
        found["notifications"],
    )
    return found


def deliver_due_task(context, *, batches: int = 50) -> dict[str, int]:
    """Task deliver_due_webhooks: every due event tried once (first tries of threshold alerts,
    retries of anything that failed), in batches; what happened."""
    from finsync.warehouse import connect

    tried = delivered = 0
    with connect() as conn:
        conn.autocommit = True
        for _ in range(batches):
            results = deliver(conn, timeout=RETRY_TIMEOUT_S, sent_by="retry")
            if not results:
                break
            tried += len(results)
            delivered += sum(r.ok for r in results)
        counts = dict(
            conn.execute(
                "select status, count(*) from webhook_event "
                "where status = 'pending' or created_at > now() - interval '1 day' group by 1"
            ).fetchall()
        )
    summary = {
        "tried": tried,
        "delivered": delivered,
        "pending": counts.get("pending", 0),
        "given_up_last_day": counts.get("failed", 0),
    }
    log.info("webhooks: %s", summary)
    return summary
