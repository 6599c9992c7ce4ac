"""`finsync db migrate`: apply include/sql/migrations/NNN_*.sql once each, in order.

Each file runs in its own transaction and is recorded in `finsync_schema_migrations` with its
checksum; the whole run holds an advisory lock so two migrators never race. Files are written
idempotently too (`if not exists`), so a half-applied database still converges.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import psycopg

from finsync import sql

log = logging.getLogger(__name__)
_LOCK_KEY = 0x46494E53594E43  # "FINSYNC"


@dataclass(frozen=True)
class MigrationResult:
    applied: list[str]
    already_applied: list[str]


def migrate(conn: psycopg.Connection) -> MigrationResult:
    conn.autocommit = True
    conn.execute("select pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        conn.execute(
            """
            create table if not exists finsync_schema_migrations (
                version text primary key,
                checksum text not null,
                applied_at timestamptz not null default now()
            )
            """
        )
        done: dict[str, str] = dict(
            conn.execute("select version, checksum from finsync_schema_migrations")
        )
        applied, skipped = [], []
        for path in sql.numbered_files("migrations"):
            text = path.read_text(encoding="utf-8")
            checksum = hashlib.sha256(text.encode()).hexdigest()
            if path.name in done:
                if done[path.name] != checksum:
                    log.warning("migration %s changed after it was applied; not re-run", path.name)
                skipped.append(path.name)
                continue
            with conn.transaction():
                conn.execute(text)
                conn.execute(
                    "insert into finsync_schema_migrations (version, checksum) values (%s, %s)",
                    (path.name, checksum),
                )
            log.info("applied migration %s", path.name)
            applied.append(path.name)
        return MigrationResult(applied, skipped)
    finally:
        conn.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))
