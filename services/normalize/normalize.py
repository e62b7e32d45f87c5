"""Pure logic of the normalize stage: an ingested story → its normalized forms, offsets kept.

The original ``body`` is never changed; ``normalized_body`` comes from the project's one
normalization table (:mod:`shared.arabic`), and ``body_offsets`` maps every normalized
character back to the original, so entity offsets found on either text point at the original.
"""

from __future__ import annotations

from shared.neardup import signature
from shared.arabic import normalize, normalize_with_offsets, sentence_spans, tokenize_spans
from shared.schemas import IngestedArticle, NormalizedArticle, Span


def normalize_article(article: IngestedArticle) -> NormalizedArticle:
    """Add ``normalized_title``, ``normalized_body``, ``body_offsets``, sentence and token spans.

    Shapes: ``len(body_offsets) == len(normalized_body) + 1``; spans index ``article.body``.
    """
    normalized_body, offsets = normalize_with_offsets(article.body)
    return NormalizedArticle(
        **article.model_dump(),
        normalized_title=normalize(article.title or ""),
        normalized_body=normalized_body,
        body_offsets=offsets,
        sentences=[Span(start=s, end=e) for s, e in sentence_spans(article.body)],
        tokens=[Span(start=s, end=e) for s, e in tokenize_spans(article.body)],
        signature=signature(article.body),
    )
