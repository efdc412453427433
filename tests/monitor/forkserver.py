"""Start ``kamcore monitor`` processes fast, for the kill -9 tests: a fork server.

A fresh ``python -m kamcore monitor`` spends 3-6 s importing torch, pandas, scipy
and SQLAlchemy on the 2-core machine before it reads its first file; twenty of
them would take minutes.  This script imports all of that once, then reads one
JSON request per line on stdin and answers one JSON line on stdout:

* ``{"op": "start", "argv": [...], "log": FILE}`` -- fork; the child runs
  ``kamcore.cli.main(argv)`` (the code of the ``kamcore`` command, from argument
  parsing to exit status) with stdout/stderr appended to ``FILE``, then exits with
  its status.  Answer ``{"pid": PID}``: kill it with SIGKILL from anywhere.
* ``{"op": "wait", "pid": PID}`` -- reap it; answer ``{"code": N}`` or
  ``{"signal": N}``.

No torch operation runs in the server before it forks (only imports), so the
children start with no thread pools.  Run as ``python tests/monitor/forkserver.py``.
"""

from __future__ import annotations

import json
import os
import sys


def _warm() -> None:
    import kamcore.catalog  # noqa: F401
    import kamcore.fit  # noqa: F401
    import kamcore.io  # noqa: F401
    import kamcore.monitor  # noqa: F401
    import kamcore.preprocess  # noqa: F401
    import kamcore.runs  # noqa: F401
    import kamcore.train  # noqa: F401
    import pandas  # noqa: F401 - imported lazily by kamcore.io
    from kamcore.cli.main import build_parser
    from kamcore.geometry import default_pmt_table

    build_parser()  # registers every command
    default_pmt_table()


def _child(argv: list[str], log: str) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    code = 70
    try:
        from kamcore.cli import main

        code = main(argv)
    except BaseException as exc:  # noqa: BLE001 - reported in the log, exit status 70
        print(f"forkserver child: {type(exc).__name__}: {exc}", file=sys.stderr)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(code))


def serve() -> None:
    _warm()
    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        if req["op"] == "start":
            pid = os.fork()
            if pid == 0:
                _child(req["argv"], req["log"])
            print(json.dumps({"pid": pid}), flush=True)
        elif req["op"] == "wait":
            _, status = os.waitpid(int(req["pid"]), 0)
            out = {"signal": os.WTERMSIG(status)} if os.WIFSIGNALED(status) else {"code": os.WEXITSTATUS(status)}
            print(json.dumps(out), flush=True)


if __name__ == "__main__":
    serve()
