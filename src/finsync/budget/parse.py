"""Read a customer's FP&A export (CSV, XLSX, XLS, ODS) into a table of strings.

What this module decides, in order:

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

import codecs
import io
import math
import re
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from finsync.budget.model import BudgetFileError, ParsedFile
from finsync.budget.periods import period_evidence

# --------------------------------------------------------------------------------------
# Limits


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
VALUE_SAMPLE_ROWS = 2_000  # rows sampled when a decision needs to look at values
DELIMITERS = (",", ";", "\t", "|")

# --------------------------------------------------------------------------------------
# Cell classification (shared with detect and mapping)

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
_YEAR_RE = re.compile(r"^\s*(?:19|20)\d{2}\s*$")
_DATE_RE = re.compile(
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
    if _YEAR_RE.match(cell):
        return "year"
    if _DATE_RE.match(cell):
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
        width = np.int64
    elif data.type == pa.string():
        width = np.int32
    else:
        return np.ones(len(data), dtype=bool)
    _, offsets_buffer, data_buffer = data.buffers()
    if not len(data) or offsets_buffer is None:
        return np.ones(len(data), dtype=bool)
    offsets = np.frombuffer(offsets_buffer, dtype=width)[data.offset : data.offset + len(data) + 1]
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


# --------------------------------------------------------------------------------------
# Periods (headers of wide files, and period-looking values)

MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    [
        "jan january janv janvier januar jaenner jänner ene enero gen gennaio janeiro",
        "feb february fev fevr fevrier februar febrero febbraio fevereiro",
        "mar march mars maerz marz märz marzo marco",
        "apr april avr avril abr abril aprile",
        "may mai mayo maggio maio",
        "jun june juin juni junio giu giugno junho",
        "jul july juil juillet juli julio lug luglio julho",
        "aug august aou aout août ago agosto",
        "sep sept september septembre sep septiembre set sett settembre setembro",
        "oct october octobre okt oktober octubre ott ottobre out outubro",
        "nov november novembre noviembre novembro",
        "dec december decembre dez dezember dic diciembre dicembre dezembro",
    ],
    start=1,
):
    for _name in _names.split():
        MONTHS[_name] = _number

# Words that say what an amount column measures. Budget-like columns are kept when a wide
# file mixes them with actuals; variance columns are never periods.
BUDGET_WORDS = frozenset(
    "budget budgeted budgets plan planned planning planung plans target targets forecast fcst"
    " adopted amended approved proposed request requested requests appropriation appropriated"
    " appn approp allocation allocated original revised modified final estimate estimates"
    " haushaltsansatz ansatz ansaetze soll presupuesto presupuestado aprobado modificado"
    " previsto prevu previsionnel orcamento orcado dotacao budgetiert".split()
)
ACTUAL_WORDS = frozenset(
    "actual actuals act ist ergebnis result results real realizado realise ejercido pagado"
    " devengado comprometido recaudado spent spend spending outturn obligations obligation"
    " obligated expended expenditure expenditures paid sales".split()
)
VARIANCE_WORDS = frozenset(
    "variance var difference diff change increase decrease delta pct percent percentage"
    " growth abweichung variacion diferencia ecart".split()
)
_FINAL_PREFERENCE = (
    ("amended", "revised", "modified", "final", "current", "modificado"),
    ("adopted", "approved", "original", "aprobado", "haushaltsansatz", "ansatz"),
    ("proposed", "request", "requested", "recommended"),
)
_PERIOD_FILLER = frozenset(
    "fy fiscal year years yr jahr haushaltsjahr ano anio ejercicio exercice annee month monat"
    " estimated projected"
    " mes mois quarter quartal trimestre period periode periodo total amount amounts amt"
    " betrag importe monto montant valor value eur usd gbp chf cad aud mxn in of the for de"
    " del la le des und and".split()
)


def fold_text(text: str) -> str:
    """Lower case, accents removed, punctuation as spaces, camelCase split."""
    text = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", text)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return re.sub(r"[^\w%]+|_", " ", text.casefold()).strip()


_PERIOD_TOKEN_RE = re.compile(
    r"^(?:fy\d{2}|fy\d{4}|(?:19|20)\d{2}|q[1-4]|[1-4]q|h[12]|m(?:0?[1-9]|1[0-2])"
    r"|p(?:0?[1-9]|1[0-2])|\d{2})$"
)


def period_key(header: str) -> str | None:
    """A comparable key for a period header ('Jan 2025' -> 'm1 y2025', 'FY25 Budget' ->
    'y25', '2024-25' -> 'y2024 y25'), or None when the header is not a period. Words that
    say what is measured (budget, actual, target, ...) are allowed around the period."""
    folded = fold_text(header)
    if not folded:
        return None
    if _DATE_RE.match(header.strip()):
        parts = re.split(r"[-/. T]", header.strip())
        if len(parts[0]) == 4:
            return f"y{parts[0]} m{int(parts[1])}"
        return f"y{parts[2]} m{int(parts[1])}"
    # 'FY16-17', '2024-25', '2024/2025': keep the pair
    folded = re.sub(r"\b(fy)\s*(\d{2,4})\b", r"fy\2", folded)
    tokens = folded.split()
    keys: list[str] = []
    short_years: list[str] = []
    measure = 0
    for index, token in enumerate(tokens):
        if token in MONTHS:
            keys.append(f"m{MONTHS[token]}")
        elif token.startswith("fy") and token[2:].isdigit():
            keys.append(f"y{token[2:]}")
        elif _YEAR_RE.match(token):
            keys.append(f"y{token}")
        elif re.fullmatch(r"q[1-4]|[1-4]q", token):
            keys.append(f"q{token.strip('q')}")
        elif re.fullmatch(r"h[12]", token):
            keys.append(token)
        elif re.fullmatch(r"[mp](0?[1-9]|1[0-2])", token):
            keys.append(f"m{int(token[1:])}")
        elif re.fullmatch(r"\d{2}", token):
            short_years.append(f"y{token}")  # '2024-25', '20 Budget', 'Jan 25'
        elif token in BUDGET_WORDS or token in ACTUAL_WORDS or token in VARIANCE_WORDS:
            measure += 1
        elif token in _PERIOD_FILLER or token == "%":
            continue
        elif token in ("quarter", "qtr", "quartal", "trimestre") and index + 1 < len(tokens):
            continue
        else:
            return None
    if short_years:
        # a bare two-digit number is a year only next to a month, a year or a measure word
        if not (keys or measure):
            return None
        keys.extend(short_years)
    if not keys:
        return None
    return " ".join(keys)


_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def period_label(header: str) -> str:
    """A wide file's period header as a period the normaliser reads: the header itself, or,
    when it also says what is measured ('FY2014 Amended Budget', "'21 Budget"), the period
    alone ('FY2014', 'FY21')."""
    key = period_key(header)
    words = set(fold_text(header).split())
    if key is None or not words & (BUDGET_WORDS | ACTUAL_WORDS | VARIANCE_WORDS):
        return header
    parts = key.split()
    years = [p[1:] for p in parts if p.startswith("y")]
    months = [int(p[1:]) for p in parts if p.startswith("m")]
    quarters = [p[1:] for p in parts if p.startswith("q")]
    if len(years) == 2:
        year = f"FY{years[0]}-{years[1][-2:]}"
    elif len(years) == 1:
        year = f"FY{years[0]}"
    else:
        year = ""
    if months and len(months) == 1:
        return f"{_MONTH_NAMES[months[0] - 1]} {year[2:]}".strip() if year else header
    if quarters and len(quarters) == 1:
        return f"Q{quarters[0]} {year}".strip()
    if year and len(parts) == len(years):
        return year
    return header


def measure_of(header: str) -> str:
    """'budget', 'actual', 'variance' or '' for what a period column holds."""
    tokens = set(fold_text(header).split())
    if tokens & VARIANCE_WORDS or "%" in header:
        return "variance"
    if tokens & BUDGET_WORDS:
        return "budget"
    if tokens & ACTUAL_WORDS:
        return "actual"
    return ""


# --------------------------------------------------------------------------------------
# Entry point


def parse_file(
    path: str | Path,
    *,
    sheet: str | None = None,
    header_row: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> ParsedFile:
    """Read `path` into a `ParsedFile` (see the module docstring for what is decided)."""
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
        workbook = _read_workbook(path, "xlsx", sheet, limits)
    elif magic.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        workbook = _read_workbook(path, "xls", sheet, limits)
    else:
        grid = _read_text(path, size, limits)
        if suffix in (".xlsx", ".xlsm", ".xls", ".ods"):
            grid.warnings.append(
                f"the file is named {suffix} but holds delimited text: read it as CSV"
            )
        return _build(grid, header_row, limits)
    return _build(workbook, header_row, limits)


@dataclass
class _Grid:
    """A sheet or CSV as read: str columns 0..n-1, one row per file row (row i = row i+1)."""

    raw: pd.DataFrame
    file_format: str
    sheet: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    merges: list[tuple[tuple[int, int], tuple[int, int]]] | None = None
    warnings: list[str] | None = None

    def __post_init__(self) -> None:
        if self.warnings is None:
            self.warnings = []


# --------------------------------------------------------------------------------------
# Delimited text


def _read_text(path: Path, size: int, limits: Limits) -> _Grid:
    if size > limits.max_csv_bytes:
        raise BudgetFileError(
            f"{path.name}: {size / 1024**3:.1f} GB is over the "
            f"{limits.max_csv_bytes / 1024**3:.1f} GB limit for a text file; split the export "
            "or raise the limit in the source config"
        )
    with path.open("rb") as handle:
        head = handle.read(limits.max_first_line_bytes + 4)
    warnings: list[str] = []
    encoding = _sniff_encoding(head, path.name, warnings)
    sample = _decode_sample(head, encoding)
    _check_text(sample, path.name)
    if not re.search(r"[\r\n]", sample) and size > limits.max_first_line_bytes:
        raise BudgetFileError(
            f"{path.name}: no header row found: the first line is longer than "
            f"{limits.max_first_line_bytes // 1024**2} MB without a line break; this is not a "
            "table export"
        )
    delimiter, width = _sniff_delimiter(sample, path.name)
    if width > limits.max_columns:
        raise BudgetFileError(
            f"{path.name}: a line has {width:,} columns, over the {limits.max_columns:,} column "
            "limit; this is not a budget table"
        )
    raw, encoding = _read_csv(path, encoding, delimiter, width, warnings, limits)
    return _Grid(
        raw=raw, file_format="csv", encoding=encoding, delimiter=delimiter, warnings=warnings
    )


def _sniff_encoding(head: bytes, name: str, warnings: list[str]) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith(codecs.BOM_UTF32_LE) or head.startswith(codecs.BOM_UTF32_BE):
        return "utf-32"
    if head.startswith(codecs.BOM_UTF16_LE) or head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16"
    sample = head[:4096]
    if len(sample) >= 4 and sample.count(0):
        even, odd = sample[0::2], sample[1::2]
        if odd.count(0) > 0.3 * len(odd) and even.count(0) < 0.05 * len(even):
            warnings.append("UTF-16 text without a byte order mark: read as UTF-16 LE")
            return "utf-16-le"
        if even.count(0) > 0.3 * len(even) and odd.count(0) < 0.05 * len(odd):
            warnings.append("UTF-16 text without a byte order mark: read as UTF-16 BE")
            return "utf-16-be"
        raise BudgetFileError(
            f"{name}: this is not a text table (binary content: NUL bytes); export the budget "
            "as CSV, XLSX or XLS"
        )
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=False)
    except UnicodeDecodeError:
        return "mixed"  # decided precisely when the whole file is decoded
    return "utf-8"


def _decode_sample(head: bytes, encoding: str) -> str:
    if encoding == "mixed":
        return _decode_mixed(head)[0]
    return codecs.getincrementaldecoder(encoding)(errors="replace").decode(head, final=False)


_CP1252 = [bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in range(256)]
_SURROGATE_RE = re.compile("[\udc80-\udcff]")


def _decode_mixed(data: bytes) -> tuple[str, int, int, int]:
    """UTF-8 where it is valid, Windows-1252 for each byte that is not. Returns the text, the
    number of such bytes, the number of valid non-ASCII characters, and the first bad line."""
    text = data.decode("utf-8", errors="surrogateescape")
    first = _SURROGATE_RE.search(text)
    if first is None:
        return text, 0, sum(1 for ch in text if ord(ch) > 127), 0
    bad_line = text.count("\n", 0, first.start()) + 1
    bad = len(_SURROGATE_RE.findall(text))
    good = sum(1 for ch in text if ord(ch) > 127) - bad
    text = _SURROGATE_RE.sub(lambda m: _CP1252[ord(m.group()) - 0xDC00], text)
    return text, bad, good, bad_line


# control characters other than \t \n \v \f \r, and the replacement character
_CONTROL_RE = re.compile(r"[\x00-\x08\x0e-\x1f\ufffd]")


def _check_text(sample: str, name: str) -> None:
    if not sample.strip():
        raise BudgetFileError(f"{name}: the file holds only blank lines; export it again")
    controls = len(_CONTROL_RE.findall(sample, 0, 65536))
    if controls > 0.01 * min(len(sample), 65536):
        raise BudgetFileError(
            f"{name}: this is not a text table (binary content); export the budget as CSV, "
            "XLSX or XLS"
        )


def _sniff_delimiter(sample: str, name: str) -> tuple[str, int]:
    """The delimiter that splits the first lines into the most consistent number (>1) of
    fields, quote-aware; and the most fields a line has with it."""
    import csv

    cut = max(sample.rfind("\n"), sample.rfind("\r"))
    text = sample[: cut + 1] if cut > 0 else sample
    lines = text.splitlines()[:200]
    best, best_score, best_width = ",", 0.0, 1
    for delimiter in DELIMITERS:
        try:
            counts = [
                len(r) for r in csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
            ]
        except csv.Error:
            continue
        counts = [c for c in counts if c > 1]
        if not counts:
            continue
        modal = max(set(counts), key=counts.count)
        consistency = counts.count(modal) / max(len(lines), 1)
        score = consistency * math.log2(modal) * (len(counts) / max(len(lines), 1))
        if score > best_score:
            best, best_score, best_width = delimiter, score, max(counts)
    if best_score == 0.0:
        raise BudgetFileError(
            f"{name}: nothing table-like: no line splits into columns on , ; tab or |; a "
            "budget export needs at least a department and an amount column"
        )
    return best, best_width


def _read_csv(
    path: Path, encoding: str, delimiter: str, width: int, warnings: list[str], limits: Limits
) -> tuple[pd.DataFrame, str]:
    """The whole file as str columns, and the encoding it was read with."""
    if encoding in ("utf-16", "utf-16-le", "utf-16-be", "utf-32"):
        text = path.read_bytes().decode(encoding, errors="replace")
        return _pandas_read(io.StringIO(text), None, delimiter, width, limits), encoding
    if encoding == "mixed":
        text, encoding = _decode_whole(path.read_bytes(), warnings)
        return _pandas_read(io.StringIO(text), None, delimiter, width, limits), encoding
    if encoding == "utf-8":
        fast = _arrow_read(path, delimiter, width, limits)
        if fast is not None:
            return fast, encoding
    try:
        return _pandas_read(path, encoding, delimiter, width, limits), encoding
    except UnicodeDecodeError:
        # valid UTF-8 at the start, not further down: decode byte by byte
        text, encoding = _decode_whole(path.read_bytes(), warnings)
        return _pandas_read(io.StringIO(text), None, delimiter, width, limits), encoding


def _decode_whole(data: bytes, warnings: list[str]) -> tuple[str, str]:
    text, bad, good, bad_line = _decode_mixed(data)
    if bad and good:
        warnings.append(
            f"mixed encodings: the file is UTF-8 but {bad} byte(s) are not (first on line "
            f"{bad_line}); read those as Windows-1252: check accented names"
        )
        return text, "utf-8+cp1252"
    if bad:
        warnings.append("the file is not UTF-8: read as Windows-1252 (Latin-1)")
        return text, "cp1252"
    return text, "utf-8"


ARROW_CSV_MAX_BYTES = 256 * 1024**2


def _arrow_read(path: Path, delimiter: str, width: int, limits: Limits) -> pd.DataFrame | None:
    """Arrow's multi-threaded CSV reader (a third of pandas' time on a million rows) for the
    common plain case: UTF-8 without a quote character anywhere, every row as wide as the
    widest sampled one. There both readers split the same lines into the same cells (checked
    against pandas on generated files); with quotes they differ on malformed quoting (pandas
    refuses a quote left open, Arrow reads on), so anything else (a quote, an invalid byte, a
    blank line, a short or long row) is left to pandas (None)."""
    import pyarrow.csv as pacsv

    if path.stat().st_size > ARROW_CSV_MAX_BYTES:  # read whole: pandas streams bigger ones
        return None
    data = path.read_bytes()
    if b'"' in data or not data:
        return None
    names = [str(j) for j in range(max(width, 2))]
    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(column_names=names),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                quote_char=False,
                escape_char=False,
                newlines_in_values=False,
                ignore_empty_lines=False,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.large_string()),
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=True,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError):
        return None
    del data
    table = table.slice(0, limits.max_rows + HEADER_SEARCH_ROWS + 1)
    columns = [table.column(j) for j in range(table.num_columns)]
    used = [j for j, c in enumerate(columns) if pc.any(pc.not_equal(c, "")).as_py()]
    last = max(used) + 1 if used else 1
    return pd.DataFrame({j: pd.Series(columns[j], dtype="str") for j in range(last)})


def _pandas_read(
    source: Any, encoding: str | None, delimiter: str, width: int, limits: Limits
) -> pd.DataFrame:
    """pandas' C parser straight into Arrow-backed str columns (dtype 'str': the same cells
    as object cells converted afterwards, 0.2 s a million rows sooner); rows with more fields
    than the sample showed widen the table and retry."""
    columns = max(width, 2)
    while True:
        if isinstance(source, io.StringIO):
            source.seek(0)
        try:
            raw = pd.read_csv(
                source,
                sep=delimiter,
                header=None,
                names=range(columns),
                index_col=False,
                dtype="str",
                keep_default_na=False,
                na_filter=False,
                skip_blank_lines=False,
                encoding=encoding,
                engine="c",
                quotechar='"',
                nrows=limits.max_rows + HEADER_SEARCH_ROWS + 1,
            )
        except pd.errors.ParserError as exc:
            found = re.search(r"saw (\d+)", str(exc))
            if not found or int(found.group(1)) > limits.max_columns:
                raise BudgetFileError(f"the file cannot be read as CSV: {exc}") from None
            columns = int(found.group(1)) + 16
            continue
        except pd.errors.EmptyDataError:
            raise BudgetFileError("the file holds no rows; export it again") from None
        break
    # drop the spare columns no row used
    used = [c for c in raw.columns if bool(raw[c].ne("").any())]
    last = max(used) + 1 if used else 1
    return raw.iloc[:, :last]


# --------------------------------------------------------------------------------------
# Workbooks


def _read_workbook(path: Path, kind: str, sheet: str | None, limits: Limits) -> _Grid:
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
) -> _Grid:
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
    return _Grid(
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


def _sheet_score(grid: _Grid) -> float:
    """How much a sheet looks like a budget table: rows x useful columns, more with
    budget words in the header and amounts below it."""
    try:
        table = _build(grid, None, DEFAULT_LIMITS, sampling=True)
    except BudgetFileError:
        return 0.0
    frame = table.frame
    named = [c for c in frame.columns if not str(c).startswith("Column ")]
    numeric = sum(1 for c in frame.columns if number_ratio(frame[c].head(200)) > 0.6)
    words = " ".join(fold_text(str(c)) for c in frame.columns).split()
    keywords = sum(1 for w in words if w in BUDGET_WORDS or w in ("amount", "department"))
    return len(frame) * min(len(named), 20) * (1 + min(numeric, 3)) * (1 + min(keywords, 3))


# --------------------------------------------------------------------------------------
# Finding the table in a grid


_TOTAL_RE = re.compile(
    r"^\s*(?:grand\s*total|sub[\s\-]*total|total(?:es)?|gesamt(?:summe|betrag)?|"
    r"zwischen\s*summe|summe|insgesamt|total\s+general|sous[\s\-]*total|totale|"
    r"suma(?:\s+total)?|totaal|subtotaal|итого|вкупно|всего)\b"
    r"|\btotal\s*:?\s*$",
    re.IGNORECASE,
)
_SUBTOTAL_EQUALS_RE = re.compile(r"^\s*=\s")
_TOTAL_HINT = r"total|summe|gesamt|suma|итого|вкупно|всего|^\s*=\s"


def _build(grid: _Grid, header_row: int | None, limits: Limits, *, sampling: bool = False):
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


# --------------------------------------------------------------------------------------
# Wide layout


_PERIOD_COLUMN_HEADER_RE = re.compile(
    r"(?i)\b(?:period|periode|periodo|fiscal|year|month|quarter|jahr|monat|mes|ano|anio|"
    r"ejercicio|annee|mois|fy|date|datum|fecha)\b"
)


# Columns of a wide file that are never periods: totals (checked against the periods),
# year-to-date and other cumulative figures.
TOTAL_WORDS = frozenset("total totals sum summe gesamt gesamtsumme suma annual fullyear".split())
CUMULATIVE_WORDS = frozenset("ytd qtd mtd cumulative kumuliert acumulado remaining".split())
OUTLOOK_WORDS = frozenset("forecast fcst outlook projection projected estimate estimated".split())


def _column_role(header: str) -> str:
    """'total', 'cumulative' or '' for a wide file's amount column header."""
    folded = fold_text(header)
    tokens = set(folded.split())
    if tokens & CUMULATIVE_WORDS:
        return "cumulative"
    if tokens & TOTAL_WORDS or "full year" in folded or "whole year" in folded:
        return "total"
    return ""


