"""Arabic text normalization for Hadath: ONE character table and everything derived from it.

The same table drives

* :func:`normalize` / :func:`normalize_with_offsets` — used by the normalize service and for
  entity keys (:func:`entity_key`), and
* :func:`es_char_filter_mappings` — the rules of the Elasticsearch ``mapping`` char filter of
  the index analyzer (the index template is built from that function by the index engineer),

so that what Python normalizes and what the index/search analyzer normalizes cannot drift apart.

Sources
-------
* CAMeL Tools 1.6 (NYU Abu Dhabi, MIT licence):

  - ``camel_tools.utils.charsets.AR_DIAC_CHARSET`` — the diacritic set (U+064B..U+0652,
    U+0670) is deleted by the table (the table extends it to U+0653..U+065F); it is written
    out here (:data:`_AR_DIAC`, a test checks it equals CAMeL's) because importing
    ``camel_tools.utils.charsets`` scans all of Unicode (~0.6 s for every stage that imports
    this module);
  - ``camel_tools.utils.normalize.normalize_alef_ar``/``normalize_alef_maksura_ar``/
    ``normalize_teh_marbuta_ar`` — the same alef, alef-maksura and teh-marbuta folds are made
    here as table entries (so they can also be emitted as char-filter rules);
  - ``camel_tools.utils.normalize.normalize_unicode`` — NFKC plus two fixes for U+FDFC/U+FDFD;
    presentation forms are generated the same way (NFKC per character, then through the table);
  - the ``arclean`` char map (``camel_tools/utils/charmaps/arclean_map.json``) — the folding of
    Persian/Urdu/Maghrebi letters (ک ی ہ گ پ چ ڤ …) onto the Arabic base letters and of Arabic
    punctuation onto ASCII follows it, with the differences documented below.
* ``camel_tools.tokenizers.word.simple_word_tokenize`` — :func:`tokenize_spans` follows its
  semantics (whitespace split, punctuation/symbols split off) but returns word spans in the
  original text.
* Elasticsearch ``MappingCharFilterFactory`` (modules/analysis-common): rules are parsed with
  ``(.*)\\s*=>\\s*(.*)\\s*$``, each side ``trim()``-ed then unescaped (``\\uXXXX``, ``\\n`` …);
  only the LEFT side must be non-empty (Lucene ``NormalizeCharMap.Builder.add``), so
  ``"\\u0640 => "`` (delete tatweel) is a valid rule. Every side is emitted fully
  ``\\uXXXX``-escaped so that ``trim()`` and the ``=>`` separator can never eat a character.

Decisions
---------
* Alef: أ إ آ ٱ ٲ ٳ ٵ (and U+0773/U+0774) → ا.
* Hamza: ؤ → و, ئ → ي, lone ء is DELETED (also U+0674 high hamza and the combining hamza
  U+0654/U+0655, so decomposed أ = ا+U+0654 folds the same way as the precomposed one).
  Reason: the commonest hamza variants in news are the seat written or not
  (شيء/شئ, بريء/برئ, مبادئ/مبادىء, شاطئ/شاطىء, قراءة/قراءه); with ء dropped, ئ → ي and
  ى → ي all of these meet (شي, بري, مبادي, شاطي). The cost is a few collisions between
  common words (ماء/ما, بناء/بنا) which never matter for names. Not solved by any
  single-character table: the Egyptian seat convention مسئول/شئون vs مسؤول/شؤون
  (→ مسيول vs مسوول) — see open questions.
* Alef maksura ى → ي; teh marbuta ة (and ۃ) → ه; heh variants ہ ۂ ۀ ە ھ → ه.
* Yeh look-alikes ی ې ۍ ێ ۑ ے ۓ ؠ ؽ ؾ ؿ → ي; kaf look-alikes ک ڪ ګ ڬ ڭ ڮ ػ ؼ → ك.
* Gaf گ (and ڰ..ڴ) → ك, as CAMeL's arclean does. گ is a distinct letter (/g/), but in Arabic
  news it only appears in transliterations (Persian/Kurdish/Iraqi names) whose other spellings
  use ك (or ق/ج, which no character table can guess); folding to ك joins the commonest pair
  (e.g. a Kurdish town written with گ or ك). Likewise پ → ب, چ → ج, ژ → ز, ڤ ڥ ڢ → ف,
  ڨ ڧ → ق (Maghrebi /g/ and /q/ letters): the Arabic-script spelling of the same name.
* Tatweel, harakat, shadda, sukun, U+0653..U+065F, superscript alef U+0670, Quranic marks
  U+0610..U+061A, U+06D6..U+06ED and the Arabic Extended-A marks (U+08D3..U+08FF) are deleted.
* Invisible marks (U+200B..U+200F, U+202A..U+202E, U+2060..U+2064, U+2066..U+2069, U+FEFF,
  U+061C, U+00AD, U+034F, U+180E, variation selectors U+FE00..U+FE0F) are deleted. ZWNJ is
  deleted rather than turned into a space: inside Arabic words it is noise.
* Digits: ٠..٩ and ۰..۹ (and fullwidth ０..９) → 0..9.
* Punctuation: ، → ,  ؛ → ;  ؟ → ?  « » “ ” „ ‟ → "  ‘ ’ ‚ ‛ → '  ٪ → %  ٫ (decimal sep.) → .
  ٬ (thousands sep.) → ,  ۔ → .  ؍ → ,  ٭ → *  ⁏ → ;  ⹁ → ,  ﴾ ﴿ → ( ).
  (arclean maps ٫ to "," and ٬ to "'"; here ٫ → "." so ٣٫٥ reads 3.5 and ٬ → "," so
  ١٬٠٠٠ reads 1,000, which the standard tokenizer keeps as one number.)
* Exotic spaces (NBSP, U+2000..U+200A, U+202F, U+205F, U+3000, U+1680) → " ";
  U+2028/U+2029/U+0085 → "\\n". Tabs, CR and LF are left alone.
* Latin is lowercased (U+0041..U+024F single-character lowercases, İ → i, fullwidth A..Z).
  Other scripts are left to the analyzer's ``lowercase`` token filter.
* Presentation forms U+FB50..U+FDFF and U+FE70..U+FEFF: generated from ``unicodedata``:
  NFKC of the character, then through the table (ﻻ → لا, ﻷ → لا, ﺑ → ب, ﷲ → الله); forms whose
  result is only spaces (isolated harakat like U+FE70) are deleted; U+FDFC/U+FDFD as CAMeL.
* Whitespace: :func:`normalize` keeps the text's whitespace (one output char per input space,
  newlines kept, for sentence splitting); ``collapse_whitespace=True`` collapses each run to
  one space (or one newline when the run holds a newline) and strips the ends — offsets stay
  right either way. :func:`entity_key` always collapses.
* The table is a fixpoint: no replacement contains a table key, so applying it once (as the
  ES char filter does, it does not rescan its output) equals applying it to convergence.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from itertools import compress
from types import MappingProxyType

__all__ = [
    "NORMALIZATION_TABLE",
    "ARABIC_MARKS",
    "fold_table",
    "PROCLITICS",
    "ARTICLE",
    "PROTECTED_NAMES",
    "normalize",
    "fold_same_length",
    "DIGIT_FOLDS",
    "normalize_with_offsets",
    "original_span",
    "es_char_filter_mappings",
    "entity_key",
    "tokenize_spans",
    "sentence_spans",
]


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------

def _crange(first: int, last: int) -> str:
    """All characters from code point ``first`` to ``last`` inclusive."""
    return "".join(chr(c) for c in range(first, last + 1))


#: CAMeL Tools' ``AR_DIAC_CHARSET`` (harakat, shadda, sukun, superscript alef), written out.
_AR_DIAC = "\u064b\u064c\u064d\u064e\u064f\u0650\u0651\u0652\u0670"

#: Arabic marks and tatweel: harakat, shadda, sukun and the other marks U+064B..U+065F,
#: superscript alef U+0670, Quranic marks U+0610..U+061A and U+06D6..U+06ED, tatweel U+0640.
#: The table deletes every one of them; :func:`fold_table` of this string strips only them.
ARABIC_MARKS: str = (_crange(0x0610, 0x061A) + _crange(0x064B, 0x065F) + "\u0670"
                     + _crange(0x06D6, 0x06ED) + "\u0640")

ALEF = "\u0627"
WAW = "\u0648"
YEH = "\u064a"
HEH = "\u0647"
KAF = "\u0643"

# (characters, replacement) in priority order: a later group never overrides an earlier key.
_GROUPS: list[tuple[str, str]] = [
    # --- alef forms: hamza above/below, madda, wasla, wavy hamza, high hamza alef ----------
    ("\u0623\u0625\u0622\u0671\u0672\u0673\u0675\u0773\u0774", ALEF),
    # --- hamza carriers / lone hamza (see module docstring) ------------------------------
    ("\u0624\u0676\u0677", WAW),            # ؤ ٶ ٷ
    ("\u0626\u0678\u06d3", YEH),            # ئ ٸ ۓ
    ("\u0621\u0674", ""),                   # ء, high hamza
    # --- yeh / alef maksura and look-alikes ----------------------------------------------
    ("\u0649\u06cc\u06cd\u06ce\u06d0\u06d1\u06d2\u0620\u063d\u063e\u063f", YEH),
    # --- kaf look-alikes and gaf (decision: gaf folds to kaf) -----------------------------
    ("\u06a9\u06aa\u06ab\u06ac\u06ad\u06ae\u063b\u063c", KAF),
    (_crange(0x06AF, 0x06B4), KAF),         # گ ڰ ڱ ڲ ڳ ڴ
    # --- teh marbuta and heh look-alikes -------------------------------------------------
    ("\u0629\u06c3\u06c1\u06c2\u06c0\u06d5\u06be", HEH),
    # --- other non-Arabic letters of Arabic script used for foreign sounds ----------------
    ("\u067e", "\u0628"),                   # پ → ب
    ("\u0686\u0687", "\u062c"),             # چ ڇ → ج
    ("\u0698", "\u0632"),                   # ژ → ز
    ("\u06a4\u06a5\u06a2", "\u0641"),       # ڤ ڥ ڢ → ف
    ("\u06a8\u06a7", "\u0642"),             # ڨ ڧ → ق
    # --- tatweel and marks ---------------------------------------------------------------
    ("\u0640", ""),                                        # tatweel
    (_AR_DIAC, ""),                                        # CAMeL: harakat, shadda, sukun, U+0670
    (_crange(0x064B, 0x065F), ""),                         # + madda/hamza above/below, etc.
    (_crange(0x0610, 0x061A), ""),                         # Quranic honorifics / small marks
    (_crange(0x06D6, 0x06ED), ""),                         # Quranic annotation marks
    ("".join(c for c in _crange(0x08D3, 0x08FF)
             if unicodedata.category(c) in ("Mn", "Cf")), ""),  # Extended-A marks
    # --- invisible / bidi / joiners ------------------------------------------------------
    (_crange(0x200B, 0x200F), ""),          # ZWSP ZWNJ ZWJ LRM RLM
    (_crange(0x202A, 0x202E), ""),          # LRE RLE PDF LRO RLO
    (_crange(0x2060, 0x2064), ""),          # word joiner, invisible operators
    (_crange(0x2066, 0x2069), ""),          # LRI RLI FSI PDI
    ("\ufeff\u061c\u00ad\u034f\u180e", ""),  # BOM/ZWNBSP, ALM, soft hyphen, CGJ, MVS
    (_crange(0xFE00, 0xFE0F), ""),          # variation selectors
    # --- digits --------------------------------------------------------------------------
    *[(chr(0x0660 + d) + chr(0x06F0 + d) + chr(0xFF10 + d), str(d)) for d in range(10)],
    # --- punctuation look-alikes ---------------------------------------------------------
    ("\u060c\u066c\u060d\u2e41", ","),      # ، ٬ ؍ ⹁
    ("\u061b\u204f", ";"),                  # ؛ ⁏
    ("\u061f", "?"),                        # ؟
    ("\u00ab\u00bb\u201c\u201d\u201e\u201f", '"'),
    ("\u2018\u2019\u201a\u201b", "'"),
    ("\u066a", "%"),                        # ٪
    ("\u066b\u06d4", "."),                  # ٫ ۔
    ("\u066d", "*"),                        # ٭
    ("\ufd3e", "("), ("\ufd3f", ")"),       # ornate parentheses (no NFKC decomposition)
    # --- whitespace ----------------------------------------------------------------------
    ("\u00a0\u1680\u202f\u205f\u3000" + _crange(0x2000, 0x200A), " "),
    ("\u2028\u2029\u0085", "\n"),
    # --- CAMeL normalize_unicode fixes (no NFKC decomposition / Persian yeh inside) -------
    ("\ufdfc", "\u0631\u064a\u0627\u0644"),                       # ﷼ → ريال
    ("\ufdfd", "\u0628\u0633\u0645 \u0627\u0644\u0644\u0647 \u0627\u0644\u0631\u062d\u0645\u0646 "
               "\u0627\u0644\u0631\u062d\u064a\u0645"),          # ﷽
]


def _build_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for chars, repl in _GROUPS:
        for ch in chars:
            table.setdefault(ch, repl)
    # Latin lowercase (single-character results only, so offsets stay 1:1).
    table.setdefault("\u0130", "i")  # İ (its lower() is two characters)
    for cp in list(range(0x41, 0x250)) + list(range(0xFF21, 0xFF3B)):
        ch = chr(cp)
        low = (unicodedata.normalize("NFKC", ch) if cp > 0xFF00 else ch).lower()
        if low != ch and len(low) == 1 and ch not in table:
            table[ch] = low
    base = str.maketrans(table)
    # Presentation forms: NFKC, then through the hand-made part of the table.
    for cp in list(range(0xFB50, 0xFE00)) + list(range(0xFE70, 0xFF00)):
        ch = chr(cp)
        if ch in table:
            continue
        nfkc = unicodedata.normalize("NFKC", ch)
        if nfkc == ch:
            continue  # unassigned, noncharacter, or no compatibility decomposition
        repl = nfkc.translate(base)
        table[ch] = "" if repl.isspace() else repl  # e.g. U+FE70 -> " " + fathatan -> ""
    return table


_TABLE: dict[str, str] = _build_table()

#: Single characters → replacement ('' = delete). Immutable; every key is one BMP character and
#: no replacement contains a key (one pass = fixpoint). See the module docstring for choices.
NORMALIZATION_TABLE: Mapping[str, str] = MappingProxyType(_TABLE)



def fold_table(chars: str) -> dict[int, str]:
    """A ``str.translate`` table applying only the :data:`NORMALIZATION_TABLE` entries of
    ``chars``: a partial fold for a caller that must fold fewer characters than
    :func:`normalize` (the NER features, whose models were trained on such a fold). Every
    replacement comes from the table, so a letter's normalization is changed in one place.

    Raises:
        KeyError: if a character of ``chars`` is not a key of the table.
    """
    missing = sorted({c for c in chars if c not in _TABLE})
    if missing:
        raise KeyError(f"not in NORMALIZATION_TABLE: {[f'U+{ord(c):04X}' for c in missing]}")
    return {ord(c): _TABLE[c] for c in chars}


# str.translate table as a 64K list (BMP code point -> replacement, identity elsewhere): with
# a dict every character NOT in the table costs a raised-and-caught KeyError, which makes
# translate ~3x slower on ordinary Arabic text. Astral characters raise IndexError (a
# LookupError), which translate treats as "leave unchanged".
_TRANS: list[str] = [chr(_cp) for _cp in range(0x10000)]
for _k, _v in _TABLE.items():
    _TRANS[ord(_k)] = _v
del _k, _v
# Per-character output length as a character ("\0" deleted, "\1" one char, ...): astral
# characters stay themselves (non-ASCII), which sends normalize_with_offsets to its
# general path.
_LEN_TRANS: list[str] = ["\1"] * 0x10000
for _k, _v in _TABLE.items():
    _LEN_TRANS[ord(_k)] = chr(len(_v))
del _k, _v
# Characters whose replacement is not exactly one character: the only places where offsets
# stop being the identity.
_NONUNIT_RE = re.compile(
    "[" + "".join(re.escape(k) for k, v in sorted(_TABLE.items()) if len(v) != 1) + "]"
)
#: ``str.translate`` table of the entries that replace one character by one other (alef forms,
#: hamza seats, yeh, kaf and heh look-alikes, teh marbuta, digits, punctuation, spaces, Latin
#: case): see :func:`fold_same_length`.
_SAME_LENGTH: dict[int, str] = {ord(k): v for k, v in _TABLE.items() if len(v) == 1}
#: ``str.translate`` table of the digit entries alone (Arabic-Indic, Persian and full-width
#: digits → ASCII), for text that must otherwise stay as written (dateparser's input).
DIGIT_FOLDS: Mapping[int, str] = MappingProxyType({ord(k): v for k, v in _TABLE.items() if v.isdigit()})


def fold_same_length(text: str) -> str:
    """``text`` through the table's one-for-one entries: ``len`` and every offset unchanged.

    For code that matches patterns on folded text and reports offsets into the original (the
    date finder); deletions (diacritics, tatweel, invisible marks) are left for the patterns
    to tolerate. ``fold_same_length(t)`` equals ``normalize(t)`` wherever ``t`` has no
    character the table deletes or expands.
    """
    return text.translate(_SAME_LENGTH)


# Runs of whitespace that collapse_whitespace changes (anything but a lone " ").
_WS_CHANGE_RE = re.compile(r" ?[^\S ]\s*| {2,}\s*")


# --------------------------------------------------------------------------------------------
# normalize
# --------------------------------------------------------------------------------------------

def normalize(text: str, *, collapse_whitespace: bool = False) -> str:
    """Normalize ``text`` through :data:`NORMALIZATION_TABLE`.

    ``str -> str``. With ``collapse_whitespace`` every whitespace run becomes one space (or one
    newline if the run contains a newline) and the ends are stripped.
    Equal to ``normalize_with_offsets(text, collapse_whitespace=...)[0]``.
    """
    out = text.translate(_TRANS)
    if collapse_whitespace:
        if _needs_collapse(out):
            out = _WS_CHANGE_RE.sub(_ws_repl, out)
        out = out.strip()
    return out


def _ws_repl(m: re.Match[str]) -> str:
    return "\n" if "\n" in m.group() else " "


def normalize_with_offsets(
    text: str, *, collapse_whitespace: bool = False
) -> tuple[str, list[int]]:
    """Normalize ``text`` and map every output character back to the input.

    Returns ``(normalized, offsets)`` with ``len(offsets) == len(normalized) + 1``:
    ``offsets[i]`` is the index in ``text`` of the character that produced ``normalized[i]``
    (an expansion such as ﻻ → لا gives both output characters the same offset; a collapsed
    whitespace run maps to its first character) and ``offsets[-1] == len(text)``. Offsets are
    non-decreasing. O(n): the text goes through ``str.translate``; offsets are built with
    ``range`` slices between the (usually few) characters that are deleted or expanded.
    Use :func:`original_span` to turn a normalized span into an original one.
    """
    n = len(text)
    out = text.translate(_TRANS)
    offsets: list[int] = []
    # Walk the characters that are not 1:1 (deleted or expanded), filling the identity
    # stretches between them with C-level range() extends. Ordinary news has a handful (lone
    # hamza, an RLM, a tatweel); if there are many (fully vocalized text) switch to the
    # compress() path below, which costs one more translate but no per-character Python.
    pos = _walk(text, 0, offsets, _WALK_BUDGET)
    if pos >= 0:
        offsets.extend(range(pos, n + 1))
    elif (codes := text.translate(_LEN_TRANS)).isascii() and n - codes.count("\0") == len(out):
        # deletions only (harakat, tatweel, invisible marks): keep the indices whose
        # replacement is one character; itertools.compress runs in C
        offsets = list(compress(range(n), codes.encode("ascii")))
        offsets.append(n)
    else:
        # expansions (ligatures) or astral characters: keep walking, without a budget
        offsets = []
        pos = _walk(text, 0, offsets, -1)
        offsets.extend(range(pos, n + 1))
    if collapse_whitespace:
        out, offsets = _collapse(out, offsets)
    return out, offsets


_WALK_BUDGET = 40


def _walk(text: str, pos: int, offsets: list[int], budget: int) -> int:
    """Append offsets for text[pos:] up to its last non-1:1 character; return the position
    after it, or -1 if more than ``budget`` (>= 0) such characters were met."""
    table = _TABLE
    for m in _NONUNIT_RE.finditer(text, pos):
        if budget == 0:
            return -1
        budget -= 1
        i = m.start()
        if i > pos:
            offsets.extend(range(pos, i))
        k = len(table[text[i]])
        if k:
            offsets.extend([i] * k)
        pos = i + 1
    return pos


def _needs_collapse(out: str) -> bool:
    # after the table the only whitespace left besides " " is ASCII control whitespace, which
    # is not printable: a printable text without double spaces has nothing to collapse inside.
    return "  " in out or not out.isprintable()


def _collapse(out: str, offsets: list[int]) -> tuple[str, list[int]]:
    if not _needs_collapse(out):
        if out[:1] != " " and out[-1:] != " ":
            return out, offsets
        a = 1 if out[:1] == " " else 0
        b = len(out) - 1 if len(out) > a and out[-1] == " " else len(out)
        return out[a:b], offsets[a:b] + [offsets[-1]]
    parts: list[str] = []
    offs: list[int] = []
    pos = 0
    for m in _WS_CHANGE_RE.finditer(out):
        s, e = m.span()
        repl = "\n" if "\n" in m.group() else " "
        if e - s == 1 and out[s] == repl:
            continue  # a lone "\n": unchanged
        parts.append(out[pos:s])
        offs.extend(offsets[pos:s])
        parts.append(repl)
        offs.append(offsets[s])
        pos = e
    if pos:
        parts.append(out[pos:])
        offs.extend(offsets[pos:])
        out, offsets = "".join(parts), offs
    # strip the ends
    a, b = 0, len(out)
    while a < b and out[a].isspace():
        a += 1
    while b > a and out[b - 1].isspace():
        b -= 1
    if a or b != len(out):
        end = offsets[-1]
        out = out[a:b]
        offsets = offsets[a:b] + [end]
    return out, offsets


def original_span(text: str, offsets: list[int], start: int, end: int) -> tuple[int, int]:
    """Map the normalized span ``[start, end)`` to a span of the original ``text``.

    ``offsets`` comes from :func:`normalize_with_offsets` of ``text``. The original span starts
    at the source of ``normalized[start]`` and ends after the source of ``normalized[end-1]``,
    extended over deleted characters that follow it and are marks or tatweel (the harakat of
    the last letter belong to the word), never over deleted invisible marks after it.
    An empty span maps to an empty span at ``offsets[start]``.
    """
    if end <= start:
        return offsets[start], offsets[start]
    s = offsets[start]
    e = offsets[end - 1] + 1
    n = len(text)
    while e < n and _TABLE.get(text[e]) == "" and (
        text[e] == "\u0640" or unicodedata.category(text[e]) == "Mn"
    ):
        e += 1
    return s, e


# --------------------------------------------------------------------------------------------
# Elasticsearch char filter
# --------------------------------------------------------------------------------------------

def _es_escape(s: str) -> str:
    return "".join(f"\\u{ord(c):04X}" for c in s)


def es_char_filter_mappings() -> list[str]:
    """The table as Elasticsearch ``mapping`` char filter rules.

    ``-> list[str]``, one rule per table entry, sorted by code point, e.g.
    ``"\\u0623 => \\u0627"`` (أ → ا) and ``"\\u0640 => "`` (delete tatweel; an empty right side
    is legal: ES only requires a non-empty left side). Both sides are fully ``\\uXXXX``-escaped
    (one escape per UTF-16 unit; every key is in the BMP), so ES's ``trim()`` and ``=>`` split
    cannot alter them. Use as ``{"type": "mapping", "mappings": es_char_filter_mappings()}``.
    """
    return [f"{_es_escape(k)} => {_es_escape(v)}" for k, v in sorted(_TABLE.items())]


# --------------------------------------------------------------------------------------------
# Tokens and sentences (spans of the ORIGINAL text)
# --------------------------------------------------------------------------------------------

# Characters that belong to a word but are not ``\w``: combining marks (Arabic harakat and
# Quranic marks, Latin U+0300..U+036F, half marks) and tatweel.
_MARKS = (
    "\u0300-\u036f\u0610-\u061a\u0640\u064b-\u065f\u0670\u06d6-\u06ed\u08d3-\u08ff"
    "\ufe20-\ufe2f"
)
# Invisible characters that may sit INSIDE a word (joined to letters on both sides).
_JOINERS = "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u061c\u00ad\u034f\ufe00-\ufe0f"
_LETTER = r"[^\W_]"
# A word starts at the first mark of a run of marks (the lookbehind), never inside one: the
# leftmost match is the same (a match from inside a run also matches from its start, and the
# previous word would have taken the run if it touched it), but a long run of marks that no
# letter follows is scanned once instead of once per mark (was quadratic: 25k marks, 5.8 s).
_WORD_RE = re.compile(
    rf"(?<![{_MARKS}])[{_MARKS}]*{_LETTER}(?:{_LETTER}|[{_MARKS}]|[{_JOINERS}]+(?={_LETTER}|[{_MARKS}]))*"
)


def tokenize_spans(text: str) -> list[tuple[int, int]]:
    """Word tokens of ``text`` as ``(start, end)`` spans of the original text.

    ``str -> list[tuple[int, int]]``. Like ``camel_tools.tokenizers.word.simple_word_tokenize``
    (split on whitespace, punctuation and symbols are not part of words, digits are not split
    from letters) but only word tokens are returned. Arabic marks and tatweel are part of the
    word; invisible marks (ZWJ, ZWNJ, LRM/RLM, BOM, soft hyphen …) are part of it only when
    letters follow them, so ``"بغ\\u200dداد"`` is one token and a trailing RLM is not included.
    """
    return [m.span() for m in _WORD_RE.finditer(text)]


_SENT_END_RE = re.compile(r"[.!?\u061f\u06d4\u2026\u203c\u2047-\u2049]+|\n")
_CLOSERS = "\"'\u00bb\u201d\u2019)]}\u203a\ufd3e"
_TRIM_SET = frozenset(
    c for c in (" \t\r\n\f\v\u00a0\ufeff\u061c" + _crange(0x200B, 0x200F)
                + _crange(0x202A, 0x202E) + _crange(0x2066, 0x2069) + _crange(0x2000, 0x200A)
                + "\u202f\u205f\u3000\u2028\u2029")
)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentences of ``text`` as ``(start, end)`` spans of the original text.

    ``str -> list[tuple[int, int]]``. A sentence ends after a run of ``. ! ? ؟ ۔ …`` (plus any
    closing quotes/brackets right after it) or at a newline. A ``.`` does not end a sentence
    between two digits (``3.5``) or after a lone letter (initials and abbreviations such as
    ``د.`` or ``U.S.``). Spans exclude surrounding whitespace and invisible marks; empty
    sentences are dropped.
    """
    spans: list[tuple[int, int]] = []
    n = len(text)
    start = 0
    for m in _SENT_END_RE.finditer(text):
        s, e = m.span()
        tok = m.group()
        if tok == ".":
            prev = text[s - 1] if s else ""
            nxt = text[e] if e < n else ""
            if prev.isdigit() and nxt.isdigit():
                continue
            if prev.isalpha() and (s < 2 or not (text[s - 2].isalnum() or _is_mark(text[s - 2]))):
                continue  # lone letter + "." : initial / abbreviation
        if tok != "\n":
            while e < n and text[e] in _CLOSERS:
                e += 1
        _add_span(text, start, e, spans)
        start = e
    _add_span(text, start, n, spans)
    return spans


