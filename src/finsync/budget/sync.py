"""One customer's budget sync, start to finish (the `sync_customer` task of DAG budget_sync).

fetch the newest unprocessed file -> parse -> detect the file type -> map columns (the
confirmed mapping while the headers match, else fuzzy; below the bar: needs_review) ->
normalise -> Great Expectations gate -> import in one transaction -> record.

Every attempt gets one `sync_history` row, whatever happens. A file that is not a budget,
or that fails the gate beyond the customer's error tolerance, changes no budget. Files that
look like personal data (payroll, expenses, headcount) are deleted from the working folder at
once and no cell value of theirs reaches a log, an error or the database.

`sync_customer` runs one `Attempt`: its steps (take the file, understand it, gate and import)
each return the attempt's `SyncOutcome` when they end it, and `Attempt.finish` is the one
place the final outcome is known, on every path (raised errors too): it records the
`sync_history` row, the ledger row and the config's last status.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from finsync import storage
from finsync.budget import config as configs
from finsync.budget import sources
from finsync.budget.config import SourceConfig
from finsync.budget.importer import (
    ImportCounts,
    MassDeletionError,
    Options,
    StagedImport,
    import_budgets,
)
from finsync.budget.model import BudgetFileError
from finsync.budget.sources import RemoteFile

if TYPE_CHECKING:  # pandas-backed: imported when a file is read (the `imports` timing)
    from finsync.budget.budgets import Budgets
    from finsync.budget.normalize import NormalizedRows

log = logging.getLogger(__name__)
PERSONAL_DATA_TYPES = {"payroll", "expense", "headcount"}
# Downloaded working copies are kept this long (for support and audit), then removed.
DOWNLOAD_RETENTION = storage.RETENTION["downloads"]


@dataclass
class SyncOutcome:
    customer_id: str
    config_id: int
    sync_id: int
    status: str  # success, partial, failed, unchanged, needs_review
    message: str
    file_name: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    error_count: int = 0
    review: dict[str, Any] | None = None  # what a person must confirm (needs_review)
    grain: dict[str, Any] | None = None  # rows in, budgets out, columns summed (grain.py)
    reject_file: str | None = None
    # Seconds per step (fetch, imports, parse, detect, map, long, normalize, gate_setup, gate,
    # copy, diff, write, stage_wait, commit, record): where a sync's time went. copy, diff and
    # (when the gate keeps every row) write run in PostgreSQL while gate_setup and gate run
    # here; stage_wait is how long the gated rows then still waited for them.
    timings: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextmanager
def _timed(timings: dict[str, float], step: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        took = time.perf_counter() - started
        timings[step] = round(timings.get(step, 0.0) + took, 4)


def describe_timings(timings: dict[str, float]) -> str:
    """'parse 0.41 s, normalize 0.88 s, ...' (steps under 5 ms left out)."""
    return ", ".join(f"{k} {v:.2f} s" for k, v in timings.items() if v >= 0.005)


def _start_history(
    conn: psycopg.Connection, cfg: SourceConfig, triggered_by: str, run_id: str | None
) -> int:
    row = conn.execute(
        "insert into sync_history (customer_id, config_id, status, triggered_by, airflow_run_id) "
        "values (%s, %s, 'running', %s, %s) returning sync_id",
        (cfg.customer_id, cfg.config_id, triggered_by, run_id),
    ).fetchone()
    assert row is not None  # insert ... returning: one row
    return int(row[0])


def _finish_history(
    conn: psycopg.Connection,
    outcome: SyncOutcome,
    *,
    started: float,
    total_rows: int | None,
    sha256: str | None,
    errors: list[dict],
) -> None:
    c = outcome.counts
    conn.execute(
        """
        update sync_history set
            status = %s, end_time = now(), duration_ms = %s, file_name = %s, file_sha256 = %s,
            total_rows = %s, created_count = %s, updated_count = %s, unchanged_count = %s,
            soft_deleted_count = %s, restored_count = %s, error_count = %s, errors = %s,
            message = %s, reject_file = %s, review = %s, grain = %s
        where sync_id = %s
        """,
        (
            outcome.status,
            int((time.perf_counter() - started) * 1000),
            outcome.file_name,
            sha256,
            total_rows,
            c.get("created", 0),
            c.get("updated", 0),
            c.get("unchanged", 0),
            c.get("soft_deleted", 0),
            c.get("restored", 0),
            outcome.error_count,
            json.dumps(errors),
            outcome.message,
            outcome.reject_file,
            json.dumps(outcome.review) if outcome.review else None,
            json.dumps(outcome.grain) if outcome.grain else None,
            outcome.sync_id,
        ),
    )


@dataclass(frozen=True)
class SyncRequest:
    """What the caller asks of one attempt (`sync_customer`'s keyword arguments)."""

    force: bool = False
    triggered_by: str = "schedule"
    run_id: str | None = None
    confirmed_mapping: dict[str, str | None] | None = None
    confirmed_by: str | None = None
    approve_mass_deletion: bool = False
    scenario: str | None = None


@dataclass(frozen=True)
class Gated:
    """The gate's verdict on a file's normalised rows: success, partial or failed, the rows
    rejected (by normalise or the gate), and the rows to import."""

    decision: str
    error_rows: int
    valid: Any
    lines: Any


def sync_customer(
    conn: psycopg.Connection,
    cfg: SourceConfig,
    *,
    work_dir: Path,
    force: bool = False,
    triggered_by: str = "schedule",
    run_id: str | None = None,
    confirmed_mapping: dict[str, str | None] | None = None,
    confirmed_by: str | None = None,
    approve_mass_deletion: bool = False,
    scenario: str | None = None,
    now: datetime | None = None,
) -> SyncOutcome:
    """Run one sync attempt for one config. Data problems end in a recorded outcome; errors
    reaching the source or the warehouse are recorded as failed and raised (Airflow retries)."""
    request = SyncRequest(
        force=force,
        triggered_by=triggered_by,
        run_id=run_id,
        confirmed_mapping=confirmed_mapping,
        confirmed_by=confirmed_by,
        approve_mass_deletion=approve_mass_deletion,
        scenario=scenario,
    )
    started = time.perf_counter()
    sync_id = _start_history(conn, cfg, triggered_by, run_id)
    attempt = Attempt(conn, cfg, work_dir, request, now or datetime.now(UTC), sync_id, started)
    return attempt.run()


class Attempt:
    """One sync attempt of one config: what its steps found so far (the outcome being
    built, the rejected rows, the file taken and its checksum) and the steps themselves."""

    def __init__(
        self,
        conn: psycopg.Connection,
        cfg: SourceConfig,
        work_dir: Path,
        request: SyncRequest,
        now: datetime,
        sync_id: int,
        started: float,
    ) -> None:
        self.conn = conn
        self.cfg = cfg
        self.work_dir = work_dir
        self.request = request
        self.now = now
        self.started = started
        self.outcome = SyncOutcome(cfg.customer_id, cfg.config_id, sync_id, "failed", "")
        self.errors: list[dict] = []  # every rejected row (sync_history.errors)
        self.remote: RemoteFile | None = None
        self.sha256: str | None = None
        # writes the file's period labels in the import's transaction (writeback.label_recorder)
        self.record_labels: Callable[[psycopg.Connection], None] | None = None
        self.total_rows: int | None = None  # rows of a file that went through the gate

    def timed(self, step: str) -> AbstractContextManager:
        """Add the time spent in a block to the outcome's `timings[step]`."""
        return _timed(self.outcome.timings, step)

    def end(self, status: str, message: str, review: dict[str, Any] | None = None) -> SyncOutcome:
        """The outcome with its final status and message (and what a person must review)."""
        self.outcome.status, self.outcome.message = status, message
        if review is not None:
            self.outcome.review = review
        return self.outcome

    def run(self) -> SyncOutcome:
        """Take the newest unprocessed file and import it; whatever happens, `finish`."""
        try:
            return self.take_and_import()
        except BudgetFileError as exc:
            outcome = self.end("failed", str(exc))
            if self.remote is not None and self.sha256 is not None:
                self.ledger("failed")
            return outcome
        except Exception as exc:
            self.end(
                "failed", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            )
            raise
        finally:
            self.finish()

    def ledger(self, status: str) -> None:
        """Record the taken file's version in the ledger with `status`."""
        assert self.remote is not None and self.sha256 is not None
        sources.ledger_record(
            self.conn, self.cfg.config_id, self.remote, self.sha256, status, self.outcome.sync_id
        )

    def take_and_import(self) -> SyncOutcome:
        """Rules 1 to 5 of finsync.budget.sources: the file to take (if any), then import it
        and record its version with the outcome."""
        cfg, conn = self.cfg, self.conn
        sources.cleanup_downloads(self.work_dir, DOWNLOAD_RETENTION, self.now)
        self.expire_shared()
        source = sources.build_source(cfg.customer_id, cfg.source_type, cfg.source_config)
        files = source.list_files()
        processed = sources.ledger_already_seen(conn, cfg.config_id)
        choice = sources.explain_choice(
            files,
            already_seen=lambda f: not self.request.force and processed(f),
            settle_seconds=cfg.settle_seconds,
            now=self.now,
        )
        remote = self.remote = choice.file
        if remote is None:
            return self.end("unchanged", f"{choice.reason} ({source.describe()})")
        self.outcome.file_name = remote.name
        if not sources.is_settled(source, remote, pause_seconds=min(cfg.settle_seconds, 2)):
            return self.end(
                "unchanged", f"{remote.name} is still being written; it waits for the next poll"
            )
        self.work_dir.mkdir(parents=True, exist_ok=True)
        local = source.fetch(remote, self.work_dir)
        self.sha256 = sources.sha256_of(local)
        if not self.request.force and sources.ledger_seen_checksum(
            conn, cfg.config_id, remote.name, self.sha256
        ):
            self.ledger("unchanged")
            return self.end(
                "unchanged", f"{remote.name} has the same content as a file already imported"
            )
        self.outcome.timings["fetch"] = round(time.perf_counter() - self.started, 4)
        outcome = self.understand_and_import(local)
        if local.exists():  # (a file that looks like personal data is gone already)
            self.keep_copy(local)
        self.total_rows = outcome.counts.pop("total_rows", None)
        self.ledger(outcome.status)
        return outcome

    def expire_shared(self) -> None:
        """Shared storage's retention for this customer (uploads, kept copies, reject files):
        best effort, a storage outage never holds up a sync."""
        for area in storage.AREAS:
            try:
                storage.remove_expired(area, self.cfg.customer_id, self.now)
            except storage.StorageError as exc:
                log.warning("retention of %s skipped: %s", area, exc)

    def keep_copy(self, local: Path) -> None:
        """The taken file's copy in shared storage, kept DOWNLOAD_RETENTION for support and
        audit whichever machine looks (best effort, like the retention)."""
        with self.timed("keep"):
            try:
                ref = storage.key("downloads", self.cfg.customer_id, local.name)
                storage.put(ref, local)
            except (storage.StorageError, ValueError) as exc:
                log.warning("the copy of %s is not kept in shared storage: %s", local.name, exc)

    def finish(self) -> None:
        """The attempt's final outcome is known: record it (`sync_history`, the config's last
        status) and log it. Runs once per attempt, on every path."""
        outcome = self.outcome
        outcome.timings.setdefault("fetch", round(time.perf_counter() - self.started, 4))
        if outcome.status in ("failed", "needs_review") and not outcome.message:
            outcome.message = "the sync failed"
        with self.timed("record"):
            _finish_history(
                self.conn,
                outcome,
                started=self.started,
                total_rows=self.total_rows,
                sha256=self.sha256,
                errors=self.errors,
            )
            configs.record_outcome(self.conn, self.cfg, outcome.status, self.now)
        log.info(
            "budget sync %s for %s: %s. %s (%s)",
            outcome.sync_id,
            self.cfg.customer_id,
            outcome.status,
            outcome.message,
            describe_timings(outcome.timings),
        )

    def understand_and_import(self, local: Path) -> SyncOutcome:
        """Parse, detect, map and normalise the fetched file, then gate and import it."""
        cfg, conn, outcome, request = self.cfg, self.conn, self.outcome, self.request
        with self.timed("imports"):  # pandas and pyarrow: paid once per process
            from finsync.budget import detect, mapping, quality, read  # noqa: F401
            from finsync.budget.budgets import to_budgets

        with self.timed("parse"):
            parsed = read.parse_file(
                local,
                sheet=cfg.source_config.get("sheet"),
                header_row=cfg.source_config.get("header_row"),
            )
        with self.timed("detect"):
            guess = detect.detect_file_type(parsed)
        if guess.file_type != "budget":
            if guess.file_type in PERSONAL_DATA_TYPES:
                local.unlink(missing_ok=True)  # personal data: no copy kept
            return self.end(
                "failed",
                f"{outcome.file_name} looks like a {guess.file_type} file, not a budget "
                f"(confidence {guess.confidence:.2f}: {'; '.join(guess.reasons)}); nothing was "
                "imported and the previous budgets stay in force",
            )
        with self.timed("map"):
            headers = mapping.headers_signature(parsed)
            confirmed = request.confirmed_mapping
            saved = cfg.column_mapping if confirmed is None else confirmed
            learned = configs.learned_evidence(conn) if cfg.share_mappings else None
            column_map = mapping.map_columns(parsed, confirmed=saved, learned=learned)
            problems = mapping.needs_review(column_map, parsed.layout)
        if problems and confirmed is None:
            return self.end(
                "needs_review",
                f"the column mapping of {outcome.file_name} needs a person: "
                f"{'; '.join(problems)}. Confirm or correct it in the Airflow UI (Required "
                "actions); nothing was imported",
                review={
                    "kind": "mapping",
                    "headers": headers,
                    "layout": parsed.layout,
                    "proposal": column_map.as_json(),
                },
            )
        budgets = to_budgets(
            parsed,
            column_map,
            fiscal_year_start_month=cfg.fiscal_year_start_month,
            default_currency=cfg.default_currency,
            scenario=request.scenario or cfg.source_config.get("scenario"),
            sum_duplicates=cfg.source_config.get("duplicates") == "sum",
            timed=self.timed,
        )
        del parsed  # the file's table is not needed any more (peak memory)
        outcome.grain = budgets.report.as_json()
        if budgets.problem is not None:
            assert budgets.scenario is not None  # to_budgets' only problem: the scenario
            return self.end(
                "needs_review",
                f"{outcome.file_name}: {budgets.problem}; nothing was imported and the previous "
                "budgets stay in force",
                review={
                    "kind": "scenario",
                    "column": budgets.scenario.column,
                    "values": budgets.scenario.values,
                },
            )
        saved_columns = {f: (cfg.column_mapping or {}).get(f) for f in column_map.columns()}
        if confirmed is not None or saved_columns != column_map.columns():
            who = request.confirmed_by or "system:auto (every field above the confidence bar)"
            configs.save_confirmed_mapping(conn, cfg.config_id, headers, column_map.columns(), who)
        for warning in budgets.report.warnings:
            log.warning("%s: %s", outcome.file_name, warning)
        assert budgets.rows is not None  # to_budgets gives rows unless there is a problem
        return self.gate_and_import(budgets, budgets.rows, column_map.columns())

    def gate_and_import(
        self, budgets: Budgets, normalised: NormalizedRows, columns: dict[str, str | None]
    ) -> SyncOutcome:
        """Gate the file's budgets and import what the verdict allows, in one transaction.

        PostgreSQL stages, diffs and applies the rows (in the import's transaction, on a
        worker thread, nothing committed) while Python gates them, expecting the usual
        verdict: every row passes (a success, so budgets the file misses are soft-deleted,
        unless normalise already rejected rows). The gate's actual verdict then decides what
        is committed."""
        cfg, outcome = self.cfg, self.outcome
        total, report = budgets.total_rows, budgets.report
        assert self.remote is not None  # the file taken
        file_name = self.remote.name
        from finsync.budget.writeback import label_recorder

        # the file's own period labels, kept in the import's transaction (write-back)
        self.record_labels = label_recorder(cfg.config_id, outcome.sync_id, budgets.period_labels)
        staging = None
        if len(normalised.frame):
            staging = StagedImport(
                self.conn,
                customer_id=cfg.customer_id,
                sync_id=outcome.sync_id,
                rows=normalised.frame,
                source=file_name,
                expect=Options(
                    max_soft_delete_pct=cfg.max_soft_delete_pct,
                    soft_delete=not normalised.errors,
                    force=self.request.approve_mass_deletion,
                ),
                also=self.record_labels,
            )
        try:
            gated = self.gate(normalised, columns, total)
            if gated.decision == "failed":
                return self.end(
                    "failed",
                    f"{gated.error_rows} of {total} row(s) of {outcome.file_name} were rejected "
                    f"(tolerance {cfg.error_tolerance_pct:g} %); nothing was imported and the "
                    "previous budgets stay in force. Every rejected row is listed in "
                    "sync_history.errors and the reject file",
                )
            try:
                counts = self.import_rows(gated, staging, file_name)
            except MassDeletionError as exc:
                return self.end(
                    "needs_review",
                    str(exc),
                    review={
                        "kind": "mass_deletion",
                        "would_delete": exc.would_delete,
                        "active": exc.active,
                        "limit_pct": exc.limit_pct,
                    },
                )
        finally:
            if staging is not None:
                staging.cancel()  # a no-op once finished; else nothing is written
                outcome.timings.update({k: round(v, 4) for k, v in staging.timings.items()})
        outcome.counts.update(counts.as_dict())
        return self.end(
            gated.decision,
            f"{outcome.file_name}: {counts.created} created, {counts.updated} updated, "
            f"{counts.unchanged} unchanged, {counts.soft_deleted} soft-deleted, "
            f"{counts.restored} restored"
            + (f"; {report.describe()}" if report.summed_budgets or report.scenario else "")
            + (
                f"; {gated.error_rows} row(s) rejected, soft-deletes skipped (partial)"
                if gated.decision == "partial"
                else ""
            ),
        )

    def gate(self, normalised: NormalizedRows, columns: dict[str, str | None], total: int) -> Gated:
        """The Great Expectations gate and the decision; every rejected row is kept for
        `sync_history.errors` and written to the reject file."""
        from finsync import gate
        from finsync.budget import quality

        outcome = self.outcome
        with self.timed("gate_setup"):  # import great_expectations: once per process
            gate.prepare()
        with self.timed("gate"):
            gated = quality.check(normalised.frame, columns=columns)
        row_errors = normalised.errors + gated.errors
        self.errors.extend(e.as_dict() for e in row_errors)
        error_rows = len({e.row for e in row_errors})
        outcome.error_count = len(row_errors)
        decision = quality.decide(total, error_rows, self.cfg.error_tolerance_pct)
        if row_errors:  # written here, then kept in shared storage: any machine serves it
            reject = self.work_dir / "rejects" / f"sync_{outcome.sync_id}_rejects.csv"
            reject.parent.mkdir(parents=True, exist_ok=True)
            quality.write_reject_file(row_errors, reject)
            outcome.reject_file = storage.key("rejects", self.cfg.customer_id, reject.name)
            storage.put(outcome.reject_file, reject)
            reject.unlink()
        outcome.counts["total_rows"] = total
        return Gated(decision, error_rows, gated.valid, gated.lines)

    def import_rows(
        self, gated: Gated, staging: StagedImport | None, file_name: str
    ) -> ImportCounts:
        """Write the gated rows (through the staged import when there is one); soft-deletes
        only on a success. MassDeletionError when they would delete too much."""
        cfg = self.cfg
        options = Options(
            max_soft_delete_pct=cfg.max_soft_delete_pct,
            soft_delete=gated.decision == "success",
            force=self.request.approve_mass_deletion,
        )
        if staging is not None:
            return staging.finish(rows=gated.valid, lines=gated.lines, options=options)
        return import_budgets(
            self.conn,
            customer_id=cfg.customer_id,
            sync_id=self.outcome.sync_id,
            rows=gated.valid,
            source=file_name,
            timings=self.outcome.timings,
            max_soft_delete_pct=options.max_soft_delete_pct,
            soft_delete=options.soft_delete,
            force=options.force,
            also=self.record_labels,
        )
