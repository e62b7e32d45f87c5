"""Tests of the numpy BiLSTM-CRF recognizer (``services.extract.ner.neural`` with its featurizer
``neural_features`` and network ``neural_net``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.extract.ner.neural import DEFAULT_NEURAL_PATH, NeuralRecognizer
from services.extract.ner.neural_features import Featurizer, pack_batch, pad_batch, token_flags
from services.extract.ner.neural_net import BiLstmCrf
from services.extract.recognize import Recognizer
from tests.conftest import shared_file

MIN_TEST_F1 = 0.760  # measured 0.7700 (rebuilt CAMeL split, model/MODEL_CARD.md) minus 0.01

SENTENCE = "قال الرئيس محمد عبد الله في بغداد إن شركة نفط الشمال ستزيد إنتاجها."

shipped = pytest.mark.skipif(not DEFAULT_NEURAL_PATH.exists(), reason="BiLSTM model not shipped")


def _random_params(n_words=6, n_chars=5, n_flags=4, H=3, K=9, seed=0) -> dict:
    rng = np.random.default_rng(seed)
    d_in = 2 * 4 + 5 + 3 * 2 + n_flags
    p = {
        "word_emb": rng.normal(size=(n_words, 4)), "char_emb": rng.normal(size=(n_chars, 2)),
        "conv_w": rng.normal(size=(5, 2, 3)), "conv_b": rng.normal(size=5),
        "cl0_emb": rng.normal(size=(65, 2)), "cl1_emb": rng.normal(size=(257, 2)),
        "cl2_emb": rng.normal(size=(1025, 2)),
        "lstm_w_ih": rng.normal(size=(4 * H, d_in)), "lstm_w_hh": rng.normal(size=(4 * H, H)),
        "lstm_b": rng.normal(size=4 * H), "lstm_w_ih_r": rng.normal(size=(4 * H, d_in)),
        "lstm_w_hh_r": rng.normal(size=(4 * H, H)), "lstm_b_r": rng.normal(size=4 * H),
        "out_w": rng.normal(size=(K, 2 * H)), "out_b": rng.normal(size=K),
        "trans": rng.normal(size=(K, K)), "start": rng.normal(size=K), "end": rng.normal(size=K),
    }
    p["word_emb"][0] = 0
    p["char_emb"][0] = 0
    return p


def _reference_lstm(x, w_ih, w_hh, b):
    """Plain single-sequence LSTM (PyTorch gate order i, f, g, o)."""
    H = w_hh.shape[1]
    h, c, out = np.zeros(H), np.zeros(H), []
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    for t in range(len(x)):
        g = w_ih @ x[t] + w_hh @ h + b
        i, f, gg, o = sig(g[:H]), sig(g[H : 2 * H]), np.tanh(g[2 * H : 3 * H]), sig(g[3 * H :])
        c = f * c + i * gg
        h = o * np.tanh(c)
        out.append(h)
    return np.array(out)


def test_numpy_bilstm_matches_reference_and_padding() -> None:
    p = _random_params()
    net = BiLstmCrf(p)
    items = [
        {"key": ["a", "b", "a"], "w": [2, 3, 2], "np": [2, 3, 2], "ch": [[1, 2], [3], [1, 2]],
         "cl": [(1, 2, 3), (0, 0, 0), (1, 2, 3)], "fl": [[0], [1, 3], [0]]},
        {"key": ["c"], "w": [4], "np": [5], "ch": [[4, 4, 4]], "cl": [(5, 6, 7)], "fl": [[]]},
    ]
    full = pad_batch(items, 4)
    dedup = pad_batch(items, 4, dedupe=True)
    em = net.emissions(full)
    m = full["mask"]
    assert np.allclose(em[m], net.emissions(dedup)[m], atol=1e-5)
    assert dedup["uch"].shape[0] == 3  # "a" featurised once
    # sentence 2 alone gives the same scores as inside the padded batch
    alone = net.emissions(pad_batch(items[1:], 4))
    assert np.allclose(alone[0, 0], em[1, 0], atol=1e-5)
    # reference computation of sentence 1
    P = {k: np.asarray(v, np.float32) for k, v in p.items()}
    x = []
    for t in range(3):
        ch = np.array(items[0]["ch"][t] + [0] * (20 - len(items[0]["ch"][t])))
        ce = np.vstack([np.zeros((1, 2)), P["char_emb"][ch], np.zeros((1, 2))])
        conv = np.array([[np.sum(P["conv_w"][f] * ce[j : j + 3].T) + P["conv_b"][f]
                          for f in range(5)] for j in range(20)])
        chf = np.maximum(conv[: len(items[0]["ch"][t])].max(0), 0)
        fl = np.zeros(4)
        fl[items[0]["fl"][t]] = 1
        cl = items[0]["cl"][t]
        x.append(np.concatenate([P["word_emb"][items[0]["w"][t]], P["word_emb"][items[0]["np"][t]],
                                 chf, P["cl0_emb"][cl[0]], P["cl1_emb"][cl[1]], P["cl2_emb"][cl[2]], fl]))
    x = np.array(x)
    hf = _reference_lstm(x, P["lstm_w_ih"], P["lstm_w_hh"], P["lstm_b"])
    hb = _reference_lstm(x[::-1], P["lstm_w_ih_r"], P["lstm_w_hh_r"], P["lstm_b_r"])[::-1]
    ref = np.concatenate([hf, hb], 1) @ P["out_w"].T + P["out_b"]
    assert np.allclose(em[0], ref, atol=1e-4)


def test_packed_batch_gives_the_padded_results() -> None:
    """The recognizer's packed path (no padding, sentences by decreasing length) gives the
    emissions, Viterbi paths and marginals of the padded one, in the packed order."""
    net = BiLstmCrf(_random_params())
    rng = np.random.default_rng(1)
    items = []
    for n in (3, 1, 5, 5, 2):
        keys = [str(k) for k in rng.integers(0, 4, n)]
        items.append({"key": keys, "w": [2 + int(k) for k in keys], "np": [2 + int(k) for k in keys],
                      "ch": [[1 + int(k), 2] for k in keys], "cl": [(int(k), 1, 2) for k in keys],
                      "fl": [sorted({int(f) for f in rng.integers(0, 4, 2)}) for _ in keys]})
    padded = pad_batch(items, 4, dedupe=True)
    em = net.emissions(padded)
    paths = net.viterbi(em, padded["mask"])
    marg = net.marginals(em, padded["mask"])
    packed = pack_batch(items)
    assert list(packed["lengths"]) == [5, 5, 3, 2, 1]
    pem = net.packed_emissions(packed)
    ppaths, pmarg = net.packed_decode(pem, packed["lengths"], marginals=True)
    for b, i in enumerate(packed["order"]):
        o, n = packed["offsets"][b], packed["lengths"][b]
        assert np.allclose(pem[o : o + n], em[i, :n], atol=1e-5)
        assert ppaths[b] == paths[i]
        assert np.allclose(pmarg[b], marg[i, :n], atol=1e-5)


def test_char_cnn_taps_equal_the_window_convolution() -> None:
    """The char CNN as per-tap tables gives the convolution over windows of embeddings (zeros
    beyond the word, the padding's embedding inside the 20 positions, padding never a centre)."""
    p = _random_params()
    p["char_emb"][0] = np.random.default_rng(3).normal(size=2)  # a padding row that is not zero
    net = BiLstmCrf(p)
    P = {k: np.asarray(v, np.float32) for k, v in p.items()}
    rng = np.random.default_rng(2)
    ch = np.zeros((7, 20), np.int64)
    for i, n in enumerate((1, 2, 3, 5, 19, 20, 4)):
        ch[i, :n] = rng.integers(1, 5, n)
    got = net._char_features(ch)
    for i in range(len(ch)):
        ce = np.vstack([np.zeros((1, 2)), P["char_emb"][ch[i]], np.zeros((1, 2))])
        conv = np.array([[np.sum(P["conv_w"][f] * ce[j : j + 3].T) + P["conv_b"][f] for f in range(5)]
                         for j in range(20)])
        n = int((ch[i] != 0).sum())
        assert np.allclose(got[i], np.maximum(conv[:n].max(0), 0), atol=1e-5)


def test_input_rows_are_remembered_and_the_store_starts_again_when_full() -> None:
    net = BiLstmCrf(_random_params())
    rng = np.random.default_rng(4)
    items = []
    for n in (4, 2, 6):
        keys = [str(k) for k in rng.integers(0, 5, n)]
        items.append({"key": keys, "w": [1 + int(k) for k in keys], "np": [1 + int(k) for k in keys],
                      "ch": [[1 + int(k) % 4, 2] for k in keys], "cl": [(int(k), 1, 2) for k in keys],
                      "fl": [[int(k) % 4] for k in keys]})
    batch = pack_batch(items)
    first = net.packed_emissions(batch)
    assert len(net._rows) == len(batch["ukeys"])
    assert np.array_equal(net.packed_emissions(batch), first)  # from the store
    small = BiLstmCrf(_random_params())
    small.STORE_WORDS = 3  # fewer than the batch's words: computed, not remembered
    assert np.allclose(small.packed_emissions(batch), first, atol=1e-5)
    small.STORE_WORDS = len(batch["ukeys"]) + 1
    one = pack_batch(items[1:2])
    small.packed_emissions(one)
    assert np.allclose(small.packed_emissions(batch), first, atol=1e-5)  # cleared, then refilled
    assert len(small._rows) == len(batch["ukeys"])


def test_packed_marginals_match_float64_and_survive_extreme_emissions() -> None:
    """The scaled forward-backward of the packed path against the log-space recursions in
    float64, on long sentences (where float32 log-space drifts) and on emissions so far apart
    that their exponentials underflow."""
    from scipy.special import logsumexp

    p = _random_params()
    net = BiLstmCrf({k: p[k] for k in ("trans", "start", "end")})
    P = {k: np.asarray(p[k], np.float64) for k in ("trans", "start", "end")}

    def reference(e):
        T = len(e)
        a = np.zeros_like(e)
        a[0] = P["start"] + e[0]
        for t in range(1, T):
            a[t] = logsumexp(a[t - 1][:, None] + P["trans"], axis=0) + e[t]
        b = np.zeros_like(e)
        b[-1] = P["end"]
        for t in range(T - 2, -1, -1):
            b[t] = logsumexp(P["trans"] + (e[t + 1] + b[t + 1])[None, :], axis=1)
        return np.exp(a + b - logsumexp(a[-1] + P["end"]))

    rng = np.random.default_rng(5)
    lengths = np.array([150, 40, 1])
    for scale in (3.0, 400.0):
        em = (scale * rng.normal(size=(int(lengths.sum()), 9))).astype(np.float32)
        _, mg = net.packed_decode(em, lengths)
        off = 0
        for b, n in enumerate(lengths):
            ref = reference(em[off : off + n].astype(np.float64))
            assert np.isfinite(mg[b]).all()
            assert np.allclose(mg[b], ref, atol=1e-5)
            off += n


def test_viterbi_and_marginals_agree_with_brute_force() -> None:
    import itertools

    p = _random_params(K=3)
    net = BiLstmCrf({k: p[k] for k in ("trans", "start", "end")})
    rng = np.random.default_rng(1)
    em = rng.normal(size=(2, 4, 3)).astype(np.float32)
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0]], bool)
    paths = net.viterbi(em, mask)
    mg = net.marginals(em, mask)
    for b, n in ((0, 4), (1, 2)):
        scores = {}
        for seq in itertools.product(range(3), repeat=n):
            s = p["start"][seq[0]] + p["end"][seq[-1]] + sum(em[b, t, seq[t]] for t in range(n))
            s += sum(p["trans"][seq[t - 1], seq[t]] for t in range(1, n))
            scores[seq] = s
        assert tuple(paths[b]) == max(scores, key=scores.get)
        z = np.logaddexp.reduce(list(scores.values()))
        m0 = sum(np.exp(s - z) for seq, s in scores.items() if seq[0] == 1)
        assert mg[b, 0, 1] == pytest.approx(m0, rel=1e-3)


