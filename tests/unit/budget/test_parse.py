"""parse_file: formats, encodings, delimiters, header rows, totals, wide layout, bad input."""

from __future__ import annotations

import zipfile
from datetime import date, datetime
from pathlib import Path

import pytest

from finsync.budget.cells import cell_kind, is_number
from finsync.budget.headers import period_key
from finsync.budget.model import BudgetFileError
from finsync.budget.read import Limits, column_letter, parse_file
from finsync.budget.read.workbook import _cell_text

from .conftest import BAD, BUDGET, FIXTURES


def rows_of(parsed) -> list[list[str]]:
    return parsed.frame.to_numpy().tolist()


# --------------------------------------------------------------------------------------
# Delimited text


def test_long_csv_keeps_every_cell_as_written(write_csv):
    parsed = parse_file(write_csv(BUDGET))
    assert list(parsed.frame.columns) == BUDGET[0]
    assert rows_of(parsed) == BUDGET[1:]
    assert parsed.source_rows == [2, 3, 4]
    assert (parsed.header_row, parsed.layout, parsed.period_columns) == (1, "long", [])
    assert (parsed.file_format, parsed.encoding, parsed.delimiter) == ("csv", "utf-8", ",")
    assert parsed.warnings == []


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_delimiter_is_detected(write_csv, sep):
    rows = [r[:] for r in BUDGET]
    rows[1][3] = "12.000,00" if sep != "," else "12000.00"  # German numbers with ; and tab
    parsed = parse_file(write_csv(rows, sep=sep))
    assert parsed.delimiter == sep
    assert list(parsed.frame.columns) == BUDGET[0]
    assert parsed.frame.iloc[0, 3] == rows[1][3]


def test_utf8_bom_is_not_part_of_the_first_header(write_csv):
    parsed = parse_file(write_csv(BUDGET, bom=b"\xef\xbb\xbf"))
    assert parsed.encoding == "utf-8-sig"
    assert parsed.frame.columns[0] == "Department"


