"""Topic of an article, and of an event: a linear classifier over hashed word n-grams.

Run time only (numpy, scipy.sparse and scikit-learn's MurmurHash3; no network, no pickle). The
model is trained by :mod:`services.events.train_topic` on the ANT news corpus and shipped as
``model/topic-ant.npz``; ``model/MODEL_CARD.md`` has its data, split, recipe and scores.

Pipeline, identical at training and at run time (:func:`hashed_counts`, :func:`tfidf_rows`):

1. ``title + "\\n" + body`` (:func:`article_text`) through the project's
   :func:`shared.arabic.normalize`;
2. words: runs of two or more word characters (as ``re.findall(r"\\w\\w+", ...)``), found by one
   ``str.translate`` table derived from ``normalize`` plus ``str.split`` (fast);
3. a light stem: the article ال with its proclitics (و ف ب ك, and لل = ل + ال) is dropped
   from every word that keeps at least three letters after it (والاقتصاد → اقتصاد,
   للمنتخب → منتخب), so that the forms of one noun share their features;
4. each word and each pair of adjacent words hashed into ``2**bits`` buckets (a word by the
   MurmurHash3 of its text, a pair by mixing its two words' hashes; no sign alternation):
   counts per bucket, so no vocabulary of corpus words is shipped;
5. TF-IDF: ``1 + ln(count)`` times the bucket's idf (buckets seen in fewer than ``min_df``
   training articles have idf 0 and are ignored), each row scaled to unit L2 norm;
6. linear scores ``X @ coef.T + intercept`` (one row per topic); the topic is the argmax.
   :meth:`TopicClassifier.predict_proba` is a softmax of the scores with one temperature
   fitted on a held-out fold at training time (a confidence, not a calibrated probability of
   each topic).

An event's topic is the majority of its articles' topics (:func:`majority_topic`). A feed's
own ``category`` is left as it is beside it.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import struct

import numpy as np
import scipy.sparse as sp

from shared.arabic import normalize

__all__ = [
    "TOPICS",
    "DEFAULT_MODEL_PATH",
    "FORMAT",
    "article_text",
    "prepare",
    "words",
    "hashed_counts",
    "tfidf_rows",
    "TopicClassifier",
    "load",
    "majority_topic",
]

#: The six sections of the ANT news corpus, in the order the shipped model stores them.
TOPICS: tuple[str, ...] = (
    "culture", "economy", "internationalNews", "middleEast", "sport", "technology",
)
MODEL_DIR = Path(__file__).resolve().parent / "model"
DEFAULT_MODEL_PATH = MODEL_DIR / "topic-ant.npz"
#: ``format`` of the model file's config; bumped when the feature pipeline changes.
FORMAT = "hadath-topic/1"

# Step 2: [و|ف]?[ب|ك]?ال or [و|ف]?لل at the start of a word, when 3+ word characters follow.
_STEM_RE = re.compile("^(?:[\u0648\u0641]?[\u0628\u0643]?\u0627\u0644|[\u0648\u0641]?\u0644\u0644)(?=\\w{3})")
# Multiplicative hashing (Knuth; 64-bit golden-ratio constant and a second odd constant): a
# word's bucket is the top ``bits`` bits of ``h * _K1``, a pair's of ``((ha * _K2) ^ hb) * _K1``
# (uint64 arithmetic, wrapping), with ``h`` the word's MurmurHash3 (32-bit, seed 0, positive).
_K1 = np.uint64(0x9E3779B97F4A7C15)
_K2 = np.uint64(0xC2B2AE3D27D4EB4F)
_MEMO_MAX = 1 << 20
_memos: dict[bool, dict[str, int]] = {True: {}, False: {}}


def article_text(title: str | None, body: str | None) -> str:
    """The text the classifier reads of an article: ``title + "\\n" + body`` (raw, ``str``)."""
    return f"{title or ''}\n{body or ''}"


@lru_cache(maxsize=1)
def _word_table() -> dict[int, str]:
    """``str.translate`` table of step 1 and the word split: every BMP character through
    :func:`shared.arabic.normalize` (a per-character table), then each character that is not a
    word character (``re``'s ``\\w``: ``str.isalnum()`` or ``_``) turned into a space."""
    table: dict[int, str] = {}
    for cp in range(0x10000):
        c = chr(cp)
        out = "".join(ch if ch.isalnum() or ch == "_" else " " for ch in normalize(c))
        if out != c:
            table[cp] = out
    return table


def prepare(text: str, stem: bool = True) -> str:
    """Steps 1–2 as text: normalized, non-word characters as spaces, words (2+ characters)
    joined by single spaces, light-stemmed when ``stem``. ``str -> str`` (for inspection; the
    classifier hashes :func:`words`)."""
    return " ".join(words(text, stem))


def words(text: str, stem: bool = True) -> list[str]:
    """Steps 1–3: the words of a raw text (runs of 2+ word characters after normalization, the
    same as ``re.findall(r"\\w\\w+", normalize(text))``), light-stemmed when ``stem``."""
    out = [w for w in text.translate(_word_table()).split() if len(w) > 1]
    return [_STEM_RE.sub("", w, count=1) for w in out] if stem else out


_M32 = 0xFFFFFFFF


def murmurhash3_32(key: str, seed: int = 0) -> int:
    """MurmurHash3 (x86, 32-bit; Austin Appleby's public-domain reference) of the UTF-8 bytes of
    ``key``, as an unsigned int in ``[0, 2**32)``: the value of scikit-learn's
    ``sklearn.utils.murmurhash3_32(key, seed, positive=True)`` (tests/unit/test_topic_hash.py
    compares them), without importing scikit-learn (about 100 MB of the extract service's
    memory, and 1.7 s of its start). Slower than the C one, but :func:`_word_hashes` memoises it."""
    data = key.encode("utf-8")
    n = len(data)
    h = seed & _M32
    nblocks = n // 4
    for k in struct.unpack_from(f"<{nblocks}I", data):
        k = (k * 0xCC9E2D51) & _M32
        k = ((k << 15) | (k >> 17)) & _M32
        h ^= (k * 0x1B873593) & _M32
        h = ((h << 13) | (h >> 19)) & _M32
        h = (h * 5 + 0xE6546B64) & _M32
    tail = data[4 * nblocks:]
    if tail:
        k = int.from_bytes(tail, "little")
        k = (k * 0xCC9E2D51) & _M32
        k = ((k << 15) | (k >> 17)) & _M32
        h ^= (k * 0x1B873593) & _M32
    h ^= n
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    return h ^ (h >> 16)


def _word_hashes(text: str, stem: bool) -> list[int]:
    """MurmurHash3 of each (stemmed) word of ``text``, memoised per raw word (bounded)."""
    memo = _memos[stem]
    if len(memo) > _MEMO_MAX:
        memo.clear()
    raw = [w for w in text.translate(_word_table()).split() if len(w) > 1]
    out = []
    for w in raw:
        h = memo.get(w)
        if h is None:
            h = memo[w] = murmurhash3_32(_STEM_RE.sub("", w, count=1) if stem else w)
        out.append(h)
    return out


def hashed_counts(texts: Iterable[str], bits: int, stem: bool = True) -> sp.csr_matrix:
    """Steps 1–4: ``(n, 2**bits)`` float32 CSR matrix, the number of times each bucket's words
    and adjacent word pairs occur in each raw text."""
    lengths, hashes = [], []
    for t in texts:
        h = _word_hashes(t, stem)
        lengths.append(len(h))
        hashes.extend(h)
    n = len(lengths)
    h = np.fromiter(hashes, dtype=np.uint64, count=len(hashes))
    doc = np.repeat(np.arange(n), lengths)
    shift = np.uint64(64 - bits)
    uni = (h * _K1) >> shift
    same = doc[1:] == doc[:-1]
    pair = (((h[:-1][same] * _K2) ^ h[1:][same]) * _K1) >> shift
    rows = np.concatenate([doc, doc[:-1][same]])
    cols = np.concatenate([uni, pair]).astype(np.int64)
    x = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n, 1 << bits))
    x.sum_duplicates()
    return x


