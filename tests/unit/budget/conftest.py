"""Helpers for the budget-file tests: the fixture folders and small file writers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "budget_files"
BAD = FIXTURES / "bad"


def _csv(rows: Sequence[Sequence[str]], sep: str = ",") -> str:
    def cell(value: str) -> str:
        if any(ch in value for ch in (sep, '"', "\n")):
            return '"' + value.replace('"', '""') + '"'
        return value

    return "".join(sep.join(cell(v) for v in row) + "\n" for row in rows)


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """write_csv(rows, name='f.csv', sep=',', encoding='utf-8') -> path in tmp_path."""

    def write(
        rows: Sequence[Sequence[str]],
        name: str = "budget.csv",
        sep: str = ",",
        encoding: str = "utf-8",
        bom: bytes = b"",
    ) -> Path:
        path = tmp_path / name
        path.write_bytes(bom + _csv(rows, sep).encode(encoding))
        return path

    return write


@pytest.fixture
def write_xlsx(tmp_path: Path) -> Callable[..., Path]:
    """write_xlsx({'Sheet': rows}, merges={'Sheet': ['B1:C1']}) -> path (openpyxl)."""

    def write(
        sheets: dict[str, Sequence[Sequence[object]]],
        name: str = "budget.xlsx",
        merges: dict[str, list[str]] | None = None,
    ) -> Path:
        from openpyxl import Workbook

        book = Workbook()
        book.remove(book.active)
        for title, rows in sheets.items():
            sheet = book.create_sheet(title)
            for r, row in enumerate(rows, start=1):
                for c, value in enumerate(row, start=1):
                    if value is not None and value != "":
                        cell = sheet.cell(row=r, column=c, value=value)
                        if isinstance(value, str) and value.startswith("="):
                            cell.data_type = "s"  # text that looks like a formula
            for cells in (merges or {}).get(title, []):
                sheet.merge_cells(cells)
        path = tmp_path / name
        book.save(path)
        return path

    return write


BUDGET = [
    ["Department", "Account", "Fiscal Period", "Budget Amount", "Currency"],
    ["Finance", "Software", "FY2025-Q1", "12000.00", "USD"],
    ["Finance", "Travel", "FY2025-Q1", "3500.00", "USD"],
    ["Marketing", "Advertising", "FY2025-Q2", "40000.00", "EUR"],
]