@pytest.mark.parametrize(
    ("encoding", "bom"), [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff")]
)
def test_utf16_with_bom(write_csv, encoding, bom):
    rows = [["Department", "Amount"], ["Zürich", "10"], ["São Paulo", "20"]]
    parsed = parse_file(write_csv(rows, sep="\t", encoding=encoding, bom=bom))
    assert parsed.encoding == "utf-16"
    assert parsed.delimiter == "\t"
    assert parsed.frame["Department"].tolist() == ["Zürich", "São Paulo"]


def test_utf16_export_fixture():
    parsed = parse_file(BAD / "utf16_export.csv")
    assert parsed.delimiter == "\t"
    assert parsed.frame["Department"].tolist() == ["Zürich Office", "São Paulo Office"]


def test_cp1252_file_is_read_with_a_warning():
    parsed = parse_file(FIXTURES / "budget_semicolon_cp1252.csv")
    assert parsed.encoding == "cp1252"
    assert parsed.delimiter == ";"
    assert "Währung" in parsed.frame.columns
    assert "Gehälter" in parsed.frame["Kostenart"].tolist()
    assert any("not UTF-8" in w for w in parsed.warnings)
    # the 'Gesamtsumme' row is a total
    assert parsed.frame["Kostenstelle"].tolist() == ["Vertrieb", "Vertrieb", "Einkauf"]


def test_mixed_encodings_are_read_per_byte_with_a_warning():
    parsed = parse_file(BAD / "mixed_encodings.csv")
    assert parsed.frame["Department"].tolist() == ["Café Operations", "Research"]
    assert parsed.frame["Account"].tolist() == ["Supplies", "Équipement"]
    assert parsed.encoding == "utf-8+cp1252"
    assert any("mixed encodings" in w and "line 3" in w for w in parsed.warnings)


def test_mixed_encoding_far_into_the_file_is_caught(write_csv, tmp_path):
    rows = [["Department", "Amount"]] + [["Café", str(i)] for i in range(150_000)]  # > 1 MB
    path = write_csv(rows)
    path.write_bytes(path.read_bytes() + "Réseau,5\n".encode("cp1252"))
    parsed = parse_file(path)
    assert parsed.frame["Department"].iloc[-1] == "Réseau"
    assert parsed.frame["Department"].iloc[0] == "Café"
    assert any("mixed encodings" in w for w in parsed.warnings)


def test_quoted_newlines_stay_in_the_cell_and_rows_count_records():
    parsed = parse_file(FIXTURES / "budget_quoted_newlines.csv")
    assert parsed.frame["Line Item"].tolist()[0] == "Outside counsel\n(retainer)"
    assert parsed.source_rows == [2, 3, 4]


def test_title_rows_above_the_header_and_blank_rows_in_the_data(write_csv):
    rows = [
        ["Acme budget FY2025", "", "", ""],
        ["exported 2025-01-03", "", "", ""],
        ["", "", "", ""],
        ["Department", "Account", "Period", "Amount"],
        ["Sales", "Travel", "FY2025", "100"],
        ["", "", "", ""],
        [" ", " -   ", "", ""],
        ["IT", "Software", "FY2025", "200"],
    ]
    parsed = parse_file(write_csv(rows))
    assert parsed.header_row == 4
    assert list(parsed.frame.columns) == ["Department", "Account", "Period", "Amount"]
    assert parsed.source_rows == [5, 8]


@pytest.mark.parametrize(
    "label",
    [
        "Total",
        "TOTAL ",
        "Subtotal",
        "Sub-Total",
        "Grand Total",
        "Sales Total",
        "Gesamtsumme",
        "Summe Vertrieb",
        "Total general",
        "= Ordentliche Aufwendungen",
    ],
)
def test_total_rows_are_dropped(write_csv, label):
    rows = [
        ["Code", "Department", "Amount"],
        ["10", "Sales", "100"],
        ["11", label, "100"],
        ["12", "Totally Different Dept", "5"],
    ]
    parsed = parse_file(write_csv(rows))
    assert parsed.frame["Department"].tolist() == ["Sales", "Totally Different Dept"]
    assert parsed.source_rows == [2, 4]
    assert any("total/subtotal" in w and "row 3" in w for w in parsed.warnings)


def test_formulas_are_never_evaluated():
    parsed = parse_file(BAD / "formula_injection.csv")
    assert parsed.frame["Account"].tolist()[:4] == [
        '=HYPERLINK("http://evil.example","click")',
        "+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(1+1)*cmd|' /C calc'!A0",
    ]
    assert parsed.frame["Department"].iloc[-1] == "=1+1"  # no space after '=': not a subtotal
    assert parsed.frame["Budget"].iloc[-1] == "=2*1000"
    assert parsed.source_rows == [2, 3, 4, 5, 6]


def test_duplicate_headers_are_renamed_with_a_warning():
    parsed = parse_file(BAD / "duplicate_headers.csv")
    assert list(parsed.frame.columns) == ["Department", "Amount", "Period", "Amount_2"]
    assert parsed.frame["Amount_2"].tolist() == ["110", "220"]
    assert any("duplicate column names renamed" in w and "Amount_2" in w for w in parsed.warnings)


def test_repeated_header_rows_in_the_data_are_dropped(write_csv):
    rows = [BUDGET[0], BUDGET[1], BUDGET[0], BUDGET[2]]
    parsed = parse_file(write_csv(rows))
    assert parsed.source_rows == [2, 4]
    assert any("repeating the header" in w for w in parsed.warnings)


def test_header_row_can_be_given(write_csv):
    rows = [["Department", "Amount"], ["x", "y"], ["Team", "Budget"], ["Sales", "10"]]
    parsed = parse_file(write_csv(rows), header_row=3)
    assert list(parsed.frame.columns) == ["Team", "Budget"]
    assert parsed.header_row == 3
    assert parsed.source_rows == [4]


def test_stacked_csv_header_is_combined_and_group_labels_fill_right(write_csv):
    rows = [
        ["", "", "Actual", "Budget", "", ""],
        ["Department", "Account", "2024", "2025", "2026", "2027"],
        ["Sales", "Travel", "1.000,00", "1.100", "1.200", "1.300"],
        ["IT", "Software", "2.000,00", "2.100", "2.200", "2.300"],
    ]
    parsed = parse_file(write_csv(rows))
    assert parsed.header_row == 2
    assert list(parsed.frame.columns) == [
        "Department",
        "Account",
        "Actual 2024",
        "Budget 2025",
        "Budget 2026",
        "Budget 2027",
    ]
    assert parsed.layout == "wide"
    assert parsed.period_columns == ["Budget 2025", "Budget 2026", "Budget 2027"]
    assert any("actual columns" in w and "Actual 2024" in w for w in parsed.warnings)


def test_section_heading_rows_become_a_column(write_csv):
    rows = [
        ["", "FY2025 Budget", "FY2024 Actual"],
        ["Police", "", ""],
        ["Salaries", "100", "90"],
        ["Vehicles", "50", "40"],
        ["Parks", "", ""],
        ["Salaries", "70", "60"],
        ["Mowers", "20", "25"],
    ]
    parsed = parse_file(write_csv(rows))
    assert list(parsed.frame.columns)[:2] == ["Section", "Column A"]
    assert parsed.frame["Section"].tolist() == ["Police", "Police", "Parks", "Parks"]
    assert parsed.frame["Column A"].tolist() == ["Salaries", "Vehicles", "Salaries", "Mowers"]
    assert parsed.source_rows == [3, 4, 6, 7]


def test_rows_with_only_a_name_that_recurs_are_not_sections(write_csv):
    rows = [["Department", "Account", "Amount"]]
    rows += [["Sales", "Travel", "10"], ["Sales", "", ""], ["IT", "Travel", "5"], ["IT", "", ""]]
    rows += [["Sales", "Meals", "3"], ["IT", "Meals", "4"]]
    parsed = parse_file(write_csv(rows))
    assert "Section" not in parsed.frame.columns
    assert len(parsed.frame) == 6


# --------------------------------------------------------------------------------------
# Wide layout


@pytest.mark.parametrize(
    "periods",
    [
        ["Jan 2025", "Feb 2025", "Mar 2025"],
        ["Q1 FY25", "Q2 FY25", "Q3 FY25", "Q4 FY25"],
        ["FY2025", "FY2026"],
        ["2024-25", "2025-26"],
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
        ["2025-01", "2025-02"],
        ["Budget 2025", "Budget 2026"],
        ["Enero 2025", "Febrero 2025"],
        ["1", "2", "3", "4"],
    ],
)
def test_wide_layout_is_detected(write_csv, periods):
    rows = [["Department", "Category", *periods]]
    rows += [["Sales", "Travel", *(str(100 + i) for i in range(len(periods)))]]
    rows += [["IT", "Software", *("1,234.50" for _ in periods)]]
    parsed = parse_file(write_csv(rows))
    assert parsed.layout == "wide"
    assert parsed.period_columns == periods


def test_long_file_with_a_period_column_is_not_wide(write_csv):
    rows = [["Department", "Fiscal Year", "FY2025 Budget"], ["Sales", "2025", "10"]]
    rows.append(["IT", "2025", "20"])
    assert parse_file(write_csv(rows)).layout == "long"


def test_one_amount_column_named_by_its_period_is_wide(write_csv):
    rows = [["Department", "Account", "FY2025 Adopted Budget", "FY2025 Amended Budget"]]
    rows += [["Sales", "Travel", "10", "12"], ["IT", "Software", "20", "20"]]
    parsed = parse_file(write_csv(rows))
    assert parsed.layout == "wide"
    assert parsed.period_columns == ["FY2025 Amended Budget"]
    assert any("same period" in w for w in parsed.warnings)


def test_period_headers_over_text_are_not_wide(write_csv):
    rows = [["Department", "2024", "2025"], ["Sales", "yes", "no"], ["IT", "no", "yes"]]
    assert parse_file(write_csv(rows)).layout == "long"


def test_variance_columns_are_never_periods(write_csv):
    rows = [["Department", "FY24 Budget", "FY25 Budget", "FY25 vs FY24 %"]]
    rows += [["Sales", "10", "12", "20%"], ["IT", "5", "5", "0%"]]
    parsed = parse_file(write_csv(rows))
    assert parsed.period_columns == ["FY24 Budget", "FY25 Budget"]


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("Jan 2025", "m1 y2025"),
        ("FY25", "y25"),
        ("FY 2025", "y2025"),
        ("Q1 FY25", "q1 y25"),
        ("2024-25", "y2024 y25"),
        ("20 Budget", "y20"),
        ("Haushaltsansatz(€) 2026", "y2026"),
        ("2025-03-01", "y2025 m3"),
        ("Total_10", None),
        ("Class 100", None),
        ("Department", None),
        ("Total (Original Appn Balance) No.8", None),
        ("Budget Year Name", None),
    ],
)
def test_period_key(header, key):
    assert period_key(header) == key


