"""Parallel scoring pieces: input splits, one task's read-score-write step, mergeable summaries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from batch_jobs.local import open_input
from batch_jobs.scoring import input_columns, output_schema
from batch_jobs.spark import SplitPlan, score_split
from batch_jobs.spec import InputSpec
from batch_jobs.splits import Split, plan_splits, read_split
from batch_jobs.summary import ScoreSummary
from scorebridge.engines import load_engine

PARQUET = InputSpec(path="unused", format="parquet", wait_for_success=False, wait_timeout=0.0, poll_interval=1.0)


def write_files(directory: Path, rows_per_file: list[int], row_group: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    start = 0
    for i, n in enumerate(rows_per_file):
        table = pa.table({"id": np.arange(start, start + n, dtype=np.int64), "x": np.linspace(0, 1, n)})
        pq.write_table(table, directory / f"part-{i:05d}.parquet", row_group_size=row_group)
        start += n


def row_groups_of(path: str) -> int:
    return pq.ParquetFile(path).metadata.num_row_groups


def test_splits_cover_each_row_group_once_within_files(tmp_path: Path, credit_bundle) -> None:
    write_files(tmp_path / "in", [10_000, 2_500, 7_000], row_group=1_000)
    dataset = open_input(PARQUET, tmp_path / "in", credit_bundle)
    splits = plan_splits(dataset, "parquet", cores=2, min_rows=1_000)
    assert [s.index for s in splits] == list(range(len(splits)))
    seen: dict[str, list[int]] = {}
    for split in splits:
        seen.setdefault(split.path, []).extend(split.row_groups)
    assert {p: groups for p, groups in seen.items()} == {p: list(range(row_groups_of(p))) for p in seen}
    assert sum(s.rows for s in splits) == 19_500
    # ~4 splits per core: 19,500 / 8 -> splits of at least 2,438 rows, except each file's remainder
    assert 7 <= len(splits) <= 10
    assert all(s.rows >= 2_438 or s is last for s, last in zip(splits, _last_of_each_file(splits)))


def _last_of_each_file(splits: list[Split]) -> list[Split]:
    last = {s.path: s for s in splits}
    return [last[s.path] for s in splits]


def test_small_partitions_are_one_split_per_file(tmp_path: Path, credit_bundle) -> None:
    write_files(tmp_path / "in", [3_000, 3_000], row_group=500)
    dataset = open_input(PARQUET, tmp_path / "in", credit_bundle)
    splits = plan_splits(dataset, "parquet", cores=2)  # default minimum: 65,536 rows a split
    assert [(Path(s.path).name, s.rows) for s in splits] == [("part-00000.parquet", 3_000),
                                                             ("part-00001.parquet", 3_000)]


def test_csv_files_are_whole_splits_and_read_typed(tmp_path: Path, credit_bundle) -> None:
    frame = credit_bundle.read_verification()[credit_bundle.schema.names]
    (tmp_path / "in").mkdir()
    for i in range(2):
        pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "in" / f"f{i}.csv")
    spec = InputSpec(path="unused", format="csv", wait_for_success=False, wait_timeout=0.0, poll_interval=1.0)
    dataset = open_input(spec, tmp_path / "in", credit_bundle)
    splits = plan_splits(dataset, "csv", cores=2)
    assert [(Path(s.path).name, s.row_groups) for s in splits] == [("f0.csv", None), ("f1.csv", None)]
    batches = list(read_split(splits[1], lambda p: open_input(spec, p, credit_bundle), ["region", "income"], 100))
    assert sum(b.num_rows for b in batches) == len(frame)
    assert batches[0].schema.field("region").type == pa.string()


def test_read_split_reads_exactly_its_row_groups(tmp_path: Path, credit_bundle) -> None:
    write_files(tmp_path / "in", [5_000], row_group=1_000)
    path = str(tmp_path / "in" / "part-00000.parquet")
    batches = list(read_split(Split(0, path, (1, 2), 2_000), lambda p: None, ["id"], 300))
    ids = np.concatenate([b.column("id").to_numpy() for b in batches])
    assert np.array_equal(ids, np.arange(1_000, 3_000)) and max(b.num_rows for b in batches) <= 300


def test_a_retried_split_replaces_its_file(tmp_path: Path, partition, credit_bundle) -> None:
    table = partition(rows=3_000)
    source = tmp_path / "warehouse" / "features"
    dataset = open_input(PARQUET, next(source.iterdir()), credit_bundle)
    stage = tmp_path / "stage"
    (stage / ".tasks").mkdir(parents=True)
    (stage / ".tasks" / "part-00000.parquet.dead-attempt").write_bytes(b"half a file")  # a killed attempt
    split = plan_splits(dataset, "parquet", cores=2)[0]
    summary = ScoreSummary(credit_bundle.task, credit_bundle.classes, credit_bundle.read_verification())
    plan = SplitPlan(bundle_ref=str(credit_bundle.path), shipped=False, splits=(split,), input=PARQUET,
                     source="test", keep=("user_id",), columns=tuple(input_columns(credit_bundle, ("user_id",))),
                     schema=output_schema(credit_bundle, dataset.schema, ("user_id",), "test"), stage=str(stage),
                     partition=str(tmp_path / "scores" / "dt=2026-11-21"), batch_size=1_000, summary=summary.partial(0))
    engine = load_engine(credit_bundle, "onnx")
    first = score_split(plan, split, credit_bundle, engine)
    second = score_split(plan, split, credit_bundle, engine)  # a retry or a speculative copy
    assert first["file"] == second["file"] == "part-00000.parquet" and first["rows"] == second["rows"] == 3_000
    assert sorted(p.name for p in stage.glob("*.parquet")) == ["part-00000.parquet"]
    out = pq.read_table(stage / "part-00000.parquet")
    assert out.column("user_id").to_pylist() == table.column("user_id").to_pylist()
    assert out.schema.names == ["user_id", "label", "probability_0", "probability_1"]


def test_partial_summaries_merge_into_the_whole(credit_bundle) -> None:
    rng = np.random.default_rng(7)
    reference = pd.DataFrame({"native_probability_1": rng.beta(2, 5, 4_000)})
    scores = rng.beta(2, 4, 250_000)  # more than the 100,000-value sample
    labels = (scores > 0.5).astype(np.int64)
    whole = ScoreSummary("classification", [0, 1], reference)
    whole.update({"probability_1": scores, "label": labels})
    merged = ScoreSummary("classification", [0, 1], reference)
    for i, rows in enumerate(np.array_split(np.arange(scores.size), 6)):
        part = merged.partial(seed=i + 1)
        part.update({"probability_1": scores[rows], "label": labels[rows]})
        merged.merge(part)
    a, b = whole.result(), merged.result()
    assert a["labels"] == b["labels"] and a["psi_max"] == b["psi_max"]
    sa, sb = a["scores"]["probability_1"], b["scores"]["probability_1"]
    for key in ("count", "missing", "min", "max"):
        assert sa[key] == sb[key]
    assert sb["mean"] == pytest.approx(sa["mean"], rel=1e-12)
    assert sb["std"] == pytest.approx(sa["std"], rel=1e-9)
    exact = np.quantile(scores, [0.01, 0.5, 0.99])
    assert np.allclose([sb["quantiles"][k] for k in ("p01", "p50", "p99")], exact, atol=0.01)
