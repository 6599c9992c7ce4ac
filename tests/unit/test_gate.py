"""gate.py: one GX context per process, suites reused while their checks stay the same, and
no caller's frame kept alive by the shared context."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref

import pandas as pd

from finsync import gate
from finsync.gate import Check


def test_repeated_runs_reuse_the_context_and_rebuild_a_suite_whose_checks_change():
    frame = pd.DataFrame({"x": [1.0, None, 3.0], "k": [10, 11, 12]})
    (failure,) = gate.run("t_gate", frame, [Check("not_null", "x")], ["k"])
    assert failure.unexpected_count == 1 and [r["k"] for r in failure.unexpected_rows] == [11]
    assert gate._context() is gate._context()
    suite = gate._SUITES["t_gate"][1]
    assert gate.run("t_gate", frame.fillna(2.0), [Check("not_null", "x")], ["k"]) == []
    assert gate._SUITES["t_gate"][1] is suite  # same checks: same suite object
    # a check that varies per run (an expected row count) is never served stale
    assert gate.run("t_gate", frame, [Check("row_count", kwargs={"value": 3})], ["k"]) == []
    (failure,) = gate.run("t_gate", frame, [Check("row_count", kwargs={"value": 4})], ["k"])
    assert failure.expectation == "expect_table_row_count_to_equal" and failure.observed == 3


def test_a_validated_frame_is_not_kept_alive():
    frame = pd.DataFrame({"x": [1.0, None] * 50, "k": range(100)})
    alive = weakref.ref(frame)
    assert gate.run("t_gate_memory", frame, [Check("not_null", "x")], ["k"])
    del frame
    gc.collect()
    assert alive() is None


def test_modules_gx_imports_for_unused_expectations_load_only_when_used():
    """scipy.stats and altair (GX's KL-divergence and KS-test expectations) are placeholders
    after the context is built, and the real modules the moment something uses them, GX's
    own references included. In a fresh interpreter: this session may have imported them."""
    code = """
import sys
from finsync import gate
gate.prepare()
assert type(sys.modules["scipy.stats"]).__name__ == "_Deferred", sys.modules["scipy.stats"]
assert type(sys.modules["altair"]).__name__ == "_Deferred"
assert "scipy.stats._stats_py" not in sys.modules
from great_expectations.expectations.core import expect_column_kl_divergence_to_be_less_than as kl
assert kl.stats.entropy([0.5, 0.5], [0.5, 0.5]) == 0.0  # GX's reference: the real function
from scipy import stats
assert type(stats).__name__ == "module" and sys.modules["scipy.stats"] is stats
assert stats.entropy([0.25, 0.75], [0.25, 0.75]) == 0.0
import altair
assert altair.Chart is kl.alt.Chart
print("ok")
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]
