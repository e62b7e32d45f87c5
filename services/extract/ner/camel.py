"""``CamelRecognizer``: CAMeL Tools' BERT named-entity recognizer, offline and batched.

The model is a Hugging Face ``BertForTokenClassification`` folder (``config.json`` with the
BIO labels in ``id2label``, the weights, ``vocab.txt``) such as CAMeL Tools' ``ner-arabert``
package; it is loaded with ``camel_tools.ner.NERecognizer(model_dir)`` and NEVER downloaded.

Offline safety: ``import camel_tools.ner`` loads CAMeL Tools' data catalogue at import time
and downloads it when ``<CAMELTOOLS_DATA>/catalogue.json`` is missing (raising
``DownloaderError`` without network). Before that import, :func:`prepare_offline_env` sets
``HF_HUB_OFFLINE=1`` and ``TRANSFORMERS_OFFLINE=1`` (when unset) and, when ``CAMELTOOLS_DATA``
is unset, points it at ``<HADATH_HOME>/camel_data`` holding a copy of the catalogue shipped
with Hadath (``camel_catalogue.json`` beside this module; it lists no downloadable package).

Text handling: each story is split into sentences (:func:`shared.arabic.sentence_spans`), each
sentence into tokens that are spans of the original text — the word spans of
:func:`shared.arabic.tokenize_spans` plus every other visible character (punctuation, symbols)
as a token of its own, as CAMeL's ``simple_word_tokenize`` does for the training data — and a
sentence longer than ``max_tokens`` (256) tokens into balanced chunks, so a chunk never comes
near BERT's 512-wordpiece limit (CAMeL additionally segments each input at 254 wordpieces).
All chunks of a ``recognize_batch`` call go through ``NERecognizer.predict`` together,
``batch_size`` chunks per forward pass. BIO labels are decoded conlleval-style (``I-X`` after
``O`` or another type starts a new entity; two ``B-X`` in a row are two entities); an entity's
edge punctuation tokens are dropped, so every entity starts and ends on a word.
"""

from __future__ import annotations

import os
import tempfile
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shared.arabic import entity_key, sentence_spans, tokenize_spans
from shared.schemas import ENTITY_LABELS, Entity
from shared.settings import Settings, env_name

#: Catalogue shipped with Hadath, copied to ``<CAMELTOOLS_DATA>/catalogue.json``.
CATALOGUE_PATH = Path(__file__).resolve().parent / "camel_catalogue.json"

#: Longest chunk of a sentence given to the model, in tokens.
MAX_TOKENS = 256

_MODEL_ENV = env_name("ner_model_dir")
_INSTALL_HELP = (
    f"Set {_MODEL_ENV} to the folder of a CAMeL Tools / Hugging Face BERT token-classification "
    "model (config.json, the weights, vocab.txt). To get CAMeL Tools' AraBERT NER model: on a "
    "machine with internet run `camel_data -i ner-arabert`, then copy "
    "~/.camel_tools/data/ner/arabert to this machine and point "
    f"{_MODEL_ENV} at the copy (or point it straight at ~/.camel_tools/data/ner/arabert). "
    "Nothing is downloaded at run time."
)
_BERT_HELP = (
    "the camel recognizer needs torch and transformers: run `pip install '.[bert]'` in the "
    "Hadath checkout (or `make install-bert`)"
)

# Entity types of other BIO schemes, mapped onto Hadath's labels.
_LABEL_ALIASES = {
    "PER": "PERS", "PERSON": "PERS", "LOCATION": "LOC", "GPE": "LOC",
    "ORGANIZATION": "ORG", "ORGANISATION": "ORG",
}


# --------------------------------------------------------------------------------------------
# Offline-safe import
# --------------------------------------------------------------------------------------------

def _install_catalogue(folder: Path) -> None:
    """Write the shipped catalogue to ``folder/catalogue.json`` (atomically, if it differs)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "catalogue.json"
    data = CATALOGUE_PATH.read_bytes()
    if target.is_file() and target.read_bytes() == data:
        return
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".catalogue-", suffix=".json")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def prepare_offline_env(home: Path | None = None) -> Path | None:
    """Make ``import camel_tools.ner`` work with no network (see the module docstring).

    Sets ``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE`` to ``1`` when unset; when
    ``CAMELTOOLS_DATA`` is unset, points it at ``<home>/camel_data`` (``home`` defaults to
    ``Settings().home``) after writing the shipped catalogue there. Returns the folder it set,
    or ``None`` when ``CAMELTOOLS_DATA`` was already set (then the catalogue there is the
    user's business). Only takes effect before ``camel_tools.data`` is first imported.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if os.environ.get("CAMELTOOLS_DATA"):
        return None
    folder = Path(home if home is not None else Settings().home) / "camel_data"
    try:
        _install_catalogue(folder)
    except OSError:  # unwritable home: a private temporary folder still keeps us offline
        folder = Path(tempfile.mkdtemp(prefix="hadath-camel-data-"))
        _install_catalogue(folder)
    os.environ["CAMELTOOLS_DATA"] = str(folder)
    return folder


def _import_ner_recognizer() -> Any:
    """``camel_tools.ner.NERecognizer``, imported offline-safe, with clear errors."""
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"{_BERT_HELP} ({exc})") from exc
    prepare_offline_env()
    try:
        from camel_tools.ner import NERecognizer
    except ImportError as exc:
        raise ImportError(
            f"cannot import camel_tools.ner ({exc}); install camel-tools with `make install` "
            f"and torch/transformers with `make install-bert`"
        ) from exc
    return NERecognizer


