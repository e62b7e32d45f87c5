"""``hadath train-ner --model bilstm`` trains a BiLSTM-CRF the recognizer loads (tiny data)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

SENTS = [
    ("قال الرئيس محمد عبد الله في بغداد".split(), ["O", "O", "B-PERS", "I-PERS", "I-PERS", "O", "B-LOC"]),
    ("وصل وزير الخارجية إلى القاهرة أمس".split(), ["O", "O", "O", "O", "B-LOC", "O"]),
    ("أعلنت حركة حماس بيانا".split(), ["O", "B-ORG", "I-ORG", "O"]),
]


def test_train_ner_bilstm_writes_a_model_the_recognizer_runs(tmp_path, monkeypatch) -> None:
    pytest.importorskip("torch")
    from services.extract.ner.features import normalize
    from services.extract.ner.neural import NeuralRecognizer
    from hadath.cli import app

    train = tmp_path / "train.txt"
    train.write_text("\n\n".join("\n".join(f"{w} {t}" for w, t in zip(ws, ts)) for ws, ts in SENTS * 4) + "\n",
                     encoding="utf-8")
    home = tmp_path / "home"
    (home / "ner").mkdir(parents=True)
    words = sorted({normalize(w) for ws, _ in SENTS for w in ws})
    rng = np.random.default_rng(0)  # stands in for the word2vec file learned from the news corpus
    np.savez(home / "ner" / "w2v.npz", words=np.array(words), vectors=rng.normal(size=(len(words), 100)).astype(np.float32))
    monkeypatch.setenv("HADATH_HOME", str(home))
    out = tmp_path / "tiny.npz"
    res = CliRunner().invoke(app, ["train-ner", str(train), "--model", "bilstm", "--out", str(out), "--epochs", "2",
                                   "--no-distill"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout[res.stdout.rindex("\n{"):])
    assert report["model"] == str(out) and out.stat().st_size > 0
    rec = NeuralRecognizer(out)
    assert rec.meta["epochs"] == 2 and rec.meta["train_sentences"] == len(SENTS) * 4
    text = "قال الرئيس محمد عبد الله في بغداد"
    (ents,) = rec.recognize_batch([text])
    assert all(text[e.start:e.end] == e.text for e in ents)
