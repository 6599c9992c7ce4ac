"""The warehouse's CHECK constraints name the same codes as their owners in the code.

Applied migrations are immutable, so a code list in a CHECK constraint is a second copy of
the owner's (budget/settings.FREQUENCIES, budget/model.SYNC_STATUSES, the sources' registry).
A new frequency, status or source type without the migration that widens the constraint
would be refused by the database at the first write; these tests fail first. Likewise the
budget's period and currency rules (migration 018 writes them without regular expressions)
must accept exactly what the gate's patterns accept.
"""

from __future__ import annotations

import itertools
import re

import pytest

from finsync.api.schemas import CURRENCY
from finsync.budget.model import SYNC_STATUSES
from finsync.budget.quality import PERIOD_PATTERN
from finsync.budget.settings import FREQUENCIES
from finsync.budget.sources import LEDGER_STATUSES, SOURCE_TYPES


def _definition(conn, table: str, column: str) -> str:
    """The one CHECK constraint on `table` that names `column` (`CHECK (...)`)."""
    definitions = [
        row[0]
        for row in conn.execute(
            "select pg_get_constraintdef(oid) from pg_constraint "
            "where conrelid = %s::regclass and contype = 'c'",
            (table,),
        )
        if re.search(rf"\b{column}\b", row[0])
    ]
    assert len(definitions) == 1, (table, column, definitions)
    return definitions[0]


def _allowed(conn, table: str, column: str) -> set[str]:
    """The quoted values of the one CHECK constraint on `table` that names `column`."""
    return set(re.findall(r"'([^']*)'::text", _definition(conn, table, column)))


@pytest.mark.parametrize(
    ("table", "column", "owner"),
    [
        ("budget_data_source_config", "frequency", set(FREQUENCIES)),
        ("budget_data_source_config", "source_type", set(SOURCE_TYPES)),
        ("sync_history", "status", set(SYNC_STATUSES)),
    ],
)
def test_a_check_constraint_allows_exactly_its_owners_codes(conn, table, column, owner):
    assert _allowed(conn, table, column) == owner


def test_a_ledger_status_is_a_finished_sync_status():
    assert set(LEDGER_STATUSES) == set(SYNC_STATUSES) - {"running"}


def _candidates(parts: list[list[str]]) -> list[str]:
    return ["".join(p) for p in itertools.product(*parts)]


PERIODS = _candidates(
    [
        ["FY", "fy", "Fy", "F Y", "XFY", "", " FY"],
        ["2026", "0000", "9999", "202", "20261", "2a26", "２026", "20 6", "é026"],
        [
            "",
            "-Q1",
            "-Q4",
            "-Q0",
            "-Q5",
            "-Q",
            "-M01",
            "-M09",
            "-M10",
            "-M12",
            "-M00",
            "-M13",
            "-M1",
            "-M001",
            "-M0",
            "Q1",
            "-q1",
            "-m01",
            " ",
            "\n",
            "-Q1 ",
            "-M0a",
            "-Mé",
            "-M１2",
        ],
    ]
)
CURRENCIES = _candidates(
    [["A", "Z", "a", "1", "", "É", " "], ["U", "Z", "s", "-"], ["D", "", "Z", "DD"]]
)


@pytest.mark.parametrize(
    ("column", "pattern", "values"),
    [("fiscal_period", PERIOD_PATTERN, PERIODS), ("currency", CURRENCY, CURRENCIES)],
)
def test_a_budget_row_rule_accepts_exactly_what_the_gate_accepts(conn, column, pattern, values):
    """A value passes the CHECK when its expression is true or null (PostgreSQL's rule)."""
    expression = _definition(conn, "budget", column).removeprefix("CHECK ")
    rows = conn.execute(
        f"select t.{column}, coalesce({expression}, true) from unnest(%s::text[]) as t({column})",
        (values,),
    ).fetchall()
    database = {value for value, passes in rows if passes}
    gate = {value for value in values if re.fullmatch(pattern, value)}
    assert database == gate
    assert len(gate) >= 10 and len(values) - len(gate) >= 100  # both sides are exercised