def test_ensemble_file_averages_members(tmp_path: Path) -> None:
    import json

    from services.extract.ner.neural_net import EnsembleNet
    from services.extract.ner.training.neural_train import merge_models

    a, b = _random_params(seed=1), _random_params(seed=2)
    b["word_emb"] = a["word_emb"]  # members share the frozen word vectors
    common = {"words": np.array(["<pad>", "<unk>", "x", "y", "z", "w"]), "chars": np.array(["<pad>"]),
              "flags": np.array(["f0", "f1", "f2", "f3"]), "meta": np.array(json.dumps({"tags": []}))}
    np.savez(tmp_path / "a.npz", **a, **common)
    np.savez(tmp_path / "b.npz", **b, **common)
    merge_models([tmp_path / "a.npz", tmp_path / "b.npz"], tmp_path / "ab.npz")
    z = np.load(tmp_path / "ab.npz")
    assert json.loads(str(z["meta"]))["members"] == 2 and "m1:word_emb" not in z.files
    items = [{"key": ["x"], "w": [2], "np": [3], "ch": [[1]], "cl": [(1, 1, 1)], "fl": [[2]]}]
    batch = pad_batch(items, 4, dedupe=True)
    ens = EnsembleNet([a, b])
    mean = (BiLstmCrf(a).emissions(batch) + BiLstmCrf(b).emissions(batch)) / 2
    assert np.allclose(ens.emissions(batch), mean, atol=1e-5)
    assert np.allclose(ens.crf.p["trans"], (a["trans"] + b["trans"]) / 2)


