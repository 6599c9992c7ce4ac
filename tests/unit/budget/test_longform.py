"""to_long: a long file maps straight across, a wide file is unpivoted row by row."""

from __future__ import annotations

import pandas as pd
import pytest

from finsync.budget.longform import LONG_COLUMNS, to_long
from finsync.budget.mapping import map_columns
from finsync.budget.model import FIELDS, BudgetFileError, ColumnMapping, FieldMatch
from finsync.budget.read import parse_file

from .conftest import FIXTURES


def mapping_of(**columns: str | None) -> ColumnMapping:
    return ColumnMapping(fields={f: FieldMatch(columns.get(f), 1.0) for f in FIELDS})


def test_long_file_maps_directly():
    parsed = parse_file(FIXTURES / "budget_long.csv")
    rows = to_long(parsed, map_columns(parsed))
    assert tuple(rows.columns) == LONG_COLUMNS
    assert rows.iloc[0].to_dict() == {
        "department": "Finance",
        "sub_category": "Software",
        "period_raw": "FY2025-Q1",
        "amount_raw": "12000.00",
        "currency_raw": "USD",
        "source_row": 2,
        "source_column": "Plan Amount",
    }
    assert rows["source_row"].tolist() == [2, 3, 4, 5]
    assert rows["source_row"].dtype.kind == "i"


def test_unmapped_fields_are_missing_not_empty():
    parsed = parse_file(FIXTURES / "budget_long.csv")
    rows = to_long(parsed, mapping_of(department="Cost Centre", budgeted_amount="Plan Amount"))
    assert rows["sub_category"].isna().all()
    assert rows["period_raw"].isna().all()
    assert rows["currency_raw"].isna().all()
    assert rows["department"].tolist() == ["Finance", "Finance", "Marketing", "Marketing"]


def test_long_file_keeps_rows_with_empty_amounts(write_csv):
    parsed = parse_file(write_csv([["Department", "Amount"], ["Sales", ""], ["IT", "5"]]))
    rows = to_long(parsed, mapping_of(department="Department", budgeted_amount="Amount"))
    assert rows["amount_raw"].tolist() == ["", "5"]  # the normaliser reports the blank one


def test_wide_file_is_unpivoted_row_by_row_and_skips_empty_cells():
    parsed = parse_file(FIXTURES / "budget_wide_months.csv")
    rows = to_long(parsed, map_columns(parsed))
    months = ["Jan 2025", "Feb 2025", "Mar 2025", "Apr 2025", "May 2025", "Jun 2025"]
    assert len(rows) == 4 * 6 - 1  # IT / Software has no March amount
    first = rows[rows["source_row"] == 2]
    assert first["period_raw"].tolist() == months
    assert first["source_column"].tolist() == months
    assert first["amount_raw"].tolist() == ["1000", "1100", "1200", "1300", "1400", "1500"]
    assert set(first["department"]) == {"Sales"}
    software = rows[rows["source_row"] == 4]
    assert "Mar 2025" not in software["period_raw"].tolist()
    assert rows["source_row"].is_monotonic_increasing
    assert rows["currency_raw"].isna().all()


def test_wide_dimensions_repeat_per_period(write_csv):
    header = ["Department", "Currency", "Q1 FY25", "Q2 FY25"]
    parsed = parse_file(write_csv([header, ["Sales", "EUR", "1", "2"], ["IT", "USD", "3", ""]]))
    assert parsed.layout == "wide"
    rows = to_long(parsed, map_columns(parsed))
    assert rows[["department", "currency_raw", "period_raw", "amount_raw"]].values.tolist() == [
        ["Sales", "EUR", "Q1 FY25", "1"],
        ["Sales", "EUR", "Q2 FY25", "2"],
        ["IT", "USD", "Q1 FY25", "3"],
    ]


def test_mapping_naming_a_missing_column_is_refused():
    parsed = parse_file(FIXTURES / "budget_long.csv")
    with pytest.raises(BudgetFileError, match="'Team'"):
        to_long(parsed, mapping_of(department="Team", budgeted_amount="Plan Amount"))


def test_long_file_without_an_amount_column_is_refused():
    parsed = parse_file(FIXTURES / "budget_long.csv")
    with pytest.raises(BudgetFileError, match="no amount column"):
        to_long(parsed, mapping_of(department="Cost Centre"))


def test_large_wide_file_is_vectorised(write_csv):
    months = [f"2025-{m:02d}" for m in range(1, 13)]
    frame = pd.DataFrame({"Department": [f"D{i}" for i in range(20_000)]})
    for month in months:
        frame[month] = "10"
    path = write_csv([frame.columns.tolist(), *frame.to_numpy().tolist()])
    parsed = parse_file(path)
    rows = to_long(parsed, map_columns(parsed))
    assert len(rows) == 240_000
    assert rows["source_row"].iloc[-1] == 20_001
    assert rows["period_raw"].iloc[-1] == "2025-12"
