"""The warehouse's CHECK constraints name the same codes as their owners in the code.

Applied migrations are immutable, so a code list in a CHECK constraint is a second copy of
the owner's (budget/settings.FREQUENCIES, budget/model.SYNC_STATUSES, the sources' registry).
A new frequency, status or source type without the migration that widens the constraint
would be refused by the database at the first write; these tests fail first.
"""

from __future__ import annotations

import re

import pytest

from finsync.budget.model import SYNC_STATUSES
from finsync.budget.settings import FREQUENCIES
from finsync.budget.sources import LEDGER_STATUSES, SOURCE_TYPES


def _allowed(conn, table: str, column: str) -> set[str]:
    """The quoted values of the one CHECK constraint on `table` that names `column`."""
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
    return set(re.findall(r"'([^']*)'::text", definitions[0]))


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
