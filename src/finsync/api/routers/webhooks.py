"""Webhook endpoints of customers' configs and how their deliveries stand (docs/webhooks.md).
The endpoints themselves are config settings (`webhooks`, written through /sync/config)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from finsync.api import db
from finsync.api.dependencies import Who
from finsync.api.schemas import CustomerQuery, sync_errors
from finsync.budget import webhooks

router = APIRouter()


@router.get(
    "/sync/webhooks",
    tags=["sync"],
    responses=sync_errors(403),
    summary="Webhook endpoints with their last delivery try",
)
async def list_webhooks(who: Who, customer_id: CustomerQuery = None) -> list[dict[str, Any]]:
    """Each endpoint (scheme, host and path; never a query string), the Airflow connection
    holding its signing secret, the events it takes (null: all), its last try (event type,
    time, HTTP status, error) and how many events are pending or were given up after a day."""
    if not who.is_admin:
        customer_id = who.customer(customer_id)
    return webhooks.described(await db.rows(webhooks.ENDPOINTS_SQL, {"c": customer_id}))