class TopicClassifier:
    """A linear topic model over hashed, TF-IDF-weighted word 1–2-grams.

    Arrays (``k`` topics, ``m`` kept buckets of ``n_features = 2**bits``):

    * ``classes``: ``(k,)`` topic names;
    * ``buckets``: ``(m,)`` int32, sorted — the buckets seen in at least ``min_df`` training
      articles;
    * ``idf``: ``(m,)`` float32 — their inverse document frequency
      (``ln((1 + n) / (1 + df)) + 1``, scikit-learn's smooth idf);
    * ``coef``: ``(k, m)`` float32 — weights of the kept buckets; ``intercept``: ``(k,)``;
    * ``temperature``: softmax temperature for :meth:`predict_proba` (a float > 0).
    """

    def __init__(self, classes: Sequence[str], buckets: np.ndarray, idf: np.ndarray,
                 coef: np.ndarray, intercept: np.ndarray, *, bits: int,
                 stem: bool = True, temperature: float = 1.0, meta: dict | None = None) -> None:
        self.classes = [str(c) for c in classes]
        self.bits = int(bits)
        self.stem = bool(stem)
        self.n_features = 1 << self.bits
        self.temperature = float(temperature)
        self.meta = dict(meta or {})
        buckets = np.asarray(buckets, dtype=np.int64)
        k = len(self.classes)
        if coef.shape != (k, len(buckets)) or idf.shape != (len(buckets),) or intercept.shape != (k,):
            raise ValueError(f"inconsistent model arrays: coef {coef.shape}, idf {idf.shape}, "
                             f"intercept {intercept.shape}, {k} classes, {len(buckets)} buckets")
        # Dense per-bucket tables: idf 0 for dropped buckets, weights (n_features, k) for the
        # sparse @ dense product. 2**20 buckets x 6 topics x 4 bytes = 25 MB in memory.
        self._idf = np.zeros(self.n_features, dtype=np.float32)
        self._idf[buckets] = idf
        self._weights = np.zeros((self.n_features, k), dtype=np.float32)
        self._weights[buckets] = np.asarray(coef, dtype=np.float32).T
        self._intercept = np.asarray(intercept, dtype=np.float32)

    # ------------------------------------------------------------------ persistence
    @classmethod
    def load(cls, path: str | Path = DEFAULT_MODEL_PATH) -> TopicClassifier:
        """The classifier in ``path`` (an ``.npz`` written by :meth:`save`), read once per path
        and process (cached), offline, with ``allow_pickle=False``."""
        return _load_cached(str(Path(path).resolve()))

    def save(self, path: str | Path) -> Path:
        """Write the model as a compressed ``.npz`` of plain arrays plus a JSON config (no
        pickle, no text of the training articles: only bucket numbers and weights)."""
        mask = self._idf > 0
        kept = np.flatnonzero(mask)
        config = {**self.meta, "format": FORMAT, "bits": self.bits, "stem": self.stem,
                  "classes": self.classes, "temperature": self.temperature}
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            np.savez_compressed(
                fh, config=np.array(json.dumps(config, ensure_ascii=False)), kept=np.packbits(mask),
                idf=self._idf[kept], coef=self._weights[kept].T.astype(np.float16),
                intercept=self._intercept)
        return path

    @classmethod
    def from_file(cls, path: str | Path) -> TopicClassifier:
        """Read ``path`` without the cache (see :meth:`load`)."""
        with np.load(path, allow_pickle=False) as z:
            config = json.loads(str(z["config"]))
            if config.get("format") != FORMAT:
                raise ValueError(f"{path}: model format {config.get('format')!r}, expected {FORMAT!r}")
            n = 1 << int(config["bits"])
            buckets = np.flatnonzero(np.unpackbits(z["kept"], count=n))
            return cls(config["classes"], buckets, z["idf"].astype(np.float32),
                       z["coef"].astype(np.float32), z["intercept"].astype(np.float32),
                       bits=config["bits"], stem=config.get("stem", True),
                       temperature=config.get("temperature", 1.0),
                       meta=config)

    # ------------------------------------------------------------------ features and scores
    def hashed_counts(self, texts: Iterable[str]) -> sp.csr_matrix:
        """Steps 1–4: ``(n, 2**bits)`` float32 CSR matrix of n-gram counts per bucket."""
        return hashed_counts(texts, self.bits, self.stem)

    def transform(self, texts: Iterable[str]) -> sp.csr_matrix:
        """Steps 1–5: ``(n, 2**bits)`` CSR matrix of unit-length TF-IDF rows."""
        return tfidf_rows(self.hashed_counts(texts), self._idf)

    def decision_function(self, texts: Iterable[str]) -> np.ndarray:
        """``(n, k)`` float32 scores of raw texts (see :func:`article_text`), columns in
        :attr:`classes` order."""
        return np.asarray(self.transform(texts) @ self._weights) + self._intercept

    def predict(self, texts: Iterable[str]) -> list[str]:
        """The topic of each raw text (``title + "\\n" + body``, see :func:`article_text`)."""
        scores = self.decision_function(texts)
        return [self.classes[i] for i in scores.argmax(axis=1)] if len(scores) else []

    def predict_proba(self, texts: Iterable[str]) -> np.ndarray:
        """``(n, k)`` softmax of the scores at the model's temperature; rows sum to 1."""
        s = self.decision_function(texts) / self.temperature
        s -= s.max(axis=1, keepdims=True) if len(s) else 0
        e = np.exp(s)
        return e / e.sum(axis=1, keepdims=True)

    def predict_one(self, title: str | None, body: str | None) -> str:
        """The topic of one article."""
        return self.predict([article_text(title, body)])[0]


