"""What a column header says: the period it names (`period_key`, `period_label`) and what
it measures (budget, actual, variance words; `measure_of`), compared as folded text
(`fold_text`). Shared by reading (wide layouts), mapping, long form and grain."""

from __future__ import annotations

import re
import unicodedata

from finsync.budget.cells import DATE_RE, YEAR_RE

MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    [
        "jan january janv janvier januar jaenner jänner ene enero gen gennaio janeiro",
        "feb february fev fevr fevrier februar febrero febbraio fevereiro",
        "mar march mars maerz marz märz marzo marco",
        "apr april avr avril abr abril aprile",
        "may mai mayo maggio maio",
        "jun june juin juni junio giu giugno junho",
        "jul july juil juillet juli julio lug luglio julho",
        "aug august aou aout août ago agosto",
        "sep sept september septembre sep septiembre set sett settembre setembro",
        "oct october octobre okt oktober octubre ott ottobre out outubro",
        "nov november novembre noviembre novembro",
        "dec december decembre dez dezember dic diciembre dicembre dezembro",
    ],
    start=1,
):
    for _name in _names.split():
        MONTHS[_name] = _number

# Words that say what an amount column measures. Budget-like columns are kept when a wide
# file mixes them with actuals; variance columns are never periods.
BUDGET_WORDS = frozenset(
    "budget budgeted budgets plan planned planning planung plans target targets forecast fcst"
    " adopted amended approved proposed request requested requests appropriation appropriated"
    " appn approp allocation allocated original revised modified final estimate estimates"
    " haushaltsansatz ansatz ansaetze soll presupuesto presupuestado aprobado modificado"
    " previsto prevu previsionnel orcamento orcado dotacao budgetiert".split()
)
ACTUAL_WORDS = frozenset(
    "actual actuals act ist ergebnis result results real realizado realise ejercido pagado"
    " devengado comprometido recaudado spent spend spending outturn obligations obligation"
    " obligated expended expenditure expenditures paid sales".split()
)
VARIANCE_WORDS = frozenset(
    "variance var difference diff change increase decrease delta pct percent percentage"
    " growth abweichung variacion diferencia ecart".split()
)
_PERIOD_FILLER = frozenset(
    "fy fiscal year years yr jahr haushaltsjahr ano anio ejercicio exercice annee month monat"
    " estimated projected"
    " mes mois quarter quartal trimestre period periode periodo total amount amounts amt"
    " betrag importe monto montant valor value eur usd gbp chf cad aud mxn in of the for de"
    " del la le des und and".split()
)


def fold_text(text: str) -> str:
    """Lower case, accents removed, punctuation as spaces, camelCase split."""
    text = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", text)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return re.sub(r"[^\w%]+|_", " ", text.casefold()).strip()


_PERIOD_TOKEN_RE = re.compile(
    r"^(?:fy\d{2}|fy\d{4}|(?:19|20)\d{2}|q[1-4]|[1-4]q|h[12]|m(?:0?[1-9]|1[0-2])"
    r"|p(?:0?[1-9]|1[0-2])|\d{2})$"
)


def period_key(header: str) -> str | None:
    """A comparable key for a period header ('Jan 2025' -> 'm1 y2025', 'FY25 Budget' ->
    'y25', '2024-25' -> 'y2024 y25'), or None when the header is not a period. Words that
    say what is measured (budget, actual, target, ...) are allowed around the period."""
    folded = fold_text(header)
    if not folded:
        return None
    if DATE_RE.match(header.strip()):
        parts = re.split(r"[-/. T]", header.strip())
        if len(parts[0]) == 4:
            return f"y{parts[0]} m{int(parts[1])}"
        return f"y{parts[2]} m{int(parts[1])}"
    # 'FY16-17', '2024-25', '2024/2025': keep the pair
    folded = re.sub(r"\b(fy)\s*(\d{2,4})\b", r"fy\2", folded)
    tokens = folded.split()
    keys: list[str] = []
    short_years: list[str] = []
    measure = 0
    for index, token in enumerate(tokens):
        if token in MONTHS:
            keys.append(f"m{MONTHS[token]}")
        elif token.startswith("fy") and token[2:].isdigit():
            keys.append(f"y{token[2:]}")
        elif YEAR_RE.match(token):
            keys.append(f"y{token}")
        elif re.fullmatch(r"q[1-4]|[1-4]q", token):
            keys.append(f"q{token.strip('q')}")
        elif re.fullmatch(r"h[12]", token):
            keys.append(token)
        elif re.fullmatch(r"[mp](0?[1-9]|1[0-2])", token):
            keys.append(f"m{int(token[1:])}")
        elif re.fullmatch(r"\d{2}", token):
            short_years.append(f"y{token}")  # '2024-25', '20 Budget', 'Jan 25'
        elif token in BUDGET_WORDS or token in ACTUAL_WORDS or token in VARIANCE_WORDS:
            measure += 1
        elif token in _PERIOD_FILLER or token == "%":
            continue
        elif token in ("quarter", "qtr", "quartal", "trimestre") and index + 1 < len(tokens):
            continue
        else:
            return None
    if short_years:
        # a bare two-digit number is a year only next to a month, a year or a measure word
        if not (keys or measure):
            return None
        keys.extend(short_years)
    if not keys:
        return None
    return " ".join(keys)


_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def period_label(header: str) -> str:
    """A wide file's period header as a period the normaliser reads: the header itself, or,
    when it also says what is measured ('FY2014 Amended Budget', "'21 Budget"), the period
    alone ('FY2014', 'FY21')."""
    key = period_key(header)
    words = set(fold_text(header).split())
    if key is None or not words & (BUDGET_WORDS | ACTUAL_WORDS | VARIANCE_WORDS):
        return header
    parts = key.split()
    years = [p[1:] for p in parts if p.startswith("y")]
    months = [int(p[1:]) for p in parts if p.startswith("m")]
    quarters = [p[1:] for p in parts if p.startswith("q")]
    if len(years) == 2:
        year = f"FY{years[0]}-{years[1][-2:]}"
    elif len(years) == 1:
        year = f"FY{years[0]}"
    else:
        year = ""
    if months and len(months) == 1:
        return f"{_MONTH_NAMES[months[0] - 1]} {year[2:]}".strip() if year else header
    if quarters and len(quarters) == 1:
        return f"Q{quarters[0]} {year}".strip()
    if year and len(parts) == len(years):
        return year
    return header


def measure_of(header: str) -> str:
    """'budget', 'actual', 'variance' or '' for what a period column holds."""
    tokens = set(fold_text(header).split())
    if tokens & VARIANCE_WORDS or "%" in header:
        return "variance"
    if tokens & BUDGET_WORDS:
        return "budget"
    if tokens & ACTUAL_WORDS:
        return "actual"
    return ""
