"""Finding the table in a grid: the header row wherever it is (title rows above it, a
leading empty column, stacked header rows combined into one name per column), the columns
kept, and which rows are data (blank rows, repeated header rows and total/subtotal rows are
dropped; section heading rows become a column)."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from finsync.budget.cells import (
    NUMBER_PATTERN,
    blank_mask,
    cell_kind,
    is_blank,
    matches,
    matches_literal,
)
from finsync.budget.headers import ACTUAL_WORDS, BUDGET_WORDS, VARIANCE_WORDS, fold_text, period_key
from finsync.budget.model import BudgetFileError, ParsedFile
from finsync.budget.read.grid import HEADER_SEARCH_ROWS, Grid, Limits
from finsync.budget.read.layout import detect_layout

_TOTAL_RE = re.compile(
    r"^\s*(?:grand\s*total|sub[\s\-]*total|total(?:es)?|gesamt(?:summe|betrag)?|"
    r"zwischen\s*summe|summe|insgesamt|total\s+general|sous[\s\-]*total|totale|"
    r"suma(?:\s+total)?|totaal|subtotaal|итого|вкупно|всего)\b"
    r"|\btotal\s*:?\s*$",
    re.IGNORECASE,
)
_SUBTOTAL_EQUALS_RE = re.compile(r"^\s*=\s")
_TOTAL_HINT = r"total|summe|gesamt|suma|итого|вкупно|всего|^\s*=\s"


def build_table(grid: Grid, header_row: int | None, limits: Limits, *, sampling: bool = False):
    raw = grid.raw
    warnings = list(grid.warnings or [])
    head = raw.iloc[:HEADER_SEARCH_ROWS].to_numpy(dtype=object).tolist()
    if grid.merges:
        unfilled = _unfill(head, grid.merges)
    else:
        unfilled = head
    if header_row is not None:
        if header_row > len(raw):
            raise BudgetFileError(
                f"header_row {header_row} is past the end of the table ({len(raw)} rows)"
            )
        top, bottom = header_row - 1, header_row - 1
        header_cells = raw.iloc[top].tolist()
        names = [_clean_name(c) for c in header_cells]
    else:
        top, bottom = _find_header(unfilled, len(raw))
        block = [list(r) for r in head[top : bottom + 1]]
        if grid.file_format == "csv" and bottom > top:
            block = _fill_group_headers(block)
        names = _combine(block)
    data = raw.iloc[bottom + 1 :]
    source_rows = np.arange(bottom + 2, bottom + 2 + len(data))
    # columns: drop empty unnamed ones (a leading empty column, trailing separators)
    blanks = np.column_stack([blank_mask(data.iloc[:, j]) for j in range(data.shape[1])])
    used = [bool(name) or not blanks[:, j].all() for j, name in enumerate(names)]
    keep = _first_block(names, used, warnings)
    if len(keep) < 2:
        raise BudgetFileError(
            "nothing table-like: fewer than two columns with a header or values; a budget "
            "export needs at least a department and an amount column"
        )
    names = [names[j] or f"Column {column_letter(j)}" for j in keep]
    data = data.iloc[:, keep]
    blanks = blanks[:, keep]
    names, duplicate_warnings = _dedupe(names)
    warnings.extend(duplicate_warnings)
    data = data.set_axis(names, axis=1)
    data, source_rows, blanks, dropped, dropped_counts = _drop_non_data(
        data, source_rows, names, blanks
    )
    warnings.extend(dropped)
    data, source_rows = _lift_sections(data, source_rows, blanks, warnings)
    if data.empty:
        raise BudgetFileError("the file has a header but no data rows")
    if len(data) > limits.max_rows:
        raise BudgetFileError(
            f"the file has {len(data):,} data rows, over the {limits.max_rows:,} row limit; "
            "split the export or raise the limit"
        )
    data = data.reset_index(drop=True)
    layout, period_columns, total_columns, wide_warnings = detect_layout(data)
    warnings.extend(wide_warnings)
    return ParsedFile(
        frame=data,
        source_rows=source_rows.tolist() if not sampling else [],
        sheet=grid.sheet,
        header_row=bottom + 1,
        layout=layout,
        period_columns=period_columns,
        total_columns=total_columns,
        dropped_rows=dropped_counts,
        warnings=warnings,
        file_format=grid.file_format,
        encoding=grid.encoding,
        delimiter=grid.delimiter,
    )


def column_letter(index: int) -> str:
    """0 -> 'A', 25 -> 'Z', 26 -> 'AA'."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _first_block(names: list[str], used: list[bool], warnings: list[str]) -> list[int]:
    """The columns to keep. When a sheet holds several tables side by side (blocks of
    columns split by empty columns, repeating the same header names), keep the first."""
    blocks: list[list[int]] = []
    for j, is_used in enumerate(used):
        if not is_used:
            if blocks and blocks[-1]:
                blocks.append([])
            continue
        if not blocks:
            blocks.append([])
        blocks[-1].append(j)
    blocks = [b for b in blocks if b]
    if len(blocks) < 2:
        return [j for b in blocks for j in b]
    first = {names[j] for j in blocks[0] if names[j]}
    second = {names[j] for j in blocks[1] if names[j]}
    if first and len(first & second) >= 0.5 * len(second | first) / 1.5 and len(second) > 1:
        warnings.append(
            f"the sheet holds {len(blocks)} tables side by side: read the first (columns "
            f"{column_letter(blocks[0][0])}-{column_letter(blocks[0][-1])}); put each table "
            "on its own sheet to import the others"
        )
        return blocks[0]
    return [j for b in blocks for j in b]


