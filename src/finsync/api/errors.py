"""The budget service's domain errors: what went wrong, in business terms.

`money.py` and the run starter (`airflow_bridge.start_run`) raise these; they know nothing of
HTTP. `main.py` answers them with its one exception handler, through `answer()` below (the one
place a domain error becomes a status and a body). A refused money movement's answer is also
stored for its idempotent retries (`routers/budget.py`), from the same `answer()`.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """`detail`: a message for the caller (never a secret), or a dict of figures with one."""

    def __init__(self, detail: str | dict[str, Any]) -> None:
        super().__init__(detail)
        self.detail = detail


class Invalid(DomainError):
    """The request cannot be carried out as given (a period no calendar reads, an amount out
    of range, no FX rate, an idempotency key reused for another request)."""


class NotFound(DomainError):
    """No such budget, reservation or enabled source."""


class Conflict(DomainError):
    """What exists forbids it (a reservation's state, a budget removed by a sync)."""


class InsufficientFunds(Conflict):
    """Over budget under the customer's policy; `detail` carries the figures."""


class Unavailable(DomainError):
    """A part the service relies on (Airflow) cannot do it now."""


_STATUS: dict[type[DomainError], int] = {
    Invalid: 422,
    NotFound: 404,
    Conflict: 409,
    Unavailable: 503,
}


def answer(exc: DomainError) -> tuple[int, dict[str, Any]]:
    """The HTTP status and JSON body a domain error is answered with."""
    status = next(code for kind, code in _STATUS.items() if isinstance(exc, kind))
    return status, {"detail": exc.detail}
