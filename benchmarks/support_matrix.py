"""Measure the support matrix and write ``docs/support-matrix.md``.

Exports every case of :mod:`exporters.support_cases` (each estimator, transformer and pipeline shape)
and of :mod:`exporters.support_matrix` (estimators composed with ColumnTransformer / DataFrameMapper
in Pipeline / PMMLPipeline), with the default ``require="any"``, and records for each artifact whether
it shipped and, if not, why (the manifest's ``excluded``); for each shipped artifact, its largest
difference from the native pipeline and its label agreement on the clean, missing and unseen
verification rows, scored again with its runtime. Refresh after changing a converter or a pinned
library::

    python benchmarks/support_matrix.py            # writes docs/support-matrix.md (~15-25 minutes)
    python benchmarks/support_matrix.py --out -    # print instead
    python benchmarks/support_matrix.py --only xgboost-dart,linear-svc --out -
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from exporters import export_bundle  # noqa: E402
from exporters.fidelity import DEFAULT_TOLERANCE  # noqa: E402
from exporters.support_cases import coverage_cases  # noqa: E402
from exporters.support_cases import train as train_coverage  # noqa: E402
from exporters.support_matrix import ROW_GROUPS, agreement_by_kind, cases  # noqa: E402
from exporters.support_matrix import train as train_composition  # noqa: E402
from scorebridge.errors import ExportError  # noqa: E402

ARTIFACTS = ("pmml", "onnx", "xgboost", "pypmml")
_HEADERS = {"pmml": "PMML (JPMML)", "onnx": "ONNX (ONNX Runtime)", "xgboost": "XGBoost fast path",
            "pypmml": "pypmml (reported)"}


def _all_cases() -> list[dict[str, Any]]:
    out = [{"id": c.id, "name": c.id, "group": c.group, "estimator": c.estimator, "steps": c.steps,
            "train": train_coverage, "case": c, "ships": c.ships} for c in coverage_cases()]
    for c in cases():
        out.append({"id": c.id, "name": re.sub(r"[^A-Za-z0-9_.-]", "-", c.id),
                    "group": f"compositions ({c.composition}, {c.wrapper})", "estimator": c.estimator,
                    "steps": c.steps, "train": train_composition, "case": c, "ships": ("pmml", "onnx")})
    return out


def _num(value: float) -> str:
    return "NaN" if value == float("inf") else f"{value:.2g}"


def _shipped_cell(groups: dict[str, dict[str, float]]) -> str:
    """``✓ clean / missing / unseen`` max differences, then the worst label agreement."""
    diffs = " / ".join(_num(groups[g]["max_diff"]) if g in groups else "–" for g in ROW_GROUPS)
    labels = [g["labels"] for g in groups.values() if "labels" in g]
    return f"✓ {diffs}" + (f" ({min(labels):.0%})" if labels else "")


def _excluded_cell(entry: dict[str, Any], report: dict[str, Any] | None) -> str:
    reason = entry.get("reason")
    if reason == "not_applicable" or reason == "not_requested":
        return "–"
    if reason == "fidelity":
        diff = entry.get("max_rel_diff", entry.get("max_abs_diff"))
        worst = ", ".join(entry.get("worst_rows") or [])
        if diff is None or diff != diff or diff <= entry.get("tolerance", 0):  # NaN outputs or flipped labels
            flips = entry.get("label_mismatches_beyond_margin") or 0
            what = f"{flips} label(s) flipped" if flips else "no value (NaN)"
            return f"✗ disagrees: {what} on {worst}"
        return f"✗ disagrees: {_num(diff)} over tolerance ({worst})"
    text = f"{entry.get('converter') or ''} {entry.get('message', '')}".strip()
    text = text.replace("|", "\\|").replace("\n", " ")
    return f"✗ {reason}: {text[:110]}{'…' if len(text) > 110 else ''}"


def _reported_cell(report: dict[str, Any] | None, task: str) -> str:
    if not report:
        return "–"
    if "error" in report:
        return "error: " + report["error"][:60].replace("|", "\\|")
    diff = report.get("max_rel_diff", report.get("max_abs_diff"))
    text = _num(diff) if diff is not None else "?"
    if "label_agreement" in report:
        text += f" ({report['label_agreement']:.0%})"
    return text + ("" if report.get("passed") else " (differs)")


def measure_case(item: dict[str, Any], repo: Path) -> dict[str, Any]:
    """Export one case; per artifact: shipped (with per-kind agreement) or excluded (with the reason)."""
    pipeline, sample = item["train"](item["case"])
    row: dict[str, Any] = {"id": item["id"], "group": item["group"], "estimator": item["estimator"],
                           "steps": item["steps"], "expected": item["ships"], "cells": {}, "shipped": []}
    try:
        bundle = export_bundle(pipeline, sample, name=item["name"], repo=repo, target="y")
    except ExportError as exc:
        manifest = {"excluded": exc.excluded, "fidelity": exc.fidelity}
        bundle = None
    else:
        manifest = bundle.manifest
    fidelity = manifest.get("fidelity") or {}
    for fmt in ("pmml", "onnx", "xgboost"):
        if bundle is not None and fmt not in manifest.get("excluded", {}) and fmt in manifest:
            row["cells"][fmt] = _shipped_cell(agreement_by_kind(bundle, fmt))
            row["shipped"].append(fmt)
        else:
            row["cells"][fmt] = _excluded_cell(manifest.get("excluded", {}).get(fmt, {"reason": "not_applicable"}),
                                               fidelity.get(fmt))
    row["cells"]["pypmml"] = _reported_cell(fidelity.get("pypmml"), row.get("task", ""))
    return row


def measure(only: set[str] | None = None) -> tuple[list[dict[str, Any]], float, dict[str, str]]:
    """Export every case (or those in ``only``) into a temporary repository."""
    logging.getLogger("exporters").setLevel(logging.ERROR)
    started = time.perf_counter()
    rows, libraries = [], {}
    with tempfile.TemporaryDirectory(prefix="support-matrix-") as tmp:
        for item in _all_cases():
            if only and item["id"] not in only:
                continue
            try:
                row = measure_case(item, Path(tmp))
            except Exception as exc:  # a case the exporter cannot even start on is a finding, not a crash
                row = {"id": item["id"], "group": item["group"], "estimator": item["estimator"],
                       "steps": item["steps"], "expected": item["ships"], "shipped": [],
                       "cells": {a: f"✗ export failed: {type(exc).__name__}: {str(exc)[:100]}" for a in ARTIFACTS}}
            rows.append(row)
            print(f"{row['id']}: {', '.join(row['shipped']) or 'nothing'}", file=sys.stderr, flush=True)
        if not libraries:
            from exporters import _libraries

            libraries = _libraries()
    return rows, time.perf_counter() - started, libraries


def summary(rows: list[dict[str, Any]]) -> list[str]:
    """Counts: cases, how many ship each artifact combination, and the cases short of their expectation."""
    combos = Counter(" + ".join(r["shipped"]) or "nothing" for r in rows)
    lines = [f"{len(rows)} cases; {sum(bool(r['shipped']) for r in rows)} export at least one faithful artifact."]
    lines += [f"- {combo}: {n}" for combo, n in sorted(combos.items(), key=lambda kv: -kv[1])]
    short = [r["id"] for r in rows if not set(r["expected"]) <= set(r["shipped"])]
    if short:
        lines.append(f"- short of the artifacts they are expected to ship: {', '.join(short)}")
    return lines


def render(rows: list[dict[str, Any]], seconds: float, libraries: dict[str, str]) -> str:
    """The markdown document."""
    libs = ", ".join(f"{lib} {libraries[lib]}" for lib in
                     ("scikit-learn", "xgboost", "lightgbm", "sklearn2pmml", "skl2onnx", "onnxmltools",
                      "onnxruntime", "jpmml-evaluator", "pypmml") if lib in libraries)
    tolerances = ", ".join(f"{family} {tol:g}" for family, tol in DEFAULT_TOLERANCE.items())
    table = ["| group | case | estimator | steps | " + " | ".join(_HEADERS[a] for a in ARTIFACTS) + " |",
             "|" + "---|" * (4 + len(ARTIFACTS))]
    for r in rows:
        steps = r["steps"].replace("|", "\\|")
        table.append(f"| {r['group']} | `{r['id']}` | {r['estimator']} | {steps} | "
                     + " | ".join(r["cells"].get(a, "–") for a in ARTIFACTS) + " |")
    return f"""# Support matrix

