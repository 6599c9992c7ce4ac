"""What a cell holds, for every step that looks at values: blank, a year, a date, an amount
or text, cell by cell (`cell_kind`) or for whole columns at once (`blank_mask`, `matches`,
`number_ratio`: RE2 through pyarrow, fast on millions of cells).

Reading (`read`), file-type detection (`detect`), mapping (`mapping`) and the grain checks
(`grain`) share these; this module imports nothing of finsync."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

VALUE_SAMPLE_ROWS = 2_000  # rows sampled when a decision needs to look at values
# A run of white space in a cell, the no-break, figure and thin spaces exports write included:
# the normaliser folds it to one space in text, the amount parser in an amount's shape.
SPACES = re.compile(r"[\s\u00a0\u2007\u2009\u202f\ufeff]+")

# Patterns used on whole columns are written for both Python's re and RE2 (pyarrow): no
# lookarounds, no \u escapes (the characters themselves instead).
_CCY = r"(?:[A-Z]{3}|[$€£¥₹]|R\$|Fr\.?|kr)"
NUMBER_PATTERN = (
    r"^\s*[(\-+−]?\s*(?:" + _CCY + r"\s*)?[(\-+−]?\s*"
    r"(?:\d{1,3}(?:[,.\s'’" + "\u00a0\u202f" + r"]\d{3})+|\d+)(?:[.,]\d+)?(?:[eE][+-]?\d+)?"
    r"\s*(?:[kKmMbB]|mn|bn|Mio\.?|Mrd\.?)?\s*(?:" + _CCY + r")?\s*[)\-−]?\s*%?\s*$"
)
BLANK_PATTERN = r"^\s*[-–—]?\s*$"  # empty, or Excel's accounting zero ' -   '
LEADING_NUMBER_PATTERN = r"^\s*[(\-+−]?\s*[$€£¥₹]?\s*\d[\d,.\s'’]*\s+[^\d\s].*$"
_NUMBER_RE = re.compile(NUMBER_PATTERN)
_DASH_RE = re.compile(BLANK_PATTERN)
YEAR_RE = re.compile(r"^\s*(?:19|20)\d{2}\s*$")
DATE_RE = re.compile(
    r"^\s*(?:(?:19|20)\d{2}[-/.](?:0?[1-9]|1[0-2])(?:[-/.](?:0?[1-9]|[12]\d|3[01]))?"
    r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
    r"|(?:0?[1-9]|[12]\d|3[01])[-/.](?:0?[1-9]|1[0-2])[-/.](?:19|20)?\d{2})\s*$"
)


def is_blank(cell: str) -> bool:
    return bool(_DASH_RE.match(cell))


def is_number(cell: str) -> bool:
    """An amount as people write it: 1,234.56 1.234,56 (1,234) 9.002.030- $1,234 USD 12 1.2M."""
    return bool(_NUMBER_RE.match(cell)) and any(ch.isdigit() for ch in cell)


def cell_kind(cell: str) -> str:
    """'' (empty or a lone dash), 'year', 'date', 'num' or 'text'."""
    if is_blank(cell):
        return ""
    if YEAR_RE.match(cell):
        return "year"
    if DATE_RE.match(cell):
        return "date"
    if is_number(cell):
        return "num"
    return "text"


def _arrow_strings(values: pd.Series) -> pa.Array | pa.ChunkedArray:
    array = values.array
    if hasattr(array, "__arrow_array__"):
        return array.__arrow_array__()
    return pa.array(values.astype("str").to_numpy(dtype=object), type=pa.string())


# Below this many cells a column is matched cell by cell; above it, a column whose first
# DISTINCT_SAMPLE cells repeat (departments, accounts, periods, currencies do) is matched once
# per distinct value: RE2 costs ~35 ns a cell however simple the pattern, encoding ~10 ns.
DISTINCT_FROM = 20_000
DISTINCT_SAMPLE = 10_000


def _search(data: pa.Array | pa.ChunkedArray, pattern: str, ignore_case: bool) -> pa.Array:
    """pc.match_substring_regex, once per distinct value when the column repeats itself."""
    if len(data) >= DISTINCT_FROM:
        sample = data.slice(0, DISTINCT_SAMPLE)
        if len(pc.unique(sample)) <= DISTINCT_SAMPLE // 2:
            if isinstance(data, pa.ChunkedArray):
                data = data.combine_chunks()
            encoded = pc.dictionary_encode(data)
            found = pc.match_substring_regex(encoded.dictionary, pattern, ignore_case=ignore_case)
            return pc.take(found, encoded.indices)
    return pc.match_substring_regex(data, pattern, ignore_case=ignore_case)


def matches(values: pd.Series, pattern: str, *, ignore_case: bool = False) -> np.ndarray:
    """Vectorised regex search over a str column (RE2 through pyarrow: fast on millions of
    cells); missing values do not match. Anchor the pattern for a full match."""
    result = _search(_arrow_strings(values), pattern, ignore_case)
    return pc.fill_null(result, False).to_numpy(zero_copy_only=False)


def matches_literal(values: pd.Series, text: str) -> np.ndarray:
    """Where the cell contains `text` (a plain substring search, much cheaper than a regex);
    missing values do not."""
    result = pc.match_substring(_arrow_strings(values), text)
    return pc.fill_null(result, False).to_numpy(zero_copy_only=False)


# Bytes a blank cell (BLANK_PATTERN: empty, whitespace, a lone dash) can start with: RE2's
# whitespace (and \v), '-', and 0xE2, the first byte of the en and em dashes in UTF-8.
_BLANK_START = np.zeros(256, dtype=bool)
_BLANK_START[list(b"\t\n\x0b\x0c\r -\xe2")] = True


def _could_be_blank(data: pa.Array) -> np.ndarray:
    """False where a cell certainly is not blank (its first byte rules it out); a cheap
    pre-filter so BLANK_PATTERN runs only on the few cells that may be."""
    if data.type == pa.large_string():
        width: np.dtype = np.dtype(np.int64)
    elif data.type == pa.string():
        width = np.dtype(np.int32)
    else:
        return np.ones(len(data), dtype=bool)
    _, offsets_buffer, data_buffer = data.buffers()
    if not len(data) or offsets_buffer is None:
        return np.ones(len(data), dtype=bool)
    offsets: np.ndarray = np.frombuffer(offsets_buffer, dtype=width)
    offsets = offsets[data.offset : data.offset + len(data) + 1]
    starts, ends = offsets[:-1], offsets[1:]
    maybe = ends <= starts  # empty (or missing)
    if data_buffer is not None and len(data_buffer):
        chars = np.frombuffer(data_buffer, dtype=np.uint8)
        filled = np.flatnonzero(~maybe)
        maybe[filled] = _BLANK_START[chars[starts[filled]]]
    return maybe


def _blank_cells(data: pa.Array) -> np.ndarray:
    maybe = _could_be_blank(data)
    if data.null_count:
        maybe |= ~pc.is_valid(data).to_numpy(zero_copy_only=False)
    if maybe.all():
        return pc.fill_null(pc.match_substring_regex(data, BLANK_PATTERN), True).to_numpy(
            zero_copy_only=False
        )
    blank = np.zeros(len(data), dtype=bool)
    where = np.flatnonzero(maybe)
    if len(where):
        result = pc.match_substring_regex(data.take(pa.array(where)), BLANK_PATTERN)
        blank[where] = pc.fill_null(result, True).to_numpy(zero_copy_only=False)
    return blank


def blank_mask(values: pd.Series) -> np.ndarray:
    """True where the cell is empty, whitespace or a lone dash (missing counts as blank)."""
    array = values.array
    if not hasattr(array, "__arrow_array__"):
        return matches(values.fillna(""), BLANK_PATTERN)
    data = array.__arrow_array__()
    chunks = data.chunks if isinstance(data, pa.ChunkedArray) else [data]
    if not chunks:
        return np.zeros(0, dtype=bool)
    return np.concatenate([_blank_cells(chunk) for chunk in chunks])


def number_ratio(values: pd.Series, *, lenient: bool = False) -> float:
    """Share of the non-blank values that are amounts (vectorised); `lenient` also counts a
    number followed by a note as half an amount."""
    values = non_blank(values)
    if values.empty:
        return 0.0
    hits = matches(values, NUMBER_PATTERN).astype(float)
    if lenient:
        hits = np.maximum(hits, 0.5 * matches(values, LEADING_NUMBER_PATTERN))
    return float(hits.mean())


def non_blank(values: pd.Series) -> pd.Series:
    values = values.astype("str")
    return values[~blank_mask(values)]


def string_array(values: pd.Series) -> pa.Array:
    """The column as an Arrow string array (missing -> null), without copying str columns."""
    if not (isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow"):
        values = values.astype("str")
    arr = pa.array(values)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(pa.string())


def take_strings(values: list[str | None], indices: np.ndarray) -> pa.Array:
    return pa.array(values, pa.string()).take(pa.array(indices))
