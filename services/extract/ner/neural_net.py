"""The BiLSTM-CRF network of :mod:`services.extract.ner.neural` run with numpy only (no torch at
run time): weights from the exported ``.npz``, the forward pass, Viterbi decoding and
forward-backward marginals.

It mirrors the torch modules of :mod:`services.extract.ner.training.neural_train` exactly:

* per token: word embeddings of the normalised form and of the form without proclitics, a
  character CNN (max-pooled), embeddings of the three word-cluster ids and the multi-hot clues
  (:mod:`services.extract.ner.neural_features`);
* one bidirectional LSTM layer (PyTorch gate order i, f, g, o), batched over sentences;
* a linear layer to BIO tag scores and a linear-chain CRF.

:class:`EnsembleNet` averages the emissions and transitions of several networks trained with
different seeds (a model file written by ``neural_train merge``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp
from scipy.sparse import _sparsetools  # csr_matvecs: Y += A @ X in place

from services.extract.ner.neural_features import PAD  # character id of padding


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    m = a.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(a - m).sum(axis=axis, keepdims=True))).squeeze(axis)


class BiLstmCrf:
    """The exported network (weights from an ``.npz``) with numpy forward, Viterbi and marginals."""

    def __init__(self, params: Mapping) -> None:
        p = {k: np.asarray(v, np.float32) for k, v in params.items() if k != "lm_width"}
        # width of the character-LM features (services.extract.ner.charlm; 0: none): input rows
        # between the context-free word part and the multi-hot clues
        self.n_lm = int(params.get("lm_width", 0))
        self.p = p
        # input rows of the distinct words seen (see _input_rows): word -> row of _store
        self._rows: dict[str, int] = {}
        self._store: np.ndarray | None = None
        self._taps: list[np.ndarray] | None = None  # the char CNN's taps as tables (_char_features)
        if "lstm_w_ih" in p:
            H = p["lstm_w_hh"].shape[1]
            self.H = H
            # gates reordered from PyTorch's i f g o to i f o g, so the three sigmoid gates are
            # side by side; sigmoid(z) = (1 + tanh(z / 2)) / 2: halve the i, f, o rows so one
            # tanh serves all gates
            order = np.r_[0 : 2 * H, 3 * H : 4 * H, 2 * H : 3 * H]
            half = np.full(4 * H, 0.5, np.float32)
            half[3 * H :] = 1.0

            def gates(w: np.ndarray) -> np.ndarray:
                return w[order] * (half[:, None] if w.ndim == 2 else half)

            w_ih = np.concatenate([gates(p["lstm_w_ih"]), gates(p["lstm_w_ih_r"])])
            self.w_ih = np.ascontiguousarray(w_ih.T)  # (D, 8H)
            self.b_ih = np.concatenate([gates(p["lstm_b"]), gates(p["lstm_b_r"])])
            self.whh_f = np.ascontiguousarray(gates(p["lstm_w_hh"]).T)  # (H, 4H) forward
            self.whh_b = np.ascontiguousarray(gates(p["lstm_w_hh_r"]).T)  # (H, 4H) backward
            k = p["conv_w"].shape[2]
            self.k = k
            self.conv_w = np.ascontiguousarray(p["conv_w"].transpose(2, 1, 0).reshape(-1, p["conv_w"].shape[0]))
            # rows of the input weights that the multi-hot clues read (the last input features)
            self._n_word = (2 * p["word_emb"].shape[1] + p["conv_w"].shape[0]
                            + sum(p[f"cl{j}_emb"].shape[1] for j in range(3)))
            self._n_flags = self.w_ih.shape[0] - self._n_word - self.n_lm
            self._w_fl = np.ascontiguousarray(self.w_ih[-self._n_flags:])
            self._w_lm = np.ascontiguousarray(self.w_ih[self._n_word : self._n_word + self.n_lm])

    def _char_features(self, ch: np.ndarray) -> np.ndarray:
        """Max-pooled ReLU char-CNN features of (N, L) character ids -> (N, F).

        The convolution is linear in the character embeddings, so each of its ``k`` taps is a
        table of ``(characters + 1, F)`` (the embedding table times the tap's weights, a last
        row of zeros for the positions beyond the word): a window's value is the sum of ``k``
        table rows, no ``(N, L, kC)`` window array and no matrix product per character."""
        taps = self._taps
        if taps is None:
            p = self.p
            C = p["char_emb"].shape[1]
            emb = np.concatenate([p["char_emb"], np.zeros((1, C), np.float32)])
            taps = [np.ascontiguousarray(emb @ self.conv_w[j * C : (j + 1) * C]) for j in range(self.k)]
            # the padding of a short word is no window's centre: its centre row sinks the
            # window below every real one (as the mask to -1e4 did); as a neighbour it reads
            # the padding's embedding, as in training
            taps[self.k // 2][PAD] = -1e4
            taps[self.k // 2] += p["conv_b"]  # the bias once per window
            self._taps = taps
        N, L = ch.shape
        half = self.k // 2
        beyond = len(taps[0]) - 1  # the row of zeros
        chp = np.full((N, L + 2 * half), beyond, np.int64)
        chp[:, half : half + L] = ch
        out = np.empty((N, taps[0].shape[1]), np.float32)
        for a in range(0, N, 256):  # in slices that stay in the cache
            win = chp[a : a + 256]
            conv = taps[half][win[:, half : half + L]]
            for j in range(self.k):
                if j != half:
                    conv += taps[j][win[:, j : j + L]]
            conv.max(axis=1, out=out[a : a + 256])
        np.maximum(out, 0.0, out=out)
        return out

    #: distinct words whose input rows :meth:`_input_rows` remembers (8H float32 each: 3 KB at
    #: H = 96, so at most about 92 MB); when full it starts again
    STORE_WORDS = 30_000

    def _input_rows(self, batch: Mapping) -> np.ndarray:
        """``(U, 8H)`` float32: the context-free part of the LSTM's input projection of each
        distinct word of a packed batch (``ukeys``, ``uw``, ``unp``, ``uch``, ``ucl``): its word
        embeddings, character-CNN features and cluster embeddings times the input weights, plus
        the input bias.

        Every part is a function of the word's normalised form (the proclitic-free form and the
        clusters are derived from it), so the form (``ukeys``) is the key. Remembered per word
        across batches (:attr:`STORE_WORDS` at most, in one preallocated
        array): a word seen before costs a row copy, a new one its CNN and its projection.
        The numbers of projecting them all up to float32 rounding (BLAS may sum a row's dot
        products in another order when it is projected among other rows)."""
        keys = batch["ukeys"]
        rows = self._rows
        idx = np.fromiter(map(rows.get, keys, (-1,) * len(keys)), np.int64, len(keys))
        miss = np.flatnonzero(idx < 0)
        if len(miss):
            if self._store is None or len(self._store) != self.STORE_WORDS:
                self._store = np.empty((self.STORE_WORDS, self.w_ih.shape[1]), np.float32)
                rows.clear()
                miss = np.arange(len(keys))
            if len(rows) + len(miss) > self.STORE_WORDS:
                rows.clear()
                miss = np.arange(len(keys))
            if len(miss) > self.STORE_WORDS:  # a batch larger than the store: not remembered
                return self._project(batch, miss)
            first = len(rows)
            at = np.arange(first, first + len(miss))
            self._store[at] = self._project(batch, miss)
            idx[miss] = at
            for j, r in zip(miss.tolist(), at.tolist(), strict=True):
                rows[keys[j]] = r
        return self._store[idx]

    def _project(self, batch: Mapping, which: np.ndarray) -> np.ndarray:
        """:meth:`_input_rows` of the distinct words ``which`` of the batch, computed."""
        p = self.p
        xu = np.concatenate([p["word_emb"][batch["uw"][which]], p["word_emb"][batch["unp"][which]],
                             self._char_features(batch["uch"][which]),
                             *[p[f"cl{j}_emb"][batch["ucl"][which, j]] for j in range(3)]], axis=-1)
        rows = xu @ self.w_ih[: self._n_word]
        rows += self.b_ih  # the input bias once per word, not once per token
        return rows

    def emissions(self, batch: Mapping[str, np.ndarray]) -> np.ndarray:
        p = self.p
        mask = batch["mask"]
        B, T = mask.shape
        H = self.H
        if "uch" in batch:
            # context-free part of the input once per distinct word, then per-token clues
            xi = self._input_rows(batch)[batch["u"]]
            if self.n_lm:
                xi += batch["lm"] @ self._w_lm
            xi += batch["fl"] @ self._w_fl
        else:
            chf = self._char_features(batch["ch"].reshape(B * T, -1)).reshape(B, T, -1)
            lm = [batch["lm"]] if self.n_lm else []
            x = np.concatenate([p["word_emb"][batch["w"]], p["word_emb"][batch["np"]], chf,
                                *[p[f"cl{j}_emb"][batch["cl"][..., j]] for j in range(3)],
                                *lm, batch["fl"]], axis=-1)
            xi = x @ self.w_ih + self.b_ih  # (B, T, 8H): forward gates then backward gates
        maskf = mask.astype(np.float32)[..., None]
        h = np.zeros((B, 2 * H), np.float32)
        c = np.zeros((B, 2 * H), np.float32)
        out = np.zeros((B, T, 2 * H), np.float32)
        H4 = 4 * H
        for t in range(T):
            r = T - 1 - t  # the backward direction walks from the end
            g = np.concatenate([h[:, :H] @ self.whh_f, h[:, H:] @ self.whh_b], axis=1)
            g[:, :H4] += xi[:, t, :H4]
            g[:, H4:] += xi[:, r, H4:]
            a = np.tanh(g, out=g)
            # columns: [i f o g] forward, [i f o g] backward; sigmoid(z) = (1 + tanh(z/2)) / 2
            af, ab = a[:, :H4], a[:, H4:]
            cf = c[:, :H]
            cf *= 0.5 * (1 + af[:, H : 2 * H])
            cf += 0.5 * (1 + af[:, :H]) * af[:, 3 * H :]
            cb = c[:, H:]
            cb *= 0.5 * (1 + ab[:, H : 2 * H])
            cb += 0.5 * (1 + ab[:, :H]) * ab[:, 3 * H :]
            # right padding: forward states past the end are never read; the backward state
            # stays zero until the sentence's last token
            cb *= maskf[:, r]
            h[:, :H] = 0.5 * (1 + af[:, 2 * H : 3 * H]) * np.tanh(cf)
            h[:, H:] = 0.5 * (1 + ab[:, 2 * H : 3 * H]) * np.tanh(cb)
            out[:, t, :H] = h[:, :H]
            out[:, r, H:] = h[:, H:]
        return out @ p["out_w"].T + p["out_b"]

    def packed_emissions(self, batch: Mapping) -> np.ndarray:
        """Tag scores ``(N, K)`` float32 of the N tokens of a :func:`pack_batch` batch, in its
        token order (sentences by decreasing length, concatenated).

        The same numbers as :meth:`emissions` without padding: the LSTM runs both directions
        over all the sentences at once, one matrix product per direction and time step for the
        ``steps[t]`` sentences still running (the forward one reads token ``t`` of each, the
        backward one token ``length - 1 - t``); the multi-hot clues enter as a sparse product,
        the character-LM features (``batch["lm"]`` (N, n_lm) float32, when the network reads
        them) as a dense one."""
        p = self.p
        H, H4 = self.H, 4 * self.H
        lengths, offsets, steps = batch["lengths"], batch["offsets"], batch["steps"]
        N = int(lengths.sum())
        nf = self._n_flags
        G = self.w_ih.shape[1]  # 8H
        xi = self._input_rows(batch)[batch["u"]]
        fl = sp.csr_matrix((np.ones(len(batch["fl_indices"]), np.float32), batch["fl_indices"],
                            batch["fl_indptr"]), shape=(N, nf))
        # xi += fl @ w_fl, accumulated in place (what scipy's csr @ dense runs, into a new array);
        # ravel() must be a view for that: xi is a fresh C-contiguous array
        assert xi.flags.c_contiguous
        _sparsetools.csr_matvecs(N, nf, G, fl.indptr, fl.indices, fl.data, self._w_fl.ravel(),
                                 xi.ravel())
        if self.n_lm:  # contextual string embeddings (N, n_lm), in the batch's token order
            xi += batch["lm"] @ self._w_lm
        # time-major token indices: step t covers the first steps[t] sentences
        T = len(steps)
        starts = np.zeros(T + 1, np.int64)
        np.cumsum(steps, out=starts[1:])
        live = np.arange(starts[-1]) - np.repeat(starts[:-1], steps)  # sentence of each entry
        t_of = np.repeat(np.arange(T), steps)
        idx_f = offsets[live] + t_of
        idx_b = offsets[live] + lengths[live] - 1 - t_of
        # time-major inputs: row starts[t] + b holds sentence b's forward gates at token t and
        # its backward gates at token length - 1 - t
        xf = xi[idx_f, :H4]
        xb = xi[idx_b, H4:]
        del xi, fl  # (N, 8H) float32: not read again (freed before the loop's own arrays)
        B = len(lengths)
        h = np.zeros((B, 2 * H), np.float32)
        c = np.zeros((B, 2 * H), np.float32)
        o = np.empty((N, 2 * H), np.float32)  # time-major states, both directions
        g = np.empty((B, 8 * H), np.float32)
        # both directions' gates side by side, seen as (n, direction, gate, H): each elementwise
        # step below is one numpy call for both directions (the same arithmetic per element)
        g4 = g.reshape(B, 2, 4, H)
        c3 = c.reshape(B, 2, H)
        h3 = h.reshape(B, 2, H)
        tmp = np.empty((B, 2, H), np.float32)
        for t in range(T):
            n, s = int(steps[t]), int(starts[t])
            gt = g[:n]
            np.matmul(h[:n, :H], self.whh_f, out=gt[:, :H4])
            np.matmul(h[:n, H:], self.whh_b, out=gt[:, H4:])
            gt[:, :H4] += xf[s : s + n]
            gt[:, H4:] += xb[s : s + n]
            np.tanh(gt, out=gt)
            # gates i f o g; sigmoid(z) = (1 + tanh(z/2)) / 2 (the i, f, o rows were halved)
            a4, cn, tn = g4[:n], c3[:n], tmp[:n]
            sg = a4[:, :, :3]
            sg += 1
            sg *= 0.5
            cn *= a4[:, :, 1]
            np.multiply(a4[:, :, 0], a4[:, :, 3], out=tn)
            cn += tn
            hn = h3[:n]
            np.tanh(cn, out=hn)
            hn *= a4[:, :, 2]
            o[s : s + n] = h[:n]
        out = np.empty((N, 2 * H), np.float32)
        out[idx_f, :H] = o[:, :H]
        out[idx_b, H:] = o[:, H:]
        return out @ p["out_w"].T + p["out_b"]

    def packed_decode(self, em: np.ndarray, lengths: np.ndarray, marginals: bool = True
                      ) -> tuple[list[list[int]], list[np.ndarray] | None]:
        """Viterbi tag ids of each sentence of a packed batch (``em`` (N, K) float32 from
        :meth:`packed_emissions`, ``lengths`` (B,) int64 non-increasing, each >= 1) and, with
        ``marginals``, its ``(length, K)`` float32 CRF marginals; sentences in the batch's order.

        The recursions of :meth:`viterbi` (same paths) and of :meth:`marginals` (by
        :meth:`_scaled_marginals`: the same up to float32 rounding), time-major:
        step ``t`` updates only the sentences still running (a prefix of the batch), and the
        back-pointers are followed for all sentences at once."""
        trans, start, end = self.p["trans"], self.p["start"], self.p["end"]
        B, T, K = len(lengths), int(lengths[0]), em.shape[1]
        offsets = np.zeros(B, np.int64)
        np.cumsum(lengths[:-1], out=offsets[1:])
        live = np.arange(T)[:, None] < lengths[None, :]  # (T, B)
        steps = live.sum(axis=1)
        tt, bb = np.nonzero(live)
        e = np.zeros((T, B, K), np.float32)
        e[tt, bb] = em[offsets[bb] + tt]
        # Viterbi
        score = start + e[0]
        back = np.zeros((T, B, K), np.int64)
        to_from = np.ascontiguousarray(trans.T)  # (to, from): the maximum over the last axis
        for t in range(1, T):
            n = int(steps[t])
            cand = score[:n, None, :] + to_from[None]
            best = cand.argmax(axis=2)
            score[:n] = np.take_along_axis(cand, best[:, :, None], axis=2)[:, :, 0] + e[t, :n]
            back[t, :n] = best
        tags = np.zeros((B, T), np.int64)
        cur = (score + end).argmax(axis=1)
        rows = np.arange(B)
        tags[rows, lengths - 1] = cur
        for t in range(T - 1, 0, -1):
            n = int(steps[t])
            cur[:n] = back[t, rows[:n], cur[:n]]
            tags[rows[:n], t - 1] = cur[:n]
        paths = [tags[b, : int(lengths[b])].tolist() for b in range(B)]
        if not marginals:
            return paths, None
        mg = self._scaled_marginals(e, lengths, steps, tt, bb)
        if mg is None:  # a scale fell to zero (or overflowed): the log-space recursions
            mg = self._log_marginals(e, lengths, steps)
        return paths, [mg[: int(lengths[b]), b] for b in range(B)]

    def _scaled_marginals(self, e: np.ndarray, lengths: np.ndarray, steps: np.ndarray,
                          tt: np.ndarray, bb: np.ndarray) -> np.ndarray | None:
        """CRF marginals ``(T, B, K)`` float32 of time-major emissions ``e`` (zeros past each
        sentence's end; ``tt``/``bb`` the live (step, sentence) pairs) by the scaled
        forward-backward recursions in probability space (Rabiner 1989, section V.A): per step
        one ``(n, K) @ (K, K)`` product with ``exp(trans)`` and a renormalisation, instead of a
        log-sum-exp over ``(n, K, K)``. Emissions enter as ``exp(e - max_k e)``, so nothing
        overflows; ``None`` if a scale is not a positive finite number (the caller then runs
        :meth:`_log_marginals`). Equal to those up to float32 rounding (about 1e-6)."""
        trans, start, end = self.p["trans"], self.p["start"], self.p["end"]
        T, B, K = e.shape
        A = np.exp(trans)
        E = np.exp(e - e.max(axis=2, keepdims=True))
        alpha = np.zeros((T, B, K), np.float32)
        a0 = np.exp(start - start.max()) * E[0]
        alpha[0] = a0 / a0.sum(axis=1, keepdims=True)
        for t in range(1, T):
            n = int(steps[t])
            a = alpha[t - 1, :n] @ A
            a *= E[t, :n]
            a /= a.sum(axis=1, keepdims=True)
            alpha[t, :n] = a
        beta = np.zeros((T, B, K), np.float32)
        beta[lengths - 1, np.arange(B)] = np.exp(end - end.max())
        AT = np.ascontiguousarray(A.T)
        for t in range(T - 2, -1, -1):
            n = int(steps[t + 1])
            b = (E[t + 1, :n] * beta[t + 1, :n]) @ AT
            b /= b.sum(axis=1, keepdims=True)
            beta[t, :n] = b
        v = alpha[tt, bb] * beta[tt, bb]
        tot = v.sum(axis=1, keepdims=True)
        if not (np.isfinite(alpha).all() and np.isfinite(beta).all() and (tot > 0).all()):
            return None
        mg = np.zeros((T, B, K), np.float32)
        mg[tt, bb] = v / tot
        return mg

    def _log_marginals(self, e: np.ndarray, lengths: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """CRF marginals ``(T, B, K)`` float32 of time-major emissions by the forward-backward
        recursions in log space (what :meth:`marginals` computes, per step of a packed batch)."""
        trans, start, end = self.p["trans"], self.p["start"], self.p["end"]
        T, B, K = e.shape
        rows = np.arange(B)
        alpha = np.zeros((T, B, K), np.float32)
        alpha[0] = start + e[0]
        for t in range(1, T):
            n = int(steps[t])
            alpha[t, :n] = _logsumexp(alpha[t - 1, :n, :, None] + trans[None], axis=1) + e[t, :n]
        beta = np.zeros((T, B, K), np.float32)
        beta[lengths - 1, rows] = end
        for t in range(T - 2, -1, -1):
            n = int(steps[t + 1])
            beta[t, :n] = _logsumexp(trans[None] + (e[t + 1, :n] + beta[t + 1, :n])[:, None, :], axis=2)
        z = _logsumexp(alpha[lengths - 1, rows] + end, axis=1)
        mg = np.exp(alpha + beta - z[None, :, None])
        return mg

    def viterbi(self, em: np.ndarray, mask: np.ndarray) -> list[list[int]]:
        trans, start, end = self.p["trans"], self.p["start"], self.p["end"]
        B, T, K = em.shape
        score = start + em[:, 0]
        back = np.zeros((B, T, K), np.int64)
        for t in range(1, T):
            cand = score[:, :, None] + trans[None]  # (B, from, to)
            best = cand.argmax(axis=1)
            new = np.take_along_axis(cand, best[:, None, :], axis=1)[:, 0] + em[:, t]
            m = mask[:, t : t + 1]
            score = np.where(m, new, score)
            back[:, t] = best
        lengths = mask.sum(axis=1)
        out = []
        final = score + end
        for b in range(B):
            n = int(lengths[b])
            tag = int(final[b].argmax())
            path = [tag]
            for t in range(n - 1, 0, -1):
                tag = int(back[b, t, tag])
                path.append(tag)
            out.append(path[::-1])
        return out

    def marginals(self, em: np.ndarray, mask: np.ndarray) -> np.ndarray:
        trans, start, end = self.p["trans"], self.p["start"], self.p["end"]
        B, T, K = em.shape
        alpha = np.zeros((B, T, K), np.float32)
        alpha[:, 0] = start + em[:, 0]
        for t in range(1, T):
            new = _logsumexp(alpha[:, t - 1, :, None] + trans[None], axis=1) + em[:, t]
            alpha[:, t] = np.where(mask[:, t : t + 1], new, alpha[:, t - 1])
        beta = np.zeros((B, T, K), np.float32)
        lengths = mask.sum(axis=1)
        beta[np.arange(B), lengths - 1] = end
        for t in range(T - 2, -1, -1):
            new = _logsumexp(trans[None] + (em[:, t + 1] + beta[:, t + 1])[:, None, :], axis=2)
            inside = (t < lengths - 1)[:, None]
            beta[:, t] = np.where(inside, new, beta[:, t])
        z = _logsumexp(alpha[np.arange(B), lengths - 1] + end, axis=1)
        return np.exp(alpha + beta - z[:, None, None])



class EnsembleNet:
    """Several BiLSTM-CRFs over the same inputs: mean emissions and mean CRF transitions."""

    def __init__(self, members: Sequence[Mapping]) -> None:
        self.nets = [BiLstmCrf(m) for m in members]
        self.crf = BiLstmCrf({k: np.mean([np.asarray(m[k], np.float32) for m in members], axis=0)
                              for k in ("trans", "start", "end")})

    def emissions(self, batch: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.mean([n.emissions(batch) for n in self.nets], axis=0)

    def packed_emissions(self, batch: Mapping) -> np.ndarray:
        return np.mean([n.packed_emissions(batch) for n in self.nets], axis=0)

    def packed_decode(self, em: np.ndarray, lengths: np.ndarray, marginals: bool = True):
        return self.crf.packed_decode(em, lengths, marginals)

    def viterbi(self, em: np.ndarray, mask: np.ndarray) -> list[list[int]]:
        return self.crf.viterbi(em, mask)

    def marginals(self, em: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.crf.marginals(em, mask)
