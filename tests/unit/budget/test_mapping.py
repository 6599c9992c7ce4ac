"""map_columns: synonyms, typos, value evidence, one column per field, confirmed mappings."""

from __future__ import annotations

import pytest

from finsync.budget.header_match import header_score, header_words
from finsync.budget.mapping import (
    CONFIDENCE_BAR,
    MAX_ALTERNATIVES,
    headers_signature,
    map_columns,
    needs_review,
)
from finsync.budget.model import BUDGET_COLUMNS, FIELDS, ColumnMapping, FieldMatch
from finsync.budget.read import parse_file

from .conftest import BAD, FIXTURES


def mapped(write_csv, header: list[str], rows: list[list[str]]) -> dict[str, str | None]:
    return map_columns(parse_file(write_csv([header, *rows]))).columns()


ROW = ["Sales", "Travel", "FY2025", "1,200.00", "USD"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            ["Department", "Account", "Fiscal Period", "Budgeted Amount", "Currency"],
            ["Department", "Account", "Fiscal Period", "Budgeted Amount", "Currency"],
        ),
        (
            ["Cost Centre", "GL Account", "FY", "Plan Amt", "Ccy"],
            ["Cost Centre", "GL Account", "FY", "Plan Amt", "Ccy"],
        ),
        (
            ["Dept", "Line Item", "Period", "Approved Budget", "Curr"],
            ["Dept", "Line Item", "Period", "Approved Budget", "Curr"],
        ),
        (
            ["Business Unit", "Expense Type", "Budget Year", "Appropriation", "Currency Code"],
            ["Business Unit", "Expense Type", "Budget Year", "Appropriation", "Currency Code"],
        ),
        (
            ["Departamento", "Partida", "Ejercicio", "Monto Aprobado", "Moneda"],
            ["Departamento", "Partida", "Ejercicio", "Monto Aprobado", "Moneda"],
        ),
        (
            ["Kostenstelle", "Kostenart", "Haushaltsjahr", "Haushaltsansatz", "Währung"],
            ["Kostenstelle", "Kostenart", "Haushaltsjahr", "Haushaltsansatz", "Währung"],
        ),
        (
            ["Centre de coût", "Catégorie", "Exercice", "Montant", "Devise"],
            ["Centre de coût", "Catégorie", "Exercice", "Montant", "Devise"],
        ),
        (
            ["Centro de Custo", "Rubrica", "Ano", "Orçamento", "Moeda"],
            ["Centro de Custo", "Rubrica", "Ano", "Orçamento", "Moeda"],
        ),
        (
            ["DepartmentName", "SubCategory", "FiscalYear", "BudgetAmount", "CurrencyCode"],
            ["DepartmentName", "SubCategory", "FiscalYear", "BudgetAmount", "CurrencyCode"],
        ),
        (
            ["Departmnet", "Catgory", "Fiscal Perod", "Budgt Amount", "Currncy"],
            ["Departmnet", "Catgory", "Fiscal Perod", "Budgt Amount", "Currncy"],
        ),
    ],
)
def test_synonyms_abbreviations_languages_and_typos(write_csv, header, expected):
    result = mapped(write_csv, header, [ROW, ["IT", "Software", "FY2026", "300", "EUR"]])
    assert [result[f] for f in BUDGET_COLUMNS] == expected
    assert result["fiscal_year"] is None  # the periods carry their year


def test_budget_amt_is_an_amount_not_a_department(write_csv):
    """WRatio's partial match once made 'Budget Amt' a department."""
    result = mapped(write_csv, ["Division", "Budget Amt", "Category"], [["Sales", "10", "Rent"]])
    assert result["budgeted_amount"] == "Budget Amt"
    assert result["department"] == "Division"
    assert header_score("department", "Budget Amt").score < 60


def test_one_column_never_maps_to_two_fields(write_csv):
    result = mapped(write_csv, ["Budget", "Notes"], [["100", "x"], ["200", "y"]])
    columns = [c for c in result.values() if c]
    assert len(columns) == len(set(columns))
    assert result["budgeted_amount"] == "Budget"


def test_extra_words_cost_a_little(write_csv):
    header = ["Department Order", "Department", "Account", "Amount"]
    result = mapped(
        write_csv, header, [["10", "Mayor", "Travel", "5"], ["20", "Police", "Cars", "6"]]
    )
    assert result["department"] == "Department"


def test_names_beat_codes(write_csv):
    header = ["Dept", "Department Title", "Account", "Account Description", "Amount"]
    rows = [["1", "01 CITY COUNCIL", "51000", "Salaries", "100"]]
    rows += [["2", "02 MAYOR", "52000", "Travel", "200"]]
    result = mapped(write_csv, header, rows)
    assert result["department"] == "Department Title"
    assert result["sub_category"] == "Account Description"


def test_actual_and_variance_columns_are_not_the_budget(write_csv):
    header = ["Department", "Actual Amount", "Variance", "Budget Amount"]
    rows = [["Sales", "90", "-10", "100"], ["IT", "40", "0", "40"]]
    assert mapped(write_csv, header, rows)["budgeted_amount"] == "Budget Amount"


