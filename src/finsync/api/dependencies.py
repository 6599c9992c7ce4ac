"""The service's dependencies: who is asking (a finsync API token, or a signed-in Airflow
user), and the query-parameter check every operation gets.

- finsync tokens (`fsk_…`, sent as `Authorization: Bearer fsk_…`) are 256-bit random secrets,
  stored only as their SHA-256. A `customer` token sees and moves one customer's budgets; an
  `admin` token also manages configs and sees every customer. Create them with
  `finsync tokens create`.
- Inside the Airflow API server, an Airflow user's JWT (the UI's session cookie or a bearer
  token) is accepted too; users allowed to trigger the `budget_sync` DAG act as admins. This is
  what the "Budget sync" page in the Airflow UI uses: it is shown in a same-origin iframe, so its
  fetches carry the UI's `_token` cookie (HttpOnly, path `/`, set by Airflow's login).
- Only credentials the caller presented count. With `[core] simple_auth_manager_all_admins`
  (the local setup), Airflow's `SimpleAllAdminMiddleware` appends an anonymous admin's
  `Authorization: Bearer` header to every request the API server receives, this service's
  included; that header is not the caller's and is ignored, so a request without a credential
  gets 401 here too (the page then signs in through Airflow's login, which sets the cookie).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import psycopg
from fastapi import Depends, HTTPException, Request, status
from fastapi.dependencies.utils import get_flat_dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from finsync.api import db

URL_PREFIX = "/finsync"  # where Airflow's API server mounts the service (the plugin)
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
        if self.customer_id is None:  # (the table's check: a customer token names its customer)
            raise HTTPException(403, "this token names no customer")
        return self.customer_id

    def can_see(self, customer_id: str) -> bool:
        return self.is_admin or customer_id == self.customer_id


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_token(
    conn: psycopg.Connection[Any], *, name: str, scope: str, customer_id: str | None = None
) -> str:
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


def mounted_in_airflow(request: Request) -> bool:
    """Is this request served by Airflow's API server (the app mounted at URL_PREFIX), rather
    than by the app on its own (`finsync api serve`)?"""
    return str(request.scope.get("root_path", "")).endswith(URL_PREFIX)


def _adds_anonymous_admin(request: Request) -> bool:
    """Did Airflow's API server append an anonymous admin's Authorization header to this
    request? It does to every request (mounted apps included) when its auth manager registers
    `SimpleAllAdminMiddleware` (SimpleAuthManager with `simple_auth_manager_all_admins`)."""
    if not mounted_in_airflow(request):
        return False  # not mounted in Airflow's API server (e.g. the app served on its own)
    try:
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.auth.managers.simple.middleware import SimpleAllAdminMiddleware

        middlewares = get_auth_manager().get_fastapi_middlewares()
    except Exception:  # noqa: BLE001 - another auth manager, or no Airflow here
        return False
    return any(cls is SimpleAllAdminMiddleware for cls, _ in middlewares)


def presented_bearer(request: Request) -> str | None:
    """The bearer token the caller sent, if any. The all-admins middleware appends its header
    after the client's (`request.scope["headers"].append`), so the last one is dropped then."""
    values = [v for k, v in request.scope.get("headers", ()) if k == b"authorization"]
    if values and _adds_anonymous_admin(request):
        values.pop()
    if not values:
        return None
    scheme, _, token = values[0].decode("latin-1").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


async def principal(
    request: Request,
    # Declares the bearer scheme in the OpenAPI schema; the token itself is read by
    # presented_bearer(), which tells the caller's header from one Airflow added.
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    token = presented_bearer(request)
    if token is not None:
        if token.startswith(TOKEN_PREFIX):
            return await _finsync_token(token)
        return await _airflow_user(token)
    cookie = request.cookies.get(AIRFLOW_COOKIE)
    if cookie:
        return await _airflow_user(cookie)
    raise _unauthorized(
        "authenticate with 'Authorization: Bearer <token>', or sign in to Airflow's UI"
    )


async def admin(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if not who.is_admin:
        raise HTTPException(403, "this needs an admin token")
    return who


Who = Annotated[Principal, Depends(principal)]
Admin = Annotated[Principal, Depends(admin)]


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


def _is_sequence(annotation: Any) -> bool:
    options = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else ()
    return any(
        get_origin(a) in (list, tuple, set, frozenset) or a in (list, tuple, set, frozenset)
        for a in (options or (annotation,))
    )
