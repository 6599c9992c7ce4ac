"""Great Expectations gates: suites defined in code, next to what they guard.

`validate(name, frame, expectations)` runs one suite on a pandas frame and raises GateError
with a readable message (the expectation, the column, how many rows, a sample of keys and
values) when any expectation fails. Nothing is published after a failed gate.
`great_expectations` is imported here, inside the task, never at DAG parse time.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import logging
import os
import sys
import threading
import types
from dataclasses import dataclass, field
from functools import cache
from typing import Any

log = logging.getLogger(__name__)
SAMPLE = 10


@dataclass(frozen=True)
class Check:
    """One expectation: `kind` is the GX class name's snake-case form, e.g. 'be_unique'."""

    kind: str
    column: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class GateFailure:
    suite: str
    expectation: str
    column: str | None
    unexpected_count: int | None
    sample: list[Any]
    observed: Any = None
    # Every failing row's key columns and value (GX's COMPLETE unexpected_index_list), not
    # capped like `sample`: for gates that report each rejected row.
    unexpected_rows: list[Any] = field(default_factory=list)

    def describe(self) -> str:
        where = f" on {self.column}" if self.column else ""
        if self.unexpected_count is None:
            return f"[{self.suite}] {self.expectation}{where}: observed {self.observed!r}"
        sample = "; ".join(str(s) for s in self.sample[:SAMPLE])
        return (
            f"[{self.suite}] {self.expectation}{where}: {self.unexpected_count} row(s) fail, "
            f"e.g. {sample}"
        )


class GateError(RuntimeError):
    def __init__(self, failures: list[GateFailure]):
        self.failures = failures
        lines = "\n".join(f"  - {f.describe()}" for f in failures)
        super().__init__(
            f"Great Expectations gate failed ({len(failures)} expectation(s)); nothing was "
            f"published:\n{lines}"
        )


_KINDS = {
    "not_null": "ExpectColumnValuesToNotBeNull",
    "unique": "ExpectColumnValuesToBeUnique",
    "compound_unique": "ExpectCompoundColumnsToBeUnique",
    "between": "ExpectColumnValuesToBeBetween",
    "in_set": "ExpectColumnValuesToBeInSet",
    "row_count": "ExpectTableRowCountToEqual",
    "match_regex": "ExpectColumnValuesToMatchRegex",
}


_LOCK = threading.RLock()
_SUITES: dict[str, tuple[str, Any]] = {}  # suite name -> (its checks, ExpectationSuite)
_SOURCES: dict[str, tuple[Any, Any]] = {}  # suite name -> (datasource, batch definition)


# Modules GX imports at module level only for expectations finsync never runs (the KL
# divergence and KS-test expectations: scipy.stats; their charts: altair): about 1.5 s of
# CPU of GX's 2-3 s import. Until something uses them they are placeholders that import the
# real module at the first attribute looked up (_Deferred), so GX behaves the same.
DEFERRED_MODULES = ("scipy.stats", "altair")


class _Deferred(types.ModuleType):
    """Stands in for a module until an attribute of it is used, then imports the real one."""

    def __getattr__(self, attr: str):
        return getattr(_load_deferred(self), attr)


def _load_deferred(stub: _Deferred) -> types.ModuleType:
    with _LOCK:
        name = stub.__name__
        if sys.modules.get(name) is stub:
            del sys.modules[name]
        real = importlib.import_module(name)
        # whoever holds the placeholder (GX's module globals) now reads the real attributes
        stub.__dict__.update(real.__dict__)
        return real


def _defer_unused_modules() -> None:
    """Placeholders for DEFERRED_MODULES that are not imported yet (and exist)."""
    for name in DEFERRED_MODULES:
        if name in sys.modules:
            continue
        parent, _, child = name.rpartition(".")
        try:
            if importlib.util.find_spec(name) is None:
                continue
        except (ImportError, ValueError):  # pragma: no cover - a broken optional package
            continue
        stub = _Deferred(name)
        stub.__spec__ = importlib.machinery.ModuleSpec(name, None)
        sys.modules[name] = stub
        if parent:  # `from scipy import stats` finds it on the package
            setattr(sys.modules[parent], child, stub)


