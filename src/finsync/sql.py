"""Load the numbered SQL files under include/sql and run them with bound parameters."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from finsync import SQL_DIR

_NUMBERED = re.compile(r"^(\d+)_[a-z0-9_]+\.sql$")


def sql_path(area: str, name: str) -> Path:
    path = SQL_DIR / area / name
    if not path.is_file():
        raise FileNotFoundError(f"SQL file {path} does not exist")
    return path


@cache
def load(area: str, name: str) -> str:
    """The text of include/sql/<area>/<name>."""
    return sql_path(area, name).read_text(encoding="utf-8")


def numbered_files(area: str) -> list[Path]:
    """The numbered SQL files of an area in the order they run (by their number)."""
    numbered = [
        (int(m.group(1)), p.name, p)
        for p in (SQL_DIR / area).glob("*.sql")
        if (m := _NUMBERED.match(p.name))
    ]
    return [p for *_, p in sorted(numbered)]
