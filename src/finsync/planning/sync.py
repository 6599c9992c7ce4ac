"""A planning sync as data (its SQL area, levels, targets, gate) and the steps that run it.

The DAG tasks call `start`, `stage_level`, `validate`, `publish` and `finish` with the
warehouse connection; `run_all` runs the same steps in one process (CLI, benchmarks).
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
class PlanningSync:
    name: str
    area: str
    levels: tuple  # objects with .name, .sql_file, .stage_table
    targets: tuple[Target, ...]
    check: Callable[[psycopg.Connection, PlanningRun], None]
    validate: Callable[[psycopg.Connection, PlanningRun], dict]
    summarize: Callable[[psycopg.Connection, PlanningRun], tuple[dict, dict]]

    @property
    def stage_tables(self) -> list[str]:
        return [level.stage_table for level in self.levels]

    def level(self, name: str):
        for level in self.levels:
            if level.name == name:
                return level
        raise KeyError(f"{self.name} has no level {name!r}")


def start(sync: PlanningSync, conn: psycopg.Connection, run: PlanningRun) -> None:
    log.info(
        "%s for fiscal year %s as of %s (fiscal year starts in month %s)%s",
        sync.name,
        run.fiscal_year,
        run.as_of_date,
        run.start_month,
        ", DRY RUN: nothing will be written to the targets" if run.dry_run else "",
    )
    common.cleanup(conn, sync.stage_tables, run.run_id)
    sync.check(conn, run)


def stage_level(
    sync: PlanningSync, conn: psycopg.Connection, run: PlanningRun, level_name: str
) -> int:
    level = sync.level(level_name)
    return common.stage(conn, sync.area, level.sql_file, level.stage_table, run)


def validate(sync: PlanningSync, conn: psycopg.Connection, run: PlanningRun) -> dict:
    return sync.validate(conn, run)


def publish(sync: PlanningSync, conn: psycopg.Connection, run: PlanningRun) -> dict:
    return common.publish(conn, sync.targets, run)


def finish(sync: PlanningSync, conn: psycopg.Connection, run: PlanningRun, tables: dict) -> dict:
    """The run summary, logged and returned (shown as the task's XCom in the UI)."""
    metrics, notes = sync.summarize(conn, run)
    summary = {
        "sync": sync.name,
        "fiscal_year": run.fiscal_year,
        "as_of_date": run.as_of_date.isoformat(),
        "dry_run": run.dry_run,
        "duration_s": round(time.time() - run.started_at, 2),
        "tables": {t.table: tables[t.table] for t in sync.targets if t.table in tables},
        "metrics": metrics,
        "notes": notes,
    }
    title = f"{sync.name} summary" + (" (dry run: nothing written)" if run.dry_run else "")
    log.info("\n%s", common.format_summary(title, summary))
    return summary


def run_all(sync: PlanningSync, conn: psycopg.Connection, run: PlanningRun) -> dict:
    """Every step in order in this process; returns the summary. Staging is cleaned on failure."""
    timings: dict[str, float] = {}
    try:
        t = time.perf_counter()
        start(sync, conn, run)
        timings["check_sources"] = time.perf_counter() - t
        for level in sync.levels:
            t = time.perf_counter()
            stage_level(sync, conn, run, level.name)
            timings[level.name] = time.perf_counter() - t
        t = time.perf_counter()
        validate(sync, conn, run)
        timings["validate"] = time.perf_counter() - t
        t = time.perf_counter()
        tables = publish(sync, conn, run)
        timings["publish"] = time.perf_counter() - t
        summary = finish(sync, conn, run, tables)
    finally:
        common.cleanup(conn, sync.stage_tables, run.run_id)
    summary["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
    return summary


def financials() -> PlanningSync:
    from finsync.planning import financials as f

    return PlanningSync(
        name="planning_financials_sync",
        area=f.AREA,
        levels=f.LEVELS,
        targets=f.TARGETS,
        check=f.check,
        validate=f.validate,
        summarize=f.summary_metrics,
    )


def compliance() -> PlanningSync:
    from finsync.planning import compliance as c

    return PlanningSync(
        name="planning_compliance_sync",
        area=c.AREA,
        levels=c.LEVELS,
        targets=c.TARGETS,
        check=c.check,
        validate=c.validate,
        summarize=c.summary_metrics,
    )
