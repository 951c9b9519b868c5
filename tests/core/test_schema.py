"""Input validation at the boundary: every bad input names its field and record."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from scorebridge.errors import SchemaError
from scorebridge.schema import Field, InputSchema

SCHEMA = InputSchema([
    Field("income", "float64", "continuous"),
    Field("age", "int64", "continuous", nullable=False),
    Field("region", "string", "categorical", ("north", "south")),
])


def test_records_become_typed_columns_with_missing_values():
    cols = SCHEMA.from_records([
        {"income": 1.5, "age": 30, "region": "north", "extra": "ignored"},
        {"income": None, "age": 41, "region": None},
        {"income": float("nan"), "age": 52, "region": "mars"},
    ])
    assert cols["income"].dtype == np.float64
    assert cols["income"][0] == 1.5 and math.isnan(cols["income"][1]) and math.isnan(cols["income"][2])
    assert cols["age"].tolist() == [30.0, 41.0, 52.0]
    assert cols["region"].tolist() == ["north", None, "mars"]
    assert SCHEMA.count_unseen(cols) == {"region": 1}


@pytest.mark.parametrize("records, code, field, record", [
    ([], "empty", "records", None),
    ({"income": 1}, "invalid_request", "records", None),
    ([{"income": 1.0, "age": 3, "region": "north"}, 7], "invalid_request", None, 1),
    ([{"income": 1.0, "region": "north"}], "missing_field", "age", 0),
    ([{"income": 1.0, "age": 3, "region": "north"}, {"income": "abc", "age": 3, "region": "north"}],
     "invalid_type", "income", 1),
    ([{"income": 1.0, "age": 3, "region": 5}], "invalid_type", "region", 0),
    ([{"income": 1.0, "age": None, "region": "north"}], "missing_value", "age", 0),
])
def test_bad_records_name_field_and_record(records, code, field, record):
    with pytest.raises(SchemaError) as err:
        SCHEMA.from_records(records)
    assert (err.value.code, err.value.field, err.value.record) == (code, field, record)
    assert str(err.value)


def test_frame_and_arrow_agree():
    frame = pd.DataFrame({"income": [1.0, np.nan], "age": [3, 4], "region": pd.Series(["south", None], dtype=object),
                          "id": [10, 11]})
    a = SCHEMA.from_frame(frame)
    b = SCHEMA.from_arrow(pa.Table.from_pandas(frame))
    for name in SCHEMA.names:
        assert pd.Series(a[name]).equals(pd.Series(b[name])), name
    back = SCHEMA.to_frame(a)
    assert back["region"].isna().tolist() == [False, True]


def test_frame_missing_column_and_wrong_type():
    with pytest.raises(SchemaError, match="lacks column"):
        SCHEMA.from_frame(pd.DataFrame({"income": [1.0]}))
    with pytest.raises(SchemaError) as err:
        SCHEMA.from_arrow(pa.table({"income": ["x"], "age": [1], "region": ["north"]}))
    assert err.value.field == "income"


def test_missing_values_are_not_counted_as_unseen_categories():
    schema = InputSchema([Field("grade", "float64", "categorical", (1.0, 2.0)),
                          Field("region", "string", "categorical", ("north",))])
    cols = schema.from_records([{"grade": None, "region": None}, {"grade": 3, "region": "mars"},
                                {"grade": 1, "region": "mars"}, {"grade": float("nan"), "region": "north"}])
    assert schema.count_unseen(cols) == {"grade": 1, "region": 2}