def test_value_evidence(write_csv):
    """No telling headers: ISO codes make a currency, periods a period, names a category;
    the only column of periods is the period and the only numeric column the amount (issue
    #10 item 4), so those two need no person; the file still does (no department)."""
    header = ["A", "B", "C", "D"]
    rows = [
        ["Rent", "2025-01", "1000.00", "USD"],
        ["Travel", "2025-02", "250.50", "EUR"],
        ["Salaries", "2025-03", "9000.00", "USD"],
    ]
    result = map_columns(parse_file(write_csv([header, *rows])))
    assert result.fields["currency"].column == "D"
    assert result.fields["fiscal_period"].column == "B"
    assert result.fields["sub_category"].column == "A"
    assert result.fields["budgeted_amount"].column == "C"
    assert "the only column whose values are periods" in result.fields["fiscal_period"].explanation
    assert "the only numeric column" in result.fields["budgeted_amount"].explanation
    for field in ("fiscal_period", "budgeted_amount"):
        assert result.fields[field].confidence >= CONFIDENCE_BAR
    assert needs_review(result, "long") == ["department"]


def test_amount_header_over_text_is_not_the_amount(write_csv):
    header = ["Department", "Amount", "Value"]
    rows = [["Sales", "see note", "100"], ["IT", "n/a", "200"]]
    assert mapped(write_csv, header, rows)["budgeted_amount"] == "Value"


def test_explanations_confidence_and_alternatives(write_csv):
    header = ["Cost Centre", "Division", "Org Unit", "Business Unit", "Account", "Amount"]
    rows = [["Ops", "Ops", "Ops", "Ops", "Rent", "1"], ["IT", "Tech", "T1", "BU1", "Cloud", "2"]]
    result = map_columns(parse_file(write_csv([header, *rows])))
    department = result.fields["department"]
    assert department.column == "Cost Centre"
    assert department.explanation.startswith('"Cost Centre" matches synonym "cost center" (score')
    assert 0 < len(department.alternatives) <= MAX_ALTERNATIVES
    assert "Cost Centre" not in department.alternatives
    assert 0.0 <= department.confidence <= 1.0


def test_nothing_mappable():
    result = map_columns(parse_file(BAD / "nothing_mappable.csv"))
    assert all(m.column is None for m in result.fields.values())
    assert needs_review(result, "long") == ["department", "fiscal_period", "budgeted_amount"]


def test_wide_layout_takes_periods_and_amounts_from_the_period_columns():
    parsed = parse_file(FIXTURES / "budget_wide_months.csv")
    result = map_columns(parsed)
    assert result.fields["fiscal_period"].column is None
    assert result.fields["budgeted_amount"].column is None
    assert "wide layout" in result.fields["fiscal_period"].explanation
    assert result.fields["department"].column == "Department"
    assert result.fields["sub_category"].column == "Expense Category"
    assert needs_review(result, "wide") == []
    assert needs_review(result, "long") == ["fiscal_period", "budgeted_amount"]


def test_confirmed_mapping_is_used_as_is():
    parsed = parse_file(FIXTURES / "budget_long.csv")
    confirmed = {
        "department": "Account",
        "sub_category": None,
        "fiscal_period": "Period",
        "budgeted_amount": "Plan Amount",
        "currency": "Currency",
    }
    result = map_columns(parsed, confirmed=confirmed)
    assert result.columns() == {**confirmed, "fiscal_year": None}  # saved before fiscal_year
    assert all(m.confidence == 1.0 for m in result.fields.values())
    assert {m.explanation for m in result.fields.values()} == {"confirmed mapping"}


def test_confirmed_mapping_with_a_missing_column_is_not_used():
    parsed = parse_file(FIXTURES / "budget_long.csv")
    result = map_columns(parsed, confirmed={"department": "Team", "budgeted_amount": "Plan Amount"})
    assert result.fields["department"].column == "Cost Centre"
    assert result.fields["department"].explanation != "confirmed mapping"


def test_needs_review_uses_the_bar():
    def mapping(confidence: float) -> ColumnMapping:
        return ColumnMapping(fields={f: FieldMatch(f, confidence) for f in FIELDS})

    assert needs_review(mapping(CONFIDENCE_BAR), "long") == []
    assert needs_review(mapping(CONFIDENCE_BAR - 0.01), "long") == [
        "department",
        "fiscal_period",
        "budgeted_amount",
    ]
    assert needs_review(mapping(CONFIDENCE_BAR - 0.01), "wide") == ["department"]


def test_headers_signature():
    parsed = parse_file(BAD / "duplicate_headers.csv")
    assert headers_signature(parsed) == ["Department", "Amount", "Period", "Amount_2"]


@pytest.mark.parametrize(
    ("header", "words"),
    [
        ("Budget Amt", ("budget", "amount")),
        ("LOBName", ("line", "business", "name")),
        ("Cost Centre", ("cost", "center")),
        ("AÑO", ("ano",)),
        ("TRANS CAC DESC 1", ("trans", "cac", "description")),
    ],
)
def test_header_words(header, words):
    assert header_words(header) == words


def test_phrase_score_prefers_the_bare_synonym():
    from finsync.budget.header_match import phrase_score

    synonym = header_words("cost center")
    assert phrase_score(synonym, synonym) == 100
    after = phrase_score(header_words("Cost Center Group"), synonym)  # a qualifier after
    before = phrase_score(header_words("Group Cost Center"), synonym)  # a group label before
    assert after < before < 100
    assert phrase_score(header_words("Cost Centr"), synonym) > 85  # a typo
    assert phrase_score(header_words("Cost"), synonym) == 0  # half a synonym is no match


@pytest.mark.parametrize("amount", ["1000", "1000000", "2500000"])
def test_a_one_line_budget_of_round_numbers_is_an_amount_not_a_code(write_csv, amount):
    result = map_columns(
        parse_file(write_csv([["Department", "Period", "Budget"], ["Marketing", "FY2025", amount]]))
    )
    assert result.columns()["budgeted_amount"] == "Budget"
    assert needs_review(result, "long") == []
