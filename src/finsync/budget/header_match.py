"""What a column's header says about each budget field: its words compared with the field's
synonyms (mapping_words.py), after folding case and accents, splitting camelCase and
expanding abbreviations; words compared one by one with rapidfuzz's plain `ratio` (typos
forgiven); extra words and words that contradict the field cost points.

Shared by file-type detection (`detect`) and column mapping (`mapping`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz

from finsync.budget.headers import fold_text
from finsync.budget.mapping_words import (
    ABBREVIATIONS,
    NEGATIVE_WEIGHTS,
    STOPWORDS,
    SYNONYM_WEIGHTS,
)

MIN_SCORE = 60.0  # a column scoring less is not proposed for a field at all


# field -> {synonym: weight}. The weight is the score of a header that IS the synonym.
SYNONYMS: dict[str, dict[str, int]] = {
    field: {word: weight for weight, words in table.items() for word in words}
    for field, table in SYNONYM_WEIGHTS.items()
}
# field -> {word: points taken off}.
NEGATIVE_WORDS: dict[str, dict[str, int]] = {
    field: {word: points for points, words in table.items() for word in words}
    for field, table in NEGATIVE_WEIGHTS.items()
}


@lru_cache(maxsize=4096)
def header_words(header: str) -> tuple[str, ...]:
    """The words of a header after folding and expanding abbreviations."""
    words: list[str] = []
    for word in fold_text(header).split():
        if word.isdigit() and len(word) <= 2:
            continue  # 'Account 2', 'TRANS CAC DESC 1': a counter, not a word
        words.extend(ABBREVIATIONS.get(word, word).split())
    return tuple(w for w in words if w not in STOPWORDS) or tuple(words)


@lru_cache(maxsize=1024)
def _synonym_words(synonym: str) -> tuple[str, ...]:
    return header_words(synonym)


def _word_similarity(synonym_word: str, header_word: str) -> float:
    if synonym_word == header_word:
        return 100.0
    if len(header_word) >= 4 and synonym_word.startswith(header_word):
        return 92.0  # a truncation: 'Categ', 'Descrip'
    if min(len(synonym_word), len(header_word)) < 5:
        return 0.0
    return fuzz.ratio(synonym_word, header_word)


def phrase_score(header: tuple[str, ...], synonym: tuple[str, ...]) -> float:
    """0..100: how well a header's words carry a synonym's words (all of them, in any
    order, typos forgiven). Extra words after the synonym's cost 4 points each ('Department
    Order'); extra words before it cost 1 ('Obligations Department': a stacked group
    label); together at most 16."""
    if header == synonym:
        return 100.0
    used: set[int] = set()
    total = 0.0
    for word in synonym:
        best, best_index = 0.0, -1
        for index, candidate in enumerate(header):
            if index in used:
                continue
            similarity = _word_similarity(word, candidate)
            if similarity > best:
                best, best_index = similarity, index
        if best < 85:
            whole = fuzz.ratio(" ".join(header), " ".join(synonym))
            return whole * 0.95 if whole >= 88 else 0.0
        used.add(best_index)
        total += best
    quality = total / len(synonym)
    first = min(used)
    before = sum(1 for i in range(len(header)) if i not in used and i < first)
    after = sum(1 for i in range(len(header)) if i not in used and i > first)
    return quality - min(before + 4 * after, 16)


@dataclass(frozen=True)
class HeaderMatch:
    score: float  # 0..100 after the synonym's weight
    synonym: str | None
    raw: float  # the phrase score before the weight


def best_synonym(header: str, synonyms: dict[str, int]) -> HeaderMatch:
    words = header_words(header)
    best = HeaderMatch(0.0, None, 0.0)
    if not words:
        return best
    for synonym, weight in synonyms.items():
        raw = phrase_score(words, _synonym_words(synonym))
        score = raw * weight / 100
        if score > best.score:
            best = HeaderMatch(score, synonym, raw)
    return best


def header_score(field: str, header: str) -> HeaderMatch:
    match = best_synonym(header, SYNONYMS[field])
    words = set(header_words(header))
    penalty = sum(points for word, points in NEGATIVE_WORDS[field].items() if word in words)
    if "%" in header and field == "budgeted_amount":
        penalty += 35
    if match.synonym is None:
        return match
    # the synonym's own words are not held against it ('Account Type' as a type)
    own = set(_synonym_words(match.synonym))
    penalty -= sum(NEGATIVE_WORDS[field].get(word, 0) for word in own)
    # other words of the same field support it ('Tipo de Proyecto': a type, of a project)
    support = sum(1 for word in words - own if (word,) in _single_word_synonyms(field))
    score = match.score - max(penalty, 0) + min(2 * support, 4)
    return HeaderMatch(min(max(score, 0.0), 100.0), match.synonym, match.raw)


@lru_cache(maxsize=8)
def _single_word_synonyms(field: str) -> frozenset[tuple[str, ...]]:
    return frozenset(_synonym_words(s) for s in SYNONYMS[field] if len(_synonym_words(s)) == 1)
