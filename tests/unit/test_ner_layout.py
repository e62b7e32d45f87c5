"""The NER package's shape: what the extract service runs is apart from training.

``services/extract/ner/`` holds the recognizers, their featurizers and loaders;
``services/extract/ner/training/`` builds and measures what they load. The running service must
never import training (nor torch or gensim, which only training needs).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXTRACT = ROOT / "services" / "extract"
TRAINING = EXTRACT / "ner" / "training"


def test_the_running_extract_service_loads_nothing_of_training_nor_torch_nor_gensim():
    """Import the service, build its app's handler for each shipped offline recognizer and run it
    on a sample article: no ``services.extract.ner.training`` module, no torch, no gensim."""
    code = f"""
import json, sys
from datetime import UTC, datetime
import services.extract.app as app
from services.extract.extract import Extractor
from services.ingest.gate import process_raw
from services.normalize.normalize import normalize_article
line = open({str(ROOT / "hadath" / "samples" / "articles.jsonl")!r}, encoding="utf-8").readline()
raw = json.dumps({{**json.loads(line), "published_at": "2026-02-12T10:00:00+00:00"}}).encode()
article = normalize_article(process_raw(raw, ingested_at=datetime(2026, 2, 12, tzinfo=UTC))[0])
for name in ("bilstm", "crf"):
    (outcome,) = app.make_handler(Extractor(name))([article.model_dump_json().encode()])
    assert outcome.outputs and json.loads(outcome.outputs[0][1])["entities"], name
print(sorted(m for m in sys.modules
             if m.startswith("services.extract.ner.training") or m.split(".")[0] in ("torch", "gensim")))
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "[]", run.stdout


def _imported_modules(path: Path) -> set[str]:
    """Every module an ``import`` statement of ``path`` names, at any depth (lazy imports too)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def test_no_run_time_module_imports_training_even_lazily():
    bad = []
    for path in EXTRACT.rglob("*.py"):
        if TRAINING in path.parents:
            continue
        bad += [(str(path.relative_to(ROOT)), m) for m in _imported_modules(path)
                if m.startswith("services.extract.ner.training")]
    assert bad == []


def test_the_default_recognizer_does_not_enter_the_crf_module():
    """BIO decoding lives in ``ner/bio.py``: the BiLSTM-CRF and its featurizer and network do not
    import the CRF (python-crfsuite), and the gazetteer loader imports no recognizer."""
    for name in ("neural.py", "neural_features.py", "neural_net.py", "gazetteers.py", "features.py"):
        mods = _imported_modules(EXTRACT / "ner" / name)
        assert not {m for m in mods if m.startswith("services.extract.ner.crf") or m == "pycrfsuite"}, name
