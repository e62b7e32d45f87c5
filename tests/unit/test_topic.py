"""Tests of the topic classifier (``services.events.topic``) and its trainer
(``services.events.train_topic``). The texts below are written for these tests."""

from __future__ import annotations

import json
import re
import time

import numpy as np
import pytest

from services.events.topic import (
    DEFAULT_MODEL_PATH,
    TOPICS,
    TopicClassifier,
    article_text,
    hashed_counts,
    majority_topic,
    words,
)
from services.events.train_topic import (
    TIME_CUTOFF,
    evaluate,
    fit_topic_model,
    main,
    read_corpus,
    split_by_time,
)
from shared.arabic import normalize
from tests.conftest import shared_file

MIN_TIME_SPLIT_ACCURACY = 0.82  # measured 0.8294 (model/MODEL_CARD.md) minus 0.01

ARTICLES = {
    "sport": ("الأهلي يفوز على الزمالك بهدفين في نهائي كأس مصر",
              "سجل مهاجم الأهلي هدفين في الشوط الثاني من المباراة النهائية على ملعب القاهرة "
              "الدولي، وتوج الفريق بلقب الكأس أمام جماهيره بعد أداء قوي للحارس والمدافعين."),
    "economy": ("ارتفاع مؤشرات البورصة وأسعار النفط في ختام تداولات الأسبوع",
                "أغلق المؤشر العام للسوق على ارتفاع بنسبة 1.2 بالمئة بدعم من أسهم البنوك "
                "والشركات العقارية، وارتفع سعر خام برنت إلى 75 دولارا للبرميل، وبلغت قيمة "
                "التداولات ملياري ريال."),
    "technology": ("سامسونغ تطلق هاتفها الذكي الجديد بكاميرا ثلاثية",
                   "كشفت الشركة الكورية عن هاتف ذكي جديد يعمل بنظام أندرويد ويضم معالجا أسرع "
                   "وبطارية أكبر وشاشة قابلة للطي، إلى جانب تطبيقات للذكاء الاصطناعي وتحديثات "
                   "للبرمجيات."),
    "culture": ("انطلاق مهرجان القاهرة السينمائي بمشاركة أفلام عربية وأجنبية",
                "افتتح المهرجان دورته الجديدة بعرض فيلم روائي طويل لمخرج شاب، وتتنافس على "
                "جوائزه أفلام من عشرين دولة، ويكرم المهرجان عددا من الممثلين والفنانين "
                "والكتاب."),
}

shipped = pytest.mark.skipif(not DEFAULT_MODEL_PATH.exists(), reason="topic model not shipped")


@shipped
def test_shipped_model_loads_once_and_classifies_written_articles():
    model = TopicClassifier.load()
    assert TopicClassifier.load() is model  # cached: read once per process
    assert sorted(model.classes) == sorted(TOPICS)
    for topic, (title, body) in ARTICLES.items():
        assert model.predict_one(title, body) == topic, title
    texts = [article_text(t, b) for t, b in ARTICLES.values()]
    assert model.predict(texts) == list(ARTICLES)
    proba = model.predict_proba(texts)
    assert proba.shape == (4, len(TOPICS))
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert [model.classes[i] for i in proba.argmax(axis=1)] == list(ARTICLES)
    assert model.predict([]) == []


@shipped
def test_shipped_model_is_small_and_holds_no_pickle_or_text():
    assert DEFAULT_MODEL_PATH.stat().st_size < 8_000_000
    with np.load(DEFAULT_MODEL_PATH, allow_pickle=False) as z:
        assert set(z.files) == {"config", "kept", "idf", "coef", "intercept"}
        assert all(z[k].dtype != object for k in z.files)
        config = str(z["config"])
    assert not re.search("[\u0621-\u064a]", config)  # no Arabic (article) text in the config


def test_words_are_normalized_findall_words_with_the_article_stripped():
    text = "والاقتصادُ للمنتخب، بالمدينة: ولبنان و الرئيس 2018 x"
    assert words(text, stem=False) == re.findall(r"\w\w+", normalize(text))
    assert words(text) == ["اقتصاد", "منتخب", "مدينه", "ولبنان", "رييس", "2018"]
    assert words("الماء") == ["الما"]  # fewer than three letters after ال: kept


def test_hashed_counts_counts_words_and_pairs_within_each_text():
    x = hashed_counts(["كرة القدم كرة", "", "كرة"], bits=10)
    assert x.shape == (3, 1024)
    # 3 words + 2 pairs; "كرة" twice
    assert x[0].sum() == 5 and x[0].max() == 2
    assert x[1].nnz == 0
    assert x[2].sum() == 1  # no pair across texts


