"""The trends page's markup (dashboard/trends.py, charts.py) from a real queue's GET /v1/stats: the
figures that land in the bars and tables against the hand-made history of tests/queue/stats_history.py,
hostile names escaped, empty and one-day windows, and the SVG parsed as XML and drawn by Chromium."""

from __future__ import annotations

import math
import shutil
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from healloop.dashboard.testpage import test_url as page_of
from healloop.dashboard.trends import TEXT, render_trends, standalone_page, translator
from tests.queue.stats_history import SUSPECT_A, SUSPECT_B, History, make_history, notify_config, receiver
from tests.queue.stats_history import stats as _stats
from tests.queue.stats_history import told as _told
from tests.queue.stats_history import us as _us
from tests.support import QueueServer, failure, wait_until

CHROMIUM = "/usr/bin/chromium"
SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script>&"\'><img src=x onerror=alert(1)>'
en, zh = translator("en"), translator("zh")


@pytest.fixture(scope="module")
def queue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[QueueServer, History, dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("trends")
    with receiver() as port:
        server = QueueServer(tmp / "events.db", "--config", str(notify_config(tmp, port))).start()
        try:
            with server.client() as c:
                history = make_history(c)
                events = {name: c.get(f"/v1/events/{eid}").json() for name, eid in history.ids.items()}
                # Four escalations told to each channel: wait until the two that answer have answered.
                wait_until(lambda: _told(c) == {"ok": 4, "no": 4}, timeout=20, what="the deliveries")
            yield server, history, events
        finally:
            server.stop()



def _parse(body: str) -> ET.Element:
    """The body is well-formed XML as well as HTML: one <section> of closed, escaped elements."""
    return ET.fromstring(body)


def _bars(root: ET.Element, chart_id: str) -> list[ET.Element]:
    svg = root.find(f".//{SVG}svg[@id='{chart_id}']")
    assert svg is not None, chart_id
    return svg.findall(f".//{SVG}rect[@class='bar']")


def _rows(root: ET.Element, table_id: str) -> list[list[str]]:
    tbl = root.find(f".//table[@id='{table_id}']")
    assert tbl is not None, table_id
    return [["".join(td.itertext()) for td in tr.findall("td")] for tr in tbl.findall("tbody/tr")]


def _hand_figures(h: History, events: dict[str, Any]) -> dict[str, Any]:
    """What the page must show, from what the history put in (not from the stats reply)."""
    days: dict[str, Counter[str]] = {}
    for name, ev in events.items():
        days.setdefault(ev["created_at"][:10], Counter())[h.classes[name]] += 1
    took: dict[str, list[float]] = {}
    for name, ev in events.items():
        if ev["status"] == "resolved":
            seconds = (_us(ev["resolved_at"]) - _us(ev["created_at"])) / 1e6
            took.setdefault(h.classes[name], []).append(seconds)
    repair = {cls: (sum(ts) / len(ts), sorted(ts)[math.ceil(0.9 * len(ts)) - 1]) for cls, ts in took.items()}
    return {"days": days, "repair": repair,
            "outcomes": {"healed": 4, "approved": 1, "closed": 1, "proposed": 1, "escalated": 3,
                         "reverted": 1, "open": 1}}


def test_the_figures_in_the_markup_are_the_historys(queue) -> None:
    server, h, events = queue
    want = _hand_figures(h, events)
    root = _parse(render_trends(_stats(server), en))
    assert root.find(".//strong[@class='events']").text == "12"

    got_days: dict[str, Counter[str]] = {}
    for rect in _bars(root, "trend-per-day"):
        day = got_days.setdefault(rect.get("data-day"), Counter())
        day[rect.get("data-class")] += int(rect.get("data-value"))
        assert rect.find(f"{SVG}title").text.endswith(f": {rect.get('data-value')}")
    assert got_days == want["days"]
    # Each day's total is printed above its bar, and every class is in the legend by its English name.
    totals = [int(t.text) for t in root.iter(f"{SVG}text") if t.get("class") == "total"]
    assert sorted(totals) == sorted(sum(c.values()) for c in want["days"].values())
    legend = {g.get("data-key"): "".join(g.itertext())
              for g in root.find(f".//{SVG}svg[@id='trend-per-day']").iter(f"{SVG}g") if g.get("data-key")}
    assert legend == {"selector_not_found": "selector not found", "timeout": "timeout",
                      "assertion_mismatch": "assertion mismatch",
                      "service_unreachable": "service unreachable",
                      "unknown": "unknown", "unclassified": "not classified yet"}

    outcome_bars = {r.get("data-key"): int(r.get("data-value")) for r in _bars(root, "trend-outcomes")}
    assert outcome_bars == want["outcomes"]
    outcome_svg = ET.tostring(root.find(f".//{SVG}svg[@id='trend-outcomes']"), encoding="unicode")
    assert "healed automatically: 4 (33.3%)" in outcome_svg and "reverted: 1 (8.3%)" in outcome_svg

    repair: dict[str, dict[str, float]] = {}
    for rect in _bars(root, "trend-repair"):
        repair.setdefault(rect.get("data-class"), {})[rect.get("data-kind")] = float(rect.get("data-value"))
    assert set(repair) == set(want["repair"]) == {"selector_not_found", "timeout", "unknown"}
    for cls, (mean, p90) in want["repair"].items():
        # The event's times on the wire are in milliseconds, the store's in microseconds.
        assert abs(repair[cls]["mean"] - mean) <= 0.003 and abs(repair[cls]["p90"] - p90) <= 0.003, cls

    assert [r[:3] for r in _rows(root, "trend-flaky")] == [
        ["cypress/e2e/spec2.cy.js", "checkout > pays 2", "2"],
        ["cypress/e2e/spec3.cy.js", "checkout > pays 3", "1"]]
    assert [r[:3] for r in _rows(root, "trend-suspects")] == [
        [SUSPECT_A["sha"], SUSPECT_A["subject"], "2"], [SUSPECT_B["sha"], SUSPECT_B["subject"], "1"]]
    nodes = {r[0]: r for r in _rows(root, "trend-nodes")}
    assert nodes["node-a"][1:4] == ["11", "6", "54.5%"] and nodes["node-b"][1:4] == ["2", "0", "0.0%"]
    assert nodes["node-a"][4] == events["e12"]["created_at"][:16].replace("T", " ") + " UTC"
    notify = _rows(root, "trend-notify")
    # Failing and waiting channels first; each channel's failed, pending and delivered counts.
    assert [r[:4] for r in notify] == [["down", "0", "4", "0"], ["no", "4", "0", "0"], ["ok", "0", "0", "4"]]
    assert "401" in notify[1][6] and notify[2][6] == "—"


def test_the_chinese_page_has_the_same_figures(queue) -> None:
    server, h, events = queue
    root = _parse(render_trends(_stats(server), zh))
    assert root.find("h2").text == "趋势"
    outcome_svg = ET.tostring(root.find(f".//{SVG}svg[@id='trend-outcomes']"), encoding="unicode")
    assert "自动修复: 4 (33.3%)" in outcome_svg
    assert {r.get("data-key"): int(r.get("data-value")) for r in _bars(root, "trend-outcomes")} == \
        _hand_figures(h, events)["outcomes"]
    assert set(TEXT["en"]) == set(TEXT["zh"])


def test_an_empty_window_says_so_and_draws_no_bar(queue) -> None:
    server, _, _ = queue
    body = render_trends(_stats(server, since="2099-01-01T00:00:00Z", until="2099-01-03T00:00:00Z"), en)
    root = _parse(body)
    for chart in ("trend-per-day", "trend-outcomes", "trend-repair"):
        assert _bars(root, chart) == []
    assert body.count("No failures in this window") == 2 and "Nothing was resolved in this window" in body
    days = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "day"]
    assert days == ["01-01", "01-02"]
    assert _rows(root, "trend-flaky") == [["No test was found flaky"]]
    assert "nan" not in body.lower() and "inf" not in body.replace("info", "")


