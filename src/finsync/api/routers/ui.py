"""The "Budget sync" page shown inside the Airflow UI (an external view of the plugin)."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from finsync.api.schemas import CUSTOMER_ID, DEFAULT_FREQUENCY
from finsync.budget.settings import FREQUENCIES

router = APIRouter()
PAGE = Path(__file__).parent.parent / "static" / "budget_sync.html"
_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def _frequency_label(name: str) -> str:
    return name.replace("_", " ")  # every_4_hours: "every 4 hours"


def _with_frequencies(page: str) -> str:
    """The page with budget/settings.py's frequencies: the onboarding form's choices and the
    labels its script shows (so a frequency added there appears here with no edit)."""
    options = "".join(
        f'<option value="{html.escape(name)}"'
        + (" selected" if name == DEFAULT_FREQUENCY else "")
        + f">{html.escape(_frequency_label(name))}"
        + (" (Refresh now only)" if every is None else "")
        + "</option>"
        for name, every in FREQUENCIES.items()
    )
    labels = json.dumps({name: _frequency_label(name) for name in FREQUENCIES})
    return page.replace("<!--frequency-options-->", options).replace(
        "{/*frequency-labels*/}", labels
    )


def _policy(html: str) -> str:
    """Content-Security-Policy: only the page's own inline script runs (by hash), so nothing
    inserted into it could; it talks to its own origin only; only Airflow's UI (same origin)
    may frame it."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in _SCRIPT.findall(html)
    )
    return (
        f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; frame-ancestors 'self'; base-uri 'none'; "
        "form-action 'self'"
    )


@router.get("/ui/", response_class=HTMLResponse, include_in_schema=False)
async def page(
    customer: Annotated[
        str | None, Query(pattern=CUSTOMER_ID, description="The customer shown in detail")
    ] = None,
) -> HTMLResponse:
    """The page holds no data (its script reads /sync/* with the caller's credentials), so it
    is served to anyone; `customer` (deep links such as ?customer=acme) is read by the script."""
    text = _with_frequencies(PAGE.read_text(encoding="utf-8"))
    return HTMLResponse(
        text,
        headers={
            "Content-Security-Policy": _policy(text),
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        },
    )
