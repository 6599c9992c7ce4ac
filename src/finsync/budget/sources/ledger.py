"""The exactly-once ledger `budget_file_ledger`: one row per file version and outcome
(rules 2, 4 and 5 of the package docstring)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from finsync.budget.sources.base import RemoteFile

LEDGER_STATUSES = ("success", "partial", "failed", "unchanged", "needs_review")
# Statuses after which a file version counts as processed (rule 2 of the package docstring).
DONE_STATUSES = LEDGER_STATUSES

_LEDGER_LOOKUP = """
    select status
    from budget_file_ledger
    where config_id = %(config_id)s
        and file_name = %(file_name)s
        and size_bytes = %(size_bytes)s
        and modified_at = %(modified_at)s
    order by processed_at desc
    limit 1
"""

# Rule: the same bytes under the same name count as processed once a sync took them in.
_LEDGER_SEEN_CHECKSUM = """
    select exists (
        select 1
        from budget_file_ledger
        where config_id = %(config_id)s
            and file_name = %(file_name)s
            and sha256 = %(sha256)s
            and status = any(%(done)s)
    )
"""

# One row per file version; recording it again keeps the latest outcome.
_LEDGER_RECORD = """
    insert into budget_file_ledger (
        config_id, file_name, size_bytes, modified_at, sha256, status, sync_id
    )
    values (
        %(config_id)s, %(file_name)s, %(size_bytes)s, %(modified_at)s, %(sha256)s,
        %(status)s, %(sync_id)s
    )
    on conflict (config_id, file_name, size_bytes, modified_at, sha256) do update set
        status = excluded.status,
        sync_id = coalesce(excluded.sync_id, budget_file_ledger.sync_id),
        processed_at = now()
    where (budget_file_ledger.status, budget_file_ledger.sync_id)
        is distinct from (excluded.status, coalesce(excluded.sync_id, budget_file_ledger.sync_id))
"""


def _version(config_id: int, remote: RemoteFile) -> dict[str, Any]:
    return {
        "config_id": config_id,
        "file_name": remote.name,
        "size_bytes": remote.size,
        "modified_at": remote.modified_at,
    }


def ledger_lookup(conn: psycopg.Connection, config_id: int, remote: RemoteFile) -> str | None:
    """The latest status recorded for this (name, size, modified time), or None."""
    row = conn.execute(_LEDGER_LOOKUP, _version(config_id, remote)).fetchone()
    return row[0] if row else None


def is_done(status: str | None) -> bool:
    """Whether a ledger status means the file version was processed (rule 2)."""
    return status in DONE_STATUSES


def ledger_already_seen(conn: psycopg.Connection, config_id: int) -> Callable[[RemoteFile], bool]:
    """`already_seen` for choose_file: the file version is in the ledger with a done status."""
    return lambda remote: is_done(ledger_lookup(conn, config_id, remote))


def ledger_seen_checksum(conn: psycopg.Connection, config_id: int, name: str, sha256: str) -> bool:
    """Whether the same content under the same name was already processed (rule 4)."""
    params = {"config_id": config_id, "file_name": name, "sha256": sha256}
    row = conn.execute(_LEDGER_SEEN_CHECKSUM, {**params, "done": list(DONE_STATUSES)}).fetchone()
    return row is not None and bool(row[0])


def ledger_record(
    conn: psycopg.Connection,
    config_id: int,
    remote: RemoteFile,
    sha256: str,
    status: str,
    sync_id: int | None,
) -> None:
    """Record a file version's outcome (idempotent: the same version again keeps one row,
    with the latest status; unchanged rows are not rewritten)."""
    if status not in LEDGER_STATUSES:
        raise ValueError(f"ledger status must be one of {', '.join(LEDGER_STATUSES)}: {status!r}")
    params = {**_version(config_id, remote), "sha256": sha256, "status": status}
    conn.execute(_LEDGER_RECORD, {**params, "sync_id": sync_id})
