#!/usr/bin/env python3
"""Write a deterministic corpus of budget exports modelled on the documented export formats of
Anaplan, Workday Adaptive Planning, Planful, Prophix, Oracle EPM / Hyperion, NetSuite, Google
Sheets and Excel, with a MANIFEST.tsv in the format of samples/real/MANIFEST.tsv (the MAPPING
in the notes is the analyst's answer).

The files are generated, never committed: bench/analyze_corpus writes them into a temporary
folder on each run (same seed, same bytes). Each vendor template varies its headers among the
words that vendor's exports use, and the files carry what real exports carry: finer grain
(entity, GL account code and name, fund, project columns), scenario / version columns, a
fiscal year and a period in two columns, wide months with Total / FY / YTD / Variance
columns, currency columns, codes next to names, actuals next to the budget.

    .venv/bin/python bench/corpus/make_corpus.py OUTDIR [--seed 2026] [--per-template 4]
"""

from __future__ import annotations

import argparse
import csv
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
DEPARTMENTS = [
    "Sales",
    "Marketing",
    "Finance",
    "Human Resources",
    "Engineering",
    "Operations",
    "Legal",
    "IT",
    "Customer Success",
    "Facilities",
    "Procurement",
    "Research and Development",
]
ACCOUNTS = [
    ("6000", "Salaries and Wages"),
    ("6010", "Employee Benefits"),
    ("6100", "Travel"),
    ("6150", "Software Subscriptions"),
    ("6200", "Consulting Fees"),
    ("6300", "Rent"),
    ("6310", "Utilities"),
    ("6400", "Office Supplies"),
    ("6450", "Training"),
    ("6500", "Advertising"),
    ("6550", "Telephone"),
    ("6600", "Insurance"),
    ("6700", "Depreciation"),
    ("6750", "Equipment Maintenance"),
    ("6800", "Recruiting"),
]
ENTITIES = ["US01 - Acme Inc", "UK01 - Acme Ltd", "DE01 - Acme GmbH", "AU01 - Acme Pty"]
FUNDS = ["General Fund", "Grant Fund", "Capital Fund"]
PROJECTS = ["PRJ-001 Website", "PRJ-002 ERP Upgrade", "PRJ-003 New Office", "None"]
CURRENCIES = ["USD", "EUR", "GBP", "AUD"]


@dataclass
class Export:
    """One generated file: its rows (header first) and the analyst's mapping."""

    name: str
    rows: list[list[str]]
    mapping: dict[str, str]  # manifest label -> the analyst's answer
    notes: str
    xlsx: bool = False
    extra: dict = field(default_factory=dict)


def money(rng: random.Random, style: str = "plain") -> str:
    cents = rng.randrange(50_000, 250_000_000)
    value = cents / 100
    if style == "grouped":
        return f"{value:,.2f}"
    if style == "whole":
        return str(round(value))
    return f"{value:.2f}"


def pick(rng: random.Random, options: list[str]) -> str:
    return options[rng.randrange(len(options))]


def lines(rng: random.Random, count: int) -> list[tuple[str, tuple[str, str]]]:
    """(department, account) pairs, distinct."""
    pairs = [(d, a) for d in DEPARTMENTS for a in ACCOUNTS]
    rng.shuffle(pairs)
    return pairs[:count]


def mapping_note(mapping: dict[str, str]) -> str:
    order = ["Department", "Sub-category", "Fiscal Period", "Fiscal Year", "Budgeted Amount"]
    order.append("Currency")
    return "MAPPING: " + "; ".join(f"{k}={mapping.get(k, 'none')}" for k in order)


# ---------------------------------------------------------------------------------------------
# Vendor templates: (rng, index) -> Export


def anaplan_long(rng: random.Random, i: int) -> Export:
    """Anaplan tabular export (one column per dimension, the line item's value last)."""
    dept = pick(rng, ["Cost Centre", "Cost Center", "Department", "Org Unit"])
    item = pick(rng, ["Line Items", "Account", "Expense Account", "Line Item"])
    time = pick(rng, ["Time", "Period", "Month"])
    value = pick(rng, ["Value", "Budget", "Amount", "Allocated"])
    version = pick(rng, ["Versions", "Version"])
    fy = rng.choice([25, 26, 27])
    header = [version, dept, item, time, value]
    rows = [header]
    for d, (_, name) in lines(rng, rng.randrange(6, 14)):
        for m in MONTHS:
            rows.append(["Budget", d, name, f"{m} {fy}", money(rng, "plain")])
    return Export(
        f"anaplan_long_{i:02d}.csv",
        rows,
        {
            "Department": dept,
            "Sub-category": item,
            "Fiscal Period": time,
            "Budgeted Amount": value,
        },
        f"Anaplan tabular export: {version} / {dept} / {item} / {time} ('Jan {fy}') / {value}.",
    )


