"""Train the BiLSTM-CRF tagger of :mod:`services.extract.ner.neural` with torch; export to numpy.

Command (from the repository root; torch is needed for training only)::

    python -m services.extract.ner.training.embeddings ../shared/data/news/ant-20k.jsonl.gz /tmp/hadath-w2v.npz
    python -m services.extract.ner.training.neural_train ../shared/data/ner/anercorp_camel_rebuilt/train.txt \
        --w2v /tmp/hadath-w2v.npz

``--dev-fold k`` holds out the k-th contiguous sixth of TRAIN and reports its micro F1 after
every epoch (used to choose the hyper-parameters and the number of epochs); without it the
model is trained on every training sentence for ``--epochs`` epochs and written to
``model/anercorp-bilstm.npz``. ``merge OUT A.npz B.npz ...`` packs models trained with
different ``--seed`` into one ensemble file (mean emissions and transitions).

Distillation: ``--silver FILE`` (news articles tagged by a teacher ensemble, written by
:mod:`services.extract.ner.training.distill`) adds silver sentences to the gold ones; every epoch sees
all gold sentences and a fresh random sample of ``--silver-per-epoch`` silver sentences
(weight ``--silver-weight``). ``--soft w`` (needs a file written with ``distill --soft``) mixes
the hard-label CRF loss of silver sentences with the cross-entropy between the teacher's and the
student's CRF marginals (``(1 - w) * NLL + w * CE``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from services.extract.ner import clusters as clusters_mod
from services.extract.ner import gazetteers as gaz_mod
from services.extract.ner.features import DOC_WINDOW, document_contexts, word_info
from services.extract.ner.neural import DEFAULT_NEURAL_PATH
from services.extract.ner.neural_features import MAX_CHARS, Featurizer, pad_batch
from services.extract.ner.training.corpora import read_conll

TAGS = ["O", "B-PERS", "I-PERS", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]
DEFAULTS = {"epochs": 20, "batch": 16, "lr": 1e-3, "hidden": 96, "char_filters": 64,
            "char_dim": 32, "cl_dim": 16, "dropout": 0.5, "word_dropout": 0.05,
            "vocab": 60_000, "seed": 1, "silver_per_epoch": 0, "silver_weight": 1.0,
            "soft": 0.0, "mined": 0, "relabel": 0, "charlm": ""}


DEFAULT_MINING_INDEX = (Path(os.environ.get("HADATH_HOME") or Path.home() / ".cache" / "hadath")
                        / "ner" / "mining-index.pkl")  # corpus index of training.mining (cache)

cfg_train_words = False  # word vectors are frozen: training-only words would stay random


def build_featurizer(sents: Sequence[Sequence[str]], w2v: Path, vocab_size: int,
                     gaz_table=None, sent_gzs=None):
    """Vocabulary (pretrained words + training words), characters, clue names and resources.

    ``gaz_table`` ``(table, max_len)`` replaces the shipped gazetteers (the run-time table, e.g.
    with mined names); ``sent_gzs`` gives each training sentence's gazetteer features (jackknifed
    mined names, :func:`jackknife_gzs`) instead of the ones of the run-time table."""
    gaz, gmax = gaz_table if gaz_table is not None else gaz_mod.load(parts=True)
    cl = clusters_mod.load_clusters(with_vectors=False)
    z = np.load(w2v)
    pre_words = [str(w) for w in z["words"][:vocab_size]]
    pre_vecs = z["vectors"][:vocab_size]
    train_counts = Counter(word_info(t)[0] for s in sents for t in s)
    words = ["<pad>", "<unk>"] + pre_words
    seen = set(words)
    for w, c in train_counts.items():
        if c >= 2 and w not in seen and cfg_train_words:
            words.append(w)
            seen.add(w)
    char_counts = Counter(ch for w in words[2:] for ch in w[:MAX_CHARS])
    chars = ["<pad>", "<unk>"] + sorted(c for c, n in char_counts.items() if n >= 3)
    # clue names seen at least 3 times in training
    feat0 = Featurizer(words, chars, [], gaz, gmax, cl)
    from services.extract.ner.features import local_signals
    from services.extract.ner.neural_features import token_flags

    gzs = sent_gzs if sent_gzs is not None else [feat0.gz(s) for s in sents]
    docs = document_contexts(sents, window=DOC_WINDOW, gzs=gzs)
    flag_counts: Counter[str] = Counter()
    for s, d, g in zip(sents, docs, gzs, strict=True):
        infos = [word_info(t) for t in s]
        norms = [x[0] for x in infos]
        nopre = [x[1] for x in infos]
        own = local_signals(norms, g)
        for fs in token_flags(norms, nopre, s, g, cl.counts, d, own):
            flag_counts.update(fs)
    flags = sorted(f for f, n in flag_counts.items() if n >= 3)
    feat = Featurizer(words, chars, flags, gaz, gmax, cl)
    emb = np.random.default_rng(0).normal(0, 0.1, (len(words), pre_vecs.shape[1])).astype(np.float32)
    emb[0] = 0
    scale = 1.0 / (np.linalg.norm(pre_vecs, axis=1).mean() + 1e-9)
    emb[2 : 2 + len(pre_words)] = pre_vecs * scale  # unit-ish rows
    return feat, words, chars, flags, emb


def featurize(feat: Featurizer, sents: Sequence[Sequence[str]], gzs=None) -> list[dict]:
    """Items of gold sentences (document clues over :data:`DOC_WINDOW` sentences either side);
    ``gzs`` per-sentence gazetteer features, by default those of ``feat``'s table."""
    gzs = gzs if gzs is not None else [feat.gz(s) for s in sents]
    docs = document_contexts(sents, window=DOC_WINDOW, gzs=gzs)
    return [feat.sentence(s, d, g) for s, d, g in zip(sents, docs, gzs, strict=True)]