def _is_mark(c: str) -> bool:
    return unicodedata.category(c) == "Mn" or c == "\u0640"


def _add_span(text: str, s: int, e: int, spans: list[tuple[int, int]]) -> None:
    while s < e and text[s] in _TRIM_SET:
        s += 1
    while e > s and text[e - 1] in _TRIM_SET:
        e -= 1
    if e > s:
        spans.append((s, e))


# --------------------------------------------------------------------------------------------
# Entity keys
# --------------------------------------------------------------------------------------------

#: The article, in normalized form.
ARTICLE = "\u0627\u0644"  # ال

#: Proclitic sequences that may be stripped from the FIRST token of an entity, in normalized
#: form, longest first: a conjunction (و ف), a preposition (ب ك ل), or conjunction+preposition.
#: Before the article they combine as وال بال كال فال وبال فبال …; ل + ال is written لل.
PROCLITICS: tuple[str, ...] = (
    "\u0648\u0628", "\u0648\u0643", "\u0648\u0644",   # وب وك ول
    "\u0641\u0628", "\u0641\u0643", "\u0641\u0644",   # فب فك فل
    "\u0648", "\u0641", "\u0628", "\u0643", "\u0644",  # و ف ب ك ل
)

# Names that begin with a proclitic-looking letter (or with بال/كال/فال/وال): never stripped,
# and also accepted as the result of stripping (ولبنان → لبنان, للبنان → لبنان) when no
# ``known`` callback answers. Kept deliberately small: this is a guard, not a gazetteer.
_PROTECTED_RAW = (
    # places
    "بغداد بيروت بابل بعقوبة بنغازي باكستان بريطانيا بلجيكا بولندا برلين باريس بكين "
    "بورسعيد بنزرت "
    "فلسطين فرنسا فنزويلا فيتنام فيينا فنلندا فاس "
    "كركوك كربلاء كندا كوريا كوبا كينيا كابول كييف كازاخستان كردستان "
    "لبنان ليبيا لندن لاهاي لوس لاوس لاتفيا ليتوانيا لشبونة لوكسمبورغ ليون "
    "واشنطن وارسو ويلز وهران "
    # foreign names that look like proclitic + article
    "كاليفورنيا فالنسيا بالتيمور والتر والاس بالي فالكون كالياري بالما فالنتين بالمر "
    "فاليتا واليس "
    # people often in the news
    "بوتين بايدن بلينكن لافروف ماكرون"
)
#: Normalized single-token names protected from proclitic stripping (see above).
PROTECTED_NAMES: frozenset[str] = frozenset(
    normalize(w) for w in _PROTECTED_RAW.split()
)
# Heads of Arabic compound names: a proclitic before them is always a proclitic.
_NAME_HEADS = frozenset(normalize(w) for w in ("أبو", "ابن", "عبد", "أم", "آل", "أبي"))

