"""quality.py: the Great Expectations gate, the sync decision, the reject file."""

from __future__ import annotations

import csv

import pandas as pd
import pytest

from finsync.budget import quality as q
from finsync.budget.model import RowError
from finsync.gate import SAMPLE

COLUMNS = ["department", "sub_category", "fiscal_period", "budgeted_amount", "currency"]


def rows(*records, source_column="Plan"):
    """records: (department, sub_category, fiscal_period, budgeted_amount, currency)."""
    frame = pd.DataFrame(list(records), columns=COLUMNS).astype("str")
    frame["source_row"] = range(2, len(frame) + 2)
    frame["source_column"] = pd.Series([source_column] * len(frame), dtype="str")
    return frame


def test_clean_rows_pass_unchanged():
    frame = rows(
        ("Ops", None, "FY2025", "10.00", "USD"),
        ("Ops", "Travel", "FY2025", "-10.50", "EUR"),
        ("R&D", None, "FY2025-Q1", "0.00", "GBP"),
        ("R&D", None, "FY2025-M12", "9999999999999999.99", "JPY"),
    )
    result = q.check(frame)
    assert result.errors == [] and result.warnings == [] and result.rejected_count == 0
    pd.testing.assert_frame_equal(result.valid, frame)


def test_every_bad_row_is_reported_not_a_sample():
    bad = [("Ops", None, f"FY2025-M{13 + i}", "1.00", "USD") for i in range(SAMPLE + 15)]
    frame = rows(("Ops", None, "FY2025", "1.00", "USD"), *bad)
    result = q.check(frame)
    assert result.rejected_count == SAMPLE + 15
    assert [e.row for e in result.errors] == list(range(3, 3 + SAMPLE + 15))
    message = q.MESSAGES[("expect_column_values_to_match_regex", "fiscal_period")]
    assert result.errors[0] == RowError(3, "fiscal_period", "FY2025-M13", message)
    assert result.valid["source_row"].tolist() == [2]


@pytest.mark.parametrize(
    ("record", "column", "value", "key"),
    [
        (("Ops", None, "FY2025", "1.00", "XYZ"), "currency", "XYZ", "in_set"),
        (("Ops", None, "FY2025", "1.00", "HRK"), "currency", "HRK", "in_set"),
        (("Ops", None, "FY2025", "1.00", None), "currency", "", "currency_null"),
        (("Ops", None, "FY2025", "1.5", "USD"), "Plan", "1.5", "amount"),
        (("Ops", None, "FY2025", "1,000.00", "USD"), "Plan", "1,000.00", "amount"),
        (
            ("Ops", None, "FY2025", "12345678901234567.00", "USD"),
            "Plan",
            "12345678901234567.00",
            "amount",
        ),
        (("Ops", None, "FY2025", None, "USD"), "Plan", "", "amount_null"),
        (("Ops", None, "2025", "1.00", "USD"), "fiscal_period", "2025", "period"),
        (("Ops", None, "FY2025-Q5", "1.00", "USD"), "fiscal_period", "FY2025-Q5", "period"),
        (("Ops", None, "FY2025-M00", "1.00", "USD"), "fiscal_period", "FY2025-M00", "period"),
        (("Ops", None, None, "1.00", "USD"), "fiscal_period", "", "period_null"),
        (("   ", None, "FY2025", "1.00", "USD"), "department", "   ", "department_blank"),
        ((None, None, "FY2025", "1.00", "USD"), "department", "", "department_null"),
        (("Ops", "", "FY2025", "1.00", "USD"), "sub_category", "", "sub_empty"),
    ],
)
def test_each_rule_rejects_its_rows(record, column, value, key):
    expectation, field = {
        "in_set": ("expect_column_values_to_be_in_set", "currency"),
        "currency_null": ("expect_column_values_to_not_be_null", "currency"),
        "amount": ("expect_column_values_to_match_regex", "budgeted_amount"),
        "amount_null": ("expect_column_values_to_not_be_null", "budgeted_amount"),
        "period": ("expect_column_values_to_match_regex", "fiscal_period"),
        "period_null": ("expect_column_values_to_not_be_null", "fiscal_period"),
        "department_blank": ("expect_column_values_to_match_regex", "department"),
        "department_null": ("expect_column_values_to_not_be_null", "department"),
        "sub_empty": ("expect_column_values_to_match_regex", "sub_category"),
    }[key]
    result = q.check(rows(("Ops", None, "FY2026", "1.00", "USD"), record))
    assert result.errors == [RowError(3, column, value, q.MESSAGES[(expectation, field)])]
    assert result.valid["source_row"].tolist() == [2]
    assert result.rejected_count == 1


