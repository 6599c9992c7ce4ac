"""Map a parsed file's columns to the budget fields (department, sub_category,
fiscal_period, budgeted_amount, currency, and fiscal_year when the periods carry no year).

Each (field, column) pair gets a score from 0 to 100:

* the header (header_match.py): its words are compared with each field's synonyms
  (mapping_words.py: data, not code; English, Spanish, German, French, Portuguese, a few
  Cyrillic, and the FP&A tools' everyday names: Time, Value, Data, Entity, Level, Allocated,
  Plan), after folding case and accents, splitting camelCase and expanding abbreviations
  ('Amt' -> amount, 'Dept' -> department, 'FY' -> fiscal year). Words are compared one by
  one with rapidfuzz's plain `ratio` (typos: 'Departmnet'), never with WRatio's partial
  matching, which lets 'Budget Amt' look like a department; a header with extra words
  scores a little less than the bare synonym ('Department Order' < 'Department'); words
  that contradict a field ('Actual', 'Variance', 'Code') cost points;
* the values (described by column_values.py, judged here): amounts must look like numbers
  (and not like codes or years), periods like periods (by finsync.budget.periods, the
  normaliser's own parser), currencies like ISO codes, departments and categories like
  names or numeric ids;
* the file's other columns: the only column whose values are periods is the period and the
  only numeric column that could be the amount is the amount (score 90 whatever the
  header); a Year column goes to fiscal_year when the period column's values lack a year;
  the latest budget version (Revised over Original) is the amount.

Pairs are then assigned best first (of equal scores, a header named after the field), one
column per field and one field per column. A field's confidence is the probability that the
choice is right: a logistic curve (CALIBRATION, fitted by bench/corpus/calibrate.py) over
the chosen score, the best rival's (a column grouping the rows exactly like the chosen one
is no rival) and whether a close rival is another level of the same hierarchy (Business Unit
and Team); for no column, over the best candidate's score. A confirmed mapping (a person's,
or an earlier run's) is used as-is while its columns exist.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from finsync.budget.cells import VALUE_SAMPLE_ROWS
from finsync.budget.column_values import ColumnValues, describe_values
from finsync.budget.header_match import MIN_SCORE, NEGATIVE_WORDS, header_score, header_words
from finsync.budget.headers import fold_text, period_key
from finsync.budget.mapping_words import (
    DESCRIPTIVE_WORDS,
    FIELD_NAMES,
    VERSION_PREFERENCE,
)
from finsync.budget.model import FIELDS, REQUIRED_FIELDS, ColumnMapping, FieldMatch, ParsedFile

CONFIDENCE_BAR = 0.80  # below this a required field needs a person's confirmation
MAX_ALTERNATIVES = 3

# --------------------------------------------------------------------------------------
# What the values say for a field


def _value_adjustment(field: str, values: ColumnValues) -> tuple[float, list[str]]:
    """Points added or taken off for what the values look like, and why."""
    notes: list[str] = []
    if values.filled == 0:
        return -40.0, ["the column is empty"]
    points = 0.0
    if field == "fiscal_year":  # judged with the file's other columns (_year_adjustment)
        return points, notes
    if field == "budgeted_amount":
        if values.years:
            return -45.0, ["values are years"]
        if values.lenient_numbers < 0.5:
            points -= 45
            notes.append(f"only {values.lenient_numbers:.0%} of values are numbers")
        elif values.codes:
            points -= 25
            notes.append("values look like codes")
        else:
            points += 4 * values.lenient_numbers
            notes.append(f"{values.lenient_numbers:.0%} of values are numbers")
        if values.filled < 0.5:
            points -= 25
            notes.append(f"only {values.filled:.0%} of rows have a value")
    elif field == "fiscal_period":
        if values.periods >= 0.8:
            points += 6
            notes.append(f"{values.periods:.0%} of values look like periods")
        elif values.periods < 0.3:
            points -= 35
            notes.append(f"only {values.periods:.0%} of values look like periods")
        if values.filled < 0.5:
            points -= 20
            notes.append(f"only {values.filled:.0%} of rows have a value")
    elif field == "currency":
        if values.currencies >= 0.8:
            points += 8
            notes.append(f"{values.currencies:.0%} of values are ISO currency codes")
        elif values.currencies < 0.3:
            points -= 40
            notes.append("values are not currency codes")
    else:  # department, sub_category: names, not numbers
        if values.numbers > 0.5 and values.identifiers:
            points -= 8
            notes.append("values are numeric codes")
        elif values.numbers > 0.5:
            points -= 30 * values.numbers
            notes.append(f"{values.numbers:.0%} of values are numbers (codes?)")
        if values.mean_length > 60:
            points -= 15
            notes.append("values are long texts")
        if values.periods > 0.8:
            points -= 30
            notes.append("values look like periods")
        if values.filled < 0.5:
            points -= 15
            notes.append(f"only {values.filled:.0%} of rows have a value")
        if values.distinct == 1 and values.rows >= 10:
            points -= 4
            notes.append("every row has the same value")
    return points, notes


def _value_only_score(field: str, values: ColumnValues) -> tuple[float, str] | None:
    """A column no synonym names, proposed by its values alone (kept below the bar)."""
    if field == "currency" and values.currencies >= 0.9:
        return 72.0, f"{values.currencies:.0%} of values are ISO currency codes"
    if (
        field == "fiscal_period"
        and values.periods >= 0.9
        and values.period_numbers < 0.5  # numbers alone (amounts?) make no case
        and values.filled >= 0.8
    ):
        return 66.0, f"{values.periods:.0%} of values look like periods"
    texts = (
        values.numbers < 0.2
        and values.mean_length <= 60
        and values.distinct > 1
        and values.filled >= 0.5
    )
    if field == "sub_category" and texts and values.category_words >= 0.3:
        return 62.0, f"{values.category_words:.0%} of values name expense categories"
    if field == "department" and texts and values.department_words >= 0.3:
        return 62.0, f"{values.department_words:.0%} of values name departments"
    if (
        field == "budgeted_amount"
        and values.lenient_numbers >= 0.9
        and not values.codes
        and not values.years
        and values.distinct > 1
    ):
        return 61.0, f"{values.lenient_numbers:.0%} of values are numbers"
    return None


# --------------------------------------------------------------------------------------
# Mapping


@dataclass(frozen=True)
class Candidate:
    field: str
    column: str
    score: float
    explanation: str


def headers_signature(parsed: ParsedFile) -> list[str]:
    """The header names in order, to check that a confirmed mapping still fits the file."""
    return [str(c) for c in parsed.frame.columns]


def confirmed_applies(parsed: ParsedFile, confirmed: dict[str, str | None] | None) -> bool:
    """True when every column a confirmed mapping names is still in the file."""
    if not confirmed:
        return False
    present = set(headers_signature(parsed))
    named = [c for f, c in confirmed.items() if f in FIELDS and c]
    return bool(named) and all(c in present for c in named)


# A header -> field pair people confirmed (budget_mapping_learned) scores like a synonym:
# once is strong evidence, twice (two answers, usually two customers) as strong as a name.
LEARNED_SCORES = {1: 92.0, 2: 100.0}


def _learned(
    candidates: list[Candidate],
    columns: list[str],
    fields: list[str],
    learned: dict[str, dict[str, int]],
) -> list[Candidate]:
    """`candidates` with the pairs people taught raised to LEARNED_SCORES (or added)."""
    by_key = {(c.field, c.column): c for c in candidates}
    for field in fields:
        taught = learned.get(field) or {}
        for column in columns:
            times = taught.get(fold_text(column), 0)
            if not times:
                continue
            score = LEARNED_SCORES[min(times, 2)]
            note = f'people confirmed "{column}" as {field.replace("_", " ")} {times} time(s)'
            found = by_key.get((field, column))
            if found is None:
                by_key[(field, column)] = Candidate(field, column, score, f'"{column}": {note}')
            elif found.score < score:
                by_key[(field, column)] = Candidate(
                    field, column, score, f"{found.explanation}; {note}"
                )
    return list(by_key.values())


def map_columns(
    parsed: ParsedFile,
    *,
    confirmed: dict[str, str | None] | None = None,
    learned: dict[str, dict[str, int]] | None = None,
) -> ColumnMapping:
    """The column for each budget field, with a confidence, alternatives and an explanation.
    `learned`: field -> folded header -> how often people confirmed that pair (config.py's
    learned_evidence), evidence for every customer that shares mappings."""
    if confirmed_applies(parsed, confirmed):
        assert confirmed is not None
        return ColumnMapping(
            fields={
                field: FieldMatch(
                    column=confirmed.get(field), confidence=1.0, explanation="confirmed mapping"
                )
                for field in FIELDS
            }
        )
    wide = parsed.layout == "wide"
    period_columns = set(parsed.period_columns) if wide else set()
    columns = [str(c) for c in parsed.frame.columns if str(c) not in period_columns]
    sample = parsed.frame.head(VALUE_SAMPLE_ROWS)
    values = {c: describe_values(sample[c]) for c in columns}
    context = _file_context(parsed, values)
    fields = [f for f in FIELDS if not (wide and f in ("fiscal_period", "budgeted_amount"))]
    candidates = [
        c
        for field in fields
        for column in columns
        if (c := _score(field, column, values[column], context))
    ]
    if learned:
        candidates = _learned(candidates, columns, fields, learned)
    partitions = _Partitions(sample)
    chosen = _assign(candidates)
    result: dict[str, FieldMatch] = {}
    for field in FIELDS:
        if field not in fields:
            result[field] = FieldMatch(
                column=None,
                confidence=1.0,
                explanation=(
                    f"wide layout: {'periods' if field == 'fiscal_period' else 'amounts'} come "
                    f"from the period column{'s' if len(parsed.period_columns) != 1 else ''} "
                    f"({_span(parsed.period_columns)})"
                ),
            )
            continue
        if field == "fiscal_year" and not (context.yearless or context.headers):
            result[field] = FieldMatch(
                column=None, confidence=1.0, explanation="not needed: the periods carry a year"
            )
            continue
        taken = {c.column for f, c in chosen.items() if f != field}
        if field in chosen:  # a column grouping the rows exactly alike gives the same budgets
            taken |= {
                c.column
                for c in candidates
                if c.field == field and partitions.same(c.column, chosen[field].column)
            }
        result[field] = _field_match(field, chosen.get(field), candidates, taken, partitions)
    return ColumnMapping(fields=result)


@dataclass(frozen=True)
class _FileContext:
    """What the file's other columns say: where periods lack a year and which columns could
    supply it, which columns hold periods, which could hold the amount."""

    yearless: frozenset[str]  # columns of periods without a year ('Jan', 'P01', 'Q1')
    years: frozenset[str]  # columns whose values are years ('FY26', '2026')
    headers: bool = False  # a wide file whose period headers carry no year ('Jan'..'Dec')
    periods: frozenset[str] = frozenset()  # columns whose values are periods (not numbers)
    amounts: frozenset[str] = frozenset()  # numeric columns whose header does not rule it out


YEARLESS_SHARE = 0.6  # a column holds periods without a year when this share of values do
YEARS_SHARE = 0.9  # a column holds years when this share of values are years


def _file_context(parsed: ParsedFile, values: dict[str, ColumnValues]) -> _FileContext:
    yearless = frozenset(c for c, v in values.items() if v.period_yearless >= YEARLESS_SHARE)
    years = frozenset(
        c for c, v in values.items() if v.period_years >= YEARS_SHARE and c not in yearless
    )
    keys = [period_key(str(h)) or "" for h in parsed.period_columns]
    headers = parsed.layout == "wide" and bool(keys) and not any(" y" in f" {k}" for k in keys)
    periods = frozenset(
        c
        for c, v in values.items()
        if v.periods >= PERIOD_SHARE and v.period_numbers < 0.5 and v.filled >= 0.8
    )
    return _FileContext(yearless, years, headers, periods, _plausible_amounts(values))


PERIOD_SHARE = 0.95  # a column holds periods when this share of its values are periods


def _plausible_amounts(values: dict[str, ColumnValues]) -> frozenset[str]:
    """Numeric columns that could be the amount: numbers, not codes, ids or years, more than
    one value, and no header word against it (Actual, Variance, Code, FTE, Year...)."""
    against = {w for w, points in NEGATIVE_WORDS["budgeted_amount"].items() if points >= 25}
    return frozenset(
        c
        for c, v in values.items()
        if v.lenient_numbers >= 0.9
        and v.filled >= 0.5
        and not (v.codes or v.years or v.identifiers)
        and v.distinct > 1
        and v.period_numbers < 0.5
        and not set(header_words(c)) & against
    )


def _value_floor(field: str, column: str, context: _FileContext) -> tuple[float, str | None]:
    """The values alone make the case (issue #10 item 4): the only column whose values are
    periods is the period; the only numeric column that could be the amount is the amount."""
    if field == "fiscal_period" and column in context.periods:
        rivals = context.periods - {column} - context.years
        if not rivals:
            return 90.0, "the only column whose values are periods"
    if field == "budgeted_amount" and context.amounts == {column}:
        return 90.0, "the only numeric column that could be the amount"
    return 0.0, None


def _version_bonus(field: str, column: str, context: _FileContext) -> tuple[float, str | None]:
    """Among several budget columns (Original, Revised), the latest version is the budget:
    the earlier versions lose points."""
    if field != "budgeted_amount" or column not in context.amounts or len(context.amounts) < 2:
        return 0.0, None
    words = set(header_words(column))
    ranks = [
        rank
        for other in context.amounts
        for rank, group in enumerate(VERSION_PREFERENCE)
        if set(header_words(other)) & set(group)
    ]
    for rank, group in enumerate(VERSION_PREFERENCE):
        if words & set(group) and ranks and rank > min(ranks):
            return -6.0 * (rank - min(ranks)), "an earlier budget version than another column"
    return 0.0, None


def _year_adjustment(field: str, column: str, context: _FileContext) -> tuple[float, str | None]:
    """Points for a Year + Period pair: the periods' column wins fiscal_period over the year's,
    which becomes fiscal_year; periods without a year and nothing to take it from cost."""
    needs_year = bool(context.yearless) or context.headers
    if field == "fiscal_period" and column in context.years and context.yearless:
        other = sorted(context.yearless)[0]
        return -25.0, f"values are years; {other!r} holds the periods (its year from here)"
    if field == "fiscal_period" and column in context.yearless and not context.years:
        # still the period column (the confidence is about the choice); the rows are then
        # rejected one by one for want of a year, which the message says how to add
        return 0.0, "values carry no year and no column holds years"
    if field == "fiscal_year":
        if not needs_year or column in context.yearless:
            return -100.0, None
        if column in context.years:
            if context.yearless:
                return (
                    6.0,
                    f"values are years; the periods in {sorted(context.yearless)[0]!r} have none",
                )
            return 6.0, "values are years; the period headers have none"
        return -45.0, "values are not years"
    return 0.0, None


LEVELS_WITHIN = 20.0  # a rival this close that is another level of the same hierarchy
SAME_MIN_GROUPS = 4


class _Partitions:
    """How the sample's columns group its rows: nested (every value of one column sits in
    one value of another: Store in Region) or the same grouping (a code and its name)."""

    def __init__(self, sample: pd.DataFrame) -> None:
        self.sample = sample
        self._codes: dict[str, pd.Series] = {}

    def _code(self, column: str) -> pd.Series:
        if column not in self._codes:
            self._codes[column] = pd.Series(pd.factorize(self.sample[column])[0])
        return self._codes[column]

    def nested(self, fine: str, coarse: str) -> bool:
        """Each value of `fine` lies within one value of `coarse`, and `fine` has more."""
        a, b = self._code(fine), self._code(coarse)
        if a.nunique() <= b.nunique():
            return False
        return bool(b.groupby(a).nunique().max() == 1)

    def same(self, one: str, other: str) -> bool:
        """The same grouping of at least SAME_MIN_GROUPS groups (fewer can be chance)."""
        if one == other:
            return False
        a, b = self._code(one), self._code(other)
        n = a.nunique()
        if n < SAME_MIN_GROUPS or n != b.nunique():
            return False
        return n == len(pd.DataFrame({"a": a, "b": b}).drop_duplicates())


def _span(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{names[0]} … {names[-1]}"


def _score(
    field: str, column: str, values: ColumnValues, context: _FileContext
) -> Candidate | None:
    year_points, year_note = _year_adjustment(field, column, context)
    if year_points <= -100:
        return None
    match = header_score(field, column)
    if match.synonym is not None and match.score > 0:
        adjustment, notes = _value_adjustment(field, values)
        adjustment += year_points
        notes += [year_note] if year_note else []
        words = set(header_words(column))
        if field in ("department", "sub_category") and words & DESCRIPTIVE_WORDS:
            adjustment += 4
        bonus, bonus_note = _version_bonus(field, column, context)
        adjustment += bonus
        notes += [bonus_note] if bonus_note else []
        score = min(match.score + adjustment, 100.0)
        floor, floor_note = _value_floor(field, column, context)
        if floor > score:
            score = floor
            notes.append(floor_note or "")
        explanation = f'"{column}" matches synonym "{match.synonym}" (score {match.raw:.0f})'
        if notes:
            explanation += "; " + "; ".join(notes)
        if score >= MIN_SCORE - 15:
            return Candidate(field, column, score, explanation)
    if field == "fiscal_year" and year_points > 0:
        return Candidate(field, column, 70.0, f'"{column}": no header match, but {year_note}')
    value_only = _value_only_score(field, values)
    floor, floor_note = _value_floor(field, column, context)
    if floor:
        return Candidate(field, column, floor, f'"{column}": no header match, but {floor_note}')
    if value_only is not None:
        score, note = value_only
        score += min(year_points, 0.0)
        return Candidate(field, column, score, f'"{column}": no header match, but {note}')
    return None


def names_field(field: str, column: str) -> bool:
    """The header is the field's own name ('Department', 'Dept', 'Sub Category', 'Currency')."""
    return header_words(column) == header_words(FIELD_NAMES.get(field, field))


