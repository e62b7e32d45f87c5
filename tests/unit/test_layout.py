"""The shape of the code: the index owns its protected names (the gazetteer is tested against
them), and each layer imports only the layers beneath it."""

from __future__ import annotations

from services.extract.protected_names import protected_person_entries, protected_place_names
from shared.arabic import normalize
from shared.es import (NAME_MARK, PROTECTED_PERSONS_FILE, PROTECTED_PLACES_FILE, arabic_stopwords,
                       name_override_rules, protected_name_forms, protected_persons, protected_places)


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


def test_the_shipped_person_list_is_what_the_gazetteers_give():
    shipped = [line.strip() for line in PROTECTED_PERSONS_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    derived = protected_person_entries()
    missing, extra = sorted(set(derived) - set(shipped)), sorted(set(shipped) - set(derived))
    assert not missing and not extra and shipped == derived, (
        f"{PROTECTED_PERSONS_FILE} is out of date ({len(missing)} missing, {len(extra)} extra, e.g. "
        f"{(missing + extra)[:5]}): run python -m services.extract.protected_names")


def test_person_names_reach_the_analyzer_with_their_proclitic_forms():
    names, blocked = protected_persons()
    assert len(names) > 3000 and names == sorted(set(names))
    assert all(n == normalize(n) and " " not in n for n in names)
    forms = protected_name_forms()
    # made-up-looking but listed first names of the shapes the light stemmer cuts
    for name in ("مروان", "ياسين", "هارون", "بركات", "عدنان"):
        assert name in names, name
        for form in (name, "و" + name, "ب" + name, "ل" + name, "ال" + name, "وال" + name, "لل" + name):
            assert forms.get(form) == name + NAME_MARK, (form, forms.get(form))
    # a proclitic form that is a word of its own is never mapped to a name
    assert blocked and not any(form in forms and forms[form] != form + NAME_MARK for form in blocked
                               if form not in names)
    # the common words the person lists also hold stay unprotected
    for word in ("كان", "اليوم", "تيار", "المصري"):
        assert word not in forms, word


def test_every_rule_target_is_marked_and_no_form_is_a_bare_stem():
    forms = protected_name_forms()
    assert all(t.endswith(NAME_MARK) and NAME_MARK not in f for f, t in forms.items())
    rules = name_override_rules()
    assert len(rules) == len({t for t in forms.values()})
    size = sum(len(r.encode()) for r in rules)
    assert size < 2_000_000, size  # bytes of index settings (kept per index, in memory)
    assert len(name_override_rules(persons=False)) < len(rules)


def test_stopwords_are_normalized_and_keep_ali():
    words = arabic_stopwords()
    assert 80 <= len(words) <= 120 and all(w == normalize(w) for w in words)
    assert "علي" not in words and "في" in words


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


def test_one_table_the_date_finders_fold_and_month_names_come_from_shared():
    """The date finders derive their folds and month names from shared.arabic / shared.months."""
    import random

    from shared import dates as extract_dates
    from services.ingest import dates as ingest_dates
    from shared.arabic import NORMALIZATION_TABLE, fold_same_length, normalize
    from shared.months import GREGORIAN_MONTH_NAMES, HIJRI_MONTH_NAMES

    one_for_one = [k for k, v in NORMALIZATION_TABLE.items() if len(v) == 1]
    rng = random.Random(0)
    text = "".join(rng.choice(one_for_one + list("بتثجحخد ")) for _ in range(5000))
    assert fold_same_length(text) == normalize(text) and len(fold_same_length(text)) == len(text)
    assert {extract_dates._fold(n) for names in GREGORIAN_MONTH_NAMES.values() for n in names} == set(extract_dates.MONTHS)
    assert {extract_dates._fold(n) for names in HIJRI_MONTH_NAMES.values() for n in names} == set(extract_dates.HIJRI_MONTHS)
    relative_to = __import__("datetime").datetime(2024, 6, 1)
    for month, names in GREGORIAN_MONTH_NAMES.items():
        for name in names:  # every series parses in the gate as the same month
            parsed = ingest_dates.parse_published_at(f"3 {name} 2023", relative_to=relative_to)
            assert parsed is not None and (parsed.year, parsed.month, parsed.day) == (2023, month, 3), name
