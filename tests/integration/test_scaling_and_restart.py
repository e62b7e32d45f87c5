"""Scaling extract and surviving restarts on the real Kafka and Elasticsearch."""

from __future__ import annotations

import os
import signal
import time

from kafka import KafkaAdminClient

from hadath import processes
from tests.integration.conftest import jsonl_bytes, sample_variants

def _articles(n: int) -> list[dict]:
    """``n`` distinct articles built from the shipped samples (each with its own url)."""
    return sample_variants(n, "scale")


def test_two_extract_workers_share_partitions_and_index_each_article_once(make_pipeline):
    pipe = make_pipeline(extract_workers=2)
    admin = KafkaAdminClient(bootstrap_servers=pipe.settings.kafka_bootstrap)
    try:
        group = admin.describe_groups([pipe.settings.group_id("extract")])[pipe.settings.group_id("extract")]
    finally:
        admin.close()
    assigned = []
    for member in group["members"]:
        parts = [p for t in member["member_assignment"]["assigned_partitions"]
                 if t["topic"] == pipe.topics.normalized for p in t["partitions"]]
        assigned.append(set(parts))
    assert len(assigned) == 2 and all(assigned), assigned
    assert assigned[0].isdisjoint(assigned[1]) and assigned[0] | assigned[1] == set(range(pipe.settings.topic_partitions))

    articles = _articles(120)
    pipe.send_raw(*jsonl_bytes(*articles))
    pipe.wait()
    assert pipe.count() == len(articles)
    assert pipe.dead_letters() == []


def test_killing_extract_mid_stream_loses_nothing_and_duplicates_nothing(make_pipeline):
    pipe = make_pipeline()
    articles = _articles(150)
    pipe.send_raw(*jsonl_bytes(*articles[:75]))
    time.sleep(1.0)
    pid = processes.status(pipe.settings)["extract-1"]["pid"]
    os.kill(pid, signal.SIGKILL)  # a crash: no clean shutdown, no offset commit
    pipe.send_raw(*jsonl_bytes(*articles[75:]))
    processes.up(pipe.settings, progress=lambda *_: None)  # restarts only what is down
    pipe.wait()
    # exactly the articles fed, each once: every url indexed, no other document, no dead letter
    assert pipe.count() == len(articles)
    assert sorted(d["url"] for d in pipe.docs()) == sorted(a["url"] for a in articles)
    assert pipe.dead_letters() == []
