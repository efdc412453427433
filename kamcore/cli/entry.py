"""Console-script entry point of ``kamcore``: tune glibc's allocator, then run :func:`main`.

glibc hands every freed block above its mmap threshold (at most 32 MB) back to the
operating system, so the large activations of KamNet's spherical layers are
page-faulted in again on every step: measured on the 2-core machine, the paper's
spherical stack (forward + backward, batch 32) takes 3.6 s with the default
allocator and 1.85 s with the threshold raised (``benchmarks/bench_kamnet.py``).
The thresholds can only be raised that far through ``GLIBC_TUNABLES`` before the
process starts, so the entry point re-executes itself once with it set.  Set
``KAMCORE_NO_MALLOC_TUNING=1`` (or your own ``GLIBC_TUNABLES``) to opt out.
"""

from __future__ import annotations

import os
import sys

__all__ = ["MALLOC_TUNABLES", "entry"]

MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=17179869184"


def entry() -> None:
    if (sys.platform.startswith("linux") and "GLIBC_TUNABLES" not in os.environ
            and not os.environ.get("KAMCORE_NO_MALLOC_TUNING")):
        env = dict(os.environ, GLIBC_TUNABLES=MALLOC_TUNABLES)
        try:
            os.execve(sys.executable, [sys.executable, "-m", "kamcore", *sys.argv[1:]], env)
        except OSError:
            pass  # could not re-execute: run with the default allocator
    from .main import main

    sys.exit(main())
