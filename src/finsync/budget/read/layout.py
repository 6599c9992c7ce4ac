"""Long or wide: whether a table's amounts sit in one column per month, quarter or year,
which of those columns are the periods (budget before actual, forecast and variance; the
most final version of a period), and which are totals to check against them."""

from __future__ import annotations

import re

import pandas as pd

from finsync.budget.cells import VALUE_SAMPLE_ROWS, blank_mask, non_blank, number_ratio
from finsync.budget.headers import fold_text, measure_of, period_key
from finsync.budget.periods import period_evidence

_FINAL_PREFERENCE = (
    ("amended", "revised", "modified", "final", "current", "modificado"),
    ("adopted", "approved", "original", "aprobado", "haushaltsansatz", "ansatz"),
    ("proposed", "request", "requested", "recommended"),
)


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
