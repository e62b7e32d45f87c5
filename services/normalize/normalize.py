"""Pure logic of the normalize stage: an ingested story → its normalized forms.

The original ``body`` is never changed (every offset later stages produce points into it);
``normalized_title`` and ``normalized_body`` come from the project's one normalization table
(:mod:`shared.arabic`), and ``signature`` is the near-duplicate MinHash signature. Nothing
else is added: a message carries only what a later stage reads, so a story's normalized
message stays about twice its body (see :mod:`shared.limits`). Extract tokenizes the original
text itself and maps its spans back with :func:`shared.arabic.normalize_with_offsets`.
"""

from __future__ import annotations

from shared.arabic import normalize
from shared.neardup import signature
from shared.schemas import IngestedArticle, NormalizedArticle


def normalize_article(article: IngestedArticle) -> NormalizedArticle:
    """Add ``normalized_title``, ``normalized_body`` and ``signature`` to ``article``."""
    return NormalizedArticle(
        **article.model_dump(),
        normalized_title=normalize(article.title or ""),
        normalized_body=normalize(article.body),
        signature=signature(article.body),
    )
