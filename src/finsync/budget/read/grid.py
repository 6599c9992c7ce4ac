"""What the readers (`text`, `workbook`) hand the table finder (`table`): a `Grid` of str
cells, one row per file row; and the size `Limits` that protect the workers."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class Limits:
    """Size limits that protect the workers; each can be raised per call."""

    max_csv_bytes: int = 2 * 1024**3  # a text file larger than this is refused
    max_rows: int = 5_000_000  # data rows
    max_columns: int = 16_384  # Excel's own limit
    max_uncompressed_bytes: int = 500 * 1024**2  # a workbook's declared unpacked size
    max_compression_ratio: float = 200.0  # a workbook member packed tighter is a zip bomb
    max_zip_members: int = 10_000
    max_first_line_bytes: int = 1024**2  # no line break within this: not a table
    max_merged_cells: int = 5_000_000


DEFAULT_LIMITS = Limits()

HEADER_SEARCH_ROWS = 100  # the header row is looked for among the first rows
DELIMITERS = (",", ";", "\t", "|")


@dataclass
class Grid:
    """A sheet or CSV as read: str columns 0..n-1, one row per file row (row i = row i+1)."""

    raw: pd.DataFrame
    file_format: str
    sheet: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    merges: list[tuple[tuple[int, int], tuple[int, int]]] | None = None
    warnings: list[str] = field(default_factory=list)
