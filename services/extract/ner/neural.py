"""``NeuralRecognizer``: a BiLSTM-CRF tagger with character CNN, word2vec embeddings and the
CRF's gazetteer / cue / cluster / document clues, run with **numpy only** (no torch at run time).

The network is trained with torch by :mod:`services.extract.ner.neural_train` and exported to
``model/anercorp-bilstm.npz``. Inference here mirrors the torch modules exactly:

* per token: word embedding of the normalised form and of the form without proclitics, a
  character CNN (max-pooled) over the normalised form, embeddings of the three word-cluster ids,
  and a multi-hot vector of discrete clues (gazetteer matches on the token and its neighbours,
  cue words before it, shape, proclitics, corpus frequency, document clues);
* one bidirectional LSTM layer (PyTorch gate order i, f, g, o), batched over sentences;
* a linear layer to BIO tag scores and a linear-chain CRF (Viterbi decoding; forward-backward
  marginals give each entity's ``score``);
* document consistency (:func:`propagate_labels`): a name tagged somewhere in the article is
  tagged with its majority label where it recurs untagged.

A model file may hold several networks trained with different seeds (``neural_train merge``):
their emissions and transitions are averaged (+0.9 F1 on a held-out train fold, but about half
the speed, so the shipped file holds one network). See ``model/MODEL_CARD.md``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from services.extract.ner import clusters as clusters_mod
from services.extract.ner import gazetteers as gaz_mod
from services.extract.ner.bio import bio_spans
from services.extract.ner.features import (
    CUE_ORG,
    CUE_PERS,
    DOC_WINDOW,
    cue_kinds,
    gazetteer_matches,
    local_signals,
    sentence_spans,
    shape,
    tokenize,
    word_forms,
)
from shared.arabic import entity_key
from shared.schemas import ENTITY_LABELS, Entity

MODEL_DIR = Path(__file__).resolve().parent / "model"
DEFAULT_NEURAL_PATH = MODEL_DIR / "anercorp-bilstm.npz"
MAX_CHARS = 20
PAD, UNK = 0, 1
_DOC_SIGNALS = ("cP", "cO", "cL", "pre", "gLOC", "gORG", "gPERS")


# --------------------------------------------------------------------------- featurisation

def static_flags(tok: str, w: str, np_: str, counts) -> list[str]:
    """Context-free clues of a token: shape, article, proclitics, corpus frequency, article ratio."""
    f = ["sh=" + shape(tok)]
    if w.startswith("ال"):
        f.append("al")
    if np_ != w:
        f.append("pre=" + w[: len(w) - len(np_)])
    if counts:
        c = counts.get(w, 0)
        f.append("fq=" + str(min(c.bit_length(), 16) // 2))
        if not np_.startswith("ال") and len(np_) > 1:
            bare = counts.get(np_, 0)
            al = counts.get("ال" + np_, 0)
            f.append("alr=" + (str(int(4 * al / (bare + al))) if bare + al >= 5 else "rare"))
    return f


def context_flags(norms: Sequence[str], nopre: Sequence[str], gz: Sequence[Sequence[str]],
                  doc=None, own=None) -> list[list[str]]:
    """Clues of every token from its sentence and document: gazetteer matches on it and its
    neighbours, cue words before it, sentence edges, document clues."""
    n = len(norms)
    out: list[list[str]] = []
    for i in range(n):
        f = list(gz[i])
        if i > 0:
            f.extend("-1" + g for g in gz[i - 1])
            f.extend("cue" + kind for kind in cue_kinds(norms[i - 1], nopre[i - 1]))
        else:
            f.append("bos")
        if i + 1 < n:
            f.extend("+1" + g for g in gz[i + 1])
        else:
            f.append("eos")
        if i > 1:
            pp = nopre[i - 2]
            if pp in CUE_PERS:
                f.append("cueP2")
            if pp in CUE_ORG:
                f.append("cueO2")
        if own is not None and own[i][0] is not None:
            key, mine = own[i]
            other = doc.get(key) or {}
            for sg in _DOC_SIGNALS:
                if other.get(sg, 0) > mine.count(sg):
                    f.append("d:" + sg)
        out.append(f)
    return out


def token_flags(norms: Sequence[str], nopre: Sequence[str], tokens: Sequence[str],
                gz: Sequence[Sequence[str]], counts, doc=None, own=None) -> list[list[str]]:
    """Names of the discrete clues of every token of a sentence (mapped to a multi-hot vector)."""
    ctx = context_flags(norms, nopre, gz, doc, own)
    return [static_flags(t, w, p, counts) + c
            for t, w, p, c in zip(tokens, norms, nopre, ctx, strict=True)]


_DOC_SET = frozenset(_DOC_SIGNALS)


def doc_clues(sentences: Sequence[Sequence[str]], gzs, window: int | None):
    """Per sentence: its :func:`local_signals` and ``doc key -> {signal: count}`` of the document
    clues the network reads, over the document (``window`` sentences either side, or all of
    them when None). Same counts as :func:`features.document_contexts` for those signals."""
    locs = [local_signals([word_forms(t)[0] for t in s], g) for s, g in zip(sentences, gzs, strict=True)]
    per_sent: list[dict[str, dict[str, int]]] = []
    for loc in locs:
        d: dict[str, dict[str, int]] = {}
        for key, sig in loc:
            if key is None:
                continue
            c = d.get(key)
            if c is None:
                c = d[key] = {}
            for sg in sig:
                if sg in _DOC_SET:
                    c[sg] = c.get(sg, 0) + 1
        per_sent.append(d)

    def merged(parts):
        tot: dict[str, dict[str, int]] = {}
        for d in parts:
            for k, c in d.items():
                t = tot.get(k)
                if t is None:
                    tot[k] = dict(c)
                else:
                    for sg, v in c.items():
                        t[sg] = t.get(sg, 0) + v
        return tot

    n = len(per_sent)
    if window is None:
        total = merged(per_sent)
        return locs, [total] * n
    return locs, [merged(per_sent[max(0, i - window) : i + window + 1]) for i in range(n)]


class Featurizer:
    """Turns token lists into the integer / multi-hot arrays the network reads."""

    def __init__(self, words: Sequence[str], chars: Sequence[str], flags: Sequence[str],
                 gaz, gaz_max: int, clusters) -> None:
        self.word_index = {w: i for i, w in enumerate(words)}
        self.char_index = {c: i for i, c in enumerate(chars)}
        self.flag_index = {f: i for i, f in enumerate(flags)}
        self.n_flags = len(flags)
        self.gaz, self.gaz_max = gaz, gaz_max
        self.clusters = clusters
        self.counts = getattr(clusters, "counts", None) or {}
        self._char_cache: dict[str, list[int]] = {}
        self._static_cache: dict[str, list[int]] = {}
        self._cl_cache: dict[str, tuple[int, int, int]] = {}
        self._cue_cache: dict[str, tuple[list[int], list[int]]] = {}

    def gz(self, tokens: Sequence[str]) -> list[list[str]]:
        return gazetteer_matches([word_forms(t)[0] for t in tokens], self.gaz, self.gaz_max)

    def _chars(self, w: str) -> list[int]:
        ids = self._char_cache.get(w)
        if ids is None:
            ids = [self.char_index.get(c, UNK) for c in w[:MAX_CHARS]] or [UNK]
            if len(self._char_cache) < 500_000:
                self._char_cache[w] = ids
        return ids

    def _cl(self, w: str, np_: str) -> tuple[int, int, int]:
        hit = self._cl_cache.get(w)
        if hit is None:
            ids = self.clusters.get(w) or self.clusters.get(np_)
            hit = tuple(int(c[1:]) + 1 for c in ids) if ids else (0, 0, 0)
            if len(self._cl_cache) < 500_000:
                self._cl_cache[w] = hit
        return hit

    def _cue_ids(self, w: str, np_: str) -> tuple[list[int], list[int]]:
        """Flag ids a word gives the next token (``cueP``/``cueO``/``cueL``) and the token after
        it (``cueP2``/``cueO2``), as :func:`context_flags` names them (cached per word)."""
        hit = self._cue_cache.get(w)
        if hit is None:
            fi = self.flag_index
            one = [fi[f] for f in ("cue" + k for k in cue_kinds(w, np_)) if f in fi]
            two = [fi[f] for f, cues in (("cueP2", CUE_PERS), ("cueO2", CUE_ORG))
                   if np_ in cues and f in fi]
            hit = (one, two)
            if len(self._cue_cache) < 500_000:
                self._cue_cache[w] = hit
        return hit

    def context_ids(self, norms: Sequence[str], nopre: Sequence[str], gz: Sequence[Sequence[str]],
                    doc=None, own=None) -> list[list[int]]:
        """Flag ids of :func:`context_flags` (the same set per token, unknown flags dropped),
        computed without building the flag strings: the recognizer's hot path."""
        fi = self.flag_index
        n = len(norms)
        cues = [self._cue_ids(w, p) for w, p in zip(norms, nopre, strict=True)]
        bos, eos = fi.get("bos"), fi.get("eos")
        out: list[list[int]] = []
        for i in range(n):
            ids = [fi[g] for g in gz[i] if g in fi] if gz[i] else []
            if i > 0:
                if gz[i - 1]:
                    ids.extend(fi[f] for f in ("-1" + g for g in gz[i - 1]) if f in fi)
                ids.extend(cues[i - 1][0])
            elif bos is not None:
                ids.append(bos)
            if i + 1 < n:
                if gz[i + 1]:
                    ids.extend(fi[f] for f in ("+1" + g for g in gz[i + 1]) if f in fi)
            elif eos is not None:
                ids.append(eos)
            if i > 1:
                ids.extend(cues[i - 2][1])
            if own is not None and own[i][0] is not None:
                key, mine = own[i]
                other = doc.get(key)
                if other:
                    for sg in _DOC_SIGNALS:
                        if other.get(sg, 0) > mine.count(sg):
                            j = fi.get("d:" + sg)
                            if j is not None:
                                ids.append(j)
            out.append(ids)
        return out

    def sentence(self, tokens: Sequence[str], doc=None, gz=None, own=None) -> dict:
        """Arrays of one sentence: ``w``, ``np`` (n,), ``ch`` list of char id lists, ``cl`` (n, 3),
        ``fl`` list of flag index lists."""
        infos = [word_forms(t) for t in tokens]
        norms = [x[0] for x in infos]
        nopre = [x[1] for x in infos]
        if gz is None:
            gz = gazetteer_matches(norms, self.gaz, self.gaz_max) if self.gaz else [[] for _ in norms]
        if own is None:
            own = local_signals(norms, gz) if doc else None
        elif not doc:
            own = None
        fi = self.flag_index
        ctx = self.context_ids(norms, nopre, gz, doc, own)
        fl = []
        for t, w, p, c in zip(tokens, norms, nopre, ctx, strict=True):
            st = self._static_cache.get(t)
            if st is None:
                st = [fi[f] for f in static_flags(t, w, p, self.counts) if f in fi]
                if len(self._static_cache) < 500_000:
                    self._static_cache[t] = st
            fl.append(st + c)
        wi = self.word_index
        return {
            "key": norms,
            "w": [wi.get(w, UNK) for w in norms],
            "np": [wi.get(p, wi.get(w, UNK)) for w, p in zip(norms, nopre, strict=True)],
            "ch": [self._chars(w) for w in norms],
            "cl": [self._cl(w, p) for w, p in zip(norms, nopre, strict=True)],
            "fl": fl,
        }