def _context():
    """GX and one ephemeral context per process: `import great_expectations` is the gate's
    whole cold cost (2-3 s); a long-lived worker pays it once, not on every run."""
    with _LOCK:
        return _new_context()


@cache
def _new_context():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    _defer_unused_modules()
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except (ImportError, AttributeError):  # pragma: no cover - older/newer GX layouts
        pass
    return gx, context


def prepare() -> None:
    """Import GX and build the context now (for callers that time it as its own step)."""
    _context()


def _suite(gx, suite_name: str, checks: list[Check]):
    """The suite's ExpectationSuite, built once per process while its checks stay the same
    (a suite whose checks vary per run, e.g. an expected row count, is rebuilt)."""
    key = json.dumps([(c.kind, c.column, c.kwargs) for c in checks], sort_keys=True, default=str)
    cached = _SUITES.get(suite_name)
    if cached is not None and cached[0] == key:
        return cached[1]
    suite = gx.ExpectationSuite(name=suite_name)
    for check in checks:
        cls = getattr(gx.expectations, _KINDS[check.kind])
        args = dict(check.kwargs)
        if check.column is not None:
            args["column"] = check.column
        suite.add_expectation(cls(**args))
    _SUITES[suite_name] = (key, suite)
    return suite


def _batch_definition(context, suite_name: str):
    """The suite's in-memory datasource and whole-dataframe batch definition (once)."""
    if suite_name not in _SOURCES:
        source = context.data_sources.add_pandas(f"finsync_{suite_name}")
        asset = source.add_dataframe_asset(suite_name)
        _SOURCES[suite_name] = (source, asset.add_batch_definition_whole_dataframe("run"))
    return _SOURCES[suite_name]


def run(suite_name: str, frame, checks: list[Check], key_columns: list[str]) -> list[GateFailure]:
    """Validate `frame` against `checks`; the failures (empty when the gate passes)."""
    gx, context = _context()
    from great_expectations.validator.v1_validator import Validator

    with _LOCK:  # the context is shared by the process
        suite = _suite(gx, suite_name, checks)
        source, batch_definition = _batch_definition(context, suite_name)
        try:
            # One batch load (Batch.validate would load and fingerprint the frame twice).
            validator = Validator(
                batch_definition=batch_definition,
                batch_parameters={"dataframe": frame},
                result_format={
                    "result_format": "COMPLETE",
                    "unexpected_index_column_names": key_columns,
                    "partial_unexpected_count": SAMPLE,
                },
            )
            result = validator.validate_expectation_suite(suite)
        finally:
            # the engine caches the last batch: never keep a caller's frame alive
            manager = source.get_execution_engine().batch_manager
            manager.batch_data_cache.clear()
            manager.reset_batch_cache()
    failures = []
    for res in result.results:
        if res.success:
            continue
        config = res.expectation_config
        if config is None:  # (GX gives every result of a suite its expectation)
            raise RuntimeError("a Great Expectations result without its expectation")
        details = res.result or {}
        sample = (
            details.get("unexpected_index_list") or details.get("partial_unexpected_list") or []
        )
        failures.append(
            GateFailure(
                suite=suite_name,
                expectation=config.type,
                column=config.kwargs.get("column") or config.kwargs.get("column_list"),
                unexpected_count=details.get("unexpected_count"),
                sample=[_plain(s) for s in sample[:SAMPLE]],
                observed=_plain(details.get("observed_value")),
                unexpected_rows=[_plain(s) for s in details.get("unexpected_index_list") or []],
            )
        )
    log.info(
        "gate %s: %d expectation(s) on %d row(s), %d failed",
        suite_name,
        len(checks),
        len(frame),
        len(failures),
    )
    return failures


def _plain(value: Any) -> Any:
    """numpy scalars and dicts of them as plain Python, for messages and XCom."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "item"):
        return value.item()
    return value