def _lift_sections(
    data: pd.DataFrame, source_rows: np.ndarray, blanks: np.ndarray, warnings: list[str]
) -> tuple[pd.DataFrame, np.ndarray]:
    """Report layouts put a group's name on a row of its own ('Police' above its lines).
    When the first column holds such section rows, they become a column of their own
    (named after the first column's header, or 'Section') and the rows are dropped."""
    names = list(data.columns)
    if len(names) < 3 or len(data) < 4:
        return data, source_rows
    first = data[names[0]]
    filled = (~blanks).sum(axis=1)
    section = (filled == 1) & ~blanks[:, 0]  # the first cell is the row's only one...
    candidates = np.flatnonzero(section)
    if len(candidates):  # ... and it is text, not a number
        section[candidates] = ~matches(first.iloc[candidates], NUMBER_PATTERN)
    count = int(section.sum())
    if count < 2 or count * 2 > len(data):
        return data, source_rows
    labels = first[section].str.strip()
    others = set(first[~section].str.strip())
    if labels.duplicated().mean() > 0.2 or labels.isin(others).mean() > 0.2:
        return data, source_rows  # labels that recur in the lines are data, not sections
    header = names[0]
    section_name = header if not header.startswith("Column ") else "Section"
    line_name = f"{header} (row labels)" if section_name == header else header
    filled_labels = first.where(pd.Series(section, index=first.index)).ffill().fillna("")
    lifted = data.rename(columns={header: line_name})
    lifted.insert(0, section_name, filled_labels.astype("str"))
    lifted = lifted.loc[~section]
    warnings.append(
        f"{count} section heading rows in the first column ({_row_list(source_rows[section])}) "
        f"became the column {section_name!r}"
        + (f"; the column's other values are in {line_name!r}" if line_name != header else "")
    )
    return lifted, source_rows[~section]


def _unfill(head: list[list[str]], merges: Sequence[tuple[tuple[int, int], tuple[int, int]]]):
    """The head rows with merged ranges showing their value only in the first cell (for
    counting cells: a merged title is one cell, not ten)."""
    rows = [list(r) for r in head]
    for (r1, c1), (r2, c2) in merges:
        for r in range(r1, min(r2, len(rows) - 1) + 1):
            for c in range(c1, min(c2, len(rows[r]) - 1) + 1):
                if (r, c) != (r1, c1):
                    rows[r][c] = ""
    return rows


def _row_profile(row: Sequence[str]) -> tuple[int, int, bool]:
    """(filled cells, numeric cells, header-like) for one row."""
    kinds = [cell_kind(str(c)) for c in row]
    filled = sum(1 for k in kinds if k)
    numbers = [str(c).strip() for c, k in zip(row, kinds, strict=False) if k == "num"]
    header_like = not numbers or _is_counting(numbers)
    return filled, len(numbers), header_like and filled > 0


def _is_counting(numbers: list[str]) -> bool:
    """'1','2','3',... as headers (period numbers), not amounts."""
    try:
        values = [int(n) for n in numbers]
    except ValueError:
        return False
    return len(values) >= 3 and all(b == a + 1 for a, b in zip(values, values[1:], strict=False))


