"""The recognizer's batch featurisation (``neural_packed.pack_documents``) gives exactly the arrays
of the per-sentence path (``Featurizer.sentence`` + ``doc_clues`` + ``pack_batch``), which is
what training reads; and the one-pass tokenizer gives what ``sentence_spans(tokenize(...))`` does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from services.extract.ner.features import gazetteer_matches, sentence_spans, sentence_tokens, tokenize
from services.extract.ner.neural import DEFAULT_NEURAL_PATH, NeuralRecognizer
from services.extract.ner.neural_features import doc_clues, pack_batch
from services.extract.ner.neural_packed import length_groups, pack_documents

SAMPLES = Path(__file__).resolve().parents[2] / "hadath" / "samples" / "articles.jsonl"
shipped = pytest.mark.skipif(not DEFAULT_NEURAL_PATH.exists(), reason="BiLSTM model not shipped")

TRICKY = [
    "",
    "كلمة",
    "قال الرئيس محمد عبد الله في بغداد.\n\nوأكد وزير الخارجية الأمريكي أن الولايات المتحدة ستدعم العراق",
    "سطر أول\nسطر ثان ... ؟! 3.5 و 1,200 دولار – «مجلس الأمن الدولي»",
    " ".join(["كلمة"] * 160) + ".",  # a sentence cut at 150 tokens
    "\n\nأول.\nثان!\n\n" + " ".join(["و"] * 149) + ".\n" + " ".join(["كلمة"] * 301) + "\n؟",
]


def _texts() -> list[str]:
    lines = SAMPLES.read_text(encoding="utf-8").splitlines() if SAMPLES.exists() else []
    return TRICKY + [json.loads(line)["body"] for line in lines]


@pytest.mark.parametrize("text", TRICKY)
def test_sentence_tokens_is_sentence_spans_of_tokenize(text: str) -> None:
    spans = sentence_spans(text, tokenize(text))
    sents, words = sentence_tokens(text)
    assert sents == spans
    assert words == [[text[a:b] for a, b in s] for s in spans]


def test_sentence_tokens_on_the_samples() -> None:
    for text in _texts():
        sents, words = sentence_tokens(text)
        assert sents == sentence_spans(text, tokenize(text))
        assert words == [[text[a:b] for a, b in s] for s in sents]


def _reference(rec: NeuralRecognizer, texts: list[str], pack_tokens: int) -> list[tuple[list[int], dict]]:
    """The per-sentence path: items, then the groups of ``NeuralRecognizer._run`` and ``pack_batch``."""
    feat = rec.feat
    items = []
    for text in texts:
        token_lists = sentence_tokens(text)[1]
        if not token_lists:
            continue
        gzs = [feat.gz(toks) for toks in token_lists]
        owns, docs = doc_clues(token_lists, gzs, window=None)
        for toks, d, g, o in zip(token_lists, docs, gzs, owns, strict=True):
            items.append(feat.sentence(toks, d, g, o))
    return [(g, pack_batch([items[i] for i in g]))
            for g in length_groups([len(x["w"]) for x in items], pack_tokens)]


@pytest.fixture(scope="module")
def recognizer() -> NeuralRecognizer:
    return NeuralRecognizer()


@shipped
@pytest.mark.parametrize("pack_tokens", [32_768, 200])
def test_pack_documents_gives_the_per_sentence_arrays(recognizer: NeuralRecognizer, pack_tokens: int) -> None:
    texts = _texts()
    docs = [sentence_tokens(t)[1] for t in texts]
    groups, norms = pack_documents(recognizer.feat, docs, True, pack_tokens)
    ref = _reference(recognizer, texts, pack_tokens)
    assert len(groups) == len(ref) and (pack_tokens > 1000 or len(groups) > 1)
    for (g, batch), (rg, rbatch) in zip(groups, ref, strict=True):
        assert g == rg
        assert batch.keys() == rbatch.keys()
        for key, want in rbatch.items():
            got = batch[key]
            if isinstance(want, list):
                assert got == want, key
            else:
                assert got.dtype == want.dtype and np.array_equal(got, want), key
    flat = [s for d in docs for s in d]
    assert norms == [[recognizer.feat._token(t)[0] for t in s] for s in flat]


@shipped
def test_gazetteer_matches_from_heads_and_single_words(recognizer: NeuralRecognizer) -> None:
    """The split of ``gazetteer_matches`` (one-word features per word, the search from where a
    multi-word entry may start) used by ``pack_documents`` finds some multi-word names here."""
    feat = recognizer.feat
    toks = sentence_tokens(TRICKY[2])[1][1]
    gz = gazetteer_matches([feat._token(t)[0] for t in toks], feat.gaz, feat.gaz_max)
    assert any(f.startswith("gzB:") for g in gz for f in g)
