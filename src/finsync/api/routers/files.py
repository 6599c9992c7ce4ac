"""Budget files: analyze one (nothing stored), upload one into a customer's `upload` source
and sync it, download a sync's rejected rows."""

from __future__ import annotations

import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from finsync.api import airflow_bridge, db
from finsync.api.dependencies import Who
from finsync.api.schemas import CUSTOMER_ID, RowId, sync_errors

router = APIRouter()
MAX_UPLOAD_BYTES = 512 * 1024 * 1024
CUSTOMER_FORM = "Required with an admin token; a customer token acts for its own customer"


@router.get(
    "/sync/history/{sync_id}/rejects",
    tags=["sync"],
    response_class=FileResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "The rejected rows"},
        **sync_errors(404, 410),
    },
    summary="Download the rejected rows of one sync (CSV)",
)
async def rejects(who: Who, sync_id: RowId):
    rows = await db.rows(
        "select customer_id, reject_file from sync_history where sync_id = %s", (sync_id,)
    )
    if not rows or not who.can_see(rows[0]["customer_id"]) or not rows[0]["reject_file"]:
        raise HTTPException(404, f"no reject file for sync {sync_id}")
    path = Path(rows[0]["reject_file"])
    if not path.is_file():
        raise HTTPException(410, f"the reject file of sync {sync_id} was cleaned up")
    return FileResponse(path, filename=f"sync_{sync_id}_rejects{path.suffix}")


async def _save_upload(upload: UploadFile, folder: Path, *, stamp: bool = True) -> Path:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(upload.filename or "upload").name).strip("._")
    folder.mkdir(parents=True, exist_ok=True)
    name = name or "upload"
    if stamp:  # a drop folder keeps every upload, newest last
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}_{name}"
    target = folder / name
    partial = folder / f".{target.name}.part"  # not matched by the source's glob while written
    size = 0
    with partial.open("wb") as out:
        while chunk := await upload.read(1 << 20):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                out.close()
                partial.unlink()
                raise HTTPException(413, f"file larger than {MAX_UPLOAD_BYTES >> 20} MiB")
            out.write(chunk)
    partial.rename(target)
    return target


@router.post(
    "/files/analyze",
    tags=["files"],
    responses=sync_errors(413),
    summary="Analyze a budget file (nothing stored)",
)
async def analyze_file(
    who: Who,
    file: Annotated[UploadFile, File(description="CSV, XLSX or XLS")],
    sheet: Annotated[str, Form(max_length=100, description="Default: the budget sheet")] = None,
    header_row: Annotated[int, Form(ge=1, le=10000, description="Default: detected")] = None,
) -> dict[str, Any]:
    from finsync.budget.analyze import analyze  # (pandas and the readers: on first use)
    from finsync.budget.model import BudgetFileError

    with tempfile.TemporaryDirectory(prefix="finsync-analyze-") as tmp:
        path = await _save_upload(file, Path(tmp), stamp=False)  # errors name the file
        try:
            return await run_in_threadpool(analyze, path, sheet=sheet, header_row=header_row)
        except BudgetFileError as exc:
            raise HTTPException(422, str(exc)) from None


@router.post(
    "/files/import",
    tags=["files"],
    status_code=202,
    responses=sync_errors(403, 404, 409, 413, 503),
    summary="Upload a budget file and sync it like any other source",
)
async def import_file(
    who: Who,
    file: Annotated[UploadFile, File(description="CSV, XLSX or XLS")],
    customer_id: Annotated[str, Form(pattern=CUSTOMER_ID, description=CUSTOMER_FORM)] = None,
) -> dict[str, Any]:
    """Writes the file to the customer's `upload` source folder and starts a `budget_sync`
    run for the customer; follow it with GET /sync/history."""
    customer_id = who.customer(customer_id)
    rows = await db.rows(
        "select source_config from budget_data_source_config "
        "where customer_id = %s and source_type = 'upload' and enabled",
        (customer_id,),
    )
    if not rows:
        raise HTTPException(
            404,
            f"customer {customer_id!r} has no enabled upload source: add one with "
            "POST /sync/config (source_type upload, source_config.path = the drop folder)",
        )
    folder = rows[0]["source_config"].get("path")
    if not isinstance(folder, str) or not folder:
        raise HTTPException(
            409, f"customer {customer_id!r}'s upload source has no path: set source_config.path"
        )
    saved = await _save_upload(file, Path(folder))
    run = await airflow_bridge.start_run(customer_id, force=False, user=who.name)
    return {**run, "file_name": saved.name}
