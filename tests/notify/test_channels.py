"""Each channel against a local receiver that checks the service's real format and signature."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import socket
import time

import httpx
import pytest

from healloop.notify.channels import CHANNELS, dingtalk, feishu, slack, webhook
from healloop.notify.channels.common import retry_after
from healloop.notify.config import ChannelConfig
from healloop.notify.model import Notice, SendResult
from healloop.notify.send import send
from tests.notify.receivers import Receivers, markup_texts, shown_text, slack_problems

PATHS = {"feishu": "/feishu", "slack": "/slack", "dingtalk": "/dingtalk", "webhook": "/hook"}
NOTICE = Notice(
    event_id="evt_01JX9Q",
    outcome="escalated",
    reason="regression: the app changed, not the test",
    spec="cypress/e2e/checkout.cy.js",
    test="checkout > pays_with_card",
    message="Timed out retrying after 4000ms: expected to find [data-cy=pay]\n  at Context.eval",
    nodes=("ci-1", "ci-2"),
    count=3,
    diff="--- a/cypress/e2e/checkout.cy.js\n+++ b/cypress/e2e/checkout.cy.js\n"
         "-    cy.get('[data-cy=pay]').click()\n+    cy.get('[data-cy=pay-now]').click()",
    suspect="abc1234 rename the pay button (Ann Lee)",
    link="http://127.0.0.1:8787/v1/events/evt_01JX9Q",
)


def channel(receivers: Receivers, kind: str, secret: str | None = "") -> ChannelConfig:
    """A channel to the receiver of ``kind``, with the receiver's own secret unless told otherwise."""
    if secret == "":
        secret = receivers.secret if kind != "slack" else None
    query = "?access_token=tok" if kind == "dingtalk" else ""
    return ChannelConfig(name=f"t-{kind}", kind=kind, url=receivers.url(PATHS[kind]) + query, secret=secret)


def deliver(ch: ChannelConfig, notice: Notice = NOTICE, now: float | None = None) -> SendResult:
    async def go() -> SendResult:
        async with httpx.AsyncClient() as client:
            return await send(client, ch, notice, now)
    return asyncio.run(go())


@pytest.mark.parametrize("kind", sorted(PATHS))
def test_each_channel_delivers_what_a_person_needs(receivers: Receivers, kind: str) -> None:
    result = deliver(channel(receivers, kind))
    assert result.ok, result
    assert (result.retryable, result.detail) == (False, "delivered")
    [rec] = receivers.on(PATHS[kind])
    assert rec.problems == []
    text = shown_text(rec)
    for part in ("evt_01JX9Q", "checkout > pays_with_card", "regression: the app changed, not the test",
                 "http://127.0.0.1:8787/v1/events/evt_01JX9Q", "abc1234 rename the pay button (Ann Lee)",
                 "ci-1", "ci-2", "[data-cy=pay-now]", "expected to find [data-cy=pay]"):
        assert part in text, (part, text)
    assert "ci-1, ci-2 (3 reports)" in text if kind != "webhook" else rec.json["count"] == 3


def test_feishu_card_is_coloured_by_outcome_and_signed(receivers: Receivers) -> None:
    for outcome, colour in (("escalated", "red"), ("resolved", "green"), ("proposed", "orange"),
                            ("flapping", "orange"), ("reverted", "grey"), ("test", "grey")):
        notice = Notice(event_id="evt_1", outcome=outcome, reason="r", test="t")
        assert deliver(channel(receivers, "feishu"), notice).ok
        rec = receivers.on("/feishu")[-1]
        assert rec.json["card"]["header"]["template"] == colour
        assert rec.json["timestamp"].isdigit()


def test_unsigned_when_no_secret(receivers: Receivers) -> None:
    req = feishu.request(channel(receivers, "feishu", secret=None), NOTICE, 1_700_000_000)
    assert "sign" not in json.loads(req.body)
    assert "timestamp=" not in dingtalk.request(channel(receivers, "dingtalk", secret=None), NOTICE, 1).url
    hook = webhook.request(channel(receivers, "webhook", secret=None), NOTICE, 1)
    assert "x-healloop-signature" not in hook.headers


@pytest.mark.parametrize(("kind", "words"), [
    ("feishu", ["Feishu code 19021", "sign match fail or timestamp is not within one hour"]),
    ("dingtalk", ["DingTalk errcode 310000", "sign not match"]),
    ("webhook", ["HTTP 401 bad signature"]),
])
def test_a_wrong_secret_fails_for_good_with_the_services_words(receivers: Receivers, kind: str,
                                                               words: list[str]) -> None:
    result = deliver(channel(receivers, kind, secret="not-the-secret"))
    assert (result.ok, result.retryable) == (False, False)
    for word in words:
        assert word in result.detail


