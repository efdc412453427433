"""Polling helper of the browser and process tests."""

import time


def wait_for(cond, timeout_s: float, what: str, poll_s: float = 0.2):
    """``cond()``'s first truthy value, polled every ``poll_s``; AssertionError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