def mined_tables(train_path: Path, index_path: Path, dev_fold: int | None, folds: int = 6):
    """Gazetteer tables with names mined from the news corpus (:mod:`training.mining`, its
    corpus index cached at ``index_path``): the run-time one (seeds: every training sentence
    outside ``dev_fold``) and, per fold k, the jackknifed one whose seeds also leave out fold k
    (so that a training sentence never sees its own names as mined). Returns
    ``(runtime (table, max_len), {k: (table, max_len)}, {"runtime": names, k: names})``."""
    from services.extract.ner.training import mining

    index = mining.load_index(index_path)
    base = gaz_mod.load(parts=True)
    held = set() if dev_fold is None else {dev_fold}
    counts: dict = {}

    def table(excl):
        names = {(r["label"], r["name"]) for r in mining.mine(train_path, index, excl)}
        return gaz_mod.with_mined(*base, names), len(names)

    runtime, counts["runtime"] = table(held)
    per_fold = {}
    for k in range(folds):
        if k not in held:
            per_fold[k], counts[k] = table(held | {k})
    return runtime, per_fold, counts


def relabel_names(train_path: Path, index_path: Path, dev_fold: int | None, min_words: int = 2):
    """The mined names that relabel the silver articles (``--relabel 1``, with or without the
    clue bits of ``--mined 1``): one bootstrap (:func:`training.mining.mine`) from the seeds of
    every training sentence outside ``dev_fold``; the seeds found in the corpus and the learned
    names of at least ``min_words`` words (the learned single words are mostly generic nouns
    and adjectives of sports news, الدوري, الانجليزي, and counted nouns, مهاجرا, that would
    turn thousands of silver tokens into false names). Returns a table of those names only,
    ``(token tuple -> {"LABEL:mn"}, max_len)``. Raises ``FileNotFoundError`` when the corpus
    index (``index_path``, a pickle of :func:`training.mining.save_index`) is absent."""
    from services.extract.ner.training import mining

    index = mining.load_index(index_path)
    held = () if dev_fold is None else (dev_fold,)
    names = {(r["label"], r["name"]) for r in mining.mine(train_path, index, held)
             if r["round"] == 0 or len(r["name"].split(" ")) >= min_words}
    print(json.dumps({"relabel_names": len(names)}), flush=True)
    return gaz_mod.with_mined({}, 1, names)


