"""periods.py: the one period parser, and the mapper's value evidence coming from it."""

from __future__ import annotations

import pandas as pd
import pytest

from finsync.budget import periods as pr
from finsync.budget.column_values import describe_values
from finsync.budget.mapping import CONFIDENCE_BAR, map_columns
from finsync.budget.read import parse_file

# Every form the normaliser accepts, one example per shape: (label, canonical with
# fiscal_year_start_month=7 and default_year=2025). test_every_rule_has_a_form keeps it whole.
ACCEPTED = [
    ("FY2025", "FY2025"),
    ("FY 2025", "FY2025"),
    ("FY25", "FY2025"),
    ("Fiscal Year 2025", "FY2025"),
    ("2025", "FY2025"),
    ("2025.0", "FY2025"),
    ("FY16-17", "FY2017"),
    ("2015-16", "FY2016"),
    ("FY2016-17", "FY2017"),
    ("2016/2017", "FY2017"),
    ("Q1 2025", "FY2025-Q1"),
    ("2025 Q1", "FY2025-Q1"),
    ("Q1-FY25", "FY2025-Q1"),
    ("FY2025-Q1", "FY2025-Q1"),
    ("2025Q3", "FY2025-Q3"),
    ("1st Quarter 2025", "FY2025-Q1"),
    ("Q2 FY16-17", "FY2017-Q2"),
    ("Q1", "FY2025-Q1"),
    ("FY2025-M01", "FY2025-M01"),
    ("FY2025 M1", "FY2025-M01"),
    ("P01 FY25", "FY2025-M01"),
    ("Period 1 2025", "FY2025-M01"),
    ("Period 01 FY2026", "FY2026-M01"),
    ("FY2025-P12", "FY2025-M12"),
    ("P03", "FY2025-M03"),
    ("Fiscal Month 4", "FY2025-M04"),
    ("January 2025", "FY2025-M07"),
    ("Jan-25", "FY2025-M07"),
    ("JAN2025", "FY2025-M07"),
    ("2025 Jan", "FY2025-M07"),
    ("Enero 2025", "FY2025-M07"),
    ("März 2025", "FY2025-M09"),
    ("févr. 2025", "FY2025-M08"),
    ("FY26 Jan", "FY2026-M07"),  # a fiscal year and a calendar month (Year + Period export)
    ("FY26 Jul", "FY2026-M01"),
    ("Jan FY2026", "FY2026-M07"),
    ("FY2025-26 Mar", "FY2026-M09"),
    ("Jan", "FY2025-M07"),
    ("Jul", "FY2025-M01"),
    ("2025-01", "FY2025-M07"),
    ("01/2025", "FY2025-M07"),
    ("2025/01", "FY2025-M07"),
    ("202501", "FY2025-M07"),
    ("2025-01-15", "FY2025-M07"),
    ("2025-01-01 00:00:00", "FY2025-M07"),
    ("2025-01-01T00:00:00", "FY2025-M07"),
    ("20250115", "FY2025-M07"),
    ("15/01/2025", "FY2025-M07"),
    ("01/15/2025", "FY2025-M07"),
    ("15.01.2025", "FY2025-M07"),
    ("45658", "FY2025-M07"),  # Excel serial of 2025-01-01
    ("45658.0", "FY2025-M07"),
]


def test_every_accepted_form_is_read_by_the_normaliser():
    canonical, bad = pr.normalize_periods(
        pd.Series([label for label, _ in ACCEPTED], dtype="str"),
        fiscal_year_start_month=7,
        default_year=2025,
    )
    assert not bad.any(), [ACCEPTED[i][0] for i in bad[bad].index]
    assert canonical.tolist() == [expected for _, expected in ACCEPTED]


def test_every_rule_has_a_form():
    """A new rule in the parser needs a form in ACCEPTED (and so in the mapping test)."""
    cal = pr.FiscalCalendar(7, default_year=2025)
    for rule in pr._PERIOD_RULES:
        hits = [label for label, _ in ACCEPTED if (rule(pr._fold(label), cal) or (None,))[0]]
        assert hits, f"no accepted form reaches {rule.__name__}"


@pytest.mark.parametrize(("label", "expected"), ACCEPTED)
def test_every_accepted_form_is_period_evidence_when_mapping(write_csv, label, expected):
    """Issue #15.2: the mapper once said 'only 0% of values look like periods' of a column
    the normaliser reads in full, so such files waited for a person."""
    assert pr.period_kind(label) is not None
    assert describe_values(pd.Series([label] * 3, dtype="str")).periods == 1.0
    path = write_csv(
        [
            ["Department", "Period", "Amount"],
            ["Sales", label, "1200.00"],
            ["Marketing", label, "800.50"],
            ["Finance", label, "95.00"],
        ]
    )
    match = map_columns(parse_file(path)).fields["fiscal_period"]
    assert match.column == "Period"
    assert match.confidence >= CONFIDENCE_BAR, match.explanation
    assert "100% of values look like periods" in match.explanation


@pytest.mark.parametrize("label", ["Rent", "P13", "Q5 2025", "2025-02-30", "1000", "12.5", "25"])
def test_what_the_normaliser_rejects_is_no_period_evidence(label):
    assert pr.period_kind(label) is None
    assert describe_values(pd.Series([label] * 3, dtype="str")).periods == 0.0


def test_evidence_weighs_rows_and_parses_each_distinct_value_once():
    pr.period_kind.cache_clear()
    values = pd.Series(["Jan 2025"] * 900 + ["Rent"] * 100 + [""] * 50, dtype="str")
    evidence = pr.period_evidence(values)
    assert evidence.periods == pytest.approx(0.9)
    assert pr.period_kind.cache_info().misses == 2


def test_evidence_kinds():
    values = pd.Series(["FY26", "2026", "Jan", "P01", "45658", "Jan 2026"], dtype="str")
    evidence = pr.period_evidence(values)
    assert evidence.periods == pytest.approx(1.0)
    assert evidence.years == pytest.approx(2 / 6)
    assert evidence.yearless == pytest.approx(2 / 6)
    assert evidence.numbers == pytest.approx(1 / 6)