def anaplan_wide(rng: random.Random, i: int) -> Export:
    """Anaplan grid export: months across ('Jan 26' ... 'Dec 26'), a year total ('FY26')."""
    fy = rng.choice([25, 26])
    dept = pick(rng, ["Cost Centre", "Department", "Team"])
    item = pick(rng, ["Line Items", "Account", "Expense Type"])
    months = [f"{m} {fy}" for m in MONTHS]
    total = pick(rng, [f"FY{fy}", f"FY{fy} Total", "Total"])
    header = [dept, item, *months, total]
    rows = [header]
    for d, (_, name) in lines(rng, rng.randrange(8, 20)):
        values = [money(rng, "whole") for _ in MONTHS]
        rows.append([d, name, *values, str(sum(int(v) for v in values))])
    return Export(
        f"anaplan_wide_{i:02d}.csv",
        rows,
        {
            "Department": dept,
            "Sub-category": item,
            "Fiscal Period": "from header (wide)",
            "Budgeted Amount": "wide period columns",
        },
        f"Anaplan grid export, months across with a {total!r} column.",
    )


def adaptive_wide(rng: random.Random, i: int) -> Export:
    """Adaptive Planning sheet export: Level, account code and name, months 'Jan-2026', Total."""
    year = rng.choice([2025, 2026])
    level = pick(rng, ["Level", "Level Name", "Department"])
    code = pick(rng, ["Account Code", "Account"])
    name = pick(rng, ["Account Name", "Account Description"])
    months = [f"{m}-{year}" for m in MONTHS]
    header = [level, code, name, *months, "Total"]
    rows = [header]
    for d, (c, n) in lines(rng, rng.randrange(8, 20)):
        values = [money(rng, "grouped") for _ in MONTHS]
        total = sum(float(v.replace(",", "")) for v in values)
        rows.append([d, c, n, *values, f"{total:,.2f}"])
    sub = name if code != "Account" else f"{name} (or Account)"
    return Export(
        f"adaptive_wide_{i:02d}.csv",
        rows,
        {
            "Department": level,
            "Sub-category": sub,
            "Fiscal Period": "from header (wide)",
            "Budgeted Amount": "wide period columns",
        },
        f"Adaptive Planning export: {level}, {code} + {name}, months Jan-{year}.., Total.",
    )


def adaptive_long(rng: random.Random, i: int) -> Export:
    """Adaptive Planning data export (Version, Level, Account, Time, Amount)."""
    year = rng.choice([2025, 2026])
    level = pick(rng, ["Level", "Level Name", "Organization"])
    account = pick(rng, ["Account Name", "Account"])
    time = pick(rng, ["Time", "Period", "Month"])
    amount = pick(rng, ["Amount", "Value", "Data"])
    header = ["Version", level, "Account Code", account, time, amount]
    rows = [header]
    for d, (c, n) in lines(rng, rng.randrange(5, 12)):
        for m in MONTHS:
            rows.append(["Budget FY", d, c, n, f"{m}-{year}", money(rng)])
    return Export(
        f"adaptive_long_{i:02d}.csv",
        rows,
        {
            "Department": level,
            "Sub-category": account,
            "Fiscal Period": time,
            "Budgeted Amount": amount,
        },
        f"Adaptive Planning data export: Version, {level}, Account Code, {account}, {time}.",
    )