def jackknife_gzs(sents: Sequence[Sequence[str]], folds_of: Sequence[int], per_fold) -> list[list[list[str]]]:
    """Gazetteer features of each sentence from the table of its fold (:func:`mined_tables`)."""
    from services.extract.ner.features import gazetteer_matches

    return [gazetteer_matches([word_info(t)[0] for t in s], *per_fold[k])
            for s, k in zip(sents, folds_of, strict=True)]


def read_silver(path: Path, limit: int | None = None) -> list[list[tuple]]:
    """Articles of a silver file written by :mod:`services.extract.ner.training.distill`: per sentence
    (tokens, tags, teacher marginals or None)."""
    out = []
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            if limit is not None and len(out) >= limit:
                break
            out.append([(list(x[0]), list(x[1]), x[2] if len(x) > 2 else None)
                        for x in json.loads(line)["sents"]])
    return out


def featurize_articles(feat: Featurizer, articles) -> tuple[list[dict], list[np.ndarray]]:
    """Items and tag ids of silver articles; document clues over the whole article, as
    :meth:`NeuralRecognizer.recognize_batch` computes them."""
    from services.extract.ner.neural_features import doc_clues

    items, ys = [], []
    for art in articles:
        sents = [x[0] for x in art]
        gzs = [feat.gz(s) for s in sents]
        owns, docs = doc_clues(sents, gzs, window=None)
        for (s, t, q), d, g, o in zip(art, docs, gzs, owns, strict=True):
            it = feat.sentence(s, d, g, o)
            if q is not None:
                it["q"] = np.asarray(q, np.float32)
            items.append(it)
            ys.append(np.array([TAGS.index(x) for x in t]))
    return items, ys


def add_charlm(lm, items: Sequence[dict], chunk: int = 256) -> None:
    """Give each featurised sentence its contextual string embeddings (Akbik, Blythe & Vollgraf,
    COLING 2018): ``item["lm"]`` float16 ``(n_tokens, lm.dim)`` from the character language
    models ``lm`` (:class:`services.extract.ner.charlm.CharLM`) over the sentence's normalised
    tokens ``item["key"]``, ``chunk`` sentences per batched run."""
    for k in range(0, len(items), chunk):
        part = items[k : k + chunk]
        for it, e in zip(part, lm.embed([it["key"] for it in part]), strict=True):
            it["lm"] = e.astype(np.float16)  # halves the memory of silver data


