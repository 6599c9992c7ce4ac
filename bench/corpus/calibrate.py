#!/usr/bin/env python3
"""Fit the mapper's confidence (mapping.CALIBRATION) on a generated training corpus.

For every budget field of every file of the corpus (make_corpus.py with a seed other than
bench/analyze_corpus' evaluation seed), the mapper's evidence (FieldMatch.score and
runner_up) and whether the choice is the analyst's (bench/analyze_corpus' reading of the
MANIFEST). A logistic regression with a small ridge penalty (the corpus is nearly separable)
gives the weights; paste them into mapping.CALIBRATION and check them with
bench/analyze_corpus (a different seed, and the real samples).

    .venv/bin/python bench/corpus/calibrate.py [--seed 7] [--per-template 5]
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from importlib.machinery import SourceFileLoader
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_corpus import make_corpus  # noqa: E402

from finsync.budget.mapping import GAP_CAP, map_columns  # noqa: E402
from finsync.budget.model import FIELDS, BudgetFileError  # noqa: E402
from finsync.budget.read import parse_file  # noqa: E402

bench = SourceFileLoader("analyze_corpus", str(ROOT / "bench" / "analyze_corpus")).load_module()


def observations(folder: Path) -> tuple[list, list]:
    """(chosen, none): rows of (features, right) for chosen columns and for no column."""
    chosen, none = [], []
    with (folder / "MANIFEST.tsv").open(encoding="utf-8") as handle:
        entries = [e for e in csv.DictReader(handle, delimiter="\t") if e["kind"] == "budget"]
    for entry in entries:
        try:
            parsed = parse_file(folder / entry["saved_name"])
        except BudgetFileError:
            continue
        mapping = map_columns(parsed)
        result = {
            "layout": parsed.layout,
            "period_columns": list(parsed.period_columns),
            "mapping": mapping.as_json(),
            "warnings": list(parsed.warnings),
            "_columns": [str(c) for c in parsed.frame.columns],
        }
        expected = bench.parse_mapping(entry["notes"])
        for field in FIELDS:
            match = mapping.fields[field]
            evidence = match.evidence
            if not evidence:  # wide periods and amounts, fiscal_year not needed
                continue
            exp = expected.get(field, bench.Expected("none", text="(not given)"))
            right = bench.is_right(exp, field, result, lenient=True)
            if match.column is None:
                none.append(([1.0, (evidence["runner_up"] - 50) / 10], right))
            else:
                gap = min(max(evidence["score"] - evidence["runner_up"], 0.0), GAP_CAP)
                features = [
                    1.0,
                    (evidence["score"] - 80) / 10,
                    gap / 10,
                    evidence["levels"],
                    evidence.get("named", 0.0),
                ]
                chosen.append((features, right))
    return chosen, none


def fit(rows: list, ridge: float = 1.0) -> np.ndarray:
    """Logistic regression by Newton's method, L2 penalty on the slopes (not the intercept).
    One right and one wrong pseudo-observation at the mean features (add-one smoothing): a
    corpus where every such choice was right says 'very likely', never 'certain'."""
    mean = np.mean([r[0] for r in rows], axis=0).tolist()
    rows = [*rows, (mean, True), (mean, False)]
    x = np.array([r[0] for r in rows], dtype=float)
    y = np.array([r[1] for r in rows], dtype=float)
    w = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], ridge)
    penalty[0] = 1e-3
    for _ in range(50):
        p = 1 / (1 + np.exp(-x @ w))
        gradient = x.T @ (p - y) + penalty * w
        hessian = (x.T * (p * (1 - p))) @ x + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--per-template", type=int, default=5)
    parser.add_argument("--ridge", type=float, default=1.0)
    parser.add_argument(
        "--noise",
        type=float,
        default=0.5,
        help="share of files with one mapped header blurred (teaches what values alone are worth)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="finsync_calibrate_") as tmp:
        folder = Path(tmp)
        make_corpus(folder, seed=args.seed, per_template=args.per_template, noise=args.noise)
        chosen, none = observations(folder)
    a = fit(chosen, args.ridge)
    b = fit(none, args.ridge)
    print(
        f"{len(chosen)} chosen columns ({sum(r for _, r in chosen)} right), "
        f"{len(none)} fields without a column ({sum(r for _, r in none)} right)"
    )
    print("CALIBRATION = {")
    print(
        f'    "chosen": {{"intercept": {a[0]:.2f}, "per_10_points": {a[1]:.2f}, '
        f'"per_10_gap": {a[2]:.2f}, "levels": {a[3]:.2f}, "named": {a[4]:.2f}}},'
    )
    print(f'    "none": {{"intercept": {b[0]:.2f}, "per_10_points": {b[1]:.2f}}},')
    print("}")


if __name__ == "__main__":
    main()
