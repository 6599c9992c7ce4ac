"""Read a customer's FP&A export (CSV, XLSX, XLS, ODS) into a table of strings.

What this package decides, in order (one module per idea: `file` picks the reader, `text` or
`workbook`; they hand a `grid` to `table`, which asks `layout` whether the table is wide; all
of them judge cells with `finsync.budget.cells` and headers with `finsync.budget.headers`):

1. the format, by the file's first bytes (never by its name): zip -> XLSX/ODS, OLE2 -> XLS,
   anything else -> delimited text;
2. for text: the encoding (BOM, UTF-8, UTF-16, Windows-1252, or "mixed": mostly UTF-8 with
   stray Windows-1252 bytes) and the delimiter (, ; tab |);
3. for workbooks: the sheet that looks most like a budget table (unless one is named) and
   the merged cells, which are filled with their value;
4. the header row wherever it is (title rows above it, a leading empty column, a header of
   several stacked rows combined into one name per column);
5. which rows are data: blank rows, repeated header rows and total/subtotal rows are dropped;
6. whether the table is WIDE (one column per month, quarter or year).

Every cell stays the string that was written (no formula is evaluated, '=HYPERLINK(..)' stays
text); numbers stored in a workbook are written as Excel shows them (15 significant digits).
A file that cannot be used raises `BudgetFileError` with what is wrong and what to do next.
"""

from __future__ import annotations

from finsync.budget.read.file import parse_file
from finsync.budget.read.grid import DEFAULT_LIMITS, Limits
from finsync.budget.read.layout import detect_layout
from finsync.budget.read.table import column_letter

__all__ = ["DEFAULT_LIMITS", "Limits", "column_letter", "detect_layout", "parse_file"]
