"""The planning SQL's structure: final selects named after their target columns, shared rules
inlined by the planner, the SQL fiscal calendar the same as fiscal.py's."""

import re
from datetime import date

import psycopg
import pytest

from finsync import fiscal, sql
from finsync.planning.sync import compliance, financials
from tests.dags.test_dag_integrity import PARAMS

LEVEL_FILES = [
    (sync.area, level.sql_file) for sync in (financials(), compliance()) for level in sync.levels
]
INSERT = re.compile(r"^insert into [\w.]+ \((?P<columns>[^)]*)\)\n(?P<query>with\b.*)", re.M | re.S)


def _insert(area: str, name: str) -> tuple[list[str], str]:
    found = INSERT.search(sql.load(area, name))
    assert found, f"{area}/{name}: no `insert into t (columns) with ...` statement"
    return re.split(r"\s*,\s*", found["columns"].strip()), found["query"]


@pytest.mark.parametrize(("area", "name"), LEVEL_FILES, ids=lambda x: x)
def test_final_select_names_each_target_column_in_order(area, name, warehouse):
    """Positional INSERT ... SELECT is safe only if the i-th expression is the i-th column:
    every expression carries its column's name, and the names match the list in order."""
    columns, query = _insert(area, name)
    with psycopg.connect(warehouse) as conn:
        cur = conn.execute(f"select * from ({query}) as q limit 0", PARAMS)
        assert [d.name for d in cur.description] == columns


def test_rules_are_immutable_parallel_safe_and_inlined(warehouse):
    with psycopg.connect(warehouse) as conn:
        rules = conn.execute(
            "select p.proname, p.provolatile, p.proparallel, p.proisstrict, p.prolang = "
            "(select oid from pg_language where lanname = 'sql') from pg_proc as p "
            "join pg_namespace as n on n.oid = p.pronamespace where n.nspname = 'finsync_rules'"
        ).fetchall()
        assert len(rules) >= 10
        for name, volatility, parallel, strict, is_sql in rules:
            assert (volatility, parallel, strict, is_sql) == ("i", "s", False, True), name
        used = set()
        for area, name in LEVEL_FILES:
            text = sql.load(area, name)
            used |= set(re.findall(r"finsync_rules\.(\w+)\(", text))
            plan = "\n".join(
                r[0] for r in conn.execute("explain (verbose) " + text, PARAMS).fetchall()
            )
            # Inlined: the plan shows the rule's expression, never a call to the function.
            assert "finsync_rules." not in plan, f"{area}/{name}: a rule was not inlined"
        assert used >= {r[0] for r in rules} - {"fiscal_month"}  # fiscal_quarter calls it
        conn.rollback()


@pytest.mark.parametrize("start", range(1, 13))
def test_sql_fiscal_month_and_quarter_follow_fiscal_py(start, warehouse):
    """Every month of fiscal year 2026 (its first and 28th day), for every start month."""
    year_start = fiscal.year_bounds(2026, start)[0]
    first = year_start.year * 12 + year_start.month - 1
    days = [date((first + m) // 12, (first + m) % 12 + 1, d) for m in range(12) for d in (1, 28)]
    with psycopg.connect(warehouse) as conn:
        rows = conn.execute(
            "select d, finsync_rules.fiscal_month(d, %s), finsync_rules.fiscal_quarter(d, %s) "
            "from unnest(%s::date[]) as d",
            (year_start, year_start, days),
        ).fetchall()
    assert len(rows) == 24
    for day, month, quarter in rows:
        assert month == fiscal.fiscal_month_of(day, start), day
        assert quarter == (month - 1) // 3 + 1, day