def test_file_column_names_in_the_report():
    result = q.check(rows(("Ops", None, "FY2025", "1.00", "ABC")), columns={"currency": "Währung"})
    assert [(e.column, e.value) for e in result.errors] == [("Währung", "ABC")]


def test_duplicates_with_different_amounts_reject_every_row_of_the_key():
    frame = rows(
        ("Ops", None, "FY2025", "10.00", "USD"),  # row 2
        ("Ops", None, "FY2025", "10.00", "USD"),  # row 3: twin of row 2, rejected with it
        ("Ops", None, "FY2025", "20.00", "USD"),  # row 4
        ("Ops", "Travel", "FY2025", "5.00", "USD"),  # row 5: another key
        ("Ops", None, "FY2025", "10.00", "EUR"),  # row 6: same amount, other currency
        ("Ops", None, "FY2026", "1.00", "USD"),  # row 7
    )
    result = q.check(frame)
    assert result.valid["source_row"].tolist() == [5, 7]
    assert result.rejected_count == 4
    assert [e.row for e in result.errors] == [2, 3, 4, 6]
    assert result.errors[0] == RowError(2, "Plan", "10.00", q.DUPLICATE.format("row 4, row 6"))
    assert result.errors[1] == RowError(3, "Plan", "10.00", q.DUPLICATE.format("row 4, row 6"))
    assert result.errors[2].message == q.DUPLICATE.format("row 2, row 6")
    assert result.warnings == []


def test_exact_duplicates_are_collapsed_with_a_warning():
    frame = rows(
        ("Ops", None, "FY2025", "10.00", "USD"),
        ("Ops", None, "FY2025", "10.00", "USD"),
        ("Ops", None, "FY2025", "10.00", "USD"),
        ("Ops", "A", "FY2025", "1.00", "USD"),
    )
    result = q.check(frame)
    assert result.errors == [] and result.rejected_count == 0
    assert result.valid["source_row"].tolist() == [2, 5]
    assert result.warnings == [
        "2 row(s) repeat an earlier row exactly (same department, sub-category, fiscal period, "
        "amount and currency) and were imported once: row 3 (same as row 2), row 4 (same as row 2)"
    ]


def test_missing_sub_categories_are_equal_in_the_key():
    frame = rows(("Ops", None, "FY2025", "1.00", "USD"), ("Ops", None, "FY2025", "2.00", "USD"))
    assert q.check(frame).rejected_count == 2
    frame = rows(("Ops", "A", "FY2025", "1.00", "USD"), ("Ops", None, "FY2025", "2.00", "USD"))
    assert q.check(frame).rejected_count == 0


def test_duplicates_in_a_wide_file_name_the_columns():
    frame = rows(
        ("Ops", None, "FY2025-M07", "1.00", "USD"), ("Ops", None, "FY2025-M07", "2.00", "USD")
    )
    frame["source_row"] = [4, 4]
    frame["source_column"] = pd.Series(["Jan-25", "45658"], dtype="str")
    result = q.check(frame)
    assert result.errors == [
        RowError(4, "Jan-25", "1.00", q.DUPLICATE.format("row 4 (column 45658)")),
        RowError(4, "45658", "2.00", q.DUPLICATE.format("row 4 (column Jan-25)")),
    ]


def test_check_empty_frame():
    result = q.check(rows())
    assert len(result.valid) == 0 and result.errors == [] and result.rejected_count == 0


def test_check_needs_the_normalised_columns():
    with pytest.raises(ValueError, match="currency"):
        q.check(rows(("Ops", None, "FY2025", "1.00", "USD")).drop(columns="currency"))


def test_iso_4217_is_the_active_money_list():
    for code in ("USD", "EUR", "GBP", "JPY", "CHF", "INR", "XCG", "ZWG", "SLE", "VED", "XOF"):
        assert code in q.ISO_4217
    for code in ("HRK", "ANG", "CUC", "ZWL", "BGN", "XXX", "XTS", "XAU", "DEM", "usd"):
        assert code not in q.ISO_4217
    assert all(len(c) == 3 and c.isupper() for c in q.ISO_4217)
    assert len(q.ISO_4217) == 164