# --------------------------------------------------------------------------------------
# Workbooks


def test_report_style_workbook():
    """Title rows, a leading empty column, merged group labels, subtotal and total rows."""
    parsed = parse_file(FIXTURES / "budget_report_style.xlsx")
    assert parsed.file_format == "xlsx"
    assert parsed.sheet == "FY25"
    assert parsed.header_row == 5
    assert list(parsed.frame.columns) == [
        "Division",
        "Cost Center",
        "FY2025 Budget H1",
        "FY2025 Budget H2",
    ]
    assert rows_of(parsed) == [
        ["Operations", "Logistics", "120000", "125000.5"],
        ["Operations", "Facilities", "80000", "80000"],
        ["Research", "Lab", "300000", "310000"],
    ]
    assert parsed.source_rows == [6, 7, 9]
    assert parsed.layout == "wide"
    assert parsed.period_columns == ["FY2025 Budget H1", "FY2025 Budget H2"]


def test_the_sheet_that_looks_like_a_budget_is_chosen():
    parsed = parse_file(FIXTURES / "budget_two_sheets.xlsx")
    assert parsed.sheet == "Plan FY26"
    assert len(parsed.frame) == 4
    assert any("picked sheet 'Plan FY26'" in w for w in parsed.warnings)


@pytest.mark.parametrize("sheet", ["Plan FY26", "plan fy26", "2"])
def test_a_sheet_can_be_named(sheet):
    assert parse_file(FIXTURES / "budget_two_sheets.xlsx", sheet=sheet).sheet == "Plan FY26"


