"""normalize.py: canonical fiscal periods, exact amounts, currencies, every rejected row."""

from __future__ import annotations

import pandas as pd
import pytest

from finsync.budget import amounts as am
from finsync.budget import currencies as cur
from finsync.budget import normalize as nz
from finsync.budget import periods as pr
from finsync.budget.cells import string_array
from finsync.budget.model import RowError


def periods(values, start=7, **kwargs):
    canonical, bad = pr.normalize_periods(
        pd.Series(values, dtype="str"), fiscal_year_start_month=start, **kwargs
    )
    return [None if b else c for c, b in zip(canonical.tolist(), bad.tolist(), strict=True)]


def period(value, start=7, **kwargs):
    return periods([value], start, **kwargs)[0]


def amounts(values, allowed=False, default_currency=None):
    amount, currency, bad = am.normalize_amounts(
        pd.Series(values, dtype="str"),
        scale_suffixes_allowed=allowed,
        default_currency=default_currency,
    )
    return [
        (None if b else a, None if pd.isna(c) else c)
        for a, c, b in zip(amount.tolist(), currency.tolist(), bad.tolist(), strict=True)
    ]


def amount(value, **kwargs):
    return amounts([value], **kwargs)[0][0]


def long_frame(rows, *, with_sub=True, with_currency=True):
    """rows: (department, sub_category, period, amount, currency); source_row from 2."""
    data = {
        "department": [r[0] for r in rows],
        "sub_category": [r[1] for r in rows],
        "period_raw": [r[2] for r in rows],
        "amount_raw": [r[3] for r in rows],
        "currency_raw": [r[4] for r in rows],
        "source_row": list(range(2, len(rows) + 2)),
        "source_column": ["Plan Amount"] * len(rows),
    }
    if not with_sub:
        del data["sub_category"]
    if not with_currency:
        del data["currency_raw"]
    frame = pd.DataFrame(data)
    return frame.astype({c: "str" for c in frame.columns if c != "source_row"})


# --- periods ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("FY 2025", "FY2025"),
        ("FY25", "FY2025"),
        ("FY2025", "FY2025"),
        ("fy2025", "FY2025"),
        ("Fiscal Year 2025", "FY2025"),
        ("  fiscal   year 2025 ", "FY2025"),
        ("2025", "FY2025"),
        ("2025.0", "FY2025"),
        ("Q1 2025", "FY2025-Q1"),
        ("2025 Q1", "FY2025-Q1"),
        ("Q1-FY25", "FY2025-Q1"),
        ("FY25 Q1", "FY2025-Q1"),
        ("FY2025-Q1", "FY2025-Q1"),
        ("q4 fy2026", "FY2026-Q4"),
        ("2025Q3", "FY2025-Q3"),
        ("FY2025-M01", "FY2025-M01"),
        ("FY2025 M1", "FY2025-M01"),
        ("P01 FY25", "FY2025-M01"),
        ("Period 1 2025", "FY2025-M01"),
        ("FY2025-P12", "FY2025-M12"),
        ("FY16-17", "FY2017"),
        ("2015-16", "FY2016"),
        ("FY2016-17", "FY2017"),
        ("2016/2017", "FY2017"),
        ("FY1999-00", "FY2000"),
        ("Q2 FY16-17", "FY2017-Q2"),
    ],
)
def test_fiscal_labels_are_fiscal(raw, expected):
    assert period(raw, start=7) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("January 2025", "FY2025-M07"),
        ("Jan-25", "FY2025-M07"),
        ("Jan 2025", "FY2025-M07"),
        ("JAN2025", "FY2025-M07"),
        ("2025-01", "FY2025-M07"),
        ("01/2025", "FY2025-M07"),
        ("1/2025", "FY2025-M07"),
        ("2025/01", "FY2025-M07"),
        ("2025 Jan", "FY2025-M07"),
        ("202501", "FY2025-M07"),
        ("2025-01-15", "FY2025-M07"),
        ("2025-01-01 00:00:00", "FY2025-M07"),
        ("2025-01-01T00:00:00", "FY2025-M07"),
        ("20250115", "FY2025-M07"),
        ("45658", "FY2025-M07"),  # Excel serial of 2025-01-01
        ("45658.0", "FY2025-M07"),
        ("45688", "FY2025-M07"),  # 2025-01-31
        ("45689", "FY2025-M08"),  # 2025-02-01
        ("Jun 2025", "FY2025-M12"),
        ("Jul 2025", "FY2026-M01"),
        ("Dec 2024", "FY2025-M06"),
        ("Jul 2024", "FY2025-M01"),
        ("2024-12-31", "FY2025-M06"),
        ("2025-07-01", "FY2026-M01"),
        ("2025-06-30", "FY2025-M12"),
        ("Enero 2025", "FY2025-M07"),
        ("dic 2024", "FY2025-M06"),
        ("März 2025", "FY2025-M09"),
        ("Dezember 2024", "FY2025-M06"),
        ("févr. 2025", "FY2025-M08"),
        ("Juillet 2025", "FY2026-M01"),
        ("août 2025", "FY2026-M02"),
        ("Sept 2025", "FY2026-M03"),
    ],
)
def test_calendar_months_land_in_the_july_fiscal_year(raw, expected):
    assert period(raw, start=7) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Jan 2025", "FY2025-M01"),
        ("Dec 2024", "FY2024-M12"),
        ("2025-07-15", "FY2025-M07"),
        ("Q1 2025", "FY2025-Q1"),
        ("FY25", "FY2025"),
    ],
)
def test_calendar_fiscal_year(raw, expected):
    assert period(raw, start=1) == expected


