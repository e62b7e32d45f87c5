"""Featurisation of the BiLSTM-CRF (:mod:`services.extract.ner.neural`): tokens to the integer
and multi-hot arrays the network reads.

Per token: the ids of its normalised form and of the form without proclitics, the ids of its
characters (:data:`MAX_CHARS` at most), its three word-cluster ids, and the names of its
discrete clues (:func:`token_flags`: gazetteer matches on the token and its neighbours, cue
words before it, shape, proclitics, corpus frequency, document clues), mapped to a multi-hot
vector by :class:`Featurizer` and batched by :func:`pad_batch`. Training
(:mod:`services.extract.ner.training.neural_train`) and the recognizer both use this module, so
the features the network was trained on are the features it reads.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from services.extract.ner.features import (
    CUE_ORG,
    CUE_PERS,
    _doc_key,
    cue_kinds,
    gazetteer_matches,
    local_signals,
    shape,
    strip_prefix,
    word_forms,
)

MAX_CHARS = 20
PAD, UNK = 0, 1
_DOC_SIGNALS = ("cP", "cO", "cL", "pre", "gLOC", "gORG", "gPERS")


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
_WORD_DOC: dict[str, tuple[str | None, bool, tuple[str, ...]]] = {}


def _word_doc(w: str) -> tuple[str | None, bool, tuple[str, ...]]:
    """Of a normalised word: its document key, whether it gives ``pre``, and the ``c*`` cue
    signals it gives the next word (as :func:`features.local_signals` names them); cached."""
    hit = _WORD_DOC.get(w)
    if hit is None:
        np_ = strip_prefix(w)
        hit = (_doc_key(w), w.startswith("ال") or np_ != w, tuple("c" + k for k in cue_kinds(w, np_)))
        if len(_WORD_DOC) < 500_000:
            _WORD_DOC[w] = hit
    return hit


def doc_signals(norms: Sequence[str], gz: Sequence[Sequence[str]]) -> list[tuple[str | None, list[str]]]:
    """:func:`features.local_signals` restricted to what the network reads: per token its
    document key and, of the clues the mention gives, the cue (``cP`` ``cO`` ``cL``), ``pre``
    and gazetteer-label (``g<LABEL>``) ones; the ``pv=``/``nx=`` word clues are left out (no
    count of them is read). Same counts of :data:`_DOC_SIGNALS` as ``local_signals``."""
    out: list[tuple[str | None, list[str]]] = []
    prev_cues: tuple[str, ...] = ()
    for i, w in enumerate(norms):
        key, pre, cues = _word_doc(w)
        if key is None:
            out.append((None, []))
        else:
            sig = list(prev_cues) if i > 0 else []
            if pre:
                sig.append("pre")
            for g in gz[i]:
                sig.append("g" + g.split(":", 2)[1])
            out.append((key, sig))
        prev_cues = cues
    return out


def doc_clues(sentences: Sequence[Sequence[str]], gzs, window: int | None):
    """Per sentence: its :func:`local_signals` and ``doc key -> {signal: count}`` of the document
    clues the network reads, over the document (``window`` sentences either side, or all of
    them when None). Same counts as :func:`features.document_contexts` for those signals."""
    locs = [doc_signals([word_forms(t)[0] for t in s], g) for s, g in zip(sentences, gzs, strict=True)]
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
        self._gz_cache: dict[str, tuple[list[int], list[int], list[int]]] = {}
        self._gz_row_cache: dict[str, tuple[int, int, int, int]] = {}  # neural_packed._gz_row
        self._tok_cache: dict[str, tuple] = {}

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

    def _gz_ids(self, g: str) -> tuple[list[int], list[int], list[int]]:
        """Flag ids of a gazetteer feature on the token itself, on the one before (``-1``) and
        on the one after (``+1``), each an empty list when the network has no such flag."""
        hit = self._gz_cache.get(g)
        if hit is None:
            fi = self.flag_index
            hit = self._gz_cache[g] = tuple([fi[f]] if f in fi else [] for f in (g, "-1" + g, "+1" + g))
        return hit

    def context_ids(self, norms: Sequence[str], nopre: Sequence[str], gz: Sequence[Sequence[str]],
                    doc=None, own=None) -> list[list[int]]:
        """Flag ids of :func:`context_flags` (the same set per token, unknown flags dropped),
        computed without building the flag strings: the recognizer's hot path."""
        fi = self.flag_index
        n = len(norms)
        cues = [self._cue_ids(w, p) for w, p in zip(norms, nopre, strict=True)]
        gzi = [[self._gz_ids(g) for g in gs] if gs else () for gs in gz]
        bos, eos = fi.get("bos"), fi.get("eos")
        out: list[list[int]] = []
        for i in range(n):
            ids: list[int] = []
            for own_, _, _ in gzi[i]:
                ids += own_
            if i > 0:
                for _, m1, _ in gzi[i - 1]:
                    ids += m1
                ids += cues[i - 1][0]
            elif bos is not None:
                ids.append(bos)
            if i + 1 < n:
                for _, _, p1 in gzi[i + 1]:
                    ids += p1
            elif eos is not None:
                ids.append(eos)
            if i > 1:
                ids += cues[i - 2][1]
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

    def _token(self, t: str) -> tuple:
        """Context-free arrays of a token (cached per token string): normalised form, form
        without proclitics, word id, proclitic-free word id, character ids, cluster ids and
        static flag ids."""
        hit = self._tok_cache.get(t)
        if hit is None:
            w, p, _ = word_forms(t)
            wi, fi = self.word_index, self.flag_index
            wid = wi.get(w, UNK)
            st = [fi[f] for f in static_flags(t, w, p, self.counts) if f in fi]
            hit = (w, p, wid, wi.get(p, wid), self._chars(w), self._cl(w, p), st)
            if len(self._tok_cache) < 500_000:
                self._tok_cache[t] = hit
        return hit

    def sentence(self, tokens: Sequence[str], doc=None, gz=None, own=None) -> dict:
        """Arrays of one sentence: ``w``, ``np`` (n,), ``ch`` list of char id lists, ``cl`` (n, 3),
        ``fl`` list of flag index lists."""
        infos = [self._token(t) for t in tokens]
        norms = [x[0] for x in infos]
        nopre = [x[1] for x in infos]
        if gz is None:
            gz = gazetteer_matches(norms, self.gaz, self.gaz_max) if self.gaz else [[] for _ in norms]
        if own is None:
            own = local_signals(norms, gz) if doc else None
        elif not doc:
            own = None
        ctx = self.context_ids(norms, nopre, gz, doc, own)
        return {
            "key": norms,
            "w": [x[2] for x in infos],
            "np": [x[3] for x in infos],
            "ch": [x[4] for x in infos],
            "cl": [x[5] for x in infos],
            "fl": [x[6] + c for x, c in zip(infos, ctx, strict=True)],
        }


