"""Entry point of the ``kamcore`` command (filled in by the CLI commit)."""

import sys


def main(argv=None) -> int:
    print("kamcore", file=sys.stderr)
    return 0