def tfidf_rows(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """Step 5 on a count matrix ``(n, n_features)`` with a dense ``(n_features,)`` idf:
    ``(1 + ln count) * idf`` per entry, rows scaled to unit L2 norm (zero rows stay zero).
    Shared by training and run time so the two cannot drift apart."""
    x = counts.tocsr(copy=True).astype(np.float32)
    x.data = (1.0 + np.log(x.data)) * idf[x.indices]
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    x.data /= np.repeat(norms, np.diff(x.indptr)).astype(np.float32)
    x.eliminate_zeros()
    return x


@lru_cache(maxsize=4)
def _load_cached(path: str) -> TopicClassifier:
    return TopicClassifier.from_file(path)


def load(path: str | Path = DEFAULT_MODEL_PATH) -> TopicClassifier:
    """Shorthand for :meth:`TopicClassifier.load`."""
    return TopicClassifier.load(path)


def majority_topic(topics: Iterable[str | None], confidences: Iterable[float] | None = None) -> str | None:
    """An event's topic: the commonest topic of its articles (``None`` for none).

    Ties are broken by the summed ``confidences`` of the tied topics when given (one per
    article, e.g. the top probability of :meth:`TopicClassifier.predict_proba`), then by the
    topic seen first. ``None`` entries (unclassified articles) do not vote.
    """
    topics = list(topics)
    conf = list(confidences) if confidences is not None else [0.0] * len(topics)
    if len(conf) != len(topics):
        raise ValueError("one confidence per topic expected")
    votes: Counter[str] = Counter()
    weight: dict[str, float] = {}
    first: dict[str, int] = {}
    for i, (t, c) in enumerate(zip(topics, conf)):
        if t is None:
            continue
        votes[t] += 1
        weight[t] = weight.get(t, 0.0) + float(c)
        first.setdefault(t, i)
    if not votes:
        return None
    return max(votes, key=lambda t: (votes[t], weight[t], -first[t]))