def pad_batch(items: Sequence[dict], n_flags: int, dedupe: bool = False) -> dict[str, np.ndarray]:
    """Padded arrays of a batch of :meth:`Featurizer.sentence` outputs (``mask`` (B, T)).

    With ``dedupe`` the characters are given once per distinct word (``uch`` (U, L) and the
    index ``u`` (B, T)) instead of per token (``ch`` (B, T, L))."""
    B = len(items)
    T = max(len(x["w"]) for x in items)
    w = np.zeros((B, T), np.int64)
    npw = np.zeros((B, T), np.int64)
    cl = np.zeros((B, T, 3), np.int64)
    fl = np.zeros((B, T, n_flags), np.float32)
    mask = np.zeros((B, T), bool)
    out = {"w": w, "np": npw, "cl": cl, "fl": fl, "mask": mask}
    if dedupe:
        u = np.zeros((B, T), np.int64)
        uniq: dict[str, int] = {}
        rows: list[list[int]] = []
        first: list[tuple[int, int]] = []
    else:
        ch = np.zeros((B, T, MAX_CHARS), np.int64)
    fb: list[int] = []  # (batch, time, flag) coordinates of the multi-hot clues, set at once
    ft: list[int] = []
    ff: list[int] = []
    for b, x in enumerate(items):
        n = len(x["w"])
        w[b, :n] = x["w"]
        npw[b, :n] = x["np"]
        cl[b, :n] = x["cl"]
        mask[b, :n] = True
        if dedupe:
            for t, (k, ids) in enumerate(zip(x["key"], x["ch"], strict=True)):
                j = uniq.get(k)
                if j is None:
                    j = uniq[k] = len(rows)
                    rows.append(ids)
                    first.append((b, t))
                u[b, t] = j
        else:
            for t, ids in enumerate(x["ch"]):
                ch[b, t, : len(ids)] = ids
        for t, ids in enumerate(x["fl"]):
            fb.extend([b] * len(ids))
            ft.extend([t] * len(ids))
            ff.extend(ids)
    fl[fb, ft, ff] = 1.0
    if dedupe:
        uch = np.zeros((len(rows), MAX_CHARS), np.int64)
        for j, ids in enumerate(rows):
            uch[j, : len(ids)] = ids
        ub, ut = np.array(first, np.int64).reshape(-1, 2).T
        out["u"], out["uch"] = u, uch
        out["ukeys"] = list(uniq)
        out["uw"], out["unp"], out["ucl"] = w[ub, ut], npw[ub, ut], cl[ub, ut]
    else:
        out["ch"] = ch
    return out


