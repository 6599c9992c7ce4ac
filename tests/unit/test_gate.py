"""gate.py: one GX context per process, suites reused while their checks stay the same, and
no caller's frame kept alive by the shared context."""

from __future__ import annotations

import gc
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