def test_april_fiscal_year_boundary():
    assert periods(["Mar 2025", "Apr 2025"], start=4) == ["FY2025-M12", "FY2026-M01"]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", pr.BLANK_PERIOD),
        ("   ", pr.BLANK_PERIOD),
        ("garbage", pr.UNKNOWN_PERIOD),
        ("25", pr.UNKNOWN_PERIOD),
        ("Jan", pr.NO_YEAR),
        ("Q1", pr.NO_YEAR),
        ("P03", pr.NO_YEAR),
        ("Q5 2025", pr.BAD_QUARTER),
        ("P13 FY25", pr.BAD_FISCAL_MONTH),
        ("13/2025", pr.BAD_MONTH),
        ("2025-02-30", pr.BAD_DATE),
        ("FY2016-18", pr.BAD_RANGE),
        ("3025", pr.BAD_YEAR),
        ("12345", pr.UNKNOWN_PERIOD),  # a five-digit number before 1990 is no date
        ("99999", pr.UNKNOWN_PERIOD),
    ],
)
def test_rejected_periods_say_why(raw, reason):
    canonical, reasons = pr.period_table(
        string_array(pd.Series([raw], dtype="str")), start=7, default_year=None
    )
    assert canonical.to_pylist() == [None]
    assert reasons.to_pylist() == [reason]


def test_missing_period_is_bad():
    canonical, bad = pr.normalize_periods(pd.Series([None, "FY25"]), fiscal_year_start_month=7)
    assert bad.tolist() == [True, False]
    assert pd.isna(canonical.iloc[0]) and canonical.iloc[1] == "FY2025"


def test_year_ranges_contradict_a_january_fiscal_year():
    canonical, reasons = pr.period_table(
        string_array(pd.Series(["FY16-17", "2015-16"], dtype="str")), start=1, default_year=None
    )
    assert canonical.to_pylist() == [None, None]
    assert reasons.to_pylist() == [pr.RANGE_JANUARY, pr.RANGE_JANUARY]


def test_year_month_beats_year_range_when_the_month_is_valid():
    # documented: 2011-12 is December 2011; FY2011-12 is the fiscal-year range
    assert periods(["2011-12", "FY2011-12"], start=7) == ["FY2012-M06", "FY2012"]


