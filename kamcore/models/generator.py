"""A loaded event generator (VAE or WGAN-GP point-cloud model) and the events it makes.

:func:`load_generator` finds a generator checkpoint (a path, or a shipped name such as
``vae_xe136`` looked up in ``assets/``) and loads it (safetensors, no pickle,
:func:`kamcore.train.checkpoint.load_model`).  :meth:`Generator.generate` samples events
(:func:`kamcore.train.generative.generate_events`): hits of triggered PMTs with proper
times in ns and charges in p.e., marked ``attrs["time_reference"] == "proper"``.
"""

from __future__ import annotations

import os
from pathlib import Path

from .identity import model_identity

__all__ = ["GENERATOR_KINDS", "Generator", "load_generator"]

#: the generator kinds a checkpoint may hold
GENERATOR_KINDS = ("vae", "gan")


class Generator:
    """A loaded generator; build it with :func:`load_generator`.

    Attributes
    ----------
    module : the torch module (eval mode)
    meta : the checkpoint's JSON (``model`` kind, ``preset``, training history)
    path : the weights file
    identity : ``{"name", "kind", "digest"}`` (:func:`~kamcore.models.model_identity`)
    """

    def __init__(self, module, meta: dict, path: Path):
        self.module, self.meta, self.path = module, meta, Path(path)
        self.identity = model_identity(path, meta)

    @property
    def kind(self) -> str:
        return self.identity["kind"]

    def generate(self, n: int, seed: int = 0, *, pmts=None, run: int = 0):
        """``n`` generated :class:`kamcore.Events` of seed ``seed`` (the same seed gives the same events)."""
        from ..train.generative import generate_events

        return generate_events(self.module, n, seed=int(seed), pmts=pmts, run=run)

    def __repr__(self) -> str:
        return f"Generator({self.identity['name']}: {self.kind}, digest {self.identity['digest']})"


def load_generator(name_or_path: str | os.PathLike, *, kinds: tuple[str, ...] = GENERATOR_KINDS,
                   device: str = "cpu") -> Generator:
    """The generator at ``name_or_path`` (``PREFIX``, ``PREFIX.json``, ``PREFIX.safetensors``) or the
    shipped one of that name, of one of ``kinds``; one-line :class:`~kamcore.errors.ModelFileError` when it
    is missing or cannot be loaded."""
    from ..train.checkpoint import load_model as load_checkpoint
    from .info import checkpoint_info

    info = checkpoint_info(name_or_path, what=" or ".join(k.upper() for k in kinds))
    module, meta = load_checkpoint(info.path, device=device, kinds=tuple(kinds))
    return Generator(module, meta, info.path.with_name(info.path.name + ".safetensors"))