# --------------------------------------------------------------------------------------------
# Tokens, chunks, BIO decoding
# --------------------------------------------------------------------------------------------

def _is_visible(c: str) -> bool:
    """A character that forms a token of its own outside words (punctuation, symbols)."""
    return not c.isspace() and unicodedata.category(c)[0] not in ("C", "Z", "M")


def token_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int, bool]]:
    """Tokens of ``text[start:end]`` as ``(start, end, is_word)`` spans of ``text``.

    Words come from :func:`shared.arabic.tokenize_spans`; every other visible character
    (punctuation, symbols) is a one-character token with ``is_word=False``.
    """
    end = len(text) if end is None else end
    out: list[tuple[int, int, bool]] = []
    pos = start
    for ws, we in tokenize_spans(text[start:end]):
        ws += start
        we += start
        out.extend((i, i + 1, False) for i in range(pos, ws) if _is_visible(text[i]))
        out.append((ws, we, True))
        pos = we
    out.extend((i, i + 1, False) for i in range(pos, end) if _is_visible(text[i]))
    return out


def chunk_tokens(tokens: list[Any], max_tokens: int = MAX_TOKENS) -> list[list[Any]]:
    """``tokens`` cut into the fewest balanced pieces of at most ``max_tokens`` each."""
    n = len(tokens)
    if n <= max_tokens:
        return [tokens] if tokens else []
    k = -(-n // max_tokens)
    bounds = [round(i * n / k) for i in range(k + 1)]
    return [tokens[bounds[i]:bounds[i + 1]] for i in range(k)]


def _entity_type(label: str) -> tuple[str, str | None]:
    """``(prefix, Hadath label or None)`` of a BIO label such as ``B-PERS``."""
    prefix, _, typ = str(label).partition("-")
    prefix = prefix.upper()
    if prefix not in ("B", "I") or not typ:
        return "O", None
    typ = typ.upper()
    typ = _LABEL_ALIASES.get(typ, typ)
    return prefix, (typ if typ in ENTITY_LABELS else None)


def bio_ranges(labels: Sequence[str]) -> list[tuple[int, int, str]]:
    """``(first, last_exclusive, label)`` token ranges of BIO ``labels``.

    Conlleval-style: ``B-X`` always starts an entity, ``I-X`` continues an ``X`` entity and
    starts one after ``O`` or another type. Types outside PERS/LOC/ORG/MISC (after aliasing
    PER → PERS, GPE → LOC …) count as ``O``.
    """
    out: list[tuple[int, int, str]] = []
    cur: str | None = None
    first = 0
    for i, lab in enumerate((*labels, "O")):
        prefix, typ = _entity_type(lab)
        if cur is not None and (prefix != "I" or typ != cur):
            out.append((first, i, cur))
            cur = None
        if typ is not None and cur is None:
            cur, first = typ, i
    return out


# --------------------------------------------------------------------------------------------
# The recognizer
# --------------------------------------------------------------------------------------------

def _check_model_dir(model_dir: str | Path | None) -> Path:
    if model_dir is None or str(model_dir).strip() == "":
        raise ValueError(f"the camel recognizer needs a model folder: {_INSTALL_HELP}")
    path = Path(model_dir).expanduser()
    if not path.is_dir():
        raise ValueError(f"NER model folder {str(path)!r} does not exist. {_INSTALL_HELP}")
    missing = [f for f in ("config.json", "vocab.txt") if not (path / f).is_file()]
    if missing:
        raise ValueError(
            f"NER model folder {str(path)!r} has no {' or '.join(missing)}: it is not a BERT "
            f"token-classification model. {_INSTALL_HELP}"
        )
    return path


class CamelRecognizer:
    """Recognizer protocol implementation backed by ``camel_tools.ner.NERecognizer``.

    Args:
        model_dir: folder of the BERT token-classification model (``HADATH_NER_MODEL_DIR``).
        batch_size: chunks (sentences, or pieces of long ones) per forward pass.
        max_tokens: longest chunk of a sentence, in tokens (at most 256).
        use_gpu: let CAMeL use CUDA when available.

    Raises:
        ValueError: ``model_dir`` is missing or not a model folder, or its labels are not BIO.
        ImportError: torch / transformers (the ``bert`` extra) are not installed.
    """

    name = "camel"

    def __init__(self, model_dir: str | Path | None, *, batch_size: int = 16,
                 max_tokens: int = MAX_TOKENS, use_gpu: bool = True) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if not 1 <= max_tokens <= MAX_TOKENS:
            raise ValueError(f"max_tokens must be between 1 and {MAX_TOKENS}")
        self.model_dir = _check_model_dir(model_dir)
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        ner_cls = _import_ner_recognizer()
        try:
            self._ner = ner_cls(str(self.model_dir), use_gpu=use_gpu)
        except OSError as exc:  # incomplete folder (no weights, bad tokenizer files, ...)
            raise ValueError(
                f"cannot load the NER model from {str(self.model_dir)!r}: {exc}. {_INSTALL_HELP}"
            ) from exc
        labels = [str(v) for v in self._ner.labels_map.values()]
        if "O" not in labels or not any(_entity_type(v)[1] for v in labels):
            raise ValueError(
                f"model in {str(self.model_dir)!r} has no BIO labels in config.json id2label "
                f"(found {labels}); expected O, B-PERS, I-PERS, B-LOC, ... {_INSTALL_HELP}"
            )
        self.labels = labels
        if hasattr(self._ner, "_align_predictions"):
            self._ner._align_predictions = self._align_predictions

    def _align_predictions(self, predictions: Any, label_ids: Any, sent_ids: Any) -> list[list[str]]:
        """Vectorised drop-in for ``NERecognizer._align_predictions`` (same result).

        CAMeL 1.6 builds an ``nn.CrossEntropyLoss`` per padded position (256 per chunk), which
        costs more than the forward pass of a small model; this keeps its semantics: the label
        of every position whose label id is not the ignore index (-100), collated by sentence.
        """
        import numpy as np

        preds = np.argmax(predictions, axis=2)
        keep = label_ids != -100
        id2label = self._ner.labels_map
        out: list[list[str]] = [[] for _ in range(len(set(sent_ids.tolist())))]
        for i, sid in enumerate(sent_ids.tolist()):
            out[sid].extend(id2label[int(p)] for p in preds[i][keep[i]])
        return out

    def _predict(self, chunks: list[list[str]]) -> list[list[str]]:
        """Labels of every word of every chunk (one label per word, same order)."""
        out: list[list[str]] = []
        step = self.batch_size * 8  # bounds the logits CAMeL keeps in memory per call
        for i in range(0, len(chunks), step):
            part = chunks[i:i + step]
            preds = self._ner.predict(part, batch_size=self.batch_size)
            for words, labels in zip(part, preds):
                if len(labels) != len(words):
                    labels = self._realign(words, labels)
                out.append(labels)
        return out

    def _realign(self, words: list[str], labels: list[str]) -> list[str]:
        """CAMeL drops words the tokenizer turns into no wordpiece: give them ``O``."""
        it = iter(labels)
        tok = self._ner.tokenizer
        return [next(it, "O") if tok.tokenize(w) else "O" for w in words]

    def recognize_batch(self, texts: Sequence[str]) -> list[list[Entity]]:
        """Entities of each text, in order of ``start``; offsets are indices into that text."""
        chunk_spans: list[tuple[int, list[tuple[int, int, bool]]]] = []
        for ti, text in enumerate(texts):
            for s, e in sentence_spans(text):
                for chunk in chunk_tokens(token_spans(text, s, e), self.max_tokens):
                    chunk_spans.append((ti, chunk))
        results: list[list[Entity]] = [[] for _ in texts]
        if not chunk_spans:
            return results
        words = [[texts[ti][a:b] for a, b, _ in chunk] for ti, chunk in chunk_spans]
        for (ti, chunk), labels in zip(chunk_spans, self._predict(words)):
            text = texts[ti]
            for first, last, label in bio_ranges(labels):
                while first < last and not chunk[first][2]:
                    first += 1
                while last > first and not chunk[last - 1][2]:
                    last -= 1
                if first == last:
                    continue
                start, end = chunk[first][0], chunk[last - 1][1]
                surface = text[start:end]
                results[ti].append(Entity(text=surface, label=label, start=start, end=end,
                                          normalized=entity_key(surface), score=None))
        for ents in results:
            ents.sort(key=lambda e: (e.start, e.end))
        return results


__all__ = [
    "CATALOGUE_PATH",
    "MAX_TOKENS",
    "CamelRecognizer",
    "bio_ranges",
    "chunk_tokens",
    "prepare_offline_env",
    "token_spans",
]