_MIN_AFTER_ARTICLE = 3  # letters required after ال for a rule-based strip (بالمر, والتر stay)
_SPACES_RE = re.compile(r"\s+")
# [و|ف][ب|ك] ال X  (group 1 = the proclitics, group 2 = X)
_PROCLITIC_ARTICLE_RE = re.compile("^([\u0648\u0641]?[\u0628\u0643]?)\u0627\u0644(.+)$")
# [و|ف] لل X  (ل + ال + X)
_LAM_ARTICLE_RE = re.compile("^[\u0648\u0641]?\u0644\u0644(.+)$")
_LAM = "\u0644"


def _strip_edges(s: str) -> str:
    """``s`` without the characters that are not letters or digits (``[\\W_]``) at either end.

    A walk from each end (``str.isalnum`` is ``re``'s ``[^\\W_]``): the regex
    ``^[\\W_]+|[\\W_]+$`` it replaces tried ``[\\W_]+$`` from every position of a run of
    marks or punctuation inside the name (quadratic: a 50k-mark word took 20 s).
    """
    i, j = 0, len(s)
    while i < j and not s[i].isalnum():
        i += 1
    while j > i and not s[j - 1].isalnum():
        j -= 1
    return s[i:j]


def _candidates(tok: str) -> list[str]:
    """Strip candidates for a first token, least stripping first."""
    out: list[str] = []
    for p in sorted(PROCLITICS, key=len):
        if tok.startswith(p) and len(tok) - len(p) >= 2:
            rest = tok[len(p):]
            out.append(rest)
            # preposition ل before the article: ل + ال + X is written لل + X
            if p.endswith(_LAM) and rest.startswith(_LAM) and len(rest) >= 3:
                out.append(ARTICLE + rest[1:])
    return out