def make_net(n_words, n_chars, n_flags, emb, cfg, n_lm: int = 0):
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            wdim = emb.shape[1]
            self.word_emb = nn.Embedding(n_words, wdim, padding_idx=0)
            self.word_emb.weight.data.copy_(torch.from_numpy(emb))
            self.word_emb.weight.requires_grad_(False)  # frozen word2vec rows (fast, general)
            self.char_emb = nn.Embedding(n_chars, cfg["char_dim"], padding_idx=0)
            self.conv = nn.Conv1d(cfg["char_dim"], cfg["char_filters"], 3, padding=1)
            self.cl = nn.ModuleList(nn.Embedding(n, cfg["cl_dim"]) for n in (65, 257, 1025))
            self.n_lm = n_lm  # width of the character-LM features (0: none)
            d_in = 2 * wdim + cfg["char_filters"] + 3 * cfg["cl_dim"] + n_lm + n_flags
            self.drop = nn.Dropout(cfg["dropout"])
            self.lstm = nn.LSTM(d_in, cfg["hidden"], batch_first=True, bidirectional=True)
            self.out = nn.Linear(2 * cfg["hidden"], len(TAGS))
            self.trans = nn.Parameter(torch.zeros(len(TAGS), len(TAGS)))
            self.start = nn.Parameter(torch.zeros(len(TAGS)))
            self.end = nn.Parameter(torch.zeros(len(TAGS)))

        def emissions(self, b):
            w, npw, ch, cl, fl, mask = b["w"], b["np"], b["ch"], b["cl"], b["fl"], b["mask"]
            B, T = w.shape
            ce = self.char_emb(ch.view(B * T, -1)).transpose(1, 2)  # (BT, C, L)
            conv = self.conv(ce).transpose(1, 2)  # (BT, L, F)
            conv = conv.masked_fill((ch.view(B * T, -1) == 0)[..., None], -1e4)
            chf = torch.relu(conv.max(dim=1).values).view(B, T, -1)
            lm = [b["lm"]] if self.n_lm else []
            x = torch.cat([self.word_emb(w), self.word_emb(npw), chf,
                           *[e(cl[..., j]) for j, e in enumerate(self.cl)], *lm, fl], dim=-1)
            x = self.drop(x)
            lengths = mask.sum(1).cpu()
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True,
                                                       enforce_sorted=False)
            h, _ = self.lstm(packed)
            h, _ = nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=T)
            return self.out(self.drop(h))

        def log_marginals(self, em, mask):
            """Log CRF marginals (B, T, K) by forward-backward (differentiable)."""
            B, T, K = em.shape
            alphas = [self.start[None] + em[:, 0]]
            for t in range(1, T):
                new = torch.logsumexp(alphas[-1][:, :, None] + self.trans[None], dim=1) + em[:, t]
                alphas.append(torch.where(mask[:, t : t + 1], new, alphas[-1]))
            end = self.end[None].expand(B, K)
            betas = [end]
            for t in range(T - 2, -1, -1):
                new = torch.logsumexp(self.trans[None] + (em[:, t + 1] + betas[-1])[:, None, :], dim=2)
                betas.append(torch.where(mask[:, t + 1 : t + 2], new, end))
            alpha = torch.stack(alphas, 1)
            beta = torch.stack(betas[::-1], 1)
            z = torch.logsumexp(alphas[-1] + self.end[None], dim=1)
            return alpha + beta - z[:, None, None]

        def nll(self, em, tags, mask, weights=None):
            B, T, K = em.shape
            maskf = mask.float()
            # gold path score (vectorised)
            emit = em.gather(2, tags[..., None]).squeeze(2)  # (B, T)
            tr = self.trans[tags[:, :-1], tags[:, 1:]]  # (B, T-1)
            score = (emit * maskf).sum(1) + (tr * maskf[:, 1:]).sum(1) + self.start[tags[:, 0]]
            last = tags.gather(1, (mask.sum(1) - 1)[:, None]).squeeze(1)
            score = score + self.end[last]
            alpha = self.start[None] + em[:, 0]
            for t in range(1, T):
                new = torch.logsumexp(alpha[:, :, None] + self.trans[None], dim=1) + em[:, t]
                alpha = torch.where(mask[:, t : t + 1], new, alpha)
            z = torch.logsumexp(alpha + self.end[None], dim=1)
            if weights is not None:
                return ((z - score) * weights).sum()
            return (z - score).sum()

    return Net()


def to_torch(batch: dict):
    import torch

    return {k: torch.from_numpy(v) for k, v in batch.items()}


def batches(items, tags, size, rng):
    order = sorted(range(len(items)), key=lambda i: (len(items[i]["w"]), rng.random()))
    chunks = [order[i : i + size] for i in range(0, len(order), size)]
    rng.shuffle(chunks)
    return chunks