def test_majority_topic():
    assert majority_topic(["sport", "economy", "sport"]) == "sport"
    assert majority_topic([]) is None and majority_topic([None]) is None
    assert majority_topic(["economy", "sport"]) == "economy"  # tie: first seen
    assert majority_topic(["economy", "sport"], [0.4, 0.9]) == "sport"  # tie: confidence
    assert majority_topic([None, "culture", None]) == "culture"
    with pytest.raises(ValueError):
        majority_topic(["sport"], [0.5, 0.5])


def _synthetic(n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    vocab = {"sport": "مباراة هدف ملعب فريق مدرب لاعب دوري كأس".split(),
             "economy": "بورصة سهم نفط دولار بنك تضخم ميزانية استثمار".split(),
             "technology": "هاتف تطبيق برمجيات شريحة حاسوب إنترنت روبوت شبكة".split()}
    common = "قال اليوم في من على إلى أن هذا".split()
    texts, labels = [], []
    for i in range(n):
        topic = list(vocab)[i % 3]
        ws = list(rng.choice(vocab[topic], 6)) + list(rng.choice(common, 6))
        rng.shuffle(ws)
        texts.append(article_text(" ".join(ws[:3]), " ".join(ws)))
        labels.append(topic)
    return texts, labels


def test_tiny_training_run_writes_a_model_that_loads_and_predicts(tmp_path):
    t0 = time.perf_counter()
    texts, labels = _synthetic(120, seed=1)
    model = fit_topic_model(texts, labels, bits=12, min_df=1, temperature=0.5)
    path = model.save(tmp_path / "tiny.npz")
    loaded = TopicClassifier.load(path)
    assert loaded.classes == ["economy", "sport", "technology"]
    assert loaded.bits == 12 and loaded.temperature == 0.5
    test_texts, test_labels = _synthetic(30, seed=2)
    pred = loaded.predict(test_texts)
    assert np.mean([p == g for p, g in zip(pred, test_labels)]) >= 0.9
    # float16 weights in the file: scores within rounding of the in-memory model
    assert np.allclose(loaded.decision_function(test_texts), model.decision_function(test_texts),
                       atol=1e-2)
    assert loaded.predict_one("هدف في الملعب", "فاز الفريق في مباراة الدوري") == "sport"
    assert time.perf_counter() - t0 < 10


def test_two_topic_training_keeps_one_row_per_topic(tmp_path):
    texts, labels = _synthetic(60, seed=3)
    keep = [i for i, y in enumerate(labels) if y != "technology"]
    model = fit_topic_model([texts[i] for i in keep], [labels[i] for i in keep], bits=10, min_df=1)
    loaded = TopicClassifier.load(model.save(tmp_path / "two.npz"))
    assert loaded.predict(["بورصة سهم دولار"]) == ["economy"]
    assert loaded.predict(["مباراة هدف ملعب"]) == ["sport"]


def test_training_entry_point_on_a_small_corpus(tmp_path, capsys):
    rows = []
    texts, labels = _synthetic(90, seed=4)
    for i, (t, y) in enumerate(zip(texts, labels)):
        month = "2017-12" if i < 9 else ("2018-03" if i < 60 else "2018-08")
        title, body = t.split("\n", 1)
        rows.append({"id": str(i), "source": "s1" if i % 2 else "s2", "title": title, "body": body,
                     "published_at": f"{month}-10T10:00:00+03:00", "category": y})
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out, metrics = tmp_path / "m.npz", tmp_path / "m.json"
    assert main(["--corpus", str(corpus), "--out", str(out), "--speed", str(corpus),
                 "--metrics", str(metrics), "--bits", "12", "--min-df", "1"]) == 0
    figures = json.loads(metrics.read_text(encoding="utf-8"))
    assert figures["time_split"]["accuracy"] >= 0.9
    assert set(figures["time_split"]["per_source"]) == {"s1", "s2"}
    assert "literal split" in capsys.readouterr().out
    assert TopicClassifier.from_file(out).predict(["هاتف تطبيق شبكة"]) == ["technology"]


@shipped
@pytest.mark.corpus
def test_shipped_model_on_the_time_split():
    """The test split (from 2018-07-01) as the model card reports it (speed is measured by
    ``train_topic --speed``, not here: a timing assertion is flaky on a shared machine)."""
    rows = read_corpus(shared_file("data", "news", "ant-20k.jsonl.gz"))
    _, test = split_by_time(rows, TIME_CUTOFF)
    assert evaluate(TopicClassifier.load(), test)["accuracy"] >= MIN_TIME_SPLIT_ACCURACY