def _is_finer(key: str) -> bool:
    return any(part[0] in "mqhp" for part in key.split())


def _years(key: str) -> set[str]:
    return {part[-2:] for part in key.split() if part.startswith("y")}


def detect_layout(frame: pd.DataFrame) -> tuple[str, list[str], list[str], list[str]]:
    """('wide', period columns, total columns, warnings) when the amounts sit in one column
    per period; ('long', [], [], []) otherwise. Total, full-year, year-to-date, variance,
    percentage, actual and forecast columns are never periods (actuals and forecasts are
    used only when nothing else gives the periods); a total column is returned separately,
    to be checked against the sum of the periods."""
    sample = frame.head(VALUE_SAMPLE_ROWS)
    keys: dict[str, str] = {}
    totals: list[str] = []
    warnings: list[str] = []
    counting = _counting_headers(list(frame.columns))
    for name in frame.columns:
        role = _column_role(str(name))
        key = period_key(str(name)) or counting.get(str(name))
        if key is None and not role:
            continue
        values = sample[name]
        if len(non_blank(values)) and number_ratio(values) < 0.6:
            continue  # a period header over text: not an amount column
        if role == "total":
            totals.append(str(name))
        elif role == "cumulative":
            warnings.append(f"left out the year-to-date column {str(name)!r}")
        elif key is not None:
            keys[str(name)] = key
    if not keys:
        return "long", [], [], []
    measures = {name: measure_of(name) for name in keys}
    for name in keys:
        if set(fold_text(name).split()) & OUTLOOK_WORDS and measures[name] == "budget":
            measures[name] = "outlook"
    variance = [n for n, m in measures.items() if m == "variance"]
    kept = [n for n in keys if measures[n] != "variance"]
    if any(measures[n] in ("budget", "") for n in kept):
        other = [n for n in kept if measures[n] in ("actual", "outlook")]
        kept = [n for n in kept if measures[n] not in ("actual", "outlook")]
        if other:
            kinds = sorted({"forecast" if measures[n] == "outlook" else "actual" for n in other})
            warnings.append(
                f"left out {' and '.join(kinds)} columns next to the budget columns: "
                + ", ".join(repr(n) for n in other)
            )
    if variance and kept:
        warnings.append("left out variance columns: " + ", ".join(repr(n) for n in variance))
    if not kept:
        return "long", [], [], []
    # a year next to its own months or quarters is their total, not another budget
    finer = [n for n in kept if _is_finer(keys[n])]
    if finer:
        finer_years = set().union(*(_years(keys[n]) for n in finer))
        for name in [n for n in kept if not _is_finer(keys[n])]:
            if not finer_years or _years(keys[name]) & finer_years:
                kept.remove(name)
                totals.append(name)
    kept = _one_per_period(kept, keys, warnings)
    if totals and len(kept) > 1:
        warnings.append(
            "total columns are not periods; checked against the sum of the period columns: "
            + ", ".join(repr(n) for n in totals)
        )
    else:
        totals = []
    if len(kept) == 1:
        if (~blank_mask(sample[kept[0]])).mean() < 0.5:
            return "long", [], [], []
        others = [c for c in frame.columns if c not in keys]
        for name in others:
            if _PERIOD_COLUMN_HEADER_RE.search(fold_text(str(name))) or (
                _reads_as_periods(sample[name])
            ):
                return "long", [], [], []
    return "wide", kept, totals, warnings


