"""Money: is there money for this purchase (check), and the three moves against a budget
(reserve, commit, release). The moves need an `Idempotency-Key` header: a retry with the same
key and body gets the first outcome again (header `Idempotent-Replayed: true`), never a second
booking. A refused move is answered like any domain error (`errors.answer`), and that answer
is stored for its retries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from finsync.api import db, metrics, money
from finsync.api.dependencies import Principal, Who
from finsync.api.errors import DomainError, answer
from finsync.api.schemas import (
    CheckRequest,
    CheckResponse,
    CommitRequest,
    ReleaseRequest,
    ReservationResponse,
    ReserveRequest,
    problems,
)

router = APIRouter()
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
ERRORS = problems(
    {
        400: "The body could not be read",
        401: "Not authenticated",
        403: "Not allowed for this token",
        404: "No such budget or reservation",
        409: "Over budget, or the reservation's state forbids it",
        422: "Invalid request",
    }
)
Action = Callable[..., Awaitable[dict[str, Any]]]


@router.post(
    "/budget/check",
    tags=["budget"],
    responses=ERRORS,
    response_model=CheckResponse,
    summary="Is there money for this purchase?",
)
async def check(who: Who, req: CheckRequest) -> dict[str, Any]:
    customer_id = who.customer(req.customer_id)
    p = await db.pool()
    async with p.connection() as conn:
        return await money.check(conn, customer_id, req)


async def _move(
    operation: str,
    who: Principal,
    customer_id: str,
    key: str,
    body: BaseModel,
    action: Action,
    created: bool = False,
) -> JSONResponse:
    """Run one money movement in one transaction, claiming the idempotency key first."""
    digest = money.request_digest(operation, body.model_dump(mode="json"))
    refused: DomainError | None = None
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
                except DomainError as exc:  # a business outcome: stored, replayed on retry
                    refused = exc
                    code, out = answer(exc)
                await money.store_outcome(conn, customer_id, key, code, out)
        except money.Replay as replay:
            metrics.booking(operation, replay.status_code, replay.body, replayed=True)
            return JSONResponse(
                replay.body,
                status_code=replay.status_code,
                headers={"Idempotent-Replayed": "true"},
            )
    metrics.booking(operation, code, out)
    if refused is not None:
        raise refused  # answered by main.py's handler, as stored
    return JSONResponse(out, status_code=code)


@router.post(
    "/budget/reserve",
    tags=["budget"],
    status_code=201,
    responses=ERRORS,
    response_model=ReservationResponse,
    summary="Reserve money against a budget",
)
async def reserve(who: Who, req: ReserveRequest, key: IdempotencyKey) -> JSONResponse:
    async def action(
        conn: db.Conn, customer_id: str, body: ReserveRequest, **kw: Any
    ) -> dict[str, Any]:
        return await money.book_new(conn, customer_id, body, status="reserved", **kw)

    return await _move("reserve", who, who.customer(req.customer_id), key, req, action, True)


@router.post(
    "/budget/commit",
    tags=["budget"],
    responses=ERRORS,
    response_model=ReservationResponse,
    summary="Commit a reservation, or commit directly against a budget",
)
async def commit(who: Who, req: CommitRequest, key: IdempotencyKey) -> JSONResponse:
    target = req.target
    if target is not None:

        async def direct(
            conn: db.Conn, customer_id: str, body: CommitRequest, **kw: Any
        ) -> dict[str, Any]:
            return await money.book_new(conn, customer_id, target, status="committed", **kw)

        customer_id = who.customer(target.customer_id)
        return await _move("commit", who, customer_id, key, req, direct, True)
    customer_id = who.customer(req.customer_id)
    return await _move("commit", who, customer_id, key, req, money.commit_reservation)


@router.post(
    "/budget/release",
    tags=["budget"],
    responses=ERRORS,
    response_model=ReservationResponse,
    summary="Release a reservation or commitment",
)
async def release(who: Who, req: ReleaseRequest, key: IdempotencyKey) -> JSONResponse:
    return await _move("release", who, who.customer(req.customer_id), key, req, money.release)
