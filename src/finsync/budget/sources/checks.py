"""Checks every `source_config` gets, whatever its type: no credentials at any depth, and
the right type for the keys the sources share. `registry.validate_source_config` adds the
type's required keys and its own checks."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from finsync.budget.sources.base import SourceConfigError

# A key whose name looks like a credential (compared lowercased, '-' as '_').
_CREDENTIAL_KEY = re.compile(
    r"^pass$|pass(word|wd|phrase)|pwd|secret|token|credential|private_?key|api_?key"
    r"|access_?key|key_?file|ssh_?key|session_?key|^auth"
)
# A value carrying one: a URL with user:password@, or a PEM/OpenSSH key.
_CREDENTIAL_VALUE = re.compile(r"://[^/\s:@]+:[^/\s@]+@|-----BEGIN [A-Z ]*KEY-----")


def refuse_credentials(source_type: str, source_config: Mapping[str, Any]) -> None:
    """SourceConfigError naming every key that holds a credential (never its value)."""
    credentials = sorted(_credential_keys(source_config))
    if credentials:
        raise SourceConfigError(
            f"source_config of a {source_type} source must not hold credentials (found: "
            f"{', '.join(credentials)}). Put them in an Airflow connection and name it with "
            "conn_id."
        )


def _credential_keys(config: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Paths of keys that look like credentials, or whose string value carries one."""
    for key, value in config.items():
        path = f"{prefix}{key}"
        if _CREDENTIAL_KEY.search(str(key).lower().replace("-", "_")):
            yield path
        elif isinstance(value, str) and _CREDENTIAL_VALUE.search(value):
            yield path
        elif isinstance(value, Mapping):
            yield from _credential_keys(value, f"{path}.")


def missing_keys(source_config: Mapping[str, Any], required: tuple[str, ...]) -> list[str]:
    """`<key> is required` for each required key that is absent or blank."""
    return [f"{key} is required" for key in required if not nonempty_str(source_config.get(key))]


def config_problems(config: Mapping[str, Any]) -> list[str]:
    """Wrong types for the keys any source may carry (folders, globs, reading options)."""
    problems = []
    for key in ("conn_id", "path", "bucket", "prefix"):
        if key in config and not isinstance(config[key], str):
            problems.append(f"{key} must be a string")
    if "bucket" in config and "/" in str(config["bucket"]):
        problems.append("bucket must be a bucket name (put folders in prefix)")
    if "glob" in config and not _globs_ok(config["glob"]):
        problems.append("glob must be a non-empty pattern or a list of them")
    if "settle_seconds" in config and not int_at_least(config["settle_seconds"], 0):
        problems.append("settle_seconds must be a whole number >= 0")
    if "header_row" in config and not int_at_least(config["header_row"], 1):
        problems.append("header_row must be a whole number >= 1 (rows count from 1)")
    if "sheet" in config and not isinstance(config["sheet"], str | int):
        problems.append("sheet must be a sheet name or a 0-based index")
    if "scenario" in config and not nonempty_str(config["scenario"]):
        problems.append("scenario must name the scenario or version to import (e.g. Budget)")
    if "duplicates" in config and config["duplicates"] not in ("reject", "sum"):
        problems.append("duplicates must be 'reject' (the default) or 'sum'")
    return problems


def nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def int_at_least(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _globs_ok(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    return isinstance(value, list | tuple) and bool(value) and all(nonempty_str(v) for v in value)
