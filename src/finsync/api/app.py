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

from contextlib import asynccontextmanager
from types import UnionType
from typing import Annotated, Union, get_args, get_origin

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.dependencies.utils import get_flat_dependant
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from finsync.api import db, metrics, money
from finsync.api.auth import Principal, Who
from finsync.api.schemas import (
    CheckRequest,
    CheckResponse,
    CommitRequest,
    Problem,
    ReleaseRequest,
    ReservationResponse,
    ReserveRequest,
)

URL_PREFIX = "/finsync"
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="A unique key per intended booking (e.g. a UUID); retries reuse it",
    ),
]
ERRORS = {
    400: {"model": Problem, "description": "The body could not be read"},
    401: {"model": Problem, "description": "Not authenticated"},
    403: {"model": Problem, "description": "Not allowed for this token"},
    404: {"model": Problem, "description": "No such budget or reservation"},
    409: {"model": Problem, "description": "Over budget, or the reservation's state forbids it"},
    422: {"model": Problem, "description": "Invalid request"},
}


async def known_query_only(request: Request) -> None:
    """Refuse query parameters the operation does not have (a misspelt `customer_id` must not
    quietly widen an admin's listing to every customer)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not route.include_in_schema or not request.query_params:
        return  # (the UI page is not an API operation: Airflow may add to its URL)
    params = get_flat_dependant(route.dependant).query_params
    known = {p.alias for p in params}
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise HTTPException(
            422,
            f"unknown query parameter(s) {', '.join(map(repr, unknown))}; this operation takes "
            + (", ".join(sorted(known)) or "none"),
        )
    many = {p.alias for p in params if _is_sequence(p.field_info.annotation)}
    repeated = sorted(k for k in known - many if len(request.query_params.getlist(k)) > 1)
    if repeated:
        raise HTTPException(422, f"query parameter(s) given more than once: {', '.join(repeated)}")


def _is_sequence(annotation) -> bool:
    options = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else ()
    return any(
        get_origin(a) in (list, tuple, set, frozenset) or a in (list, tuple, set, frozenset)
        for a in (options or (annotation,))
    )


@asynccontextmanager
async def lifespan(app: FastAPI):
    yield
    await db.close()


app = FastAPI(
    title="finsync budget service",
    version="1.0",
    description=__doc__,
    lifespan=lifespan,
    responses={400: ERRORS[400], 401: ERRORS[401], 422: ERRORS[422]},
    dependencies=[Depends(known_query_only)],
)


@app.exception_handler(StarletteHTTPException)
async def http_error(request: Request, exc: StarletteHTTPException):
    """As FastAPI answers, but a 405's Allow header lists every method the path has (each
    route knows only its own)."""
    if exc.status_code == 405:
        allowed = set()
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


@app.post(
    "/budget/check",
    tags=["budget"],
    responses=ERRORS,
    response_model=CheckResponse,
    summary="Is there money for this purchase?",
)
async def check(who: Who, req: CheckRequest):
    customer_id = who.customer(req.customer_id)
    p = await db.pool()
    async with p.connection() as conn:
        return await money.check(conn, customer_id, req)


async def _move(
    operation: str, who: Principal, customer_id: str, key: str, body, action, created: bool = False
):
    """Run one money movement in one transaction, claiming the idempotency key first."""
    digest = money.request_digest(operation, body.model_dump(mode="json"))
    p = await db.pool()
    async with p.connection() as conn:
        try:
            async with conn.transaction():
                await money.claim_key(conn, customer_id, key, operation, digest)
                try:
                    # a savepoint: a refused movement leaves nothing behind but its outcome
                    async with conn.transaction():
                        result = await action(conn, customer_id, body, actor=who.name, key=key)
                    code = 201 if created else 200
                    out = ReservationResponse(**result).model_dump(mode="json")
                except HTTPException as exc:  # a business outcome: stored, replayed on retry
                    code, out = exc.status_code, {"detail": exc.detail}
                await money.store_outcome(conn, customer_id, key, code, out)
        except money.Replay as replay:
            metrics.booking(operation, replay.status_code, replay.body, replayed=True)
            return JSONResponse(
                replay.body,
                status_code=replay.status_code,
                headers={"Idempotent-Replayed": "true"},
            )
    metrics.booking(operation, code, out)
    return JSONResponse(out, status_code=code)


@app.post(
    "/budget/reserve",
    tags=["budget"],
    status_code=201,
    responses=ERRORS,
    response_model=ReservationResponse,
    summary="Reserve money against a budget",
)
async def reserve(who: Who, req: ReserveRequest, key: IdempotencyKey):
    async def action(conn, customer_id, body, **kw):
        return await money.book_new(conn, customer_id, body, status="reserved", **kw)

    return await _move("reserve", who, who.customer(req.customer_id), key, req, action, True)


@app.post(
    "/budget/commit",
    tags=["budget"],
    responses=ERRORS,
    response_model=ReservationResponse,
    summary="Commit a reservation, or commit directly against a budget",
)
async def commit(who: Who, req: CommitRequest, key: IdempotencyKey):
    if req.target is not None:

        async def direct(conn, customer_id, body, **kw):
            return await money.book_new(conn, customer_id, body.target, status="committed", **kw)

        customer_id = who.customer(req.target.customer_id)
        return await _move("commit", who, customer_id, key, req, direct, True)
    customer_id = who.customer(req.customer_id)
    return await _move("commit", who, customer_id, key, req, money.commit_reservation)


@app.post(
    "/budget/release",
    tags=["budget"],
    responses=ERRORS,
    response_model=ReservationResponse,
    summary="Release a reservation or commitment",
)
async def release(who: Who, req: ReleaseRequest, key: IdempotencyKey):
    return await _move("release", who, who.customer(req.customer_id), key, req, money.release)


def _include_routers() -> None:
    from finsync.api import onboarding, syncs, ui

    app.include_router(syncs.router)
    app.include_router(onboarding.router)
    app.include_router(ui.router)
    metrics.install(app)  # GET /metrics, GET /sync/stats, request timing


_include_routers()
