"""``CrfRecognizer``: the second offline recognizer, a CRF trained on ANERcorp
(``HADATH_RECOGNIZER=crf``; the default is the BiLSTM-CRF of :mod:`services.extract.ner.neural`).

Text is split into word spans of the original string (punctuation split off, offsets kept),
into sentences, tagged with BIO labels by python-crfsuite, and decoded into
:class:`~shared.schemas.Entity` objects whose ``score`` is the mean marginal probability of the
predicted tags over the entity's tokens. Tags are decoded by :mod:`services.extract.ner.bio`;
``Entity.normalized`` is :func:`shared.arabic.entity_key` of the mention.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pycrfsuite

from services.extract.ner import clusters as clusters_mod
from services.extract.ner import gazetteers as gaz_mod
from services.extract.ner.bio import bio_spans
from services.extract.ner.features import (
    DOC_WINDOW,
    document_contexts,
    gazetteer_matches,
    sentence_features,
    sentence_spans,
    tokenize,
    word_info,
)
from shared.arabic import entity_key
from shared.schemas import ENTITY_LABELS, Entity

MODEL_DIR = Path(__file__).resolve().parent / "model"
DEFAULT_MODEL_PATH = MODEL_DIR / "anercorp-crf.crfsuite"

# documents with more (key, signal) pairs than this get their unknown document signals dropped
# (see CrfRecognizer._known_doc_signals); an ordinary article has a few thousand
_DOC_FILTER_FROM = 5_000


class CrfRecognizer:
    """Recognizer protocol implementation backed by a crfsuite model file.

    Beside the model it reads its feature switches ``<model stem>.json`` (written by training),
    the training lexicon ``<model stem>-lexicon.tsv`` (same folder),
    the gazetteers (``model/gazetteers.tsv``) and the word clusters (``model/clusters.tsv``).
    """

    name = "crf"

    def __init__(self, model_path: Path | str | None = None,
                 gazetteer_path: Path | str | None = None,
                 cluster_path: Path | str | None = None) -> None:
        self.model_path = Path(model_path) if model_path else DEFAULT_MODEL_PATH
        if not self.model_path.exists():
            raise FileNotFoundError(f"CRF model not found: {self.model_path}")
        cfg_path = self.model_path.with_suffix(".json")
        self.config = json.loads(cfg_path.read_text("utf-8")) if cfg_path.exists() else {}
        self._use_doc = bool(self.config.get("doc", False))
        self._tagger = pycrfsuite.Tagger()
        self._tagger.open(str(self.model_path))
        self._gaz, self._gaz_max = ({}, 1) if not self.config.get("gazetteers", True) else gaz_mod.load(
            Path(gazetteer_path) if gazetteer_path else gaz_mod.DEFAULT_GAZETTEER_PATH,
            parts=bool(self.config.get("parts", False)))
        lexicon = self.model_path.with_name(self.model_path.stem + "-lexicon.tsv")
        names, self._token_lex = gaz_mod.load_lexicon(lexicon)
        if names:
            self._gaz, self._gaz_max = gaz_mod.merge(self._gaz, self._gaz_max, names)
        self._clusters = {} if not self.config.get("clusters", True) else clusters_mod.load_clusters(
            Path(cluster_path) if cluster_path else clusters_mod.DEFAULT_CLUSTER_PATH,
            with_vectors=bool(self.config.get("vectors", True)))
        if self.config.get("vectors") and not getattr(self._clusters, "vectors", None):
            raise FileNotFoundError(
                "this CRF model was trained with word vectors but vectors.npy is missing beside "
                f"the cluster file (model: {self.model_path})")
        self._labels = set(self._tagger.labels())
        self._doc_attrs: frozenset[str] | None = None  # see _known_doc_signals

    # ------------------------------------------------------------------ tagging
    def _tag(self, tokens: Sequence[str], marginals: bool = False, doc=None, gz=None):
        if not tokens:
            return [], []
        feats = sentence_features(tokens, self._gaz, self._gaz_max, self._clusters,
                                  self._token_lex, doc, gz)
        self._tagger.set(pycrfsuite.ItemSequence(feats))
        tags = self._tagger.tag()
        probs = [self._tagger.marginal(t, i) for i, t in enumerate(tags)] if marginals else []
        return tags, probs

    def tag_tokens(self, sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        """BIO tags of already tokenised sentences of a corpus without document boundaries (used
        by evaluation): document clues come from the neighbouring sentences, as in training."""
        docs = (document_contexts(sentences, self._gaz, self._gaz_max, window=DOC_WINDOW)
                if self._use_doc else [None] * len(sentences))
        return [self._tag(list(s), doc=d)[0] for s, d in zip(sentences, docs, strict=True)]

    # ------------------------------------------------------------------ protocol
    def recognize(self, text: str) -> list[Entity]:
        """Entities of one text, in order of ``start``."""
        entities: list[Entity] = []
        sents = sentence_spans(text, tokenize(text))
        token_lists = [[text[s:e] for s, e in sent] for sent in sents]
        gzs = [gazetteer_matches([word_info(t)[0] for t in toks], self._gaz, self._gaz_max)
               for toks in token_lists]
        docs = (document_contexts(token_lists, self._gaz, self._gaz_max, window=None, gzs=gzs)
                if self._use_doc else [None] * len(sents))
        if docs and docs[0] is not None and sum(map(len, docs[0].values())) > _DOC_FILTER_FROM:
            docs = [self._known_doc_signals(docs[0])] * len(docs)
        for sent, tokens, doc, gz in zip(sents, token_lists, docs, gzs, strict=True):
            tags, probs = self._tag(tokens, marginals=True, doc=doc, gz=gz)
            for a, b, label in bio_spans(tags):
                if label not in ENTITY_LABELS:
                    continue
                start, end = sent[a][0], sent[b - 1][1]
                mention = text[start:end]
                entities.append(Entity(
                    text=mention, label=label, start=start, end=end,
                    normalized=entity_key(mention),
                    score=round(sum(probs[a:b]) / (b - a), 4),
                ))
        return entities

    def _known_doc_signals(self, doc: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
        """``doc`` (one document's :func:`document_contexts`) without the signals whose ``d:``
        feature the model does not have: crfsuite ignores unknown attributes, so the tags and
        scores are the same, but a word repeated throughout a long text no longer brings every
        other mention's neighbours into each of its feature dicts (quadratic: 4,000 mentions of
        one word took 13 s). The model's attribute list is read on first use (about 1 s)."""
        if self._doc_attrs is None:
            self._doc_attrs = frozenset(a[2:] for a, _ in self._tagger.info().state_features
                                        if a.startswith("d:"))
        known = self._doc_attrs
        return {k: {sg: c for sg, c in sigs.items() if sg in known} for k, sigs in doc.items()}

    def recognize_batch(self, texts: Sequence[str]) -> list[list[Entity]]:
        """Entities of each text (same length and order as ``texts``)."""
        return [self.recognize(t or "") for t in texts]