def test_feishu_rejects_a_timestamp_over_an_hour_old(receivers: Receivers) -> None:
    result = deliver(channel(receivers, "feishu"), now=time.time() - 7200)
    assert (result.ok, result.retryable) == (False, False) and "19021" in result.detail


def test_429_with_retry_after_is_retried_later(receivers: Receivers) -> None:
    receivers.script("/slack", 429, b"rate_limited", {"Retry-After": "7"})
    result = deliver(channel(receivers, "slack"))
    assert (result.ok, result.retryable, result.retry_after, result.status) == (False, True, 7.0, 429)
    assert result.detail == "HTTP 429 rate_limited"
    assert deliver(channel(receivers, "slack")).ok   # the next one goes through


def test_rate_limits_in_the_answer_body_are_retryable(receivers: Receivers) -> None:
    receivers.script("/feishu", 200, {"code": 11232, "msg": "frequency limited psm", "data": {}})
    result = deliver(channel(receivers, "feishu"))
    assert (result.ok, result.retryable) == (False, True) and "11232" in result.detail
    too_fast = {"errcode": 410100, "errmsg": "send too fast, exceed 20 times per minute"}
    receivers.script("/dingtalk", 200, too_fast)
    result = deliver(channel(receivers, "dingtalk"))
    assert (result.ok, result.retryable, result.retry_after) == (False, True, 600.0)


@pytest.mark.parametrize("kind", sorted(PATHS))
def test_503_is_retryable(receivers: Receivers, kind: str) -> None:
    receivers.script(PATHS[kind], 503, b"<html>Service Unavailable</html>")
    result = deliver(channel(receivers, kind))
    assert (result.ok, result.retryable, result.status) == (False, True, 503)
    assert result.detail.startswith("HTTP 503")


def test_a_gone_slack_hook_is_not_retried(receivers: Receivers) -> None:
    ch = ChannelConfig(name="gone", kind="slack", url=receivers.url("/slack-gone"))
    result = deliver(ch)
    assert (result.ok, result.retryable, result.detail) == (False, False, "HTTP 404 no_service")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("kind", sorted(PATHS))
def test_connection_refused_is_retryable_and_says_where(kind: str) -> None:
    ch = ChannelConfig(name="down", kind=kind, url=f"http://127.0.0.1:{_closed_port()}/hook?access_token=x")
    result = deliver(ch)
    assert (result.ok, result.retryable, result.status) == (False, True, None)
    assert result.detail.startswith("cannot connect to http://127.0.0.1")
    assert "access_token" not in result.detail


def test_a_service_that_never_answers_times_out_retryably(receivers: Receivers) -> None:
    receivers.hold("/hook")
    ch = ChannelConfig(name="slow", kind="webhook", url=receivers.url("/hook"), timeout=0.3)
    result = deliver(ch)
    assert (result.ok, result.retryable) == (False, True)
    assert f"no answer from {receivers.url('')} within 0.3 s" in result.detail


DIGEST = Notice(
    event_id="dig_1", outcome="digest", reason="30 events in 5 minutes",
    items=tuple(Notice(event_id=f"evt_{i:02}", outcome="escalated", reason=f"reason {i}", test=f"test {i:02}",
                       nodes=("ci-1",), link=f"http://127.0.0.1:8787/v1/events/evt_{i:02}")
                for i in range(30)),
)


@pytest.mark.parametrize("kind", ["feishu", "slack", "dingtalk"])
def test_a_digest_is_one_message_capped_with_a_count(receivers: Receivers, kind: str) -> None:
    assert deliver(channel(receivers, kind), DIGEST).ok
    [rec] = receivers.on(PATHS[kind])
    assert rec.problems == []
    text = shown_text(rec)
    assert "30 events" in text
    assert "test 00" in text and "test 09" in text and "reason 9" in text
    assert "test 10" not in text and "test 29" not in text
    assert "and 20 more" in text
    assert "http://127.0.0.1:8787/v1/events/evt_03" in text


def test_a_digest_by_webhook_lists_its_items_as_data(receivers: Receivers) -> None:
    assert deliver(channel(receivers, "webhook"), DIGEST).ok
    [rec] = receivers.on("/hook")
    assert rec.json["items_total"] == 30
    assert [i["event_id"] for i in rec.json["items"]] == [f"evt_{i:02}" for i in range(30)]
    big = Notice(event_id="dig_2", outcome="digest", reason="r", items=DIGEST.items * 10)
    assert deliver(channel(receivers, "webhook"), big).ok
    data = receivers.on("/hook")[-1].json
    assert (len(data["items"]), data["items_total"]) == (100, 300)


HOSTILE = Notice(
    event_id="evt_x",
    outcome="escalated",
    reason="<!channel> <at user_id=\"all\">everyone</at> **bold** [click](http://evil.example) \x00 ``` end",
    test="<b>checkout</b> _x_ *y* ~z~ `code` [a](b) |pipe| \\ # heading\n- list\n1. numbered",
    message="NUL\x00here \x1b[31mred\x1b[0m \u202eevil\u202c " + "long " * 40_000,
    nodes=("ci-1<script>",),
    diff="```\n<at user_id=\"all\"></at>\n" + "\n".join(f"+ line {i}" for i in range(10_000)),
    suspect="abc1234 <!here> (Mallory)",
    link="javascript:alert(1)",
)