def test_default_year_is_a_fiscal_year():
    values = ["Jul", "Dec", "Jan", "Jun", "Q2", "P03"]
    assert periods(values, start=7, default_year=2025) == [
        "FY2025-M01",
        "FY2025-M06",
        "FY2025-M07",
        "FY2025-M12",
        "FY2025-Q2",
        "FY2025-M03",
    ]
    assert periods(["Jan", "Dec"], start=1, default_year=2025) == ["FY2025-M01", "FY2025-M12"]


def test_day_month_order_from_the_column():
    # a day above 12 shows the column is day-first: 05/03/2025 is 5 March
    assert periods(["15/01/2025", "05/03/2025"], start=1) == ["FY2025-M01", "FY2025-M03"]
    # a second part above 12 shows month-first: 05/03/2025 is 3 May
    assert periods(["01/15/2025", "05/03/2025"], start=1) == ["FY2025-M01", "FY2025-M05"]
    # first-of-month dates, day first
    assert periods(["01/02/2025", "01/03/2025"], start=1) == ["FY2025-M02", "FY2025-M03"]
    # first-of-month dates, month first
    assert periods(["2/1/2025", "3/1/2025"], start=1) == ["FY2025-M02", "FY2025-M03"]
    # dots are day-first
    assert periods(["05.03.2025"], start=1) == ["FY2025-M03"]
    # nothing to decide by: rejected
    canonical, reasons = pr.period_table(
        string_array(pd.Series(["05/03/2025", "04/02/2025"], dtype="str")), 1, None
    )
    assert canonical.to_pylist() == [None, None]
    assert reasons.to_pylist() == [pr.AMBIGUOUS_DATE, pr.AMBIGUOUS_DATE]


def test_each_distinct_period_parsed_once(monkeypatch):
    calls: list[str] = []
    real = pr.parse_period

    def counting(raw, cal):
        calls.append(raw)
        return real(raw, cal)

    monkeypatch.setattr(pr, "parse_period", counting)
    values = pd.Series(["Jan 2025", "FY25", "Jan 2025", None, "FY25"] * 1000, dtype="str")
    canonical, bad = pr.normalize_periods(values, fiscal_year_start_month=7)
    assert sorted(calls) == ["", "FY25", "Jan 2025"]
    assert canonical.iloc[:3].tolist() == ["FY2025-M07", "FY2025", "FY2025-M07"]
    assert bad.sum() == 1000


def test_periods_keep_the_index():
    values = pd.Series(["FY25", "x"], index=[10, 20], dtype="str")
    canonical, bad = pr.normalize_periods(values, fiscal_year_start_month=1)
    assert canonical.index.tolist() == [10, 20] and bad.index.tolist() == [10, 20]


