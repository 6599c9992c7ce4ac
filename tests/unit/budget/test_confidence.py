"""Confidence that means something (issue #10 item 4): values as evidence, FP&A everyday
headers, hierarchy levels, and a calibrated probability."""

from __future__ import annotations

import ast
import csv
import importlib.util
import sys
from pathlib import Path

import pytest

from finsync.budget import mapping_words
from finsync.budget.mapping import (
    CONFIDENCE_BAR,
    chosen_confidence,
    map_columns,
    needs_review,
    none_confidence,
)
from finsync.budget.read import parse_file

ROOT = Path(__file__).resolve().parents[3]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
DEPARTMENTS = ["Sales", "Marketing", "Finance", "Legal", "IT", "Operations"]


def mapping_of(write_csv, header, rows):
    parsed = parse_file(write_csv([header, *rows]))
    return parsed, map_columns(parsed)


@pytest.mark.parametrize(
    ("department", "category", "period", "amount"),
    [
        ("Entity", "Account", "Period", "Data"),  # Oracle EPM / Essbase
        ("Cost Center", "Line Items", "Time", "Value"),  # Anaplan
        ("Level Name", "Account Name", "Time", "Amount"),  # Adaptive Planning
        ("Department", "Account", "Time Period", "Value"),  # Prophix
        ("Team", "Category", "Month", "Allocated"),  # a Sheets budget
        ("Cost Centre", "Expense Type", "Period", "Plan"),
        ("Entity", "GL Account", "Period", "Planned"),
    ],
)
def test_everyday_fpa_headers_map_without_a_person(write_csv, department, category, period, amount):
    rows = [
        [d, f"Account {a}", f"{m} 2026", f"{1000 + 17 * i}.00"]
        for i, (d, a, m) in enumerate(
            (d, a, m) for d in DEPARTMENTS[:3] for a in range(3) for m in MONTHS[:4]
        )
    ]
    parsed, mapping = mapping_of(write_csv, [department, category, period, amount], rows)
    assert mapping.columns()["department"] == department
    assert mapping.columns()["sub_category"] == category
    assert mapping.columns()["fiscal_period"] == period
    assert mapping.columns()["budgeted_amount"] == amount
    assert needs_review(mapping, parsed.layout) == []


def test_the_only_plausible_amount_is_the_amount(write_csv):
    """'Account Code' is numeric too, but a code; 'Headcount' is a count: 'Figure' is left."""
    header = ["Department", "Account Code", "Account", "Month", "Headcount", "Figure"]
    rows = [
        [d, str(6000 + 10 * a), f"Account {a}", f"{m} 2026", str(3 + a), f"{950 + 31 * a}.{a}5"]
        for d in DEPARTMENTS[:2]
        for a in range(4)
        for m in MONTHS[:3]
    ]
    parsed, mapping = mapping_of(write_csv, header, rows)
    match = mapping.fields["budgeted_amount"]
    assert match.column == "Figure"
    assert "the only numeric column that could be the amount" in match.explanation
    assert match.confidence >= CONFIDENCE_BAR


def test_several_plausible_amounts_leave_it_to_the_header(write_csv):
    header = ["Department", "Account", "Quarter", "Prior Year", "Budget", "Forecast"]
    rows = [
        [d, "Rent", f"Q{q} 2026", str(100 * q + 1), str(200 * q + 3), str(300 * q + 7)]
        for d in DEPARTMENTS
        for q in range(1, 5)
    ]
    _, mapping = mapping_of(write_csv, header, rows)
    assert mapping.fields["budgeted_amount"].column == "Budget"
    assert "only numeric column" not in mapping.fields["budgeted_amount"].explanation


def test_the_latest_budget_version_is_the_budget(write_csv):
    header = ["Department", "Account", "Fiscal Year", "Original Budget", "Revised Budget"]
    rows = [[d, "Rent", "FY2026", str(100 + i), str(120 + i)] for i, d in enumerate(DEPARTMENTS)]
    _, mapping = mapping_of(write_csv, header, rows)
    assert mapping.fields["budgeted_amount"].column == "Revised Budget"


def hierarchy_rows():
    return [
        ["Commercial" if d in ("Sales", "Marketing") else "Corporate", d, "Rent", m, "100"]
        for d in DEPARTMENTS
        for m in ("Jan 2026", "Feb 2026")
    ]


def test_another_level_of_the_same_hierarchy_asks_a_person(write_csv):
    """Business Unit above Team: analysts pick one or the other, so the mapper asks."""
    header = ["Business Unit", "Team", "Account", "Month", "Budget"]
    parsed, mapping = mapping_of(write_csv, header, hierarchy_rows())
    match = mapping.fields["department"]
    assert match.column == "Business Unit"
    assert "'Team' is another level of the same hierarchy" in match.explanation
    assert match.evidence["levels"] == 1.0
    assert match.confidence < CONFIDENCE_BAR
    assert needs_review(mapping, parsed.layout) == ["department"]


