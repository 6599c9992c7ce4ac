"""The service's health in numbers: Prometheus metrics (`GET /metrics`) and the Budget sync
page's 7-day figures (`GET /sync/stats`); the figures themselves are `finsync.api.metrics`'."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from finsync.api.dependencies import Admin, mounted_in_airflow, principal
from finsync.api.metrics import exposition, figures, week_summary

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus exposition. Open on `finsync api serve`; admin-only when mounted in Airflow's
    API server (its users' sessions are admins there)."""
    if mounted_in_airflow(request):
        if not (await principal(request, None)).is_admin:
            raise HTTPException(403, "this needs an admin token")
    return Response(await exposition(), media_type=CONTENT_TYPE_LATEST)


@router.get(
    "/sync/stats",
    tags=["sync"],
    summary="The last 7 days of syncs in numbers (the Budget sync page's figures)",
    responses={403: {"description": "Not an admin"}, 503: {"description": "No warehouse"}},
)
async def stats(who: Admin) -> dict[str, Any]:
    found = await figures()
    if found is None:
        raise HTTPException(503, "the warehouse did not answer in time")
    return week_summary(found)
