"""Onboarding a customer from a sample export: preview, then save the config.

- `POST /onboarding/preview` (any authenticated caller, like `POST /files/analyze`): the file's
  analysis (file type, sheet, header row, layout, mapping with confidences and alternatives,
  the grain report when `analyze()` gives one) and the first budgets it would become under a
  chosen mapping, fiscal year start and currency. Nothing is stored: the upload lives in a
  temporary folder for the request only.
- `POST /onboarding/config` (admin, like `POST /sync/config`: a source config names server
  folders and Airflow connections, which a customer token must not choose): the same file and
  choices again, checked against the file once more, then saved through
  `finsync.budget.config` (`create`: the config, never over an existing one; then
  `save_confirmed_mapping`: the mapping as version 1, with every header of the sample).

Uploads are capped (MAX_SAMPLE_BYTES, checked while the body is received, so an oversized
body is refused before it is parsed or written anywhere). Validation errors name the field,
never the value sent (a column name, a path or a source_config is the customer's data).
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, File, Form, HTTPException, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from starlette.types import Message

from finsync.api import db
from finsync.api.dependencies import Admin, Who
from finsync.api.schemas import (
    CURRENCY,
    CUSTOMER_ID,
    DEFAULT_FREQUENCY,
    Frequency,
    Problem,
    SourceType,
)

MAX_SAMPLE_BYTES = 20 * 1024 * 1024  # a sample export: enough for ~200k rows of CSV
_MULTIPART_SLACK = 64 * 1024  # the form's other fields and the multipart framing
PREVIEW_ROWS = 20  # budgets and rejected rows shown
MAX_COLUMN_NAME = 500


class _CappedUpload(APIRoute):
    """Refuse (413) a request body beyond the cap, by its Content-Length or, without one
    (chunked), as soon as that many bytes have arrived: before the form is parsed."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        cap = MAX_SAMPLE_BYTES + _MULTIPART_SLACK

        async def capped(request: Request) -> Response:
            declared = request.headers.get("content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > cap):
                raise HTTPException(413, _too_large())
            receive, seen = request.receive, 0

            async def counting() -> Message:
                nonlocal seen
                message = await receive()
                if message["type"] == "http.request":
                    seen += len(message.get("body", b""))
                    if seen > cap:
                        raise HTTPException(413, _too_large())
                return message

            return await handler(Request(request.scope, counting))

        return capped


def _too_large() -> str:
    return f"the sample file is larger than {MAX_SAMPLE_BYTES >> 20} MiB: upload its first rows"


router = APIRouter(route_class=_CappedUpload)
T = TypeVar("T")
ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"model": Problem, "description": "Not allowed for this token"},
    409: {"model": Problem, "description": "The customer already has a source of this type"},
    413: {"model": Problem, "description": "File too large"},
    422: {"model": Problem, "description": "Invalid request, or the file cannot be read"},
}
FileField = Annotated[UploadFile, File(description="A sample export: CSV, XLSX or XLS")]
# Optional form fields are typed without None (as POST /files/analyze): a multipart form has no
# null, so the schema must not offer one.
SheetField = Annotated[
    str, Form(min_length=1, max_length=100, description="Default: the budget sheet")
]
HeaderRowField = Annotated[int, Form(ge=1, le=10000, description="Default: detected")]
MAPPING = (
    'JSON object: budget field -> column header or null, e.g. {"department": "Cost Centre", '
    '"fiscal_period": "Period", "budgeted_amount": "Plan", "sub_category": null, '
    '"currency": null}'
)
MappingField = Annotated[
    str, Form(max_length=20000, description=MAPPING + ". Default: the proposed mapping")
]
FyStartField = Annotated[int, Form(ge=1, le=12, description="1 = January ... 12 = December")]
ScenarioField = Annotated[
    str,
    Form(
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00]*$",
        description="The value of the file's scenario or version column to import (e.g. "
        "Budget); default: the one that plainly means budget",
    ),
]
CurrencyField = Annotated[
    str, Form(pattern=CURRENCY, description="ISO 4217; for amounts without a currency")
]


# ---- reading the request ------------------------------------------------------------------


