"""The extract workers ``hadath services up`` and ``make demo`` start when not told."""

from __future__ import annotations

import os

from hadath import processes


def test_one_extract_worker_per_core_at_most_four(monkeypatch):
    for cores, want in (({0}, 1), ({0, 1}, 2), (set(range(3)), 3), (set(range(16)), processes.MAX_DEFAULT_EXTRACT_WORKERS)):
        monkeypatch.setattr(os, "sched_getaffinity", lambda _pid, c=cores: c, raising=False)
        assert processes.default_extract_workers() == (want, len(cores))


def test_the_command_says_what_it_chose(monkeypatch, capsys):
    from hadath import cli

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    assert cli._extract_workers(None) == 2
    assert cli._extract_workers(3) == 3
    out = " ".join(capsys.readouterr().err.split())  # the console writes to stderr (wrapped)
    assert "extract workers: 2 (one per core: 2 cores" in out and "extract workers: 3 (--extract-workers)" in out