def test_an_unknown_sheet_lists_the_sheets():
    with pytest.raises(BudgetFileError, match="no sheet 'Budget'.*'Notes', 'Plan FY26'"):
        parse_file(FIXTURES / "budget_two_sheets.xlsx", sheet="Budget")


def test_hidden_sheets_are_not_picked(write_xlsx, tmp_path):
    from openpyxl import load_workbook

    path = write_xlsx({"Visible": BUDGET[:3], "Hidden": BUDGET * 5})
    book = load_workbook(path)
    book["Hidden"].sheet_state = "hidden"
    book.save(path)
    assert parse_file(path).sheet == "Visible"


def test_workbook_cells_are_written_as_excel_shows_them(write_xlsx):
    rows = [
        ["Department", "Month", "Amount", "Approved", "Note"],
        ["Sales", datetime(2025, 1, 1), 1500.0, True, "=HYPERLINK(x)"],
        ["IT", date(2025, 2, 1), 0.1 + 0.2, False, "+cmd"],
        ["HR", datetime(2025, 3, 1, 12, 30), 12345678901234.0, True, ""],
    ]
    parsed = parse_file(write_xlsx({"Plan": rows}))
    assert rows_of(parsed) == [
        ["Sales", "2025-01-01", "1500", "TRUE", "=HYPERLINK(x)"],
        ["IT", "2025-02-01", "0.3", "FALSE", "+cmd"],
        ["HR", "2025-03-01 12:30:00", "12345678901234", "TRUE", ""],
    ]