def planful_split(rng: random.Random, i: int) -> Export:
    """Planful (Host Analytics) export: Entity, Department, Account, Scenario, Fiscal Year and
    Period in two columns (P01..P12 or Jan..Dec), Amount; a currency column."""
    entity = "Company"
    dept = pick(rng, ["Department", "Dept", "Cost Center"])
    account = pick(rng, ["Account", "Account Name", "GL Account"])
    year_col = pick(rng, ["Fiscal Year", "Year", "FY"])
    period_col = pick(rng, ["Period", "Fiscal Period", "Month"])
    amount = pick(rng, ["Amount", "Budget Amount", "Plan"])
    styles = ["P{:02d}", "Period {}", "{name}"]
    style = pick(rng, styles)
    year = pick(rng, ["2026", "FY2026", "FY26"])
    header = [entity, dept, account, "Scenario", year_col, period_col, amount, "Currency"]
    rows = [header]
    ccy = pick(rng, CURRENCIES)
    for d, (_, n) in lines(rng, rng.randrange(5, 10)):
        ent = pick(rng, ENTITIES)
        for p in range(1, 13):
            label = style.format(p, name=MONTHS[p - 1])
            rows.append([ent, d, n, "Budget", year, label, money(rng), ccy])
    return Export(
        f"planful_split_{i:02d}.csv",
        rows,
        {
            "Department": dept,
            "Sub-category": account,
            "Fiscal Period": period_col,
            "Fiscal Year": year_col,
            "Budgeted Amount": amount,
            "Currency": "Currency",
        },
        f"Planful export with Fiscal Year and Period in two columns ({year} + {style}).",
    )


def planful_wide(rng: random.Random, i: int) -> Export:
    """Planful report export: dimensions, 'Period 1'..'Period 12', Total, with a Year column."""
    dept = pick(rng, ["Department", "Cost Center"])
    header = ["Entity", dept, "Account", "Project", "Year"]
    header += [f"P{p:02d}" for p in range(1, 13)] + ["Total"]
    rows = [header]
    for d, (_, n) in lines(rng, rng.randrange(8, 16)):
        values = [money(rng, "whole") for _ in range(12)]
        rows.append(
            [pick(rng, ENTITIES), d, n, pick(rng, PROJECTS), "FY2026", *values]
            + [str(sum(int(v) for v in values))]
        )
    return Export(
        f"planful_wide_{i:02d}.csv",
        rows,
        {
            "Department": dept,
            "Sub-category": "Account",
            "Fiscal Period": "from header (wide)",
            "Fiscal Year": "Year",
            "Budgeted Amount": "wide period columns",
        },
        "Planful report export: P01..P12 across, Total, the fiscal year in a Year column.",
    )


def prophix_long(rng: random.Random, i: int) -> Export:
    """Prophix export: Entity, Account, Department, Time Period ('2026-01'), Scenario, Value."""
    dept = pick(rng, ["Department", "Cost Centre", "Business Unit"])
    time = pick(rng, ["Time Period", "Time", "Period"])
    value = pick(rng, ["Value", "Amount", "Budget"])
    account = pick(rng, ["Account", "Account Description"])
    year = rng.choice([2025, 2026])
    header = ["Entity", account, dept, time, "Scenario", value]
    rows = [header]
    form = pick(rng, ["{y}-{m:02d}", "{y}{m:02d}", "{mn} {y}"])
    for d, (_, n) in lines(rng, rng.randrange(5, 12)):
        ent = pick(rng, ENTITIES)
        for m in range(1, 13):
            label = form.format(y=year, m=m, mn=MONTHS[m - 1])
            rows.append([ent, n, d, label, "Budget", money(rng)])
    return Export(
        f"prophix_long_{i:02d}.csv",
        rows,
        {
            "Department": dept,
            "Sub-category": account,
            "Fiscal Period": time,
            "Budgeted Amount": value,
        },
        f"Prophix export: Entity, {account}, {dept}, {time} ({form}), Scenario, {value}.",
    )


def oracle_epm(rng: random.Random, i: int) -> Export:
    """Oracle EPM / Hyperion Planning export: one column per dimension (Entity, Account,
    Scenario, Version, Years 'FY26', Period 'Jan'), the value in 'Data'."""
    order = pick(rng, ["epm", "essbase"])
    dept = pick(rng, ["Entity", "Department", "Cost Center"])
    year_col = pick(rng, ["Years", "Year"])
    period_col = "Period"
    amount = pick(rng, ["Data", "Value", "Amount"])
    if order == "epm":
        header = [dept, "Account", "Scenario", "Version", year_col, period_col, amount]
    else:
        header = ["Account", period_col, year_col, "Scenario", "Version", dept, amount]
    rows = [header]
    year = pick(rng, ["FY26", "FY27"])
    for d, (_, n) in lines(rng, rng.randrange(5, 10)):
        for m in MONTHS:
            values = {
                dept: d,
                "Account": n,
                "Scenario": "Budget",
                "Version": "Final",
                year_col: year,
                period_col: m,
                amount: money(rng),
            }
            rows.append([values[h] for h in header])
    return Export(
        f"oracle_epm_{i:02d}.csv",
        rows,
        {
            "Department": dept,
            "Sub-category": "Account",
            "Fiscal Period": period_col,
            "Fiscal Year": year_col,
            "Budgeted Amount": amount,
        },
        f"Oracle EPM ({order} order): {year_col} {year} + Period Jan..Dec, value in {amount}.",
    )