def _mapping(text: str | None) -> dict[str, str | None] | None:
    """The mapping form field, checked (messages name fields, never the columns sent)."""
    from finsync.budget.model import FIELDS

    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        raise HTTPException(422, "mapping must be a JSON object") from None
    if not isinstance(value, dict):
        raise HTTPException(422, "mapping must be a JSON object")
    unknown = sorted(set(value) - set(FIELDS))
    if unknown:
        # counted, not echoed: unknown keys are the caller's text
        raise HTTPException(
            422, f"mapping has {len(unknown)} unknown field(s); fields: {', '.join(FIELDS)}"
        )
    out: dict[str, str | None] = {}
    for field in FIELDS:
        column = value.get(field)
        if column is not None and (
            not isinstance(column, str)
            or not column
            or len(column) > MAX_COLUMN_NAME
            or "\x00" in column
        ):
            raise HTTPException(422, f"mapping.{field} must be a column header or null")
        out[field] = column
    used = [c for c in out.values() if c is not None]
    if len(used) != len(set(used)):
        raise HTTPException(422, "mapping uses a column for more than one field")
    return out


def _json_object(what: str, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise HTTPException(422, f"{what} must be a JSON object") from None
    if not isinstance(value, dict):
        raise HTTPException(422, f"{what} must be a JSON object")
    stack: list[Any] = [value]
    while stack:  # what PostgreSQL's jsonb cannot hold
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend([*item.keys(), *item.values()])
        elif isinstance(item, list):
            stack.extend(item)
        elif (isinstance(item, str) and "\x00" in item) or (
            isinstance(item, float) and not math.isfinite(item)
        ):
            raise HTTPException(422, f"{what} must not contain NUL characters or NaN")
    return value


def _currency(code: str) -> str:
    from finsync.budget.currencies import ISO_4217

    if code not in ISO_4217:
        raise HTTPException(422, "default_currency is not an active ISO 4217 currency code")
    return code


async def _keep(upload: UploadFile, folder: Path) -> Path:
    """The upload in `folder` (a temporary one), under a name made safe."""
    import re

    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(upload.filename or "sample").name).strip("._")
    target = folder / (name[:120] or "sample")
    size = 0
    with target.open("wb") as out:
        while chunk := await upload.read(1 << 20):
            size += len(chunk)
            if size > MAX_SAMPLE_BYTES:
                raise HTTPException(413, _too_large())
            out.write(chunk)
    return target


# ---- understanding the sample ---------------------------------------------------------------


def _understand(
    path: Path,
    *,
    sheet: str | None,
    header_row: int | None,
    mapping: dict[str, str | None] | None,
    fiscal_year_start_month: int,
    default_currency: str,
    scenario: str | None = None,
) -> dict[str, Any]:
    """analyze() under the chosen mapping, the proposal, and the first normalised budgets."""
    from finsync.budget import mapping as mapper
    from finsync.budget.analyze import analyze
    from finsync.budget.budgets import to_budgets
    from finsync.budget.model import REQUIRED_FIELDS, BudgetFileError, ColumnMapping, FieldMatch
    from finsync.budget.read import parse_file

    parsed = parse_file(path, sheet=sheet, header_row=header_row)
    headers = mapper.headers_signature(parsed)
    if mapping is not None:
        missing = [f for f, c in mapping.items() if c is not None and c not in set(headers)]
        if missing:
            raise HTTPException(
                422,
                f"mapping names a column the file does not have for: {', '.join(missing)} "
                "(choose one of the file's headers)",
            )
        if parsed.layout == "wide":
            overlap = [
                f for f, c in mapping.items() if c is not None and c in set(parsed.period_columns)
            ]
            if overlap:
                raise HTTPException(422, f"mapping uses a period column for: {', '.join(overlap)}")
    proposal = mapper.map_columns(parsed)
    chosen = (
        ColumnMapping(
            {
                f: FieldMatch(column=c, confidence=1.0, explanation="chosen")
                for f, c in mapping.items()
            }
        )
        if mapping is not None
        else proposal
    )
    # analyze() with the chosen mapping as confirmed, so its grain report (when it gives one)
    # describes this mapping; it reads the same sheet and header row.
    confirmed = mapping if mapping is not None and any(mapping.values()) else None
    analysis = analyze(
        path,
        sheet=parsed.sheet,
        header_row=parsed.header_row,
        confirmed=confirmed,
        fiscal_year_start_month=fiscal_year_start_month,
        default_currency=default_currency,
        scenario=scenario,
    )
    analysis["sheet"], analysis["header_row"] = parsed.sheet, parsed.header_row
    missing_fields = mapper.needs_review(chosen, parsed.layout)
    out: dict[str, Any] = {
        "analysis": analysis,
        "grain": analysis.get("grain"),
        "headers": headers,
        "proposal": proposal.as_json(),
        "mapping": chosen.columns(),
        "needs_review": missing_fields,
        "fiscal_year_start_month": fiscal_year_start_month,
        "default_currency": default_currency,
        "scenario": scenario,
        "rows_in": len(parsed.frame),
        "budgets": [],
        "budget_count": 0,
        "rejected_count": 0,
        "errors": [],
        "warnings": [],
        "preview": None,
    }
    if analysis["file_type"] != "budget":
        # A file the sync would refuse: no rows shown (nor any cell of personal data).
        out["preview"] = "not a budget file: the sync would refuse it, so no budgets are previewed"
        return out
    if mapping is None and missing_fields:
        out["preview"] = (
            f"choose the column for: {', '.join(missing_fields)} (below the confidence bar or "
            "missing), then the budgets are previewed"
        )
        return out
    required_missing = [
        f
        for f in REQUIRED_FIELDS
        if chosen.columns().get(f) is None
        and not (parsed.layout == "wide" and f in ("fiscal_period", "budgeted_amount"))
    ]
    if required_missing:
        out["preview"] = f"choose the column for: {', '.join(required_missing)}"
        return out
    try:  # the sync's own step: the scenario kept, rows finer than a budget summed
        made = to_budgets(
            parsed,
            chosen,
            fiscal_year_start_month=fiscal_year_start_month,
            default_currency=default_currency,
            scenario=scenario,
        )
    except BudgetFileError as exc:
        out["preview"] = str(exc)
        return out
    out["grain"] = made.report.as_json()  # under exactly this mapping, calendar and currency
    if made.rows is None:
        out["preview"] = made.problem or "no budgets"
        return out
    rows = made.rows
    head = rows.frame.head(PREVIEW_ROWS)
    out["budgets"] = [
        {
            "department": r["department"],
            "sub_category": r["sub_category"] if isinstance(r["sub_category"], str) else None,
            "fiscal_period": r["fiscal_period"],
            "budgeted_amount": r["budgeted_amount"],
            "currency": r["currency"],
            "source_row": int(r["source_row"]),
            "source_column": r["source_column"],
        }
        for r in head.to_dict("records")
    ]
    out["budget_count"] = len(rows.frame)
    out["rejected_count"] = rows.rejected_count
    out["errors"] = [e.as_dict() for e in rows.errors[:PREVIEW_ROWS]]
    out["error_count"] = len(rows.errors)
    out["warnings"] = list(rows.warnings)
    return out