def test_vertically_merged_cells_fill_every_row(write_xlsx):
    rows = [["Department", "Account", "Amount"], ["Sales", "Travel", 1], [None, "Meals", 2]]
    rows.append(["IT", "Software", 3])
    parsed = parse_file(write_xlsx({"Plan": rows}, merges={"Plan": ["A2:A3"]}))
    assert parsed.frame["Department"].tolist() == ["Sales", "Sales", "IT"]


def test_side_by_side_tables_keep_the_first(write_xlsx):
    rows = [
        ["Department", "Amount", None, "Department", "Amount"],
        ["Sales", 1, None, "Sales", 10],
        ["IT", 2, None, "IT", 20],
    ]
    parsed = parse_file(write_xlsx({"Plan": rows}))
    assert list(parsed.frame.columns) == ["Department", "Amount"]
    assert any("side by side" in w for w in parsed.warnings)


def test_csv_content_named_xlsx_is_read_as_text(tmp_path):
    path = tmp_path / "budget.xlsx"
    path.write_text("Department,Amount\nSales,10\n")
    parsed = parse_file(path)
    assert parsed.file_format == "csv"
    assert any("named .xlsx but holds delimited text" in w for w in parsed.warnings)


def test_workbook_named_csv_is_read_as_a_workbook(write_xlsx, tmp_path):
    path = write_xlsx({"Plan": BUDGET})
    renamed = tmp_path / "budget.csv"
    path.rename(renamed)
    assert parse_file(renamed).file_format == "xlsx"


# --------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.csv", "the file is empty"),
        ("header_only.csv", "the file has a header but no data rows"),
        ("binary_junk.csv", "this is not a text table (binary content"),
        ("not_a_table.csv", "nothing table-like"),
        ("truncated.xlsx", "corrupt or truncated"),
        ("corrupt.xlsx", "corrupt or truncated"),
        ("zip_bomb.xlsx", "over the 500 MB limit (possible zip bomb)"),
        ("zip_bomb_ratio.xlsx", "limit 200:1"),
    ],
)
def test_bad_files_raise_a_clear_error(name, message):
    with pytest.raises(BudgetFileError) as error:
        parse_file(BAD / name)
    assert message in str(error.value)


def test_committed_zip_bombs_are_small_on_disk():
    for name in ("zip_bomb.xlsx", "zip_bomb_ratio.xlsx"):
        path = BAD / name
        assert path.stat().st_size < 2 * 1024**2
        with zipfile.ZipFile(path) as archive:
            assert sum(m.file_size for m in archive.infolist()) > 50 * 1024**2


def test_zip_bomb_is_refused_before_it_is_unpacked(monkeypatch):
    import python_calamine

    def boom(*args, **kwargs):
        raise AssertionError("the workbook was opened")

    monkeypatch.setattr(python_calamine.CalamineWorkbook, "from_path", boom)
    with pytest.raises(BudgetFileError, match="zip bomb"):
        parse_file(BAD / "zip_bomb.xlsx")


def test_a_10_mb_single_line_has_no_header(tmp_path):
    path = tmp_path / "one_line.csv"
    path.write_bytes(b"a," * (5 * 1024 * 1024))
    with pytest.raises(BudgetFileError, match="no header row found"):
        parse_file(path)


def test_binary_junk_without_nul_bytes(tmp_path):
    path = tmp_path / "junk.csv"
    path.write_bytes(bytes((i * 37 + 11) % 256 for i in range(20_000) if (i * 37 + 11) % 256))
    with pytest.raises(BudgetFileError, match="binary content"):
        parse_file(path)


def test_missing_file(tmp_path):
    with pytest.raises(BudgetFileError, match="no such file"):
        parse_file(tmp_path / "nope.csv")


def test_size_and_row_limits(write_csv):
    path = write_csv(BUDGET)
    with pytest.raises(BudgetFileError, match="limit for a text file"):
        parse_file(path, limits=Limits(max_csv_bytes=50))
    with pytest.raises(BudgetFileError, match="over the 2 row limit"):
        parse_file(path, limits=Limits(max_rows=2))