def netsuite_wide(rng: random.Random, i: int) -> Export:
    """NetSuite budget export: Year, Subsidiary, Department, Class, Location, Account, months
    'Jan 2026' .. 'Dec 2026', and an 'Amount (Total)' column."""
    year = rng.choice([2025, 2026])
    header = ["Subsidiary", "Department", "Class", "Location", "Account"]
    header += [f"{m} {year}" for m in MONTHS] + [pick(rng, ["Total", "Amount (Total)"])]
    rows = [header]
    for d, (c, n) in lines(rng, rng.randrange(8, 20)):
        values = [money(rng) for _ in MONTHS]
        rows.append(
            ["Acme Inc.", d, pick(rng, ["Direct", "Indirect"]), pick(rng, ["HQ", "Remote"])]
            + [f"{c} {n}", *values, f"{sum(float(v) for v in values):.2f}"]
        )
    return Export(
        f"netsuite_wide_{i:02d}.csv",
        rows,
        {
            "Department": "Department",
            "Sub-category": "Account",
            "Fiscal Period": "from header (wide)",
            "Budgeted Amount": "wide period columns",
        },
        f"NetSuite budget export, months Jan {year}..Dec {year} and a total column.",
    )


def netsuite_long(rng: random.Random, i: int) -> Export:
    """NetSuite saved search of budget lines: Subsidiary, Department, Account, Period, Amount,
    Currency."""
    year = rng.choice([2025, 2026])
    amount = pick(rng, ["Amount", "Budget Amount"])
    header = ["Subsidiary", "Department", "Account", "Accounting Period", amount, "Currency"]
    rows = [header]
    ccy = pick(rng, CURRENCIES)
    for d, (c, n) in lines(rng, rng.randrange(5, 10)):
        for m in MONTHS:
            rows.append(["Acme Inc.", d, f"{c} {n}", f"{m} {year}", money(rng, "grouped"), ccy])
    return Export(
        f"netsuite_long_{i:02d}.csv",
        rows,
        {
            "Department": "Department",
            "Sub-category": "Account",
            "Fiscal Period": "Accounting Period",
            "Budgeted Amount": amount,
            "Currency": "Currency",
        },
        "NetSuite saved search of budget lines, amounts grouped with commas.",
    )


def sheets_simple(rng: random.Random, i: int) -> Export:
    """A hand-made Google Sheets budget: one row per team, category and month."""
    dept = pick(rng, ["Team", "Department", "Dept", "Cost Center", "Division"])
    cat = pick(rng, ["Category", "Expense Category", "Line Item", "Expense Type", "Type"])
    period = pick(rng, ["Month", "Period", "Date"])
    amount = pick(rng, ["Budget", "Planned", "Allocated", "Plan", "Budgeted"])
    year = rng.choice([2025, 2026])
    form = pick(rng, ["{y}-{m:02d}-01", "{mn} {y}", "{m}/1/{y}"])
    header = [dept, cat, period, amount]
    extra = rng.random() < 0.5
    if extra:
        header += ["Actual", "Notes"]
    rows = [header]
    for d, (_, n) in lines(rng, rng.randrange(4, 10)):
        for m in range(1, 13):
            row = [d, n, form.format(y=year, m=m, mn=MONTHS[m - 1]), money(rng, "whole")]
            if extra:
                row += [money(rng, "whole"), pick(rng, ["", "", "check with Joe", "approx"])]
            rows.append(row)
    return Export(
        f"sheets_simple_{i:02d}.csv",
        rows,
        {
            "Department": dept,
            "Sub-category": cat,
            "Fiscal Period": period,
            "Budgeted Amount": amount,
        },
        f"Hand-made Google Sheets budget ({form}){', Actual and Notes columns' if extra else ''}.",
    )


