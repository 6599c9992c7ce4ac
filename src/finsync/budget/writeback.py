"""Utilisation write-back: each active budget's budgeted, committed, reserved and available
amounts, written back to the customer's own source location so the FP&A tool can import what
procurement has already used (DAG budget_writeback, docs/budget_writeback.md).

A config's `writeback` setting (budget_data_source_config.writeback, written only through
finsync.budget.config) turns it on:

    {"folder": "finsync", "formats": ["csv", "xlsx"], "frequency": "daily",
     "period_labels": "auto"}

- `folder`: a sub-folder of the source location (local `path`, SFTP `path`, S3 `prefix`),
  never the folder the sync reads (a listing is one level deep, so the sync never sees it).
- `formats`: `csv` (default) and/or `xlsx`; the files are `finsync_utilisation.csv` /
  `.xlsx`. Every name finsync writes starts with `finsync_` (WRITE_PREFIX): a source's `write`
  refuses any other name, and never replaces a file it did not write itself (the size and
  modified time recorded at the last write-back must match): a customer's file is refused.
- `frequency`: one of budget/settings.FREQUENCIES (default daily; `manual`: only when asked).
- `period_labels`: `auto` (default: each period as the customer's last import labelled it
  (budget_period_label: a long export's `2026-01`, `Jan-26`, a Year and Period pair; recorded
  in the import's transaction), else its wide export's period headers from the confirmed
  mapping, else `calendar`), `calendar` (`Jan 2026`,
  `Q1 FY2026`, `FY2026`) or `fiscal` (finsync's `FY2026-M01`). Every label reads back as the
  same period through finsync's parser (budget/periods.py) on the customer's calendar.

Columns carry the customer's own names from its confirmed mapping (`Cost Centre`, `Account`,
`Period`, `Budget Amount`, `Currency`; a Year column too when its export splits the year off),
then `Committed`, `Reserved`, `Available`; amounts are plain decimals (`1234.50`).

One attempt (`write_back`): the rows are read, the content hashed; when the hash equals the
last successful write-back's, nothing is written (`unchanged`). Otherwise each file is written
to a temporary name and renamed into place (`BudgetSource.write`), then the attempt is recorded
in `budget_writeback_history` with what it wrote. Attempts for one config never overlap (an
advisory lock).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import posixpath
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from finsync import sql
from finsync.budget import config as configs
from finsync.budget.config import SourceConfig
from finsync.budget.model import available

# The writeback setting's checks live in settings.py (config.py runs them before a write).
from finsync.budget.settings import DEFAULTS, FORMATS, FREQUENCIES, WritebackError
from finsync.budget.settings import validate_writeback as validate_writeback

log = logging.getLogger(__name__)

WRITE_PREFIX = "finsync_"  # every file finsync writes at a customer's location starts so
BASE_NAME = f"{WRITE_PREFIX}utilisation"
# Names of the figures' columns (after the customer's own columns).
FIGURE_COLUMNS = ("Committed", "Reserved", "Available")
# The customer's columns when its mapping names none.
DEFAULT_NAMES = {
    "department": "Department",
    "sub_category": "Sub-category",
    "fiscal_year": "Fiscal Year",
    "fiscal_period": "Period",
    "currency": "Currency",
    "budgeted_amount": "Budgeted",
}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
CENT = Decimal("0.01")  # amounts are written with their cents, as numeric(18, 2) holds them
_LOCK_NAMESPACE = 0x57425F  # "WB_": advisory locks (namespace, config_id)


# ---------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    enabled: bool
    folder: str
    formats: tuple[str, ...]
    frequency: str
    period_labels: str

    def file_names(self) -> dict[str, str]:
        """format -> file name, in FORMATS order."""
        return {fmt: f"{BASE_NAME}.{fmt}" for fmt in FORMATS if fmt in self.formats}


def settings_of(cfg: SourceConfig) -> Settings | None:
    """The config's write-back settings with defaults filled in (None: write-back is off)."""
    raw = cfg.writeback
    if raw is None:
        return None
    merged = {**DEFAULTS, **raw}
    return Settings(
        enabled=merged["enabled"],
        folder=merged["folder"].strip("/"),
        formats=tuple(f for f in FORMATS if f in merged["formats"]),
        frequency=merged["frequency"],
        period_labels=merged["period_labels"],
    )