Generated by `python benchmarks/support_matrix.py` on {dt.date.today().isoformat()} ({seconds:.0f} s); do not
edit by hand. Libraries: {libs}.

## Summary

{chr(10).join(summary(rows))}

## How to read it

One row per case: a small fitted pipeline on deterministic synthetic data (`exporters/support_cases.py`,
`exporters/support_matrix.py`): 300 rows, 8% NaN in `x1`, 5% in `x2`, 8% in `c1`. Each case is exported
with the defaults (`require="any"`): every artifact that converts and agrees with the native pipeline
ships, any other is left out and the manifest says why.

- **✓ a / b / c (labels)**: the artifact ships; its largest difference from the native pipeline on the
  clean sample rows / the rows with a missing value / the rows with an unseen category (absolute on
  probabilities, relative to `max(1, |y|)` for regressions and anomaly scores; `–`: no such rows), and,
  for classifiers, the lowest label agreement over those rows.
- **✗ conversion**: the converter refused, in its own words; **✗ disagrees**: it converted but differs
  beyond the tolerance (on the rows named); **✗ denylist**: a known unfaithful conversion; **–**: does not
  apply (the XGBoost fast path is for XGBoost models).
- **pypmml** is measured and reported only (it never gates): it compares XGBoost's float32 split
  thresholds in double precision, so rows near a threshold may take the other branch.

