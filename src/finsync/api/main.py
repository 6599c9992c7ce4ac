"""The budget service: a FastAPI app that Airflow's API server mounts at /finsync (plugin).

Interactive OpenAPI docs at /finsync/docs. Money endpoints:
- POST /budget/check                 is there money for this purchase? (read-only)
- POST /budget/reserve               hold money for a requisition
- POST /budget/commit                turn a reservation (or a direct request) into a commitment
- POST /budget/release               give a reservation or commitment back
The three moves need an `Idempotency-Key` header: a retry with the same key and body gets the
first outcome again (header `Idempotent-Replayed: true`), never a second booking.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from finsync.api import db, metrics
from finsync.api.dependencies import URL_PREFIX, known_query_only
from finsync.api.errors import DomainError, answer
from finsync.api.routers import (
    budget,
    files,
    fx,
    onboarding,
    policy,
    sync_configs,
    sync_runs,
    ui,
    webhooks,
)
from finsync.api.routers import metrics as metrics_routes
from finsync.api.schemas import problems

__all__ = ["URL_PREFIX", "app"]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await db.close()


app = FastAPI(
    title="finsync budget service",
    version="1.0",
    description=__doc__,
    lifespan=lifespan,
    responses=problems(
        {400: "The body could not be read", 401: "Not authenticated", 422: "Invalid request"}
    ),
    dependencies=[Depends(known_query_only)],
)


@app.exception_handler(DomainError)
async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
    """The one place a domain error (money.py's refusals, a run Airflow cannot start) becomes
    an HTTP answer: 422 invalid, 404 not found, 409 conflict or over budget, 503 unavailable."""
    status, body = answer(exc)
    return JSONResponse(body, status_code=status)


@app.exception_handler(StarletteHTTPException)
async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """As FastAPI answers, but a 405's Allow header lists every method the path has (each
    route knows only its own)."""
    if exc.status_code == 405:
        allowed: set[str] = set()
        for route in request.app.router.routes:
            match, _ = route.matches(request.scope)
            if match != Match.NONE:
                allowed |= getattr(route, "methods", None) or set()
        exc = StarletteHTTPException(405, exc.detail, headers={"Allow": ", ".join(sorted(allowed))})
    return await http_exception_handler(request, exc)


@app.exception_handler(RequestValidationError)
async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 naming what is wrong and where, never echoing the values sent (a source_config
    may carry a password, which must not come back in a response or reach a log)."""
    errors = [
        {"type": e.get("type"), "loc": list(e.get("loc", ())), "msg": e.get("msg")}
        for e in exc.errors()
    ]
    return JSONResponse({"detail": errors}, status_code=422)


for routes in (budget, sync_configs, sync_runs, files, fx, policy, onboarding, ui, metrics_routes):
    app.include_router(routes.router)
app.include_router(webhooks.router)  # GET /sync/webhooks (docs/webhooks.md)
app.add_middleware(metrics.Middleware)  # request timing, under each route's path template
