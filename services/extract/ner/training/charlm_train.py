"""Train the forward and backward character language models of :mod:`services.extract.ner.charlm`.

Contextual string embeddings (Akbik, Blythe & Vollgraf, COLING 2018), small: one LSTM layer per
direction, trained with torch on one CPU thread for a fixed wall-time budget over the sentences
of the ANT news corpus, read as :func:`charlm.sentence_string` reads them (normalised tokens,
spaces between, a space either side). The two directions are the two halves of one
bidirectional ``nn.LSTM``: they share nothing but the character embedding table; the forward
half predicts the next character, the backward half the previous one. Command::

    taskset -c 1 python -m services.extract.ner.training.charlm_train \\
        ../shared/data/news/ant-20k.jsonl.gz /tmp/charlm.npz --minutes 25

Every tenth article (the ``ant-2k`` benchmark articles) is left out; 300 of the remaining
sentences (a tenth of a small corpus) are held out to report bits per character. Beside ``OUT`` a torch checkpoint
``OUT.pt`` (weights with the softmax layers, optimizer state, alphabet) lets ``--resume OUT.pt``
go on training for another budget.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from services.extract.ner.charlm import PAD, UNK, sentence_string
from services.extract.ner.features import normalize
from services.extract.ner.training.corpora import news_texts

DEFAULTS = {"hidden": 128, "char_dim": 32, "batch": 32, "lr": 2e-3, "max_chars": 300,
            "minutes": 25.0, "seed": 1, "min_count": 30}


def corpus_strings(path: Path, max_chars: int = 300, limit: int | None = None) -> list[str]:
    """Sentence strings (:func:`charlm.sentence_string`) of the articles of ``path``, every
    tenth article skipped; a sentence longer than ``max_chars`` characters is cut between tokens
    into pieces of at most that many (a single longer token is cut to it)."""
    from services.extract.ner.training.distill import article_sentences

    out = []
    for i, text in enumerate(news_texts(path, limit)):
        if i % 10 == 0:
            continue
        for toks in article_sentences(text, max_len=150):
            piece: list[str] = []
            size = 1
            for w in (normalize(t)[: max_chars - 2] for t in toks):
                if piece and size + len(w) + 1 > max_chars:
                    out.append(sentence_string(piece)[0])
                    piece, size = [], 1
                piece.append(w)
                size += len(w) + 1
            if piece:
                out.append(sentence_string(piece)[0])
    return out


def alphabet(strings: Sequence[str], min_count: int) -> list[str]:
    """``["<pad>", "<unk>"]`` + the characters seen at least ``min_count`` times, sorted."""
    counts = Counter(ch for s in strings for ch in s)
    return ["<pad>", "<unk>"] + sorted(c for c, n in counts.items() if n >= min_count)


def encode(strings: Sequence[str], chars: Sequence[str]) -> list[np.ndarray]:
    """Character ids (int64) of each string (:data:`charlm.UNK` outside ``chars``)."""
    index = {c: i for i, c in enumerate(chars) if i > UNK}
    return [np.fromiter((index.get(c, UNK) for c in s), np.int64, len(s)) for s in strings]


def make_lm(n_chars: int, cfg: dict):
    """The torch module: character embedding, bidirectional LSTM, one softmax layer per direction."""
    import torch
    from torch import nn

    class BiCharLM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(n_chars, cfg["char_dim"], padding_idx=PAD)
            self.lstm = nn.LSTM(cfg["char_dim"], cfg["hidden"], batch_first=True, bidirectional=True)
            self.dec_f = nn.Linear(cfg["hidden"], n_chars)
            self.dec_b = nn.Linear(cfg["hidden"], n_chars)

        def loss(self, ids, lengths):
            """Summed cross-entropy (nats) of both directions and the number of predictions."""
            H = cfg["hidden"]
            x = self.emb(ids)
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            h, _ = self.lstm(packed)
            h, _ = nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=ids.shape[1])
            mask = (torch.arange(ids.shape[1])[None] < lengths[:, None])
            m = mask[:, 1:]  # pairs (t, t + 1) inside the text
            lf = nn.functional.cross_entropy(self.dec_f(h[:, :-1, :H][m]), ids[:, 1:][m], reduction="sum")
            lb = nn.functional.cross_entropy(self.dec_b(h[:, 1:, H:][m]), ids[:, :-1][m], reduction="sum")
            return lf + lb, 2 * int(m.sum())

    return BiCharLM()


def export(net, chars: Sequence[str], meta: dict, path: Path) -> int:
    """Write the :class:`charlm.CharLM` arrays (no softmax layers) to ``path``; returns its size."""
    sd = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in net.state_dict().items()}
    arrays = {"chars": np.array(list(chars)), "emb": sd["emb.weight"],
              "w_ih_f": sd["lstm.weight_ih_l0"], "w_hh_f": sd["lstm.weight_hh_l0"],
              "b_f": sd["lstm.bias_ih_l0"] + sd["lstm.bias_hh_l0"],
              "w_ih_b": sd["lstm.weight_ih_l0_reverse"], "w_hh_b": sd["lstm.weight_hh_l0_reverse"],
              "b_b": sd["lstm.bias_ih_l0_reverse"] + sd["lstm.bias_hh_l0_reverse"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, meta=np.array(json.dumps(meta)), **arrays)
    return path.stat().st_size


def _batch(seqs: Sequence[np.ndarray]):
    import torch

    lengths = torch.tensor([len(s) for s in seqs])
    ids = np.zeros((len(seqs), int(lengths.max())), np.int64)
    for r, s in enumerate(seqs):
        ids[r, : len(s)] = s
    return torch.from_numpy(ids), lengths


def load_init(net, path: Path) -> list[str]:
    """Character embedding and LSTM weights of ``net`` from an exported model file ``path``
    (:func:`export`; the summed biases go to ``bias_ih``, ``bias_hh`` is zeroed: the same
    function). The softmax layers, absent from that file, stay as initialised. Returns the
    alphabet of the file."""
    import torch

    with np.load(path, allow_pickle=False) as z:
        a = {k: torch.from_numpy(np.asarray(z[k], np.float32)) for k in z.files if k not in ("meta", "chars")}
        chars = [str(c) for c in z["chars"]]
    sd = net.state_dict()
    sd["emb.weight"] = a["emb"]
    for d, suf in (("f", ""), ("b", "_reverse")):
        sd[f"lstm.weight_ih_l0{suf}"] = a[f"w_ih_{d}"]
        sd[f"lstm.weight_hh_l0{suf}"] = a[f"w_hh_{d}"]
        sd[f"lstm.bias_ih_l0{suf}"] = a[f"b_{d}"]
        sd[f"lstm.bias_hh_l0{suf}"] = torch.zeros_like(a[f"b_{d}"])
    net.load_state_dict(sd)
    return chars


def run(corpus: Path, out: Path, limit: int | None = None, log=print, resume: Path | None = None,
        init: Path | None = None, warm_steps: int = 300, **overrides) -> dict:
    """Train both directions for ``minutes`` of wall time (one torch thread), write ``out`` (the
    :class:`charlm.CharLM` arrays) and ``out.pt`` (checkpoint); ``resume``: a checkpoint to go
    on from (its alphabet and sizes are kept; the held-out sentences are the same for the same
    ``seed``); ``init``: an exported model file (:func:`export`, no checkpoint) to start from, its
    sizes given by ``hidden``/``char_dim``: the softmax layers are trained alone for
    ``warm_steps`` steps first (embedding and LSTM frozen), then everything.

    Returns ``{"train_s", "prep_s", "steps", "chars_seen", "dev_bpc", "size_bytes", ...}``;
    ``dev_bpc`` is the mean of both directions' bits per character on the held-out sentences."""
    import torch

    cfg = {**DEFAULTS, **overrides}
    torch.manual_seed(cfg["seed"])
    torch.set_num_threads(1)
    rng = random.Random(cfg["seed"])
    t0 = time.time()
    strings = corpus_strings(corpus, cfg["max_chars"], limit)
    rng.shuffle(strings)
    n_dev = min(300, len(strings) // 10)  # held out (300 on the news corpus)
    dev_s, fit_s = strings[:n_dev], strings[n_dev:]
    ckpt = None
    if resume is not None:
        ckpt = torch.load(resume, weights_only=False)
        cfg.update({k: ckpt["cfg"][k] for k in ("hidden", "char_dim")})
    if init is not None:
        with np.load(init, allow_pickle=False) as z:
            chars = [str(c) for c in z["chars"]]
    else:
        chars = ckpt["chars"] if ckpt else alphabet(fit_s, cfg["min_count"])
    fit, dev = encode(fit_s, chars), encode(dev_s, chars)
    prep_s = time.time() - t0
    log(json.dumps({"sentences": len(fit), "chars": int(sum(map(len, fit))), "alphabet": len(chars),
                    "prep_s": round(prep_s, 1)}))
    net = make_lm(len(chars), cfg)
    opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])
    done = {"train_s": 0.0, "chars_seen": 0, "steps": 0}  # of earlier budgets (resumed)
    if ckpt:
        net.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["opt"])
        done = ckpt["done"]
    frozen: list = []
    if init is not None:
        load_init(net, init)
        frozen = [q for n, q in net.named_parameters() if not n.startswith("dec_")]
        for q in frozen:
            q.requires_grad_(False)
    # batches of similar length, in random order; a fresh order per pass
    by_len = sorted(range(len(fit)), key=lambda i: len(fit[i]))

    def dev_bpc() -> float:
        net.eval()
        tot = n = 0.0
        with torch.no_grad():
            for k in range(0, len(dev), 64):
                loss, m = net.loss(*_batch(dev[k : k + 64]))
                tot, n = tot + float(loss), n + m
        net.train()
        return tot / max(n, 1) / np.log(2)

    t1 = time.time()
    budget = cfg["minutes"] * 60
    steps = seen = passes = 0
    run_loss = run_n = 0.0
    history = []
    while time.time() - t1 < budget:
        chunks = [by_len[i : i + cfg["batch"]] for i in range(0, len(by_len), cfg["batch"])]
        rng.shuffle(chunks)
        for ch in chunks:
            if time.time() - t1 >= budget:
                break
            loss, m = net.loss(*_batch([fit[i] for i in ch]))
            opt.zero_grad()
            (loss / m).backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            steps += 1
            if frozen and steps == warm_steps:  # softmax layers fitted: train everything
                for q in frozen:
                    q.requires_grad_(True)
                frozen = []
            seen += m // 2
            run_loss, run_n = run_loss + float(loss.detach()), run_n + m
            if steps % 500 == 0:
                rec = {"step": steps, "chars_seen": seen, "train_bpc": round(run_loss / run_n / np.log(2), 3),
                       "dev_bpc": round(dev_bpc(), 3), "s": round(time.time() - t1)}
                history.append(rec)
                log(json.dumps(rec))
                run_loss = run_n = 0.0
        else:
            passes += 1
    train_s = time.time() - t1
    total = {"train_s": done["train_s"] + train_s, "chars_seen": done["chars_seen"] + seen,
             "steps": done["steps"] + steps}
    report = {"train_s": round(train_s, 1), "prep_s": round(prep_s, 1), "steps": steps,
              "chars_seen": seen, "passes": passes, "dev_bpc": round(dev_bpc(), 3),
              "corpus_chars": int(sum(map(len, fit))), "resumed": str(resume) if resume else None,
              "init": str(init) if init else None,
              "total": {k: round(v, 1) for k, v in total.items()}, **cfg}
    report["size_bytes"] = export(net, chars, report, out)
    torch.save({"model": net.state_dict(), "opt": opt.state_dict(), "chars": list(chars), "cfg": cfg,
                "done": total}, Path(str(out) + ".pt"))
    report["history"] = history
    return report


def main(argv: Sequence[str] | None = None) -> None:  # pragma: no cover
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--limit", type=int, default=None, help="articles read (default: all)")
    ap.add_argument("--resume", type=Path, default=None, help="checkpoint OUT.pt of an earlier run")
    ap.add_argument("--init", type=Path, default=None,
                    help="exported LM file to start from (softmax layers re-fitted first)")
    ap.add_argument("--warm-steps", type=int, default=300)
    for k, v in DEFAULTS.items():
        ap.add_argument("--" + k.replace("_", "-"), type=type(v), default=v)
    args = ap.parse_args(argv)
    rep = run(args.corpus, args.out, args.limit, resume=args.resume, init=args.init,
              warm_steps=args.warm_steps,
              **{k: getattr(args, k) for k in DEFAULTS})
    print(json.dumps({k: v for k, v in rep.items() if k != "history"}, indent=2))


if __name__ == "__main__":  # pragma: no cover
    main()