def sheets_quarterly(rng: random.Random, i: int) -> Export:
    """A Sheets budget by quarter, with a fund and a project column."""
    year = rng.choice([2025, 2026])
    dept = pick(rng, ["Department", "Program Area", "Cost Center"])
    header = ["Fund", dept, "Project", "Account", "Quarter", "Budget", "Forecast"]
    rows = [header]
    for d, (_, n) in lines(rng, rng.randrange(4, 10)):
        for q in range(1, 5):
            rows.append(
                [
                    pick(rng, FUNDS),
                    d,
                    pick(rng, PROJECTS),
                    n,
                    f"Q{q} {year}",
                    money(rng, "whole"),
                    money(rng, "whole"),
                ]
            )
    sub = "Account"
    return Export(
        f"sheets_quarterly_{i:02d}.csv",
        rows,
        {
            "Department": dept,
            "Sub-category": sub,
            "Fiscal Period": "Quarter",
            "Budgeted Amount": "Budget",
        },
        "Sheets budget by quarter with Fund and Project columns and a Forecast next to it.",
    )


def excel_wide_variance(rng: random.Random, i: int) -> Export:
    """An Excel budget-vs-actual workbook: months across, FY Total, YTD, Variance columns."""
    dept = pick(rng, ["Department", "Cost Centre", "Business Unit"])
    cat = pick(rng, ["GL Account", "Account", "Category"])
    year = rng.choice([2025, 2026])
    months = [f"{m}-{str(year)[2:]}" for m in MONTHS]
    header = [dept, cat, *months, "FY Total", "YTD Actual", "Variance"]
    rows = [header]
    for d, (c, n) in lines(rng, rng.randrange(8, 16)):
        values = [money(rng, "whole") for _ in MONTHS]
        total = sum(int(v) for v in values)
        ytd = rng.randrange(0, max(total, 1))
        rows.append([d, f"{c} - {n}", *values, str(total), str(ytd), str(total - ytd)])
    return Export(
        f"excel_wide_variance_{i:02d}.xlsx",
        rows,
        {
            "Department": dept,
            "Sub-category": cat,
            "Fiscal Period": "from header (wide)",
            "Budgeted Amount": "wide period columns",
        },
        "Excel budget with months across and FY Total, YTD Actual and Variance columns.",
        xlsx=True,
    )


def excel_annual(rng: random.Random, i: int) -> Export:
    """An Excel annual budget: one row per department and account, amount columns for the plan
    and the prior year's actuals, codes next to names."""
    year = rng.choice([2025, 2026])
    dept = pick(rng, ["Department", "Dept Name", "Cost Center Name"])
    amount = pick(rng, [f"FY{year} Budget", "Budget", "Approved Budget", "Plan Amount"])
    header = ["Dept Code", dept, "Account Code", "Account Name", "Fiscal Year"]
    header += [amount, f"FY{year - 1} Actual"]
    rows = [header]
    for d, (c, n) in lines(rng, rng.randrange(10, 30)):
        rows.append(
            [
                str(100 + DEPARTMENTS.index(d)),
                d,
                c,
                n,
                f"FY{year}",
                money(rng, "grouped"),
                money(rng, "grouped"),
            ]
        )
    return Export(
        f"excel_annual_{i:02d}.xlsx",
        rows,
        {
            "Department": dept,
            "Sub-category": "Account Name",
            "Fiscal Period": "Fiscal Year",
            "Budgeted Amount": amount,
        },
        "Excel annual budget with codes next to names and last year's actuals.",
        xlsx=True,
    )


def many_org_columns(rng: random.Random, i: int) -> Export:
    """A consolidation export with Entity, Department and Cost Center columns, a GL account
    code and name, a fund: the analyst takes the finest organisation column."""
    year = rng.choice([2025, 2026])
    amount = pick(rng, ["Budget", "Amount", "Plan Amount"])
    header = ["Entity", "Department", "Cost Center", "Fund", "GL Account", "Account Name"]
    header += ["Period", amount]
    rows = [header]
    for d, (c, n) in lines(rng, rng.randrange(5, 10)):
        cc = f"CC{100 + DEPARTMENTS.index(d)} {d}"
        for q in range(1, 5):
            rows.append(
                [pick(rng, ENTITIES), d, cc, pick(rng, FUNDS), c, n, f"Q{q} FY{year}", money(rng)]
            )
    return Export(
        f"consolidation_{i:02d}.csv",
        rows,
        {
            "Department": "Cost Center (or Department)",
            "Sub-category": "Account Name",
            "Fiscal Period": "Period",
            "Budgeted Amount": amount,
        },
        "Consolidation export with Entity, Department, Cost Center, Fund and GL Account.",
    )


