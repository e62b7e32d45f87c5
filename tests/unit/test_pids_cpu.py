"""``hadath.pids.tree_cpu_seconds``: a process's CPU time with its descendants', from /proc."""

from __future__ import annotations

import os
from pathlib import Path

from hadath.pids import tree_cpu_seconds


def _stat(proc: Path, pid: int, ppid: int, utime: int, stime: int, name: str = "py thon") -> None:
    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime …
    (proc / str(pid)).mkdir()
    (proc / str(pid) / "stat").write_text(
        f"{pid} ({name}) S {ppid} 1 1 0 -1 0 0 0 0 0 {utime} {stime} 0 0 20 0 1 0 0 0 0\n")


def test_a_process_counts_its_descendants(tmp_path: Path) -> None:
    tick = os.sysconf("SC_CLK_TCK")
    _stat(tmp_path, 10, 1, tick, tick)  # 2 s
    _stat(tmp_path, 11, 10, tick, 0, name="java) (x")  # a name with a parenthesis: 1 s
    _stat(tmp_path, 12, 11, 0, tick // 2)  # grandchild: 0.5 s
    _stat(tmp_path, 20, 1, 3 * tick, 0)  # not below 10
    (tmp_path / "self").mkdir()  # not a pid: skipped
    got = tree_cpu_seconds([10, 11, 20, 99], proc=tmp_path)
    assert got == {10: 3.5, 11: 1.5, 20: 3.0, 99: 0.0}


def test_this_process_on_the_real_proc() -> None:
    if not Path("/proc/self/stat").exists():
        return
    sum(i * i for i in range(300_000))  # some CPU
    assert tree_cpu_seconds([os.getpid()])[os.getpid()] > 0