def destination_config(cfg: SourceConfig, settings: Settings) -> dict[str, Any]:
    """The `source_config` of the write-back folder: the config's location, one folder down."""
    keep = ("conn_id", "bucket", "prefix", "path")
    found = {k: v for k, v in cfg.source_config.items() if k in keep}
    if cfg.source_type == "s3":
        prefix = found.get("prefix", "").strip("/")
        found["prefix"] = f"{prefix}/{settings.folder}" if prefix else settings.folder
    elif cfg.source_type == "sftp":
        found["path"] = posixpath.join(found["path"], settings.folder)
    else:
        found["path"] = str(Path(found["path"]).expanduser() / settings.folder)
    return found


def destination(cfg: SourceConfig, settings: Settings):
    """The source class for the write-back folder (its `write` writes there)."""
    from finsync.budget.sources import build_source

    return build_source(cfg.customer_id, cfg.source_type, destination_config(cfg, settings))


def target_key(cfg: SourceConfig, settings: Settings) -> str:
    """Where the files go, as a stable text (type, connection, bucket, folder)."""
    return json.dumps([cfg.source_type, destination_config(cfg, settings)], sort_keys=True)


# ---------------------------------------------------------------------------- periods


@dataclass(frozen=True)
class PeriodLabels:
    """How a canonical period is written for one customer: `own` holds the customer's own
    labels (canonical -> label, from its export's period headers); the others follow
    `style` (`calendar` or `fiscal`). With `split_year` (a Year column beside the Period
    column in the customer's export) a label is (year, period), e.g. ('FY2026', 'Jan')."""

    fy_start: int
    style: str = "calendar"
    own: Mapping[str, str] = field(default_factory=dict)
    split_year: bool = False
    # canonical -> (Year label or None, period label) as the customer's last import wrote
    # them (budget_period_label): first choice for every style but `fiscal`
    recorded: Mapping[str, tuple[str | None, str]] = field(default_factory=dict)

    def label(self, canonical: str) -> tuple[str | None, str]:
        """(year label or None, period label)."""
        if canonical in self.recorded:
            year, period = self.recorded[canonical]
            if self.split_year:
                return year or "", period
            return None, f"{year} {period}" if year else period
        if self.split_year:  # the month's name alone: its year is the fiscal year's
            year, rest = _calendar_parts(canonical, self.fy_start)
            return year, rest.split(" ")[0]
        if canonical in self.own:
            return None, self.own[canonical]
        if self.style == "fiscal":
            return None, canonical
        year, rest = _calendar_parts(canonical, self.fy_start)
        if not rest:
            return None, year
        if rest.startswith("Q"):
            return None, f"{rest} {year}"
        return None, rest  # a month: "Jan 2026" (its calendar year)


