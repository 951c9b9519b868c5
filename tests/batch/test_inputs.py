"""Input partitions as other writers make them, through the real batch CLI: each scores exactly as the
plain partition does, or fails with one line and exit 2 naming the column and the row.

The writers: Spark and pandas (dictionary-encoded and ``large_string`` strings, int32/float32 and
decimal columns, a timestamp column the model does not need, a column order that is not the schema's,
several part files of different encodings, CSV with a byte-order mark and quoted newlines), and an
integer field that arrives as a float column (pandas makes an int column with a missing value float).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from .conftest import DS, job_doc, run_cli
from .test_failures import one_error_line

ROWS = 60


@pytest.fixture(scope="module")
def frame(credit_bundle) -> pd.DataFrame:
    inputs = credit_bundle.read_verification()[credit_bundle.schema.names].head(ROWS).reset_index(drop=True)
    inputs.insert(0, "user_id", np.arange(1, ROWS + 1, dtype=np.int64))
    return inputs


def table(frame: pd.DataFrame, **types: pa.DataType) -> pa.Table:
    out = pa.Table.from_pandas(frame, preserve_index=False)
    for name, typ in types.items():
        i = out.schema.get_field_index(name)
        out = out.set_column(i, name, out.column(name).cast(typ))
    return out


def dictionary(t: pa.Table, name: str) -> pa.Table:
    i = t.schema.get_field_index(name)
    return t.set_column(i, name, t.column(name).dictionary_encode())


def run(tmp_path: Path, write_job, credit_bundle, write: Callable[[Path], None], fmt: str = "parquet"):
    part = tmp_path / "warehouse" / "features" / f"dt={DS}"
    part.mkdir(parents=True)
    write(part)
    (part / "_SUCCESS").touch()
    job = write_job(job_doc(credit_bundle.path, input={"format": fmt}))
    proc = run_cli("batch", "run", str(job), "--date", DS, cwd=tmp_path)
    return proc, tmp_path / "warehouse" / "scores" / f"dt={DS}"


def scores(partition: Path) -> pd.DataFrame:
    return pq.read_table(partition).to_pandas().sort_values("user_id").reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(frame, credit_bundle, tmp_path_factory) -> pd.DataFrame:
    """The plain partition's scores (one Parquet file, the schema's types and order)."""
    tmp = tmp_path_factory.mktemp("reference")
    from .conftest import render_toml

    (tmp / "job.toml").write_text(render_toml(job_doc(credit_bundle.path)))
    part = tmp / "warehouse" / "features" / f"dt={DS}"
    part.mkdir(parents=True)
    pq.write_table(table(frame), part / "part-00000.parquet")
    (part / "_SUCCESS").touch()
    proc = run_cli("batch", "run", "job.toml", "--date", DS, cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    return scores(tmp / "warehouse" / "scores" / f"dt={DS}")


def _mixed_files(frame: pd.DataFrame) -> Callable[[Path], None]:
    """Five part files, each written differently; together the plain partition's rows."""
    def write(part: Path) -> None:
        chunks = [frame.iloc[i * 12:(i + 1) * 12] for i in range(5)]
        pq.write_table(table(chunks[0]), part / "part-00000.parquet")
        pq.write_table(table(chunks[1], region=pa.large_string(), employment=pa.large_string()),
                       part / "part-00001.parquet")
        pq.write_table(dictionary(dictionary(table(chunks[2]), "region"), "employment"), part / "part-00002.parquet")
        pq.write_table(table(chunks[3], age=pa.int32(), late_payments=pa.int32()), part / "part-00003.parquet")
        extra = chunks[4].assign(loaded_at=pd.Timestamp("2026-11-21 05:00"), note="x")
        pq.write_table(table(extra[extra.columns[::-1]]), part / "part-00004.parquet")
    return write


