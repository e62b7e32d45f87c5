"""The CAMeL Tools BERT backend (``services.extract.ner.camel``), wired to a TINY random BERT.

Skipped when torch or transformers is missing (``make install-bert`` installs them). The model
is built here in a temporary folder, so nothing is downloaded; the classifier bias is set so one
label dominates every token, which makes the output exact.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from services.extract.ner import camel  # noqa: E402
from services.extract.ner.camel import (  # noqa: E402
    CamelRecognizer,
    bio_ranges,
    chunk_tokens,
    prepare_offline_env,
    token_spans,
)
from services.extract.recognize import Recognizer, get_recognizer  # noqa: E402
from shared.arabic import entity_key, tokenize_spans  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
LABELS = ["O", "B-PERS", "I-PERS", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]
WORDS = ["زار", "محمد", "ثم", "عاد", "الى", "الرئيس", "وزير", "في", "من", "دمشق"]
LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهويىةءأإآؤئ"
SENTENCE = "زار محمد بغداد، ثم عاد إلى دمشق."
# (text, start, end) of every word of SENTENCE (punctuation is never an entity)
SENTENCE_WORDS = [("زار", 0, 3), ("محمد", 4, 8), ("بغداد", 9, 14), ("ثم", 16, 18),
                  ("عاد", 19, 22), ("إلى", 23, 26), ("دمشق", 27, 31)]


def _build_model(folder: Path, dominant: str | None) -> Path:
    """Save a tiny BertForTokenClassification + BertTokenizer in ``folder``."""
    from transformers import BertConfig, BertForTokenClassification, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "،", "؟", "!"]
    vocab += WORDS + list(LETTERS) + [f"##{c}" for c in LETTERS]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(str(folder / "vocab.txt"), do_lower_case=False)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=512,
        id2label=dict(enumerate(LABELS)), label2id={lab: i for i, lab in enumerate(LABELS)},
    )
    torch.manual_seed(0)
    model = BertForTokenClassification(config)
    if dominant is not None:
        with torch.no_grad():
            model.classifier.weight.zero_()
            model.classifier.bias.zero_()
            model.classifier.bias[LABELS.index(dominant)] = 100.0
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def _no_network(*args, **kwargs):
    raise AssertionError(f"network access attempted: {args!r}")


_OFFLINE_VARS = ("CAMELTOOLS_DATA", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def _isolate_env(mp: pytest.MonkeyPatch, home: Path) -> None:
    """HADATH_HOME -> ``home``; the offline variables unset now AND removed again on undo
    (``setenv`` first so that monkeypatch records them even when they were unset)."""
    mp.setenv("HADATH_HOME", str(home))
    for var in _OFFLINE_VARS:
        mp.setenv(var, "")
        mp.delenv(var)


@pytest.fixture(autouse=True)
def _private_home(tmp_path, monkeypatch):
    """No test writes to the real ~/.cache/hadath or leaks CAMELTOOLS_DATA & co."""
    _isolate_env(monkeypatch, tmp_path / "hadath-home")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """``{"random" | "B-LOC" | "I-PERS": CamelRecognizer}``, built and loaded with no network."""
    base = tmp_path_factory.mktemp("camel")
    with pytest.MonkeyPatch.context() as mp:
        _isolate_env(mp, base / "home")
        mp.setattr(socket.socket, "connect", _no_network)
        mp.setattr(socket, "create_connection", _no_network)
        out = {}
        for key, dominant in (("random", None), ("B-LOC", "B-LOC"), ("I-PERS", "I-PERS")):
            folder = _build_model(base / key.replace("-", "_"), dominant)
            out[key] = CamelRecognizer(folder, batch_size=4)
        yield out


def _check(texts, results):
    assert isinstance(results, list) and len(results) == len(texts)
    for text, ents in zip(texts, results):
        assert isinstance(ents, list)
        for e in ents:
            assert text[e.start:e.end] == e.text
            assert e.label in ("PERS", "LOC", "ORG", "MISC")
            assert e.normalized == entity_key(e.text)
            assert e.score is None
        assert [e.start for e in ents] == sorted(e.start for e in ents)


# --------------------------------------------------------------------------------------------


def test_random_model_wiring(models):
    rec = models["random"]
    assert rec.name == "camel" and isinstance(rec, Recognizer)
    texts = [SENTENCE, "", "   \n", "...", "قال وزير الخارجية السوري فيصل المقداد في دمشق اليوم "
             "إن الوفد سيزور بيروت. ثم عاد الرئيس إلى عمّان!\nمن القاهرة: «اجتماع» طارئ."]
    _check(texts, rec.recognize_batch(texts))
    assert rec.recognize_batch([]) == []


def test_dominant_b_loc_exact_spans(models):
    [ents] = models["B-LOC"].recognize_batch([SENTENCE])
    assert [(e.text, e.start, e.end, e.label) for e in ents] == [
        (w, s, e, "LOC") for w, s, e in SENTENCE_WORDS]
    assert [SENTENCE[s:e] for s, e in tokenize_spans(SENTENCE)] == [w for w, _, _ in SENTENCE_WORDS]
    assert ents[2].normalized == "بغداد" and ents[5].normalized == "الي"


def test_dominant_i_pers_one_entity_per_sentence(models):
    text = SENTENCE + " «من القاهرة»"
    [ents] = models["I-PERS"].recognize_batch([text])
    # I-PERS everywhere: one entity per sentence, edge punctuation trimmed
    assert [(e.text, e.label) for e in ents] == [
        ("زار محمد بغداد، ثم عاد إلى دمشق", "PERS"), ("من القاهرة", "PERS")]
    _check([text], [ents])


def test_long_text_is_chunked(models):
    # one 700-word "sentence" (well over 512 wordpieces) plus a short one, in one batch
    words = [WORDS[i % len(WORDS)] + LETTERS[i % len(LETTERS)] for i in range(700)]
    long_text = " ".join(words)
    texts = [long_text, SENTENCE]
    res = models["B-LOC"].recognize_batch(texts)
    _check(texts, res)
    assert [e.text for e in res[0]] == words
    assert len(res[1]) == len(SENTENCE_WORDS)
    # I-PERS: 700 tokens -> 3 balanced chunks of <= 256 tokens -> 3 entities
    [ents] = models["I-PERS"].recognize_batch([long_text])
    assert len(ents) == 3
    assert [len(e.text.split()) for e in ents] == [233, 234, 233]
    assert ents[0].start == 0 and ents[-1].end == len(long_text)


def test_get_recognizer_returns_camel(models, monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    rec = get_recognizer("camel", model_dir=str(models["B-LOC"].model_dir))
    assert isinstance(rec, CamelRecognizer) and rec.name == "camel"
    assert len(rec.recognize_batch([SENTENCE])[0]) == len(SENTENCE_WORDS)


@pytest.mark.parametrize("model_dir", [None, "", "/nonexistent/hadath-ner-model"])
def test_missing_model_dir_message(model_dir):
    with pytest.raises(ValueError) as err:
        get_recognizer("camel", model_dir=model_dir)
    msg = str(err.value)
    assert "HADATH_NER_MODEL_DIR" in msg
    assert "camel_data -i ner-arabert" in msg and "~/.camel_tools/data/ner/arabert" in msg


def test_folder_without_model_files(tmp_path):
    with pytest.raises(ValueError, match="config.json"):
        CamelRecognizer(tmp_path)


def test_torch_missing_message(models, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError) as err:
        CamelRecognizer(models["B-LOC"].model_dir)
    assert ".[bert]" in str(err.value) and "make install-bert" in str(err.value)


def test_prepare_offline_env_writes_shipped_catalogue(tmp_path, monkeypatch):
    folder = prepare_offline_env(home=tmp_path)
    assert folder == tmp_path / "camel_data"
    assert os.environ["CAMELTOOLS_DATA"] == str(folder)
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
    cat = json.loads((folder / "catalogue.json").read_text("utf-8"))
    assert cat == json.loads(camel.CATALOGUE_PATH.read_text("utf-8"))
    assert cat["packages"] == {} and "NamedEntityRecognition" in cat["components"]
    # an explicit CAMELTOOLS_DATA is respected
    monkeypatch.setenv("CAMELTOOLS_DATA", str(tmp_path / "mine"))
    assert prepare_offline_env(home=tmp_path) is None
    assert os.environ["CAMELTOOLS_DATA"] == str(tmp_path / "mine")


def test_fresh_process_imports_offline(models, tmp_path):
    """A new interpreter with no catalogue anywhere and sockets disabled loads and predicts."""
    code = (
        "import socket, sys\n"
        "def no(*a, **k): raise SystemExit('network access attempted')\n"
        "socket.socket.connect = no; socket.create_connection = no\n"
        "from services.extract.ner.camel import CamelRecognizer\n"
        "rec = CamelRecognizer(sys.argv[1])\n"
        "print(len(rec.recognize_batch([sys.argv[2]])[0]))\n"
    )
    env = {k: v for k, v in os.environ.items()
           if k not in (*_OFFLINE_VARS, "HF_HOME")}
    env.update(HOME=str(tmp_path / "user"), HADATH_HOME=str(tmp_path / "hadath"),
               PYTHONPATH=str(ROOT))
    (tmp_path / "user").mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", code, str(models["B-LOC"].model_dir), SENTENCE],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == str(len(SENTENCE_WORDS))
    assert (tmp_path / "hadath" / "camel_data" / "catalogue.json").is_file()


# --------------------------------------------------------------------------------------------
# pure helpers


def test_bio_ranges():
    assert bio_ranges(["B-LOC", "B-LOC", "I-LOC", "O", "I-PERS", "I-PERS", "B-ORG", "I-LOC"]) == [
        (0, 1, "LOC"), (1, 3, "LOC"), (4, 6, "PERS"), (6, 7, "ORG"), (7, 8, "LOC")]
    assert bio_ranges(["B-PER", "I-PERS", "B-GPE", "B-DATE", "I-DATE", "O"]) == [
        (0, 2, "PERS"), (2, 3, "LOC")]
    assert bio_ranges([]) == []


def test_token_spans_and_chunks():
    spans = token_spans(SENTENCE)
    assert [(SENTENCE[s:e], w) for s, e, w in spans] == [
        ("زار", True), ("محمد", True), ("بغداد", True), ("،", False), ("ثم", True),
        ("عاد", True), ("إلى", True), ("دمشق", True), (".", False)]
    assert token_spans(SENTENCE, 4, 15) == [(4, 8, True), (9, 14, True), (14, 15, False)]
    assert chunk_tokens([], 3) == []
    assert [len(c) for c in chunk_tokens(list(range(10)), 4)] == [3, 4, 3]
    assert [len(c) for c in chunk_tokens(list(range(256)))] == [256]


def test_fast_alignment_matches_camel(models):
    """The vectorised ``_align_predictions`` gives what CAMeL's own loop gives."""
    import numpy as np
    from camel_tools.ner import NERecognizer

    rec = models["random"]
    rng = np.random.default_rng(0)
    predictions = rng.normal(size=(7, 256, len(LABELS))).astype("float32")
    label_ids = np.full((7, 256), -100)
    for i, n in enumerate((0, 1, 5, 254, 30, 2, 100)):
        cols = np.sort(rng.choice(np.arange(1, 255), size=min(n, 120), replace=False))
        label_ids[i, cols] = 0
    sent_ids = np.array([0, 1, 1, 2, 3, 3, 3])
    expected = NERecognizer._align_predictions(rec._ner, predictions, label_ids, sent_ids)
    assert rec._align_predictions(predictions, label_ids, sent_ids) == expected
    assert rec._ner._align_predictions(predictions, label_ids, sent_ids) == expected


def test_token_without_wordpieces_keeps_alignment(models):
    """U+FFFD is a token of ours but BERT's cleaner deletes it (CAMeL then drops the word)."""
    text = "زار محمد \ufffd دمشق"
    [ents] = models["B-LOC"].recognize_batch([text])
    assert [(e.text, e.start, e.end) for e in ents] == [("زار", 0, 3), ("محمد", 4, 8),
                                                          ("دمشق", 11, 15)]