# --- amounts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected", "currency"),
    [
        ("1,234.56", "1234.56", None),
        ("1.234,56", "1234.56", None),
        ("1 234,56", "1234.56", None),
        ("1\u00a0234,56", "1234.56", None),  # no-break space
        ("1\u202f234,56", "1234.56", None),  # narrow no-break space
        ("1'234.50", "1234.50", None),
        ("$1,234", "1234.00", "USD"),
        ("USD 1234", "1234.00", "USD"),
        ("USD1234", "1234.00", "USD"),
        ("1234 EUR", "1234.00", "EUR"),
        ("€1.234,56", "1234.56", "EUR"),
        ("1.234,56 €", "1234.56", "EUR"),
        ("£3", "3.00", "GBP"),
        ("¥300", "300.00", "JPY"),
        ("A$100", "100.00", "AUD"),
        ("S$5", "5.00", "SGD"),
        ("NZ$5", "5.00", "NZD"),
        ("HK$5", "5.00", "HKD"),
        ("R$5", "5.00", "BRL"),
        ("C$5", "5.00", "CAD"),
        ("US$5", "5.00", "USD"),
        ("₹1,23,456", "123456.00", "INR"),
        ("CHF 12", "12.00", "CHF"),
        ("(1,234.56)", "-1234.56", None),
        ("-1234.56", "-1234.56", None),
        ("−1234.56", "-1234.56", None),  # unicode minus
        ("1234-", "-1234.00", None),
        ("1.234,56-", "-1234.56", None),
        ("-$1,234", "-1234.00", "USD"),
        ("$-1,234", "-1234.00", "USD"),
        ("($1,234.50)", "-1234.50", "USD"),
        ("EUR -5", "-5.00", "EUR"),
        ("+5", "5.00", None),
        (" -   ", "0.00", None),  # Excel accounting zero
        ("$ -", "0.00", "USD"),
        ("0", "0.00", None),
        ("-0.00", "0.00", None),
        ("0,5", "0.50", None),
        ("0.123", "0.12", None),
        (".5", "0.50", None),
        ("1234.", "1234.00", None),
        ("1.234.567", "1234567.00", None),
        ("1,234,567", "1234567.00", None),
        ("1,234,567.891", "1234567.89", None),
        ("1.234.567,891", "1234567.89", None),
        ("12,34", "12.34", None),
        ("1234.5", "1234.50", None),
        ("1234,567", "1234.57", None),  # four digits before: the comma is decimal
        ("  42  ", "42.00", None),
        ("9999999999999999.99", "9999999999999999.99", None),
        ("-9999999999999999.99", "-9999999999999999.99", None),
        ("0000000000000000001.00", "1.00", None),  # leading zeros are not digits of value
    ],
)
def test_amount_forms(raw, expected, currency):
    assert amounts([raw]) == [(expected, currency)]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0.005", "0.01"),
        ("-0.005", "-0.01"),
        ("0.0049", "0.00"),
        ("2.675", "2.68"),  # a float would say 2.67
        ("1.005", "1.01"),
        ("(0.125)", "-0.13"),
        ("0.004", "0.00"),
        ("9999999999999999.994", "9999999999999999.99"),
    ],
)
def test_rounds_to_cents_half_up(raw, expected):
    # 1.005 and 2.675 would be ambiguous alone; a decimal-point value sets the column style
    assert amounts([raw, "1.5"])[0][0] == expected


@pytest.mark.parametrize(
    "raw",
    ["12345678901234567.00", "9999999999999999.995", "100000000000000000", "20000000000M"],
)
def test_beyond_numeric_18_2_is_rejected(raw):
    table = am.amount_table(
        string_array(pd.Series([raw], dtype="str")), scale_allowed=True, default_currency=None
    )
    assert table.text.to_pylist() == [None]
    assert table.reason.to_pylist() == [am.OUT_OF_RANGE]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", am.BLANK_AMOUNT),
        ("   ", am.BLANK_AMOUNT),
        ("120000 Appx", am.TEXT_IN_AMOUNT),
        ("approx 5", am.TEXT_IN_AMOUNT),
        ("500 top", am.TEXT_IN_AMOUNT),  # lower case is a note, not Tongan pa'anga
        ("N/A", am.NOT_AN_AMOUNT),
        ("TBD", am.NOT_AN_AMOUNT),
        ("#N/A", am.EXCEL_ERROR),
        ("#REF!", am.EXCEL_ERROR),
        ("1.2E+06", am.SCIENTIFIC),
        ("(-5)", am.TWO_SIGNS),
        ("-5-", am.TWO_SIGNS),
        ("(5", am.BAD_PARENS),
        ("5)", am.BAD_PARENS),
        ("XYZ 12", am.UNKNOWN_CODE),
        ("HRK 12", am.UNKNOWN_CODE),  # withdrawn in 2023
        ("USD 12 EUR", am.TWO_CURRENCIES),
        ("1,2345,678", am.BAD_GROUPING),
        ("1.234,567.89", am.BAD_GROUPING),
        ("1 23", am.BAD_GROUPING),
        ("12 - 13", am.NOT_AN_AMOUNT),
        ("2025-01-01", am.NOT_AN_AMOUNT),
        ("1.2M", am.SCALE_NOT_USED),
    ],
)
def test_rejected_amounts_say_why(raw, reason):
    table = am.amount_table(
        string_array(pd.Series([raw], dtype="str")), scale_allowed=False, default_currency=None
    )
    assert table.text.to_pylist() == [None]
    assert table.reason.to_pylist() == [reason]


