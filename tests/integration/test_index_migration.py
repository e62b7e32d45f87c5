"""An index built from an older template is migrated (reindexed) when the template changes."""

from __future__ import annotations

from shared.es import client, ensure_index, index_name
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
        assert ensure_index(es, settings) == index_name(settings)  # idempotent
    finally:
        es.options(ignore_status=404).indices.delete(index=old)
        es.options(ignore_status=404).indices.delete(index=index_name(settings))
        es.options(ignore_status=404).indices.delete_index_template(name=settings.index_alias)
