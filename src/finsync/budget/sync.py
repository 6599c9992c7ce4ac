"""One customer's budget sync, start to finish (the `sync_customer` task of DAG budget_sync).

fetch the newest unprocessed file -> parse -> detect the file type -> map columns (the
confirmed mapping while the headers match, else fuzzy; below the bar: needs_review) ->
normalise -> Great Expectations gate -> import in one transaction -> record.

Every attempt gets one `sync_history` row, whatever happens. A file that is not a budget,
or that fails the gate beyond the customer's error tolerance, changes no budget. Files that
look like personal data (payroll, expenses, headcount) are deleted from the working folder at
once and no cell value of theirs reaches a log, an error or the database.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from finsync.budget import config as configs
from finsync.budget.config import SourceConfig
from finsync.budget.importer import MassDeletionError, Options, StagedImport, import_budgets
from finsync.budget.model import BudgetFileError

log = logging.getLogger(__name__)
PERSONAL_DATA_TYPES = {"payroll", "expense", "headcount"}
# Downloaded working copies are kept this long (for support and audit), then removed.
DOWNLOAD_RETENTION = timedelta(days=7)


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
def _timed(outcome: SyncOutcome, step: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        took = time.perf_counter() - started
        outcome.timings[step] = round(outcome.timings.get(step, 0.0) + took, 4)


def describe_timings(timings: dict[str, float]) -> str:
    """'parse 0.41 s, normalize 0.88 s, ...' (steps under 5 ms left out)."""
    return ", ".join(f"{k} {v:.2f} s" for k, v in timings.items() if v >= 0.005)


def _start_history(
    conn: psycopg.Connection, cfg: SourceConfig, triggered_by: str, run_id: str | None
) -> int:
    return conn.execute(
        "insert into sync_history (customer_id, config_id, status, triggered_by, airflow_run_id) "
        "values (%s, %s, 'running', %s, %s) returning sync_id",
        (cfg.customer_id, cfg.config_id, triggered_by, run_id),
    ).fetchone()[0]


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
    from finsync.budget import sources

    now = now or datetime.now(UTC)
    started = time.perf_counter()
    sync_id = _start_history(conn, cfg, triggered_by, run_id)
    outcome = SyncOutcome(cfg.customer_id, cfg.config_id, sync_id, "failed", "")
    sha256: str | None = None
    total_rows: int | None = None
    errors: list[dict] = []
    remote = None
    try:
        sources.cleanup_downloads(work_dir, DOWNLOAD_RETENTION, now)
        source = sources.build_source(cfg.customer_id, cfg.source_type, cfg.source_config)
        files = source.list_files()
        processed = sources.ledger_already_seen(conn, cfg.config_id)
        choice = sources.explain_choice(
            files,
            already_seen=lambda f: not force and processed(f),
            settle_seconds=cfg.settle_seconds,
            now=now,
        )
        remote = choice.file
        if remote is None:
            outcome.status, outcome.message = "unchanged", f"{choice.reason} ({source.describe()})"
            return outcome
        outcome.file_name = remote.name
        if not sources.is_settled(source, remote, pause_seconds=min(cfg.settle_seconds, 2)):
            outcome.status = "unchanged"
            outcome.message = f"{remote.name} is still being written; it waits for the next poll"
            return outcome
        work_dir.mkdir(parents=True, exist_ok=True)
        local = source.fetch(remote, work_dir)
        sha256 = sources.sha256_of(local)
        if not force and sources.ledger_seen_checksum(conn, cfg.config_id, remote.name, sha256):
            sources.ledger_record(conn, cfg.config_id, remote, sha256, "unchanged", sync_id)
            outcome.status = "unchanged"
            outcome.message = f"{remote.name} has the same content as a file already imported"
            return outcome
        outcome.timings["fetch"] = round(time.perf_counter() - started, 4)
        _understand_and_import(
            conn,
            cfg,
            outcome,
            local,
            errors,
            confirmed_mapping,
            confirmed_by,
            approve_mass_deletion,
            work_dir,
            scenario,
        )
        total_rows = outcome.counts.pop("total_rows", None)
        sources.ledger_record(conn, cfg.config_id, remote, sha256, outcome.status, sync_id)
        return outcome
    except BudgetFileError as exc:
        outcome.status, outcome.message = "failed", str(exc)
        if remote is not None and sha256 is not None:
            sources.ledger_record(conn, cfg.config_id, remote, sha256, "failed", sync_id)
        return outcome
    except Exception as exc:
        outcome.status = "failed"
        outcome.message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        raise
    finally:
        outcome.timings.setdefault("fetch", round(time.perf_counter() - started, 4))
        if outcome.status in ("failed", "needs_review") and not outcome.message:
            outcome.message = "the sync failed"
        with _timed(outcome, "record"):
            _finish_history(
                conn, outcome, started=started, total_rows=total_rows, sha256=sha256, errors=errors
            )
            configs.record_outcome(conn, cfg, outcome.status, now)
        log.info(
            "budget sync %s for %s: %s. %s (%s)",
            sync_id,
            cfg.customer_id,
            outcome.status,
            outcome.message,
            describe_timings(outcome.timings),
        )


def _understand_and_import(
    conn,
    cfg: SourceConfig,
    outcome: SyncOutcome,
    local: Path,
    errors: list[dict],
    confirmed_mapping,
    confirmed_by,
    approve_mass_deletion: bool,
    work_dir: Path,
    scenario: str | None = None,
) -> None:
    with _timed(outcome, "imports"):  # pandas and pyarrow: paid once per process
        from finsync.budget import detect, mapping, parse, quality  # noqa: F401
        from finsync.budget.budgets import to_budgets

    with _timed(outcome, "parse"):
        parsed = parse.parse_file(
            local,
            sheet=cfg.source_config.get("sheet"),
            header_row=cfg.source_config.get("header_row"),
        )
    with _timed(outcome, "detect"):
        guess = detect.detect_file_type(parsed)
    if guess.file_type != "budget":
        if guess.file_type in PERSONAL_DATA_TYPES:
            local.unlink(missing_ok=True)  # personal data: no copy kept
        outcome.status = "failed"
        outcome.message = (
            f"{outcome.file_name} looks like a {guess.file_type} file, not a budget "
            f"(confidence {guess.confidence:.2f}: {'; '.join(guess.reasons)}); nothing was "
            "imported and the previous budgets stay in force"
        )
        return
    with _timed(outcome, "map"):
        headers = mapping.headers_signature(parsed)
        saved = cfg.column_mapping if confirmed_mapping is None else confirmed_mapping
        learned = configs.learned_evidence(conn) if cfg.share_mappings else None
        column_map = mapping.map_columns(parsed, confirmed=saved, learned=learned)
        problems = mapping.needs_review(column_map, parsed.layout)
    if problems and confirmed_mapping is None:
        outcome.status = "needs_review"
        outcome.message = (
            f"the column mapping of {outcome.file_name} needs a person: {'; '.join(problems)}. "
            "Confirm or correct it in the Airflow UI (Required actions); nothing was imported"
        )
        outcome.review = {
            "kind": "mapping",
            "headers": headers,
            "layout": parsed.layout,
            "proposal": column_map.as_json(),
        }
        return
    preferred = scenario or cfg.source_config.get("scenario")
    budgets = to_budgets(
        parsed,
        column_map,
        fiscal_year_start_month=cfg.fiscal_year_start_month,
        default_currency=cfg.default_currency,
        scenario=preferred,
        sum_duplicates=cfg.source_config.get("duplicates") == "sum",
        timed=lambda step: _timed(outcome, step),
    )
    del parsed  # the file's table is not needed any more (peak memory)
    report = budgets.report
    outcome.grain = report.as_json()
    if budgets.problem is not None:
        outcome.status = "needs_review"
        outcome.message = (
            f"{outcome.file_name}: {budgets.problem}; nothing was imported and the previous "
            "budgets stay in force"
        )
        outcome.review = {
            "kind": "scenario",
            "column": budgets.scenario.column,
            "values": budgets.scenario.values,
        }
        return
    saved_columns = {f: (cfg.column_mapping or {}).get(f) for f in column_map.columns()}
    if confirmed_mapping is not None or saved_columns != column_map.columns():
        who = confirmed_by or "system:auto (every field above the confidence bar)"
        configs.save_confirmed_mapping(conn, cfg.config_id, headers, column_map.columns(), who)
    for warning in report.warnings:
        log.warning("%s: %s", outcome.file_name, warning)
    normalised, total, columns = budgets.rows, budgets.total_rows, column_map.columns()
    # PostgreSQL stages, diffs and applies the rows (in the import's transaction, on a worker
    # thread, nothing committed) while Python gates them, expecting the usual verdict: every
    # row passes (a success, so budgets the file misses are soft-deleted, unless normalise
    # already rejected rows). The gate's actual verdict then decides what is committed.
    staging = None
    if len(normalised.frame):
        staging = StagedImport(
            conn,
            customer_id=cfg.customer_id,
            sync_id=outcome.sync_id,
            rows=normalised.frame,
            source=outcome.file_name,
            expect=Options(
                max_soft_delete_pct=cfg.max_soft_delete_pct,
                soft_delete=not normalised.errors,
                force=approve_mass_deletion,
            ),
        )
    try:
        counts, decision, error_rows = _gate_and_import(
            conn,
            cfg,
            outcome,
            normalised,
            columns,
            total,
            errors,
            staging,
            approve_mass_deletion,
            work_dir,
        )
    finally:
        if staging is not None:
            staging.cancel()  # a no-op once finished; else nothing is written
            outcome.timings.update({k: round(v, 4) for k, v in staging.timings.items()})
    if counts is None:
        return
    outcome.counts.update(counts.as_dict())
    outcome.status = decision
    outcome.message = (
        f"{outcome.file_name}: {counts.created} created, {counts.updated} updated, "
        f"{counts.unchanged} unchanged, {counts.soft_deleted} soft-deleted, "
        f"{counts.restored} restored"
        + (f"; {report.describe()}" if report.summed_budgets or report.scenario else "")
        + (
            f"; {error_rows} row(s) rejected, soft-deletes skipped (partial)"
            if decision == "partial"
            else ""
        )
    )


def _gate_and_import(
    conn,
    cfg: SourceConfig,
    outcome: SyncOutcome,
    normalised,
    columns: dict[str, str | None],
    total: int,
    errors: list[dict],
    staging: StagedImport | None,
    approve_mass_deletion: bool,
    work_dir: Path,
):
    """The gate, the decision and the import: (counts, decision, rejected rows), counts None
    when nothing was imported (the outcome says why)."""
    from finsync import gate
    from finsync.budget import quality

    with _timed(outcome, "gate_setup"):  # import great_expectations: once per process
        gate.prepare()
    with _timed(outcome, "gate"):
        gated = quality.check(normalised.frame, columns=columns)
    row_errors = normalised.errors + gated.errors
    errors.extend(e.as_dict() for e in row_errors)
    error_rows = len({e.row for e in row_errors})
    outcome.error_count = len(row_errors)
    decision = quality.decide(total, error_rows, cfg.error_tolerance_pct)
    if row_errors:
        reject = work_dir / "rejects" / f"sync_{outcome.sync_id}_rejects.csv"
        reject.parent.mkdir(parents=True, exist_ok=True)
        outcome.reject_file = str(quality.write_reject_file(row_errors, reject))
    outcome.counts["total_rows"] = total
    if decision == "failed":
        outcome.status = "failed"
        outcome.message = (
            f"{error_rows} of {total} row(s) of {outcome.file_name} were rejected (tolerance "
            f"{cfg.error_tolerance_pct:g} %); nothing was imported and the previous budgets stay "
            "in force. Every rejected row is listed in sync_history.errors and the reject file"
        )
        return None, decision, error_rows
    options = Options(
        max_soft_delete_pct=cfg.max_soft_delete_pct,
        soft_delete=decision == "success",
        force=approve_mass_deletion,
    )
    try:
        if staging is not None:
            counts = staging.finish(rows=gated.valid, lines=gated.lines, options=options)
        else:
            counts = import_budgets(
                conn,
                customer_id=cfg.customer_id,
                sync_id=outcome.sync_id,
                rows=gated.valid,
                source=outcome.file_name,
                timings=outcome.timings,
                max_soft_delete_pct=options.max_soft_delete_pct,
                soft_delete=options.soft_delete,
                force=options.force,
            )
    except MassDeletionError as exc:
        outcome.status, outcome.message = "needs_review", str(exc)
        outcome.review = {
            "kind": "mass_deletion",
            "would_delete": exc.would_delete,
            "active": exc.active,
            "limit_pct": exc.limit_pct,
        }
        return None, decision, error_rows
    return counts, decision, error_rows