FOREIGN = [
    ("Departamento", "Partida", "Periodo", "Importe", "Moneda", "{mn} {y}"),
    ("Kostenstelle", "Konto", "Monat", "Betrag", "Währung", "{y}-{m:02d}"),
    ("Centre de coût", "Compte", "Période", "Montant", "Devise", "{m:02d}/{y}"),
    ("Centro de Custo", "Conta", "Competência", "Valor Orçado", "Moeda", "{y}-{m:02d}"),
]


def foreign_language(rng: random.Random, i: int) -> Export:
    """A budget exported by a Spanish, German, French or Brazilian subsidiary."""
    dept, account, period, amount, currency, form = FOREIGN[i % len(FOREIGN)]
    year = rng.choice([2025, 2026])
    ccy = pick(rng, ["EUR", "MXN", "BRL"])
    rows = [[dept, account, period, amount, currency]]
    for d, (_, n) in lines(rng, rng.randrange(4, 9)):
        for m in range(1, 13):
            label = form.format(y=year, m=m, mn=MONTHS[m - 1])
            rows.append([d, n, label, money(rng), ccy])
    return Export(
        f"foreign_{i:02d}.csv",
        rows,
        {
            "Department": dept,
            "Sub-category": account,
            "Fiscal Period": period,
            "Budgeted Amount": amount,
            "Currency": currency,
        },
        f"Subsidiary export with {dept} / {account} / {period} / {amount} headers.",
    )


def abbreviated(rng: random.Random, i: int) -> Export:
    """A legacy GL extract with abbreviated headers (Dept Nm, Acct Desc, Per, Bdgt Amt)."""
    dept = pick(rng, ["Dept Nm", "Dept", "Dpt Name", "CC Name"])
    acct = pick(rng, ["Acct Desc", "Acct", "GL Acct Descr"])
    per = pick(rng, ["Per", "Prd", "Fiscal Per"])
    amt = pick(rng, ["Bdgt Amt", "Budg Amt", "Amt"])
    year = rng.choice([25, 26])
    header = ["Co", dept, "Acct No", acct, per, amt, "Ccy"]
    rows = [header]
    for d, (c, n) in lines(rng, rng.randrange(4, 9)):
        for m in range(1, 13):
            rows.append(["01", d, c, n, f"FY{year} P{m:02d}", money(rng), "USD"])
    return Export(
        f"abbreviated_{i:02d}.csv",
        rows,
        {
            "Department": dept,
            "Sub-category": acct,
            "Fiscal Period": per,
            "Budgeted Amount": amt,
            "Currency": "Ccy",
        },
        "Legacy GL extract with abbreviated headers and an account number column.",
    )


def budget_versions(rng: random.Random, i: int) -> Export:
    """A public-sector style budget with Original, Revised, Actual and Variance columns."""
    year = rng.choice([2025, 2026])
    dept = pick(rng, ["Agency", "Department", "Division"])
    obj = pick(rng, ["Object", "Expense Category", "Object Class"])
    header = ["Fund", dept, obj, "Fiscal Year", "Original Budget", "Revised Budget"]
    header += ["Actual", "Variance"]
    rows = [header]
    for d, (_, n) in lines(rng, rng.randrange(10, 25)):
        original = rng.randrange(1000, 900000)
        revised = original + rng.randrange(-500, 5000)
        actual = rng.randrange(0, revised)
        rows.append(
            [pick(rng, FUNDS), d, n, f"FY{year}", str(original), str(revised), str(actual)]
            + [str(revised - actual)]
        )
    return Export(
        f"budget_versions_{i:02d}.csv",
        rows,
        {
            "Department": dept,
            "Sub-category": obj,
            "Fiscal Period": "Fiscal Year",
            "Budgeted Amount": "Revised Budget (or Original Budget)",
        },
        "Public-sector budget with Original, Revised, Actual and Variance columns.",
    )


def measures_next_to_budget(rng: random.Random, i: int) -> Export:
    """A workforce-and-opex plan: FTE and Headcount next to the budget amount."""
    year = rng.choice([2025, 2026])
    dept = pick(rng, ["Team", "Department", "Cost Center"])
    amount = pick(rng, ["Budget", "Opex Budget", "Total Budget"])
    header = [dept, "Category", "Quarter", "Headcount", "FTE", amount]
    rows = [header]
    for d, (_, n) in lines(rng, rng.randrange(4, 9)):
        for q in range(1, 5):
            rows.append(
                [d, n, f"{year} Q{q}", str(rng.randrange(1, 40)), f"{rng.uniform(1, 40):.1f}"]
                + [money(rng, "whole")]
            )
    return Export(
        f"workforce_plan_{i:02d}.csv",
        rows,
        {
            "Department": dept,
            "Sub-category": "Category",
            "Fiscal Period": "Quarter",
            "Budgeted Amount": amount,
        },
        "Plan with Headcount and FTE columns next to the budget amount.",
    )


