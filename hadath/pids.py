"""Pid files and liveness of the background processes the tools start (servers and services)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
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


def proc_stats(proc: Path = Path("/proc")) -> Iterator[tuple[int, list[str]]]:
    """``(pid, fields)`` of every process in ``proc``, ``fields`` the words of its ``stat`` after
    the command name (state, ppid, pgrp, …); processes gone meanwhile are skipped."""
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            yield int(entry.name), (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue


def tree_cpu_seconds(pids: Sequence[int], proc: Path = Path("/proc")) -> dict[int, float]:
    """CPU seconds (user + system, every thread) each of ``pids`` and its live descendants
    have used so far, from ``<proc>/<pid>/stat`` (the shell script that starts Elasticsearch
    counts with the java server below it). A pid that is gone counts 0. One pass over
    ``proc``, so a benchmark can take a snapshot before and after a run cheaply."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    parent: dict[int, int] = {}
    own: dict[int, float] = {}
    for pid, fields in proc_stats(proc):
        parent[pid] = int(fields[1])  # after the name: state, ppid, …; utime, stime are 14, 15
        own[pid] = (int(fields[11]) + int(fields[12])) / tick
    children: dict[int, list[int]] = {}
    for pid, ppid in parent.items():
        children.setdefault(ppid, []).append(pid)
    out = {}
    for root in pids:
        total, todo, seen = 0.0, [root], set()
        while todo:
            pid = todo.pop()
            if pid in seen or pid not in own:
                continue
            seen.add(pid)
            total += own[pid]
            todo += children.get(pid, [])
        out[root] = total
    return out
