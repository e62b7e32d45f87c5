"""An index built from an older template is migrated (reindexed) when the template changes."""

from __future__ import annotations

from shared.es import client, ensure_index, events_index_name, index_name
from shared.search import search
from hadath.sandbox import isolated_settings


def test_alias_moves_to_the_current_index_and_keeps_documents(infrastructure):
    settings = isolated_settings()
    es = client(settings)
    old = f"{settings.index_alias}-old"
    try:
        es.indices.create(index=old, aliases={settings.index_alias: {"is_write_index": True}})
        es.index(index=settings.index_alias, id="a1", document={"article_id": "a1", "title": "لبنان يرحب"},
                 refresh=True)
        assert ensure_index(es, settings) == index_name(settings)
        assert list(es.indices.get_alias(name=settings.index_alias)) == [index_name(settings)]
        assert not es.indices.exists(index=old)
        assert es.get(index=settings.index_alias, id="a1")["_source"]["title"] == "لبنان يرحب"
        # the copy gets the stemmed fields search matches, so the article is still found
        assert es.get(index=settings.index_alias, id="a1")["_source"]["title_stemmed"] == "لبنان يرحب"
        assert [h["article_id"] for h in search(es, settings, "يرحب")["hits"]] == ["a1"]
        assert ensure_index(es, settings) == index_name(settings)  # idempotent
    finally:
        es.options(ignore_status=404).indices.delete(index=old)
        es.options(ignore_status=404).indices.delete(index=index_name(settings))
        es.options(ignore_status=404).indices.delete_index_template(name=settings.index_alias)
        es.options(ignore_status=404).indices.delete_index_template(name=settings.events_alias)
        es.options(ignore_status=404).indices.delete(index=events_index_name(settings))


def test_an_installation_from_before_events_moves_its_articles_and_gives_the_alias_to_events(infrastructure):
    """Article documents behind the old default alias (``hadath-events`` then, here the isolated
    events alias) move to the article alias; the events alias then names the event index."""
    settings = isolated_settings()
    es = client(settings)
    legacy = f"{settings.events_alias}-0123456789"
    try:
        es.indices.create(index=legacy, aliases={settings.events_alias: {"is_write_index": True}},
                          mappings={"properties": {"article_id": {"type": "keyword"}, "body": {"type": "text"},
                                                   "title": {"type": "text"}}})
        es.index(index=settings.events_alias, id="a1", refresh=True,
                 document={"article_id": "a1", "title": "لبنان يرحب", "body": "نص"})
        assert ensure_index(es, settings) == index_name(settings)
        assert list(es.indices.get_alias(name=settings.index_alias)) == [index_name(settings)]
        assert list(es.indices.get_alias(name=settings.events_alias)) == [events_index_name(settings)]
        assert not es.indices.exists(index=legacy)
        assert es.get(index=settings.index_alias, id="a1")["_source"]["title"] == "لبنان يرحب"
        assert es.count(index=settings.events_alias)["count"] == 0
        assert ensure_index(es, settings) == index_name(settings)  # idempotent
    finally:
        for index in (legacy, index_name(settings), events_index_name(settings)):
            es.options(ignore_status=404).indices.delete(index=index)
        for alias in (settings.index_alias, settings.events_alias):
            es.options(ignore_status=404).indices.delete_index_template(name=alias)