def test_zip_limits_are_configurable(write_xlsx):
    path = write_xlsx({"Plan": BUDGET})
    with pytest.raises(BudgetFileError, match="would unpack"):
        parse_file(path, limits=Limits(max_uncompressed_bytes=1000))


def test_a_single_column_is_not_a_table(write_csv):
    with pytest.raises(BudgetFileError, match="nothing table-like"):
        parse_file(write_csv([["Department"], ["Sales"], ["IT"]]))


def test_only_totals_below_the_header(write_csv):
    with pytest.raises(BudgetFileError, match="header but no data rows"):
        parse_file(write_csv([["Department", "Amount"], ["Total", "10"], ["", ""]]))


def test_header_row_past_the_end(write_csv):
    with pytest.raises(BudgetFileError, match="past the end"):
        parse_file(write_csv(BUDGET), header_row=40)


# --------------------------------------------------------------------------------------
# Small helpers


@pytest.mark.parametrize(
    "text",
    ["1,234.56", "1.234,56", "1 234,56", "$1,234", "USD 1234", "(1,234.56)", "-1234.56", "1.2M"]
    + ["450k", "9.002.030-", " 156,432 ", "12%", "€ 5"],
)
def test_numbers_people_write(text):
    assert is_number(text)


@pytest.mark.parametrize("text", ["Sales", "FY2025", "Q1 2025", "1,2,3,4", "12 apples", ""])
def test_not_numbers(text):
    assert not is_number(text)


def test_cell_kinds():
    assert [cell_kind(c) for c in ["", " -  ", "2025", "2025-01-31", "1,000", "Rent"]] == [
        "",
        "",
        "year",
        "date",
        "num",
        "text",
    ]


def test_cell_text_and_column_letters():
    assert _cell_text(3.0) == "3"
    assert _cell_text(8218656.600000001) == "8218656.6"
    assert _cell_text(True) == "TRUE"
    assert _cell_text(None) == ""
    assert [column_letter(i) for i in (0, 25, 26, 701, 702)] == ["A", "Z", "AA", "ZZ", "AAA"]


