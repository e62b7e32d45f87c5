"""Silver training data for distillation: news articles tagged by a teacher (an ensemble file).

Command (from the repository root)::

    python -m services.extract.ner.training.distill TEACHER.npz ../shared/data/news/ant-20k.jsonl.gz \
        /tmp/silver.jsonl --articles 4000

The teacher is any model file :class:`NeuralRecognizer` reads; an ensemble written by
``neural_train merge`` gives mean emissions and transitions. Articles are split into sentences
and given document clues exactly as in :meth:`NeuralRecognizer.recognize_batch` (the article is
the document); the Viterbi tags of the teacher are post-processed with :func:`propagate_labels`
over the article (``--no-propagate`` to skip). Every tenth article of ``ant-20k`` (the
``ant-2k`` benchmark set) is skipped; the others are shuffled with ``--seed``. Output: one JSON
line per article, ``{"sents": [[tokens, tags], ...]}`` (with ``--soft`` also the teacher's CRF
marginals of every token: ``[tokens, tags, marginals]``), read by ``neural_train --silver``.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from services.extract.ner.features import sentence_spans, tokenize
from services.extract.ner.neural import NeuralRecognizer, propagate_labels
from services.extract.ner.neural_features import doc_clues
from services.extract.ner.training.corpora import news_texts


def article_sentences(text: str, max_len: int = 120) -> list[list[str]]:
    """Token lists of the sentences of ``text`` as the recognizer splits them (long sentences
    cut into ``max_len`` pieces for training)."""
    out = []
    for sent in sentence_spans(text, tokenize(text)):
        toks = [text[s:e] for s, e in sent]
        for i in range(0, len(toks), max_len):
            if toks[i : i + max_len]:
                out.append(toks[i : i + max_len])
    return out


def tag_articles(rec: NeuralRecognizer, texts: list[str], propagate: bool = True,
                 soft: bool = False):
    per_article = [article_sentences(t) for t in texts]
    items, owner = [], []
    for a, sents in enumerate(per_article):
        if not sents:
            continue
        gzs = [rec.feat.gz(s) for s in sents]
        owns, docs = doc_clues(sents, gzs, window=None)
        for s, d, g, o in zip(sents, docs, gzs, owns, strict=True):
            items.append(rec.feat.sentence(s, d, g, o))
            owner.append(a)
    paths, probs = rec._run(items, marginals=soft)
    tags: list[list[list[str]]] = [[] for _ in per_article]
    margs: list[list] = [[] for _ in per_article]
    for a, p, m in zip(owner, paths, probs, strict=True):
        tags[a].append([rec.tags[t] for t in p])
        margs[a].append(None if m is None else [[round(float(x), 3) for x in row] for row in m])
    out = []
    for sents, tg, mg in zip(per_article, tags, margs, strict=True):
        if propagate and sents:
            tg = propagate_labels(sents, tg, window=None)
        if soft:
            out.append([list(x) for x in zip(sents, tg, mg, strict=True)])
        else:
            out.append([list(x) for x in zip(sents, tg, strict=True)])
    return out


def relabel_with_names(tokens: list[str], tags: list[str], table, max_len: int) -> tuple[list[str], int]:
    """Silver-label correction with a gazetteer of mined names (:mod:`training.mining`):
    every longest match of a ``table`` entry (``token tuple -> {"LABEL:src"}``, one label per
    entry expected; the first one is taken) over tokens the teacher left all ``O`` is tagged
    ``B-LABEL I-LABEL ...``; matches touching a teacher entity are left alone. Tokens are
    looked up like :func:`features.gazetteer_matches` (normalised; the first may carry
    proclitics). Returns the new tags and the number of spans relabelled."""
    from services.extract.ner.features import _first_variants, normalize

    norms = [normalize(t) for t in tokens]
    out = list(tags)
    n, i, changed = len(norms), 0, 0
    while i < n:
        hit = None
        for first in _first_variants(norms[i]):
            for L in range(min(max_len, n - i), 0, -1):
                keys = table.get((first, *norms[i + 1 : i + L]))
                if keys and (hit is None or L > hit[0]):
                    hit = (L, sorted(keys)[0].split(":", 1)[0])
                    break
        if hit is not None and all(t == "O" for t in out[i : i + hit[0]]):
            L, label = hit
            out[i : i + L] = ["B-" + label] + ["I-" + label] * (L - 1)
            changed += 1
            i += L
        else:
            i += 1
    return out, changed


def write_silver(teacher: Path, corpus: Path, out: Path, articles: int = 4000, seed: int = 7,
                 propagate: bool = True, soft: bool = False) -> dict:
    """Tag ``articles`` news articles of ``corpus`` (every tenth skipped: the ``ant-2k``
    benchmark set; the rest shuffled with ``seed``) with the ``teacher`` model file and write them
    to ``out`` (one JSON line per article, ``{"sents": [[tokens, tags(, marginals)], ...]}``).
    Returns counts and seconds."""
    t0 = time.time()
    texts = [t for i, t in enumerate(news_texts(corpus)) if i % 10 != 0]
    random.Random(seed).shuffle(texts)
    texts = texts[:articles]
    rec = NeuralRecognizer(teacher, propagate=False)
    n_s = n_t = n_e = 0
    with Path(out).open("w", encoding="utf-8") as fh:
        for k in range(0, len(texts), 64):
            for art in tag_articles(rec, texts[k : k + 64], propagate=propagate, soft=soft):
                if not art:
                    continue
                n_s += len(art)
                n_t += sum(len(x[0]) for x in art)
                n_e += sum(sum(t.startswith("B-") for t in x[1]) for x in art)
                fh.write(json.dumps({"sents": art}, ensure_ascii=False) + "\n")
    return {"articles": len(texts), "sentences": n_s, "tokens": n_t, "entities": n_e,
            "seconds": round(time.time() - t0, 1), "out": str(out)}


def train_distilled(train: Path, w2v: Path, news: Path, out: Path, work: Path,
                    teacher_seeds: tuple[int, ...] = (1, 2), teacher_epochs: int = 18,
                    student_epochs: int = 19, articles: int = 4000,
                    log=print) -> dict:
    """The recipe of the shipped ``anercorp-bilstm.npz`` (``model/MODEL_CARD.md``): train one
    network per seed in ``teacher_seeds`` on ``train``, merge them into an ensemble teacher, tag
    ``articles`` news articles of ``news`` with it (silver data), then train one student network
    on the gold sentences plus, every epoch, as many silver sentences drawn afresh. Intermediate
    files go to ``work``; the student is written to ``out``. About 30 minutes on one core.

    Knowledge distillation (Hinton et al. 2015, "Distilling the Knowledge in a Neural Network")
    with hard teacher labels on unlabelled in-domain text, i.e. self-training.
    Returns the student's training report plus the teacher and silver summaries."""
    from services.extract.ner.training import neural_train

    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    members = []
    for seed in teacher_seeds:
        path = work / f"teacher-seed{seed}.npz"
        log(f"teacher seed {seed}: training ({teacher_epochs} epochs) ...")
        neural_train.run(train, w2v, path, None, epochs=teacher_epochs, seed=seed)
        members.append(path)
    teacher = work / "teachers.npz"
    neural_train.merge_models(members, teacher)
    log(f"silver: tagging {articles} news articles with the {len(members)}-network teacher ...")
    silver = write_silver(teacher, news, work / "silver.jsonl", articles=articles)
    gold = len(neural_train.read_conll(train))
    log(f"student: training ({student_epochs} epochs, {gold} gold + {gold} silver sentences per epoch) ...")
    report = neural_train.run(train, w2v, out, None, silver=work / "silver.jsonl",
                              epochs=student_epochs, silver_per_epoch=gold)
    report["teachers"] = [str(m) for m in members]
    report["silver"] = silver
    return report


def main() -> None:  # pragma: no cover
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("teacher", type=Path)
    ap.add_argument("corpus", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--articles", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-propagate", action="store_true")
    ap.add_argument("--soft", action="store_true", help="also store the teacher's CRF marginals")
    args = ap.parse_args()
    print(json.dumps(write_silver(args.teacher, args.corpus, args.out, args.articles, args.seed,
                                  propagate=not args.no_propagate, soft=args.soft)))


if __name__ == "__main__":  # pragma: no cover
    main()