def _assign(candidates: Iterable[Candidate]) -> dict[str, Candidate]:
    """Best pair first (of equal scores, a header that is the field's own name); one column
    per field, one field per column."""
    order = {field: index for index, field in enumerate(("budgeted_amount", *FIELDS))}
    chosen: dict[str, Candidate] = {}
    used: set[str] = set()
    ranked = sorted(
        candidates, key=lambda c: (-c.score, not names_field(c.field, c.column), order[c.field])
    )
    for candidate in ranked:
        if candidate.score < MIN_SCORE:
            break
        if candidate.field in chosen or candidate.column in used:
            continue
        chosen[candidate.field] = candidate
        used.add(candidate.column)
    return chosen


# The confidence is the probability that a choice is right: a logistic curve over the
# mapper's evidence, fitted on a generated corpus (bench/corpus/calibrate.py, seed 7) and
# checked on another (bench/analyze_corpus: reliability table and calibration error).
# chosen column: logit = intercept + per_10_points * (score - 80) / 10 + per_10_gap * gap / 10
#                        + levels * (a close rival is another level of the same hierarchy:
#                          Division and Department, Category and Sub Category)
# no column: logit = intercept + per_10_points * (best candidate - 50) / 10
CALIBRATION: dict[str, dict[str, float]] = {
    "chosen": {
        "intercept": -0.88,
        "per_10_points": 0.75,
        "per_10_gap": 1.10,
        "levels": -1.17,
        "named": 0.93,
    },
    "none": {"intercept": 3.24, "per_10_points": -0.02},
}
GAP_CAP = 40.0  # a runner-up this far behind says nothing more


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def chosen_confidence(
    score: float, runner_up: float, levels: bool = False, named: bool = False
) -> float:
    """P(the chosen column is right | its score, the best rival's, whether a close rival
    is another level of the same hierarchy, and whether the chosen header is the field's own
    name while the rival's is not)."""
    weights = CALIBRATION["chosen"]
    gap = min(max(score - runner_up, 0.0), GAP_CAP)
    return _logistic(
        weights["intercept"]
        + weights["per_10_points"] * (score - 80.0) / 10
        + weights["per_10_gap"] * gap / 10
        + weights["levels"] * levels
        + weights["named"] * named
    )