VARIANTS: dict[str, Callable[[pd.DataFrame], Callable[[Path], None]]] = {
    "dictionary-encoded strings": lambda f: lambda part: pq.write_table(
        dictionary(dictionary(table(f), "region"), "employment"), part / "part-00000.parquet"),
    "large_string": lambda f: lambda part: pq.write_table(
        table(f, region=pa.large_string(), employment=pa.large_string()), part / "p.parquet"),
    "int32 and decimal columns": lambda f: lambda part: pq.write_table(
        table(f, age=pa.int32(), credit_lines=pa.int32(), income=pa.decimal128(14, 4)), part / "p.parquet"),
    "columns reordered, a timestamp and a date beside them": lambda f: lambda part: pq.write_table(
        table(f.assign(loaded_at=pd.Timestamp("2026-11-21 05:00"), day=pd.Timestamp("2026-11-21").date())
              [["loaded_at", *f.columns[::-1], "day"]]), part / "p.parquet"),
    "five files of different encodings": _mixed_files,
    "the integer field as a float column": lambda f: lambda part: pq.write_table(
        table(f, age=pa.float64()), part / "p.parquet"),
    "csv with a byte-order mark": lambda f: lambda part: (part / "p.csv").write_bytes(
        b"\xef\xbb\xbf" + f.to_csv(index=False).encode()),
    "csv with quoted newlines in a column it does not need, in two files": lambda f: lambda part: [
        (part / f"part-{i}.csv").write_text(f.iloc[i * 30:(i + 1) * 30].assign(note="one\ntwo, \"three\"")
                                            .to_csv(index=False)) for i in range(2)],
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_an_input_written_another_way_scores_as_the_plain_one(tmp_path, write_job, credit_bundle, frame, reference,
                                                              variant):
    fmt = "csv" if variant.startswith("csv") else "parquet"
    proc, out = run(tmp_path, write_job, credit_bundle, VARIANTS[variant](frame), fmt)
    assert proc.returncode == 0, proc.stderr
    got = scores(out)
    assert list(got.columns) == list(reference.columns)
    assert got["user_id"].tolist() == reference["user_id"].tolist()
    assert got["label"].tolist() == reference["label"].tolist()
    np.testing.assert_allclose(got[["probability_0", "probability_1"]], reference[["probability_0", "probability_1"]],
                               rtol=0, atol=1e-6)


def test_a_float_column_with_missing_values_for_an_integer_field_is_accepted(tmp_path, write_job, credit_bundle, frame):
    """pandas makes an int column with a missing value float64: its whole numbers and NaN score as the
    int64 column with a null does."""
    as_float = frame.assign(age=frame["age"].astype(float))
    as_float.loc[5, "age"] = np.nan
    proc, out = run(tmp_path, write_job, credit_bundle,
                    lambda part: pq.write_table(table(as_float), part / "p.parquet"))
    assert proc.returncode == 0, proc.stderr
    nullable = table(frame).set_column(3, "age", pa.array([None if i == 5 else int(v) for i, v in
                                                           enumerate(frame["age"])], pa.int64()))
    want = credit_bundle.schema.from_arrow(nullable)
    from scorebridge.engines import load_engine

    engine = load_engine(credit_bundle, "auto", threads=1)
    expected = engine.predict_columns(want).to_columns()
    got = scores(out)
    np.testing.assert_allclose(got["probability_1"], expected["probability_1"], rtol=0, atol=1e-6)


@pytest.mark.parametrize(("fmt", "row"), [("parquet", 17), ("parquet", 43), ("csv", 17)])
def test_a_fraction_for_an_integer_field_is_one_line_naming_the_column_and_row(tmp_path, write_job, credit_bundle,
                                                                               frame, fmt, row):
    """20.6 for the int64 ``age`` is never cast to 20: exit 2, one line naming the column and the row
    (counted across the partition's files), nothing published."""
    bad = frame.assign(age=frame["age"].astype(float))
    bad.loc[row, "age"] = 20.6

    def write(part: Path) -> None:
        if fmt == "csv":
            (part / "p.csv").write_text(bad.to_csv(index=False))
        else:  # two files: the row is named within the partition, not within its batch or file
            pq.write_table(table(bad.iloc[:30]), part / "part-00000.parquet")
            pq.write_table(table(bad.iloc[30:]), part / "part-00001.parquet")

    proc, out = run(tmp_path, write_job, credit_bundle, write, fmt)
    line = one_error_line(proc)
    assert line.endswith(f"field 'age' expects an integer, got 20.6 in row {row}"), line
    assert not out.exists()


def test_an_unsigned_column_beyond_int64_is_one_line(tmp_path, write_job, credit_bundle, frame):
    t = table(frame)
    ages = pa.array([30] * 9 + [2**63] + [30] * (ROWS - 10), pa.uint64())
    proc, _ = run(tmp_path, write_job, credit_bundle,
                  lambda part: pq.write_table(t.set_column(3, "age", ages), part / "p.parquet"))
    assert one_error_line(proc).endswith("field 'age' expects an integer within int64 (-9223372036854775808 to "
                                         "9223372036854775807), got 9223372036854775808 in row 9")


def test_a_partition_without_data_files_is_one_line(tmp_path, write_job, credit_bundle):
    proc, out = run(tmp_path, write_job, credit_bundle, lambda part: None)
    line = one_error_line(proc)
    assert line.startswith(f"input {tmp_path / 'warehouse/features'}/dt={DS} holds no parquet file"), line
    assert line.endswith("nothing was published") and not out.exists()


@pytest.mark.parametrize("dropped", ["region", "user_id"])
def test_a_part_file_without_a_column_the_others_have_is_one_line(tmp_path, write_job, credit_bundle, frame, dropped):
    """A later file lacking a model input (or a kept column) would be read as nulls and its rows scored
    as missing values: refused, naming the file and the column, nothing published."""
    def write(part: Path) -> None:
        pq.write_table(table(frame.iloc[:30]), part / "part-00000.parquet")
        pq.write_table(table(frame.iloc[30:].drop(columns=[dropped])), part / "part-00001.parquet")

    proc, out = run(tmp_path, write_job, credit_bundle, write)
    line = one_error_line(proc)
    assert f"part-00001.parquet lacks column(s) '{dropped}' that other files of" in line, line
    assert line.endswith("nothing was published") and not out.exists()
