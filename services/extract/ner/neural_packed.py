"""The recognizer's hot path: whole articles straight to the packed network batches, with the
per-token work done by numpy over the batch instead of by Python per token.

:func:`pack_documents` gives exactly what ``pack_batch([featurizer.sentence(...) ...])`` gives
for the same sentences (the same arrays, element for element: ``tests/unit/test_ner_packed.py``
checks it on the sample articles), but

* each distinct token of the batch is looked up once (:meth:`Featurizer._token`, the cue and
  document tables of :mod:`services.extract.ner.neural_features`), and per token only its index
  into those tables is kept;
* the clues that depend on the neighbours (gazetteer matches on the token before / after, cue
  words one and two tokens before, sentence edges) and the document clues (``d:<signal>``: the
  signal another mention of the word in the article gives) are made as (token, flag) pairs with
  array shifts and group sums, and sorted into the CSR rows the network reads in one pass.

Only the gazetteer search itself (:func:`features.gazetteer_matches`, multi-word names) still
walks the tokens in Python. The flag layout is the featurizer's (:meth:`Featurizer.context_ids`
and :func:`static_flags`): a clue added there must be added here too, and the parity test fails
until it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

import numpy as np

from services.extract.ner.features import _multiword_heads, matches_from, single_word_matches
from services.extract.ner.neural_features import _DOC_SIGNALS, MAX_CHARS, Featurizer, _word_doc

_SIG_COL = {sg: j for j, sg in enumerate(_DOC_SIGNALS)}  # signal -> column of the count matrix


def _bags(lists: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """CSR ``(indptr (n + 1,), values (nnz,))`` int64 of a list of int lists."""
    counts = np.fromiter(map(len, lists), np.int64, len(lists))
    indptr = np.zeros(len(lists) + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    return indptr, np.fromiter(chain.from_iterable(lists), np.int64, int(indptr[-1]))


def _gather(indptr: np.ndarray, values: np.ndarray, which: np.ndarray, rows: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """``(row, value)`` pairs: for each ``k``, every value of bag ``which[k]`` paired with
    ``rows[k]`` (bags in CSR form ``indptr``/``values``)."""
    lens = indptr[which + 1] - indptr[which]
    total = int(lens.sum())
    if not total:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    ends = np.cumsum(lens)
    pos = np.arange(total) - np.repeat(ends - lens, lens) + np.repeat(indptr[which], lens)
    return np.repeat(rows, lens), values[pos]


def _gz_row(feat: Featurizer, g: str) -> tuple[int, int, int, int]:
    """Of a gazetteer feature ``g`` (``gzB:LABEL:list`` …): the flag ids it gives the token, the
    token before (``-1``) and the one after (``+1``), each -1 when the network has no such
    flag, and its document-signal column (``g<LABEL>``, -1 when none); cached on ``feat``."""
    cache = feat._gz_row_cache
    hit = cache.get(g)
    if hit is None:
        own, before, after = feat._gz_ids(g)
        hit = (own[0] if own else -1, before[0] if before else -1, after[0] if after else -1,
               _SIG_COL.get("g" + g.split(":", 2)[1], -1))
        if len(cache) < 500_000:
            cache[g] = hit
    return hit


def length_groups(lengths: Sequence[int], pack_tokens: int) -> list[list[int]]:
    """Indices of sentences of ``lengths`` tokens, longest first (stable), cut into consecutive
    groups of at most ``pack_tokens`` tokens (a longer sentence is a group alone)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    groups: list[list[int]] = []
    k = 0
    while k < len(order):
        j, n = k, 0
        while j < len(order) and (j == k or n + lengths[order[j]] <= pack_tokens):
            n += lengths[order[j]]
            j += 1
        groups.append(order[k:j])
        k = j
    return groups


