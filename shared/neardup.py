"""Near-duplicate detection: MinHash signatures, LSH band keys, and choosing the original.

The same story republished with small edits (sentences reordered, another byline, other
punctuation, "اقرأ أيضاً" lines added, another title, one sentence added or dropped) gets
``duplicate_of`` = the ``article_id`` of the first copy seen; distinct stories never do.
Everything here is pure (no Elasticsearch, no Kafka); services are stateless, state lives in
the index.

Sources
-------
* A. Z. Broder, "On the resemblance and containment of documents", Compression and
  Complexity of Sequences 1997: resemblance = Jaccard similarity of the sets of word
  shingles (``SHINGLE_WORDS`` consecutive words); the fraction of equal MinHash values of two
  sets is an unbiased estimator of it (standard error ``sqrt(J(1-J)/NUM_PERM)``).
  Implementation: ``datasketch.MinHash`` (scheme ``affine32``, seed ``SEED``, SHA-1 of each
  shingle's UTF-8 bytes), so the values are the same in every process and on every machine.
* J. Leskovec, A. Rajaraman, J. D. Ullman, *Mining of Massive Datasets*, ch. 3 (3.4
  "Locality-Sensitive Hashing for Documents"): the signature is cut into ``BANDS`` bands of
  ``ROWS`` values; two documents are candidates when at least one band is identical, which
  happens with probability ``1 - (1 - J**ROWS)**BANDS`` (the S-curve). With 32 × 4 that is
  0.988 at J = 0.6 (``THRESHOLD``), 0.9998 at 0.7, 0.873 at 0.5, 0.0032 at 0.1 and 0.0002 at
  0.05 (unrelated news pairs sit below 0.05: few candidates per lookup); the S-curve threshold
  ``(1/BANDS)**(1/ROWS)`` is about 0.42. Candidates are then checked with the full
  signature (:func:`is_duplicate`).

Duplicate rule
--------------
``similarity(new, old) >= THRESHOLD`` (estimated Jaccard of the shingle sets) AND at most
``MAX_NEW_SHINGLES`` shingles of the new text missing from the old (estimated from the set
sizes stored in the signatures). The second condition separates a republication with small
edits from a follow-up story that puts a new lead paragraph on top of an earlier story
reprinted whole (common in live coverage), which has a high Jaccard similarity too.

Parameters (measured with ``bench/bench_neardup.py`` on 2,000 real articles + 300 edited
copies, 60 of each edit kind; see that file): recall 0.987, 0 false duplicates among the
originals (the one pair flagged is the same story, same body, two outlets), lowest similarity
between two distinct originals 0.40; on 20,000 articles the pairs flagged are mostly the same
wire story under two outlets, plus some follow-ups that reprint most of an earlier story.

Pipeline
--------
* normalize stage: ``signature(body)`` → ``NormalizedArticle.signature``. The body only: a
  different title must not hide a duplicate.
* index stage: stores ``band_keys(sig)`` in the document (keyword array, e.g.
  ``"b03:9f2c41d07a5be611"``) and ``sig`` itself (keyword, not indexed: ``"index": false,
  "doc_values": false``). Before writing a batch it fetches the documents sharing any band key
  of the batch (one ``terms`` query on the band-key field, returning ``article_id``,
  signature, ``ingested_at`` and ``duplicate_of``), then :class:`BatchDeduper` assigns
  ``duplicate_of`` to every document of the batch, catching duplicates inside the batch too.

Text → shingles
---------------
``normalize(text)`` (:mod:`shared.arabic`: alef/hamza/yeh/teh-marbuta folds, diacritics and
tatweel removed, Arabic digits → ASCII, Latin lowercased), then the word tokens of
:func:`shared.arabic.tokenize_spans` (letters and digits; punctuation and symbols dropped),
then the SET of ``SHINGLE_WORDS``-word windows (joined by one space) taken WITHIN sentences
(split at ``. ! ? …`` and newlines of the normalized text; a sentence of at most
``SHINGLE_WORDS`` words is one shingle). Shingles not crossing sentence ends make reordered
sentences (and paragraphs) cost nothing; changed punctuation costs at most
``SHINGLE_WORDS - 1`` shingles per sentence end added or removed.

Signature strings (ASCII, compact)
----------------------------------
* ``"m" + base64(1 + NUM_PERM little-endian uint32)`` — the number of distinct shingles, then
  the MinHash values (``SIG_CHARS`` = 689 characters for 128 values), when the text has at
  least ``MIN_SHINGLES`` distinct shingles.
* ``"x" + 32 hex digits`` — a short text (fewer than ``MIN_SHINGLES`` shingles, at least one
  word): BLAKE2b-128 of its normalized word sequence. Short texts are duplicates only when
  their words are exactly equal (punctuation, diacritics and spacing aside): a few words
  changed in a short text is a different text, and MinHash over a handful of shingles is too
  coarse to say otherwise.
* ``""`` — no word at all (empty, only punctuation or symbols): never a duplicate, no band
  keys.

Determinism rests on datasketch >= 2.0 (``scheme="affine32"`` is passed explicitly; 1.x has
no such scheme and gives other values). Changing ``NUM_PERM``/``BANDS``/``ROWS``/
``SHINGLE_WORDS``/``SEED`` or the sentence split makes new signatures and
keys incomparable with stored ones (:func:`similarity` returns 0.0 for signatures of
different lengths): re-index, or accept that old stories are not found as originals.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from functools import lru_cache

import numpy as np

from shared.arabic import normalize, tokenize_spans

__all__ = [
    "NUM_PERM",
    "BANDS",
    "ROWS",
    "SHINGLE_WORDS",
    "THRESHOLD",
    "MIN_SHINGLES",
    "MAX_NEW_SHINGLES",
    "SEED",
    "SIG_CHARS",
    "words",
    "shingles",
    "signature",
    "band_keys",
    "similarity",
    "new_shingles",
    "is_duplicate",
    "choose_original",
    "BatchDeduper",
]

#: MinHash values per signature (permutations). Standard error of the Jaccard estimate at
#: J = 0.5 is sqrt(0.25/128) ≈ 0.044.
NUM_PERM = 128
#: LSH bands (band keys stored per document) and values per band; BANDS * ROWS == NUM_PERM.
BANDS = 32
ROWS = 4
#: Words per shingle.
SHINGLE_WORDS = 3
#: Estimated Jaccard similarity (of the shingle sets) from which a candidate is an original.
THRESHOLD = 0.6
#: A duplicate may bring at most this many shingles the original lacks (estimated).
MAX_NEW_SHINGLES = 50
#: Below this many distinct shingles a text is compared by exact word equality only.
MIN_SHINGLES = 8
#: Seed of the MinHash permutations (datasketch ``MinHash(seed=...)``).
SEED = 1
#: Length of a MinHash signature string: "m" + base64 of NUM_PERM * 4 bytes.
SIG_CHARS = 1 + 4 * (((NUM_PERM + 1) * 4 + 2) // 3)

assert BANDS * ROWS == NUM_PERM

_SCHEME = "affine32"  # pinned: datasketch's default may change; values must not
_DTYPE = np.dtype("<u4")
_EMPTY: np.ndarray = np.zeros(0, dtype=_DTYPE)
# Sentence ends in normalized text (normalize maps ؟ → ?, ۔ → .).
_SENT_SPLIT_RE = re.compile(r"[.!?\u2026\n]+")


@lru_cache(maxsize=1)
def _minhash_factory():
    """A function making empty MinHash objects that share one set of permutations.

    datasketch (about 0.5 s of imports) and the permutations are loaded on the first signature,
    not on import: the index stage and the index template only compare and band signatures."""
    from datasketch import MinHash

    permutations = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=_SCHEME).permutations
    return lambda: MinHash(num_perm=NUM_PERM, seed=SEED, scheme=_SCHEME, permutations=permutations)


def words(text: str) -> list[str]:
    """Normalized word tokens of ``text`` (punctuation and whitespace dropped)."""
    norm = normalize(text)
    return [norm[s:e] for s, e in tokenize_spans(norm)]


def _sentence_words(text: str) -> list[list[str]]:
    """Normalized words of each sentence (split at ``. ! ? …`` and newlines), empty ones dropped."""
    out = []
    for part in _SENT_SPLIT_RE.split(normalize(text)):
        w = [part[s:e] for s, e in tokenize_spans(part)]
        if w:
            out.append(w)
    return out


def _shingle_set(sents: list[list[str]]) -> set[str]:
    k = SHINGLE_WORDS
    out: set[str] = set()
    for w in sents:
        if len(w) <= k:
            out.add(" ".join(w))
        else:
            out.update(" ".join(w[i:i + k]) for i in range(len(w) - k + 1))
    return out


def shingles(text: str) -> set[str]:
    """The set of ``SHINGLE_WORDS``-word shingles of ``text`` (words joined by one space),
    taken within sentences; a sentence of at most ``SHINGLE_WORDS`` words is one shingle, an
    empty text has none.
    """
    return _shingle_set(_sentence_words(text))


def signature(text: str) -> str:
    """Near-duplicate signature of ``text`` (a story body): ``str -> str``, ASCII.

    ``"m…"`` MinHash (base64 of ``NUM_PERM`` uint32, little-endian), ``"x…"`` exact hash of
    a short text's words, ``""`` for a text without words (see the module docstring).
    Deterministic across processes and machines (fixed seed, SHA-1 shingle hashing).
    """
    sents = _sentence_words(text)
    if not sents:
        return ""
    sh = _shingle_set(sents)
    if len(sh) < MIN_SHINGLES:
        flat = " ".join(" ".join(w) for w in sents)
        digest = hashlib.blake2b(flat.encode("utf-8"), digest_size=16).hexdigest()
        return "x" + digest
    m = _minhash_factory()()
    m.update_batch([s.encode("utf-8") for s in sh])
    blob = np.concatenate([np.array([min(len(sh), 0xFFFFFFFF)], dtype=_DTYPE),
                           m.hashvalues.astype(_DTYPE)])
    return "m" + base64.b64encode(blob.tobytes()).decode("ascii")


def _decode(sig: str) -> tuple[int, np.ndarray]:
    """``(shingle count, MinHash values)`` of an ``"m…"`` signature; ``(0, [])`` otherwise."""
    if not sig.startswith("m"):
        return 0, _EMPTY
    try:
        raw = base64.b64decode(sig[1:], validate=True)
    except ValueError:
        return 0, _EMPTY
    if len(raw) != 4 * (NUM_PERM + 1):
        return 0, _EMPTY
    arr = np.frombuffer(raw, dtype=_DTYPE)
    return int(arr[0]), arr[1:]


def _values(sig: str) -> np.ndarray:
    """The MinHash values of an ``"m…"`` signature (empty array for anything else)."""
    return _decode(sig)[1]


def band_keys(sig: str) -> list[str]:
    """LSH band keys of a signature: ``str -> list[str]`` (keywords to store and query).

    MinHash signature: ``BANDS`` keys ``"bNN:<16 hex>"`` (band number, then BLAKE2b-64 of the
    band's ``ROWS`` values) — two documents share a key when one band is identical.
    Short-text signature: one key ``"x:<32 hex>"`` (exact words). Empty signature: ``[]``.
    """
    if sig.startswith("x"):
        return ["x:" + sig[1:]]
    vals = _values(sig)
    if len(vals) != NUM_PERM:
        return []
    raw = vals.tobytes()
    step = ROWS * 4
    return [
        f"b{b:02d}:" + hashlib.blake2b(raw[b * step:(b + 1) * step], digest_size=8).hexdigest()
        for b in range(BANDS)
    ]


def _similarity_values(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) != NUM_PERM or len(b) != NUM_PERM:
        return 0.0
    return float(np.count_nonzero(a == b)) / NUM_PERM


def similarity(sig_a: str, sig_b: str) -> float:
    """Estimated Jaccard similarity of the shingle sets, in [0, 1]: ``(str, str) -> float``.

    Two MinHash signatures: the fraction of equal values. Two short-text signatures: 1.0 if
    equal else 0.0. Empty, malformed, or mixed kinds (a short text against a long one): 0.0.
    """
    if not sig_a or not sig_b:
        return 0.0
    if sig_a[0] == "x" or sig_b[0] == "x":
        return 1.0 if sig_a == sig_b else 0.0
    return _similarity_values(_values(sig_a), _values(sig_b))


def new_shingles(sig_new: str, sig_old: str) -> float:
    """Estimated number of shingles of the new text that the old one lacks (``|A \\ B|``).

    From the Jaccard estimate ``J`` and the set sizes stored in the signatures:
    ``|A ∩ B| = J (|A| + |B|) / (1 + J)``, so ``|A \\ B| = |A| - |A ∩ B|`` (at least 0).
    Short-text signatures: 0.0 when equal, else their word count is unknown: ``inf``.
    """
    if sig_new.startswith("x") or sig_old.startswith("x"):
        return 0.0 if sig_new == sig_old else float("inf")
    n_a, va = _decode(sig_new)
    n_b, vb = _decode(sig_old)
    if len(va) != NUM_PERM or len(vb) != NUM_PERM:
        return float("inf")
    j = _similarity_values(va, vb)
    return max(0.0, n_a - j * (n_a + n_b) / (1.0 + j))


def is_duplicate(sig_new: str, sig_old: str) -> bool:
    """``similarity >= THRESHOLD`` and at most ``MAX_NEW_SHINGLES`` new shingles in the new text.

    The second condition keeps follow-up stories apart: a new lead paragraph put on top of an
    earlier story reprinted whole has a high Jaccard similarity but brings more new text than
    any of the small edits (a byline, "read also" lines, one sentence).
    """
    return similarity(sig_new, sig_old) >= THRESHOLD and (
        new_shingles(sig_new, sig_old) <= MAX_NEW_SHINGLES)


def choose_original(
    sig: str,
    candidates: Sequence[tuple[str, str, str]],
    *,
    self_id: str | None = None,
    before: str | None = None,
) -> str | None:
    """The ``article_id`` of the earliest candidate the story duplicates, or None.

    "Duplicates" is :func:`is_duplicate` (``similarity >= THRESHOLD`` and at most
    ``MAX_NEW_SHINGLES`` new shingles).

    ``candidates`` are ``(article_id, signature, seen_key)``; ``seen_key`` sorts by when the
    story was first seen (ISO 8601 UTC ``ingested_at`` + ``article_id``, e.g.
    ``"2024-01-04T09:30:00.000000+00:00|3f9a…"``). Ties cannot happen when the id is part of it.

    * ``self_id``: that id is skipped (a replayed story finds its own document in the index).
    * ``before``: when given, only candidates with ``seen_key < before`` count (the story's own
      seen_key), so a story never points at a later one.

    The returned candidate may itself be a duplicate: the CALLER resolves chains (use its
    ``duplicate_of`` when set, so every duplicate points at the first story of the group).
    :class:`BatchDeduper` does this.
    """
    best: tuple[str, str] | None = None
    if not sig:
        return None
    for art_id, cand_sig, seen_key in candidates:
        if art_id == self_id or (before is not None and seen_key >= before):
            continue
        if best is not None and seen_key >= best[0]:
            continue
        if is_duplicate(sig, cand_sig):
            best = (seen_key, art_id)
    return best[1] if best else None


class BatchDeduper:
    """``duplicate_of`` for one batch of documents, given the candidates fetched from the index.

    ``candidates``: ``(article_id, signature, seen_key)`` of indexed documents sharing a band key
    with the batch; ``duplicate_of``: their ``duplicate_of`` values (``article_id -> id``; ids
    missing or None are originals) so chains resolve to the first story.

    :meth:`assign` takes the batch's ``(article_id, signature, seen_key)`` and returns
    ``{article_id: duplicate_of or None}``. Documents are processed in ``seen_key`` order, and
    each one becomes a candidate for the later ones (duplicates within the batch). A candidate
    whose chain leads back to the document itself is ignored (no cycles on replays).
    """

    def __init__(
        self,
        candidates: Iterable[tuple[str, str, str]] = (),
        duplicate_of: Mapping[str, str | None] | None = None,
    ) -> None:
        self._docs: dict[str, tuple[str, str]] = {}            # id -> (signature, seen_key)
        self._parent: dict[str, str] = {}                       # id -> duplicate_of
        self._by_key: dict[str, set[str]] = defaultdict(set)    # band key -> ids
        for art_id, sig, seen_key in candidates:
            parent = (duplicate_of or {}).get(art_id)
            self._add(art_id, sig, seen_key, parent)

    def _add(self, art_id: str, sig: str, seen_key: str, parent: str | None) -> None:
        self._docs[art_id] = (sig, seen_key)
        if parent and parent != art_id:
            self._parent[art_id] = parent
        else:
            self._parent.pop(art_id, None)
        for key in band_keys(sig):
            self._by_key[key].add(art_id)

    def _root(self, art_id: str) -> str:
        seen = {art_id}
        while art_id in self._parent:
            art_id = self._parent[art_id]
            if art_id in seen:  # defensive: a cycle stored earlier
                break
            seen.add(art_id)
        return art_id

    def find(self, art_id: str, sig: str, seen_key: str) -> str | None:
        """The resolved original of one document, or None (does not add it)."""
        ids: set[str] = set()
        for key in band_keys(sig):
            ids |= self._by_key.get(key, set())
        ids.discard(art_id)
        cands = [
            (cid, *self._docs[cid]) for cid in ids if self._root(cid) != art_id
        ]
        chosen = choose_original(sig, cands, self_id=art_id, before=seen_key)
        return self._root(chosen) if chosen is not None else None

    def assign(self, docs: Iterable[tuple[str, str, str]]) -> dict[str, str | None]:
        """``{article_id: duplicate_of or None}`` for the batch (see the class docstring)."""
        out: dict[str, str | None] = {}
        for art_id, sig, seen_key in sorted(docs, key=lambda d: d[2]):
            dup = self.find(art_id, sig, seen_key)
            out[art_id] = dup
            self._add(art_id, sig, seen_key, dup)
        return out
