"""Grain: files finer than the budget key are summed to one budget per key; conflicts,
currencies, scenarios and wide total columns (finsync.budget.grain via to_budgets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from finsync.budget.budgets import to_budgets
from finsync.budget.mapping import map_columns
from finsync.budget.read import parse_file


def budgets_of(tmp_path: Path, text: str, mapping: dict, **options):
    path = tmp_path / "budget.csv"
    path.write_text(text)
    parsed = parse_file(path)
    column_map = map_columns(parsed, confirmed=mapping)
    assert column_map.columns() == {**{k: None for k in column_map.columns()}, **mapping}
    options.setdefault("fiscal_year_start_month", 1)
    options.setdefault("default_currency", "USD")
    return to_budgets(parsed, column_map, **options)


LONG = {
    "department": "Department",
    "sub_category": "Category",
    "fiscal_period": "Period",
    "budgeted_amount": "Amount",
}


def amounts(budgets) -> dict[tuple, str]:
    frame = budgets.rows.frame
    return {
        (r.department, r.sub_category, r.fiscal_period): r.budgeted_amount
        for r in frame.itertuples()
    }


def test_rows_finer_than_the_key_are_summed_and_reported(tmp_path):
    budgets = budgets_of(
        tmp_path,
        "Department,Fund,Category,Period,Amount,Scenario\n"
        "Sales,1010,Travel,FY2026,100.10,Budget\n"
        "Sales,2020,Travel,FY2026,200.20,Budget\n"
        "Sales,3030,Travel,FY2026,-0.30,Budget\n"
        "Sales,1010,Meals,FY2026,50,Budget\n"
        "IT,1010,Travel,FY2026,7,Budget\n",
        LONG,
    )
    assert budgets.problem is None
    assert budgets.rows.errors == []
    assert amounts(budgets) == {
        ("Sales", "Travel", "FY2026"): "300.00",
        ("Sales", "Meals", "FY2026"): "50.00",
        ("IT", "Travel", "FY2026"): "7.00",
    }
    report = budgets.report
    assert (report.rows_in, report.budgets_out, report.summed_budgets) == (5, 3, 1)
    assert report.summed_columns == ["Fund"]
    assert report.constant_columns == ["Scenario"]  # one value: not a dimension
    assert budgets.total_rows == 5
    # the budget keeps the first row's number for messages
    assert budgets.rows.frame["source_row"].tolist() == [2, 5, 6]


def test_rows_differing_only_in_the_amount_are_a_conflict(tmp_path):
    text = (
        "Department,Category,Period,Amount\n"
        "Sales,Travel,FY2026,100\n"
        "Sales,Travel,FY2026,250\n"
        "Sales,Travel,FY2026,100\n"
        "IT,Travel,FY2026,7\n"
    )
    budgets = budgets_of(tmp_path, text, LONG)
    assert amounts(budgets) == {("IT", "Travel", "FY2026"): "7.00"}
    rows = sorted(e.row for e in budgets.rows.errors)
    assert rows == [2, 3]  # row 4 repeats row 2 exactly: imported once, so not an error
    message = next(e.message for e in budgets.rows.errors if e.row == 2)
    assert "conflicting budget rows (also row 3" in message
    assert next(e.column for e in budgets.rows.errors if e.row == 2) == "Amount"
    assert budgets.report.conflicts == 1
    assert budgets.report.repeated_rows == 1
    assert any("repeat an earlier row exactly" in w for w in budgets.report.warnings)

    summed = budgets_of(tmp_path, text, LONG, sum_duplicates=True)
    assert summed.rows.errors == []
    # with duplicates: sum, identical lines are two lines
    assert amounts(summed) == {
        ("Sales", "Travel", "FY2026"): "450.00",
        ("IT", "Travel", "FY2026"): "7.00",
    }


def test_two_currencies_under_one_key_are_never_summed(tmp_path):
    budgets = budgets_of(
        tmp_path,
        "Department,Entity,Category,Period,Amount\n"
        "Sales,UK Ltd,Travel,FY2026,GBP 100\n"
        "Sales,US Inc,Travel,FY2026,USD 200\n"
        "IT,US Inc,Travel,FY2026,USD 5\n",
        LONG,
    )
    assert amounts(budgets) == {("IT", "Travel", "FY2026"): "5.00"}
    errors = {e.row: e.message for e in budgets.rows.errors}
    assert set(errors) == {2, 3}
    assert "more than one currency (GBP, USD; also row 3)" in errors[2]


def test_a_measure_column_is_not_a_dimension(tmp_path):
    budgets = budgets_of(
        tmp_path,
        "Department,Category,Period,Amount,Forecast\n"
        "Sales,Travel,FY2026,100,90.00\n"
        "Sales,Travel,FY2026,120,95.00\n",
        LONG,
    )
    assert len(budgets.rows.frame) == 0
    assert {e.row for e in budgets.rows.errors} == {2, 3}


def test_budget_scenario_kept_and_other_scenarios_left_out(tmp_path):
    text = (
        "Department,Category,Period,Amount,Scenario\n"
        "Sales,Travel,FY2026,100,Budget\n"
        "Sales,Travel,FY2026,80,Actual\n"
        "Sales,Travel,FY2026,95,Forecast\n"
        "IT,Travel,FY2026,7,Budget\n"
    )
    budgets = budgets_of(tmp_path, text, LONG)
    assert amounts(budgets) == {
        ("Sales", "Travel", "FY2026"): "100.00",
        ("IT", "Travel", "FY2026"): "7.00",
    }
    assert budgets.report.scenario == {
        "column": "Scenario",
        "kept": "Budget",
        "values": ["Actual", "Budget", "Forecast"],
        "dropped_rows": 2,
    }
    forecast = budgets_of(tmp_path, text, LONG, scenario="forecast")
    assert amounts(forecast)[("Sales", "Travel", "FY2026")] == "95.00"


def test_an_undecidable_scenario_needs_a_person(tmp_path):
    text = (
        "Department,Category,Period,Amount,Version\n"
        "Sales,Travel,FY2026,100,Working\n"
        "Sales,Travel,FY2026,120,Final\n"
    )
    budgets = budgets_of(tmp_path, text, LONG)
    assert budgets.rows is None
    assert "column 'Version' holds several scenarios or versions ('Final', 'Working')" in (
        budgets.problem
    )
    named = budgets_of(tmp_path, text, LONG, scenario="Final")
    assert amounts(named) == {("Sales", "Travel", "FY2026"): "120.00"}
    wrong = budgets_of(tmp_path, text, LONG, scenario="Budget")
    assert "the config keeps scenario 'Budget'" in wrong.problem


def test_a_rejected_row_makes_its_summed_budget_incomplete(tmp_path):
    budgets = budgets_of(
        tmp_path,
        "Department,Fund,Category,Period,Amount\n"
        "Sales,1010,Travel,FY2026,100\n"
        "Sales,2020,Travel,FY2026,oops\n"
        "Sales,3030,Travel,FY2026,5\n"
        "IT,1010,Travel,FY2026,7\n"
        "IT,2020,Travel,FY2026,8\n",
        LONG,
    )
    assert amounts(budgets) == {("IT", "Travel", "FY2026"): "15.00"}
    errors = {e.row: e.message for e in budgets.rows.errors}
    assert set(errors) == {2, 3}
    assert "another row of this budget (row 3) was rejected" in errors[2]


WIDE = {"department": "Department", "sub_category": "Account"}


@pytest.mark.parametrize("total_header", ["FY2026 Total", "Full Year", "Total", "FY2026"])
def test_a_wide_total_column_is_a_check_not_a_period(tmp_path, total_header):
    budgets = budgets_of(
        tmp_path,
        f"Department,Account,Q1 FY2026,Q2 FY2026,Q3 FY2026,Q4 FY2026,{total_header},YTD Actual\n"
        "Sales,Travel,10,20,30,40,100,55\n"
        "IT,Travel,1,1,1,1,5,2\n",
        WIDE,
    )
    frame = budgets.rows.frame
    assert sorted(set(frame["fiscal_period"])) == [f"FY2026-Q{q}" for q in range(1, 5)]
    assert budgets.rows.errors == []
    warning = next(w for w in budgets.report.warnings if "differs from the sum" in w)
    assert f"the total column {total_header!r}" in warning
    assert "in 1 row(s): row 3 (5.00 stated, 4.00 summed)" in warning


def test_period_headers_with_measure_words_import(tmp_path):
    budgets = budgets_of(
        tmp_path,
        "Department,Account,FY2014 Adopted Budget,FY2014 Amended Budget,FY2015 Budget\n"
        "Sales,Travel,10,12,20\n",
        WIDE,
    )
    assert amounts(budgets) == {
        ("Sales", "Travel", "FY2014"): "12.00",
        ("Sales", "Travel", "FY2015"): "20.00",
    }


def test_rows_already_one_per_key_pass_through(tmp_path):
    budgets = budgets_of(
        tmp_path,
        "Department,Category,Period,Amount\nSales,Travel,FY2026,1\nSales,Meals,FY2026,2\n",
        LONG,
    )
    assert budgets.report.budgets_out == budgets.report.rows_in == 2
    assert budgets.report.summed_columns == []


def test_a_scenario_and_a_version_column_are_both_resolved(tmp_path):
    text = (
        "Department,Category,Period,Amount,Scenario,Version\n"
        "Sales,Travel,FY2026,100,Budget,Working\n"
        "Sales,Travel,FY2026,120,Budget,Final\n"
        "Sales,Travel,FY2026,90,Actual,Final\n"
    )
    asked = budgets_of(tmp_path, text, LONG)
    assert "column 'Version' holds several scenarios" in asked.problem
    budgets = budgets_of(tmp_path, text, LONG, scenario="Final")
    assert amounts(budgets) == {("Sales", "Travel", "FY2026"): "120.00"}
    assert budgets.report.scenario["kept"] == "Budget"
    assert budgets.report.other_scenarios[0]["column"] == "Version"
    assert budgets.report.other_scenarios[0]["kept"] == "Final"


@pytest.mark.parametrize("code_header", ["Segment 2", "GL", "Natural Account"])
def test_numeric_codes_are_dimensions_not_measures(tmp_path, code_header):
    budgets = budgets_of(
        tmp_path,
        f"Department,{code_header},Category,Period,Amount\n"
        "Sales,0400,Travel,FY2026,100\n"
        "Sales,0410,Travel,FY2026,20\n",
        LONG,
    )
    assert amounts(budgets) == {("Sales", "Travel", "FY2026"): "120.00"}
    assert budgets.report.summed_columns == [code_header]
