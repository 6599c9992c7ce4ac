"""`parse_file`: the format by the file's first bytes (never by its name), then the text or
workbook reader, then the table in what was read."""

from __future__ import annotations

from pathlib import Path

from finsync.budget.model import BudgetFileError, ParsedFile
from finsync.budget.read.grid import DEFAULT_LIMITS, Limits
from finsync.budget.read.table import build_table
from finsync.budget.read.text import read_text
from finsync.budget.read.workbook import read_workbook


def parse_file(
    path: str | Path,
    *,
    sheet: str | None = None,
    header_row: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> ParsedFile:
    """Read `path` into a `ParsedFile` (see finsync.budget.read for what is decided)."""
    path = Path(path)
    if not path.exists():
        raise BudgetFileError(f"{path}: no such file; check the path and the source's glob")
    if not path.is_file():
        raise BudgetFileError(f"{path}: is not a file")
    size = path.stat().st_size
    if size == 0:
        raise BudgetFileError(f"{path.name}: the file is empty (0 bytes); export it again")
    if header_row is not None and header_row < 1:
        raise BudgetFileError(f"header_row must be 1 or more (1 = the first row), got {header_row}")
    with path.open("rb") as handle:
        magic = handle.read(8)
    suffix = path.suffix.lower()
    if magic.startswith(b"PK\x03\x04") or magic.startswith(b"PK\x05\x06"):
        workbook = read_workbook(path, "xlsx", sheet, limits)
    elif magic.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        workbook = read_workbook(path, "xls", sheet, limits)
    else:
        grid = read_text(path, size, limits)
        if suffix in (".xlsx", ".xlsm", ".xls", ".ods"):
            grid.warnings.append(
                f"the file is named {suffix} but holds delimited text: read it as CSV"
            )
        return build_table(grid, header_row, limits)
    return build_table(workbook, header_row, limits)