async def _with_sample(file: UploadFile, work: Callable[[Path], T]) -> T:
    from finsync.budget.model import BudgetFileError

    with tempfile.TemporaryDirectory(prefix="finsync-onboarding-") as tmp:
        path = await _keep(file, Path(tmp))
        try:
            return await run_in_threadpool(work, path)
        except BudgetFileError as exc:
            raise HTTPException(422, str(exc)) from None


@router.post(
    "/onboarding/preview",
    tags=["onboarding"],
    responses={413: ERRORS[413], 422: ERRORS[422]},
    summary="Preview a sample export as budgets (nothing stored)",
)
async def preview(
    who: Who,
    file: FileField,
    sheet: SheetField = None,
    header_row: HeaderRowField = None,
    mapping: MappingField = None,
    fiscal_year_start_month: FyStartField = 1,
    default_currency: CurrencyField = "USD",
    scenario: ScenarioField = None,
) -> dict[str, Any]:
    """The file's analysis (file type, sheet, header row, layout, `analysis.mapping` under the
    chosen mapping, `analysis.grain` when available), `proposal` (the proposed column per field
    with its confidence and alternatives), `headers`, and the first budgets the sync would make
    of it (`budgets`, `budget_count`; rejected rows in `errors`, `rejected_count`) with the
    given fiscal year start and default currency. `preview` says why no budgets are shown,
    when none are. Nothing is stored."""
    chosen = _mapping(mapping)
    currency = _currency(default_currency)
    return await _with_sample(
        file,
        lambda path: _understand(
            path,
            sheet=sheet,
            header_row=header_row,
            mapping=chosen,
            fiscal_year_start_month=fiscal_year_start_month,
            default_currency=currency,
            scenario=scenario,
        ),
    )


# ---- saving -------------------------------------------------------------------------------


