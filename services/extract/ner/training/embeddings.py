"""Word2vec embeddings for the neural tagger, learned from the ANT news corpus (gensim).

Command (from the repository root)::

    python -m services.extract.ner.training.embeddings ../shared/data/news/ant-20k.jsonl.gz /tmp/hadath-w2v.npz

Tokens are normalised and tokenised like the recognizer (:func:`features.normalize`,
:func:`features.tokenize`). The output ``.npz`` holds ``words`` (str array) and ``vectors``
(float32, one row per word); it is only an input of :mod:`services.extract.ner.training.neural_train`
(the trained tagger ships its own fine-tuned copy of the rows it needs).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from services.extract.ner.training.corpora import news_texts
from services.extract.ner.features import normalize, tokenize


def corpus_sentences(path: Path) -> list[list[str]]:
    out = []
    for text in news_texts(path):
        out.append([normalize(text[s:e]) for s, e in tokenize(text)])
    return out


def build(corpus: Path, out: Path, dim: int = 100, min_count: int = 3, epochs: int = 5,
          workers: int = 2, seed: int = 13) -> dict:
    from gensim.models import Word2Vec

    t0 = time.time()
    sents = corpus_sentences(corpus)
    model = Word2Vec(sents, vector_size=dim, window=5, min_count=min_count, sg=1, negative=5,
                     epochs=epochs, workers=workers, seed=seed)
    words = np.array(model.wv.index_to_key)
    np.savez(out, words=words, vectors=model.wv.vectors.astype(np.float32))
    return {"words": len(words), "tokens": sum(len(s) for s in sents),
            "seconds": round(time.time() - t0, 1), "path": str(out)}


if __name__ == "__main__":  # pragma: no cover
    print(build(Path(sys.argv[1]), Path(sys.argv[2])))