def test_a_one_day_window_is_one_bar(queue) -> None:
    server, h, events = queue
    day = events["e12"]["created_at"][:10]
    root = _parse(render_trends(_stats(server, since=f"{day}T00:00:00Z", until=f"{day}T23:59:59Z"), en))
    bars = _bars(root, "trend-per-day")
    assert {b.get("data-day") for b in bars} == {day}
    want = _hand_figures(h, events)["days"][day]
    assert {b.get("data-class"): int(b.get("data-value")) for b in bars} == dict(want)
    assert [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "day"] == [day[5:]]


def test_hostile_names_from_the_queue_are_text(make_server) -> None:
    s = make_server()
    with s.client() as c:
        r = c.post("/v1/events", json=failure(1, spec=f"e2e/{HOSTILE}.spec.ts", test=HOSTILE))
        eid = r.json()["id"]
        tok = c.post(f"/v1/events/{eid}/claim", json={"worker": "a"}).json()["lease"]["token"]
        for to, data in (("analyzing", {"class": HOSTILE}), ("verifying", None),
                         ("resolved", {"class": HOSTILE, "label": "flaky"})):
            assert c.post(f"/v1/events/{eid}/transition", json={"token": tok, "to": to, "data": data}
                          ).status_code == 200
        eid = c.post("/v1/events", json=failure(2, node=HOSTILE)).json()["id"]
        tok = c.post(f"/v1/events/{eid}/claim", json={"worker": "a"}).json()["lease"]["token"]
        report = {"suspect_commit": {"sha": HOSTILE, "subject": HOSTILE}}
        assert c.post(f"/v1/events/{eid}/transition", json={
            "token": tok, "to": "escalated", "data": {"class": HOSTILE, "report": report}}).status_code == 200
        st = c.get("/v1/stats").json()
    body = render_trends(st, en)
    root = _parse(body)  # would fail on a tag or an unescaped & that got through
    assert "<script" not in body and "<img" not in body
    assert {b.get("data-class") for b in _bars(root, "trend-per-day")} == {HOSTILE}
    assert _rows(root, "trend-flaky")[0][:2] == [f"e2e/{HOSTILE}.spec.ts", HOSTILE]
    # On the page each flaky test links to its test page, the address escaped as well as the name.
    linked = _parse(render_trends(st, en, page_of))
    (a,) = linked.findall(".//table[@id='trend-flaky']//a")
    assert a.text == HOSTILE and a.get("href") == page_of(f"e2e/{HOSTILE}.spec.ts", HOSTILE)
    assert a.get("href").startswith("/tests?")
    assert _rows(root, "trend-suspects")[0][:2] == [HOSTILE[:12], HOSTILE]
    assert HOSTILE in {r[0] for r in _rows(root, "trend-nodes")}
    assert any(t.text == HOSTILE for t in root.iter(f"{SVG}text"))  # the legend, as text


