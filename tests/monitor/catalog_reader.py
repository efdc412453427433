"""A dashboard's catalog reads in a separate process, for the shared-database tests.

``python tests/monitor/catalog_reader.py URL MODEL_DIGEST TEMPLATE_DIGEST N_RUNS TIMEOUT_S NAME`` polls what
``dashboard.backend.Backend`` reads (``list_runs`` of the model and templates, ``periods``, ``notes``) through
:class:`kamcore.catalog.Catalog` every 50 ms while a monitor writes, and checks every snapshot: run numbers
unique, a run stored ``ok`` has its fit, runs and closed runs never disappear.  It adds one shift note when
it first sees a closed run (a dashboard writes notes too).  It stops when ``N_RUNS`` runs are stored, or
after ``TIMEOUT_S``; prints one JSON line ``{"polls", "runs", "ok", "problems", "note"}``; exit status 1
when a check failed or the runs never arrived.
"""

from __future__ import annotations

import json
import sys
import time


def main(url: str, model_digest: str, template_digest: str, n_runs: int, timeout_s: float, name: str) -> int:
    from kamcore.catalog import Catalog
    from kamcore.errors import KamcoreError

    t_end = time.monotonic() + timeout_s
    cat = None
    polls, problems, note = 0, [], None
    seen_runs: set[int] = set()
    seen_ok: set[int] = set()
    while time.monotonic() < t_end:
        try:
            cat = cat or Catalog(url)
            runs = cat.list_runs(model_digest=model_digest, template_digest=template_digest)
            cat.periods(model_digest=model_digest, template_digest=template_digest)
            cat.notes()
        except KamcoreError as exc:
            problems.append(f"read failed: {exc}")
            time.sleep(0.05)
            continue
        polls += 1
        nums = [r["run"] for r in runs]
        ok = {r["run"] for r in runs if r["status"] == "ok"}
        if len(nums) != len(set(nums)):
            problems.append(f"duplicate runs {nums}")
        if any(r["status"] == "ok" and r["fit"] is None for r in runs):
            problems.append(f"run stored ok without its fit: {[r['run'] for r in runs if r['fit'] is None]}")
        if not seen_runs <= set(nums) or not seen_ok <= ok:
            problems.append(f"runs disappeared: {sorted(seen_runs - set(nums))} {sorted(seen_ok - ok)}")
        seen_runs |= set(nums)
        seen_ok |= ok
        if note is None and ok:
            note = cat.add_note(f"{name} saw run {min(ok)} closed", author=name, run=min(ok))
        if len(seen_runs) >= n_runs:
            break
        time.sleep(0.05)
    print(json.dumps({"polls": polls, "runs": sorted(seen_runs), "ok": sorted(seen_ok), "problems": problems[:5],
                      "note": note}))
    return 1 if problems or len(seen_runs) < n_runs else 0


if __name__ == "__main__":
    a = sys.argv[1:]
    sys.exit(main(a[0], a[1], a[2], int(a[3]), float(a[4]), a[5]))
