"""``NeuralRecognizer``, the default recognizer (``HADATH_RECOGNIZER=bilstm``): a BiLSTM-CRF
tagger with character CNN, word2vec embeddings and the gazetteer / cue / cluster / document
clues, run with **numpy only** (no torch at run time), and its post-processing.

The network is trained with torch by :mod:`services.extract.ner.training.neural_train` and
exported to ``model/anercorp-bilstm.npz``. At run time:

* :mod:`services.extract.ner.neural_features` turns the tokens of each sentence into arrays
  (what training reads); the recognizer makes the same arrays for a whole batch of articles at
  once with :mod:`services.extract.ner.neural_packed` (numpy over the batch, no per-token
  Python but the gazetteer search);
* :mod:`services.extract.ner.neural_net` runs the network (:class:`BiLstmCrf`, or
  :class:`EnsembleNet` for a file of several networks): Viterbi decoding gives the tags,
  forward-backward marginals each entity's ``score``;
* post-processing here: document consistency (:func:`propagate_labels`: a name tagged somewhere
  in the article is tagged with its majority label where it recurs untagged) and the nisba rule
  (:func:`extend_nisba`: a person's name goes on through a following ``ال…ي`` word);
* tags are decoded by :mod:`services.extract.ner.bio`; ``Entity.normalized`` is
  :func:`shared.arabic.entity_key` of the mention.

A model file may hold several networks trained with different seeds (``neural_train merge``):
their emissions and transitions are averaged (+0.9 F1 on a held-out train fold, but about half
the speed, so the shipped file holds one network). See ``model/MODEL_CARD.md``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from functools import lru_cache
from pathlib import Path

import numpy as np

from services.extract.ner import charlm as charlm_mod
from services.extract.ner import clusters as clusters_mod
from services.extract.ner import gazetteers as gaz_mod
from services.extract.ner.bio import bio_spans
from services.extract.ner.features import DOC_WINDOW, sentence_tokens, word_forms
from services.extract.ner.neural_features import Featurizer, doc_clues, pack_batch
from services.extract.ner.neural_net import BiLstmCrf, EnsembleNet
from services.extract.ner.neural_packed import length_groups, pack_documents
from shared.arabic import entity_key
from shared.schemas import ENTITY_LABELS, Entity

MODEL_DIR = Path(__file__).resolve().parent / "model"
DEFAULT_NEURAL_PATH = MODEL_DIR / "anercorp-bilstm.npz"


# --------------------------------------------------------------------------- recognizer

@lru_cache(maxsize=1)
def _blas_controller():
    """The process's ``threadpoolctl.ThreadpoolController`` (None when threadpoolctl is missing)."""
    try:
        from threadpoolctl import ThreadpoolController

        return ThreadpoolController()
    except Exception:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return None


