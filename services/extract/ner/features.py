"""Token features of the offline recognizers (the BiLSTM-CRF, the default, and the CRF): Arabic
normalisation, clitic stripping, affixes, word shape, context, gazetteer matches, cue words and
word clusters.

Everything here is pure Python and works on one sentence (a list of token strings) at a time;
:func:`sentence_features` is the single entry point used by training, evaluation and tagging.
"""

from __future__ import annotations

import re
from functools import lru_cache
from collections.abc import Mapping, Sequence

from shared.arabic import ARABIC_MARKS, fold_table

# --------------------------------------------------------------------------- normalisation
# The features' fold is a SUBSET of shared.arabic's one table (every replacement comes from it,
# see :func:`shared.arabic.fold_table`): Arabic marks and tatweel deleted, the alef forms → ا,
# ى → ي, ة → ه, Arabic-Indic digits → ASCII; then ``str.lower``. The shipped models were trained
# on exactly this fold, so it does NOT take the rest of the table (hamza ء ؤ ئ, Persian/Urdu
# letters, punctuation, invisible marks, spaces): ``normalize`` here differs from
# ``shared.arabic.normalize`` on those, by design (tests/unit/test_ner_folds.py checks both the
# subset and that the fold is the one the models were trained with).

FOLD_CHARS = (ARABIC_MARKS + "\u0623\u0625\u0622\u0671"  # أ إ آ ٱ
              + "\u0649\u0629"                             # ى ة
              + "٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹")
_FOLD = fold_table(FOLD_CHARS)


def normalize(word: str) -> str:
    """Orthographic key of a word: diacritics and tatweel off, alef/yeh/teh-marbuta folded,
    Arabic-Indic digits to ASCII, lowercased (the :data:`FOLD_CHARS` part of the shared table)."""
    return word.translate(_FOLD).lower()


# Conjunction / preposition / article prefixes, longest first (normalised forms).
_PREFIXES = (
    "وبال", "وكال", "وفال", "فبال", "وللـ", "ولل", "فلل", "وال", "فال", "بال", "كال", "لل",
    "ال", "و", "ف", "ب", "ل", "ك",
)
_SUFFIXES = ("كما", "هما", "هم", "هن", "كم", "ها", "ات", "ون", "ين", "ان", "يه", "ه", "ي")


@lru_cache(maxsize=200_000)
def strip_prefix(norm: str) -> str:
    """Normalised word without its conjunction/preposition/article proclitics (stem ≥ 3 letters)."""
    for p in _PREFIXES:
        if norm.startswith(p) and len(norm) - len(p) >= 3:
            return norm[len(p):]
    return norm


def stem(norm: str) -> str:
    """Light stem: proclitics then one common suffix off (keeps at least 2 letters)."""
    s = strip_prefix(norm)
    for suf in _SUFFIXES:
        if s.endswith(suf) and len(s) - len(suf) >= 2:
            return s[: -len(suf)]
    return s


# --------------------------------------------------------------------------- tokenisation

_WORD = "[\\w\u0610-\u061a\u064b-\u065f\u0670\u0640]"
_TOKEN = re.compile(f"\\d+(?:[.,٫]\\d+)+|{_WORD}+|[^\\s\\w]", re.UNICODE)


def tokenize(text: str) -> list[tuple[int, int]]:
    """Word spans ``(start, end)`` of ``text``: letter/digit runs; each punctuation mark alone."""
    return [m.span() for m in _TOKEN.finditer(text)]


_SENT_END = frozenset(".!?؟\n")