def _calendar_parts(canonical: str, fy_start: int) -> tuple[str, str]:
    """('FY2026', '') for a year, ('FY2026', 'Q1') for a quarter; a month in its calendar
    year: ('FY2026', 'Jan 2026') unsplit, or split as ('FY2026', 'Jan')."""
    from finsync.fiscal import year_bounds

    fiscal_year = int(canonical[2:6])
    year = f"FY{fiscal_year}"
    if len(canonical) == 6:
        return year, ""
    kind, number = canonical[7], int(canonical[8:])
    if kind == "Q":
        return year, f"Q{number}"
    first, _ = year_bounds(fiscal_year, fy_start)
    index = first.month - 1 + number - 1
    month = date(first.year + index // 12, index % 12 + 1, 1)
    return year, f"{_MONTHS[month.month - 1]} {month.year}"


def own_period_labels(headers: Iterable[str], fy_start: int, skip: Iterable[str] = ()) -> dict:
    """canonical -> header for the headers that are periods on the customer's calendar (a wide
    export's period columns), the first header of each period; `skip`: mapped columns."""
    from finsync.budget.headers import period_label
    from finsync.budget.periods import FiscalCalendar, parse_period

    calendar = FiscalCalendar(start=fy_start)
    skipped = set(skip)
    found: dict[str, str] = {}
    for header in headers:
        if header in skipped:
            continue
        canonical, _why = parse_period(period_label(header), calendar)
        if canonical is not None:
            found.setdefault(canonical, header)
    return found


def period_labels_for(
    conn: psycopg.Connection, cfg: SourceConfig, settings: Settings
) -> PeriodLabels:
    mapping = cfg.column_mapping or {}
    split = bool(mapping.get("fiscal_year"))
    style = "calendar" if settings.period_labels == "auto" else settings.period_labels
    own: dict[str, str] = {}
    recorded = recorded_labels(conn, cfg.config_id) if settings.period_labels == "auto" else {}
    if settings.period_labels == "auto" and not split and cfg.column_mapping_version:
        row = conn.execute(
            "select headers from budget_column_mapping_history "
            "where config_id = %s and version = %s",
            (cfg.config_id, cfg.column_mapping_version),
        ).fetchone()
        if row is not None:
            mapped = [c for c in mapping.values() if c]
            own = own_period_labels(row[0], cfg.fiscal_year_start_month, mapped)
    return PeriodLabels(cfg.fiscal_year_start_month, style, own, split, recorded)


LABELS_UPSERT = """
insert into budget_period_label (config_id, fiscal_period, year_label, period_label, sync_id)
select %(config_id)s, p, y, l, %(sync_id)s
from unnest(%(periods)s::text[], %(years)s::text[], %(labels)s::text[]) as t (p, y, l)
on conflict (config_id, fiscal_period) do update
set year_label = excluded.year_label, period_label = excluded.period_label,
    sync_id = excluded.sync_id, updated_at = now()
where (budget_period_label.year_label, budget_period_label.period_label)
    is distinct from (excluded.year_label, excluded.period_label)
"""


def label_recorder(
    config_id: int, sync_id: int | None, labels: Mapping[str, tuple[str | None, str]]
) -> Callable[[psycopg.Connection], None] | None:
    """What the importer runs in its transaction to keep the file's own period labels
    (budgets.Budgets.period_labels) for write-back; None when the file had none."""
    if not labels:
        return None
    periods = sorted(labels)
    params = {
        "config_id": config_id,
        "sync_id": sync_id,
        "periods": periods,
        "years": [labels[p][0] for p in periods],
        "labels": [labels[p][1] for p in periods],
    }

    def record(conn: psycopg.Connection) -> None:
        conn.execute(LABELS_UPSERT, params)

    return record


def recorded_labels(conn: psycopg.Connection, config_id: int) -> dict[str, tuple[str | None, str]]:
    """canonical -> (Year label or None, period label) the config's imports recorded."""
    return {
        period: (year, label)
        for period, year, label in conn.execute(
            "select fiscal_period, year_label, period_label from budget_period_label "
            "where config_id = %s",
            (config_id,),
        )
    }


# ---------------------------------------------------------------------------- content


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Any]]  # str cells and Decimal amounts


def columns_for(mapping: Mapping[str, str | None] | None, split_year: bool, subs: bool) -> dict:
    """field -> the customer's column name (its confirmed mapping, else DEFAULT_NAMES), in
    the order written; figure columns renamed if the customer's names take theirs."""
    mapping = mapping or {}
    fields = ["department"]
    if subs or mapping.get("sub_category"):
        fields.append("sub_category")
    if split_year:
        fields.append("fiscal_year")
    fields += ["fiscal_period", "currency", "budgeted_amount"]
    names: dict[str, str] = {}
    for f in fields:
        name = mapping.get(f) or DEFAULT_NAMES[f]
        while name in names.values():
            name = f"{name} ({DEFAULT_NAMES[f]})"
        names[f] = name
    for figure in FIGURE_COLUMNS:
        name = figure
        while name in names.values():
            name = f"{figure} (finsync)"
        names[figure.lower()] = name
    return names


def compose(rows: Sequence[Mapping[str, Any]], mapping, labels: PeriodLabels) -> Table:
    """The write-back table: one row per active budget, in the customer's names and labels."""
    subs = any(r["sub_category"] for r in rows)
    names = columns_for(mapping, labels.split_year, subs)
    out = []
    for r in rows:
        year, period = labels.label(r["fiscal_period"])
        budgeted, committed, reserved = (
            Decimal(r[k]).quantize(CENT)
            for k in ("budgeted_amount", "committed_amount", "reserved_amount")
        )
        cells = {
            "department": r["department"],
            "sub_category": r["sub_category"] or "",
            "fiscal_year": year or "",
            "fiscal_period": period,
            "currency": r["currency"],
            "budgeted_amount": budgeted,
            "committed": committed,
            "reserved": reserved,
            "available": available(budgeted, committed, reserved),
        }
        out.append([cells[f] for f in names])
    return Table(list(names.values()), out)


