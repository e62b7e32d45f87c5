"""The search page in a real browser: Debian's headless Chromium, driven by selenium through the
system chromedriver, against a real pipeline.

One isolated pipeline for the module (real Kafka and Elasticsearch, the five services and the
search page started by :func:`hadath.processes.up` with ``web=True`` on a free port) is fed the
shipped samples (``hadath/samples``), as ``hadath demo`` does. An alert on the query is saved before the feed. The tests then search in Arabic,
click a facet, open an event, look at the maps and at the alert's matches, as a person would with the keyboard and the
mouse. Screenshots are saved under ``tests/integration/artifacts/`` (git-ignored) — look at
them. Skipped when ``chromium`` or ``chromedriver`` is not installed
(``apt-get install chromium chromium-driver``; ``.ci/run`` does it).
"""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hadath import processes
from hadath.sandbox import Pipeline, cleanup, start
from shared.alerts import add_alert
from shared.event_search import events_written

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "hadath" / "samples"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
QUERY = "بغداد"
ALERT = "متابعة بغداد"

needs_browser = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                   reason="chromium/chromedriver not installed (apt-get install chromium chromium-driver)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def site(infrastructure) -> Iterator[tuple[Pipeline, str]]:
    """``(pipeline, base URL)``: the samples indexed with their events, the page serving them."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("chromium/chromedriver not installed")
    pipe = start(1, web_port=_free_port())
    try:
        assert processes.up(pipe.settings, web=True, progress=lambda *_: None) == [processes.WEB]
        # saved before the feed, so the index stage matches every sample article against it
        add_alert(pipe.es, pipe.settings, ALERT, QUERY)
        report = pipe.feed(SAMPLES / "articles.jsonl", SAMPLES / "page.txt", source="sample-page")
        assert report.sent >= 20 and not report.refused
        pipe.wait()
        deadline = time.monotonic() + 120
        while True:
            st = events_written(pipe.es, pipe.settings)
            if st["without_event"] == 0 and st["event_articles"] == st["articles"]:
                break
            assert time.monotonic() < deadline, f"events not written: {st}"
            time.sleep(1)
        yield pipe, processes.web_url(pipe.settings).rstrip("/")
    finally:
        cleanup(pipe.settings)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """A headless Chromium (the system's, through the system chromedriver: nothing downloaded)."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("chromium/chromedriver not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1700", "--lang=ar", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def _shot(driver, name: str) -> Path:
    """Save a full-height screenshot as ``artifacts/<name>.png``."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(max(height, 900), 4000))
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1700)
    return path


def _follow(driver, element, *, keyboard: bool = False) -> None:
    """Activate a link (a click, or Enter on it) and wait until the next page replaced this one."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "html")
    if keyboard:
        element.send_keys(Keys.ENTER)
    else:
        element.click()
    WebDriverWait(driver, 30).until(ec.staleness_of(old))
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")


def _total(driver) -> int:
    from selenium.webdriver.common.by import By

    return int(driver.find_element(By.ID, "summary").get_attribute("data-total"))


def _search_by_keyboard(driver, base: str, query: str) -> None:
    """Open the front page, press ``/`` to reach the search box, type ``query``, press Enter."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(base + "/")
    ActionChains(driver).send_keys("/").perform()
    box = driver.switch_to.active_element
    assert box.get_attribute("id") == "q"
    box.send_keys(query)
    _follow(driver, box, keyboard=True)
    WebDriverWait(driver, 30).until(ec.presence_of_element_located((By.ID, "summary")))


@needs_browser
def test_an_arabic_query_shows_its_hits_highlighted_right_to_left(site, browser):
    from selenium.webdriver.common.by import By

    _, base = site
    _search_by_keyboard(browser, base, QUERY)
    html = browser.find_element(By.TAG_NAME, "html")
    assert html.get_attribute("dir") == "rtl" and html.get_attribute("lang") == "ar"
    hits = browser.find_elements(By.CSS_SELECTOR, "li.hit")
    assert hits and _total(browser) >= len(hits) >= 2
    marks = [m.text for m in browser.find_elements(By.CSS_SELECTOR, "li.hit mark")]
    assert marks and all("بغداد" in m for m in marks), marks
    # right to left: the facets column stands to the right of the results
    facets = browser.find_element(By.CSS_SELECTOR, "aside.facets").rect
    results = browser.find_element(By.CSS_SELECTOR, "section.results").rect
    assert facets["x"] > results["x"]
    for label in ("PERS", "LOC", "ORG", "source", "topic", "month"):
        assert browser.find_elements(By.CSS_SELECTOR, f'section.facet[data-facet="{label}"] a.facet-link'), label
    assert browser.find_elements(By.CSS_SELECTOR, "li.hit a.event-link")
    assert _shot(browser, "1-search").stat().st_size > 10_000


@needs_browser
def test_a_facet_click_narrows_the_hits(site, browser):
    from selenium.webdriver.common.by import By

    _, base = site
    browser.get(base + "/")  # every article
    before = _total(browser)
    link = browser.find_element(By.CSS_SELECTOR, 'section.facet[data-facet="source"] a.facet-link')
    source, count = link.get_attribute("data-value"), int(link.find_element(By.XPATH, "..").find_element(
        By.CSS_SELECTOR, ".count").text)
    _follow(browser, link)
    assert _total(browser) == count < before
    assert {s.text for s in browser.find_elements(By.CSS_SELECTOR, "li.hit .source")} == {source}
    assert browser.find_elements(By.CSS_SELECTOR, "section.active-filters a.chip.remove")
    _shot(browser, "2-facet-source")
    # a second facet (a place) narrows further, and removing the first widens again
    place = browser.find_element(By.CSS_SELECTOR, 'section.facet[data-facet="LOC"] a.facet-link:not(.active)')
    _follow(browser, place)
    narrowed = _total(browser)
    assert 0 < narrowed <= count
    _follow(browser, browser.find_element(By.CSS_SELECTOR, "section.active-filters a.chip.remove"))
    assert _total(browser) >= narrowed
    _shot(browser, "3-facet-place")


@needs_browser
def test_an_event_page_opens_with_its_outlets_entities_and_map(site, browser):
    from selenium.webdriver.common.by import By

    _, base = site
    _search_by_keyboard(browser, base, "الخرطوم سيول")
    event_link = browser.find_element(By.CSS_SELECTOR, "li.hit a.event-link")
    _follow(browser, event_link, keyboard=True)
    article = browser.find_element(By.CSS_SELECTOR, "article.event")
    assert article.get_attribute("data-event-id")
    assert "الخرطوم" in browser.find_element(By.TAG_NAME, "h1").text
    outlets = browser.find_elements(By.CSS_SELECTOR, "section.outlet")
    assert len(outlets) >= 2  # the flood was told by two outlets
    assert browser.find_elements(By.CSS_SELECTOR, "ol.timeline li")
    assert any("الخرطوم" in c.text for c in browser.find_elements(By.CSS_SELECTOR, "section.entities a.chip"))
    names = [a.get_attribute("data-name") for a in browser.find_elements(By.CSS_SELECTOR, "svg.worldmap a.marker")]
    assert "الخرطوم" in names
    _shot(browser, "4-event")


@needs_browser
def test_the_maps_have_markers_on_the_world_outline(site, browser):
    from selenium.webdriver.common.by import By

    _, base = site
    browser.get(base + "/?q=" + QUERY)
    circles = browser.find_elements(By.CSS_SELECTOR, "svg.worldmap circle.marker")
    assert len(circles) >= 2
    assert all(c.is_displayed() and c.size["width"] > 2 for c in circles)
    # the outline is the shipped one, and it loaded
    loaded = browser.execute_script(
        "return fetch('/world.svg').then(r => r.text()).then(t => (t.match(/<path/g) || []).length)")
    assert loaded > 150
    # a marker filters the search by its place (reached with the keyboard: markers are links)
    _follow(browser, browser.find_element(By.CSS_SELECTOR, "svg.worldmap a.marker"), keyboard=True)
    assert browser.find_elements(By.CSS_SELECTOR, 'section.active-filters a.chip.remove')
    assert _total(browser) >= 1
    _shot(browser, "5-map-filter")


@needs_browser
def test_an_empty_result_and_an_unknown_event_say_so(site, browser):
    from selenium.webdriver.common.by import By

    _, base = site
    browser.get(base + "/?q=" + "كلمةلاتوجدأبدا")
    assert "لا نتائج" in browser.find_element(By.ID, "empty").text
    browser.get(base + "/events/no-such-event")
    assert "لا حدث" in browser.find_element(By.ID, "error").text
    _shot(browser, "6-unknown-event")


@needs_browser
def test_an_alert_and_its_matches_are_shown_and_lead_to_the_article(site, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    pipe, base = site
    browser.get(base + "/")
    # reached with the keyboard: Tab past the skip link, the search box and its button
    link = browser.find_element(By.ID, "nav-alerts")
    for _ in range(10):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        if browser.switch_to.active_element == link:
            break
    assert browser.switch_to.active_element == link
    _follow(browser, link, keyboard=True)
    section = browser.find_element(By.CSS_SELECTOR, f'section.alert[data-alert="{ALERT}"]')
    total = int(section.find_element(By.CSS_SELECTOR, "h2 .count").get_attribute("data-total"))
    matches = section.find_elements(By.CSS_SELECTOR, "li.match")
    expected = pipe.search(QUERY, size=100)["total"]  # the alert's query is the search's
    assert total == expected >= 2 and len(matches) == min(total, 10)
    _shot(browser, "7-alerts")
    # a match opens its event page at its article
    first = section.find_element(By.CSS_SELECTOR, "li.match a.match-link")
    article_id = first.find_element(By.XPATH, "..").get_attribute("data-article-id")
    _follow(browser, first, keyboard=True)
    assert browser.find_element(By.CSS_SELECTOR, "article.event")
    target = browser.find_element(By.ID, f"a-{article_id}")
    assert browser.execute_script("return document.querySelector(':target') === arguments[0]", target)
    _shot(browser, "8-alert-match-event")