def test_missing_amount_is_bad_not_zero():
    amount_, _, bad = am.normalize_amounts(pd.Series([None, "", "0"]), scale_suffixes_allowed=False)
    assert bad.tolist() == [True, True, False]
    assert amount_.iloc[2] == "0.00"


def test_scale_suffixes_only_when_allowed():
    values = ["1.2M", "450k", "3bn", "2 Mio", "1 Mrd", "1.5MM", "$2.5M", "(1.2M)", "1.23456789M"]
    expected = [
        "1200000.00",
        "450000.00",
        "3000000000.00",
        "2000000.00",
        "1000000000.00",
        "1500000.00",
        "2500000.00",
        "-1200000.00",
        "1234567.89",
    ]
    assert [a for a, _ in amounts(values, allowed=True)] == expected
    assert [a for a, _ in amounts(values, allowed=False)] == [None] * len(values)


def test_uses_scale_suffixes_needs_a_meaningful_share():
    assert am.uses_scale_suffixes(pd.Series(["1.2M"] + ["100"] * 9 + [""] * 50, dtype="str"))
    assert not am.uses_scale_suffixes(pd.Series(["1.2M"] + ["100"] * 10, dtype="str"))
    assert not am.uses_scale_suffixes(pd.Series(["", None], dtype="str"))


def test_ambiguous_separator_follows_the_column():
    # the column writes decimal points: 1.234 is one point two three four
    assert [a for a, _ in amounts(["1.234", "5.50", "1,234.56"])] == ["1.23", "5.50", "1234.56"]
    # the column writes decimal commas: 1.234 is one thousand two hundred thirty-four
    assert [a for a, _ in amounts(["1.234", "5,50", "1.234,56"])] == ["1234.00", "5.50", "1234.56"]
    # commas as thousands elsewhere (1,234,567): 12,345 is twelve thousand
    assert [a for a, _ in amounts(["12,345", "1,234,567"])] == ["12345.00", "1234567.00"]
    # commas as decimals elsewhere: 12,345 is twelve point three four five
    assert [a for a, _ in amounts(["12,345", "7,5"])] == ["12.35", "7.50"]


def test_ambiguous_separator_without_evidence_is_thousands_with_a_warning():
    table = am.amount_table(
        string_array(pd.Series(["1.500", "12.000", "250.000", "7"], dtype="str")),
        scale_allowed=False,
        default_currency=None,
    )
    assert table.text.to_pylist() == ["1500.00", "12000.00", "250000.00", "7.00"]
    assert len(table.warnings) == 1 and table.warnings[0].startswith("3 amount(s)")


def test_dollar_sign_means_the_default_dollar_currency_else_usd():
    assert amounts(["$5"], default_currency="CAD") == [("5.00", "CAD")]
    assert amounts(["$5"], default_currency="EUR") == [("5.00", "USD")]
    assert amounts(["$5"]) == [("5.00", "USD")]
    assert amounts(["¥5"], default_currency="CNY") == [("5.00", "CNY")]
    assert amounts(["kr 5"], default_currency="SEK") == [("5.00", "SEK")]
    assert amounts(["kr 5"], default_currency="EUR") == [(None, None)]  # SEK? NOK? DKK?