def none_confidence(best: float) -> float:
    """P(no column is right | the best candidate's score, 0 when there is none)."""
    weights = CALIBRATION["none"]
    return _logistic(weights["intercept"] + weights["per_10_points"] * (best - 50.0) / 10)


def _field_match(
    field: str,
    chosen: Candidate | None,
    candidates: list[Candidate],
    taken: set[str],
    partitions: _Partitions,
) -> FieldMatch:
    """The field's choice with its calibrated confidence. Columns that the assignment gave
    to other fields are alternatives, not rivals."""
    others = sorted(
        (
            c
            for c in candidates
            if c.field == field and (chosen is None or c.column != chosen.column)
        ),
        key=lambda c: -c.score,
    )
    alternatives = [c.column for c in others if c.score >= MIN_SCORE - 10][:MAX_ALTERNATIVES]
    rivals = [c for c in others if c.column not in taken]
    if chosen is None:
        best = rivals[0].score if rivals else 0.0
        return FieldMatch(
            column=None,
            confidence=round(none_confidence(best), 4),
            alternatives=alternatives,
            explanation="no column matches"
            + (f" well enough (closest: {alternatives[0]!r})" if alternatives else ""),
            evidence={"score": 0.0, "runner_up": best},
        )
    runner_up = rivals[0].score if rivals else 0.0
    explanation = chosen.explanation
    if chosen.score - runner_up < 10 and rivals:
        explanation += f"; close to {rivals[0].column!r} ({runner_up:.0f})"
    # analysts pick a column literally named after the field over other hierarchy levels
    # (samples/real: Department over Division); otherwise another level is a real question
    levels = [
        r.column
        for r in rivals
        if r.score >= chosen.score - LEVELS_WITHIN
        and not names_field(field, chosen.column)
        and (
            partitions.nested(r.column, chosen.column) or partitions.nested(chosen.column, r.column)
        )
    ]
    if levels:
        explanation += f"; {levels[0]!r} is another level of the same hierarchy"
    # a close rival, but the header is the field's own name ('Department' over 'Division')
    named = bool(rivals) and chosen.score - runner_up < 10 and names_field(field, chosen.column)
    named = named and not names_field(field, rivals[0].column)
    if named:
        explanation += f"; {chosen.column!r} is the field's own name"
    return FieldMatch(
        column=chosen.column,
        confidence=round(chosen_confidence(chosen.score, runner_up, bool(levels), named), 4),
        alternatives=alternatives,
        explanation=explanation,
        evidence={
            "score": chosen.score,
            "runner_up": runner_up,
            "levels": float(bool(levels)),
            "named": float(named),
        },
    )


def needs_review(mapping: ColumnMapping, layout: str) -> list[str]:
    """The required fields that are missing or below the confidence bar. In a wide file the
    periods and amounts come from the period columns, so they are not required as columns."""
    required = [
        f
        for f in REQUIRED_FIELDS
        if not (layout == "wide" and f in ("fiscal_period", "budgeted_amount"))
    ]
    review = []
    for field in required:
        match = mapping.fields.get(field)
        if match is None or match.column is None or match.confidence < CONFIDENCE_BAR:
            review.append(field)
    return review