def to_csv(table: Table) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(table.columns)
    writer.writerows(table.rows)
    return buffer.getvalue().encode("utf-8")


def to_xlsx(table: Table) -> bytes:
    """One sheet, `Utilisation`: the header row, then the rows (amounts as numbers)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Utilisation")
    sheet.append(table.columns)
    for row in table.rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def read_rows(conn: psycopg.Connection, customer_id: str) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            sql.load("budget_writeback", "01_select_utilisation.sql"), {"customer_id": customer_id}
        )
        return cur.fetchall()


def content_sha256(csv_bytes: bytes, target: str, names: Mapping[str, str]) -> str:
    """What decides `unchanged`: the rows as written, where and under which names."""
    digest = hashlib.sha256(csv_bytes)
    digest.update(json.dumps([target, dict(names)]).encode())
    return digest.hexdigest()


# ---------------------------------------------------------------------------- recording


@dataclass
class WritebackOutcome:
    customer_id: str
    config_id: int
    writeback_id: int
    status: str  # success, unchanged, failed
    message: str = ""
    location: str | None = None
    budget_count: int | None = None
    content_sha256: str | None = None
    files: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _start(conn, cfg: SourceConfig, triggered_by: str, run_id: str | None) -> int:
    return conn.execute(
        "insert into budget_writeback_history (customer_id, config_id, status, triggered_by, "
        "airflow_run_id) values (%s, %s, 'running', %s, %s) returning writeback_id",
        (cfg.customer_id, cfg.config_id, triggered_by, run_id),
    ).fetchone()[0]


def _finish(conn, outcome: WritebackOutcome, started: float) -> None:
    conn.execute(
        "update budget_writeback_history set status = %s, end_time = now(), duration_ms = %s, "
        "location = %s, budget_count = %s, content_sha256 = %s, files = %s, message = %s "
        "where writeback_id = %s",
        (
            outcome.status,
            int((time.perf_counter() - started) * 1000),
            outcome.location,
            outcome.budget_count,
            outcome.content_sha256,
            json.dumps(outcome.files),
            outcome.message,
            outcome.writeback_id,
        ),
    )


def last_success(conn: psycopg.Connection, config_id: int) -> dict[str, Any] | None:
    """The config's latest successful write-back (what is at its location now)."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "select writeback_id, content_sha256, files, location, end_time "
            "from budget_writeback_history where config_id = %s and status = 'success' "
            "order by writeback_id desc limit 1",
            (config_id,),
        )
        return cur.fetchone()


def last_writeback_sql(config_id: str) -> str:
    """A scalar subquery: the last write-back attempt of the config whose id is the SQL
    expression `config_id` (e.g. `c.config_id`), as JSON {writeback_id, status, start_time,
    end_time, budget_count, files (the names), message}, or NULL when it never ran. The
    service's config listing, the Budget sync page and `finsync customers list` show it."""
    return (
        "(select row_to_json(w) from (select writeback_id, status, start_time, end_time, "
        "budget_count, array(select f ->> 'name' from jsonb_array_elements(files) as f) "
        "as files, message from budget_writeback_history "
        f"where config_id = {config_id} order by writeback_id desc limit 1) as w)"
    )


def last_writebacks(conn: psycopg.Connection) -> dict[int, dict[str, Any]]:
    """config_id -> its last write-back attempt (last_writeback_sql), for configs that had one."""
    found = conn.execute(
        f"select config_id, {last_writeback_sql('c.config_id')} "  # noqa: S608 - constant
        "from budget_data_source_config as c"
    ).fetchall()
    return {config_id: last for config_id, last in found if last is not None}


