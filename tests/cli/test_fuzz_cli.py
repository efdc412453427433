"""Fuzzed bad input through the ``kamcore`` command line (issue 8, item 1).

The command runs in-process (``kamcore.cli.main(argv)``; a subprocess per example would
cost a second of imports each).  Hypothesis draws a command (``info``, ``info --json``,
``hitmaps``, ``score``, ``evaluate``, ``compare``, ``generate``) and feeds it a malformed
event file (the content cases and byte damage of ``tests/malformed.py``, missing files,
directories, empty and huge sparse files), a damaged model checkpoint, or bad option
values.  Every example must end in one of two ways:

* exit status 0, nothing on stderr, no warning, and the output file written -- required
  when the input is valid (e.g. events with all 1879 PMTs hit, files without events);
* exit status 2 and exactly one line on stderr, ``kamcore: error: ...`` naming the bad file
  (or option) and the problem, no output file and no temporary file left behind.

Exit status 1 (an internal error, i.e. an exception that is not ours), a traceback, a
second line, a Python warning, or a broken file that is accepted all fail the test.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from malformed import (byte_mutations, full_event, json_defects, mutate, parquet_cases, root_cases, sparse_file,
                       write_parquet_case, write_root_case)
from synthetic import random_events

from kamcore.cli import main
from kamcore.events import Events
from kamcore.io import open_events, write_events, write_root

N_EXAMPLES = {"event_files": 150, "model_files": 110, "options": 90, "outputs": 20}
# no per-example deadline: a speed limit is a benchmark's job, and a loaded CI tripped it (the
# module's pytest timeout still stops a hang)
FUZZ = settings(derandomize=True, database=None, deadline=None, print_blob=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

pytestmark = [pytest.mark.timeout(400), pytest.mark.usefixtures("one_torch_thread")]

_ids = itertools.count()  # unique file names, also across hypothesis' replays of a failing example


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """Good inputs: two small run files, a Parquet and a ROOT copy to damage, a CNN classifier (cpu preset, which
    takes the CLI's 28x38x38 maps) and the shipped VAE generator."""
    import torch

    from kamcore._assets import find_asset
    from kamcore.nn.cnn import CNNConfig, ConventionalCNN
    from kamcore.train import save_model

    d = tmp_path_factory.mktemp("cli_fuzz")
    ev = Events.concat([random_events(5, seed=11, max_hits=30), full_event(2)])
    write_events(ev, d / "good.parquet")
    write_root(ev, d / "good.root")
    write_events(random_events(6, seed=12, max_hits=30), d / "bkg.parquet")
    torch.manual_seed(0)
    save_model(d / "cnn", ConventionalCNN(CNNConfig.from_preset("cpu")), "cnn", preset="cpu")
    vae = find_asset("vae_xe136", ".json")
    for suffix in (".json", ".safetensors"):
        shutil.copy(vae.with_suffix(suffix), d / f"vae{suffix}")
    return d


def run(argv: list[str], capsys) -> tuple[int, str, str, list]:
    """``(exit status, stdout, stderr, warnings)`` of ``kamcore argv``, in-process."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err, [f"{w.category.__name__}: {w.message}" for w in caught]


def check(result, *, must: str, names: str = "", pattern: str = "", out_dir: Path, output: Path | None):
    """Judge one run: ``must`` is ``"ok"``, ``"error"`` or ``"either"``; an error names ``names`` and matches
    ``pattern``; ``output`` is the file the command writes."""
    code, out, err, caught = result
    assert "Traceback" not in err + out, err
    assert not caught, f"warnings: {caught}"
    assert code in (0, 2), f"exit {code}: {err}"
    if code == 0:
        assert must != "error", f"bad input accepted: stdout {out[:300]!r}"
        assert err == "", err
        if output is not None:
            assert output.exists()
    else:
        assert must != "ok", f"valid input refused: {err}"
        lines = err.splitlines()
        assert len(lines) == 1 and re.match(r"kamcore( [\w-]+)*: error: ", lines[0]), err
        assert names in lines[0], (names, err)
        assert re.search(pattern, lines[0]), (pattern, err)
        if output is not None:
            assert not output.exists(), f"{output} left behind after an error"
    leftovers = [p.name for p in out_dir.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]
    assert not leftovers, f"temporary files left behind: {leftovers}"


# ------------------------------------------------------------------------ event files
@st.composite
def bad_event_files(draw, base: Path, where: Path, k: int) -> tuple[Path, str, str]:
    """``(path, verdict, pattern)``: verdict ``"ok"``/``"error"`` known from the construction, ``"read"`` when
    only reading tells (byte damage)."""
    kind = draw(st.sampled_from(["parquet_content", "root_content", "parquet_bytes", "root_bytes", "special"]))
    if kind == "parquet_content":
        case, table, options = draw(parquet_cases())
        path = write_parquet_case(table, options, where / f"in{k}.parquet")
        return path, "ok" if case.valid else "error", case.pattern
    if kind == "root_content":
        case, spec = draw(root_cases())
        path = write_root_case(spec, where / f"in{k}.root")
        return path, "ok" if case.valid else "error", case.pattern
    if kind in ("parquet_bytes", "root_bytes"):
        src = base / ("good.parquet" if kind == "parquet_bytes" else "good.root")
        path = where / f"in{k}{src.suffix}"
        path.write_bytes(mutate(src.read_bytes(), draw(byte_mutations())))
        return path, "read", ""
    special = draw(st.sampled_from(["missing", "directory", "empty", "text", "sparse_parquet", "sparse_root",
                                    "no_events", "fifo", "long_name"]))
    path = where / f"in{k}.parquet"
    if special == "missing":
        return path, "error", "no such file"
    if special == "fifo":  # a named pipe without a writer: opening it would block
        os.mkfifo(path)
        return path, "error", "not a regular file"
    if special == "long_name":
        return where / (f"in{k}" + "x" * 300 + ".parquet"), "error", "File name too long"
    if special == "directory":
        path.mkdir()
        return path, "error", "is a directory"
    if special == "empty":
        path.write_bytes(b"")
        return path, "error", "not a Parquet or ROOT file"
    if special == "text":
        path.write_text("run 4711 was fine\n")
        return path, "error", "not a Parquet or ROOT file"
    if special == "sparse_parquet":
        sparse_file(path, 2**draw(st.integers(24, 40)), head=b"PAR1", tail=(base / "good.parquet").read_bytes()[-64:])
        return path, "error", "Parquet"
    if special == "sparse_root":
        sparse_file(path, 2**draw(st.integers(24, 40)), head=(base / "good.root").read_bytes()[:64])
        return path, "error", "ROOT|TTree"
    write_events(Events.empty(), path)
    return path, "ok", ""


def _event_command(draw, base: Path, bad: Path, out_dir: Path) -> tuple[list, Path | None, bool]:
    """``(argv, output file, needs events)`` of a command that reads ``bad``."""
    cmd = draw(st.sampled_from(["info", "info_json", "hitmaps", "score", "evaluate_signal", "evaluate_background",
                                "compare_real", "compare_generated"]))
    good = base / "bkg.parquet"
    if cmd == "info":
        return ["info", bad], None, False
    if cmd == "info_json":
        return ["info", bad, "--json"], None, False
    if cmd == "hitmaps":
        return ["hitmaps", bad, "--out", out_dir / "maps.npz"], out_dir / "maps.npz", False
    if cmd == "score":
        return ["score", base / "cnn", bad, "--out", out_dir / "scores.parquet"], out_dir / "scores.parquet", False
    if cmd.startswith("evaluate"):
        sig, bkg = (bad, good) if cmd == "evaluate_signal" else (good, bad)
        return (["evaluate", base / "cnn", "--signal", sig, "--background", bkg, "--out", out_dir / "r.json"],
                out_dir / "r.json", True)
    real, gen = (bad, good) if cmd == "compare_real" else (good, bad)
    return ["compare", real, gen, "--no-classifier", "--bins", "10"], None, True


def test_bad_event_files(base, tmp_path_factory, capsys):
    d = tmp_path_factory.mktemp("events_in")
    ran = []

    @settings(FUZZ, max_examples=N_EXAMPLES["event_files"])
    @given(st.data())
    def body(data):
        k = next(_ids)
        out_dir = d / f"out{k}"
        out_dir.mkdir()
        bad, verdict, pattern = data.draw(bad_event_files(base, d, k))
        argv, output, needs_events = _event_command(data.draw, base, bad, out_dir)
        if verdict == "read":
            try:
                ev = open_events(bad)
                verdict = "ok"
            except Exception:  # noqa: BLE001 - the CLI must then refuse it (the reader's errors: tests/io)
                ev, verdict = None, "error"
        elif verdict == "ok" and bad.is_file():
            ev = open_events(bad)
        must = verdict
        if verdict == "ok" and needs_events and len(ev) == 0:
            must, pattern = "error", "no events"
        ran.append(must)
        check(run(argv, capsys), must=must, names=bad.name, pattern=pattern, out_dir=out_dir, output=output)

    body()
    assert len(ran) >= N_EXAMPLES["event_files"]
    assert 0.15 < ran.count("ok") / len(ran) < 0.6, ran


# ------------------------------------------------------------------------ model files
def _damage_weights(draw, data: bytes) -> tuple[bytes | None, str]:
    what = draw(st.sampled_from(["bytes", "truncate", "missing", "empty"]))
    if what == "bytes":
        return mutate(data, draw(byte_mutations(max_ops=2))), ""
    if what == "truncate":
        return data[:draw(st.integers(0, len(data) - 1))], "not a safetensors file"
    if what == "missing":
        return None, "weights file not found"
    return b"", "not a safetensors file"


def test_bad_model_files(base, tmp_path_factory, capsys):
    """Damaged classifier and generator checkpoints, and checkpoints of the wrong kind, for score, evaluate and
    generate."""
    import json

    d = tmp_path_factory.mktemp("models_in")
    ran = []

    @settings(FUZZ, max_examples=N_EXAMPLES["model_files"])
    @given(st.data())
    def body(data):
        k = next(_ids)
        out_dir = d / f"out{k}"
        out_dir.mkdir()
        cmd = data.draw(st.sampled_from(["score", "evaluate", "generate"]))
        use = data.draw(st.sampled_from(["right", "right", "right", "wrong_kind"]))
        src = {"score": "cnn", "evaluate": "cnn", "generate": "vae"}[cmd]
        if use == "wrong_kind":
            src = "vae" if src == "cnn" else "cnn"
        prefix = d / f"m{k}"
        doc = (base / f"{src}.json").read_bytes()
        weights = (base / f"{src}.safetensors").read_bytes()
        target = data.draw(st.sampled_from(["json", "weights", "none"]))
        pattern = ""
        if target == "json":
            doc, pattern = data.draw(json_defects(json.loads(doc)))
        elif target == "weights":
            weights, pattern = _damage_weights(data.draw, weights)
        if doc is not None:
            prefix.with_suffix(".json").write_bytes(doc)
        if weights is not None:
            prefix.with_suffix(".safetensors").write_bytes(weights)
        if use == "wrong_kind":  # refused for its kind before the damage is seen, unless the JSON is damaged
            pattern = r"is a \w+ checkpoint; expected" + (f"|{pattern}" if pattern else "")
        if cmd == "score":
            argv, output = ["score", prefix, base / "good.parquet", "--out", out_dir / "s.parquet"], out_dir / "s.parquet"
        elif cmd == "evaluate":
            argv = ["evaluate", prefix, "--signal", base / "good.parquet", "--background", base / "bkg.parquet",
                    "--out", out_dir / "r.json"]
            output = out_dir / "r.json"
        else:
            argv = ["generate", "--model", prefix, "--events", "3", "--seed", "1", "--out", out_dir / "g.parquet"]
            output = out_dir / "g.parquet"
        must = "error" if pattern else ("either" if target != "none" or use == "wrong_kind" else "ok")
        if use == "wrong_kind":
            must = "error"
        ran.append(must)
        check(run(argv, capsys), must=must, names=prefix.name, pattern=pattern, out_dir=out_dir, output=output)

    body()
    assert len(ran) >= N_EXAMPLES["model_files"]


# ------------------------------------------------------------------------ output paths
def test_bad_output_paths(base, tmp_path_factory, capsys):
    """``--out`` in a missing directory, under a file, on a directory, or with a name too long: one line, exit 2,
    nothing written (the checks run before any work)."""
    d = tmp_path_factory.mktemp("out_paths")
    (d / "adir.npz").mkdir()
    ran = []

    @settings(FUZZ, max_examples=N_EXAMPLES["outputs"])
    @given(st.sampled_from(["hitmaps", "score", "evaluate", "simulate", "generate"]),
           st.sampled_from(["missing_dir", "under_file", "directory", "long_name"]))
    def body(cmd, where):
        out = {"missing_dir": d / "no" / "such" / "out.npz", "under_file": base / "good.parquet" / "out.npz",
               "directory": d / "adir.npz", "long_name": d / ("o" * 300 + ".npz")}[where]
        argv = {"hitmaps": ["hitmaps", base / "good.parquet"],
                "score": ["score", base / "cnn", base / "good.parquet"],
                "evaluate": ["evaluate", base / "cnn", "--signal", base / "good.parquet", "--background",
                             base / "bkg.parquet"],
                "simulate": ["simulate", "--source", "C10", "--events", "2", "--seed", "1", "--no-progress"],
                "generate": ["generate", "--model", base / "vae", "--events", "2", "--seed", "1"]}[cmd]
        ran.append(cmd)
        before = sorted(p.name for p in d.iterdir())
        check(run([*argv, "--out", out], capsys), must="error", names=out.name[:40], out_dir=d, output=None)
        assert sorted(p.name for p in d.iterdir()) == before
        assert (d / "adir.npz").is_dir() and not list((d / "adir.npz").iterdir())

    body()
    assert len(ran) >= N_EXAMPLES["outputs"]


# ----------------------------------------------------------------------------- options
#: (option, values that must be refused, values that are valid) per command
BAD_NUMBERS = ["nan", "inf", "-inf", "-1", "0", "x", "", "1e999", "2.5"]


def test_bad_options(base, tmp_path_factory, capsys):
    """Out-of-range, non-finite and non-numeric option values end in one line and exit 2."""
    d = tmp_path_factory.mktemp("options_in")
    ran = []
    good = base / "good.parquet"
    specs = {
        # command prefix, option, valid values
        "simulate": (["simulate", "--source", "C10", "--seed", "1", "--no-progress"],
                     {"--events": ["2"], "--qe": ["0.2"], "--max-radius": ["150"], "--coverage": ["0.3"],
                      "--energy-window": [("1", "3")]}),
        "hitmaps": (["hitmaps", good], {"--n-time-bins": ["4"], "--bandwidth": ["4"], "--bin-width-ns": ["2"],
                                        "--c-light-cm-per-ns": ["17"], "--attenuation-cm": ["1000"]}),
        "compare": (["compare", good, base / "bkg.parquet", "--no-classifier"], {"--bins": ["5"], "--threads": ["1"]}),
        "generate": (["generate", "--model", base / "vae", "--seed", "1"], {"--events": ["2"], "--threads": ["1"]}),
    }

    @settings(FUZZ, max_examples=N_EXAMPLES["options"])
    @given(st.sampled_from(sorted(specs)), st.data())
    def body(cmd, data):
        k = next(_ids)
        out_dir = d / f"out{k}"
        out_dir.mkdir()
        prefix, options = specs[cmd]
        option = data.draw(st.sampled_from(sorted(options)))
        argv = list(prefix)
        for opt, valid in options.items():
            if opt == option:
                continue
            v = valid[0]
            argv += [opt, *v] if isinstance(v, tuple) else [opt, v]
        bad = data.draw(st.sampled_from(BAD_NUMBERS))
        if option == "--energy-window":
            pair = data.draw(st.sampled_from([(bad, "3"), ("3", "1"), ("2", bad)]))
            argv += [option, *pair]
        else:
            argv += [option, bad]
        must = "error"
        if bad == "0" and option in ("--threads", "--coverage", "--qe"):
            must = "either"  # 0 threads: torch's default; no light: still dark noise
        if bad == "2.5" and option in ("--bin-width-ns", "--max-radius", "--attenuation-cm", "--c-light-cm-per-ns"):
            must = "either"  # a valid float for these; out of range for others
        output = None
        if cmd in ("simulate", "hitmaps", "generate"):
            output = out_dir / ("maps.npz" if cmd == "hitmaps" else "run.parquet")
            argv += ["--out", output]
        ran.append(must)
        check(run(argv, capsys), must=must, names=option.lstrip("-").split("-")[0], out_dir=out_dir,
              output=output)

    body()
    assert len(ran) >= N_EXAMPLES["options"]


# ---------------------------------------------------------------------- regular cases
def test_hitmaps_of_a_file_without_events(base, tmp_path, capsys):
    """Found by the fuzz: nhit() of zero maps raised ValueError; now empty arrays are written."""
    write_events(Events.empty(), tmp_path / "none.parquet")
    code, out, err, caught = run(["hitmaps", tmp_path / "none.parquet", "--out", tmp_path / "m.npz"], capsys)
    assert code == 0 and err == "" and not caught
    with np.load(tmp_path / "m.npz") as z:
        assert z["maps"].shape == (0, 28, 38, 38) and z["nhit"].shape == (0,)


def test_hitmaps_that_would_not_fit_in_memory(base, tmp_path, capsys):
    """A small file that would expand past the machine's memory is refused before anything is allocated."""
    write_events(Events.from_columns(offsets=np.zeros(200_001, np.int64), pmt=[], t_ns=[], q_pe=[]),
                 tmp_path / "many.parquet")
    code, _, err, _ = run(["hitmaps", tmp_path / "many.parquet", "--out", tmp_path / "m.npz",
                           "--n-time-bins", "512", "--bandwidth", "128"], capsys)
    assert code == 2 and "many.parquet: 200000 maps of 512x256x256 need" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "m.npz").exists()


def test_evaluate_on_a_file_without_events(base, tmp_path, capsys):
    """Found by the fuzz: an empty signal file raised IndexError (exit 1)."""
    write_events(Events.empty(), tmp_path / "none.parquet")
    code, _, err, _ = run(["evaluate", base / "cnn", "--signal", tmp_path / "none.parquet", "--background",
                           base / "bkg.parquet"], capsys)
    assert code == 2 and "none.parquet: no events to evaluate on" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("cmd", ["score", "evaluate"])
def test_generator_given_to_a_classifier_command(base, tmp_path, capsys, cmd):
    """Found by the fuzz: a VAE checkpoint for score/evaluate raised TypeError in forward() (exit 1)."""
    argv = (["score", base / "vae", base / "good.parquet", "--out", tmp_path / "s.parquet"] if cmd == "score" else
            ["evaluate", base / "vae", "--signal", base / "good.parquet", "--background", base / "bkg.parquet"])
    code, _, err, _ = run(argv, capsys)
    assert code == 2 and "vae.json: is a vae checkpoint; expected kamnet or cnn" in err
    assert not (tmp_path / "s.parquet").exists()
