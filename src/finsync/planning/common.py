"""What both planning syncs share: the run's period, source checks, staging, publishing.

Each step is a plain function of a psycopg connection and a PlanningRun, so the DAGs, the
CLI, the tests and the benchmarks run exactly the same code.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime

import psycopg
from psycopg import sql as psql

from finsync import fiscal, sql
from finsync.publish import Counts, Target, apply_changes, count_changes
from finsync.warehouse import one

log = logging.getLogger(__name__)


class SourceDataError(ValueError):
    """Source rows break the finance data contract; nothing was written."""


@dataclass(frozen=True)
class PlanningRun:
    """One run: its id, the period it computes (resolved once, when the run starts, and kept
    from task to task through XCom), dry run or not, and when it started."""

    run_id: str
    period: fiscal.RunPeriod
    dry_run: bool
    started_at: float

    @property
    def fiscal_year(self) -> int:
        return self.period.fiscal_year

    @property
    def as_of_date(self) -> date:
        return self.period.as_of_date

    @property
    def start_month(self) -> int:
        return self.period.start_month

    def sql_params(self) -> dict[str, object]:
        return {"run_id": self.run_id, **self.period.sql_params()}

    def to_xcom(self) -> dict[str, object]:
        """Plain JSON for the next tasks (XCom)."""
        period = {
            k: v.isoformat() if isinstance(v, date) else v for k, v in asdict(self.period).items()
        }
        return {
            "run_id": self.run_id,
            "period": period,
            "dry_run": self.dry_run,
            "started_at": self.started_at,
        }

    @classmethod
    def from_xcom(cls, data: dict) -> PlanningRun:
        p = data["period"]
        period = fiscal.RunPeriod(
            fiscal_year=p["fiscal_year"],
            as_of_date=date.fromisoformat(p["as_of_date"]),
            start_month=p["start_month"],
            year_start=date.fromisoformat(p["year_start"]),
            year_end=date.fromisoformat(p["year_end"]),
        )
        return cls(data["run_id"], period, data["dry_run"], data["started_at"])


def resolve_run(
    run_id: str,
    params: dict,
    logical_date: datetime | date | None,
    start_month: int | None = None,
) -> PlanningRun:
    """The run's fiscal year N and as-of date D per the contract (see fiscal.resolve_period)."""
    month = fiscal.start_month() if start_month is None else start_month
    period = fiscal.resolve_period(
        params.get("fiscal_year"),
        params.get("as_of_date"),
        logical_date or datetime.now().date(),
        month,
    )
    return PlanningRun(
        run_id=run_id,
        period=period,
        dry_run=bool(params.get("dry_run", False)),
        started_at=time.time(),
    )


def require_tables(conn: psycopg.Connection, tables: Sequence[str]) -> None:
    missing = [
        t
        for t in tables
        if one(conn.execute("select to_regclass(%s)", (f"public.{t}",)))[0] is None
    ]
    if missing:
        raise SourceDataError(
            f"source table(s) missing from the warehouse: {', '.join(missing)}. "
            "Create them (or run `finsync db migrate`) and load the data, then re-run."
        )


def check_sources(conn: psycopg.Connection, area: str, run: PlanningRun) -> None:
    """Run include/sql/<area>/00_check_sources.sql; raise naming every broken rule."""
    started = time.perf_counter()
    rows = conn.execute(sql.load(area, "00_check_sources.sql"), run.sql_params()).fetchall()
    log.info(
        "checked source rows in %.2f s: %d rule(s) broken", time.perf_counter() - started, len(rows)
    )
    if rows:
        lines = [
            f"  - {table}: {count} row(s) break '{rule}', e.g. {'; '.join(examples)}"
            for table, rule, count, examples in rows
        ]
        raise SourceDataError(
            f"source rows for fiscal year {run.fiscal_year} break the finance data contract; "
            "nothing was written:\n" + "\n".join(lines)
        )


def stage(
    conn: psycopg.Connection, area: str, sql_file: str, stage_table: str, run: PlanningRun
) -> int:
    """Compute one level into finsync_stage.<stage_table> for this run (replaces a retry's rows)."""
    started = time.perf_counter()
    table = psql.Identifier("finsync_stage", stage_table)
    with conn.transaction():
        conn.execute(psql.SQL("delete from {} where run_id = %s").format(table), (run.run_id,))
        rows = conn.execute(sql.load(area, sql_file), run.sql_params()).rowcount
    conn.execute(psql.SQL("analyze {}").format(table))
    log.info(
        "%s: staged %d row(s) into %s in %.2f s",
        sql_file,
        rows,
        stage_table,
        time.perf_counter() - started,
    )
    return rows


def fetch_frame(conn: psycopg.Connection, query: psql.Composed | psql.SQL | str, params: dict):
    """A query's rows as a pandas DataFrame (numeric columns as float for the gate)."""
    import pandas as pd

    with conn.cursor() as cur:
        cur.execute(query, params)
        columns = [d.name for d in cur.description or ()]
        frame = pd.DataFrame(cur.fetchall(), columns=columns)
    return frame