def _save(
    path: Path,
    *,
    who: str,
    customer_id: str,
    source_type: str,
    source_config: dict[str, Any],
    frequency: str,
    sheet: str | None,
    header_row: int | None,
    mapping: dict[str, str | None],
    fiscal_year_start_month: int,
    default_currency: str,
    scenario: str | None,
    conninfo: str,
) -> dict[str, Any]:
    from finsync import warehouse
    from finsync.budget import config as configs
    from finsync.budget.sources import SourceConfigError, validate_source_config

    seen = _understand(
        path,
        sheet=sheet,
        header_row=header_row,
        mapping=mapping,
        fiscal_year_start_month=fiscal_year_start_month,
        default_currency=default_currency,
        scenario=scenario,
    )
    if seen["analysis"]["file_type"] != "budget":
        raise HTTPException(422, "the sample is not a budget file: the sync would refuse it")
    if seen["preview"] is not None:
        raise HTTPException(422, f"the mapping is not complete: {seen['preview']}")
    source_config = dict(source_config)
    if sheet is not None:  # chosen on purpose: the sync reads the same sheet and header row
        source_config["sheet"] = sheet
    if header_row is not None:
        source_config["header_row"] = header_row
    if scenario is not None:
        source_config["scenario"] = scenario
    try:
        validate_source_config(source_type, source_config)
    except SourceConfigError as exc:
        raise HTTPException(422, str(exc)) from None
    settings = {
        "source_config": source_config,
        "frequency": frequency,
        "fiscal_year_start_month": fiscal_year_start_month,
        "default_currency": default_currency,
    }
    # One transaction: the config (never over an existing one) and the mapping as its version
    # 1, recorded with every header of the sample (what later files are compared with).
    with warehouse.connect(conninfo, retry=False) as conn, conn.transaction():
        try:
            created = configs.create(
                conn,
                customer_id=customer_id,
                source_type=source_type,
                settings=settings,
                confirmed_by=f"onboarding:{who}",
            )
        except ValueError as exc:  # names keys, never values
            raise HTTPException(422, str(exc)) from None
        if created is None:
            raise HTTPException(
                409,
                f"customer {customer_id!r} already has a {source_type} source; change it "
                "with PATCH /sync/config/{config_id}",
            )
        config_id = created["config_id"]
        version = configs.save_confirmed_mapping(
            conn, config_id, seen["headers"], seen["mapping"], f"onboarding:{who}"
        )
    return {
        "config_id": config_id,
        "customer_id": customer_id,
        "source_type": source_type,
        "frequency": frequency,
        "fiscal_year_start_month": fiscal_year_start_month,
        "default_currency": default_currency,
        "column_mapping": seen["mapping"],
        "column_mapping_version": version,
    }


@router.post(
    "/onboarding/config",
    tags=["onboarding"],
    status_code=201,
    responses=ERRORS,
    summary="Save a new customer's source config from a checked sample export",
)
async def save_config(
    who: Admin,
    file: FileField,
    customer_id: Annotated[str, Form(pattern=CUSTOMER_ID)],
    source_type: Annotated[SourceType, Form()],
    source_config: Annotated[
        str,
        Form(
            min_length=2,
            max_length=20000,
            description='JSON object, e.g. {"conn_id": "acme_sftp", "path": "/exports", '
            '"glob": "*.xlsx"}; no credentials (put them in an Airflow connection)',
        ),
    ],
    mapping: Annotated[str, Form(min_length=2, max_length=20000, description=MAPPING)],
    frequency: Annotated[Frequency, Form()] = DEFAULT_FREQUENCY,
    sheet: SheetField = None,
    header_row: HeaderRowField = None,
    fiscal_year_start_month: FyStartField = 1,
    default_currency: CurrencyField = "USD",
    scenario: ScenarioField = None,
) -> dict[str, Any]:
    """Checks the sample again under the mapping (a budget file, every named column in it, the
    required fields mapped), then adds the config (`finsync.budget.config.add`) and stores the
    mapping as its confirmed version with the file's headers (`save_confirmed_mapping`), in one
    transaction. A sheet, header row or scenario given here is kept in source_config, so the
    sync reads the same table and keeps the same scenario. 409 when the customer already has
    a source of this type."""
    chosen = _mapping(mapping)
    assert chosen is not None
    config = _json_object("source_config", source_config)
    currency = _currency(default_currency)
    conninfo = await db.conninfo()  # the service's warehouse
    return await _with_sample(
        file,
        lambda path: _save(
            path,
            who=who.name,
            customer_id=customer_id,
            source_type=source_type,
            source_config=config,
            frequency=frequency,
            sheet=sheet,
            header_row=header_row,
            mapping=chosen,
            fiscal_year_start_month=fiscal_year_start_month,
            default_currency=currency,
            scenario=scenario,
            conninfo=conninfo,
        ),
    )