def test_fixture_generator_is_deterministic(tmp_path, monkeypatch):
    """The committed fixtures are what make_fixtures.py writes."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "HERE", tmp_path)
    monkeypatch.setattr(module, "BAD", tmp_path / "bad")
    module.bad_files()
    for name in ("formula_injection.csv", "mixed_encodings.csv", "utf16_export.csv"):
        assert (tmp_path / "bad" / name).read_bytes() == (BAD / name).read_bytes()
    assert isinstance(Path(module.__file__), Path)


def test_damaged_xls_says_what_to_do(tmp_path):
    path = tmp_path / "legacy.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)) * 8)
    with pytest.raises(BudgetFileError, match="cannot read this XLS workbook.*password"):
        parse_file(path)


def test_column_limit(write_csv):
    with pytest.raises(BudgetFileError, match="column limit"):
        parse_file(write_csv(BUDGET), limits=Limits(max_columns=3))


def test_workbook_with_a_header_only(write_xlsx):
    with pytest.raises(BudgetFileError, match="header but no data rows"):
        parse_file(write_xlsx({"Plan": [BUDGET[0]]}))


def test_workbook_whose_sheets_are_empty(write_xlsx):
    with pytest.raises(BudgetFileError, match="holds a table|is empty"):
        parse_file(write_xlsx({"A": [[None]], "B": [["just a note"]]}))


# --------------------------------------------------------------------------------------
# The two CSV readers (Arrow for plain files, pandas for the rest) read the same cells


def _messy_lines(n: int) -> list[str]:
    lines = ["Cost Centre,Account,Period,Budget Amount,Currency"]
    for i in range(n):
        kind = i % 97
        if kind == 5:
            lines.append(",,,,")
        elif kind == 7:
            lines.append("Total,,,123456.00,AUD")
        elif kind == 11:
            lines.append("Cost Centre,Account,Period,Budget Amount,Currency")
        elif kind == 13:
            lines.append(f"= Dept {i % 50},,,1.00,")
        elif kind == 17:
            lines.append(f" Dept {i % 50} , - ,Jan 2026,\t12.50 ,aud")
        else:
            lines.append(f"Dept {i % 50:03d},Acct {i % 7},Jan 2026,{i}.{i % 100:02d},AUD")
    return lines


@pytest.mark.parametrize(
    "text",
    [
        "\n".join(_messy_lines(30_000)) + "\n",  # above the distinct-values threshold
        "\r\n".join(_messy_lines(300)) + "\r\n",
        "\r".join(_messy_lines(300)),
        "\n".join(_messy_lines(300)) + "\n\n\n",  # trailing blank lines
        "a,b,c\n1,2,3\n\n4,5\n6,7,8,9\n",  # a short and a long row
        "Dept\tAmount\tPeriod\n D1 \t 5 \tFY2026\n\x00x\t1\tFY2026\n",
        "Item,Q1,Q2\nPolice,,\nCars,1,2\nFuel,3,4\nFire,,\nTrucks,5,6\nHoses,7,8\n",
    ],
    ids=["30k", "crlf", "cr", "trailing", "ragged", "tabs", "sections"],
)
def test_the_arrow_and_pandas_csv_readers_agree(text, tmp_path, monkeypatch):
    import finsync.budget.read.text as text_reader

    path = tmp_path / "f.csv"
    path.write_bytes(text.encode())

    def outcome():
        try:
            parsed = parse_file(path)
        except BudgetFileError as exc:
            return str(exc)
        frame = parsed.frame
        return (
            list(frame.columns),
            [frame[c].tolist() for c in frame.columns],
            [str(t) for t in frame.dtypes],
            parsed.source_rows,
            parsed.layout,
            parsed.period_columns,
            parsed.warnings,
            parsed.header_row,
        )

    fast = outcome()
    monkeypatch.setattr(text_reader, "_arrow_read", lambda *a, **k: None)
    assert fast == outcome()


def test_a_quote_anywhere_leaves_the_file_to_pandas(tmp_path):
    from finsync.budget.read.text import _arrow_read

    path = tmp_path / "f.csv"
    path.write_text('Dept,Amount\nOps,1\n"Open quote,2\n')
    assert _arrow_read(path, ",", 2, Limits()) is None
    path.write_text("Dept,Amount\nOps,1\nSales,2\n")
    assert _arrow_read(path, ",", 2, Limits()) is not None


def test_matches_and_blank_mask_shortcuts_give_the_plain_regex_result():
    """matches() runs once per distinct value on repetitive columns; blank_mask() runs the
    regex only on cells whose first byte can start a blank: both as the regex on every cell."""
    import pandas as pd
    import pyarrow.compute as pc

    from finsync.budget.cells import BLANK_PATTERN, NUMBER_PATTERN, blank_mask, matches
    from finsync.budget.read.table import _TOTAL_HINT

    cells = ["Total", "x", " Dept 1", "  = sub", "Summe", "итого", None, "ſumme", "", " ", "-"]
    cells += ["—", "\t–\n", "\x0b", "- 1", "1", "\u00a0", "\u2028", "a - b", "\r"]
    series = pd.Series([cells[(i * 7) % len(cells)] for i in range(50_000)], dtype="str")
    data = series.array.__arrow_array__()
    for pattern, ignore_case in ((_TOTAL_HINT, True), (NUMBER_PATTERN, False)):
        plain = pc.match_substring_regex(data, pattern, ignore_case=ignore_case)
        expected = pc.fill_null(plain, False).to_numpy(zero_copy_only=False)
        assert (matches(series, pattern, ignore_case=ignore_case) == expected).all()
    plain = pc.fill_null(pc.match_substring_regex(data, BLANK_PATTERN), True)
    assert (blank_mask(series) == plain.to_numpy(zero_copy_only=False)).all()
    assert (blank_mask(series.iloc[3:]) == plain.to_numpy(zero_copy_only=False)[3:]).all()