def reconciliation_query(
    lower, upper, columns: Sequence[str], lower_sums: Mapping[str, str] | None = None
) -> psql.Composed:
    """Rows (key, column, expected, actual) comparing a level with the sum of the level below.

    `lower`/`upper` are levels (`.stage_table`, `.key`, `.parent_key`; key None = the region);
    `columns` are the additive columns both levels carry; `lower_sums` gives, per column, the
    SQL expression a lower row contributes instead of the column itself (e.g. "1" for a count
    of rows). Expressions come from code, never from data.
    """
    lower_sums = lower_sums or {}
    lower_table = psql.Identifier("finsync_stage", lower.stage_table)
    upper_table = psql.Identifier("finsync_stage", upper.stage_table)
    group = psql.Identifier(upper.parent_key) if upper.parent_key else psql.SQL("'APAC'")
    upper_key = psql.Identifier(upper.key) if upper.key else psql.SQL("'APAC'")
    sums = []
    for column in columns:
        if column in lower_sums:
            expression = psql.SQL(f"sum({lower_sums[column]})")
            sums.append(expression + psql.SQL(" as ") + psql.Identifier(column))
        else:
            sums.append(psql.SQL("sum({c}) as {c}").format(c=psql.Identifier(column)))
    values = psql.SQL(", ").join(
        psql.SQL("({name}, l.{c}::numeric, u.{c}::numeric)").format(
            name=psql.Literal(c), c=psql.Identifier(c)
        )
        for c in columns
    )
    return psql.SQL(
        """
        with
        lower_sums as (
            select {group} as key, {sums} from {lower_table} where run_id = %(run_id)s group by 1
        ),
        upper_rows as (select {upper_key} as key, * from {upper_table} where run_id = %(run_id)s)
        select
            coalesce(u.key, l.key) as key,
            x.column_name,
            x.expected,
            x.actual,
            u.key is not null as present,
            coalesce(x.expected, 0) - coalesce(x.actual, 0) as difference
        from upper_rows as u
        full join lower_sums as l on l.key = u.key
        cross join lateral (values {values}) as x (column_name, expected, actual)
        """
    ).format(
        group=group,
        sums=psql.SQL(", ").join(sums),
        lower_table=lower_table,
        upper_key=upper_key,
        upper_table=upper_table,
        values=values,
    )


def reconcile(
    conn: psycopg.Connection,
    lower,
    upper,
    columns: Sequence[str],
    params: dict,
    lower_sums: Mapping[str, str] | None = None,
) -> list:
    """The gate's reconciliation of one level with the level below: every additive column
    equals the sum below, exactly, and every group below has its row above (GateFailures)."""
    from finsync.gate import Check
    from finsync.gate import run as run_gate

    recon = fetch_frame(conn, reconciliation_query(lower, upper, columns, lower_sums), params)
    recon["difference"] = recon["difference"].astype(float)
    return run_gate(
        f"{upper.name}_reconciles_with_{lower.name}",
        recon,
        [
            Check("between", "difference", {"min_value": 0, "max_value": 0}),
            Check("in_set", "present", {"value_set": [True]}),
        ],
        ["key", "column_name", "expected", "actual"],
    )


def publish(
    conn: psycopg.Connection, targets: Sequence[Target], run: PlanningRun
) -> dict[str, dict[str, int]]:
    """Publish every target in one transaction under the fiscal year's advisory lock.

    Both planning syncs take the same lock for a fiscal year, so their writes to the shared
    tables never interleave. In a dry run the same diff is counted and nothing is written.
    """
    started = time.perf_counter()
    results: dict[str, Counts] = {}
    with conn.transaction():
        conn.execute("set local work_mem = '256MB'")
        conn.execute(
            "select pg_advisory_xact_lock(hashtextextended('finsync.planning.' || %s::text, 0))",
            (run.fiscal_year,),
        )
        for target in targets:
            step = count_changes if run.dry_run else apply_changes
            results[target.table] = step(conn, target, run.run_id, run.fiscal_year)
    verb = "would publish" if run.dry_run else "published"
    for table, counts in results.items():
        log.info(
            "%s %s: %d inserted, %d updated, %d unchanged, %d deleted",
            verb,
            table,
            counts.inserted,
            counts.updated,
            counts.unchanged,
            counts.deleted,
        )
    log.info("publish took %.2f s", time.perf_counter() - started)
    return {table: counts.as_dict() for table, counts in results.items()}


def cleanup(conn: psycopg.Connection, stage_tables: Sequence[str], run_id: str) -> None:
    with conn.transaction():
        for table in stage_tables:
            conn.execute(
                psql.SQL("delete from {} where run_id = %s").format(
                    psql.Identifier("finsync_stage", table)
                ),
                (run_id,),
            )


def format_summary(title: str, summary: dict) -> str:
    """The run summary as aligned text for the task log."""
    lines = [title, "=" * len(title)]
    for key in ("fiscal_year", "as_of_date", "dry_run", "duration_s"):
        lines.append(f"{key:<28}{summary.get(key)}")
    lines.append("")
    lines.append(f"{'table':<34}{'inserted':>10}{'updated':>10}{'unchanged':>11}{'deleted':>9}")
    for table, c in summary.get("tables", {}).items():
        lines.append(
            f"{table:<34}{c['inserted']:>10}{c['updated']:>10}{c['unchanged']:>11}{c['deleted']:>9}"
        )
    lines.append("")
    for key, value in summary.get("metrics", {}).items():
        lines.append(f"{key:<28}{value}")
    for key, value in summary.get("notes", {}).items():
        lines.append(f"{key:<28}{value}")
    return "\n".join(lines)
