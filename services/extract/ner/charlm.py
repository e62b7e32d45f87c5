"""Contextual string embeddings of tokens from two character language models, run with numpy.

Akbik, Blythe & Vollgraf, "Contextual String Embeddings for Sequence Labeling", COLING 2018:
a forward and a backward character-level LSTM language model read the sentence as one string of
characters; the embedding of a word is the forward model's hidden state after the word's last
character concatenated with the backward model's hidden state after (in its reading direction,
i.e. before in the text) the word's first character.

Here the models are small (one LSTM layer each, trained by
:mod:`services.extract.ner.training.charlm_train` on the normalised ANT news corpus) and the
string a sentence is read as is :func:`sentence_string`: the normalised tokens
(:func:`services.extract.ner.features.normalize`, what the tagger's word features see) joined by
single spaces, with a space on either side. :class:`CharLM` runs both directions over a whole
batch of sentences at once: one matrix product per direction and time step for the sentences
still running (longest first), as :meth:`BiLstmCrf.packed_emissions` does for the word LSTM.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

#: character id of padding / of a character outside the model's alphabet
PAD, UNK = 0, 1


def sentence_string(norms: Sequence[str]) -> tuple[str, np.ndarray, np.ndarray]:
    """The string a sentence is read as and where its tokens are in it.

    ``norms``: the sentence's normalised tokens (non-empty strings). Returns ``(text, starts,
    ends)``: ``text = " " + " ".join(norms) + " "``; ``starts[i]`` (int64) the index in ``text`` of
    token i's first character, ``ends[i]`` the index of its last character (inclusive)."""
    lens = np.fromiter(map(len, norms), np.int64, len(norms))
    starts = np.ones(len(norms), np.int64)
    if len(norms) > 1:
        starts[1:] += np.cumsum(lens[:-1] + 1)
    return " " + " ".join(norms) + " ", starts, starts + lens - 1


