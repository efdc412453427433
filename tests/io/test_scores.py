"""kamcore.io.scores: round trip and one-line errors on damaged score files (found by the fuzz)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kamcore.errors import EventFileError, SchemaError
from kamcore.io import read_scores, write_scores


@pytest.fixture
def scores(tmp_path):
    return write_scores(tmp_path / "s.parquet", run=np.full(4, 7), event_id=np.arange(4), score=np.linspace(0, 1, 4),
                        source=np.array(["data"] * 4, dtype=object), energy_mev=np.ones(4),
                        attention=np.full((4, 28), 0.5), meta={"model": "cnn_cpu"})


def test_round_trip(scores):
    out = read_scores(scores)
    assert out["run"].tolist() == [7] * 4 and out["attention"].shape == (4, 28) and out["meta"] == {"model": "cnn_cpu"}
    assert out["source"].tolist() == ["data"] * 4


def _rewrite(path, dest, *, meta=None, column=None, array=None):
    table = pq.read_table(path)
    if meta is not None:
        table = table.replace_schema_metadata({"kamdash.scores": meta})
    if column is not None:
        table = table.set_column(table.schema.get_field_index(column), column, array)
    pq.write_table(table, dest)
    return dest


@pytest.mark.parametrize(("meta", "pattern"), [(b"{", "is not valid JSON"), (b"\xff", "is not valid JSON"),
                                               (b"[1]", "is a JSON list"),
                                               (b"[" * 100_000 + b"]" * 100_000, "is not valid JSON")])
def test_bad_metadata(scores, tmp_path, expect_error, meta, pattern):
    path = _rewrite(scores, tmp_path / "m.parquet", meta=meta)
    with expect_error(SchemaError, path, "kamdash.scores metadata " + pattern):
        read_scores(path)


@pytest.mark.parametrize(("column", "array", "pattern"), [
    ("attention", pa.array(np.ones(4)), "column 'attention' of the score file has type double"),
    ("run", pa.array(["a"] * 4), "column 'run' of the score file has type string"),
    ("score", pa.array(np.arange(4)), "column 'score' of the score file has type int64"),
])
def test_wrong_column_types(scores, tmp_path, expect_error, column, array, pattern):
    path = _rewrite(scores, tmp_path / "t.parquet", column=column, array=array)
    with expect_error(SchemaError, path, pattern):
        read_scores(path)


def test_not_a_score_file(tmp_path, expect_error):
    path = tmp_path / "x.parquet"
    path.write_bytes(b"PAR1 not really")
    with expect_error(EventFileError, path, "not a readable score file"):
        read_scores(path)
