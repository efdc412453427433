"""A malformed templates file is a one-line SchemaError naming the file (exit 2 on the command line), never an
internal error."""

import json

import pytest

from kamcore.cli import main
from kamcore.errors import SchemaError
from kamcore.fit import Templates

GOOD = {"format": "kamdash.templates", "version": 1, "edges": [0.0, 0.5, 1.0], "counts": {"a": [1, 2]},
        "model": {"name": "m", "kind": "cnn", "digest": "0"}, "meta": {}}


@pytest.mark.parametrize("change, pattern", [
    ({"edges": "abc"}, "'edges' must be a JSON array, got str"),
    ({"counts": [1, 2]}, "'counts' must be a JSON object, got list"),
    ({"counts": {"a": ["x", "y"]}}, "could not convert string to float"),
    ({"meta": [1]}, "'meta' must be a JSON object, got list"),
    ({"model": "m"}, "'model' must be a JSON object"),
    ({"model": {"name": "m"}}, "template model identity lacks 'kind'"),
    ({"meta": {"rates_per_hour": {"C10": "x"}}}, "'rates_per_hour' must map sources to rates >= 0"),
    ({"meta": {"rates_per_hour": {"C10": -1}}}, "'rates_per_hour' must map sources to rates >= 0"),
    ({"edges": None}, "'edges' must be a JSON array, got NoneType"),
])
def test_malformed_templates_are_one_line_schema_errors(tmp_path, capsys, change, pattern):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({**GOOD, **change}))
    with pytest.raises(SchemaError, match=pattern) as exc:
        Templates.load(path)
    assert str(exc.value).startswith(f"{path}: ") and "\n" not in str(exc.value)
    (tmp_path / "runs").mkdir()
    assert main(["runs", "fit", str(tmp_path / "runs"), "--templates", str(path), "--catalog", "sqlite://"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"kamcore: error: {path}: ") and len(err.strip().splitlines()) == 1


def test_missing_keys_are_named(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({k: v for k, v in GOOD.items() if k not in ("edges", "model")}))
    with pytest.raises(SchemaError, match=r"t.json: templates file lacks 'edges', 'model'"):
        Templates.load(path)
    path.write_text(json.dumps(GOOD))
    assert Templates.load(path).rates_per_hour["C10"] == 1.6667  # no record: the documented defaults