def test_a_reply_that_is_not_stats_is_named() -> None:
    with pytest.raises(ValueError, match="no failures_per_day, outcomes"):
        render_trends({"window": {}, "events": 0}, en)
    with pytest.raises(ValueError, match="choose one of en, zh"):
        translator("fr")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    assert shutil.which(CHROMIUM), f"{CHROMIUM} is missing: run scripts/setup (it installs Chromium)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield b
        finally:
            b.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_chromium_draws_every_bar(queue, browser, tmp_path: Path, lang: str) -> None:
    server, h, events = queue
    want = _hand_figures(h, events)
    st = _stats(server)
    path = tmp_path / f"trends-{lang}.html"
    path.write_text(standalone_page(render_trends(st, translator(lang)), lang=lang, title="trends"),
                    encoding="utf-8")
    page = browser.new_page(viewport={"width": 1000, "height": 1400})
    try:
        page.goto(path.as_uri())
        drawn = page.evaluate("""() => {
            const out = {};
            for (const svg of document.querySelectorAll('svg.chart')) {
                out[svg.id] = [...svg.querySelectorAll('rect.bar')].filter(r => {
                    const b = r.getBoundingClientRect(); return b.width > 0 && b.height > 0; }).length;
            }
            return out; }""")
        day_segments = sum(len(c) for c in want["days"].values())
        assert drawn == {"trend-per-day": day_segments, "trend-outcomes": 7, "trend-repair": 6}
        # No legend entry or axis text drawn over another (Chinese text is wider than Latin).
        overlaps = page.evaluate("""() => {
            const out = [];
            for (const svg of document.querySelectorAll('svg.chart')) {
                const boxes = [...svg.querySelectorAll('.legend-item, .axis text')]
                    .map(e => [e.textContent, e.getBoundingClientRect()]);
                for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
                    const [a, p] = boxes[i], [b, q] = boxes[j];
                    if (p.left < q.right - 1 && q.left < p.right - 1 && p.top < q.bottom - 1
                        && q.top < p.bottom - 1) out.push([svg.id, a, b]);
                }
            }
            return out; }""")
        assert overlaps == []
        # Names for assistive technology: each chart's accessible name is its <title>.
        names = page.evaluate("() => [...document.querySelectorAll('svg.chart')].map("
                              "s => document.getElementById(s.getAttribute('aria-labelledby').split(' ')[0])"
                              ".textContent)")
        assert names[0] == TEXT[lang]["trends.per_day.title"]
        page.screenshot(path=str(tmp_path / f"trends-{lang}.png"), full_page=True)
    finally:
        page.close()