def written_files(conn: psycopg.Connection, config_id: int) -> dict[tuple[str, str], Any]:
    """(target, name) -> the RemoteFile finsync last wrote there under that name (a failed
    attempt may have written some of its files: they count too)."""
    from finsync.budget.sources import RemoteFile

    found = {}
    for (f,) in conn.execute(
        "select distinct on (f ->> 'target', f ->> 'name') f "
        "from budget_writeback_history as h, jsonb_array_elements(h.files) as f "
        "where h.config_id = %s order by f ->> 'target', f ->> 'name', h.writeback_id desc",
        (config_id,),
    ):
        found[(f["target"], f["name"])] = RemoteFile(
            name=f["name"],
            size=f["size_bytes"],
            modified_at=datetime.fromisoformat(f["modified_at"]),
            ref=f["ref"],
        )
    return found


# ---------------------------------------------------------------------------- one attempt


def write_back(
    conn: psycopg.Connection,
    cfg: SourceConfig,
    *,
    force: bool = False,
    triggered_by: str = "schedule",
    run_id: str | None = None,
) -> WritebackOutcome:
    """One write-back attempt for one config (module docstring), recorded whatever happens.
    A refusal (a customer's file under finsync's name, an unusable setting) ends `failed` and
    returns; reaching the location failing is recorded `failed` and raised (worth a retry)."""
    from finsync.budget.sources import SourceError

    started = time.perf_counter()
    outcome = WritebackOutcome(
        cfg.customer_id, cfg.config_id, _start(conn, cfg, triggered_by, run_id), "failed"
    )
    conn.execute("select pg_advisory_lock(%s, %s)", (_LOCK_NAMESPACE, cfg.config_id))
    try:
        settings = settings_of(cfg)
        if settings is None or not settings.enabled:
            outcome.message = "write-back is not turned on for this config (writeback setting)"
            return outcome
        validate_writeback(cfg.source_type, cfg.writeback)
        target = destination(cfg, settings)
        key, names = target_key(cfg, settings), settings.file_names()
        outcome.location = target.describe()
        rows = read_rows(conn, cfg.customer_id)
        table = compose(rows, cfg.column_mapping, period_labels_for(conn, cfg, settings))
        csv_bytes = to_csv(table)
        outcome.budget_count = len(rows)
        outcome.content_sha256 = content_sha256(csv_bytes, key, names)
        last = last_success(conn, cfg.config_id)
        if not force and last is not None and last["content_sha256"] == outcome.content_sha256:
            outcome.status = "unchanged"
            outcome.files = last["files"]
            outcome.message = (
                f"nothing changed since write-back {last['writeback_id']}: "
                f"{len(rows)} budget(s), nothing written"
            )
            return outcome
        before = written_files(conn, cfg.config_id)
        with target.session():
            for name in names.values():  # all or none: every name checked before writing
                target.refuse_foreign(name, before.get((key, name)))
            _write_files(target, table, csv_bytes, names, key, before, outcome)
        outcome.status = "success"
        outcome.message = (
            f"{len(rows)} budget(s) written to {', '.join(f['name'] for f in outcome.files)} "
            f"({target.describe()})"
        )
        return outcome
    except (WritebackError, SourceError) as exc:
        outcome.message = str(exc)
        if _retryable(exc):
            raise
        return outcome
    except Exception as exc:
        outcome.message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        raise
    finally:
        conn.execute("select pg_advisory_unlock(%s, %s)", (_LOCK_NAMESPACE, cfg.config_id))
        _finish(conn, outcome, started)
        log.info(
            "write-back %s for %s: %s. %s",
            outcome.writeback_id,
            cfg.customer_id,
            outcome.status,
            outcome.message,
        )