def proclitic_strips(tok: str) -> list[str]:
    """The forms of a normalized word without a leading proclitic of :data:`PROCLITICS`
    (least stripping first; ل + ال written لل gives the ال form too): وزمردان → [زمردان],
    للوزير → [لوزير, الوزير]. At least 2 letters are left. ``str -> list[str]``."""
    return _candidates(tok)


def _rule_strip(tok: str) -> str:
    """Strip without a gazetteer: only proclitics before the article (and the protected
    names / compound-name heads), as documented in :func:`entity_key`."""
    if tok in PROTECTED_NAMES or tok in _NAME_HEADS or tok.startswith(ARTICLE):
        return tok
    # proclitic(s) + a protected name or a compound-name head
    for cand in _candidates(tok):
        if cand in PROTECTED_NAMES or cand in _NAME_HEADS:
            return cand
    # [و|ف] [ب|ك] ال X   and   [و|ف] لل X   (ل + ال)
    m = _PROCLITIC_ARTICLE_RE.match(tok)
    if m and m.group(1) and len(m.group(2)) >= _MIN_AFTER_ARTICLE:
        return ARTICLE + m.group(2)
    m = _LAM_ARTICLE_RE.match(tok)
    if m and len(m.group(1)) >= _MIN_AFTER_ARTICLE:
        return ARTICLE + m.group(1)
    return tok