def test_training_marginals_match_numpy() -> None:
    """The differentiable CRF marginals of the trainer (soft distillation) equal the numpy ones."""
    torch = pytest.importorskip("torch")
    from services.extract.ner.training.neural_train import make_net

    cfg = {"char_dim": 2, "char_filters": 2, "cl_dim": 2, "dropout": 0.0, "hidden": 2}
    net = make_net(3, 3, 1, np.zeros((3, 4), np.float32), cfg)
    with torch.no_grad():
        for q in (net.trans, net.start, net.end):
            q.normal_()
    em = torch.randn(3, 5, 9)
    mask = torch.tensor([[1] * 5, [1] * 3 + [0] * 2, [1] + [0] * 4]).bool()
    got = net.log_marginals(em, mask).exp().detach().numpy()
    ref = BiLstmCrf({k: getattr(net, k).detach().numpy() for k in ("trans", "start", "end")})
    want = ref.marginals(em.numpy(), mask.numpy())
    assert np.allclose(got[mask.numpy()], want[mask.numpy()], atol=1e-5)


def test_silver_sentences_follow_the_recognizer() -> None:
    from services.extract.ner.training.distill import article_sentences

    sents = article_sentences("زار الرئيس بغداد. ثم عاد إلى القاهرة.", max_len=3)
    assert all(0 < len(s) <= 3 for s in sents)
    assert [t for s in sents for t in s][:3] == ["زار", "الرئيس", "بغداد"]