Classifiers without probabilities (LinearSVC, RidgeClassifier, SVC, hard voting) export their labels;
their probability columns are the label's indicator. Outlier detectors (IsolationForest) export their
`decision_function` (negative for outliers) as `prediction`, task `anomaly`. Default tolerances per
model family (`exporters/fidelity.py`): {tolerances}.

## What scorebridge adds to the converters

The converters decide what converts; where one is missing or imprecise, scorebridge adds a small one,
and the fidelity gate proves it like any other:

- ONNX computes in float64 like scikit-learn: a model reading the raw columns gets a float64 `Concat`
  in front (skl2onnx's `FeatureVectorizer` is float32), and `SimpleImputer` (with `add_indicator`),
  `MissingIndicator`, `OneHotEncoder`/`OrdinalEncoder`/`TargetEncoder` (drop, infrequent categories,
  a learned missing category, `encoded_missing_value`), `Binarizer`, `KBinsDiscretizer`,
  `PolynomialFeatures`, `PowerTransformer`, `FunctionTransformer` with NumPy ufuncs,
  `TransformedTargetRegressor` and label-only linear classifiers have float64 converters
  (`exporters/onnx_transformers.py`, `exporters/onnx_converters.py`). Trees cast to float32 first, as
  they do natively.
- ONNX trees keep scikit-learn's learned direction for NaN, HistGradientBoosting's categorical splits
  become equality chains, XGBoost `reg:logistic` gets its sigmoid, and pandas `category` columns of
  XGBoost/LightGBM models are fed as their training categories' codes (unseen and missing: NaN).
- PMML: scikit-learn trees route NaN like scikit-learn (`defaultChild`), a missing category scored like
  an unseen one stays so, `TargetEncoder` accepts unseen categories, an `OrdinalEncoder`'s
  `encoded_missing_value` is kept, XGBoost/LightGBM pandas categories get a categorical domain, and
  integer column selectors keep the inputs' `x0, x1, ...` names (`exporters/pmml_fixes.py`).
- PMML LightGBM routes a missing value by each split's `missing_type`, as LightGBM does (JPMML-LightGBM
  uses the default side for all): `NaN` (the feature had NaN in training) to the learned default side,
  `None` (it had none) as if it were 0, `Zero` (`zero_as_missing=True`) NaN and zeros to the default
  side. A missing value that a `OneHotEncoder` learned as a category answers the PMML's tree
  predicates as its indicator does natively (not as unknown), and a missing integer or float code
  that training never saw is scored like an unseen one.
- Known limits: ONNX of LightGBM with `zero_as_missing=True` is denylisted (onnxmltools compares a zero
  with the threshold); XGBoost sums its trees in float32, so where leaf values are far larger than the
  prediction (deep trees on heavy-tailed targets) PMML and ONNX can differ by a few float32 ulps of
  the partial sums, which the gate measures (the XGBoost fast path is exact).
- Column names with spaces, dots, parentheses or non-ASCII letters work: the manifest maps each input
  to the ONNX graph's own input name. A pipeline fitted on a NumPy array gets inputs `x0, x1, ...`.

## Cases

{chr(10).join(table)}
"""


def main(argv: list[str] | None = None) -> int:
    """Measure and write (or print) the support matrix."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "support-matrix.md"), help="file, or - for stdout")
    parser.add_argument("--only", default="", help="comma-separated case ids (default: every case)")
    args = parser.parse_args(argv)
    only = {c.strip() for c in args.only.split(",") if c.strip()} or None
    rows, seconds, libraries = measure(only)
    text = render(rows, seconds, libraries)
    if args.out == "-":
        print(text)
    else:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
