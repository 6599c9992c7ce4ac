"""What a column's values look like (`describe_values`): amounts, periods (by the
normaliser's own parser), currency codes, codes and ids, department and category words.

Shared by file-type detection (`detect`) and column mapping (`mapping`)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from finsync.budget.cells import non_blank, number_ratio
from finsync.budget.currencies import ISO_4217
from finsync.budget.headers import fold_text
from finsync.budget.mapping_words import CATEGORY_STEMS, DEPARTMENT_STEMS
from finsync.budget.periods import period_evidence


@dataclass(frozen=True)
class ColumnValues:
    """What a column's values look like (computed once per column on a sample)."""

    filled: float  # share of rows with a value
    numbers: float  # share of values that are amounts
    lenient_numbers: float  # ... counting '1000 Approx' as half
    periods: float  # share of values the period parser reads (periods.period_kind)
    currencies: float  # share of values that are ISO currency codes
    codes: bool  # integers of one length or with leading zeros: codes, not amounts
    years: bool  # every value is a year
    distinct: int
    mean_length: float
    rows: int = 0  # non-blank values looked at
    identifiers: bool = False  # whole numbers repeated across rows: ids (dept 4100), not amounts
    category_words: float = 0.0  # share of distinct values using expense-category words
    department_words: float = 0.0  # ... using department words
    period_years: float = 0.0  # share of values that are fiscal years (FY26, 2026, 2025-26)
    period_yearless: float = 0.0  # ... periods without a year (Jan, Q1, P01)
    period_numbers: float = 0.0  # ... periods written as plain numbers (Excel serials, 202501)


def describe_values(values: pd.Series) -> ColumnValues:
    sample = values.astype("str")
    present = non_blank(sample)
    if present.empty:
        return ColumnValues(0.0, 0.0, 0.0, 0.0, 0.0, False, False, 0, 0.0, 0)
    stripped = present.str.strip()
    integers = stripped.str.fullmatch(r"\d+").fillna(False)
    lengths = stripped.str.len()
    codes = bool(integers.all()) and bool(
        stripped.str.match(r"0\d").fillna(False).mean() >= 0.2
        # account-like numbers all of one long length; a few values prove nothing (one
        # budget line of 1000000 is an amount)
        or (lengths.nunique() == 1 and lengths.iloc[0] >= 7 and stripped.nunique() >= 3)
    )
    years = bool(stripped.str.fullmatch(r"(?:19|20)\d{2}(?:\.0)?").fillna(False).all())
    currencies = float(stripped.str.upper().isin(ISO_4217).mean())
    distinct = pd.Series(stripped.unique()[:500], dtype="str").map(fold_text)
    periods = period_evidence(present)  # the normaliser's own parser (issue #15.2)
    return ColumnValues(
        filled=len(present) / max(len(sample), 1),
        numbers=number_ratio(present),
        lenient_numbers=number_ratio(present, lenient=True),
        periods=periods.periods,
        currencies=currencies,
        codes=codes,
        years=years,
        distinct=int(stripped.nunique()),
        mean_length=float(lengths.mean()),
        rows=len(present),
        category_words=_stem_share(distinct, CATEGORY_STEMS),
        department_words=_stem_share(distinct, DEPARTMENT_STEMS),
        period_years=periods.years,
        period_yearless=periods.yearless,
        period_numbers=periods.numbers,
        identifiers=bool(integers.all()) and stripped.nunique() * 3 <= len(stripped),
    )


def _stem_share(values: pd.Series, stems: list[str]) -> float:
    if values.empty:
        return 0.0
    pattern = "|".join(stems)
    return float(values.str.contains(pattern, regex=True).fillna(False).mean())