def test_token_flags() -> None:
    norms = ["قال", "الرئيس", "محمد", "في", "بغداد"]
    gz = [[], [], ["gzU:PERS:x"], [], ["gzU:LOC:x"]]
    fl = token_flags(norms, norms, norms, gz, {"محمد": 40})
    assert "cueP" in fl[2] and "gzU:PERS:x" in fl[2] and "+1gzU:PERS:x" in fl[1]
    assert "cueL" in fl[4] and "bos" in fl[0] and "eos" in fl[4]
    feat = Featurizer(["<pad>", "<unk>", "محمد"], ["<pad>", "<unk>", "م"], ["cueP"], {}, 1, {})
    s = feat.sentence(["الرئيس", "محمد"])
    assert s["w"] == [1, 2] and s["fl"][1] == [0] and s["ch"][1][0] == 2


@pytest.fixture(scope="module")
def recognizer() -> NeuralRecognizer:
    return NeuralRecognizer()


@shipped
def test_shipped_bilstm_finds_entities(recognizer: NeuralRecognizer) -> None:
    assert isinstance(recognizer, Recognizer)
    out = recognizer.recognize_batch([SENTENCE, "", SENTENCE + "\n\n" + SENTENCE])
    assert len(out) == 3 and out[1] == []
    ents = out[0]
    for e in ents:
        assert SENTENCE[e.start : e.end] == e.text
        assert 0.0 < e.score <= 1.0 and e.normalized
    assert any(e.label == "LOC" and e.text == "بغداد" for e in ents)
    assert any(e.label == "PERS" and "محمد" in e.text for e in ents)
    assert [e.start for e in out[2]] == sorted(e.start for e in out[2])
    assert len(out[2]) == 2 * len(ents)