def company_wide(rng: random.Random, i: int) -> Export:
    """A company-wide budget with no department column (a person must say which one)."""
    year = rng.choice([2025, 2026])
    header = ["Account", "Month", pick(rng, ["Budget", "Amount"])]
    rows = [header]
    for _, n in ACCOUNTS[: rng.randrange(6, 14)]:
        for m in MONTHS:
            rows.append([n, f"{m} {year}", money(rng)])
    return Export(
        f"company_wide_{i:02d}.csv",
        rows,
        {
            "Department": "none",
            "Sub-category": "Account",
            "Fiscal Period": "Month",
            "Budgeted Amount": header[2],
        },
        "Company-wide budget without a department column.",
    )


def coded_departments(rng: random.Random, i: int) -> Export:
    """Departments as numeric codes only (an ERP extract): the codes are the departments."""
    year = rng.choice([2025, 2026])
    dept = pick(rng, ["Dept ID", "Department", "Cost Center"])
    header = [dept, "Account", "Period", "Amount"]
    rows = [header]
    for d, (_, n) in lines(rng, rng.randrange(4, 9)):
        for m in range(1, 13):
            rows.append([str(4100 + DEPARTMENTS.index(d)), n, f"{year}-{m:02d}", money(rng)])
    return Export(
        f"coded_departments_{i:02d}.csv",
        rows,
        {
            "Department": dept,
            "Sub-category": "Account",
            "Fiscal Period": "Period",
            "Budgeted Amount": "Amount",
        },
        "ERP extract whose departments are numeric codes.",
    )


def ambiguous_org(rng: random.Random, i: int) -> Export:
    """Two organisation columns of similar strength (Division and Department, Region and
    Store): the analyst takes the finer one; the header alone cannot tell."""
    coarse, fine = pick(
        rng, [("Division", "Department"), ("Region", "Store"), ("Business Unit", "Team")]
    )
    year = rng.choice([2025, 2026])
    amount = pick(rng, ["Budget", "Target", "Plan"])
    header = [coarse, fine, "Category", "Month", amount]
    rows = [header]
    groups = ["North", "South"]
    for d, (_, n) in lines(rng, rng.randrange(4, 9)):
        group = groups[DEPARTMENTS.index(d) % len(groups)]  # a store lies in one region
        for m in MONTHS:
            rows.append([group, d, n, f"{m} {year}", money(rng, "whole")])
    return Export(
        f"ambiguous_org_{i:02d}.csv",
        rows,
        {
            "Department": fine,
            "Sub-category": "Category",
            "Fiscal Period": "Month",
            "Budgeted Amount": amount,
        },
        f"Two organisation columns, {coarse} above {fine}.",
    )


def generic_headers(rng: random.Random, i: int) -> Export:
    """A quick export with generic headers (Name, Item, When, Total / Owner, Line, Date,
    Figure): the values carry the meaning."""
    year = rng.choice([2025, 2026])
    dept, item, when, amount = pick(
        rng,
        [
            ("Name", "Item", "When", "Total"),
            ("Owner", "Line", "Date", "Figure"),
            ("Group", "Description", "Period", "Number"),
        ],
    )
    rows = [[dept, item, when, amount]]
    for d, (_, n) in lines(rng, rng.randrange(4, 9)):
        for m in range(1, 13):
            rows.append([f"{d} Department", n, f"{year}-{m:02d}", money(rng)])
    return Export(
        f"generic_headers_{i:02d}.csv",
        rows,
        {
            "Department": dept,
            "Sub-category": item,
            "Fiscal Period": when,
            "Budgeted Amount": amount,
        },
        "Generic headers; the values say which column is which.",
    )


def several_measures(rng: random.Random, i: int) -> Export:
    """Budget, Forecast and Prior Year columns side by side: the analyst takes Budget."""
    year = rng.choice([2025, 2026])
    first = pick(rng, ["Budget", "Plan", "Approved Budget"])
    header = ["Department", "Account", "Quarter", "Prior Year", first, "Forecast", "Stretch"]
    rows = [header]
    for d, (_, n) in lines(rng, rng.randrange(4, 9)):
        for q in range(1, 5):
            rows.append([d, n, f"Q{q} {year}"] + [money(rng, "whole") for _ in range(4)])
    return Export(
        f"several_measures_{i:02d}.csv",
        rows,
        {
            "Department": "Department",
            "Sub-category": "Account",
            "Fiscal Period": "Quarter",
            "Budgeted Amount": first,
        },
        "Prior Year, budget, Forecast and Stretch columns side by side.",
    )