def _find_header(rows: list[list[str]], total_rows: int) -> tuple[int, int]:
    """(first, last) 0-based row of the header block."""
    profiles = [_row_profile(r) for r in rows]
    filled = [p[0] for p in profiles]
    nonblank = [i for i, n in enumerate(filled) if n]
    if not nonblank:
        raise BudgetFileError(
            f"no header row found: the first {len(rows)} rows are empty; check the sheet or "
            "pass the header row"
        )
    width = float(np.percentile([filled[i] for i in nonblank], 80))
    if width < 2:
        raise BudgetFileError(
            "nothing table-like: the rows hold a single value each; a budget export needs "
            "at least a department and an amount column"
        )
    need = max(2, math.ceil(width * 0.5))
    candidates = [i for i in nonblank if profiles[i][2] and filled[i] >= need]
    if not candidates:
        candidates = [i for i in nonblank if filled[i] >= need]
    if not candidates:
        raise BudgetFileError("no header row found; pass the header row (--header-row N)")
    first = None
    for i in candidates:
        if any(filled[j] for j in range(i + 1, len(rows))) or total_rows > len(rows):
            first = i
            break
    if first is None:
        raise BudgetFileError("the file has a header but no data rows")
    # stacked header rows below the first one (each must not repeat in the data)
    last = first
    while (
        last + 1 < len(rows)
        and last - first < 3
        and profiles[last + 1][2]
        and filled[last + 1] >= need
        and not _repeats_below(rows, last + 1)
        and _completes(_combine(rows[first : last + 1]), rows[last + 1])
        and any(filled[j] for j in range(last + 2, len(rows)))
    ):
        last += 1
    # group header rows above it (sparse labels over several columns)
    table_start = min(
        (j for r in rows[first : last + 1] for j, c in enumerate(r) if not is_blank(str(c))),
        default=0,
    )
    top = first
    while top - 1 >= 0 and first - top < 3 and filled[top - 1] and profiles[top - 1][2]:
        cells = [j for j, c in enumerate(rows[top - 1]) if not is_blank(str(c))]
        if len(cells) < 2 and cells[0] <= table_start:
            break  # a title in the first column
        top -= 1
    return top, last


def _completes(names: list[str], row: Sequence[str]) -> bool:
    """A row below a header continues it only if the header is unfinished: it repeats a name
    ('Budget', 'Budget') or leaves a column unnamed that this row names."""
    given = [n for n in names if n]
    if len(given) != len(set(given)):
        return True
    return any(
        not is_blank(str(cell)) and (j >= len(names) or not names[j]) for j, cell in enumerate(row)
    )


def _repeats_below(rows: list[list[str]], index: int, depth: int = 30) -> bool:
    """True when a cell of row `index` appears again in the same column in the rows below
    (data repeats its values, headers do not)."""
    below = [r for r in rows[index + 1 : index + 1 + depth] if any(not is_blank(str(c)) for c in r)]
    for j, cell in enumerate(rows[index]):
        cell = str(cell).strip()
        if not cell or is_blank(cell):
            continue
        if any(j < len(r) and str(r[j]).strip() == cell for r in below):
            return True
    return False


def _fill_group_headers(block: list[list[str]]) -> list[list[str]]:
    """In a text file a label over several columns is written once: repeat it to the right
    in the upper header rows, over the columns the last header row names."""
    bottom = block[-1]
    for row in block[:-1]:
        last = ""
        for j, cell in enumerate(row):
            if str(cell).strip():
                last = cell
            elif last and j < len(bottom) and str(bottom[j]).strip():
                row[j] = last
            else:
                last = ""
    return block


def _clean_name(cell: Any) -> str:
    return " ".join(str(cell).split())


def _combine(block: list[list[str]]) -> list[str]:
    """One name per column from a header of one or more rows. A column keeps the label of
    the upper rows when its own is missing or repeated, or when an upper label carries a
    period, a measure or a currency ('FY16' / 'Adopted' / 'Budget'); a mere group label
    ('Project information' over ten columns) is left out."""
    width = max(len(row) for row in block)
    bottoms = [_clean_name(block[-1][j]) if j < len(block[-1]) else "" for j in range(width)]
    counts = Counter(b for b in bottoms if b)
    names = []
    for j in range(width):
        parts: list[str] = []
        for row in block:
            part = _clean_name(row[j]) if j < len(row) else ""
            if part and (not parts or parts[-1] != part):
                parts.append(part)
        bottom = bottoms[j]
        upper = parts[:-1] if bottom and parts and parts[-1] == bottom else parts
        if not bottom or counts[bottom] > 1 or any(_carries_meaning(u) for u in upper):
            names.append(" ".join(parts))
        else:
            names.append(bottom)
    return names