def _reads_as_periods(values: pd.Series) -> bool:
    """The normaliser's parser reads most of the column as periods (not plain numbers)."""
    evidence = period_evidence(values)
    return evidence.periods - evidence.numbers > 0.8


def _counting_headers(names: list[str]) -> dict[str, str]:
    """Headers 1, 2, 3, ... (at least three in a row) are period numbers."""
    found: dict[str, str] = {}
    run: list[str] = []
    for name in names + [""]:
        text = str(name).strip()
        if text.isdigit() and 1 <= int(text) <= 53 and (not run or int(text) == int(run[-1]) + 1):
            run.append(text)
            continue
        if len(run) >= 3:
            found.update({n: f"p{n}" for n in run})
        run = [text] if text.isdigit() and 1 <= int(text) <= 53 else []
    return found


def _one_per_period(kept: list[str], keys: dict[str, str], warnings: list[str]) -> list[str]:
    """When several columns give the same period (FY2014 Adopted, FY2014 Amended), keep the
    most final version."""
    by_key: dict[str, list[str]] = {}
    for name in kept:
        by_key.setdefault(keys[name], []).append(name)
    if all(len(v) == 1 for v in by_key.values()):
        return kept
    chosen: list[str] = []
    for names in by_key.values():
        best = min(names, key=_finality_rank)
        chosen.append(best)
        if len(names) > 1:
            warnings.append(
                f"several columns for the same period; used {best!r}, left out "
                + ", ".join(repr(n) for n in names if n != best)
            )
    return [n for n in kept if n in chosen]


def _finality_rank(name: str) -> int:
    tokens = set(fold_text(name).split())
    for rank, words in enumerate(_FINAL_PREFERENCE):
        if tokens & set(words):
            return rank
    return len(_FINAL_PREFERENCE)
