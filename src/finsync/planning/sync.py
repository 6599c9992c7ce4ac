"""A planning sync as data (its SQL area, source tables, levels, targets, gate) and its steps.

The steps are PlanningSync's methods, each taking the warehouse connection and the run:
`start` (clean this run's staging, check the sources), `stage_level`, `validate`, `publish`,
`finish` (the summary) and `cleanup`. The DAG tasks call them one per task
(planning/airflow_steps.py); `run_all` calls them in order in one process (CLI, benchmarks,
tests), so every caller runs exactly the same code.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from finsync.planning import common
from finsync.planning.common import PlanningRun
from finsync.publish import Target

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Level:
    """One level of a roll-up: the SQL file that stages it and the staging table it fills."""

    name: str
    sql_file: str
    stage_table: str
    keys: tuple[str, ...]  # the level's own key columns besides fiscal_year (none for APAC)
    parent_key: str | None  # the column of the level below that groups into this level

    @property
    def key(self) -> str | None:
        """The single key the reconciliation groups by (None for APAC or a compound key)."""
        return self.keys[0] if len(self.keys) == 1 else None


@dataclass(frozen=True)
class PlanningSync:
    name: str
    area: str  # include/sql/<area>: 00_check_sources.sql and the levels' files
    source_tables: tuple[str, ...]  # must exist before anything runs
    levels: tuple[Level, ...]
    targets: tuple[Target, ...]
    gate: Callable[[psycopg.Connection, PlanningRun], dict]  # raises GateError
    summarize: Callable[[psycopg.Connection, PlanningRun], tuple[dict, dict]]

    @property
    def stage_tables(self) -> list[str]:
        return [level.stage_table for level in self.levels]

    def level(self, name: str) -> Level:
        for level in self.levels:
            if level.name == name:
                return level
        raise KeyError(f"{self.name} has no level {name!r}")

    def start(self, conn: psycopg.Connection, run: PlanningRun) -> None:
        """Forget a previous try's staging, then check the sources (SourceDataError)."""
        log.info(
            "%s for fiscal year %s as of %s (fiscal year starts in month %s)%s",
            self.name,
            run.fiscal_year,
            run.as_of_date,
            run.start_month,
            ", DRY RUN: nothing will be written to the targets" if run.dry_run else "",
        )
        self.cleanup(conn, run.run_id)
        common.require_tables(conn, self.source_tables)
        common.check_sources(conn, self.area, run)

    def stage_level(self, conn: psycopg.Connection, run: PlanningRun, level_name: str) -> int:
        level = self.level(level_name)
        return common.stage(conn, self.area, level.sql_file, level.stage_table, run)

    def validate(self, conn: psycopg.Connection, run: PlanningRun) -> dict:
        """The Great Expectations gate over every staged level: rows per level, or GateError."""
        return self.gate(conn, run)

    def publish(self, conn: psycopg.Connection, run: PlanningRun) -> dict:
        return common.publish(conn, self.targets, run)

    def finish(self, conn: psycopg.Connection, run: PlanningRun, tables: dict) -> dict:
        """The run summary, logged and returned (shown as the task's XCom in the UI)."""
        metrics, notes = self.summarize(conn, run)
        summary = {
            "sync": self.name,
            "fiscal_year": run.fiscal_year,
            "as_of_date": run.as_of_date.isoformat(),
            "dry_run": run.dry_run,
            "duration_s": round(time.time() - run.started_at, 2),
            "tables": {t.table: tables[t.table] for t in self.targets if t.table in tables},
            "metrics": metrics,
            "notes": notes,
        }
        title = f"{self.name} summary" + (" (dry run: nothing written)" if run.dry_run else "")
        log.info("\n%s", common.format_summary(title, summary))
        return summary

    def cleanup(self, conn: psycopg.Connection, run_id: str) -> None:
        common.cleanup(conn, self.stage_tables, run_id)


def run_all(sync: PlanningSync, conn: psycopg.Connection, run: PlanningRun) -> dict:
    """Every step in order in this process; returns the summary. Staging is cleaned on failure."""
    timings: dict[str, float] = {}
    try:
        t = time.perf_counter()
        sync.start(conn, run)
        timings["check_sources"] = time.perf_counter() - t
        for level in sync.levels:
            t = time.perf_counter()
            sync.stage_level(conn, run, level.name)
            timings[level.name] = time.perf_counter() - t
        t = time.perf_counter()
        sync.validate(conn, run)
        timings["validate"] = time.perf_counter() - t
        t = time.perf_counter()
        tables = sync.publish(conn, run)
        timings["publish"] = time.perf_counter() - t
        summary = sync.finish(conn, run, tables)
    finally:
        sync.cleanup(conn, run.run_id)
    summary["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
    return summary


def financials() -> PlanningSync:
    from finsync.planning import financials as f

    return PlanningSync(
        name="planning_financials_sync",
        area=f.AREA,
        source_tables=f.SOURCE_TABLES,
        levels=f.LEVELS,
        targets=f.TARGETS,
        gate=f.validate,
        summarize=f.summary_metrics,
    )


def compliance() -> PlanningSync:
    from finsync.planning import compliance as c

    return PlanningSync(
        name="planning_compliance_sync",
        area=c.AREA,
        source_tables=c.SOURCE_TABLES,
        levels=c.LEVELS,
        targets=c.TARGETS,
        gate=c.validate,
        summarize=c.summary_metrics,
    )
