"""fidelity_rows.parquet: the per-row outputs behind the fidelity report (the console's scatter)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from exporters import fidelity
from scorebridge.bundle import sha256_file


def test_fidelity_rows_hold_every_verification_row_and_reproduce_the_report(credit_bundle):
    entry = credit_bundle.manifest["fidelity_rows"]
    path = credit_bundle.path / entry["file"]
    assert sha256_file(path) == entry["sha256"] and path.stat().st_size == entry["size"]
    rows = pd.read_parquet(path)
    verify = credit_bundle.read_verification()
    schema = credit_bundle.schema
    assert len(rows) == len(verify) and list(rows["kind"]) == fidelity.row_kinds(len(verify), schema)
    assert entry["columns"] == ["probability_0", "probability_1"]
    assert entry["evaluators"] == list(credit_bundle.manifest["fidelity"]) == ["pmml", "onnx", "xgboost", "pypmml"]
    # flags: every "missing <input>" edge row is missing, every "unseen <input>" row unseen, and sample
    # rows are flagged exactly where their inputs have a NaN
    edge_missing = rows["kind"].str.startswith("missing ")
    assert rows.loc[edge_missing, "missing"].all() and rows.loc[rows["kind"].str.startswith("unseen "), "unseen"].all()
    sample = rows["kind"] == "sample"
    assert (rows.loc[sample, "missing"] == verify.loc[sample, schema.names].isna().any(axis=1)).all()
    assert not rows.loc[sample, "unseen"].any()
    # the native columns are verification.parquet's, and each evaluator's largest difference is the report's
    for column in entry["columns"]:
        assert np.array_equal(rows[f"native_{column}"], verify[f"native_{column}"])
    for evaluator in entry["evaluators"]:
        diffs = np.column_stack([np.abs(rows[f"{evaluator}_{c}"] - rows[f"native_{c}"]) for c in entry["columns"]])
        assert diffs.max() == credit_bundle.manifest["fidelity"][evaluator]["max_abs_diff"]