def entity_key(text: str, known: Callable[[str], bool] | None = None) -> str:
    """Canonical key of an entity name, for facets and entity matching.

    ``str -> str``: :func:`normalize`, whitespace collapsed, punctuation stripped from both
    ends, then proclitics stripped from the FIRST token only. The key keeps the article: it is
    the form people expect to read in a facet (بالعراق → العراق, للعراق → العراق,
    أبو مهدي المهندس → ابو مهدي المهندس).

    * ``known`` (optional, e.g. a gazetteer lookup) receives whole normalized keys. If the
      unstripped key is known, or the first token is in :data:`PROTECTED_NAMES`, nothing is
      stripped; otherwise the first candidate (least stripping first: و before وب, ل before
      لل→ال) whose key is known wins (وبغداد → بغداد, للبنان → لبنان).
    * Otherwise (no ``known``, or nothing known) the rule: strip only proclitics before the
      article — [و|ف][ب|ك]ال X and [و|ف]لل X → الX, with at least 3 letters in X (so foreign
      names like والتر/بالمر stay) — plus proclitics before a protected name (ولبنان → لبنان)
      or before a compound-name head (وأبو … → ابو …). بغداد, لبنان, فلسطين, بيروت, كركوك
      never lose their first letter; وبغداد without ``known`` stays وبغداد unless protected
      (بغداد is).
    """
    s = normalize(text, collapse_whitespace=True)
    s = _strip_edges(s)
    if not s:
        return s
    s = _SPACES_RE.sub(" ", s)
    first, sep, rest = s.partition(" ")
    if first in PROTECTED_NAMES:
        return s
    if known is not None:
        if known(s):
            return s
        for cand in _candidates(first):
            key = cand + sep + rest
            if known(key):
                return key
    return _rule_strip(first) + sep + rest
