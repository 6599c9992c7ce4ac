"""The source types: `SOURCES` maps each `source_type` to its class, and is the one place a
new type is registered (its module plus one entry here). `SOURCE_TYPES` and the required
keys per type are derived from it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from finsync.budget.sources.anaplan import AnaplanSource
from finsync.budget.sources.base import BudgetSource, SourceConfigError, globs_of
from finsync.budget.sources.checks import config_problems, missing_keys, refuse_credentials
from finsync.budget.sources.google_sheets import GoogleSheetsSource
from finsync.budget.sources.http import HttpSource
from finsync.budget.sources.local import LocalSource, UploadSource
from finsync.budget.sources.s3 import S3Source
from finsync.budget.sources.sftp import SFTPSource

SOURCES: dict[str, type[BudgetSource]] = {
    "local": LocalSource,
    "upload": UploadSource,
    "sftp": SFTPSource,
    "s3": S3Source,
    "google_sheets": GoogleSheetsSource,
    "anaplan": AnaplanSource,
    "http": HttpSource,
}
SOURCE_TYPES = tuple(SOURCES)
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {t: cls.required_keys for t, cls in SOURCES.items()}


def validate_source_config(source_type: str, source_config: Mapping[str, Any]) -> None:
    """Refuse a `source_config` that holds a credential (any key that looks like one, at any
    depth, or a value carrying one), lacks a required key for its type, or has a known key of
    the wrong type. Raises SourceConfigError naming the keys, never their values."""
    if source_type not in SOURCES:
        raise SourceConfigError(
            f"source_type must be one of {', '.join(SOURCE_TYPES)}, got {source_type!r}"
        )
    if not isinstance(source_config, Mapping):
        raise SourceConfigError(f"source_config of a {source_type} source must be an object")
    refuse_credentials(source_type, source_config)
    source_class = SOURCES[source_type]
    problems = missing_keys(source_config, source_class.required_keys)
    problems += config_problems(source_config)
    problems += source_class.config_problems(source_config)
    if problems:
        raise SourceConfigError(
            f"source_config of a {source_type} source is not usable: {'; '.join(problems)}"
        )


def build_source(
    customer_id: str, source_type: str, source_config: Mapping[str, Any]
) -> BudgetSource:
    """The source a config row describes (validated first: SourceConfigError if unusable)."""
    validate_source_config(source_type, source_config)
    return SOURCES[source_type].from_config(customer_id, source_config, globs_of(source_config))