def test_amounts_are_exact_for_many_rows():
    cents = list(range(-150_000, 150_000, 7))
    plain = [("-" if c < 0 else "") + f"{abs(c) // 100}.{abs(c) % 100:02d}" for c in cents]
    grouped = [f"({abs(c) / 100:,.2f})" if c < 0 else f"{c / 100:,.2f}" for c in cents]
    expected = [("-" if c < 0 else "") + f"{abs(c) // 100}.{abs(c) % 100:02d}" for c in cents]
    expected = [e if e != "-0.00" else "0.00" for e in expected]
    assert [a for a, _ in amounts(plain)] == expected
    assert [a for a, _ in amounts(grouped)] == expected


def test_amounts_of_a_sliced_arrow_column():
    values = pd.Series(["x", "1.5", "2,250.75", "", "3"], dtype="str").iloc[1:]
    assert [a for a, _ in amounts(values)] == ["1.50", "2250.75", None, "3.00"]


# --- the whole long frame --------------------------------------------------------------------


def test_normalize_a_clean_long_file():
    result = nz.normalize(
        long_frame(
            [
                ("  Sales   EMEA ", "Travel", "Jan 2025", "1,234.50", ""),
                ("Sales EMEA", "", "Jul 2025", "(10)", "eur"),
                ("R&D", None, "Q1 FY26", "€7", ""),
                ("R&D", "Cloud", "FY2026", "USD 1", "USD"),
            ]
        ),
        fiscal_year_start_month=7,
        default_currency="GBP",
    )
    assert result.errors == []
    assert result.rejected_count == 0
    frame = result.frame
    assert frame.columns.tolist() == [
        "department",
        "sub_category",
        "fiscal_period",
        "budgeted_amount",
        "currency",
        "source_row",
        "source_column",
    ]
    assert frame["department"].tolist() == ["Sales EMEA", "Sales EMEA", "R&D", "R&D"]
    assert frame["sub_category"].iloc[0] == "Travel"
    assert frame["sub_category"].isna().tolist() == [False, True, True, False]
    assert frame["fiscal_period"].tolist() == ["FY2025-M07", "FY2026-M01", "FY2026-Q1", "FY2026"]
    assert frame["budgeted_amount"].tolist() == ["1234.50", "-10.00", "7.00", "1.00"]
    assert frame["currency"].tolist() == ["GBP", "EUR", "EUR", "USD"]
    assert frame["source_row"].tolist() == [2, 3, 4, 5]


def test_normalize_without_sub_category_or_currency_columns():
    result = nz.normalize(
        long_frame([("Ops", None, "FY25", "5", None)], with_sub=False, with_currency=False),
        fiscal_year_start_month=1,
        default_currency="usd",
    )
    assert result.errors == []
    assert result.frame["sub_category"].isna().all()
    assert result.frame["currency"].tolist() == ["USD"]


def test_every_rejected_row_is_reported_with_row_column_value_message():
    result = nz.normalize(
        long_frame(
            [
                ("Ops", "", "FY25", "100", ""),  # ok
                ("   ", "", "FY25", "100", ""),  # blank department
                ("Ops", "", "Jan", "100", ""),  # month without year
                ("Ops", "", "FY25", "", ""),  # blank amount
                ("Ops", "", "FY25", "120000 Appx", ""),  # note in the amount
                ("Ops", "", "FY25", "5", "XYZ"),  # unknown currency
                ("Ops", "", "FY25", "£5", "EUR"),  # currency conflict
                ("", "", "nonsense", "abc", ""),  # three problems, one row
                ("Ops", "", "FY25", "$5", "CAD"),  # '$' agrees with CAD
            ]
        ),
        fiscal_year_start_month=7,
        default_currency="USD",
        columns={"department": "Cost Centre", "fiscal_period": "Period", "currency": "Cur"},
    )
    assert result.errors == [
        RowError(3, "Cost Centre", "   ", nz.BLANK_DEPARTMENT),
        RowError(4, "Period", "Jan", pr.NO_YEAR),
        RowError(5, "Plan Amount", "", am.BLANK_AMOUNT),
        RowError(6, "Plan Amount", "120000 Appx", am.TEXT_IN_AMOUNT),
        RowError(7, "Cur", "XYZ", cur.UNKNOWN_CURRENCY),
        RowError(8, "Cur", "EUR", nz.CURRENCY_CONFLICT),
        RowError(9, "Cost Centre", "", nz.BLANK_DEPARTMENT),
        RowError(9, "Period", "nonsense", pr.UNKNOWN_PERIOD),
        RowError(9, "Plan Amount", "abc", am.NOT_AN_AMOUNT),
    ]
    assert result.rejected_count == 7
    assert result.frame["source_row"].tolist() == [2, 10]
    assert result.frame["currency"].tolist() == ["USD", "CAD"]
    # never a row dropped silently
    assert len(result.frame) + result.rejected_count == 9


