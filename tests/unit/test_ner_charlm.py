"""Character language models (contextual string embeddings, Akbik et al. 2018): the numpy run time
against torch and a plain reference, the sentence strings, and the tagger reading the features."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from services.extract.ner.charlm import UNK, CharLM, load_prefixed, sentence_string
from services.extract.ner.neural_features import pack_batch, pad_batch
from services.extract.ner.neural_net import BiLstmCrf

from .test_ner_bilstm import _random_params, _reference_lstm

ALPHABET = ["<pad>", "<unk>", " ", "ا", "ب", "ت", "ل", "م"]


def _lm_params(H: int = 3, E: int = 2, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    p = {"chars": np.array(ALPHABET), "emb": rng.normal(size=(len(ALPHABET), E))}
    for d in "fb":
        p[f"w_ih_{d}"] = rng.normal(size=(4 * H, E))
        p[f"w_hh_{d}"] = rng.normal(size=(4 * H, H))
        p[f"b_{d}"] = rng.normal(size=4 * H)
    return p


def test_sentence_string_positions() -> None:
    text, starts, ends = sentence_string(["ال", "بتم", "ا"])
    assert text == " ال بتم ا "
    assert [text[s] for s in starts] == ["ا", "ب", "ا"]
    assert [text[s : e + 1] for s, e in zip(starts, ends, strict=True)] == ["ال", "بتم", "ا"]


def test_numpy_states_match_a_plain_lstm_and_the_batch() -> None:
    p = _lm_params()
    lm = CharLM(p)
    texts = [" ابت لم ", " م ", "", " تتتتتتتتت ا "]
    fwd, bwd = lm.states(texts)
    assert fwd[2].shape == (0, 3)
    P = {k: np.asarray(v, np.float64) for k, v in p.items() if k != "chars"}
    for text, f, b in zip(texts, fwd, bwd, strict=True):
        if not text:
            continue
        x = P["emb"][[ALPHABET.index(c) for c in text]]
        assert np.allclose(f, _reference_lstm(x, P["w_ih_f"], P["w_hh_f"], P["b_f"]), atol=1e-5)
        ref_b = _reference_lstm(x[::-1], P["w_ih_b"], P["w_hh_b"], P["b_b"])[::-1]
        assert np.allclose(b, ref_b, atol=1e-5)
        alone_f, alone_b = lm.states([text])  # the same alone as inside the batch
        assert np.allclose(alone_f[0], f, atol=1e-6) and np.allclose(alone_b[0], b, atol=1e-6)


def test_embedding_is_forward_after_last_and_backward_before_first_character() -> None:
    lm = CharLM(_lm_params())
    sent = ["ابت", "لم", "x"]  # "x" is outside the alphabet
    assert lm.char_ids("xا").tolist() == [UNK, 3]
    text, starts, ends = sentence_string(sent)
    (f,), (b,) = lm.states([text])
    (e,) = lm.embed([sent])
    assert e.shape == (3, 6) and e.dtype == np.float32
    assert np.allclose(e[:, :3], f[ends]) and np.allclose(e[:, 3:], b[starts])
    assert lm.embed([[]])[0].shape == (0, 6)


def test_exported_torch_model_gives_the_numpy_states(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from services.extract.ner.training import charlm_train

    cfg = {**charlm_train.DEFAULTS, "hidden": 4, "char_dim": 3}
    net = charlm_train.make_lm(len(ALPHABET), cfg)
    path = tmp_path / "lm.npz"
    charlm_train.export(net, ALPHABET, {"test": True}, path)
    with np.load(path) as z:
        lm = CharLM({k: z[k] for k in z.files if k != "meta"})
        assert json.loads(str(z["meta"])) == {"test": True}
    texts = [" ابت لم ", " م ا "]
    ids, lengths = charlm_train._batch(charlm_train.encode(texts, ALPHABET))
    with torch.no_grad():
        packed = torch.nn.utils.rnn.pack_padded_sequence(net.emb(ids), lengths, batch_first=True,
                                                         enforce_sorted=False)
        h, _ = torch.nn.utils.rnn.pad_packed_sequence(net.lstm(packed)[0], batch_first=True)
    fwd, bwd = lm.states(texts)
    for r, text in enumerate(texts):
        n = len(text)
        assert np.allclose(fwd[r], h[r, :n, :4].numpy(), atol=1e-5)
        assert np.allclose(bwd[r], h[r, :n, 4:].numpy(), atol=1e-5)
    loss, m = net.loss(ids, lengths)
    assert m == 2 * sum(len(t) - 1 for t in texts) and float(loss.detach()) > 0


def test_corpus_strings_cut_long_sentences(tmp_path: Path) -> None:
    from services.extract.ner.training.charlm_train import alphabet, corpus_strings

    corpus = tmp_path / "news.jsonl"
    rows = [{"title": "", "body": "x"}] + [{"title": "عنوان", "body": "كتب " * 40 + "."}] * 2
    corpus.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    strings = corpus_strings(corpus, max_chars=30)
    assert strings and all(len(s) <= 30 for s in strings)
    assert all(s.startswith(" ") and s.endswith(" ") for s in strings)
    assert not any("x" in s for s in strings)  # article 0 (every tenth) is left out
    assert alphabet(strings, 1)[:2] == ["<pad>", "<unk>"] and "ك" in alphabet(strings, 1)


def test_training_run_writes_a_model_and_resumes(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from services.extract.ner.training import charlm_train

    corpus = tmp_path / "news.jsonl"
    rows = [{"title": "عنوان", "body": "كتب الرئيس في بغداد. قال الوزير امس"}] * 12
    corpus.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    out = tmp_path / "lm.npz"
    cfg = {"hidden": 4, "char_dim": 3, "minutes": 0.01, "min_count": 1}
    first = charlm_train.run(corpus, out, log=lambda _: None, **cfg)
    assert first["steps"] >= 1 and out.exists() and Path(str(out) + ".pt").exists()
    with np.load(out) as z:
        assert CharLM({k: z[k] for k in z.files if k != "meta"}).dim == 8
    again = charlm_train.run(corpus, out, log=lambda _: None, resume=Path(str(out) + ".pt"),
                             **{**cfg, "hidden": 99})  # sizes come from the checkpoint
    assert again["hidden"] == 4 and again["total"]["steps"] == first["steps"] + again["steps"]
    warm = charlm_train.run(corpus, tmp_path / "warm.npz", log=lambda _: None, init=out,
                            warm_steps=10**6, **cfg)  # start from an exported file: softmax only
    assert warm["init"] == str(out) and warm["steps"] >= 1
    with np.load(out) as a, np.load(tmp_path / "warm.npz") as b:
        assert list(a["chars"]) == list(b["chars"])
        for k in ("emb", "w_ih_f", "w_hh_b", "b_f", "b_b"):  # frozen while the softmax is fitted
            assert np.allclose(a[k], b[k], atol=1e-6), k


def _net_params_with_lm(n_lm: int) -> dict:
    p = _random_params(seed=3)
    rng = np.random.default_rng(4)
    for k in ("lstm_w_ih", "lstm_w_ih_r"):  # rows of the LM features before the clue rows
        w = p[k]
        p[k] = np.concatenate([w[:, :-4], rng.normal(size=(w.shape[0], n_lm)), w[:, -4:]], axis=1)
    p["lm_width"] = np.array(n_lm)
    return p


def test_tagger_reads_lm_features_in_packed_and_padded_paths() -> None:
    n_lm = 6
    net = BiLstmCrf(_net_params_with_lm(n_lm))
    assert net.n_lm == n_lm and net._n_flags == 4
    rng = np.random.default_rng(5)
    items = []
    for n in (3, 1, 4):
        keys = [str(k) for k in rng.integers(0, 4, n)]
        items.append({"key": keys, "w": [2 + int(k) for k in keys], "np": [2 + int(k) for k in keys],
                      "ch": [[1 + int(k), 2] for k in keys], "cl": [(int(k), 1, 2) for k in keys],
                      "fl": [[int(rng.integers(0, 4))] for _ in keys],
                      "lm": rng.normal(size=(n, n_lm)).astype(np.float16)})
    padded = pad_batch(items, 4, dedupe=True)
    assert padded["lm"].shape == (3, 4, n_lm) and padded["lm"].dtype == np.float32
    em = net.emissions(padded)
    m = padded["mask"]
    assert np.allclose(em[m], net.emissions(pad_batch(items, 4))[m], atol=1e-5)
    packed = pack_batch(items)
    pem = net.packed_emissions(packed)
    for b, i in enumerate(packed["order"]):
        o, n = packed["offsets"][b], packed["lengths"][b]
        assert np.allclose(pem[o : o + n], em[i, :n], atol=1e-5)
    other = dict(padded, lm=padded["lm"] + 1.0)  # the features do reach the scores
    assert not np.allclose(net.emissions(other)[m], em[m])


def test_load_prefixed() -> None:
    p = _lm_params()
    assert load_prefixed({"out_w": 1}) is None
    lm = load_prefixed({"lm_" + k: v for k, v in p.items()})
    assert lm is not None and lm.dim == 6


def test_trained_tagger_with_lm_features_runs_in_the_recognizer(tmp_path: Path) -> None:
    """``neural_train --charlm`` stores the LMs in the model file; the recognizer runs them,
    batched over articles (an article tags the same alone and inside a batch)."""
    pytest.importorskip("torch")
    from services.extract.ner.features import normalize
    from services.extract.ner.neural import NeuralRecognizer
    from services.extract.ner.training import charlm_train, neural_train

    from .test_train_ner_cli import SENTS

    train = tmp_path / "train.txt"
    train.write_text("\n\n".join("\n".join(f"{w} {t}" for w, t in zip(ws, ts, strict=True))
                                 for ws, ts in SENTS * 4) + "\n", encoding="utf-8")
    words = sorted({normalize(w) for ws, _ in SENTS for w in ws})
    w2v = tmp_path / "w2v.npz"
    rng = np.random.default_rng(0)
    np.savez(w2v, words=np.array(words), vectors=rng.normal(size=(len(words), 100)).astype(np.float32))
    chars = ["<pad>", "<unk>", " ", *sorted({c for w in words for c in w})]
    lm_path = tmp_path / "lm.npz"
    charlm_train.export(charlm_train.make_lm(len(chars), {**charlm_train.DEFAULTS, "hidden": 5}),
                        chars, {}, lm_path)
    out = tmp_path / "tagger.npz"
    neural_train.run(train, w2v, out, None, epochs=1, charlm=str(lm_path))
    rec = NeuralRecognizer(out)
    assert rec.charlm is not None and rec.charlm.dim == 10 and rec.net.n_lm == 10
    texts = ["قال الرئيس محمد عبد الله في بغداد.\nوصل وزير الخارجية إلى القاهرة", "أعلنت حركة حماس بيانا"]
    together = rec.recognize_batch(texts)
    alone = [rec.recognize_batch([t])[0] for t in texts]
    assert [[(e.start, e.end, e.label, e.score) for e in x] for x in together] == \
        [[(e.start, e.end, e.label, e.score) for e in x] for x in alone]
    assert len(rec.tag_tokens([ws for ws, _ in SENTS])) == len(SENTS)
