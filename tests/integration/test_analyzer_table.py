"""The Elasticsearch char filter and the Python normalizer agree on every character of the one
normalization table (the index's ``hadath_fold`` filter is generated from it)."""

from __future__ import annotations

from shared.arabic import NORMALIZATION_TABLE, normalize
from shared.es import client, ensure_index, index_name
from hadath.sandbox import isolated_settings


def test_every_table_character_folds_the_same_in_elasticsearch(infrastructure):
    settings = isolated_settings()
    es = client(settings)
    index = ensure_index(es, settings)
    try:
        chars = sorted(NORMALIZATION_TABLE)
        texts = [f"ب{c}ب" for c in chars]
        mismatches = []
        for i in range(0, len(texts), 200):
            chunk = texts[i:i + 200]
            got = es.indices.analyze(index=index, char_filter=["hadath_fold"], tokenizer="keyword", text=chunk)
            # keyword tokenizer: one token per text; tokens come back in order, with positions
            # counting on across texts (position_increment_gap), so read them in order
            tokens = [t["token"] for t in got["tokens"]]
            assert len(tokens) == len(chunk)
            for text, token in zip(chunk, tokens):
                if token != normalize(text):
                    mismatches.append((f"U+{ord(text[1]):04X}", token, normalize(text)))
        assert not mismatches, mismatches[:20]
        assert len(chars) > 1000
    finally:
        es.options(ignore_status=404).indices.delete(index=index_name(settings))
        es.options(ignore_status=404).indices.delete_index_template(name=settings.index_alias)
