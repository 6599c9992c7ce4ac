"""What a config's settings may hold: the checks `config.py` runs before it writes a setting
that belongs to a module around the pipeline (sync frequencies, write-back, webhook endpoints,
alert thresholds). Kept below `config.py`, so that `writeback.py`, `webhooks.py` and
`notify.py` import `config.py` and `config.py` imports none of them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

# ---- frequencies (a config's `frequency`, a write-back's own) ------------------------------

FREQUENCIES = {
    "hourly": timedelta(hours=1),
    "every_4_hours": timedelta(hours=4),
    "every_12_hours": timedelta(hours=12),
    "daily": timedelta(days=1),
    "manual": None,
}

# ---- webhooks (docs/webhooks.md) -------------------------------------------------------------

SYNC_EVENTS = {
    "success": "sync.succeeded",
    "partial": "sync.partial",
    "failed": "sync.failed",
    "needs_review": "sync.needs_review",
}
THRESHOLD_EVENT = "budget.threshold_crossed"
EVENT_TYPES = (*SYNC_EVENTS.values(), THRESHOLD_EVENT)
MAX_ENDPOINTS = 10
_CONN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,250}$")


class WebhookConfigError(ValueError):
    """A config's `webhooks` setting is not valid (the message says which entry and why)."""


# ---- config ----------------------------------------------------------------------------------


def validate_endpoints(value: Any) -> list[dict[str, Any]]:
    """The `webhooks` setting, checked: a list of {url (https), conn_id, events?}. Raises
    WebhookConfigError naming the entry and the key; never echoes a value that may be secret."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise WebhookConfigError("webhooks must be a list of {url, conn_id[, events]}")
    if len(value) > MAX_ENDPOINTS:
        raise WebhookConfigError(f"webhooks: at most {MAX_ENDPOINTS} endpoints, got {len(value)}")
    seen: set[str] = set()
    for i, entry in enumerate(value):
        where = f"webhooks[{i}]"
        if not isinstance(entry, dict):
            raise WebhookConfigError(f"{where} must be an object with url and conn_id")
        unknown = sorted(set(entry) - {"url", "conn_id", "events"})
        if unknown:
            raise WebhookConfigError(
                f"{where}: unknown key(s) {', '.join(unknown)} (allowed: url, conn_id, events; "
                "the signing secret belongs in the Airflow connection named by conn_id)"
            )
        url = entry.get("url")
        if not isinstance(url, str):
            raise WebhookConfigError(f"{where}.url is required (an https:// URL)")
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise WebhookConfigError(f"{where}.url must be an https:// URL with a host")
        if parts.username or parts.password:
            raise WebhookConfigError(
                f"{where}.url must not carry credentials; the signing secret lives in the "
                "Airflow connection named by conn_id"
            )
        if url in seen:
            raise WebhookConfigError(f"{where}.url is listed twice")
        seen.add(url)
        conn_id = entry.get("conn_id")
        if not isinstance(conn_id, str) or not _CONN_ID.match(conn_id):
            raise WebhookConfigError(
                f"{where}.conn_id is required: the id of the Airflow connection whose password "
                "is the endpoint's signing secret (whsec_...)"
            )
        events = entry.get("events")
        if events is not None:
            if not isinstance(events, list) or not events:
                raise WebhookConfigError(f"{where}.events must be a non-empty list")
            bad = [e for e in events if e not in EVENT_TYPES]
            if bad:
                raise WebhookConfigError(
                    f"{where}.events: unknown event type(s) {bad}; known: {', '.join(EVENT_TYPES)}"
                )
    return value


def validate_thresholds(value: Any) -> list[float]:
    """`alert_thresholds_pct`: up to 5 distinct percentages of budgeted, above 0 and at most 1000
    (a tolerance policy lets a budget go past 100 %). An empty list turns alerts off."""
    if not isinstance(value, list) or len(value) > 5:
        raise ValueError("alert_thresholds_pct must be a list of at most 5 percentages")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int | float | Decimal) or not 0 < v <= 1000:
            raise ValueError(
                f"alert_thresholds_pct: {v!r} is not a percentage above 0 and at most 1000"
            )
        out.append(float(v))
    if len(set(out)) != len(out):
        raise ValueError("alert_thresholds_pct: each threshold once")
    return sorted(out)


# ---- write-back (budget/writeback.py, DAG budget_writeback) ---------------------------------

FORMATS = ("csv", "xlsx")
PERIOD_LABELS = ("auto", "calendar", "fiscal")
DEFAULTS: dict[str, Any] = {
    "enabled": True,
    "folder": "finsync",
    "formats": ["csv"],
    "frequency": "daily",
    "period_labels": "auto",
}
_KEYS = tuple(DEFAULTS)
_FOLDER_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$")


class WritebackError(ValueError):
    """Write-back cannot run for this config (the message says what to change)."""


def writeback_source_types() -> tuple[str, ...]:
    """The source types write-back can write to: those whose source class is writable
    (sources/registry.py, the one place a type is added)."""
    from finsync.budget.sources.registry import SOURCES

    return tuple(t for t, cls in SOURCES.items() if cls.writable)


def validate_writeback(source_type: str, value: Any) -> None:
    """Refuse an unusable `writeback` setting (None turns write-back off). Raises
    WritebackError listing every problem; config.py runs this before every write."""
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise WritebackError("writeback must be an object (or null to turn it off)")
    problems = [f"unknown key {k!r}" for k in sorted(set(value) - set(_KEYS))]
    writable = writeback_source_types()
    if source_type not in writable:
        problems.append(
            f"write-back goes to the customer's own location: a {source_type} source has none "
            f"(use {', '.join(writable)})"
        )
    if "enabled" in value and not isinstance(value["enabled"], bool):
        problems.append("enabled must be true or false")
    if "folder" in value:
        problems += _folder_problems(value["folder"])
    if "formats" in value:
        formats = value["formats"]
        if (
            not isinstance(formats, list | tuple)
            or not formats
            or any(f not in FORMATS for f in formats)
        ):
            problems.append(f"formats must be a non-empty list of {', '.join(FORMATS)}")
    if "frequency" in value and value["frequency"] not in FREQUENCIES:
        problems.append(f"frequency must be one of {', '.join(FREQUENCIES)}")
    if "period_labels" in value and value["period_labels"] not in PERIOD_LABELS:
        problems.append(f"period_labels must be one of {', '.join(PERIOD_LABELS)}")
    if problems:
        raise WritebackError(f"writeback is not usable: {'; '.join(problems)}")


def _folder_problems(folder: Any) -> list[str]:
    if not isinstance(folder, str) or not folder.strip("/"):
        return ["folder must name a sub-folder of the source location (e.g. finsync)"]
    parts = folder.strip("/").split("/")
    if folder.startswith("/") or any(not _FOLDER_PART.match(p) or p in (".", "..") for p in parts):
        return [
            "folder must be a relative sub-folder of the source location: letters, digits, "
            "spaces, '.', '_', '-', parts separated by '/', no '..'"
        ]
    return []
