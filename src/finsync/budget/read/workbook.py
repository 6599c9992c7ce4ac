"""Workbooks (XLSX, XLS, ODS through calamine): zip-bomb and damage checks before anything
is unpacked, the sheet that looks most like a budget table (unless one is named), merged
cells filled with their value, typed cells written as Excel shows them."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from finsync.budget.cells import number_ratio
from finsync.budget.headers import BUDGET_WORDS, fold_text
from finsync.budget.model import BudgetFileError
from finsync.budget.read.grid import DEFAULT_LIMITS, HEADER_SEARCH_ROWS, Grid, Limits
from finsync.budget.read.table import build_table


def read_workbook(path: Path, kind: str, sheet: str | None, limits: Limits) -> Grid:
    from python_calamine import CalamineWorkbook

    file_format = kind
    if kind == "xlsx":
        file_format = _check_zip(path, limits)
    try:
        book = CalamineWorkbook.from_path(str(path))
        metadata = book.sheets_metadata
    except Exception as exc:  # noqa: BLE001 - calamine raises several types; all mean the same
        raise BudgetFileError(_workbook_error(path, file_format, exc)) from None
    names = [m.name for m in metadata]
    visible = [
        m.name
        for m in metadata
        if str(m.visible).endswith("Visible") and str(m.typ).endswith("WorkSheet")
    ]
    warnings: list[str] = []
    if sheet is not None:
        chosen = _resolve_sheet(sheet, names, path.name)
        return _load_sheet(book, chosen, path, file_format, limits, warnings)
    candidates = visible or names
    if len(candidates) == 1:
        return _load_sheet(book, candidates[0], path, file_format, limits, warnings)
    scored: list[tuple[float, str]] = []
    for name in candidates:
        try:
            grid = _load_sheet(book, name, path, file_format, limits, [], nrows=300)
        except BudgetFileError:
            continue
        scored.append((_sheet_score(grid), name))
    scored = [s for s in scored if s[0] > 0]
    if not scored:
        raise BudgetFileError(
            f"{path.name}: none of the sheets ({', '.join(names)}) holds a table; pick the "
            "sheet with --sheet or check the export"
        )
    scored.sort(key=lambda s: -s[0])
    chosen = scored[0][1]
    others = [n for n in candidates if n != chosen]
    warnings.append(
        f"picked sheet {chosen!r} (the one that looks most like a budget table); other "
        f"sheets: {', '.join(repr(n) for n in others)}; use --sheet to choose another"
    )
    return _load_sheet(book, chosen, path, file_format, limits, warnings)


def _resolve_sheet(sheet: str, names: list[str], file_name: str) -> str:
    if sheet in names:
        return sheet
    folded = {n.strip().casefold(): n for n in names}
    if sheet.strip().casefold() in folded:
        return folded[sheet.strip().casefold()]
    if sheet.isdigit() and 1 <= int(sheet) <= len(names):
        return names[int(sheet) - 1]
    raise BudgetFileError(
        f"{file_name}: there is no sheet {sheet!r}; the sheets are "
        f"{', '.join(repr(n) for n in names)}"
    )


def _workbook_error(path: Path, file_format: str, exc: Exception) -> str:
    detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    if file_format == "xls":
        return (
            f"{path.name}: cannot read this XLS workbook ({detail}); if it is password-protected "
            "remove the password, otherwise save it again as XLSX or CSV"
        )
    return (
        f"{path.name}: the {file_format.upper()} file is corrupt or truncated ({detail}); "
        "export it again from the FP&A tool or Excel"
    )


def _check_zip(path: Path, limits: Limits) -> str:
    """Refuse damaged zips and zip bombs BEFORE anything is decompressed; returns xlsx or ods."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            names = {m.filename for m in members}
            mimetype = archive.read("mimetype")[:100] if "mimetype" in names else b""
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise BudgetFileError(
            f"{path.name}: the workbook is corrupt or truncated (not a readable zip: {exc}); "
            "export it again from the FP&A tool or Excel"
        ) from None
    if len(members) > limits.max_zip_members:
        raise BudgetFileError(
            f"{path.name}: the workbook holds {len(members)} parts; refusing (more than "
            f"{limits.max_zip_members}, this is not a normal spreadsheet)"
        )
    total = sum(m.file_size for m in members)
    if total > limits.max_uncompressed_bytes:
        raise BudgetFileError(
            f"{path.name}: the workbook would unpack to {total / 1024**2:,.0f} MB, over the "
            f"{limits.max_uncompressed_bytes / 1024**2:,.0f} MB limit (possible zip bomb); "
            "export a CSV instead or split the workbook"
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > 1024**2 and ratio > limits.max_compression_ratio:
            raise BudgetFileError(
                f"{path.name}: the part {member.filename!r} is compressed {ratio:,.0f}:1 "
                f"(limit {limits.max_compression_ratio:,.0f}:1): refusing a possible zip bomb"
            )
    if b"opendocument.spreadsheet" in mimetype:
        return "ods"
    if "[Content_Types].xml" not in names or not any(n.startswith("xl/") for n in names):
        raise BudgetFileError(
            f"{path.name}: this zip is not an Excel workbook (no xl/ part); export the budget "
            "as XLSX or CSV"
        )
    return "xlsx"


def _load_sheet(
    book: Any,
    name: str,
    path: Path,
    file_format: str,
    limits: Limits,
    warnings: list[str],
    *,
    nrows: int | None = None,
) -> Grid:
    try:
        sheet = book.get_sheet_by_name(name)
        if nrows is None and sheet.height > limits.max_rows + HEADER_SEARCH_ROWS:
            raise BudgetFileError(
                f"{path.name}: sheet {name!r} has {sheet.height:,} rows, over the "
                f"{limits.max_rows:,} row limit; split the export"
            )
        if sheet.width > limits.max_columns:
            raise BudgetFileError(f"{path.name}: sheet {name!r} has {sheet.width:,} columns")
        rows = sheet.to_python(skip_empty_area=False, nrows=nrows)
        merges = sheet.merged_cell_ranges or []
    except BudgetFileError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise BudgetFileError(_workbook_error(path, file_format, exc)) from None
    if not rows or not any(any(v != "" for v in r) for r in rows[: HEADER_SEARCH_ROWS * 50]):
        raise BudgetFileError(f"{path.name}: sheet {name!r} is empty")
    raw = _rows_to_frame(rows, merges, limits)
    return Grid(
        raw=raw, file_format=file_format, sheet=name, merges=merges, warnings=list(warnings)
    )


def _rows_to_frame(
    rows: list[list[Any]],
    merges: Sequence[tuple[tuple[int, int], tuple[int, int]]],
    limits: Limits,
) -> pd.DataFrame:
    """Calamine's typed cells -> a DataFrame of str columns, merged ranges filled."""
    from pandas._libs import lib

    width = max(len(r) for r in rows)
    if any(len(r) != width for r in rows):
        rows = [r + [""] * (width - len(r)) for r in rows]
    array = lib.to_object_array(rows)
    columns = [_cells_to_text(array[:, j]) for j in range(array.shape[1])]
    filled = 0
    for (r1, c1), (r2, c2) in merges:
        if r1 >= len(rows) or c1 >= width:
            continue
        value = columns[c1][r1]
        r2, c2 = min(r2, len(rows) - 1), min(c2, width - 1)
        filled += (r2 - r1 + 1) * (c2 - c1 + 1)
        if filled > limits.max_merged_cells:
            break
        for c in range(c1, c2 + 1):
            column = columns[c]
            for r in range(r1, r2 + 1):
                column[r] = value
    return pd.DataFrame({j: pd.Series(col, dtype="str") for j, col in enumerate(columns)})


def _cells_to_text(values: Iterable[Any]) -> list[str]:
    return [v if v.__class__ is str else _cell_text(v) for v in values]


def _cell_text(value: Any) -> str:
    """A typed workbook cell as Excel shows it by default."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        text = f"{value:.15g}"
        if "e" in text and 1e-5 < abs(value) < 1e21:
            text = np.format_float_positional(value, precision=15, unique=False, trim="-")
        return text
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        if value.time() == time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value)


def _sheet_score(grid: Grid) -> float:
    """How much a sheet looks like a budget table: rows x useful columns, more with
    budget words in the header and amounts below it."""
    try:
        table = build_table(grid, None, DEFAULT_LIMITS, sampling=True)
    except BudgetFileError:
        return 0.0
    frame = table.frame
    named = [c for c in frame.columns if not str(c).startswith("Column ")]
    numeric = sum(1 for c in frame.columns if number_ratio(frame[c].head(200)) > 0.6)
    words = " ".join(fold_text(str(c)) for c in frame.columns).split()
    keywords = sum(1 for w in words if w in BUDGET_WORDS or w in ("amount", "department"))
    return len(frame) * min(len(named), 20) * (1 + min(numeric, 3)) * (1 + min(keywords, 3))