# --- decide ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "errors", "tolerance", "decision"),
    [
        (100, 0, 0, "success"),
        (100, 1, 0, "failed"),  # default: any error fails the file
        (100, 1, 1, "partial"),
        (100, 2, 1, "failed"),
        (100, 5, 5.0, "partial"),  # boundary: exactly the tolerance is within it
        (3, 1, 33.33, "failed"),  # 33.333...% is above 33.33
        (3, 1, 33.34, "partial"),
        (10, 10, 100, "failed"),  # nothing left to import
        (0, 0, 0, "failed"),  # an empty file would soft-delete every budget
        (1, 0, 100, "success"),
    ],
)
def test_decide(total, errors, tolerance, decision):
    assert q.decide(total, errors, tolerance) == decision


def test_decide_default_tolerance_is_zero():
    assert q.decide(1000, 1) == "failed"
    assert q.decide(1000, 0) == "success"


@pytest.mark.parametrize(
    ("total", "errors", "tolerance"), [(1, 2, 0), (-1, 0, 0), (1, 0, 101), (1, 0, -1)]
)
def test_decide_rejects_impossible_counts(total, errors, tolerance):
    with pytest.raises(ValueError):
        q.decide(total, errors, tolerance)


# --- reject file -----------------------------------------------------------------------------


def read(path):
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def test_reject_file_neutralises_formulas(tmp_path):
    errors = [
        RowError(2, "Amount", '=HYPERLINK("http://x")', "not an amount"),
        RowError(3, "+cmd", "+1", "m"),
        RowError(4, "Amount", "-1234", "m"),
        RowError(5, "Amount", "@SUM(A1)", "m"),
        RowError(6, "Amount", "\tx", "m"),
        RowError(7, "Amount", "\rx", "m"),
        RowError(8, "Amount", "1,234.56", "=bad message"),
        RowError(None, None, None, "file-level"),
    ]
    path = q.write_reject_file(errors, tmp_path / "rejects.csv")
    assert path == tmp_path / "rejects.csv"
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
    assert read(path) == [
        ["row", "column", "value", "message"],
        ["2", "Amount", '\'=HYPERLINK("http://x")', "not an amount"],
        ["3", "'+cmd", "'+1", "m"],
        ["4", "Amount", "'-1234", "m"],
        ["5", "Amount", "'@SUM(A1)", "m"],
        ["6", "Amount", "'\tx", "m"],
        ["7", "Amount", "'\rx", "m"],
        ["8", "Amount", "1,234.56", "'=bad message"],
        ["", "", "", "file-level"],
    ]


def test_reject_file_withholds_values_of_personal_data(tmp_path):
    errors = [RowError(2, "Salary", "Jane Doe 120000", "text next to the number")]
    path = q.write_reject_file(errors, tmp_path / "r.csv", personal_data=True)
    assert read(path) == [
        ["row", "column", "value", "message"],
        ["2", "Salary", "", "text next to the number"],
    ]
    assert "Jane" not in path.read_text(encoding="utf-8-sig")


def test_reject_file_lists_every_error(tmp_path):
    errors = [RowError(i, "A", str(i), "m") for i in range(2, 5002)]
    path = q.write_reject_file(errors, str(tmp_path / "big.csv"))
    assert len(read(path)) == 5001


def test_not_blank_pattern_is_pythons_non_space_and_runs_in_arrow():
    """The department/sub-category rule: Python's \\S spelled so pandas hands it to RE2."""
    import re
    import sys

    import pyarrow as pa
    import pyarrow.compute as pc

    chars = [chr(i) for i in range(sys.maxunicode + 1) if not 0xD800 <= i <= 0xDFFF]
    expected = [not c.isspace() for c in chars]
    assert [bool(re.search(q.NOT_BLANK_PATTERN, c)) for c in chars] == expected
    assert pc.match_substring_regex(pa.array(chars), q.NOT_BLANK_PATTERN).to_pylist() == expected
    column = pd.Series(["Ops", " ", "\u3000"], dtype="str")
    assert not column.array._needs_python_regex(q.NOT_BLANK_PATTERN)
    assert column.str.contains(q.NOT_BLANK_PATTERN).tolist() == [True, False, False]