def pack_documents(feat: Featurizer, docs: Sequence[Sequence[Sequence[str]]], use_doc: bool,
                   pack_tokens: int) -> tuple[list[tuple[list[int], dict]], list[list[str]]]:
    """Network batches of the sentences of several documents (articles; each a list of token
    lists, document clues over the whole article, as ``doc_clues(..., window=None)``).

    Sentences are numbered across the documents in order. Returns ``(groups, norms)``:
    ``groups`` a list of ``(sentence numbers, batch)`` where ``batch`` is the
    :func:`pack_batch` dict of those sentences in that order (longest first; each group at
    most ``pack_tokens`` tokens unless one sentence alone is longer, the grouping of
    :meth:`NeuralRecognizer._run`); ``norms`` the normalised tokens of each sentence.
    Empty sentences are not allowed (the tokenizer makes none)."""
    sents = [s for d in docs for s in d]
    if not sents:
        return [], []
    tokens = list(chain.from_iterable(sents))
    N = len(tokens)
    slen = np.fromiter(map(len, sents), np.int64, len(sents))
    sstart = np.zeros(len(sents), np.int64)
    np.cumsum(slen[:-1], out=sstart[1:])
    pos = np.arange(N) - np.repeat(sstart, slen)  # position of each token in its sentence
    last = pos == np.repeat(slen, slen) - 1
    doc_len = [sum(map(len, d)) for d in docs]
    doc_of = np.repeat(np.arange(len(docs)), doc_len)

    # ---- distinct tokens of the batch and what each gives
    types = dict.fromkeys(tokens)
    tindex = {t: j for j, t in enumerate(types)}
    tid = np.fromiter(map(tindex.__getitem__, tokens), np.int64, N)
    infos = [feat._token(t) for t in types]  # (w, p, wid, npid, chars, clusters, static ids)
    t_norm = [x[0] for x in infos]
    norms_tok = list(map(t_norm.__getitem__, tid.tolist()))
    st_ptr, st_val = _bags([x[6] for x in infos])
    cues = [feat._cue_ids(x[0], x[1]) for x in infos]
    c1_ptr, c1_val = _bags([c[0] for c in cues])
    c2_ptr, c2_val = _bags([c[1] for c in cues])

    # ---- gazetteer matches as (token, feature) pairs: a word that starts no multi-word
    # entry gives its one-word features (per distinct word); where one may start, the search
    # of features.gazetteer_matches runs from that token
    sent_norms = [norms_tok[s : s + n] for s, n in zip(sstart.tolist(), slen.tolist(), strict=True)]
    g_rows: list[int] = []
    g_feats: list[str] = []
    if feat.gaz:
        gaz = feat.gaz
        t_hit = [single_word_matches(w, gaz) for w in t_norm]
        h_ptr, h_val = _bags([[] if h is False else range(len(h)) for h in t_hit])
        rows, which = _gather(h_ptr, h_val, tid, np.arange(N))
        g_rows = rows.tolist()
        flat_hits = [t_hit[t] for t in tid[rows].tolist()]
        g_feats = [h[k] for h, k in zip(flat_hits, which.tolist(), strict=True)]
        is_head = np.fromiter((h is False for h in t_hit), bool, len(t_hit))
        heads = _multiword_heads(gaz)
        sent_of = np.repeat(np.arange(len(sents)), slen)
        at = np.nonzero(is_head[tid])[0]
        for i, si, pi in zip(at.tolist(), sent_of[at].tolist(), pos[at].tolist(), strict=True):
            base = i - pi
            for j, f in matches_from(sent_norms[si], pi, gaz, feat.gaz_max, heads):
                g_rows.append(base + j)
                g_feats.append(f)
    # per gazetteer feature: its flag on the token, on the one before and after, its signal column
    g_table = np.array([_gz_row(feat, g) for g in g_feats], np.int64).reshape(-1, 4)
    g_rows_a = np.asarray(g_rows, np.int64)

    def gz_pairs(which: int, shift: int, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        has = g_table[:, which] >= 0
        rows = g_rows_a[has]
        ids = g_table[has, which]
        ok = keep[rows]
        return rows[ok] + shift, ids[ok]

    rows_parts: list[np.ndarray] = []
    flag_parts: list[np.ndarray] = []

    def add(rows: np.ndarray, flags: np.ndarray) -> None:
        rows_parts.append(rows)
        flag_parts.append(flags)

    every = np.arange(N)
    add(*_gather(st_ptr, st_val, tid, every))  # static flags of the token
    add(*gz_pairs(0, 0, np.ones(N, bool)))  # gazetteer features on the token
    add(*gz_pairs(1, 1, ~last))  # ... on the token before ("-1"): token i gives it to i + 1
    add(*gz_pairs(2, -1, pos > 0))  # ... on the token after ("+1")
    after1 = every[pos > 0]
    add(*_gather(c1_ptr, c1_val, tid[after1 - 1], after1))  # cue word before
    after2 = every[pos > 1]
    add(*_gather(c2_ptr, c2_val, tid[after2 - 2], after2))  # cue word two before
    fi = feat.flag_index
    for name, rows in (("bos", every[pos == 0]), ("eos", every[last])):
        if name in fi:
            add(rows, np.full(len(rows), fi[name], np.int64))

    # ---- document clues: per token the counts of the signals its mention gives, summed per
    # (article, document key); a token gets d:<signal> where the article's count is higher
    if use_doc:
        wd = [_word_doc(w) for w in t_norm]  # (document key, gives "pre", cue signals to the next)
        keys = dict.fromkeys(x[0] for x in wd if x[0] is not None)
        kindex = {key: j for j, key in enumerate(keys)}
        t_key = np.fromiter((-1 if x[0] is None else kindex[x[0]] for x in wd), np.int64, len(wd))
        t_pre = np.fromiter((x[1] for x in wd), np.int64, len(wd))
        nxt = np.zeros((len(wd), len(_DOC_SIGNALS)), np.int64)  # cue signals given to the next token
        for j, x in enumerate(wd):
            for sg in x[2]:
                nxt[j, _SIG_COL[sg]] += 1
        S = np.zeros((N, len(_DOC_SIGNALS)), np.int64)
        S[:, _SIG_COL["pre"]] = t_pre[tid]
        S[after1] += nxt[tid[after1 - 1]]
        if g_feats:
            col = g_table[:, 3]
            ok = col >= 0
            np.add.at(S, (g_rows_a[ok], col[ok]), 1)
        key_tok = t_key[tid]
        live = every[key_tok >= 0]
        if len(live):
            code = doc_of[live] * len(keys) + key_tok[live]
            _, grp = np.unique(code, return_inverse=True)
            tot = np.zeros((int(grp.max()) + 1, len(_DOC_SIGNALS)), np.int64)
            np.add.at(tot, grp, S[live])
            more = tot[grp] > S[live]  # (live, signals)
            d_id = np.array([fi.get("d:" + sg, -1) for sg in _DOC_SIGNALS], np.int64)
            r, c = np.nonzero(more & (d_id >= 0)[None, :])
            add(live[r], d_id[c])

    # ---- every token's distinct flags in increasing order (CSR over the batch's tokens)
    width = max(feat.n_flags, 1)
    allrows = np.concatenate(rows_parts)
    allflags = np.concatenate(flag_parts)
    if len(allflags):
        width = max(width, int(allflags.max()) + 1)
    # a (token, flag) bitmap: its nonzeros come out by token, then flag, each once (no sort
    # of the pairs); N x width bytes (about 150 per token)
    mark = np.zeros((N, width), bool)
    mark[allrows, allflags] = True
    rows_nz, fl_val = np.nonzero(mark)
    fl_ptr = np.zeros(N + 1, np.int64)
    np.cumsum(np.bincount(rows_nz, minlength=N), out=fl_ptr[1:])

    # ---- distinct normalised forms (what the network's word part reads)
    nindex: dict[str, int] = {}
    n_rep: list[int] = []  # a type of each normalised form
    t_nid = np.empty(len(infos), np.int64)
    for j, w in enumerate(t_norm):
        m = nindex.get(w)
        if m is None:
            m = nindex[w] = len(n_rep)
            n_rep.append(j)
        t_nid[j] = m
    nid = t_nid[tid]
    n_keys = list(nindex)

    # ---- groups of sentences, longest first, as NeuralRecognizer._run makes them
    groups = [(g, _pack(g, slen, sstart, nid, n_keys, n_rep, infos, fl_ptr, fl_val))
              for g in length_groups(slen.tolist(), pack_tokens)]
    return groups, sent_norms


def _pack(group: list[int], slen: np.ndarray, sstart: np.ndarray, nid: np.ndarray,
          n_keys: list[str], n_rep: list[int], infos: list[tuple], fl_ptr: np.ndarray,
          fl_val: np.ndarray) -> dict:
    """The :func:`pack_batch` dict of the sentences ``group`` (already longest first)."""
    g = np.asarray(group, np.int64)
    lengths = slen[g]
    offsets = np.zeros(len(g), np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    N = int(lengths.sum())
    tok = np.arange(N) - np.repeat(offsets, lengths) + np.repeat(sstart[g], lengths)  # packed -> batch
    # distinct forms in order of first occurrence in the packed order
    gn = nid[tok]
    uniq, first, inv = np.unique(gn, return_index=True, return_inverse=True)
    rank = np.empty(len(uniq), np.int64)
    by_first = np.argsort(first, kind="stable")
    rank[by_first] = np.arange(len(uniq))
    u = rank[inv.reshape(-1)]
    forms = uniq[by_first]
    reps = [infos[n_rep[int(f)]] for f in forms]
    uch = np.zeros((len(reps), MAX_CHARS), np.int64)
    for j, x in enumerate(reps):
        uch[j, : len(x[4])] = x[4]
    counts = fl_ptr[tok + 1] - fl_ptr[tok]
    indptr = np.zeros(N + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    src = np.arange(int(indptr[-1])) - np.repeat(indptr[:-1], counts) + np.repeat(fl_ptr[tok], counts)
    indices = fl_val[src]
    T = int(lengths[0]) if len(lengths) else 0
    return {
        "order": np.arange(len(g), dtype=np.int64), "lengths": lengths, "offsets": offsets,
        "steps": (lengths[None, :] > np.arange(T)[:, None]).sum(axis=1),
        "u": u, "ukeys": [n_keys[int(f)] for f in forms],
        "uw": np.fromiter((x[2] for x in reps), np.int64, len(reps)),
        "unp": np.fromiter((x[3] for x in reps), np.int64, len(reps)),
        "ucl": np.asarray([x[5] for x in reps], np.int64).reshape(-1, 3), "uch": uch,
        "fl_indptr": indptr, "fl_indices": indices.astype(np.int32),
    }
