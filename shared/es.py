"""Elasticsearch side of Hadath: the index template (mapping + Arabic analyzers), the document
shape, and index/alias set-up.

The analyzers use only stock component names (``mapping`` char filter, ``standard`` tokenizer,
``lowercase``, ``decimal_digit``, ``arabic_normalization``, ``stemmer_override``,
``arabic_stem``), so the same template works on the stock Elasticsearch image and on the local
integ-test distribution with the project's small analysis plugin (``infra/local``). The char
filter's rules are generated from the one normalization table in :mod:`shared.arabic`.

Names are kept whole (:func:`name_override_rules`): Lucene's light Arabic stemmer turns لبنان
into لبن (milk), فلسطين into فلسط, البحرين into بحر, وليد into ليد and سلمان into سلم, and it
strips only و and the article forms, never ب/ل/ك (so ببغداد/لبغداد stay unmatched by بغداد). A
``stemmer_override`` filter before ``arabic_stem`` maps every protected name (places and
people) and its proclitic forms to one token, the name + :data:`NAME_MARK`, and marks it as a
keyword, so the stemmer leaves it alone and no other word's stem can equal it — in the index
and in every query, Kibana's included.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch, helpers

from shared.arabic import (ARTICLE, PROCLITICS, PROTECTED_NAMES, es_char_filter_mappings, normalize,
                           proclitic_strips, tokenize_spans)
from shared.neardup import band_keys
from shared.schemas import ENTITY_LABELS, ArticleDocument, EnrichedArticle
from shared.settings import Settings, env_name

ANALYZER = "hadath_arabic"
EXACT_ANALYZER = "hadath_arabic_exact"
NAMES_FILTER = "hadath_names"

_MIN_NAME_LETTERS = 3
#: Longest keyword value indexed, in characters: Lucene refuses terms over 32,766 bytes, and a
#: character is at most 4 UTF-8 bytes. A longer value stays in ``_source``, unindexed.
KEYWORD_MAX_CHARS = 32_766 // 4
#: Gazetteer place names the analyzer protects besides :data:`shared.arabic.PROTECTED_NAMES`
#: (normalized single words, one a line): data the index owns, generated from the extract
#: service's gazetteer by ``python -m services.extract.protected_names`` and tested against it.
PROTECTED_PLACES_FILE = Path(__file__).parent / "data" / "protected_places.txt"
#: Person names the analyzer protects (normalized single words, one a line), then ``-form``
#: lines: proclitic forms that are words of their own (بيان is not ب + يان), never mapped to a
#: name. Generated like :data:`PROTECTED_PLACES_FILE` from the recognizers' person gazetteers
#: (ANERGazet, NERAr persons and first names) filtered by corpus counts.
PROTECTED_PERSONS_FILE = Path(__file__).parent / "data" / "protected_persons.txt"
#: Lucene's Arabic stopwords, normalized (one a line; ``#`` lines are comments).
STOPWORDS_FILE = Path(__file__).parent / "data" / "arabic_stopwords.txt"
#: Appended to the token of every protected name (after the char filter, the standard tokenizer
#: never emits ``#`` inside a token): a name's token lives apart from every stem, so no common
#: word is ever stemmed into a name (سلم never meets سلمان, ليد never meets وليد).
NAME_MARK = "#"
#: The article field holding the names the recognizer tagged (PERS, LOC, ORG), unstemmed.
NAMES_FIELD = "names"
#: The stemmed match fields (source field → field): its text with the names the recognizer
#: tagged blanked out (:func:`mask_names`), so no tagged name meets a common word through the
#: stemmer. What search matches for recall; ``title``/``body`` keep the whole text.
STEMMED_FIELDS = {"title": "title_stemmed", "body": "body_stemmed"}
#: Entity labels blanked out of :data:`STEMMED_FIELDS`: a person's mention whole; a place's or an
#: organization's only when it is one word (زمردان, حماس), as longer ones are made of common
#: words that must stay stemmed for recall (وزارة الخارجية, الضفة الغربية).
MASKED_LABELS = ("PERS", "LOC", "ORG")
#: Proclitics written before a person's name (a conjunction or a preposition; the rarer
#: two-letter sequences وب, فل … are left out of people's rules to keep the rule set small).
PERSON_PROCLITICS = ("و", "ف", "ب", "ك", "ل")


def _lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


def protected_places() -> list[str]:
    """The names of :data:`PROTECTED_PLACES_FILE`."""
    return _lines(PROTECTED_PLACES_FILE)


def protected_persons() -> tuple[list[str], frozenset[str]]:
    """``(names, blocked forms)`` of :data:`PROTECTED_PERSONS_FILE` (normalized words)."""
    lines = _lines(PROTECTED_PERSONS_FILE)
    return ([x for x in lines if not x.startswith("-")],
            frozenset(x[1:] for x in lines if x.startswith("-")))


def arabic_stopwords() -> list[str]:
    """The words of :data:`STOPWORDS_FILE` (Lucene's Arabic list, normalized; 87 words)."""
    return _lines(STOPWORDS_FILE)


def person_forms(name: str) -> list[str]:
    """The written forms of a person name (normalized) that index as it: the name, each of
    :data:`PERSON_PROCLITICS` + the name (وليد → ووليد, فوليد, بوليد, كوليد, لوليد) and the
    article forms (الوليد, والوليد, فالوليد, بالوليد, كالوليد, للوليد), as people's names take
    ال freely; 12 forms. A name that starts with the article has its bare form instead of the
    article forms (الحريري → حريري, والحريري, …, للحريري)."""
    if name.startswith(ARTICLE):
        bare = name[len(ARTICLE):]
        return [name, bare, *(p + name for p in PERSON_PROCLITICS if p != "ل"), "لل" + bare]
    return [name, *(p + name for p in PERSON_PROCLITICS), ARTICLE + name,
            *(p + ARTICLE + name for p in PERSON_PROCLITICS if p != "ل"), "لل" + name]


@lru_cache(maxsize=4)
def protected_name_forms(persons: bool = True) -> dict[str, str]:
    """Every protected form → the token it indexes as (normalized form + :data:`NAME_MARK`;
    see :func:`name_override_rules`).

    Places: a name without the article indexes as itself (لبنان, ولبنان, بلبنان, للبنان →
    لبنان#); a name with the article indexes as the name without it, as the stemmer would strip
    it (البحرين, والبحرين, بالبحرين, للبحرين, بحرين → بحرين#). People (with ``persons``, the
    default; False gives the places-only rules of before, for the relevance bench): the forms
    of :func:`person_forms`, less the blocked forms of :func:`protected_persons`. Names shorter
    than 3 letters are skipped. A form that is itself a protected name keeps its own meaning;
    otherwise the least stripping wins (a place's form before a person's at equal stripping).
    """
    places = sorted({normalize(n) for n in (*PROTECTED_NAMES, *protected_places())})
    person_names, blocked = protected_persons() if persons else ([], frozenset())
    forms: dict[str, str] = {}
    variants: list[tuple[int, int, str, str]] = []  # (clitic length, 0 place / 1 person, form, target)
    for name in places:
        if " " in name or not name.isalpha():
            continue
        if name.startswith(ARTICLE):
            bare = name[len(ARTICLE):]
            if len(bare) < _MIN_NAME_LETTERS:
                continue
            forms[name] = bare
            variants.append((0, 0, bare, bare))
            for p in PROCLITICS:  # ل too: names whose ال is not the article (لالمانيا)
                variants.append((len(p), 0, p + name, bare))
            for p in ("", "و", "ف"):
                variants.append((len(p) + 1, 0, p + "لل" + bare, bare))
        else:
            if len(name) < _MIN_NAME_LETTERS:
                continue
            forms[name] = name
            for p in PROCLITICS:
                variants.append((len(p), 0, p + name, name))
    for name in person_names:
        target = name[len(ARTICLE):] if name.startswith(ARTICLE) else name
        if len(target) < _MIN_NAME_LETTERS or name in forms:
            continue
        forms[name] = target
        for form in person_forms(name)[1:]:
            if form not in blocked:
                variants.append((len(form) - len(target), 1, form, target))
    for _, _, form, target in sorted(variants):
        forms.setdefault(form, target)
    return {form: target + NAME_MARK for form, target in forms.items()}


def bare_forms(word: str) -> list[str]:
    """The forms of a normalized ``word`` without its proclitics (:func:`shared.arabic.proclitic_strips`)
    and without an article before at least 3 letters, least stripping first: والزمردان →
    [الزمردان, زمردان]. ``str -> list[str]`` (``word`` itself left out)."""
    out: list[str] = []
    for form in (word, *proclitic_strips(word)):
        if form != word and form not in out:
            out.append(form)
        if form.startswith(ARTICLE) and len(form) - len(ARTICLE) >= _MIN_NAME_LETTERS \
                and form[len(ARTICLE):] not in out:
            out.append(form[len(ARTICLE):])
    return out


def _blank(text: str) -> str:
    # one space per UTF-16 code unit: Elasticsearch's offsets (Java strings) stay those of the text
    return "".join("  " if ord(c) > 0xFFFF else " " for c in text)


def masked_entities(entities: list[dict[str, Any]]) -> tuple[list[tuple[int, int]], frozenset[str]]:
    """``(spans, words)`` to blank out of the stemmed fields for an article's ``entities``
    (dicts of :class:`shared.schemas.Entity`): the ``(start, end)`` body offsets of each
    :data:`MASKED_LABELS` mention (PERS always, LOC/ORG of one word), and the normalized words
    of those mentions and of their keys, with their :func:`bare_forms` of 3 letters or more (to
    blank other mentions of the same names: the title, a repeat the recognizer missed)."""
    spans: list[tuple[int, int]] = []
    words: set[str] = set()
    for e in entities:
        text = e.get("text") or ""
        if e.get("label") not in MASKED_LABELS or (e.get("label") != "PERS" and len(tokenize_spans(text)) != 1):
            continue
        spans.append((e.get("start", 0), e.get("end", 0)))
        for value in (text, e.get("normalized") or ""):
            for w in normalize(value).split():
                if len(w) >= 2:
                    # a mention tagged with its proclitic (وزمردان) names the bare word too
                    words.update([w, *(f for f in bare_forms(w) if len(f) >= _MIN_NAME_LETTERS)])
    return spans, frozenset(words)


def mask_names(text: str, spans: list[tuple[int, int]] = (), words: frozenset[str] = frozenset()) -> str:
    """``text`` with every word inside one of ``spans`` (``(start, end)`` offsets into it) or
    whose normalized form, or one of its :func:`bare_forms`, is in ``words`` replaced by
    spaces, one per UTF-16 code unit, so every other word keeps its offsets (the fast-vector
    highlighter combines this field's matches with ``.exact``'s on the original text). A
    protected name (:func:`protected_name_forms`) is never blanked: its token is safe already.

    ``mask_names("عزف زمردان على العود", [(4, 10)])`` → ``"عزف        على العود"``.
    """
    if not text or not (spans or words):
        return text
    protected = protected_name_forms()
    out: list[str] = []
    last = 0
    for start, end in tokenize_spans(text):
        word = normalize(text[start:end])
        if word in protected:
            continue
        if any(s < end and start < e for s, e in spans) or word in words \
                or any(f in words for f in bare_forms(word)):
            out += [text[last:start], _blank(text[start:end])]
            last = end
    return "".join(out) + text[last:]


def with_stemmed_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` (an article document's ``_source``) with :data:`STEMMED_FIELDS` set from its
    ``title``, ``body`` and ``entities`` (:func:`masked_entities`, :func:`mask_names`); changed
    in place and returned. :func:`document` and the migration of older indices use it."""
    spans, words = masked_entities(doc.get("entities") or [])
    body = doc.get("body") or ""
    spans = [(s, e) for s, e in spans if 0 <= s < e <= len(body)]
    for field, target in STEMMED_FIELDS.items():
        if doc.get(field) is not None:
            doc[target] = mask_names(doc[field], spans if field == "body" else [], words)
    return doc


@lru_cache(maxsize=4)
def name_override_rules(persons: bool = True) -> tuple[str, ...]:
    """The ``stemmer_override`` rules keeping names whole: one ``"a, b, c => x#"`` rule per
    protected name, generated from :data:`shared.arabic.PROTECTED_NAMES`, the place gazetteer
    and (with ``persons``) the person names of :data:`PROTECTED_PERSONS_FILE`: about 7,700
    rules over 91,000 forms, 1.6 MB of index settings per index, built in about 2 s (without
    persons: 1,760 rules, 22,000 forms, 0.45 MB). Every side
    is already normalized (the filter runs after the char filter and ``arabic_normalization``);
    Arabic letters never contain the rule syntax's ``,`` or ``=>``.
    """
    by_target: dict[str, list[str]] = {}
    for form, target in protected_name_forms(persons).items():
        by_target.setdefault(target, []).append(form)
    return tuple(f"{', '.join(sorted(forms))} => {target}" for target, forms in sorted(by_target.items()))


def analysis_settings(*, persons: bool = True, stopwords: bool = False) -> dict[str, Any]:
    """The ``settings.analysis`` block: the recall analyzer (stemmed) and the exact one.

    Both run :data:`NAMES_FILTER` (``stemmer_override``) so a name and its proclitic forms are
    one token in both (ولبنان → لبنان#), and the stemmer never cuts a protected name nor makes
    another word's stem equal to one. ``persons=False`` leaves the person names out and
    ``stopwords=True`` adds a ``stop`` filter with :func:`arabic_stopwords` to the stemmed
    analyzer: the variants the relevance bench compares (the index uses the defaults).
    """
    filters = ["lowercase", "decimal_digit", "arabic_normalization"]
    stemmed = [*filters, *(["hadath_stop"] if stopwords else []), NAMES_FILTER, "arabic_stem"]
    out: dict[str, Any] = {
        "char_filter": {
            "hadath_fold": {"type": "mapping", "mappings": es_char_filter_mappings()},
        },
        "filter": {
            NAMES_FILTER: {"type": "stemmer_override", "rules": list(name_override_rules(persons))},
        },
        "analyzer": {
            ANALYZER: {
                "type": "custom", "tokenizer": "standard", "char_filter": ["hadath_fold"],
                "filter": stemmed,
            },
            EXACT_ANALYZER: {
                "type": "custom", "tokenizer": "standard", "char_filter": ["hadath_fold"],
                "filter": [*filters, NAMES_FILTER],
            },
        },
    }
    if stopwords:
        out["filter"]["hadath_stop"] = {"type": "stop", "stopwords": arabic_stopwords()}
    return out


def _text_field(*, vectors: bool = True) -> dict[str, Any]:
    # the highlighter reads term vectors; an article's title/body highlight from .exact
    field: dict[str, Any] = {
        "type": "text", "analyzer": ANALYZER,
        "fields": {"exact": {"type": "text", "analyzer": EXACT_ANALYZER,
                             "term_vector": "with_positions_offsets"}},
    }
    if vectors:
        field["term_vector"] = "with_positions_offsets"
    return field


def mappings() -> dict[str, Any]:
    """The article document mapping (fields of :class:`shared.schemas.ArticleDocument` + facet keys).

    ``names`` holds the PERS, LOC and ORG entities the recognizer tagged (as written and their
    keys), analyzed unstemmed: a tagged name is found as itself (:mod:`shared.search`).
    ``title_stemmed``/``body_stemmed`` (:data:`STEMMED_FIELDS`) hold the title and body with
    those names blanked out (:func:`with_stemmed_fields`), stemmed: what search matches for
    recall, so a common word never reaches a tagged name through its stem. ``title``/``body``
    stay analyzed (stemmed, and unstemmed in ``.exact``, which keeps the term vectors the
    highlighter combines with the stemmed fields').
    ``entity_keys.<LABEL>`` holds each entity's canonical ``normalized`` key as a keyword,
    the field facets and ``--entity LABEL:VALUE`` filters use (Kibana can aggregate it, unlike
    a nested field).
    """
    # a keyword term longer than Lucene's 32,766 bytes fails the whole document ("immense
    # term"); ignore_above (characters, 4 UTF-8 bytes at most each) leaves just that value out
    keyword = {"type": "keyword", "ignore_above": KEYWORD_MAX_CHARS}
    return {
        "dynamic": "strict",
        "properties": {
            "article_id": keyword, "parent_id": keyword, "source": keyword, "url": keyword,
            "title": _text_field(vectors=False), "body": _text_field(vectors=False),
            # the title and body with the tagged names blanked out (mask_names): the recall fields
            **{f: {"type": "text", "analyzer": ANALYZER, "term_vector": "with_positions_offsets"}
               for f in STEMMED_FIELDS.values()},
            # the names the recognizer tagged (PERS, LOC, ORG: text and key), unstemmed
            NAMES_FIELD: {"type": "text", "analyzer": EXACT_ANALYZER},
            "published_at": {"type": "date"}, "ingested_at": {"type": "date"},
            "language": keyword, "category": keyword, "topic": keyword, "duplicate_of": keyword,
            "event_id": keyword,
            "author": keyword, "dateline_place": keyword, "agency": keyword,
            "dedup_keys": keyword,
            # a producer's own fields: kept in _source as sent, never indexed (any shape)
            "extra": {"type": "object", "enabled": False},
            "signature": {"type": "keyword", "index": False, "doc_values": False},
            "entities": {"properties": {
                "text": keyword, "label": keyword, "normalized": keyword,
                "start": {"type": "integer"}, "end": {"type": "integer"},
                "score": {"type": "float"},
            }},
            "entity_keys": {"properties": {label: keyword for label in ENTITY_LABELS}},
            "places": {"properties": {
                "name": keyword, "geonameid": {"type": "long"}, "country_code": keyword,
                "location": {"type": "geo_point"}, "feature": keyword,
            }},
            "dates": {"properties": {
                "text": keyword, "value": keyword, "start": {"type": "integer"},
                "end": {"type": "integer"},
            }},
        },
    }


def events_mappings() -> dict[str, Any]:
    """The event document mapping (:func:`services.events.docs.event_document` writes it).

    ``entity_keys.<LABEL>`` is a list of ``{value, count}`` (the top keys, most mentioned
    first; ``entity_keys.PERS.value`` filters and facets); ``places`` carry ``location`` for
    maps; ``state`` is the clusterer's own state (stored, never indexed); ``cand_names``,
    ``cand_terms`` and ``interval_lo_days``/``interval_hi_days`` are what the events stage
    searches candidate events by; ``merged_into`` is set on an event merged into another.
    """
    keyword = {"type": "keyword", "ignore_above": KEYWORD_MAX_CHARS}
    count_key = {"properties": {"value": keyword, "count": {"type": "integer"},
                                "display": {"type": "keyword", "index": False, "doc_values": False}}}
    return {
        "dynamic": "strict",
        "properties": {
            "event_id": keyword, "title": _text_field(), "summary": _text_field(),
            "article_count": {"type": "integer"}, "source_count": {"type": "integer"},
            "sources": keyword, "article_ids": keyword,
            "source_counts": {"properties": {"value": keyword, "count": {"type": "integer"}}},
            "first_published_at": {"type": "date"}, "last_published_at": {"type": "date"},
            "first_ingested_at": {"type": "date"}, "last_ingested_at": {"type": "date"},
            "event_date": {"type": "date", "format": "strict_date||yyyy-MM||yyyy"},
            "entity_keys": {"properties": {label: count_key for label in ENTITY_LABELS}},
            "places": {"properties": {
                "name": keyword, "geonameid": {"type": "long"}, "country_code": keyword,
                "location": {"type": "geo_point"}, "feature": keyword, "count": {"type": "integer"},
            }},
            "topic": keyword, "topic_counts": {"properties": {"value": keyword, "count": {"type": "integer"}}},
            "trending": {"type": "boolean"}, "trending_score": {"type": "float"},
            "recent_count": {"type": "integer"},
            "updated_at": {"type": "date"}, "merged_into": keyword, "merged_from": keyword,
            "cand_names": keyword, "cand_terms": {"type": "long"},
            "interval_lo_days": {"type": "double"}, "interval_hi_days": {"type": "double"},
            "provisional_count": {"type": "integer"},
            "state": {"type": "object", "enabled": False},
        },
    }


def _template(alias: str, mapping: dict[str, Any]) -> dict[str, Any]:
    return {
        "index_patterns": [f"{alias}-*"],
        "priority": 200,
        "template": {
            "settings": {"number_of_shards": 1, "number_of_replicas": 0,
                         "refresh_interval": "1s", "analysis": analysis_settings()},
            "mappings": mapping,
        },
    }


def index_template(settings: Settings) -> dict[str, Any]:
    """Body of the composable index template ``<alias>`` for article indices ``<alias>-*``."""
    return _template(settings.index_alias, mappings())


def events_index_template(settings: Settings) -> dict[str, Any]:
    """Body of the composable index template ``<events_alias>`` for event indices."""
    return _template(settings.events_alias, events_mappings())


def _versioned_name(alias: str, template: dict[str, Any]) -> str:
    body = json.dumps(template["template"], sort_keys=True, ensure_ascii=False)
    return f"{alias}-{hashlib.sha256(body.encode()).hexdigest()[:10]}"


def index_name(settings: Settings) -> str:
    """The concrete article index behind the alias: ``<alias>-<10 hex of the template's hash>``.

    A change of analyzers or mapping gives a new name, so :func:`ensure_index` migrates.
    """
    return _versioned_name(settings.index_alias, index_template(settings))


def events_index_name(settings: Settings) -> str:
    """The concrete event index behind ``HADATH_EVENTS_ALIAS`` (named as :func:`index_name`)."""
    return _versioned_name(settings.events_alias, events_index_template(settings))


def _alias_indices(client: Elasticsearch, alias: str) -> list[str]:
    return sorted(client.indices.get_alias(name=alias)) if client.indices.exists_alias(name=alias) else []


def _is_article_index(client: Elasticsearch, index: str) -> bool:
    props = client.indices.get_mapping(index=index)[index]["mappings"].get("properties", {})
    return "body" in props and "article_count" not in props


def _ensure_versioned(client: Elasticsearch, alias: str, template: dict[str, Any], name: str,
                      old: list[str], progress, transform=lambda source: source) -> str:
    """Template, index ``name``, documents of ``old`` indices copied in (each ``_source``
    through ``transform``), alias moved, old deleted."""
    client.indices.put_index_template(name=alias, **template)
    current = _alias_indices(client, alias)
    if current == [name] and not old:
        return name
    old = sorted(set(old) | {index for index in current if index != name})
    if not client.indices.exists(index=name):
        client.options(ignore_status=400).indices.create(index=name)
    for previous in old:
        progress(f"migrating {previous} → {name} (new analyzers or mapping)")
        # the client's scan and bulk helpers: works without the server's reindex module too
        helpers.bulk(client, ({"_index": name, "_id": hit["_id"], "_source": transform(hit["_source"])}
                              for hit in helpers.scan(client, index=previous)), chunk_size=500)
        client.indices.refresh(index=name)
    actions = [{"remove": {"index": previous, "alias": a}} for previous in old
               for a in client.indices.get_alias(index=previous)[previous].get("aliases", {})]
    actions.append({"add": {"index": name, "alias": alias, "is_write_index": True}})
    client.indices.update_aliases(actions=actions)
    for previous in old:
        client.options(ignore_status=404).indices.delete(index=previous)
    return name


def ensure_index(client: Elasticsearch, settings: Settings, *, progress=lambda *_: None) -> str:
    """Put the templates, create the current article and event indices and point their aliases
    at them (idempotent). Returns the concrete article index name.

    When an alias points at an index built from an older template (other analyzers or
    mapping), its documents are reindexed into the new index, the alias moves in one atomic
    step and the old index is deleted; each article gets its stemmed fields on the way
    (:func:`with_stemmed_fields`). An installation from before events existed has its
    article documents behind ``hadath-events`` (then the article alias): they move to the
    article index the same way, and the alias is taken over by the event index.
    """
    name = index_name(settings)
    legacy = [index for index in _alias_indices(client, settings.events_alias)
              if settings.events_alias != settings.index_alias and _is_article_index(client, index)]
    _ensure_versioned(client, settings.index_alias, index_template(settings), name, legacy, progress,
                      with_stemmed_fields)
    ensure_events_index(client, settings, progress=progress)
    return name


def ensure_events_index(client: Elasticsearch, settings: Settings, *, progress=lambda *_: None) -> str:
    """Put the event template, create the event index, point ``HADATH_EVENTS_ALIAS`` at it
    (older event indices migrate as in :func:`ensure_index`). Returns the concrete name.

    Raises:
        RuntimeError: the alias still points at an article index (run :func:`ensure_index`).
    """
    current = _alias_indices(client, settings.events_alias)
    if any(_is_article_index(client, index) for index in current):
        raise RuntimeError(f"{settings.events_alias} still holds article documents; ensure_index migrates them")
    return _ensure_versioned(client, settings.events_alias, events_index_template(settings),
                             events_index_name(settings), [], progress)


def document(article: EnrichedArticle) -> dict[str, Any]:
    """The JSON document indexed for ``article`` (``_id`` = ``article_id``): the fields of
    :class:`shared.schemas.ArticleDocument` plus ``entity_keys``, ``names`` (PERS/LOC/ORG
    entity texts and keys), :data:`STEMMED_FIELDS` (:func:`with_stemmed_fields`), ``signature``
    and ``dedup_keys``."""
    doc = ArticleDocument.from_enriched(article).model_dump(mode="json")
    keys: dict[str, list[str]] = {label: [] for label in ENTITY_LABELS}
    for e in article.entities:
        if e.normalized and e.normalized not in keys[e.label]:
            keys[e.label].append(e.normalized)
    doc["entity_keys"] = keys
    names: list[str] = []
    for e in article.entities:
        if e.label in ("PERS", "LOC", "ORG"):
            names += [v for v in (e.text, e.normalized) if v and v not in names]
    doc[NAMES_FIELD] = names
    with_stemmed_fields(doc)
    doc["signature"] = article.signature
    doc["dedup_keys"] = band_keys(article.signature) if article.signature else []
    return doc


def seen_key(ingested_at: str | datetime, article_id: str) -> str:
    """Sort key of "first seen" for near-duplicates: ISO UTC ``ingested_at`` (µs) + ``|`` + id."""
    if isinstance(ingested_at, str):
        ingested_at = datetime.fromisoformat(ingested_at.replace("Z", "+00:00"))
    return ingested_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "|" + article_id


class CredentialsError(RuntimeError):
    """No usable Elasticsearch password (missing, unreadable or empty file); the message is one
    line saying what to do."""


def password_file(settings: Settings) -> Path:
    """Where the local ``elastic`` password lives: ``$HADATH_HOME/secrets/elastic.password``
    (written by ``hadath infra up``: folder 0700, file 0600, one line)."""
    return Path(settings.home).expanduser().resolve() / "secrets" / "elastic.password"


def es_auth(settings: Settings, *, missing_ok: bool = False) -> tuple[str, str] | None:
    """``(user, password)`` for HTTP basic authentication to Elasticsearch.

    ``HADATH_ES_PASSWORD`` wins (an empty value means: send no credentials, None); otherwise
    the password is read from :func:`password_file`. Raises :class:`CredentialsError` (one line
    saying what to do) when that file is missing (unless ``missing_ok``: then None), unreadable
    or empty.
    """
    if settings.es_password is not None:
        password = settings.es_password.get_secret_value()
        return (settings.es_user, password) if password else None
    path = password_file(settings)
    try:
        password = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        if missing_ok:
            return None
        raise CredentialsError(
            f"no Elasticsearch password: {path} does not exist; run `hadath infra up` (it creates it) "
            f"or set {env_name('es_password')}") from None
    except OSError as exc:
        raise CredentialsError(
            f"cannot read the Elasticsearch password file {path} ({exc.strerror}): run as its owner "
            f"or set {env_name('es_password')}") from None
    if not password:
        raise CredentialsError(f"the Elasticsearch password file {path} is empty: delete it and run "
                           f"`hadath infra up`, or set {env_name('es_password')}")
    return settings.es_user, password


def client_kwargs(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for ``Elasticsearch(**...)`` and ``AsyncElasticsearch(**...)``:
    ``{"hosts": [HADATH_ES_URL], "basic_auth": (user, password), "request_timeout": 30}``
    (seconds; ``basic_auth`` left out when :func:`es_auth` gives None), updated with
    ``overrides``. Raises :class:`CredentialsError` as :func:`es_auth` does."""
    kwargs: dict[str, Any] = {"hosts": [settings.es_url], "request_timeout": 30}
    auth = es_auth(settings)
    if auth is not None:
        kwargs["basic_auth"] = auth
    kwargs.update(overrides)
    return kwargs


def client(settings: Settings, **kwargs: Any) -> Elasticsearch:
    """A synchronous client for ``HADATH_ES_URL`` with the credentials of :func:`es_auth`
    (request timeout 30 s unless given; ``kwargs`` go to the client). Raises
    :class:`CredentialsError` as :func:`es_auth` does."""
    return Elasticsearch(**client_kwargs(settings, **kwargs))