@shipped
@pytest.mark.corpus
def test_bilstm_micro_f1_on_anercorp_test(recognizer: NeuralRecognizer) -> None:
    from services.extract.ner.training.evaluate import evaluate

    res = evaluate(recognizer, shared_file("data", "ner", "anercorp_camel_rebuilt", "test.txt"))
    assert res["tokens"] == 25008
    assert res["micro"]["f1"] >= MIN_TEST_F1


@shipped
def test_fast_flag_ids_equal_the_named_flags_training_uses(recognizer: NeuralRecognizer) -> None:
    """``Featurizer.context_ids`` (inference) gives, per token, exactly the ids of the flag
    names :func:`context_flags` gives (what training used), on every sample article."""
    import json as _json

    from services.extract.ner.features import sentence_spans, tokenize, word_forms
    from services.extract.ner.neural_features import context_flags, doc_clues

    feat = recognizer.feat
    fi = feat.flag_index
    samples = Path(__file__).resolve().parents[2] / "hadath" / "samples" / "articles.jsonl"
    checked = 0
    for line in samples.read_text(encoding="utf-8").splitlines():
        text = _json.loads(line)["body"]
        sents = [[text[a:b] for a, b in s] for s in sentence_spans(text, tokenize(text))]
        gzs = [feat.gz(s) for s in sents]
        owns, docs = doc_clues(sents, gzs, window=None)
        for toks, g, d, o in zip(sents, gzs, docs, owns, strict=True):
            norms = [word_forms(t)[0] for t in toks]
            nopre = [word_forms(t)[1] for t in toks]
            named = context_flags(norms, nopre, g, d, o)
            fast = feat.context_ids(norms, nopre, g, d, o)
            for nf, ids in zip(named, fast, strict=True):
                assert sorted(set(ids)) == sorted({fi[f] for f in nf if f in fi})
                checked += 1
    assert checked > 1000


def test_extend_nisba_takes_a_following_nisba_into_a_person_name() -> None:
    from services.extract.ner.neural import extend_nisba

    toks = ["حكومة", "محمد", "شياع", "السوداني", "التي", "وصلت"]
    tags = ["O", "B-PERS", "I-PERS", "O", "O", "O"]
    assert extend_nisba(toks, tags) == ["O", "B-PERS", "I-PERS", "I-PERS", "O", "O"]
    # a relative pronoun, a word that is no nisba, or another entity: unchanged
    assert extend_nisba(["محمد", "الذي"], ["B-PERS", "O"]) == ["B-PERS", "O"]
    assert extend_nisba(["محمد", "قال"], ["B-PERS", "O"]) == ["B-PERS", "O"]
    assert extend_nisba(["محمد", "العراقي"], ["B-LOC", "O"]) == ["B-LOC", "O"]
    assert extend_nisba(["محمد", "العراقي"], ["B-PERS", "B-MISC"]) == ["B-PERS", "B-MISC"]