def test_messages_never_repeat_the_value():
    secret = "Jane Doe 120000"
    result = nz.normalize(
        long_frame([("Ops", "", secret, secret, secret)]),
        fiscal_year_start_month=7,
        default_currency="USD",
    )
    assert len(result.errors) == 3
    assert all("Jane" not in e.message for e in result.errors)
    assert all(e.value == secret for e in result.errors)


def test_wide_file_errors_name_the_period_header():
    frame = pd.DataFrame(
        {
            "department": ["Ops", "Ops", "", ""],
            "sub_category": [None] * 4,
            "period_raw": ["Jan-25", "Month 13", "Jan-25", "Feb-25"],
            "amount_raw": ["5", "6", "7", "x"],
            "currency_raw": [None] * 4,
            "source_row": [4, 4, 5, 5],
            "source_column": ["Jan-25", "Month 13", "Jan-25", "Feb-25"],
        }
    ).astype({"department": "str", "period_raw": "str", "amount_raw": "str"})
    result = nz.normalize(
        frame,
        fiscal_year_start_month=7,
        default_currency="USD",
        columns={"department": "Dept", "fiscal_period": None, "budgeted_amount": None},
    )
    assert result.errors == [
        RowError(4, "Month 13", "Month 13", pr.BAD_FISCAL_MONTH),
        RowError(5, "Dept", "", nz.BLANK_DEPARTMENT),  # once, not once per period column
        RowError(5, "Feb-25", "x", am.NOT_AN_AMOUNT),
    ]
    assert result.rejected_count == 3
    assert result.frame["fiscal_period"].tolist() == ["FY2025-M07"]


def test_normalize_decides_scale_suffixes_from_the_column():
    rows = [
        ("Ops", "", f"FY{y}", v, "")
        for y, v in zip(range(20, 30), ["1.2M"] * 3 + ["5"] * 7, strict=True)
    ]
    result = nz.normalize(long_frame(rows), fiscal_year_start_month=1, default_currency="USD")
    assert result.frame["budgeted_amount"].tolist()[:4] == ["1200000.00"] * 3 + ["5.00"]
    rows = [("Ops", "", f"FY{y}", "1.2M" if y == 20 else "5", "") for y in range(20, 40)]
    result = nz.normalize(long_frame(rows), fiscal_year_start_month=1, default_currency="USD")
    assert result.errors == [RowError(2, "Plan Amount", "1.2M", am.SCALE_NOT_USED)]


def test_normalize_rejects_bad_configuration():
    with pytest.raises(ValueError, match="ISO 4217"):
        nz.normalize(long_frame([]), fiscal_year_start_month=7, default_currency="XXX")
    with pytest.raises(ValueError, match="fiscal_year_start_month"):
        nz.normalize(long_frame([]), fiscal_year_start_month=13, default_currency="USD")
    with pytest.raises(ValueError, match="period_raw"):
        nz.normalize(
            long_frame([]).drop(columns="period_raw"),
            fiscal_year_start_month=7,
            default_currency="USD",
        )


def test_normalize_empty_frame():
    result = nz.normalize(long_frame([]), fiscal_year_start_month=7, default_currency="USD")
    assert len(result.frame) == 0 and result.errors == [] and result.rejected_count == 0
