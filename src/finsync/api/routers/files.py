"""Budget files: analyze one (nothing stored), upload one into a customer's `upload` source
and sync it, download a sync's rejected rows. Uploads and reject files live in shared storage
(finsync/storage.py), never on this server's disk, so any worker syncs an upload and any API
server serves a reject file."""

from __future__ import annotations

import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from finsync import storage
from finsync.api import airflow_bridge, db
from finsync.api.dependencies import Who
from finsync.api.schemas import CUSTOMER_ID, RowId, sync_errors

router = APIRouter()
MAX_UPLOAD_BYTES = 512 * 1024 * 1024
CUSTOMER_FORM = "Required with an admin token; a customer token acts for its own customer"


@router.get(
    "/sync/history/{sync_id}/rejects",
    tags=["sync"],
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "The rejected rows"},
        **sync_errors(404, 410, 503),
    },
    summary="Download the rejected rows of one sync (CSV)",
)
async def rejects(who: Who, sync_id: RowId) -> StreamingResponse:
    """404 when the sync has no reject file, or when its file is not in shared storage though
    it should still be (the message says where it was looked for); 410 when the storage's
    retention removed it (it will not come back); 503 when shared storage cannot be reached."""
    rows = await db.rows(
        "select customer_id, reject_file, coalesce(end_time, start_time) as recorded_at "
        "from sync_history where sync_id = %s",
        (sync_id,),
    )
    if not rows or not who.can_see(rows[0]["customer_id"]) or not rows[0]["reject_file"]:
        raise HTTPException(404, f"no reject file for sync {sync_id}")
    ref = rows[0]["reject_file"]
    try:
        await run_in_threadpool(storage.recorded, ref, rows[0]["recorded_at"])
    except storage.Expired as exc:
        raise HTTPException(410, f"the reject file of sync {sync_id} was {exc}") from None
    except storage.Missing as exc:
        raise HTTPException(404, f"the reject file of sync {sync_id} is missing: {exc}") from None
    except storage.StorageError as exc:
        raise HTTPException(503, str(exc)) from None
    name = f"sync_{sync_id}_rejects{Path(ref).suffix}"
    return StreamingResponse(
        storage.chunks(ref),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _safe_name(upload: UploadFile, *, stamp: bool) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(upload.filename or "upload").name).strip("._")
    name = name or "upload"
    if stamp:  # the uploads area keeps every upload, newest last
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}_{name}"
    return name


async def _receive(upload: UploadFile, out: IO[bytes]) -> None:
    """Copy the posted file into `out`, refusing it (413) past MAX_UPLOAD_BYTES."""
    size = 0
    while chunk := await upload.read(1 << 20):
        size += len(chunk)
        if size > MAX_UPLOAD_BYTES:
            raise HTTPException(413, f"file larger than {MAX_UPLOAD_BYTES >> 20} MiB")
        out.write(chunk)


async def _save_upload(upload: UploadFile, folder: Path, *, stamp: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / _safe_name(upload, stamp=stamp)
    try:
        with target.open("wb") as out:
            await _receive(upload, out)
    except HTTPException:
        target.unlink(missing_ok=True)
        raise
    return target


async def _store_upload(upload: UploadFile, customer_id: str) -> storage.StoredFile:
    """The posted file in shared storage (uploads/<customer>/<stamp>_<name>), where the
    customer's `upload` source takes it on whichever worker runs the sync."""
    ref = storage.key("uploads", customer_id, _safe_name(upload, stamp=True))
    with tempfile.SpooledTemporaryFile(max_size=8 << 20) as spool:
        await _receive(upload, spool)
        spool.seek(0)
        try:
            return await run_in_threadpool(storage.put, ref, spool)
        except storage.StorageError as exc:
            raise HTTPException(503, str(exc)) from None


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
    responses=sync_errors(403, 404, 413, 503),
    summary="Upload a budget file and sync it like any other source",
)
async def import_file(
    who: Who,
    file: Annotated[UploadFile, File(description="CSV, XLSX or XLS")],
    customer_id: Annotated[str, Form(pattern=CUSTOMER_ID, description=CUSTOMER_FORM)] = None,
) -> dict[str, Any]:
    """Keeps the file in shared storage for the customer's `upload` source and starts a
    `budget_sync` run for the customer; follow it with GET /sync/history."""
    customer_id = who.customer(customer_id)
    rows = await db.rows(
        "select 1 from budget_data_source_config "
        "where customer_id = %s and source_type = 'upload' and enabled",
        (customer_id,),
    )
    if not rows:
        raise HTTPException(
            404,
            f"customer {customer_id!r} has no enabled upload source: add one with "
            "POST /sync/config (source_type upload)",
        )
    saved = await _store_upload(file, customer_id)
    run = await airflow_bridge.start_run(customer_id, force=False, user=who.name)
    return {**run, "file_name": saved.name}