@pytest.mark.parametrize("kind", sorted(PATHS))
def test_untrusted_text_is_escaped_and_cut(receivers: Receivers, kind: str) -> None:
    result = deliver(channel(receivers, kind), HOSTILE)
    assert result.ok, result
    [rec] = receivers.on(PATHS[kind])
    assert rec.problems == []
    assert b"\\u0000" not in rec.body and b"\x00" not in rec.body and b"\\u001b" not in rec.body
    assert "\u202e" not in rec.body.decode()
    assert "javascript:" not in rec.body.decode()
    limit = {"feishu": 20 * 1024, "slack": 40_000, "dingtalk": 20_000, "webhook": 256_000}[kind]
    assert len(rec.body) < limit
    for markup in markup_texts(rec):
        assert "<at" not in markup and "<!channel>" not in markup and "<!here>" not in markup
        assert "<b>" not in markup and "<script>" not in markup
        # Slack links are <url|text>; the others take Markdown's [text](url)
        assert "<http://evil" not in markup if kind == "slack" else "](http://evil.example)" not in markup
    text = shown_text(rec)
    assert "<!channel>" in text   # shown as text, not a ping
    assert "more lines" in text or kind == "webhook"


def test_feishu_escapes_lark_md_and_keeps_code_fences_closed(receivers: Receivers) -> None:
    body = json.loads(feishu.request(channel(receivers, "feishu"), HOSTILE, time.time()).body)
    elements = body["card"]["elements"]
    [code] = [e["content"] for e in elements if e["tag"] == "markdown"]
    assert code.startswith("```diff\n") and code.endswith("\n```")
    assert code.count("```") == 2   # the diff's own fence is broken up
    [why] = [e["text"]["content"] for e in elements if "Why" in e.get("text", {}).get("content", "")]
    assert "&#42;&#42;bold&#42;&#42;" in why and "&#60;!channel&#62;" in why


def test_slack_blocks_keep_within_their_limits(receivers: Receivers) -> None:
    long = Notice(event_id="e" * 500, outcome="escalated", reason="r" * 10_000, test="t" * 10_000,
                  spec="s" * 10_000, suspect="&" * 10_000, diff="<" * 10_000)
    body = json.loads(slack.request(channel(receivers, "slack"), long, time.time()).body)
    assert slack_problems(body) == []
    assert all(len(block["text"]["text"]) <= 3000 for block in body["blocks"] if "text" in block
               and block["type"] == "section")


def test_results_read_each_services_answer() -> None:
    assert feishu.result(200, {}, b'{"StatusCode":0,"StatusMessage":"success"}').ok
    assert not feishu.result(200, {}, b"<html>").ok
    bad = feishu.result(400, {}, b'{"code":9499,"msg":"Bad Request","data":{}}')
    assert (bad.ok, bad.retryable, bad.detail) == (False, False, "HTTP 400 Feishu code 9499: Bad Request")
    assert dingtalk.result(200, {}, b'{"errcode":0,"errmsg":"ok"}').ok
    assert slack.result(200, {}, b"ok").ok
    assert webhook.result(204, {}, b"").ok
    moved = webhook.result(301, {"location": "https://x.example/secret-token"}, b"")
    assert (moved.ok, moved.retryable) == (False, False) and "secret-token" not in moved.detail
    assert webhook.result(500, {}, b"").retryable and webhook.result(408, {}, b"").retryable


def test_retry_after_reads_seconds_and_dates() -> None:
    assert retry_after({"Retry-After": "120"}) == 120.0
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412480 - 30) == 30.0
    assert retry_after({"Retry-After": "soon"}) is None
    assert retry_after({}) is None


def test_every_kind_is_registered_and_checks_itself() -> None:
    assert set(CHANNELS) == {"feishu", "slack", "dingtalk", "webhook", "apprise"}
    for kind, module in CHANNELS.items():
        ok, why = module.check()
        assert isinstance(ok, bool) and why
        assert hasattr(module, "deliver") if kind == "apprise" else hasattr(module, "request")


@pytest.mark.skipif(importlib.util.find_spec("apprise") is not None, reason="apprise is installed here")
def test_apprise_without_the_package_says_how_to_install_it() -> None:
    ok, why = CHANNELS["apprise"].check()
    assert not ok and "pip install 'healloop[apprise]'" in why
    result = deliver(ChannelConfig(name="tg", kind="apprise", url="tgram://123:abc/456"))
    assert (result.ok, result.retryable, result.status) == (False, False, None)
    assert "pip install 'healloop[apprise]'" in result.detail
