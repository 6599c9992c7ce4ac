"""Delimited text (CSV and the like): the encoding (BOM, UTF-8, UTF-16, Windows-1252, or
"mixed": mostly UTF-8 with stray Windows-1252 bytes), the delimiter (, ; tab |), and the
whole file as str columns (Arrow's reader for the plain case, else pandas)."""

from __future__ import annotations

import codecs
import io
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from finsync.budget.model import BudgetFileError
from finsync.budget.read.grid import HEADER_SEARCH_ROWS, Grid, Limits

DELIMITERS = (",", ";", "\t", "|")


def read_text(path: Path, size: int, limits: Limits) -> Grid:
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
    return Grid(
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
