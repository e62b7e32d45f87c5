"""The shape of the code: the index owns its protected names (the gazetteer is tested against
them), and each layer imports only the layers beneath it."""

from __future__ import annotations

from services.extract.protected_names import protected_place_names
from shared.arabic import normalize
from shared.es import PROTECTED_PLACES_FILE, protected_name_forms, protected_places


def test_the_shipped_list_is_what_the_gazetteer_gives():
    shipped, derived = protected_places(), protected_place_names()
    missing, extra = sorted(set(derived) - set(shipped)), sorted(set(shipped) - set(derived))
    assert not missing and not extra, (
        f"{PROTECTED_PLACES_FILE} is out of date ({len(missing)} missing, {len(extra)} extra, e.g. "
        f"{(missing + extra)[:5]}): run python -m services.extract.protected_names")


def test_the_list_is_normalized_single_words_and_reaches_the_analyzer():
    names = protected_places()
    assert len(names) > 1000 and names == sorted(set(names))
    assert all(n == normalize(n) and " " not in n for n in names)
    forms = protected_name_forms()
    for name in ("بغداد", "لبنان", "البحرين"):
        assert normalize(name) in names
        assert name in forms


def _imports(package: str) -> list[tuple[str, str]]:
    """``(file, imported module)`` of every import statement under ``package``."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / package
    out = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            out += [(str(path.relative_to(root.parent)), n) for n in names]
    return out


def test_layers_shared_imports_neither_services_nor_tools_and_services_not_tools():
    """shared ← services ← hadath (the tools): each layer imports only the ones before it."""
    bad = [(f, m) for f, m in _imports("shared") if m.split(".")[0] in ("services", "hadath")]
    bad += [(f, m) for f, m in _imports("services") if m.split(".")[0] == "hadath"]
    assert bad == []


def test_ingest_normalize_and_index_do_not_load_the_ner_stack():
    import subprocess
    import sys

    code = ("import sys, services.ingest.app, services.normalize.app, services.index.app; "
            "print(sorted(m for m in sys.modules if m.startswith(('services.extract', 'hadath', 'sklearn', 'torch'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