class CharLM:
    """A forward and a backward one-layer character LSTM language model (numpy inference).

    ``params``: the arrays :func:`training.charlm_train.export` writes (``neural_train --charlm``
    copies them into the tagger's ``.npz`` with the prefix ``lm_``): ``chars`` (V,) the alphabet
    (ids 0 and 1 are padding and unknown), ``emb`` (V, E), and per direction ``d`` in ``("f", "b")``: ``w_ih_d``
    (4H, E), ``w_hh_d`` (4H, H), ``b_d`` (4H,) (PyTorch's gate order i, f, g, o; the two biases
    summed). The character embedding and the input weights are folded into one table per
    direction, ``(V, 4H)``, so a time step is one ``(n, H) @ (H, 4H)`` product per direction."""

    def __init__(self, params: Mapping) -> None:
        chars = [str(c) for c in params["chars"]]
        self.index = {c: i for i, c in enumerate(chars) if i > UNK}
        emb = np.asarray(params["emb"], np.float32)
        H = int(np.asarray(params["w_hh_f"]).shape[1])
        self.H = H
        half = np.full(4 * H, 0.5, np.float32)  # sigmoid(z) = (1 + tanh(z / 2)) / 2
        half[2 * H : 3 * H] = 1.0
        self.table, self.whh = [], []
        for d in ("f", "b"):
            w_ih = np.asarray(params[f"w_ih_{d}"], np.float32)
            b = np.asarray(params[f"b_{d}"], np.float32)
            self.table.append(np.ascontiguousarray((emb @ w_ih.T + b) * half))  # (V, 4H)
            self.whh.append(np.ascontiguousarray((np.asarray(params[f"w_hh_{d}"], np.float32)
                                                  * half[:, None]).T))  # (H, 4H)

    @property
    def dim(self) -> int:
        """Width of a token's embedding: 2 H (forward state, then backward state)."""
        return 2 * self.H

    def char_ids(self, text: str) -> np.ndarray:
        """int64 ids of the characters of ``text`` (:data:`UNK` outside the alphabet)."""
        get = self.index.get
        return np.fromiter((get(c, UNK) for c in text), np.int64, len(text))

    def states(self, texts: Sequence[str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Hidden states of both models over each string: per text ``(fwd, bwd)`` float32 arrays
        of shape ``(len(text), H)``; ``fwd[j]`` is the forward state after reading
        ``text[:j + 1]``, ``bwd[j]`` the backward state after reading ``text[j:]`` from the end.

        All texts run together (time-major, longest first, one matrix product per direction and
        step); memory about ``8 H`` bytes per character of the batch. Empty texts give ``(0, H)``
        arrays. Characters outside the alphabet read as :data:`UNK` (no error)."""
        H, H4 = self.H, 4 * self.H
        lens = np.fromiter(map(len, texts), np.int64, len(texts))
        order = np.argsort(-lens, kind="stable")
        slen = lens[order]
        B = int((slen > 0).sum())
        fwd_out = [np.zeros((int(n), H), np.float32) for n in lens]
        bwd_out = [np.zeros((int(n), H), np.float32) for n in lens]
        if B == 0:
            return fwd_out, bwd_out
        slen = slen[:B]
        T = int(slen[0])
        ids = np.zeros((B, T), np.int64)
        for r, i in enumerate(order[:B].tolist()):
            ids[r, : lens[i]] = self.char_ids(texts[i])
        steps = (slen[None, :] > np.arange(T)[:, None]).sum(axis=1)  # running texts per step
        rows = np.arange(B)
        offs = np.zeros(B, np.int64)  # where each running text starts in the flat outputs
        np.cumsum(slen[:-1], out=offs[1:])
        flat = np.zeros((2, int(slen.sum()), H), np.float32)  # (direction, character, H)
        for d in (0, 1):
            table, whh, fo = self.table[d], self.whh[d], flat[d]
            h = np.zeros((B, H), np.float32)
            c = np.zeros((B, H), np.float32)
            g = np.empty((B, H4), np.float32)
            tmp = np.empty((B, H), np.float32)
            for t in range(T):
                n = int(steps[t])
                # forward reads position t; backward reads position len - 1 - t
                pos = np.full(n, t, np.int64) if d == 0 else slen[:n] - 1 - t
                x = table[ids[rows[:n], pos]]
                gt, cn, hn, tn = g[:n], c[:n], h[:n], tmp[:n]
                np.matmul(hn, whh, out=gt)
                gt += x
                np.tanh(gt, out=gt)
                np.add(gt[:, H : 2 * H], 1, out=tn)
                tn *= 0.5
                cn *= tn
                np.add(gt[:, :H], 1, out=tn)
                tn *= 0.5
                tn *= gt[:, 2 * H : 3 * H]
                cn += tn
                np.add(gt[:, 3 * H :], 1, out=tn)
                tn *= 0.5
                np.tanh(cn, out=hn)
                hn *= tn
                fo[offs[:n] + pos] = hn
        for r, i in enumerate(order[:B].tolist()):
            a, n = int(offs[r]), int(lens[i])
            fwd_out[i] = flat[0, a : a + n]
            bwd_out[i] = flat[1, a : a + n]
        return fwd_out, bwd_out

    def embed(self, sentences: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Contextual string embeddings (Akbik et al. 2018) of the tokens of each sentence.

        ``sentences``: lists of normalised tokens (:func:`features.normalize`; non-empty
        strings). Returns per sentence a float32 array ``(n_tokens, 2 H)``: the forward state
        after the token's last character, then the backward state after reading back to its
        first character. An empty sentence gives a ``(0, 2 H)`` array."""
        strings = [sentence_string(s) for s in sentences]
        fwd, bwd = self.states([x[0] for x in strings])
        return [np.concatenate([f[e], b[s]], axis=1)
                for (_, s, e), f, b in zip(strings, fwd, bwd, strict=True)]


def load_prefixed(z: Mapping, prefix: str = "lm_") -> CharLM | None:
    """The :class:`CharLM` stored in a model file under ``prefix`` (``lm_chars``, ``lm_emb``,
    ``lm_w_ih_f`` ...), or None when the file has none. ``z``: an open ``np.load`` mapping."""
    keys = [k for k in getattr(z, "files", z) if k.startswith(prefix)]
    if not keys:
        return None
    return CharLM({k[len(prefix):]: z[k] for k in keys})