# --------------------------------------------------------------------------- numpy network

def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    m = a.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(a - m).sum(axis=axis, keepdims=True))).squeeze(axis)


class BiLstmCrf:
    """The exported network (weights from an ``.npz``) with numpy forward, Viterbi and marginals."""

    def __init__(self, params: Mapping) -> None:
        p = {k: np.asarray(v, np.float32) for k, v in params.items()}
        self.p = p
        self._cache: dict[str, np.ndarray] = {}
        if "lstm_w_ih" in p:
            H = p["lstm_w_hh"].shape[1]
            self.H = H
            # sigmoid(z) = (1 + tanh(z / 2)) / 2: halve the i, f, o rows so one tanh serves all gates
            half = np.full(4 * H, 0.5, np.float32)
            half[2 * H : 3 * H] = 1.0
            self._half = half
            w_ih = np.concatenate([p["lstm_w_ih"] * half[:, None], p["lstm_w_ih_r"] * half[:, None]])
            self.w_ih = np.ascontiguousarray(w_ih.T)  # (D, 8H)
            self.b_ih = np.concatenate([p["lstm_b"] * half, p["lstm_b_r"] * half])
            whh = np.zeros((2 * H, 8 * H), np.float32)  # block-diagonal: both directions at once
            whh[:H, : 4 * H] = (p["lstm_w_hh"] * half[:, None]).T
            whh[H:, 4 * H :] = (p["lstm_w_hh_r"] * half[:, None]).T
            self.w_hh = whh
            self.whh_f = np.ascontiguousarray(whh[:H, : 4 * H])
            self.whh_b = np.ascontiguousarray(whh[H:, 4 * H :])
            k = p["conv_w"].shape[2]
            self.k = k
            self.conv_w = np.ascontiguousarray(p["conv_w"].transpose(2, 1, 0).reshape(-1, p["conv_w"].shape[0]))

    def _char_features(self, ch: np.ndarray) -> np.ndarray:
        """Max-pooled ReLU char-CNN features of (N, L) character ids -> (N, F)."""
        p = self.p
        ce = p["char_emb"][ch]  # (N, L, C)
        N, L, C = ce.shape
        k = self.k
        z = np.zeros((N, k // 2, C), np.float32)
        padded = np.concatenate([z, ce, z], axis=1)
        win = np.concatenate([padded[:, j : j + L] for j in range(k)], axis=2)  # (N, L, kC)
        conv = win @ self.conv_w + p["conv_b"]
        conv = np.where((ch != PAD)[..., None], conv, -1e4)
        return np.maximum(conv.max(axis=1), 0.0)

    def _cached_char_features(self, keys: Sequence[str], uch: np.ndarray) -> np.ndarray:
        """:meth:`_char_features` of distinct words, remembered across calls (bounded cache)."""
        cache = self._cache
        miss = [j for j, k in enumerate(keys) if k not in cache]
        if miss:
            new = self._char_features(uch[miss])
            if len(cache) > 200_000:
                cache.clear()
            for j, row in zip(miss, new, strict=True):
                cache[keys[j]] = row
        return np.stack([cache[k] for k in keys]) if keys else self._char_features(uch)

    def emissions(self, batch: Mapping[str, np.ndarray]) -> np.ndarray:
        p = self.p
        mask = batch["mask"]
        B, T = mask.shape
        H = self.H
        if "uch" in batch:
            # context-free part of the input once per distinct word, then per-token clues
            xu = np.concatenate([p["word_emb"][batch["uw"]], p["word_emb"][batch["unp"]],
                                 self._cached_char_features(batch["ukeys"], batch["uch"]),
                                 *[p[f"cl{j}_emb"][batch["ucl"][:, j]] for j in range(3)]], axis=-1)
            nf = batch["fl"].shape[-1]
            xi = (xu @ self.w_ih[:-nf])[batch["u"]]
            xi += batch["fl"] @ self.w_ih[-nf:]
            xi += self.b_ih
        else:
            chf = self._char_features(batch["ch"].reshape(B * T, -1)).reshape(B, T, -1)
            x = np.concatenate([p["word_emb"][batch["w"]], p["word_emb"][batch["np"]], chf,
                                *[p[f"cl{j}_emb"][batch["cl"][..., j]] for j in range(3)],
                                batch["fl"]], axis=-1)
            xi = x @ self.w_ih + self.b_ih  # (B, T, 8H): forward gates then backward gates
        maskf = mask.astype(np.float32)[..., None]
        h = np.zeros((B, 2 * H), np.float32)
        c = np.zeros((B, 2 * H), np.float32)
        out = np.zeros((B, T, 2 * H), np.float32)
        H4 = 4 * H
        for t in range(T):
            r = T - 1 - t  # the backward direction walks from the end
            g = np.concatenate([h[:, :H] @ self.whh_f, h[:, H:] @ self.whh_b], axis=1)
            g[:, :H4] += xi[:, t, :H4]
            g[:, H4:] += xi[:, r, H4:]
            a = np.tanh(g, out=g)
            # columns: [i f g o] forward, [i f g o] backward; sigmoid(z) = (1 + tanh(z/2)) / 2
            af, ab = a[:, :H4], a[:, H4:]
            cf = c[:, :H]
            cf *= 0.5 * (1 + af[:, H : 2 * H])
            cf += 0.5 * (1 + af[:, :H]) * af[:, 2 * H : 3 * H]
            cb = c[:, H:]
            cb *= 0.5 * (1 + ab[:, H : 2 * H])
            cb += 0.5 * (1 + ab[:, :H]) * ab[:, 2 * H : 3 * H]
            # right padding: forward states past the end are never read; the backward state
            # stays zero until the sentence's last token
            cb *= maskf[:, r]
            h[:, :H] = 0.5 * (1 + af[:, 3 * H :]) * np.tanh(cf)
            h[:, H:] = 0.5 * (1 + ab[:, 3 * H :]) * np.tanh(cb)
            out[:, t, :H] = h[:, :H]
            out[:, r, H:] = h[:, H:]
        return out @ p["out_w"].T + p["out_b"]

    def viterbi(self, em: np.ndarray, mask: np.ndarray) -> list[list[int]]:
        trans, start, end = self.p["trans"], self.p["start"], self.p["end"]
        B, T, K = em.shape
        score = start + em[:, 0]
        back = np.zeros((B, T, K), np.int64)
        for t in range(1, T):
            cand = score[:, :, None] + trans[None]  # (B, from, to)
            best = cand.argmax(axis=1)
            new = np.take_along_axis(cand, best[:, None, :], axis=1)[:, 0] + em[:, t]
            m = mask[:, t : t + 1]
            score = np.where(m, new, score)
            back[:, t] = best
        lengths = mask.sum(axis=1)
        out = []
        final = score + end
        for b in range(B):
            n = int(lengths[b])
            tag = int(final[b].argmax())
            path = [tag]
            for t in range(n - 1, 0, -1):
                tag = int(back[b, t, tag])
                path.append(tag)
            out.append(path[::-1])
        return out

    def marginals(self, em: np.ndarray, mask: np.ndarray) -> np.ndarray:
        trans, start, end = self.p["trans"], self.p["start"], self.p["end"]
        B, T, K = em.shape
        alpha = np.zeros((B, T, K), np.float32)
        alpha[:, 0] = start + em[:, 0]
        for t in range(1, T):
            new = _logsumexp(alpha[:, t - 1, :, None] + trans[None], axis=1) + em[:, t]
            alpha[:, t] = np.where(mask[:, t : t + 1], new, alpha[:, t - 1])
        beta = np.zeros((B, T, K), np.float32)
        lengths = mask.sum(axis=1)
        beta[np.arange(B), lengths - 1] = end
        for t in range(T - 2, -1, -1):
            new = _logsumexp(trans[None] + (em[:, t + 1] + beta[:, t + 1])[:, None, :], axis=2)
            inside = (t < lengths - 1)[:, None]
            beta[:, t] = np.where(inside, new, beta[:, t])
        z = _logsumexp(alpha[np.arange(B), lengths - 1] + end, axis=1)
        return np.exp(alpha + beta - z[:, None, None])



class EnsembleNet:
    """Several BiLSTM-CRFs over the same inputs: mean emissions and mean CRF transitions."""

    def __init__(self, members: Sequence[Mapping]) -> None:
        self.nets = [BiLstmCrf(m) for m in members]
        self.crf = BiLstmCrf({k: np.mean([np.asarray(m[k], np.float32) for m in members], axis=0)
                              for k in ("trans", "start", "end")})

    def emissions(self, batch: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.mean([n.emissions(batch) for n in self.nets], axis=0)

    def viterbi(self, em: np.ndarray, mask: np.ndarray) -> list[list[int]]:
        return self.crf.viterbi(em, mask)

    def marginals(self, em: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.crf.marginals(em, mask)


def merge_models(paths: Sequence[Path], out: Path) -> int:
    """One ensemble file from models trained on the same data (same vocabulary and clues; the
    frozen word vectors are stored once). Returns the file size."""
    zs = [np.load(p, allow_pickle=False) for p in paths]
    base = zs[0]
    for z in zs[1:]:
        for k in ("words", "chars", "flags"):
            if not np.array_equal(z[k], base[k]):
                raise ValueError(f"{k} differ between ensemble members")
        if not np.array_equal(z["word_emb"], base["word_emb"]):
            raise ValueError("word vectors differ between ensemble members")
    meta = json.loads(str(base["meta"]))
    meta["members"] = len(zs)
    meta["member_files"] = [Path(p).name for p in paths]
    arrays = {k: base[k] for k in base.files if k != "meta"}
    for i, z in enumerate(zs[1:], start=1):
        arrays.update({f"m{i}:{k}": z[k] for k in z.files
                       if k not in ("meta", "words", "chars", "flags", "word_emb")})
    np.savez_compressed(out, meta=np.array(json.dumps(meta)), **arrays)
    return Path(out).stat().st_size


# --------------------------------------------------------------------------- recognizer

_CONTROLLER: list = []


def _blas_controller():
    """A cached ``threadpoolctl.ThreadpoolController`` (None when threadpoolctl is missing)."""
    if not _CONTROLLER:
        try:
            from threadpoolctl import ThreadpoolController

            _CONTROLLER.append(ThreadpoolController())
        except Exception:  # pragma: no cover - threadpoolctl comes with scikit-learn
            _CONTROLLER.append(None)
    return _CONTROLLER[0]


class NeuralRecognizer:
    """Recognizer protocol implementation backed by ``anercorp-bilstm.npz`` (numpy inference)."""

    name = "bilstm"

    def __init__(self, model_path: Path | str | None = None, batch_tokens: int = 6000,
                 propagate: bool = True, nisba: bool = True) -> None:
        self.model_path = Path(model_path) if model_path else DEFAULT_NEURAL_PATH
        if not self.model_path.exists():
            raise FileNotFoundError(f"neural NER model not found: {self.model_path}")
        with np.load(self.model_path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            params = {k: z[k] for k in z.files
                      if k not in ("meta", "words", "chars", "flags") and ":" not in k}
            members = [params]
            for m in range(1, int(meta.get("members", 1))):  # ensemble: "m1:conv_w", ...
                members.append({**params, **{k.split(":", 1)[1]: z[k] for k in z.files
                                             if k.startswith(f"m{m}:")}})
            words, chars, flags = list(z["words"]), list(z["chars"]), list(z["flags"])
        self.meta = meta
        self.tags: list[str] = meta["tags"]
        self.net = BiLstmCrf(members[0]) if len(members) == 1 else EnsembleNet(members)
        gaz, gmax = gaz_mod.load(parts=bool(meta.get("parts", True)))
        cl = clusters_mod.load_clusters(with_vectors=False)
        self.feat = Featurizer(words, chars, flags, gaz, gmax, cl)
        self._use_doc = bool(meta.get("doc", True))
        # document consistency post-processing (chosen on held-out train fold 5: +1.6 F1)
        self.propagate = propagate
        # a person's name goes on through a following nisba (... السوداني): see extend_nisba
        self.nisba = nisba
        self.batch_tokens = batch_tokens
        self._tag_index = {t: i for i, t in enumerate(self.tags)}

    # ------------------------------------------------------------------ tagging
    def _run(self, items: Sequence[dict], marginals: bool) -> tuple[list[list[int]], list]:
        """Tag ids (and the (n, tags) marginals) of featurised sentences, batched by length.

        BLAS runs on one thread here: the matrices are small and multi-threaded OpenBLAS made
        the benchmark ~40 % slower on the shared 2-core machine."""
        ctl = _blas_controller()
        if ctl is None:
            return self._run_batches(items, marginals)
        with ctl.limit(limits=1, user_api="blas"):
            return self._run_batches(items, marginals)

    def _run_batches(self, items: Sequence[dict], marginals: bool) -> tuple[list[list[int]], list]:
        order = sorted(range(len(items)), key=lambda i: len(items[i]["w"]))
        paths: list = [None] * len(items)
        probs: list = [None] * len(items)
        k = 0
        while k < len(order):
            T = len(items[order[k]]["w"])
            j = k
            while j < len(order) and (j - k + 1) * max(T, len(items[order[j]]["w"])) <= self.batch_tokens:
                T = max(T, len(items[order[j]]["w"]))
                j += 1
            j = max(j, k + 1)
            idx = order[k:j]
            batch = pad_batch([items[i] for i in idx], self.feat.n_flags, dedupe=True)
            em = self.net.emissions(batch)
            ps = self.net.viterbi(em, batch["mask"])
            mg = self.net.marginals(em, batch["mask"]) if marginals else None
            for b, i in enumerate(idx):
                paths[i] = ps[b]
                if mg is not None:
                    probs[i] = mg[b, : len(ps[b])]
            k = j
        return paths, probs

    def tag_tokens(self, sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        """BIO tags of tokenised sentences of a corpus without document boundaries (evaluation):
        document clues come from the neighbouring sentences, as in training."""
        sentences = [list(s) for s in sentences]
        gzs = [self.feat.gz(s) for s in sentences]
        if self._use_doc:
            owns, docs = doc_clues(sentences, gzs, window=DOC_WINDOW)
        else:
            owns = docs = [None] * len(sentences)
        items = [self.feat.sentence(s, d, g, o)
                 for s, d, g, o in zip(sentences, docs, gzs, owns, strict=True)]
        out: list[list[str]] = [[] for _ in sentences]
        live = [i for i, s in enumerate(sentences) if s]
        paths, _ = self._run([items[i] for i in live], marginals=False)
        for i, p in zip(live, paths, strict=True):
            out[i] = [self.tags[t] for t in p]
        return self._post_process(sentences, out, window=DOC_WINDOW)

    def _post_process(self, sentences: Sequence[Sequence[str]], tags: list[list[str]],
                      window: int | None) -> list[list[str]]:
        """Tags of one document after document propagation and the nisba rule (as switched on)."""
        if self.propagate:
            tags = propagate_labels(sentences, tags, window=window)
        if self.nisba:
            tags = [extend_nisba(s, t) for s, t in zip(sentences, tags, strict=True)]
        return tags

    def recognize_batch(self, texts: Sequence[str]) -> list[list[Entity]]:
        """Entities of each text (same length and order as ``texts``), in order of ``start``."""
        texts = [t or "" for t in texts]
        sent_meta: list[tuple[int, list[tuple[int, int]], list[str]]] = []  # text, spans, tokens
        items: list[dict] = []
        for ti, text in enumerate(texts):
            sents = sentence_spans(text, tokenize(text))
            token_lists = [[text[s:e] for s, e in sent] for sent in sents]
            gzs = [self.feat.gz(toks) for toks in token_lists]
            if self._use_doc and token_lists:
                owns, docs = doc_clues(token_lists, gzs, window=None)
            else:
                owns = docs = [None] * len(token_lists)
            for sent, toks, d, g, o in zip(sents, token_lists, docs, gzs, owns, strict=True):
                sent_meta.append((ti, sent, toks))
                items.append(self.feat.sentence(toks, d, g, o))
        out: list[list[Entity]] = [[] for _ in texts]
        if not items:
            return out
        paths, probs = self._run(items, marginals=True)
        tags = [[self.tags[t] for t in path] for path in paths]
        k = 0
        while k < len(sent_meta):  # per text: the article is the document
            j = k
            while j < len(sent_meta) and sent_meta[j][0] == sent_meta[k][0]:
                j += 1
            tags[k:j] = self._post_process([m[2] for m in sent_meta[k:j]], tags[k:j], window=None)
            k = j
        ti_ = self._tag_index
        for (ti, sent, _), st, pr in zip(sent_meta, tags, probs, strict=True):
            text = texts[ti]
            for a, b, label in bio_spans(st):
                if label not in ENTITY_LABELS:
                    continue
                start, end = sent[a][0], sent[b - 1][1]
                mention = text[start:end]
                score = float(np.mean([pr[t, ti_[st[t]]] for t in range(a, b)]))
                out[ti].append(Entity(
                    text=mention, label=label, start=start, end=end,
                    normalized=entity_key(mention),
                    score=round(min(1.0, max(1e-4, score)), 4),
                ))
        for ents in out:
            ents.sort(key=lambda e: (e.start, e.end))
        return out


# --------------------------------------------------------------------------- post-processing

def propagate_labels(sentences: Sequence[Sequence[str]], tags: Sequence[Sequence[str]],
                     window: int | None = DOC_WINDOW, min_votes: int = 1) -> list[list[str]]:
    """Document consistency: a name tagged as an entity somewhere in the document is tagged with
    its majority label where it recurs untagged (whole-token match, proclitics of the first token
    ignored). ``window``: sentences either side (None: the whole list is one document)."""
    from collections import Counter

    def key_of(norms: Sequence[str]) -> tuple[str, ...]:
        return (word_forms(norms[0])[1], *norms[1:]) if norms else ()

    norms = [[word_forms(t)[0] for t in s] for s in sentences]
    per_sent: list[dict[tuple[str, ...], Counter]] = []
    for s_norms, s_tags in zip(norms, tags, strict=True):
        d: dict[tuple[str, ...], Counter] = {}
        for a, b, label in bio_spans(list(s_tags)):
            k = key_of(s_norms[a:b])
            if len(k) == 1 and len(k[0]) < 3:
                continue
            d.setdefault(k, Counter())[label] += 1
        per_sent.append(d)
    n = len(sentences)
    out = [list(t) for t in tags]

    def collect(lo: int, hi: int) -> dict[tuple[str, ...], Counter]:
        votes: dict[tuple[str, ...], Counter] = {}
        for j in range(lo, hi):
            for k, c in per_sent[j].items():
                votes.setdefault(k, Counter()).update(c)
        return votes

    whole = collect(0, n) if window is None else None
    for i in range(n):
        if whole is not None:
            votes = whole
        else:
            votes = collect(max(0, i - window), min(n, i + window + 1))
        if not votes:
            continue
        by_len = sorted({len(k) for k in votes}, reverse=True)
        firsts = {k[0] for k in votes}
        s_norms, s_out = norms[i], out[i]
        m = len(s_norms)
        heads = [word_forms(w)[1] for w in s_norms]
        for L in by_len:
            for a in range(0, m - L + 1):
                if heads[a] not in firsts or s_out[a] != "O":
                    continue
                if any(t != "O" for t in s_out[a : a + L]):
                    continue
                if a + L < m and s_out[a + L].startswith("I-"):
                    continue
                c = votes.get((heads[a], *s_norms[a + 1 : a + L]))
                if not c:
                    continue
                label, v = c.most_common(1)[0]
                if v < min_votes:
                    continue
                s_out[a] = "B-" + label
                for t in range(a + 1, a + L):
                    s_out[t] = "I-" + label
    return out


_RELATIVE = frozenset(("الذي", "التي", "الذين", "اللذين", "اللتين", "اللذان", "اللتان", "اللواتي", "اللاتي"))


def _is_nisba(norm: str) -> bool:
    """``ال`` + at least three letters + ``ي`` (السوداني, العامري), not a relative pronoun."""
    return len(norm) >= 6 and norm.startswith("ال") and norm.endswith("ي") and norm not in _RELATIVE


def extend_nisba(tokens: Sequence[str], tags: Sequence[str]) -> list[str]:
    """A PERS span directly followed by an untagged nisba word (``ال…ي``) takes it in as its last
    token: "محمد شياع" + "السوداني". Measured on the gold annotation of the TRAIN split: after a
    PERS token such a word (relative pronouns الذي/التي… aside) is part of the name 159 times of
    176 (90 %); the networks stop early mostly where the nisba is also a nationality adjective.
    Returns new tags (the input is not changed)."""
    out = list(tags)
    norms = [word_forms(t)[0] for t in tokens]
    for i in range(1, len(out)):
        if out[i] == "O" and out[i - 1].endswith("-PERS") and _is_nisba(norms[i]):
            out[i] = "I-PERS"
    return out