def _carries_meaning(label: str) -> bool:
    words = set(fold_text(label).split())
    return (
        period_key(label) is not None
        or bool(re.search(r"\b(?:19|20)\d{2}\b|\bfy\s*\d{2}", label, re.IGNORECASE))
        or bool(words & (BUDGET_WORDS | ACTUAL_WORDS | VARIANCE_WORDS))
        or bool(re.search(r"[$€£¥]|\b[A-Z]{3}\b", label) and len(words) <= 3)
    )


def _dedupe(names: list[str]) -> tuple[list[str], list[str]]:
    seen: dict[str, int] = {}
    taken = set(names)
    out: list[str] = []
    renamed: list[str] = []
    for j, name in enumerate(names):
        if name not in seen:
            seen[name] = 1
            out.append(name)
            continue
        seen[name] += 1
        new = f"{name}_{seen[name]}"
        while new in taken:
            seen[name] += 1
            new = f"{name}_{seen[name]}"
        taken.add(new)
        out.append(new)
        renamed.append(f"{name!r} in column {column_letter(j)} -> {new!r}")
    if not renamed:
        return out, []
    more = f" and {len(renamed) - 5} more" if len(renamed) > 5 else ""
    return out, [f"duplicate column names renamed: {'; '.join(renamed[:5])}{more}"]


def _drop_non_data(
    data: pd.DataFrame, source_rows: np.ndarray, names: list[str], blanks: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[str], dict[str, int]]:
    """Drop blank rows, repeated header rows and total rows (vectorised; only the few
    candidate total rows are looked at one by one). `blanks` marks the blank cells. Also
    returns how many rows of each kind were dropped."""
    warnings: list[str] = []
    if data.empty:
        return data, source_rows, blanks, warnings, {}
    blank = blanks.all(axis=1)
    # repeated header rows (concatenated exports)
    repeated = np.ones(len(data), dtype=bool)
    compared = 0
    for name in names:
        if name.startswith("Column ") or compared >= 4:
            continue
        # a cell equal to the name once trimmed holds it: compare only those (literal search)
        holds = np.flatnonzero(repeated & matches_literal(data[name], name))
        repeated[:] = False
        if len(holds):
            repeated[holds] = (data[name].iloc[holds].str.strip() == name).to_numpy(dtype=bool)
        compared += 1
    if not compared:
        repeated[:] = False
    # totals: the first text cell says total, or starts with '= ' (a subtotal line)
    total = np.zeros(len(data), dtype=bool)
    hint = np.zeros(len(data), dtype=bool)
    for name in names[:8]:
        hint |= matches(data[name], _TOTAL_HINT, ignore_case=True)
    hint &= ~blank
    positions = np.flatnonzero(hint)
    candidates = data.iloc[positions, :8].to_numpy(dtype=object).tolist() if len(positions) else []
    for position, cells in zip(positions, candidates, strict=True):
        first = _first_text_cell(cells)
        if first is not None and (_TOTAL_RE.search(first) or _SUBTOTAL_EQUALS_RE.match(first)):
            total[position] = True
    drop = blank | repeated | total
    counts = {
        kind: int(mask.sum())
        for kind, mask in (("total", total), ("blank", blank & ~total), ("header", repeated))
        if mask.any()
    }
    if repeated.any():
        warnings.append(
            f"dropped {int(repeated.sum())} row(s) repeating the header "
            f"({_row_list(source_rows[repeated])})"
        )
    if total.any():
        warnings.append(
            f"dropped {int(total.sum())} total/subtotal row(s) ({_row_list(source_rows[total])})"
        )
    if drop.any():
        data = data.loc[~drop]
        source_rows = source_rows[~drop]
        blanks = blanks[~drop]
    return data, source_rows, blanks, warnings, counts


def _first_text_cell(cells: Sequence[Any]) -> str | None:
    for cell in cells:
        cell = str(cell)
        kind = cell_kind(cell)
        if kind == "text":
            return cell
    return None


def _row_list(rows: np.ndarray, limit: int = 8) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:limit])
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"
