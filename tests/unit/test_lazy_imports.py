"""Import-time work every stage pays for stays small: the shared library loads its heavy
dependencies when they are used, not on import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _loaded_after(code: str, prefixes: tuple[str, ...]) -> list[str]:
    probe = f"import sys\n{code}\nprint(sorted(m for m in sys.modules if m.split('.')[0] in {prefixes!r}))"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    return eval(run.stdout.strip().splitlines()[-1])


def test_the_shared_library_imports_neither_datasketch_nor_camel_tools():
    """``camel_tools.utils.charsets`` scans all of Unicode on import (~0.6 s) and datasketch
    brings scipy (~0.5 s): the index stage and the index template need neither."""
    assert _loaded_after("import shared.arabic, shared.neardup, shared.es, services.index.app",
                         ("datasketch", "camel_tools", "scipy")) == []


def test_the_first_signature_loads_datasketch():
    code = ("from shared.neardup import signature\n"
            "s = signature(' '.join(f'w{i} x{i % 7}' for i in range(60)))\n"
            "assert s.startswith('m'), s")
    assert "datasketch" in _loaded_after(code, ("datasketch",))
