"""Which file a run takes: the newest matching file, unless it was already processed or is
still being written (rules 1 to 3 of the package docstring)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from finsync.budget.sources.base import BudgetSource, Choice, RemoteFile

log = logging.getLogger(__name__)


def explain_choice(
    files: Sequence[RemoteFile],
    *,
    already_seen: Callable[[RemoteFile], bool],
    settle_seconds: float,
    now: datetime,
) -> Choice:
    """Rules 1 to 3 of the package docstring (first look): the newest file, unless it was
    already processed or was modified less than `settle_seconds` before `now`."""
    if not files:
        return Choice(None, "no file matches the glob")
    newest = max(files, key=lambda f: (f.modified_at, f.name))
    if already_seen(newest):
        return Choice(None, f"the newest file {newest.name} was already processed: unchanged")
    age = (now - newest.modified_at).total_seconds()
    if age < settle_seconds and not newest.complete:
        return Choice(
            None,
            f"the newest file {newest.name} was modified {max(age, 0):.0f} s ago; "
            f"waiting until it is {settle_seconds:.0f} s old",
        )
    return Choice(newest, f"the newest file {newest.name} is new and settled")


def choose_file(
    files: Sequence[RemoteFile],
    *,
    already_seen: Callable[[RemoteFile], bool],
    settle_seconds: float,
    now: datetime,
) -> RemoteFile | None:
    """The file to take now, or None (the reason is logged; `explain_choice` returns it)."""
    choice = explain_choice(
        files, already_seen=already_seen, settle_seconds=settle_seconds, now=now
    )
    log.info("%s", choice.reason)
    return choice.file


def is_settled(
    source: BudgetSource,
    remote: RemoteFile,
    pause_seconds: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Rule 3, second look: after `pause_seconds`, the file must still be there with the same
    size and modified time; otherwise it is still being written and waits for the next poll.
    A `complete` file (an API's answer, pulled whole) is settled without a second look."""
    if remote.complete:
        return True
    sleep(pause_seconds)
    again = source.stat(remote.name)
    if again is None:
        log.info(
            "%s disappeared from %s; waiting for the next poll", remote.name, source.describe()
        )
        return False
    if (again.size, again.modified_at) != (remote.size, remote.modified_at):
        log.info(
            "%s is still changing (%d -> %d bytes); waiting for the next poll",
            remote.name,
            remote.size,
            again.size,
        )
        return False
    return True