def sentence_spans(text: str, spans: Sequence[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """Split token spans into sentences after ``. ! ? ؟`` tokens and at newlines (max 150 tokens)."""
    sents: list[list[tuple[int, int]]] = []
    cur: list[tuple[int, int]] = []
    prev_end = 0
    find = text.find
    for s, e in spans:
        if cur and find("\n", prev_end, s) >= 0:
            sents.append(cur)
            cur = []
        cur.append((s, e))
        prev_end = e
        if (e - s == 1 and text[s] in _SENT_END) or len(cur) >= 150:
            sents.append(cur)
            cur = []
    if cur:
        sents.append(cur)
    return sents


def sentence_tokens(text: str) -> tuple[list[list[tuple[int, int]]], list[list[str]]]:
    """``(sentence_spans(text, tokenize(text)), the tokens as strings)``: per sentence its token
    spans and the matching ``text[start:end]`` strings.

    Made with array operations rather than a step per token: a sentence ends after a one-letter
    ``. ! ? ؟`` token and before a token preceded by a newline (tokens hold no whitespace), and
    a run of more than 150 tokens is cut every 150 (what :func:`sentence_spans` does)."""
    import numpy as np

    ms = list(_TOKEN.finditer(text))
    if not ms:
        return [], []
    spans = list(map(re.Match.span, ms))
    words = list(map(re.Match.group, ms))
    se = np.array(spans, np.int64)
    cuts = set((np.nonzero((se[:, 1] - se[:, 0] == 1)
                           & np.fromiter(map(_SENT_END.__contains__, words), bool, len(words)))[0] + 1).tolist())
    if "\n" in text:
        nl = np.array([m.start() for m in _NEWLINE.finditer(text)], np.int64)
        gap = np.searchsorted(nl, se[1:, 0]) > np.searchsorted(nl, se[:-1, 1])  # a newline between
        cuts.update((np.nonzero(gap)[0] + 1).tolist())
    cuts.discard(len(words))
    bounds = [0, *sorted(cuts), len(words)]
    sents: list[list[tuple[int, int]]] = []
    toks: list[list[str]] = []
    for a, b in zip(bounds, bounds[1:]):
        for c in range(a, b, 150):
            d = min(c + 150, b)
            sents.append(spans[c:d])
            toks.append(words[c:d])
    return sents, toks


_NEWLINE = re.compile("\n")


# --------------------------------------------------------------------------- word shape

_AR = re.compile("[\u0621-\u064a]")
_LATIN = re.compile("[A-Za-z]")
_DIGIT = re.compile(r"\d")


def shape(word: str) -> str:
    """Coarse word class: ``ar``, ``lat``, ``num``, ``mix``, ``ardig`` or ``punct``."""
    ar = bool(_AR.search(word))
    lat = bool(_LATIN.search(word))
    dig = bool(_DIGIT.search(word))
    if ar and dig:
        return "ardig"
    if ar:
        return "ar" if not lat else "mix"
    if lat:
        return "lat" if not dig else "latdig"
    if dig:
        return "num"
    return "punct"


# --------------------------------------------------------------------------- cue words

CUE_PERS = frozenset(normalize(w) for w in (
    "الرئيس", "رئيس", "وزير", "الوزير", "وزيرة", "الملك", "الملكة", "الشيخ", "السيد", "السيدة",
    "الأمير", "الأميرة", "الدكتور", "د", "المهندس", "الأستاذ", "العقيد", "اللواء", "العميد",
    "الجنرال", "الفريق", "المشير", "النائب", "الزعيم", "المتحدث", "الناطق", "السفير", "المستشار",
    "الإمام", "البابا", "الرئيسة", "نائب", "قال", "وقال", "أكد", "وأكد", "أعلن", "وأعلن", "صرح",
    "أضاف", "وأضاف", "المدرب", "اللاعب", "الكاتب", "الشاعر", "الفنان", "الفنانة", "المخرج",
    "الممثل", "الممثلة", "المطرب", "المطربة", "النجم", "النجمة", "السلطان", "القائد", "المرشد",
    "الحاج", "سمو", "جلالة", "فخامة", "معالي", "الرئيسان", "المبعوث", "مساعد", "ابن", "بن", "بنت",
    "أبو", "أبي", "أم", "عبد",
))
CUE_ORG = frozenset(normalize(w) for w in (
    "حركة", "حزب", "وكالة", "شركة", "جامعة", "منظمة", "هيئة", "مجلس", "جمعية", "اتحاد", "مؤسسة",
    "بنك", "مصرف", "صحيفة", "جريدة", "قناة", "تلفزيون", "إذاعة", "جبهة", "جماعة", "لجنة", "نادي",
    "فريق", "منتخب", "معهد", "مركز", "وزارة", "محكمة", "برلمان", "تنظيم", "ائتلاف", "تحالف",
    "مجموعة", "مكتب", "الأمم", "دائرة", "سلطة", "مصلحة", "كلية", "أكاديمية", "مستشفى",
))
CUE_LOC = frozenset(normalize(w) for w in (
    "مدينة", "محافظة", "ولاية", "إقليم", "منطقة", "بلدة", "قرية", "عاصمة", "العاصمة", "جزيرة",
    "جزر", "نهر", "بحر", "جبل", "جبال", "مقاطعة", "مخيم", "حي", "شارع", "ميناء", "مطار", "دولة",
    "بلاد", "في", "إلى", "من", "شمال", "جنوب", "شرق", "غرب", "شمالي", "جنوبي", "شرقي", "غربي",
    "وسط", "قرب", "أنحاء", "سكان", "بلدية", "قضاء", "ناحية", "مملكة", "جمهورية", "إمارة",
))

# --------------------------------------------------------------------------- gazetteers

Gazetteer = Mapping[tuple[str, ...], frozenset[str]]  # token tuple -> {"LOC:ag", "PERS:nr", ...}


@lru_cache(maxsize=200_000)
def _first_variants(w: str) -> tuple[str, ...]:
    """Forms a name-initial token may take in a gazetteer: as is, without proclitics, and with
    the article restored after ``لل`` / ``ل+ال`` (للامم -> الامم)."""
    np_ = strip_prefix(w)
    if np_ == w:
        return (w,)
    pre = w[: len(w) - len(np_)]
    if pre.endswith("ال") or pre.endswith("لل"):
        return (w, np_, "ال" + np_)
    return (w, np_)


_HEADS: dict[int, tuple[object, frozenset[str]]] = {}


def _multiword_heads(gaz: Gazetteer) -> frozenset[str]:
    """First words of the multi-word entries of ``gaz`` (cached per table)."""
    hit = _HEADS.get(id(gaz))
    if hit is None or hit[0] is not gaz:
        hit = (gaz, frozenset(k[0] for k in gaz if len(k) > 1))
        _HEADS[id(gaz)] = hit
        if len(_HEADS) > 16:  # tables are few and long-lived; keep the cache bounded
            _HEADS.pop(next(iter(_HEADS)))
    return hit[1]


_SINGLES: dict[int, tuple[object, dict]] = {}


def _single_matches(gaz: Gazetteer) -> dict:
    """``word -> features`` memo of :func:`_single_hit` for one table (cached per table)."""
    hit = _SINGLES.get(id(gaz))
    if hit is None or hit[0] is not gaz:
        hit = (gaz, {})
        _SINGLES[id(gaz)] = hit
        if len(_SINGLES) > 16:
            _SINGLES.pop(next(iter(_SINGLES)))
    return hit[1]


def _single_hit(w: str, gaz: Gazetteer, heads: frozenset[str]) -> tuple[str, ...] | bool:
    """``False`` when a form of ``w`` starts a multi-word entry (the full search is needed),
    else the ``gzU:`` features its forms give alone, in :func:`gazetteer_matches` order."""
    firsts = _first_variants(w)
    if any(f in heads for f in firsts):
        return False
    seen: list[str] = []
    for first in firsts:
        for k in gaz.get((first,)) or ():
            if k not in seen:
                seen.append(k)
    return tuple("gzU:" + k for k in seen)


def gazetteer_matches(norms: Sequence[str], gaz: Gazetteer, max_len: int) -> list[list[str]]:
    """Per token, gazetteer features ``gz<tag>:<LABEL>:<src>`` of the longest match per key.

    A match may start on a token whose proclitics (و ف ب ل ك, ال) are stripped. ``tag`` is
    ``U`` (single token), ``B``, ``I`` or ``L``.
    """
    n = len(norms)
    out: list[list[str]] = [[] for _ in range(n)]
    if not gaz:
        return out
    heads = _multiword_heads(gaz)
    single = _single_matches(gaz)
    for i in range(n):
        w = norms[i]
        hit = single.get(w)
        if hit is None:
            hit = _single_hit(w, gaz, heads)
            if len(single) < 500_000:
                single[w] = hit
        if hit is not False:  # no multi-word entry starts here: the one-token features alone
            if hit:
                out[i].extend(hit)
            continue
        for j, f in matches_from(norms, i, gaz, max_len, heads):
            out[j].append(f)
    return out


def matches_from(norms: Sequence[str], i: int, gaz: Gazetteer, max_len: int,
                 heads: frozenset[str]) -> list[tuple[int, str]]:
    """The gazetteer features of the matches that start at token ``i`` (where a multi-word
    entry may start), as ``(token index, feature)`` pairs in :func:`gazetteer_matches` order;
    ``heads``: :func:`_multiword_heads` of ``gaz``."""
    n = len(norms)
    found: list[tuple[int, str]] = []
    seen: set[str] = set()
    for first in _first_variants(norms[i]):
        longest = min(max_len, n - i) if first in heads else 1
        for L in range(longest, 0, -1):
            keys = gaz.get((first, *norms[i + 1 : i + L]))
            if not keys:
                continue
            for k in keys:
                if k in seen:
                    continue
                seen.add(k)
                if L == 1:
                    found.append((i, "gzU:" + k))
                else:
                    found.append((i, "gzB:" + k))
                    for j in range(i + 1, i + L - 1):
                        found.append((j, "gzI:" + k))
                    found.append((i + L - 1, "gzL:" + k))
    return found


def single_word_matches(w: str, gaz: Gazetteer) -> tuple[str, ...] | bool:
    """:func:`gazetteer_matches`' features of a token ``w`` that starts no multi-word entry
    (``gzU:`` ones, a tuple), or ``False`` when one may start there (cached per table)."""
    single = _single_matches(gaz)
    hit = single.get(w)
    if hit is None:
        hit = _single_hit(w, gaz, _multiword_heads(gaz))
        if len(single) < 500_000:
            single[w] = hit
    return hit


# --------------------------------------------------------------------------- document context
# Other mentions of the same word in the document (an article, or the neighbouring sentences of
# the training corpus, which has no document boundaries) often carry the decisive clue: the title
# before "فان باستن" in one sentence tells that it is a person in all of them.

DOC_WINDOW = 7  # sentences either side when a corpus has no document boundaries


def _doc_key(norm: str) -> str | None:
    key = strip_prefix(norm)
    return key if len(key) >= 3 and _AR.search(key) or (len(key) >= 2 and _LATIN.search(key)) else None


def local_signals(norms: Sequence[str], gz: Sequence[Sequence[str]]) -> list[tuple[str | None, list[str]]]:
    """Per token: its document key and the clues this mention gives (title/cue word before it,
    the word before it, gazetteer labels)."""
    out: list[tuple[str | None, list[str]]] = []
    for i, w in enumerate(norms):
        key = _doc_key(w)
        if key is None:
            out.append((None, []))
            continue
        sig: list[str] = []
        if i > 0:
            p = norms[i - 1]
            pn = strip_prefix(p)
            sig.append("pv=" + p)
            sig.extend("c" + kind for kind in cue_kinds(p, pn))
        if i + 1 < len(norms):
            sig.append("nx=" + norms[i + 1])
        if w.startswith("ال") or strip_prefix(w) != w:
            sig.append("pre")
        for g in gz[i]:
            sig.append("g" + g.split(":", 2)[1])
        out.append((key, sig))
    return out


def cue_kinds(prev: str, prev_nopre: str) -> list[str]:
    """Which cue lists the previous word (as written or proclitic-stripped) is in:
    a sublist of ``["P", "O", "L"]`` (person titles, organisation heads, place heads)."""
    return [kind for kind, cues in (("P", CUE_PERS), ("O", CUE_ORG), ("L", CUE_LOC))
            if prev in cues or prev_nopre in cues]


def document_contexts(
    sentences: Sequence[Sequence[str]], gaz: Gazetteer | None = None, gaz_max_len: int = 6,
    window: int | None = DOC_WINDOW,
    gzs: Sequence[Sequence[Sequence[str]]] | None = None,
) -> list[dict[str, dict[str, int]]]:
    """For each sentence, ``doc key -> {signal: count}`` over the sentences of its document
    (all of them when ``window`` is None, else ``window`` sentences either side). ``gzs``:
    precomputed :func:`gazetteer_matches` of each sentence."""
    from collections import Counter, defaultdict

    per_sent: list[dict[str, Counter]] = []
    for s_i, toks in enumerate(sentences):
        norms = [word_info(t)[0] for t in toks]
        if gzs is not None:
            gz = gzs[s_i]
        else:
            gz = gazetteer_matches(norms, gaz, gaz_max_len) if gaz else [[] for _ in norms]
        d: dict[str, Counter] = defaultdict(Counter)
        for key, sig in local_signals(norms, gz):
            if key is not None:
                d[key].update(sig)
        per_sent.append(d)
    n = len(per_sent)
    if window is None:
        total: dict[str, Counter] = defaultdict(Counter)
        for d in per_sent:
            for k, c in d.items():
                total[k].update(c)
        return [total] * n
    out = []
    for i in range(n):
        agg: dict[str, Counter] = defaultdict(Counter)
        for d in per_sent[max(0, i - window) : i + window + 1]:
            for k, c in d.items():
                agg[k].update(c)
        out.append(agg)
    return out


# --------------------------------------------------------------------------- sentence features


@lru_cache(maxsize=200_000)
def word_forms(tok: str) -> tuple[str, str, str]:
    """``(normalised, without proclitics, stem)`` of a token."""
    w = normalize(tok)
    return w, strip_prefix(w), stem(w)


@lru_cache(maxsize=200_000)
def word_info(tok: str) -> tuple[str, str, str, tuple[str, ...]]:
    """``(normalised, without proclitics, stem, context-free feature names)`` of a token."""
    w, np_, st = word_forms(tok)
    names = ["b", "w=" + w, "s=" + st, "np=" + np_, "sh=" + shape(tok), "len=" + str(min(len(w), 8))]
    for k in (1, 2, 3, 4):
        if len(w) > k:
            names.append(f"p{k}=" + w[:k])
            names.append(f"x{k}=" + w[-k:])
    if w.startswith("ال"):
        names.append("al")
    if np_ != w:
        names.append("pre=" + w[: len(w) - len(np_)])
    return w, np_, st, tuple(names)


def _corpus_features(w: str, np_: str, cl: Mapping, counts: Mapping[str, int],
                     vectors: Mapping) -> list[tuple[str, float]]:
    """Cluster, vector and corpus-frequency features of a word (context-free)."""
    out: list[tuple[str, float]] = [("c" + c, 1.0) for c in cl.get(w) or ()]
    if np_ != w:
        out.extend(("cn" + c, 1.0) for c in cl.get(np_) or ())
    out.extend(vectors.get(w) or vectors.get(np_) or ())
    if counts:
        c = counts.get(w, 0)
        out.append(("fq=" + str(min(c.bit_length(), 16) // 2), 1.0))
        if not np_.startswith("ال") and len(np_) > 1:
            bare = counts.get(np_, 0)
            al = counts.get("ال" + np_, 0)
            if bare + al >= 5:
                out.append(("alr=" + str(int(4 * al / (bare + al))), 1.0))
            else:
                out.append(("alr=rare", 1.0))
    return out


def sentence_features(
    tokens: Sequence[str],
    gaz: Gazetteer | None = None,
    gaz_max_len: int = 6,
    clusters: Mapping[str, Sequence[str]] | None = None,
    token_lex: Mapping[str, Sequence[str]] | None = None,
    doc: Mapping[str, Mapping[str, int]] | None = None,
    gz: Sequence[Sequence[str]] | None = None,
) -> list[dict[str, float]]:
    """CRF feature dicts (crfsuite item format) for every token of one sentence.

    ``gaz``: name lists (see :func:`gazetteer_matches`); ``clusters``: word -> cluster ids,
    with corpus counts in ``clusters.counts``; ``token_lex``: word -> labels it mostly carries
    in (other folds of) the training data; ``doc``: this sentence's entry of
    :func:`document_contexts` (clues from the other mentions of each word); ``gz``: this
    sentence's :func:`gazetteer_matches` when already computed.
    """
    n = len(tokens)
    infos = [word_info(t) for t in tokens]
    norms = [x[0] for x in infos]
    nopre = [x[1] for x in infos]
    stems = [x[2] for x in infos]
    if gz is None:
        gz = gazetteer_matches(norms, gaz, gaz_max_len) if gaz else [[] for _ in range(n)]
    cl = clusters or {}
    counts: Mapping[str, int] = getattr(cl, "counts", None) or {}
    tl = token_lex or {}
    vectors = getattr(cl, "vectors", None) or {}
    cache: dict | None = getattr(cl, "feature_cache", None)
    own = local_signals(norms, gz) if doc else None
    feats: list[dict[str, float]] = []
    for i in range(n):
        w = norms[i]
        f: dict[str, float] = dict.fromkeys(infos[i][3], 1.0)
        if cache is not None:
            corp = cache.get(w)
            if corp is None:
                corp = cache[w] = _corpus_features(w, nopre[i], cl, counts, vectors)
        else:
            corp = _corpus_features(w, nopre[i], cl, counts, vectors)
        f.update(corp)
        for g in gz[i]:
            f[g] = 1.0
        for lab in tl.get(w) or tl.get(nopre[i]) or ():
            f["tl:" + lab] = 1.0
        if own is not None and own[i][0] is not None:
            key, mine = own[i]
            other = doc.get(key) or {}
            mine_c: dict[str, int] = {}
            for sg in mine:
                mine_c[sg] = mine_c.get(sg, 0) + 1
            for sg, c in other.items():
                if c > mine_c.get(sg, 0):
                    f["d:" + sg] = 1.0
        for d in (-2, -1, 1, 2):
            j = i + d
            if 0 <= j < n:
                f[f"w{d}=" + norms[j]] = 1.0
                for c in (cl.get(norms[j]) or cl.get(nopre[j]) or ())[:2]:
                    f[f"c{d}{c}"] = 1.0
                if d in (-1, 1):
                    f[f"s{d}=" + stems[j]] = 1.0
                    for g in gz[j]:
                        f[f"{d}{g}"] = 1.0
            else:
                f[f"w{d}=<s>" if d < 0 else f"w{d}=</s>"] = 1.0
        if i > 0:
            p = norms[i - 1]
            pn = nopre[i - 1]
            if p in CUE_PERS or pn in CUE_PERS:
                f["cueP"] = 1.0
            if p in CUE_ORG or pn in CUE_ORG:
                f["cueO"] = 1.0
            if p in CUE_LOC or pn in CUE_LOC:
                f["cueL"] = 1.0
            f["bg-1=" + p + "|" + w] = 1.0
        if i > 1:
            pp = nopre[i - 2]
            if pp in CUE_PERS:
                f["cueP2"] = 1.0
            if pp in CUE_ORG:
                f["cueO2"] = 1.0
        if i + 1 < n:
            f["bg+1=" + w + "|" + norms[i + 1]] = 1.0
        feats.append(f)
    return feats
