"""Model identity: which weights made a score (name, kind, weights digest).

The identity ties score files, templates and run fits to the exact weights: two
checkpoints with the same name and different weights have different identities.
``digest`` is the SHA-256 of the ``.safetensors`` file, first 16 hex digits.

>>> sorted(model_identity.__annotations__)
['meta', 'path', 'return']
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..errors import EventFileError

__all__ = ["model_identity"]


def model_identity(path: str | os.PathLike, meta: dict | None = None) -> dict:
    """``{"name", "kind", "digest"}`` of the checkpoint ``path`` (a prefix, ``.json`` or ``.safetensors``).

    ``meta`` is the checkpoint metadata when already read; without it the kind is read
    from the JSON next to the weights.
    """
    p = Path(path)
    if p.suffix in (".safetensors", ".json"):
        p = p.with_suffix("")
    weights = p.with_name(p.name + ".safetensors")
    try:
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
    except OSError as exc:
        raise EventFileError(f"{weights}: cannot read model weights ({exc.strerror or exc})") from None
    if meta is None:
        try:
            meta = json.loads(p.with_name(p.name + ".json").read_text())
        except (OSError, ValueError):
            meta = {}
    return {"name": p.name, "kind": str(meta.get("model", "unknown")), "digest": digest}
