"""Per-event classifier outputs (``kamcore score``): one Parquet file per scored run.

| column | Arrow type | meaning |
|---|---|---|
| run | int32 | run number of the event |
| event_id | int64 | event number |
| source | dictionary<string> | source of the event file |
| energy_mev | float32 | visible energy, MeV |
| score | float32 | sigmoid of the model logit (1 = signal-like) |
| attention | fixed_size_list<float32>[T] | attention per time slice (KamNet; absent for the CNN) |

The file metadata ``kamdash.scores`` holds JSON with the model file and kind.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import EventFileError, SchemaError
from ..errors import one_line
from ._common import atomic_output, check_readable

__all__ = ["write_scores", "read_scores"]

_REQUIRED = ("run", "event_id", "score")
#: column -> test of its Arrow type
_KINDS = {
    "run": pa.types.is_integer,
    "event_id": pa.types.is_integer,
    "score": pa.types.is_floating,
    "energy_mev": pa.types.is_floating,
    "attention": lambda t: pa.types.is_fixed_size_list(t) and pa.types.is_floating(t.value_type),
}


def write_scores(path: str | os.PathLike, *, run: np.ndarray, event_id: np.ndarray, score: np.ndarray,
                 source: np.ndarray | None = None, energy_mev: np.ndarray | None = None,
                 attention: np.ndarray | None = None, meta: dict | None = None) -> Path:
    """Write per-event scores atomically; ``attention`` is ``(N, T)`` or None."""
    n = len(score)
    cols = {
        "run": pa.array(np.asarray(run, np.int32)),
        "event_id": pa.array(np.asarray(event_id, np.int64)),
        "source": pa.array(np.asarray(source if source is not None else np.full(n, ""), dtype=object).astype(str))
        .dictionary_encode(),
        "energy_mev": pa.array(np.asarray(energy_mev if energy_mev is not None else np.full(n, np.nan), np.float32)),
        "score": pa.array(np.asarray(score, np.float32)),
    }
    if attention is not None:
        att = np.ascontiguousarray(attention, np.float32)
        cols["attention"] = pa.FixedSizeListArray.from_arrays(pa.array(att.reshape(-1)), att.shape[1])
    table = pa.table(cols).replace_schema_metadata({"kamdash.scores": json.dumps(meta or {}, default=str)})
    with atomic_output(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return Path(path)


def read_scores(path: str | os.PathLike) -> dict:
    """``{"run", "event_id", "source", "energy_mev", "score", "attention" (N, T) or None, "meta"}``.

    Raises
    ------
    EventFileError
        Missing, not Parquet, truncated or corrupt.
    SchemaError
        A required column is missing or of the wrong type, or the ``kamdash.scores`` metadata is
        not a JSON object.
    """
    path = check_readable(Path(path))
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise EventFileError(f"{path}: not a readable score file ({one_line(exc)})") from None
    missing = [c for c in _REQUIRED if c not in table.column_names]
    if missing:
        raise SchemaError(f"{path}: score file lacks columns {missing}")
    for name, kind in _KINDS.items():
        if name in table.column_names and not kind(table.schema.field(name).type):
            raise SchemaError(f"{path}: column {name!r} of the score file has type {table.schema.field(name).type}")
    try:
        out = {c: table[c].to_numpy() for c in ("run", "event_id", "score", "energy_mev") if c in table.column_names}
        out["source"] = (np.asarray(table["source"].to_pylist(), dtype=object)
                         if "source" in table.column_names else None)
        if "attention" in table.column_names:
            col = table["attention"].combine_chunks()
            if col.null_count:
                raise SchemaError(f"{path}: column 'attention' of the score file has {col.null_count} null row(s)")
            out["attention"] = col.flatten().to_numpy().reshape(len(col), col.type.list_size)
        else:
            out["attention"] = None
    except (pa.ArrowException, ValueError) as exc:
        raise SchemaError(f"{path}: score file columns cannot be read ({one_line(exc)})") from None
    raw = (table.schema.metadata or {}).get(b"kamdash.scores", b"{}")
    try:
        meta = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise SchemaError(f"{path}: kamdash.scores metadata is not valid JSON ({one_line(exc)})") from None
    if not isinstance(meta, dict):
        raise SchemaError(f"{path}: kamdash.scores metadata is a JSON {type(meta).__name__}, expected an object")
    out["meta"] = meta
    return out
