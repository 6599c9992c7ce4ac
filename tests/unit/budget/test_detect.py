"""detect_file_type: budgets pass, look-alikes are named, reasons never quote values."""

from __future__ import annotations

import pytest

from finsync.budget.detect import detect_file_type
from finsync.budget.read import parse_file

from .conftest import BAD, BUDGET, FIXTURES


def detect(path):
    return detect_file_type(parse_file(path))


@pytest.mark.parametrize(
    ("name", "file_type"),
    [
        ("payroll.csv", "payroll"),
        ("expense.csv", "expense"),
        ("invoice.csv", "invoice"),
        ("gl_actuals.csv", "gl_actuals"),
        ("headcount.csv", "headcount"),
        ("nothing_mappable.csv", "unknown"),
        ("formula_injection.csv", "budget"),
        ("values_bad_amounts.csv", "budget"),
    ],
)
def test_bad_corpus_types(name, file_type):
    guess = detect(BAD / name)
    assert guess.file_type == file_type
    assert 0.0 <= guess.confidence <= 1.0
    assert guess.reasons


@pytest.mark.parametrize(
    "name",
    [
        "budget_long.csv",
        "budget_wide_months.csv",
        "budget_semicolon_cp1252.csv",
        "budget_quoted_newlines.csv",
        "budget_report_style.xlsx",
        "budget_two_sheets.xlsx",
    ],
)
def test_budgets_are_budgets(name):
    guess = detect(FIXTURES / name)
    assert guess.file_type == "budget"
    assert guess.confidence >= 0.8


def test_reasons_name_headers_never_values():
    guess = detect(BAD / "payroll.csv")
    text = " ".join(guess.reasons)
    assert '"Employee ID"' in text
    for value in ("Doe", "Jane", "E0001", "4250.00", "Finance"):
        assert value not in text
    assert any("personal data" in r for r in guess.reasons)


def test_payroll_with_department_and_money_columns(write_csv):
    """The trap: a department column and money columns, but the rows are people's pay."""
    rows = [
        ["NAME", "DEPARTMENT_NAME", "TITLE", "REGULAR", "OVERTIME", "TOTAL EARNINGS"],
        ["Smith,Ann", "Police", "Officer", "90,000.00", "12,000.00", "102,000.00"],
        ["Lee,Bo", "Parks", "Gardener", "50,000.00", "  -   ", "50,000.00"],
    ]
    assert detect(write_csv(rows)).file_type == "payroll"


def test_wide_monthly_salaries_per_employee(write_csv):
    """Shaped like a phased budget (one column per month), but each row is an employee."""
    rows = [["Employee ID", *(str(m) for m in range(1, 13))]]
    rows += [[str(1000 + i), *(f"{3000 + 10 * m}.00" for m in range(12))] for i in range(5)]
    parsed = parse_file(write_csv(rows))
    assert parsed.layout == "wide"
    assert detect_file_type(parsed).file_type == "payroll"


def test_purchase_card_file_with_budget_like_columns(write_csv):
    rows = [
        ["TRANS DATE", "MERCHANT NAME", "CARD NUMBER", "CATEGORY", "DIRECTORATE", "GROSS AMT"],
        ["01/04/25", "fuel station", "****1111", "Fuel", "Adults", "52.10"],
        ["02/04/25", "book shop", "****2222", "Books", "Children", "12.00"],
    ]
    assert detect(write_csv(rows)).file_type == "expense"


def test_supplier_payments_that_say_budget(write_csv):
    """'Budget Institution' names a dimension; Supplier and Receipt No make it payments."""
    rows = [
        ["Budget Institution", "Supplier", "Value", "Date executed", "Receipt No"],
        ["Ministry A", "Builder Ltd", "1308049", "2014-12-31", "427100500"],
        ["Ministry B", "Print Co", "1200", "2014-12-31", "427100501"],
    ]
    assert detect(write_csv(rows)).file_type == "invoice"


def test_gl_actuals_look_like_a_budget_but_say_actuals(write_csv):
    rows = [
        ["Fund", "Dept", "Account", "Sum Transaction Amt", "Ledger", "Year"],
        ["001", "Police", "Memberships", "2,660.00", "ACTUALS", "2015"],
        ["001", "Parks", "Water", "325,532.52", "ACTUALS", "2015"],
    ]
    guess = detect(write_csv(rows))
    assert guess.file_type == "gl_actuals"
    assert any('"Ledger"' in r for r in guess.reasons)


def test_headcount_plan_by_unit_and_year(write_csv):
    rows = [
        ["Code", "Unit", "FTE 2026", "FTE 2027"],
        ["0102", "Council office", "21.31", "21.31"],
        ["0103", "Mayor's office", "64.06", "64.06"],
    ]
    assert detect(write_csv(rows)).file_type == "headcount"


def test_budget_with_actual_columns_stays_a_budget(write_csv):
    rows = [
        ["Cabinet", "Dept", "Expense Category", "FY18 Actual", "FY19 Actual", "FY20 Budget"],
        ["Mayor", "Mayor's Office", "Personnel", "1,185,285", "1,400,773", "1,529,111"],
        ["Mayor", "Mayor's Office", "Supplies", "53,822", "37,539", "37,183"],
    ]
    assert detect(write_csv(rows)).file_type == "budget"


def test_plain_budget_without_the_word_budget(write_csv):
    rows = [["Año", "Sección", "Capítulo", "Importe"], ["2024", "Alcaldía", "Personal", "1000"]]
    rows.append(["2024", "Cultura", "Gastos", "2000"])
    assert detect(write_csv(rows)).file_type == "budget"


def test_text_only_table_is_unknown(write_csv):
    rows = [["Colour", "Shape"], ["red", "circle"], ["blue", "square"]]
    guess = detect(write_csv(rows))
    assert guess.file_type == "unknown"


def test_detection_ignores_the_file_name(write_csv):
    payroll_named_budget = write_csv(
        [["Employee ID", "Employee Name", "Gross Pay"], ["E1", "Ann", "10"], ["E2", "Bo", "20"]],
        name="budget_fy25.csv",
    )
    budget_named_payroll = write_csv(BUDGET, name="payroll_export.csv")
    assert detect(payroll_named_budget).file_type == "payroll"
    assert detect(budget_named_payroll).file_type == "budget"


def test_a_budget_vs_actual_report_is_a_budget(write_csv):
    """Actual and variance columns next to the budget periods are a comparison, not a ledger."""
    header = ["Department", "GL Account", "Jan-26", "Feb-26", "Mar-26", "YTD Actual", "Variance"]
    rows = [[d, "6100 Travel", "100", "100", "100", "285", "15"] for d in ("Sales", "IT")]
    parsed = parse_file(write_csv([header, *rows]))
    assert parsed.period_columns == ["Jan-26", "Feb-26", "Mar-26"]
    assert detect_file_type(parsed).file_type == "budget"