def export(net, words, chars, flags, meta, path: Path, extra: dict | None = None) -> int:
    """Write the network's arrays (and ``extra`` ones, e.g. the ``lm_`` character LMs) to
    ``path``; returns the file size."""
    sd = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    arrays = {
        "word_emb": sd["word_emb.weight"].astype(np.float16),
        "char_emb": sd["char_emb.weight"], "conv_w": sd["conv.weight"], "conv_b": sd["conv.bias"],
        "cl0_emb": sd["cl.0.weight"], "cl1_emb": sd["cl.1.weight"], "cl2_emb": sd["cl.2.weight"],
        "lstm_w_ih": sd["lstm.weight_ih_l0"], "lstm_w_hh": sd["lstm.weight_hh_l0"],
        "lstm_b": sd["lstm.bias_ih_l0"] + sd["lstm.bias_hh_l0"],
        "lstm_w_ih_r": sd["lstm.weight_ih_l0_reverse"], "lstm_w_hh_r": sd["lstm.weight_hh_l0_reverse"],
        "lstm_b_r": sd["lstm.bias_ih_l0_reverse"] + sd["lstm.bias_hh_l0_reverse"],
        "out_w": sd["out.weight"], "out_b": sd["out.bias"],
        "trans": sd["trans"], "start": sd["start"], "end": sd["end"], **(extra or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, words=np.array(words), chars=np.array(chars), flags=np.array(flags),
                        meta=np.array(json.dumps(meta)), **arrays)
    return path.stat().st_size


def torch_decode(net, items, bs=64) -> list[list[str]]:
    """Tags via the numpy network on exported weights would be slower; decode with torch here."""
    import torch

    from services.extract.ner.neural_net import BiLstmCrf

    net.eval()
    p = {"trans": net.trans.detach().numpy(), "start": net.start.detach().numpy(),
         "end": net.end.detach().numpy()}
    crf = BiLstmCrf(p)
    out: list = [None] * len(items)
    order = sorted(range(len(items)), key=lambda i: len(items[i]["w"]))
    with torch.no_grad():
        for k in range(0, len(order), bs):
            idx = order[k : k + bs]
            b = pad_batch([items[i] for i in idx], items_n_flags(net))
            em = net.emissions(to_torch(b)).numpy()
            for i, path in zip(idx, crf.viterbi(em, b["mask"]), strict=True):
                out[i] = [TAGS[t] for t in path]
    net.train()
    return out


def items_n_flags(net) -> int:
    return (net.lstm.input_size - 2 * net.word_emb.embedding_dim - net.conv.out_channels
            - 3 * net.cl[0].embedding_dim - net.n_lm)


def run(train_path: Path, w2v: Path, out: Path | None, dev_fold: int | None,
        silver: Path | None = None, **overrides) -> dict:
    import torch
    from seqeval.metrics import classification_report, f1_score

    cfg = {**DEFAULTS, **overrides}
    torch.manual_seed(cfg["seed"])
    torch.set_num_threads(cfg.get("threads", 1))
    rng = random.Random(cfg["seed"])
    t0 = time.time()
    sents = read_conll(train_path)
    if dev_fold is not None:
        a, b = len(sents) * dev_fold // 6, len(sents) * (dev_fold + 1) // 6
        fit, dev = sents[:a] + sents[b:], sents[a:b]
    else:
        fit, dev = sents, []
    gaz_table = fit_gzs = None
    if cfg["mined"]:  # names mined from the news corpus, jackknifed over the folds of TRAIN
        from services.extract.ner.training.mining import fold_of

        cfg["mined_index"] = str(cfg.get("mined_index") or DEFAULT_MINING_INDEX)
        gaz_table, per_fold, mined_counts = mined_tables(train_path, Path(cfg["mined_index"]), dev_fold)
        print(json.dumps({"mined_names": mined_counts, "prep_s": round(time.time() - t0, 1)}), flush=True)
        fit_folds = [k for k in (fold_of(len(sents), i) for i in range(len(sents))) if k != dev_fold]
        fit_gzs = jackknife_gzs([w for w, _ in fit], fit_folds, per_fold)
    relabel_table = None
    if cfg.get("relabel") and silver is not None:  # the mined names that relabel the silver articles
        cfg["mined_index"] = str(cfg.get("mined_index") or DEFAULT_MINING_INDEX)
        relabel_table = relabel_names(train_path, Path(cfg["mined_index"]), dev_fold)
    feat, words, chars, flags, emb = build_featurizer([w for w, _ in fit], w2v, cfg["vocab"],
                                                      gaz_table, fit_gzs)
    items = featurize(feat, [w for w, _ in fit], fit_gzs)
    ys = [np.array([TAGS.index(t) for t in tags]) for _, tags in fit]
    dev_items = featurize(feat, [w for w, _ in dev]) if dev else []
    n_gold = len(items)
    if silver is not None:
        s_articles = read_silver(silver)
        if cfg.get("relabel"):  # silver labels corrected with the mined names
            from services.extract.ner.training.distill import relabel_with_names

            mined_only = relabel_table[0]
            n_fix = 0
            for art in s_articles:
                for j, (toks, tags, q) in enumerate(art):
                    new, c = relabel_with_names(toks, tags, mined_only, relabel_table[1])
                    art[j] = (toks, new, q)
                    n_fix += c
            print(json.dumps({"silver_relabelled_spans": n_fix}), flush=True)
        s_items, s_ys = featurize_articles(feat, s_articles)
        items, ys = items + s_items, ys + s_ys
        if not cfg["silver_per_epoch"]:
            cfg["silver_per_epoch"] = len(s_items)
    n_silver = len(items) - n_gold
    clm = lm_arrays = None
    if cfg["charlm"]:  # contextual string embeddings from the character LMs (training.charlm_train)
        from services.extract.ner.charlm import CharLM

        tl = time.time()
        with np.load(cfg["charlm"], allow_pickle=False) as z:
            lm_arrays = {"lm_" + k: z[k] for k in z.files if k != "meta"}
        clm = CharLM({k[3:]: v for k, v in lm_arrays.items()})
        add_charlm(clm, items)
        add_charlm(clm, dev_items)
        print(json.dumps({"charlm_features_s": round(time.time() - tl, 1), "lm_dim": clm.dim}), flush=True)
    net = make_net(len(words), len(chars), len(flags), emb, cfg, clm.dim if clm else 0)
    opt = torch.optim.Adam([q for q in net.parameters() if q.requires_grad], lr=cfg["lr"])
    print(json.dumps({"words": len(words), "chars": len(chars), "flags": len(flags),
                      "gold": n_gold, "silver": n_silver,
                      "prep_s": round(time.time() - t0, 1)}), flush=True)
    history = []
    best = (-1.0, 0)
    best_labels: dict = {}
    best_state = None
    for ep in range(1, cfg["epochs"] + 1):
        te = time.time()
        total = 0.0
        pool = list(range(n_gold))
        if n_silver:  # all gold sentences and a fresh sample of silver ones every epoch
            pool += rng.sample(range(n_gold, len(items)), min(n_silver, cfg["silver_per_epoch"]))
        for sub in batches([items[i] for i in pool], None, cfg["batch"], rng):
            idx = [pool[i] for i in sub]
            b = pad_batch([items[i] for i in idx], len(flags))
            tb = to_torch(b)
            if cfg["word_dropout"] > 0:
                drop = torch.rand(tb["w"].shape) < cfg["word_dropout"]
                tb["w"] = tb["w"].masked_fill(drop & tb["mask"], 1)
                tb["np"] = tb["np"].masked_fill(drop & tb["mask"], 1)
            tags = np.zeros(b["mask"].shape, np.int64)
            for r, i in enumerate(idx):
                tags[r, : len(ys[i])] = ys[i]
            em = net.emissions(tb)
            soft_rows = [r for r, i in enumerate(idx) if cfg["soft"] > 0 and "q" in items[i]]
            if n_silver and (cfg["silver_weight"] != 1.0 or soft_rows):
                wts = torch.tensor([1.0 if i < n_gold else cfg["silver_weight"] for i in idx])
                if soft_rows:  # silver: (1 - soft) * hard-label NLL + soft * marginal CE
                    wts[soft_rows] *= 1.0 - cfg["soft"]
                loss = net.nll(em, torch.from_numpy(tags), tb["mask"], wts)
                if soft_rows:
                    q = np.zeros((len(soft_rows), *em.shape[1:]), np.float32)
                    for k, r in enumerate(soft_rows):
                        qi = items[idx[r]]["q"]
                        q[k, : len(qi)] = qi
                    rows = torch.tensor(soft_rows)
                    lm = net.log_marginals(em[rows], tb["mask"][rows])
                    ce = -(torch.from_numpy(q) * lm).sum()
                    loss = loss + cfg["soft"] * cfg["silver_weight"] * ce
            else:
                loss = net.nll(em, torch.from_numpy(tags), tb["mask"])
            opt.zero_grad()
            (loss / len(idx)).backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            total += float(loss.detach())
        rec = {"epoch": ep, "loss": round(total / len(pool), 3), "s": round(time.time() - te, 1)}
        if dev:
            pred = torch_decode(net, dev_items)
            rec["dev_f1"] = round(float(f1_score([t for _, t in dev], pred)), 4)
            rep = classification_report([t for _, t in dev], pred, output_dict=True, zero_division=0)
            rec["dev_labels"] = {k: round(float(v["f1-score"]), 4) for k, v in sorted(rep.items())
                                 if not k.endswith(" avg")}
            if rec["dev_f1"] > best[0]:
                best = (rec["dev_f1"], ep)
                best_labels = rec["dev_labels"]
                best_state = {k: v.clone() for k, v in net.state_dict().items()}
        history.append(rec)
        print(json.dumps(rec), flush=True)
    meta = {"tags": TAGS, "doc": True, "parts": True, **cfg, "dev_fold": dev_fold,
            "train_sentences": len(fit), "silver": str(silver) if silver else None,
            "silver_sentences": n_silver}
    report = {"best_dev": best, "best_dev_labels": best_labels, "seconds": round(time.time() - t0, 1), "history": history}
    if out is not None:
        if best_state is not None:  # with a dev fold: the weights of the best dev epoch
            net.load_state_dict(best_state)
            meta["epoch"] = best[1]
        report["size_bytes"] = export(net, words, chars, flags, meta, out, lm_arrays)
        report["model"] = str(out)
    return report


def merge_models(paths: Sequence[Path], out: Path) -> int:
    """One ensemble file from models trained on the same data (same vocabulary and clues; the
    frozen word vectors are stored once). Returns the file size."""
    zs = [np.load(p, allow_pickle=False) for p in paths]
    base = zs[0]
    for z in zs[1:]:
        for k in ("words", "chars", "flags"):
            if not np.array_equal(z[k], base[k]):
                raise ValueError(f"{k} differ between ensemble members")
        if not np.array_equal(z["word_emb"], base["word_emb"]):
            raise ValueError("word vectors differ between ensemble members")
    meta = json.loads(str(base["meta"]))
    meta["members"] = len(zs)
    meta["member_files"] = [Path(p).name for p in paths]
    arrays = {k: base[k] for k in base.files if k != "meta"}
    for i, z in enumerate(zs[1:], start=1):
        arrays.update({f"m{i}:{k}": z[k] for k in z.files
                       if k not in ("meta", "words", "chars", "flags", "word_emb")})
    np.savez_compressed(out, meta=np.array(json.dumps(meta)), **arrays)
    return Path(out).stat().st_size


def main(argv: Sequence[str] | None = None) -> None:  # pragma: no cover
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "merge":  # merge OUT MEMBER1 MEMBER2 ...: one ensemble file
        size = merge_models([Path(a) for a in argv[2:]], Path(argv[1]))
        print(json.dumps({"model": argv[1], "members": len(argv) - 2, "size_bytes": size}))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("train_path", type=Path)
    ap.add_argument("--w2v", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--dev-fold", type=int, default=None)
    ap.add_argument("--silver", type=Path, default=None,
                    help="silver articles (services.extract.ner.training.distill) added to the gold data")
    ap.add_argument("--mined-index", type=Path, default=None,
                    help="corpus index of training.mining (with --mined 1; default under HADATH_HOME)")
    for k, v in DEFAULTS.items():
        ap.add_argument("--" + k.replace("_", "-"), type=type(v), default=v)
    args = ap.parse_args(argv)
    over = {k: getattr(args, k) for k in DEFAULTS}
    if args.mined_index is not None:
        over["mined_index"] = str(args.mined_index)
    out = args.out if args.out else (None if args.dev_fold is not None else DEFAULT_NEURAL_PATH)
    rep = run(args.train_path, args.w2v, out, args.dev_fold, silver=args.silver, **over)
    print(json.dumps({k: v for k, v in rep.items() if k != "history"}, indent=2))


if __name__ == "__main__":  # pragma: no cover
    main()
