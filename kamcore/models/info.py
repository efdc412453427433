"""What a checkpoint is, read without building its model: its JSON and its identity.

A reader that only shows which model made a score (the dashboard's header, the Attention
page's "has attention" question) needs the checkpoint's metadata and identity, not its
weights in memory; :func:`checkpoint_info` reads the JSON and hashes the weights file.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from ..errors import ModelFileError, one_line
from .identity import model_identity

__all__ = ["CheckpointInfo", "checkpoint_info", "find_checkpoint"]


@dataclasses.dataclass(frozen=True, eq=False)
class CheckpointInfo:
    """A checkpoint as found on disk.

    Attributes
    ----------
    path : the checkpoint prefix (``PREFIX.json`` and ``PREFIX.safetensors`` next to each other)
    meta : the checkpoint's JSON (``model`` kind, configuration, training command and history)
    identity : ``{"name", "kind", "digest"}`` (:func:`~kamcore.models.model_identity`)
    """

    path: Path
    meta: dict
    identity: dict

    @property
    def has_attention(self) -> bool:
        """The model reports attention per time slice (KamNet)."""
        return self.meta.get("model") == "kamnet"

    @property
    def input(self):
        """The :class:`~kamcore.preprocess.HitMapConfig` a classifier's maps are made with -- the same as
        :attr:`kamcore.models.Model.input` (its recorded ``hitmap_config``, else the charge centroid on the grid
        of its network configuration) -- read from the JSON without building the network; None for a generator.

        A display that shows events as this model sees them (time slices, grid, vertex) needs only this:
        ``kamcore.monitor.display_grid(info.input)``, ``display_event(ev, config=info.input)``.
        Raises :class:`~kamcore.errors.ModelFileError` naming the JSON when its configuration is damaged.
        """
        from types import SimpleNamespace

        from ..nn.cnn import CNNConfig
        from ..nn.kamnet import KamNetConfig
        from ..train.inputs import checkpoint_input_config

        cls = {"kamnet": KamNetConfig, "cnn": CNNConfig}.get(self.meta.get("model"))
        if cls is None:
            return None
        where = str(self.path.with_name(self.path.name + ".json"))
        try:
            config = cls.from_json(self.meta.get("config") or {})
        except ModelFileError:
            raise
        except Exception as exc:  # ConfigError: bad keys or values
            raise ModelFileError(f"{where}: invalid {self.meta['model']} configuration ({one_line(exc)})") from None
        # checkpoint_input_config reads only the network's configuration (its grid), not its weights
        return checkpoint_input_config(SimpleNamespace(config=config), self.meta, where)


def find_checkpoint(name_or_path: str | os.PathLike) -> Path:
    """The checkpoint ``name_or_path`` as given (``PREFIX``, ``PREFIX.json`` or ``PREFIX.safetensors``), or the
    shipped one of that name in ``assets/`` (``kamnet_cpu``, ``cnn_bi214``, ``vae_xe136``, ...).

    The one place a model name is resolved (:func:`kamcore._assets.find_asset` with the checkpoint's
    ``.json``); a name found nowhere comes back as given, so the loader's error names what the user typed.
    """
    from .._assets import find_asset

    return Path(find_asset(name_or_path, ".json"))


def checkpoint_info(name_or_path: str | os.PathLike, *, what: str = "classifier") -> CheckpointInfo:
    """:class:`CheckpointInfo` of the checkpoint at ``name_or_path`` or the shipped one of that name.

    Raises a one-line :class:`~kamcore.errors.ModelFileError` naming the file when the JSON is missing or
    not a JSON object (``what`` names the kind of checkpoint expected in the message), or the weights
    cannot be read.
    """
    p = find_checkpoint(name_or_path)
    if p.suffix in (".safetensors", ".json"):
        p = p.with_suffix("")
    meta_path = p.with_name(p.name + ".json")
    if not meta_path.exists():
        raise ModelFileError(f"{meta_path}: {what} checkpoint not found")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{meta_path}: not a readable checkpoint JSON ({' '.join(str(exc).split())})") from None
    if not isinstance(meta, dict):
        raise ModelFileError(f"{meta_path}: expected a JSON object, got {type(meta).__name__}")
    return CheckpointInfo(p, meta, model_identity(p, meta))