class NeuralRecognizer:
    """Recognizer protocol implementation backed by ``anercorp-bilstm.npz`` (numpy inference)."""

    name = "bilstm"

    def __init__(self, model_path: Path | str | None = None, batch_tokens: int = 6000,
                 propagate: bool = True, nisba: bool = True, pack_tokens: int = 32_768) -> None:
        self.model_path = Path(model_path) if model_path else DEFAULT_NEURAL_PATH
        if not self.model_path.exists():
            raise FileNotFoundError(f"neural NER model not found: {self.model_path}")
        with np.load(self.model_path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            params = {k: z[k] for k in z.files
                      if k not in ("meta", "words", "chars", "flags") and ":" not in k
                      and not k.startswith("lm_")}
            # character language models (contextual string embeddings, Akbik et al. 2018)
            self.charlm = charlm_mod.load_prefixed(z)
            if self.charlm is not None:
                params["lm_width"] = np.array(self.charlm.dim)
            members = [params]
            for m in range(1, int(meta.get("members", 1))):  # ensemble: "m1:conv_w", ...
                members.append({**params, **{k.split(":", 1)[1]: z[k] for k in z.files
                                             if k.startswith(f"m{m}:")}})
            words, chars, flags = list(z["words"]), list(z["chars"]), list(z["flags"])
        self.meta = meta
        self.tags: list[str] = meta["tags"]
        self.net = BiLstmCrf(members[0]) if len(members) == 1 else EnsembleNet(members)
        gaz, gmax = gaz_mod.load(parts=bool(meta.get("parts", True)))
        if meta.get("mined"):  # names mined from the news corpus (training.mining), source "mn"
            gaz, gmax = gaz_mod.with_mined(gaz, gmax)
        cl = clusters_mod.load_clusters(with_vectors=False)
        self.feat = Featurizer(words, chars, flags, gaz, gmax, cl)
        self._use_doc = bool(meta.get("doc", True))
        # document consistency post-processing (chosen on held-out train fold 5: +1.6 F1)
        self.propagate = propagate
        # a person's name goes on through a following nisba (... السوداني): see extend_nisba
        self.nisba = nisba
        self.batch_tokens = batch_tokens  # kept for callers; the packed network needs no padding
        self.pack_tokens = pack_tokens
        self._tag_index = {t: i for i, t in enumerate(self.tags)}

    # ------------------------------------------------------------------ tagging
    def _run(self, items: Sequence[dict], marginals: bool) -> tuple[list[list[int]], list]:
        """Tag ids of each featurised sentence and (with ``marginals``) its ``(n, K)`` float32
        marginals. All the sentences go through the network together (:func:`pack_batch`, no
        padding), in groups of at most :attr:`pack_tokens` tokens (longest sentences first) to
        bound the memory (about 4 KB per token)."""
        groups = ((g, pack_batch([items[i] for i in g]))
                  for g in length_groups([len(x["w"]) for x in items], self.pack_tokens))
        return self._run_packed(groups, len(items), marginals, [x["key"] for x in items])

    def _run_packed(self, groups: Iterable[tuple[list[int], dict]], n: int, marginals: bool,
                    norms: Sequence[Sequence[str]] | None = None) -> tuple[list[list[int]], list]:
        """:meth:`_run` of packed groups ``(sentence numbers, pack_batch dict)`` of ``n``
        sentences (:func:`pack_documents` makes them for whole articles).

        BLAS runs on one thread here: the matrices are small and multi-threaded OpenBLAS made
        the benchmark ~40 % slower on the shared 2-core machine. A network that reads
        character-LM features gets them here for each group at once (``norms``: the normalised
        tokens of each of the ``n`` sentences; :meth:`CharLM.embed` over the group's sentences,
        one matrix product per direction and character step for the whole group)."""
        paths: list = [None] * n
        probs: list = [None] * n
        ctl = _blas_controller()
        with ctl.limit(limits=1, user_api="blas") if ctl is not None else nullcontext():
            for group, batch in groups:
                if self.charlm is not None:
                    batch["lm"] = np.concatenate(self.charlm.embed(
                        [norms[group[g]] for g in batch["order"].tolist()]))
                ps, mg = self.net.packed_decode(self.net.packed_emissions(batch), batch["lengths"], marginals)
                for b, g in enumerate(batch["order"]):
                    i = group[g]
                    paths[i] = ps[b]
                    if marginals:
                        probs[i] = mg[b]
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
                      window: int | None, norms: Sequence[Sequence[str]] | None = None) -> list[list[str]]:
        """Tags of one document after document propagation and the nisba rule (as switched on).
        ``norms``: the sentences' normalised tokens (``word_forms(t)[0]``) when already known."""
        if norms is None:
            norms = [[word_forms(t)[0] for t in s] for s in sentences]
        if self.propagate:
            tags = propagate_labels(sentences, tags, window=window, norms=norms)
        if self.nisba:
            tags = [extend_nisba(s, t, n) for s, t, n in zip(sentences, tags, norms, strict=True)]
        return tags

    def recognize_batch(self, texts: Sequence[str]) -> list[list[Entity]]:
        """Entities of each text (same length and order as ``texts``), in order of ``start``."""
        texts = [t or "" for t in texts]
        sent_meta: list[tuple[int, list[tuple[int, int]], list[str]]] = []  # text, spans, tokens
        docs: list[list[list[str]]] = []
        for ti, text in enumerate(texts):
            sents, token_lists = sentence_tokens(text)
            docs.append(token_lists)
            sent_meta += [(ti, sent, toks) for sent, toks in zip(sents, token_lists, strict=True)]
        out: list[list[Entity]] = [[] for _ in texts]
        if not sent_meta:
            return out
        # the whole batch featurised at once (neural_packed: the arrays pack_batch would give)
        groups, norms = pack_documents(self.feat, docs, self._use_doc, self.pack_tokens)
        paths, probs = self._run_packed(groups, len(sent_meta), marginals=True, norms=norms)
        tags = [[self.tags[t] for t in path] for path in paths]
        k = 0
        while k < len(sent_meta):  # per text: the article is the document
            j = k
            while j < len(sent_meta) and sent_meta[j][0] == sent_meta[k][0]:
                j += 1
            tags[k:j] = self._post_process([m[2] for m in sent_meta[k:j]], tags[k:j], window=None,
                                           norms=norms[k:j])
            k = j
        ti_ = self._tag_index
        for (ti, sent, _), st, pr in zip(sent_meta, tags, probs, strict=True):
            text = texts[ti]
            for a, b, label in bio_spans(st):
                if label not in ENTITY_LABELS:
                    continue
                start, end = sent[a][0], sent[b - 1][1]
                mention = text[start:end]
                # float32 mean of the marginals of the span's tags (as np.mean of the list did)
                score = float(pr[np.arange(a, b), [ti_[x] for x in st[a:b]]].mean())
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
                     window: int | None = DOC_WINDOW, min_votes: int = 1,
                     norms: Sequence[Sequence[str]] | None = None) -> list[list[str]]:
    """Document consistency: a name tagged as an entity somewhere in the document is tagged with
    its majority label where it recurs untagged (whole-token match, proclitics of the first token
    ignored). ``window``: sentences either side (None: the whole list is one document);
    ``norms``: the sentences' normalised tokens (``word_forms(t)[0]``) when already known."""
    from collections import Counter

    def key_of(norms: Sequence[str]) -> tuple[str, ...]:
        return (word_forms(norms[0])[1], *norms[1:]) if norms else ()

    if norms is None:
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

    def lengths_and_firsts(votes: dict[tuple[str, ...], Counter]) -> tuple[list[int], set[str]]:
        return sorted({len(k) for k in votes}, reverse=True), {k[0] for k in votes}

    # the whole document's votes and what is derived from them are made once, not once per
    # sentence (that was quadratic in the number of distinct names: 8,000 took 4 s)
    whole = collect(0, n) if window is None else None
    whole_index = lengths_and_firsts(whole) if whole else None
    for i in range(n):
        if whole is not None:
            votes = whole
        else:
            votes = collect(max(0, i - window), min(n, i + window + 1))
        if not votes:
            continue
        by_len, firsts = whole_index if whole is not None else lengths_and_firsts(votes)
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


def extend_nisba(tokens: Sequence[str], tags: Sequence[str], norms: Sequence[str] | None = None) -> list[str]:
    """A PERS span directly followed by an untagged nisba word (``ال…ي``) takes it in as its last
    token: "محمد شياع" + "السوداني". Measured on the gold annotation of the TRAIN split: after a
    PERS token such a word (relative pronouns الذي/التي… aside) is part of the name 159 times of
    176 (90 %); the networks stop early mostly where the nisba is also a nationality adjective.
    Returns new tags (the input is not changed). ``norms``: ``word_forms(t)[0]`` of the tokens
    when already known."""
    out = list(tags)
    if norms is None:
        norms = [word_forms(t)[0] for t in tokens]
    for i in range(1, len(out)):
        if out[i] == "O" and out[i - 1].endswith("-PERS") and _is_nisba(norms[i]):
            out[i] = "I-PERS"
    return out