def _write_files(target, table, csv_bytes, names, key, before, outcome) -> None:
    """Each format's file, recorded in `outcome.files` as soon as it is written."""
    for fmt, name in names.items():
        data = csv_bytes if fmt == "csv" else to_xlsx(table)
        written = target.write(name, data, replaces=before.get((key, name)))
        outcome.location = target.describe()  # with the host or endpoint, once reached
        outcome.files.append(
            {
                "name": name,
                "target": key,
                "format": fmt,
                "size_bytes": written.size,
                "modified_at": written.modified_at.isoformat(),
                "ref": written.ref,
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )


def _retryable(exc: Exception) -> bool:
    """A refusal or a setting will not change by retrying; an unreachable location may."""
    from finsync.budget.sources import ForeignFileError, SourceConfigError

    return not isinstance(exc, WritebackError | ForeignFileError | SourceConfigError)


# ---------------------------------------------------------------------------- scheduling


def due(conn: psycopg.Connection, now: datetime) -> list[SourceConfig]:
    """Enabled configs with write-back on, a scheduled frequency, and no attempt within it."""
    last: dict[int, datetime] = dict(
        conn.execute(
            "select distinct on (config_id) config_id, start_time from budget_writeback_history "
            "order by config_id, start_time desc"
        ).fetchall()
    )
    chosen = []
    for cfg in configs.load(conn, enabled_only=True):
        settings = settings_of(cfg)
        if settings is None or not settings.enabled:
            continue
        every = FREQUENCIES.get(settings.frequency)
        previous = last.get(cfg.config_id)
        if every is not None and (previous is None or previous + every <= now):
            chosen.append(cfg)
    return chosen


# ---------------------------------------------------------------------------- DAG tasks
# The bridge from DAG budget_writeback's tasks (no logic of its own).


def select_configs(context) -> list[dict]:
    from airflow.sdk.exceptions import AirflowFailException

    from finsync.warehouse import connect

    params = context["params"]
    with connect() as conn:
        if params.get("customer_id"):
            found = [
                c for c in configs.load(conn, customer_id=params["customer_id"]) if c.writeback
            ]
            if not found:
                raise AirflowFailException(
                    f"no config of customer {params['customer_id']!r} has write-back turned on: "
                    "set its writeback setting (docs/budget_writeback.md)"
                )
            chosen = found
        else:
            chosen = due(conn, datetime.now(UTC))
    log.info("write-backs due: %s", ", ".join(c.customer_id for c in chosen) or "none")
    return [c.for_xcom() for c in chosen]


def write_customer(item: dict, context) -> dict:
    """One config's write-back. A refusal fails the task at once (no retries: it would be
    refused again); reaching the location failing raises and is retried with back-off."""
    from airflow.sdk.exceptions import AirflowFailException

    from finsync.budget.run_context import triggered_by
    from finsync.warehouse import connect

    with connect() as conn:
        (cfg,) = configs.load(conn, config_id=item["config_id"])
        outcome = write_back(
            conn,
            cfg,
            force=bool(context["params"].get("force")),
            triggered_by=triggered_by(context),
            run_id=context["dag_run"].run_id,
        )
    if outcome.status == "failed":
        raise AirflowFailException(f"{cfg.customer_id}: {outcome.message}")
    return outcome.as_dict()


def report_summary(context) -> dict:
    """Every config's write-back in this run (its last attempt), logged as a table."""
    from finsync.warehouse import connect

    with connect() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "select customer_id, config_id, status, budget_count, message "
            "from budget_writeback_history where airflow_run_id = %s order by writeback_id",
            (context["dag_run"].run_id,),
        )
        latest = {r["config_id"]: r for r in cur.fetchall()}  # a retried config: its last try
    lines = [f"{'customer':<20}{'status':<11}{'budgets':>8}  message"]
    lines += [
        f"{r['customer_id']:<20}{r['status']:<11}{r['budget_count'] or 0:>8}  {r['message']}"
        for r in latest.values()
    ]
    log.info("budget_writeback summary\n%s", "\n".join(lines))
    return {
        "customers": {
            r["customer_id"]: {k: r[k] for k in ("status", "budget_count", "message")}
            for r in latest.values()
        },
        "failed": {
            r["customer_id"]: r["message"] or "the write-back did not finish"
            for r in latest.values()
            if r["status"] in ("failed", "running")
        },
    }


def check_outcomes(summary: dict, context) -> str:
    """The run's last task: it fails (so the run does) when a write-back failed, naming each
    customer and why, or when choosing the configs failed; the other customers' files are
    written either way."""
    from airflow.sdk.exceptions import AirflowFailException

    from finsync.budget.run_context import task_of, task_states

    problems = [f"{c}: {m}" for c, m in summary.get("failed", {}).items()]
    states = task_states(context)
    problems += [
        f"task {k} {v}"
        for k, v in sorted(states.items())
        if v in ("failed", "upstream_failed")
        and (task_of(k, "select_configs") or (task_of(k, "write_customer") and not problems))
    ]
    if problems:
        raise AirflowFailException(
            f"budget_writeback: {len(problems)} problem(s); the other write-backs are done:\n"
            + "\n".join(f"- {p}" for p in problems)
        )
    return f"{len(summary.get('customers', {}))} write-back(s), none failed"
