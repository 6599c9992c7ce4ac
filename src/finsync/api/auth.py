"""Who is asking: a finsync API token, or a signed-in Airflow user.

- finsync tokens (`fsk_…`, sent as `Authorization: Bearer fsk_…`) are 256-bit random secrets,
  stored only as their SHA-256. A `customer` token sees and moves one customer's budgets; an
  `admin` token also manages configs and sees every customer. Create them with
  `finsync tokens create`.
- Inside the Airflow API server, an Airflow user's JWT (the UI's session cookie or a bearer
  token) is accepted too; users allowed to trigger the `budget_sync` DAG act as admins. This is
  what the "Budget sync" page in the Airflow UI uses.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from finsync.api import db

TOKEN_PREFIX = "fsk_"
AIRFLOW_COOKIE = "_token"
bearer = HTTPBearer(auto_error=False, description="A finsync API token (fsk_…) or an Airflow JWT")


@dataclass(frozen=True)
class Principal:
    name: str
    scope: str  # customer | admin
    customer_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.scope == "admin"

    def customer(self, requested: str | None) -> str:
        """The customer this request acts for: a customer token's own, or the one an admin names."""
        if self.is_admin:
            if not requested:
                raise HTTPException(422, "customer_id is required with an admin token")
            return requested
        if requested and requested != self.customer_id:
            raise HTTPException(403, "this token may only act for its own customer")
        return self.customer_id

    def can_see(self, customer_id: str) -> bool:
        return self.is_admin or customer_id == self.customer_id


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_token(conn, *, name: str, scope: str, customer_id: str | None = None) -> str:
    """Store a new token's hash and return the token (shown once, never stored)."""
    if scope not in ("customer", "admin"):
        raise ValueError("scope must be customer or admin")
    if (scope == "customer") != bool(customer_id):
        raise ValueError("a customer token needs a customer id; an admin token takes none")
    token = new_token()
    conn.execute(
        "insert into budget_api_token (token_hash, name, scope, customer_id) "
        "values (%s, %s, %s, %s)",
        (hash_token(token), name, scope, customer_id),
    )
    return token


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )


async def _finsync_token(token: str) -> Principal:
    p = await db.pool()
    async with p.connection() as conn:
        cur = await conn.execute(
            "select name, scope, customer_id from budget_api_token "
            "where token_hash = %s and revoked_at is null",
            (hash_token(token),),
        )
        row = await cur.fetchone()
    if row is None:
        raise _unauthorized("unknown or revoked API token")
    return Principal(f"token:{row['name']}", row["scope"], row["customer_id"])


async def _airflow_user(token: str) -> Principal:
    """An Airflow JWT, checked by Airflow's own auth manager (only inside its API server)."""
    try:
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

        manager = get_auth_manager()
    except Exception:  # noqa: BLE001 - not running inside Airflow's API server
        raise _unauthorized("not a finsync API token") from None
    try:
        user = await manager.get_user_from_token(token)
    except Exception:  # noqa: BLE001 - expired or forged: the auth manager decides
        raise _unauthorized("invalid or expired Airflow session") from None
    if not manager.is_authorized_dag(method="PUT", details=DagDetails(id="budget_sync"), user=user):
        raise HTTPException(403, "this Airflow user may not manage the budget_sync DAG")
    return Principal(f"airflow:{user.get_name()}", "admin")


async def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is not None and credentials.scheme.lower() == "bearer":
        token = credentials.credentials
        if token.startswith(TOKEN_PREFIX):
            return await _finsync_token(token)
        return await _airflow_user(token)
    cookie = request.cookies.get(AIRFLOW_COOKIE)
    if cookie:
        return await _airflow_user(cookie)
    raise _unauthorized("authenticate with 'Authorization: Bearer <token>'")


async def admin(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if not who.is_admin:
        raise HTTPException(403, "this needs an admin token")
    return who


Who = Annotated[Principal, Depends(principal)]
Admin = Annotated[Principal, Depends(admin)]