def category_levels(rng: random.Random, i: int) -> Export:
    """Category and Sub Category columns (a two-level chart of accounts)."""
    year = rng.choice([2025, 2026])
    header = ["Department", "Category", "Sub Category", "Period", "Amount"]
    rows = [header]
    groups = {"Salaries and Wages": "Personnel", "Employee Benefits": "Personnel"}
    for d, (_, n) in lines(rng, rng.randrange(4, 9)):
        for m in MONTHS:
            rows.append([d, groups.get(n, "Operating"), n, f"{m}-{year}", money(rng)])
    return Export(
        f"category_levels_{i:02d}.csv",
        rows,
        {
            "Department": "Department",
            "Sub-category": "Sub Category",
            "Fiscal Period": "Period",
            "Budgeted Amount": "Amount",
        },
        "Two-level chart of accounts: Category above Sub Category.",
    )


TEMPLATES: list[Callable[[random.Random, int], Export]] = [
    ambiguous_org,
    generic_headers,
    several_measures,
    category_levels,
    many_org_columns,
    foreign_language,
    abbreviated,
    budget_versions,
    measures_next_to_budget,
    company_wide,
    coded_departments,
    anaplan_long,
    anaplan_wide,
    adaptive_wide,
    adaptive_long,
    planful_split,
    planful_wide,
    prophix_long,
    oracle_epm,
    netsuite_wide,
    netsuite_long,
    sheets_simple,
    sheets_quarterly,
    excel_wide_variance,
    excel_annual,
]


def write(export: Export, folder: Path) -> None:
    path = folder / export.name
    if export.xlsx:
        import xlsxwriter

        book = xlsxwriter.Workbook(str(path))
        sheet = book.add_worksheet("Budget")
        for r, row in enumerate(export.rows):
            for c, value in enumerate(row):
                number = r > 0 and _number(value)
                if number is not None and number is not False:
                    sheet.write_number(r, c, number)
                else:
                    sheet.write_string(r, c, value)
        book.close()
        return
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(export.rows)


def _number(value: str) -> float | None:
    try:
        return float(value.replace(",", ""))
    except ValueError:
        return None


GENERIC_HEADERS = ["Field A", "Column 7", "Misc", "Info", "Attribute", "Key Figure", "Element"]


def blur_header(export: Export, rng: random.Random) -> None:
    """Replace the header of one mapped column by a word that says nothing (for calibration
    training: how far do the values alone carry a choice)."""
    header = export.rows[0]
    mapped = [
        (label, answer)
        for label, answer in export.mapping.items()
        if answer in header and label != "Currency"
    ]
    if not mapped:
        return
    label, answer = pick(rng, mapped)
    new = pick(rng, [h for h in GENERIC_HEADERS if h not in header])
    header[header.index(answer)] = new
    export.mapping[label] = new
    export.notes += f" (header {answer!r} blurred to {new!r})"


def make_corpus(
    folder: Path, *, seed: int = 2026, per_template: int = 5, noise: float = 0.0
) -> Path:
    """Write the corpus into `folder` (created); returns the MANIFEST.tsv path. `noise`: the
    share of files with one mapped column's header blurred (calibration training only)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    manifest = folder / "MANIFEST.tsv"
    with manifest.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, delimiter="\t", lineterminator="\n")
        out.writerow(["saved_name", "kind", "repo", "path", "commit", "license", "notes"])
        for template in TEMPLATES:
            for index in range(per_template):
                export = template(rng, index)
                if noise and rng.random() < noise:
                    blur_header(export, rng)
                write(export, folder)
                notes = f"{export.notes} {mapping_note(export.mapping)}"
                out.writerow(
                    [export.name, "budget", "generated", "bench/corpus/make_corpus.py"]
                    + [f"seed {seed}", "generated", notes]
                )
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--per-template", type=int, default=5)
    args = parser.parse_args()
    manifest = make_corpus(args.folder, seed=args.seed, per_template=args.per_template)
    print(f"wrote {manifest}")


if __name__ == "__main__":
    main()
