"""Writes the demo customers' exports: `.venv/bin/python samples/demo/make_demo_files.py`.

The files are committed; this script says exactly how they were made. Every name and figure
is invented.
"""

from __future__ import annotations

import csv
from pathlib import Path

HERE = Path(__file__).resolve().parent


def acme_csv(path: Path) -> None:
    """Anaplan-style long export: one row per cost centre, account and period (calendar FY)."""
    rows = [["Cost Centre", "Account", "Period", "Budget Amount", "Currency"]]
    plan = {
        ("Marketing", "Events"): 4000,
        ("Marketing", "Digital Ads"): 6500,
        ("IT", "Cloud Hosting"): 10000,
        ("IT", "Software Licences"): 3200,
        ("Sales", "Travel"): 2800,
    }
    months = ["Jan 2026", "Feb 2026", "Mar 2026", "Apr 2026", "May 2026", "Jun 2026"]
    for (centre, account), monthly in plan.items():
        for i, month in enumerate(months):
            rows.append([centre, account, month, f"{monthly + 250 * i:,.2f}", "USD"])
    rows.append(["Finance", "Audit Fees", "FY2026", "48,000.00", "USD"])
    with path.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows(rows)


def globex_xlsx(path: Path) -> None:
    """Adaptive-style wide sheet: title rows, then one column per month of a July-June fiscal
    year (FY2026 = Jul 2025 .. Jun 2026), amounts in AUD from the customer's config."""
    from datetime import datetime

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Operating Plan"
    sheet["A1"] = "Globex Pty Ltd - Operating Plan FY2026 (July to June)"
    sheet["A2"] = "Version: Board approved"
    months = [datetime(2025 + (m < 7), m, 1) for m in (7, 8, 9, 10, 11, 12, 1, 2, 3, 4, 5, 6)]
    sheet.append([])
    sheet.append(["Department", "Expense Type", *months])
    for cell in sheet[4][2:]:
        cell.number_format = "mmm-yy"
    lines = [
        ("Operations", "Logistics", 21000),
        ("Operations", "Facilities", 15500),
        ("People", "Training", 4200),
        ("People", "Recruitment", 7300),
        ("Technology", "Cloud", 12800),
        ("Technology", "Hardware", 5100),
        ("Marketing", "Brand", 9400),
    ]
    for department, expense, base in lines:
        sheet.append([department, expense, *(base + 100 * i for i in range(12))])
    book.save(path)


def initech_payroll(path: Path) -> None:
    """A payroll file dropped in the budget folder by mistake: refused, nothing kept."""
    rows = [["Employee ID", "Employee Name", "Pay Date", "Base Salary", "Overtime", "Gross Pay"]]
    names = ["Alex Doe", "Sam Roe", "Jo Bloggs", "Kim Poe", "Lee Moe", "Pat Voe", "Ray Zoe"]
    for i, name in enumerate(names * 3):
        base = 5200 + 37 * i
        rows.append([f"E{1000 + i}", name, "2026-01-31", base, 15 * i, base + 15 * i])
    with path.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows(rows)


if __name__ == "__main__":
    for folder in ("acme", "globex", "initech"):
        (HERE / folder).mkdir(exist_ok=True)
    acme_csv(HERE / "acme" / "acme_budget_fy2026.csv")
    globex_xlsx(HERE / "globex" / "Globex_Operating_Plan_FY2026.xlsx")
    initech_payroll(HERE / "initech" / "payroll_2026-01.csv")
