"""Publish staged rows into a target table: the write-audit-publish "publish" step.

Diff first, then write only what changed: rows whose owned columns are unchanged are not
touched (no new `synced_at`) and are counted as unchanged; rows of the run's slice (e.g. its
fiscal year) that the run no longer produces are deleted, or, in a table shared with another
sync, have this sync's columns cleared. A target's owned columns are the columns of its
staging table (minus `run_id`); identifiers come from code and the catalog, never from data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg import sql

from finsync.warehouse import one


@dataclass(frozen=True)
class Target:
    table: str  # public.<table>
    stage_table: str  # finsync_stage.<stage_table>
    keys: tuple[str, ...]
    slice_column: str = "fiscal_year"  # the run owns the rows with slice_column = its value
    shared: bool = False  # another sync owns other columns of the same rows
    stamp_columns: tuple[str, ...] = ("synced_at",)  # set to now() when a row changes


@dataclass
class Counts:
    staged: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def owned_columns(conn: psycopg.Connection, target: Target) -> list[str]:
    rows = conn.execute(
        """
        select column_name from information_schema.columns
        where table_schema = 'finsync_stage' and table_name = %s and column_name <> 'run_id'
        order by ordinal_position
        """,
        (target.stage_table,),
    ).fetchall()
    if not rows:
        raise RuntimeError(
            f"staging table finsync_stage.{target.stage_table} is missing: run `finsync db migrate`"
        )
    return [r[0] for r in rows if r[0] not in target.keys]


def _parts(conn: psycopg.Connection, target: Target) -> dict[str, Any]:
    """The statements' identifiers and fragments, and `values`: the owned columns' names."""
    values = owned_columns(conn, target)
    t_cols = sql.SQL(", ").join(sql.SQL("t.") + sql.Identifier(c) for c in values)
    s_cols = sql.SQL(", ").join(sql.SQL("s.") + sql.Identifier(c) for c in values)
    return {
        "target": sql.Identifier("public", target.table),
        "stage": sql.Identifier("finsync_stage", target.stage_table),
        "join": sql.SQL(" and ").join(
            sql.SQL("t.{k} = s.{k}").format(k=sql.Identifier(k)) for k in target.keys
        ),
        "first_key": sql.Identifier(target.keys[0]),
        "slice": sql.Identifier(target.slice_column),
        "changed": sql.SQL("row({}) is distinct from row({})").format(t_cols, s_cols),
        "values": values,
    }


def count_changes(conn: psycopg.Connection, target: Target, run_id: str, slice_value) -> Counts:
    """What publishing would do, without writing (the dry run)."""
    p = _parts(conn, target)
    row = one(
        conn.execute(
            sql.SQL(
                """
            select
                count(*),
                count(*) filter (where t.{first_key} is null),
                count(*) filter (where t.{first_key} is not null and {changed})
            from {stage} as s
            left join {target} as t on {join}
            where s.run_id = %(run_id)s
            """
            ).format(**p),
            {"run_id": run_id},
        )
    )
    staged, inserted, updated = row
    stale = one(
        conn.execute(_stale_query(p, target, count_only=True), _slice_args(run_id, slice_value))
    )[0]
    return Counts(staged, inserted, updated, staged - inserted - updated, stale)


def apply_changes(conn: psycopg.Connection, target: Target, run_id: str, slice_value) -> Counts:
    """Publish inside the caller's transaction; the counts of what changed."""
    p = _parts(conn, target)
    stamps = [sql.Identifier(c) for c in target.stamp_columns]
    assignments = sql.SQL(", ").join(
        [sql.SQL("{c} = s.{c}").format(c=sql.Identifier(c)) for c in p["values"]]
        + [sql.SQL("{} = now()").format(c) for c in stamps]
    )
    updated = conn.execute(
        sql.SQL(
            """
            update {target} as t set {assignments}
            from {stage} as s
            where s.run_id = %(run_id)s and {join} and {changed}
            """
        ).format(assignments=assignments, **p),
        {"run_id": run_id},
    ).rowcount
    columns = [sql.Identifier(c) for c in (*target.keys, *p["values"])]
    inserted = conn.execute(
        sql.SQL(
            """
            insert into {target} ({columns}, {stamps})
            select {s_columns}, {nows}
            from {stage} as s
            where s.run_id = %(run_id)s
                and not exists (select 1 from {target} as t where {join})
            """
        ).format(
            columns=sql.SQL(", ").join(columns),
            stamps=sql.SQL(", ").join(stamps),
            s_columns=sql.SQL(", ").join(sql.SQL("s.") + c for c in columns),
            nows=sql.SQL(", ").join(sql.SQL("now()") for _ in stamps),
            **p,
        ),
        {"run_id": run_id},
    ).rowcount
    deleted = conn.execute(
        _stale_query(p, target, count_only=False, stamps=stamps), _slice_args(run_id, slice_value)
    ).rowcount
    staged = one(
        conn.execute(
            sql.SQL("select count(*) from {stage} where run_id = %s").format(stage=p["stage"]),
            (run_id,),
        )
    )[0]
    return Counts(staged, inserted, updated, staged - inserted - updated, deleted)


def _slice_args(run_id: str, slice_value) -> dict[str, object]:
    return {"run_id": run_id, "slice_value": slice_value}


def _stale_query(p: dict, target: Target, *, count_only: bool, stamps=()) -> sql.Composed:
    """Rows of the run's slice that the run did not produce."""
    not_staged = sql.SQL(
        "t.{slice} = %(slice_value)s and not exists "
        "(select 1 from {stage} as s where s.run_id = %(run_id)s and {join})"
    ).format(**p)
    if target.shared:
        # Clear this sync's columns only; the other sync's figures stay.
        owned_not_null = sql.SQL(" or ").join(
            sql.SQL("t.{} is not null").format(sql.Identifier(c)) for c in p["values"]
        )
        where = sql.SQL("{} and ({})").format(not_staged, owned_not_null)
        if count_only:
            return sql.SQL("select count(*) from {target} as t where {where}").format(
                where=where, **p
            )
        assignments = sql.SQL(", ").join(
            [sql.SQL("{} = null").format(sql.Identifier(c)) for c in p["values"]]
            + [sql.SQL("{} = now()").format(c) for c in stamps]
        )
        return sql.SQL("update {target} as t set {a} where {where}").format(
            a=assignments, where=where, **p
        )
    if count_only:
        return sql.SQL("select count(*) from {target} as t where {w}").format(w=not_staged, **p)
    return sql.SQL("delete from {target} as t where {w}").format(w=not_staged, **p)