def test_a_header_named_after_the_field_wins_a_tie(write_csv):
    """Division and Department score alike; analysts take Department (samples/real)."""
    for header in (
        ["Division", "Department", "Account", "Month", "Budget"],
        ["Department", "Division", "Account", "Month", "Budget"],
    ):
        rows = [r if header[0] == "Division" else [r[1], r[0], *r[2:]] for r in hierarchy_rows()]
        _, mapping = mapping_of(write_csv, header, rows)
        match = mapping.fields["department"]
        assert match.column == "Department"
        assert match.evidence["levels"] == 0.0
        # the field's own name against a synonym is evidence of its own (calibrated: 'named')
        assert match.evidence["named"] == 1.0
        assert "'Department' is the field's own name" in match.explanation
        assert match.confidence >= CONFIDENCE_BAR
        assert match.confidence > chosen_confidence(
            match.evidence["score"], match.evidence["runner_up"]
        )


def test_a_code_and_its_name_are_no_rivals(write_csv):
    """Department and Cost Center group the rows alike: either gives the same budgets."""
    header = ["Department", "Cost Center", "Account", "Month", "Budget"]
    rows = [
        [d, f"CC{100 + i} {d}", a, m, str(100 + i)]
        for i, d in enumerate(DEPARTMENTS)
        for a in ("Rent", "Travel")
        for m in ("Jan 2026", "Feb 2026")
    ]
    parsed, mapping = mapping_of(write_csv, header, rows)
    assert mapping.fields["department"].evidence["runner_up"] == 0.0
    assert mapping.fields["department"].confidence >= CONFIDENCE_BAR
    assert needs_review(mapping, parsed.layout) == []


def test_numeric_department_codes_are_departments(write_csv):
    header = ["Dept ID", "Account", "Period", "Amount"]
    rows = [
        [str(4100 + i), a, f"2026-{m:02d}", f"{500 + m}.00"]
        for i in range(3)
        for a in ("Rent", "Travel")
        for m in range(1, 5)
    ]
    _, mapping = mapping_of(write_csv, header, rows)
    assert mapping.fields["department"].column == "Dept ID"
    assert "numeric codes" in mapping.fields["department"].explanation


def test_confidence_is_a_probability_that_grows_with_the_evidence():
    assert 0 < chosen_confidence(60, 59) < chosen_confidence(80, 60) < 1
    assert chosen_confidence(100, 95) < chosen_confidence(100, 60)
    assert chosen_confidence(100, 60, levels=True) < chosen_confidence(100, 60)
    assert chosen_confidence(100, 0) >= CONFIDENCE_BAR
    assert chosen_confidence(100, 100) < CONFIDENCE_BAR  # a tie is a question
    assert 0 < none_confidence(75) < 1


def test_word_tables_are_data_without_silent_duplicates():
    """A repeated weight in a dict literal silently drops a whole group of synonyms."""
    tree = ast.parse(Path(mapping_words.__file__).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            keys = [ast.unparse(k) for k in node.keys if k is not None]
            assert len(keys) == len(set(keys)), keys
    for field, table in mapping_words.SYNONYM_WEIGHTS.items():
        words = [w for group in table.values() for w in group]
        assert len(words) == len(set(words)), field


def load_corpus_module():
    path = ROOT / "bench" / "corpus" / "make_corpus.py"
    spec = importlib.util.spec_from_file_location("make_corpus", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_corpus"] = module
    spec.loader.exec_module(module)
    return module


def test_generated_corpus_is_deterministic_and_its_answers_exist(tmp_path):
    corpus = load_corpus_module()
    first = corpus.make_corpus(tmp_path / "a", seed=11, per_template=3)
    second = corpus.make_corpus(tmp_path / "b", seed=11, per_template=3)
    assert first.read_bytes() == second.read_bytes()
    with first.open(encoding="utf-8") as handle:
        entries = list(csv.DictReader(handle, delimiter="\t"))
    assert len(entries) >= 60
    for entry in entries:
        name = entry["saved_name"]
        if name.endswith(".csv"):
            a = (tmp_path / "a" / name).read_bytes()
            assert a == (tmp_path / "b" / name).read_bytes()
            header = a.decode().splitlines()[0]
            for part in entry["notes"].split("MAPPING:")[1].split(";"):
                answer = part.split("=", 1)[1].split(" (or")[0].strip()
                if answer != "none" and "wide" not in answer:
                    assert answer in header, (name, answer)