def pad_batch(items: Sequence[dict], n_flags: int, dedupe: bool = False) -> dict[str, np.ndarray]:
    """Padded arrays of a batch of :meth:`Featurizer.sentence` outputs (``mask`` (B, T)).

    With ``dedupe`` the characters are given once per distinct word (``uch`` (U, L) and the
    index ``u`` (B, T)) instead of per token (``ch`` (B, T, L)). Items with character-LM features
    (``"lm"`` (n, D)) give ``lm`` (B, T, D) float32, zero past each sentence's end."""
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
    if "lm" in items[0]:  # contextual string embeddings (services.extract.ner.charlm), padded
        lm = out["lm"] = np.zeros((B, T, items[0]["lm"].shape[1]), np.float32)
        for b, x in enumerate(items):
            lm[b, : len(x["w"])] = x["lm"]
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


def pack_batch(items: Sequence[dict]) -> dict:
    """Packed arrays of a batch of :meth:`Featurizer.sentence` outputs: no padding.

    Sentences are put in order of decreasing length (``order`` (B,) int64: position ``b`` holds
    ``items[order[b]]``; ``lengths`` (B,) int64 non-increasing, every length >= 1) and their
    tokens concatenated in that order (``offsets`` (B,) int64: first token of each sentence), so
    that at time step ``t`` the live sentences are the first ``steps[t]`` ones. Per token (N of
    them): ``u`` (N,) int64 index of its distinct word; per distinct word (U): ``ukeys`` (its
    normalised form), ``uw``, ``unp`` (U,) int64 word ids, ``ucl`` (U, 3) int64 cluster ids,
    ``uch`` (U, MAX_CHARS) int64 character ids; the multi-hot clues as sorted coordinates
    ``fl_indptr`` (N + 1,) and ``fl_indices`` (nnz,) int32 (a CSR matrix of N rows); when the
    items carry character-LM features, ``lm`` (N, D) float32 in the same token order."""
    order = sorted(range(len(items)), key=lambda i: -len(items[i]["w"]))
    lengths = np.fromiter((len(items[i]["w"]) for i in order), np.int64, len(order))
    offsets = np.zeros(len(order), np.int64)
    if len(order) > 1:
        np.cumsum(lengths[:-1], out=offsets[1:])
    uniq: dict[str, int] = {}
    u: list[int] = []
    uw: list[int] = []
    unp: list[int] = []
    ucl: list = []
    rows: list[list[int]] = []
    indptr = [0]
    indices: list[int] = []
    for i in order:
        x = items[i]
        for k, w, p, c, ids, fl in zip(x["key"], x["w"], x["np"], x["cl"], x["ch"], x["fl"], strict=True):
            j = uniq.get(k)
            if j is None:
                j = uniq[k] = len(rows)
                rows.append(ids)
                uw.append(w)
                unp.append(p)
                ucl.append(c)
            u.append(j)
            indices.extend(sorted(set(fl)))
            indptr.append(len(indices))
    uch = np.zeros((len(rows), MAX_CHARS), np.int64)
    for j, ids in enumerate(rows):
        uch[j, : len(ids)] = ids
    T = int(lengths[0]) if len(lengths) else 0
    extra = {"lm": np.concatenate([items[i]["lm"] for i in order]).astype(np.float32)} \
        if items and "lm" in items[0] else {}
    return {
        **extra,
        "order": np.asarray(order, np.int64), "lengths": lengths, "offsets": offsets,
        "steps": (lengths[None, :] > np.arange(T)[:, None]).sum(axis=1),
        "u": np.asarray(u, np.int64), "ukeys": list(uniq),
        "uw": np.asarray(uw, np.int64), "unp": np.asarray(unp, np.int64),
        "ucl": np.asarray(ucl, np.int64).reshape(-1, 3), "uch": uch,
        "fl_indptr": np.asarray(indptr, np.int64), "fl_indices": np.asarray(indices, np.int32),
    }
