"""Near-duplicates through the real pipeline: the republished story points at the first one seen."""

from __future__ import annotations

import json

from tests.conftest import REPO

SAMPLES = REPO / "hadath" / "samples" / "articles.jsonl"
PAIR = ("gulf-wire-0002", "maghreb-news-0001")  # the same story, republished with edits


def test_republished_story_gets_duplicate_of_and_search_can_collapse_it(make_pipeline):
    by_id = {a["id"]: a for a in map(json.loads, SAMPLES.read_text(encoding="utf-8").splitlines())}
    pipe = make_pipeline()
    pipe.feed(SAMPLES)
    pipe.wait()
    docs = {d["url"]: d for d in pipe.docs()}
    first, second = (docs[by_id[i]["url"]] for i in PAIR)
    marked = [d for d in docs.values() if d.get("duplicate_of")]
    assert len(marked) == 1, [(d["title"], d["duplicate_of"]) for d in marked]
    dup = marked[0]
    original = second if dup is first else first
    assert dup["article_id"] in (first["article_id"], second["article_id"])
    assert dup["duplicate_of"] == original["article_id"]
    assert dup["ingested_at"] >= original["ingested_at"]

    everything = pipe.search(None, size=0)["total"]
    assert pipe.search(None, size=0, collapse_duplicates=True)["total"] == everything - 1
