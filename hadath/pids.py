"""Pid files and liveness of the background processes the tools start (servers and services)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


def read_pid(path: Path) -> int | None:
    """The pid written in ``path``, or ``None`` when the file is missing or not a number."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def alive(pid: int | None, *, command_words: Sequence[bytes] = ()) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as gone, and is reaped when it is our
    child). With ``command_words``, its command line must also contain one of them, which
    guards against a reused pid (a command line still empty between two ``exec`` calls passes);
    without ``/proc``, ``kill(pid, 0)`` alone decides."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, IndexError):
        return True
    if state == "Z":
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        return False
    if not command_words or not cmdline:
        return True
    return any(word in cmdline for word in command_words)
