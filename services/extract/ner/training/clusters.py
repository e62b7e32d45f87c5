"""Word clusters for the offline recognizers (BiLSTM-CRF and CRF): k-means over PPMI-SVD word
vectors learned from a news corpus. Training time: the run-time loader is
:mod:`services.extract.ner.clusters`.

``build_clusters`` reads JSON Lines (optionally gzipped) with a ``body`` (and ``title``) field,
normalises and tokenises it like the recognizer, counts ±2-word co-occurrences with numpy/scipy,
takes the positive PMI matrix (context distribution smoothed with α = 0.75), reduces it with a
randomised SVD, and clusters the unit-length vectors with k-means at several granularities.
The result is a small TSV: ``word<TAB>count<TAB>cluster_k1<TAB>cluster_k2...`` (shipped with
the model); the corpus counts give frequency and "takes the article" features.

Command (from the repository root)::

    python -m services.extract.ner.training.clusters [NEWS.jsonl.gz]
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from services.extract.ner.clusters import DEFAULT_CLUSTER_PATH
from services.extract.ner.features import normalize, tokenize
from services.extract.ner.training.corpora import DEFAULT_DATA_DIR, news_texts


def build_clusters(
    corpus: Path,
    out: Path = DEFAULT_CLUSTER_PATH,
    vocab_size: int = 50_000,
    context_size: int = 10_000,
    min_count: int = 5,
    dim: int = 100,
    ks: Sequence[int] = (64, 256, 1024),
    window: int = 2,
    limit: int | None = None,
    seed: int = 13,
    store_dim: int = 48,
) -> dict:
    """Learn clusters from ``corpus`` and write them to ``out``; returns a small report."""
    from scipy import sparse
    from sklearn.cluster import MiniBatchKMeans
    from sklearn.utils.extmath import randomized_svd

    t0 = time.time()
    docs: list[list[str]] = []
    counts: Counter[str] = Counter()
    for text in news_texts(corpus, limit):
        toks = [normalize(text[s:e]) for s, e in tokenize(text)]
        docs.append(toks)
        counts.update(toks)
    vocab = [w for w, c in counts.most_common(vocab_size) if c >= min_count]
    index = {w: i for i, w in enumerate(vocab)}
    ids = np.concatenate(
        [np.array([index.get(w, -1) for w in d] + [-1] * window, dtype=np.int64) for d in docs]
    )
    rows_l, cols_l = [], []
    for off in range(1, window + 1):
        a, b = ids[:-off], ids[off:]
        for x, y in ((a, b), (b, a)):
            ok = (x >= 0) & (y >= 0) & (y < context_size)
            rows_l.append(x[ok])
            cols_l.append(y[ok])
    rows = np.concatenate(rows_l)
    cols = np.concatenate(cols_l)
    nctx = min(context_size, len(vocab))
    co = sparse.coo_matrix(
        (np.ones(len(rows), dtype=np.float64), (rows, cols)), shape=(len(vocab), nctx)
    ).tocsr()
    co.sum_duplicates()
    total = co.sum()
    row_sum = np.asarray(co.sum(axis=1)).ravel()
    ctx = np.asarray(co.sum(axis=0)).ravel() ** 0.75
    ctx_p = ctx / ctx.sum()
    coo = co.tocoo()
    pmi = np.log(coo.data / total) - np.log(row_sum[coo.row] / total) - np.log(ctx_p[coo.col])
    keep = pmi > 0
    ppmi = sparse.csr_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=co.shape)
    u, s, _ = randomized_svd(ppmi, n_components=dim, random_state=seed, n_iter=5)
    vec = u * np.sqrt(s)
    vec /= np.linalg.norm(vec, axis=1, keepdims=True) + 1e-9
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out.with_name("vectors.npy"), vec[:, :store_dim].astype(np.float16))
    labels = []
    for k in ks:
        km = MiniBatchKMeans(n_clusters=k, random_state=seed, batch_size=4096, n_init=3)
        labels.append(km.fit_predict(vec))
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for i, w in enumerate(vocab):
            fh.write(w + "\t" + str(counts[w]) + "\t"
                     + "\t".join(str(int(lab[i])) for lab in labels) + "\n")
    return {"words": len(vocab), "tokens": int(sum(counts.values())), "ks": list(ks),
            "seconds": round(time.time() - t0, 1), "path": str(out)}


if __name__ == "__main__":  # pragma: no cover
    import sys

    src = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DATA_DIR.parent / "news" / "ant-20k.jsonl.gz"
    print(build_clusters(src))
