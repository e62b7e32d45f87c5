"""The index owns the list of protected place names; the gazetteer is tested against it."""

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


def test_shared_imports_nothing_from_services():
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "shared"
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "services"]
    assert offenders == [] or all(o.startswith("cli.py") for o in offenders), offenders
