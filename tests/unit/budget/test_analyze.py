"""analyze / `finsync analyze`: the contract's JSON, the text report, errors on one line."""

from __future__ import annotations

import json
from argparse import Namespace

import pytest

from finsync.budget.analyze import analyze, run_cli
from finsync.budget.model import FIELDS, FILE_TYPES, BudgetFileError

from .conftest import BAD, FIXTURES

CONTRACT_KEYS = {
    "file_type",
    "file_type_confidence",
    "sheet",
    "header_row",
    "layout",
    "period_columns",
    "rows",
    "mapping",
    "grain",  # what the file becomes: budgets, rows summed, scenario (grain.py)
    "warnings",
}


def args(path, **extra) -> Namespace:
    values = {"json": True, "sheet": None, "header_row": None, "fiscal_year_start_month": 1}
    return Namespace(path=str(path), **{**values, **extra})


def test_result_has_exactly_the_contract_shape():
    result = analyze(FIXTURES / "budget_report_style.xlsx")
    assert set(result) == CONTRACT_KEYS
    assert result["file_type"] in FILE_TYPES
    assert isinstance(result["file_type_confidence"], float)
    assert result["sheet"] == "FY25"
    assert result["header_row"] == 5
    assert result["rows"] == 3
    assert list(result["mapping"]) == list(FIELDS)
    for match in result["mapping"].values():
        assert {"column", "confidence", "alternatives"} <= set(match)
        assert isinstance(match["alternatives"], list)
    json.dumps(result)  # serialisable as is


def test_wide_file_has_period_columns_and_no_period_or_amount_column():
    result = analyze(FIXTURES / "budget_wide_months.csv")
    assert result["layout"] == "wide"
    assert result["period_columns"][0] == "Jan 2025"
    assert result["mapping"]["fiscal_period"]["column"] is None
    assert result["mapping"]["budgeted_amount"]["column"] is None
    assert result["sheet"] is None


def test_rejected_file_types_say_so():
    result = analyze(BAD / "payroll.csv")
    assert result["file_type"] == "payroll"
    assert any("payroll file, not a budget" in w for w in result["warnings"])
    assert not any("Doe" in w for w in result["warnings"])


def test_unclear_mapping_asks_for_review():
    result = analyze(BAD / "nothing_mappable.csv")
    assert result["file_type"] == "unknown"
    assert any(w.startswith("needs review: department") for w in result["warnings"])


def test_confirmed_mapping_and_stale_confirmed_mapping():
    confirmed = {"department": "Cost Centre", "budgeted_amount": "Plan Amount"}
    result = analyze(FIXTURES / "budget_long.csv", confirmed=confirmed)
    assert result["mapping"]["department"]["confidence"] == 1.0
    assert result["mapping"]["department"]["explanation"] == "confirmed mapping"
    stale = analyze(FIXTURES / "budget_long.csv", confirmed={"department": "Team"})
    assert stale["mapping"]["department"]["column"] == "Cost Centre"
    assert any("no longer fits" in w and "'Team'" in w for w in stale["warnings"])


def test_sheet_and_header_row_are_passed_through(write_csv):
    path = write_csv([["junk", "x"], ["Department", "Amount"], ["Sales", "1"]])
    assert analyze(path, header_row=2)["header_row"] == 2
    assert analyze(FIXTURES / "budget_two_sheets.xlsx", sheet="Plan FY26")["sheet"] == "Plan FY26"


def test_analyze_raises_for_unreadable_files():
    with pytest.raises(BudgetFileError, match="header but no data rows"):
        analyze(BAD / "header_only.csv")


def test_cli_prints_json(capsys):
    assert run_cli(args(FIXTURES / "budget_long.csv")) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["mapping"]["department"]["column"] == "Cost Centre"
    assert set(printed) == CONTRACT_KEYS


def test_cli_prints_a_report(capsys):
    assert run_cli(args(FIXTURES / "budget_wide_months.csv", json=False)) == 0
    out = capsys.readouterr().out
    assert "file type   budget" in out
    assert "wide (6 period columns: Jan 2025" in out
    assert "department       Department" in out


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.csv", "the file is empty"),
        ("zip_bomb.xlsx", "possible zip bomb"),
        ("truncated.xlsx", "corrupt or truncated"),
    ],
)
def test_cli_errors_are_one_line_with_exit_code_2(capsys, name, message):
    assert run_cli(args(BAD / name)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"finsync analyze: {BAD / name}: ")
    assert message in lines[0]
    assert f"{name}: {name}" not in lines[0]


def test_finsync_command_line(capsys):
    from finsync.cli import main

    assert main(["analyze", str(FIXTURES / "budget_long.csv"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 4
    assert main(["analyze", str(BAD / "binary_junk.csv")]) == 2
