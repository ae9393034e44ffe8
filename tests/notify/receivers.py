"""Local stand-ins for Feishu, Slack, DingTalk and a webhook receiver, on one loopback port.

Each checks what the real service checks, from its own copy of the secret: Feishu the ``sign`` in the
body and the card's structure, DingTalk the ``sign`` query parameter and the markdown message, Slack
the blocks and their limits, the webhook the HMAC header over the raw body. They answer as the services
do (Feishu ``{"code": 19021, ...}``, DingTalk ``{"errcode": 310000, ...}``, Slack ``invalid_blocks``),
record every request, and can be told to answer the next request on a path with a canned reply
(``script``) or to hold it until the test ends (``hold``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

FEISHU_OK = {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"}
FEISHU_SIGN_FAIL = {"code": 19021, "data": {},
                    "msg": "sign match fail or timestamp is not within one hour from current time"}
FEISHU_BAD_REQUEST = {"code": 9499, "data": {}, "msg": "Bad Request"}
DINGTALK_OK = {"errcode": 0, "errmsg": "ok"}
DINGTALK_SIGN_FAIL = {"errcode": 310000, "errmsg": "sign not match"}
DINGTALK_TOO_LONG = {"errcode": 460101, "errmsg": "message too long, exceed 20000 bytes"}
FEISHU_CARD_TAGS = {"div", "markdown", "hr", "action", "note", "img"}
SLACK_BLOCKS = {"header", "section", "actions", "context", "divider"}


@dataclass
class Received:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    json: Any = None
    problems: list[str] = field(default_factory=list)


def feishu_sign(timestamp: str, secret: str) -> str:
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def dingtalk_sign(timestamp: str, secret: str) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


class Receivers:
    """``with Receivers(secret) as r:`` serves /feishu, /slack, /slack-gone, /dingtalk and /hook."""

    def __init__(self, secret: str = "s3cret-for-tests") -> None:
        self.secret = secret
        self.received: list[Received] = []
        self._scripted: dict[str, list[tuple[int, dict[str, str], bytes]]] = {}
        self._held = threading.Event()
        self._hold: set[str] = set()
        self._lock = threading.Lock()
        receivers = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                parts = urlsplit(self.path)
                rec = Received(parts.path, parse_qs(parts.query),
                               {k.lower(): v for k, v in self.headers.items()}, body)
                status, headers, answer = receivers._answer(rec)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)

    def __enter__(self) -> Receivers:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._held.set()
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def script(self, path: str, status: int, body: bytes | dict[str, Any] = b"",
               headers: dict[str, str] | None = None) -> None:
        """Answer the next request on ``path`` with this, whatever it holds."""
        raw = json.dumps(body).encode() if isinstance(body, dict) else body
        self._scripted.setdefault(path, []).append((status, headers or {}, raw))

    def hold(self, path: str) -> None:
        """Keep requests on ``path`` unanswered until the receivers stop (a service that hangs)."""
        self._hold.add(path)

    def on(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    # -- the services
    def _answer(self, rec: Received) -> tuple[int, dict[str, str], bytes]:
        check = {"/feishu": self._feishu, "/slack": self._slack, "/slack-gone": self._slack_gone,
                 "/dingtalk": self._dingtalk, "/hook": self._hook}.get(rec.path)
        try:
            rec.json = json.loads(rec.body)
        except ValueError:
            rec.problems.append("body is not JSON")
        with self._lock:
            self.received.append(rec)
        if rec.path in self._hold:
            self._held.wait(30)
            return 503, {}, b"held"
        answer = check(rec) if check else (404, {}, b"no such receiver")
        if self._scripted.get(rec.path):
            return self._scripted[rec.path].pop(0)
        return answer

    def _feishu(self, rec: Received) -> tuple[int, dict[str, str], bytes]:
        data = rec.json if isinstance(rec.json, dict) else {}
        timestamp = str(data.get("timestamp", ""))
        fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) < 3600
        given = str(data.get("sign", ""))
        if not fresh or not hmac.compare_digest(given, feishu_sign(timestamp, self.secret)):
            return _json(200, FEISHU_SIGN_FAIL)
        rec.problems += feishu_card_problems(data, len(rec.body))
        return _json(200, FEISHU_BAD_REQUEST if rec.problems else FEISHU_OK)

    def _slack(self, rec: Received) -> tuple[int, dict[str, str], bytes]:
        rec.problems += slack_problems(rec.json)
        return (400, {}, b"invalid_blocks") if rec.problems else (200, {}, b"ok")

    def _slack_gone(self, rec: Received) -> tuple[int, dict[str, str], bytes]:
        return 404, {}, b"no_service"

    def _dingtalk(self, rec: Received) -> tuple[int, dict[str, str], bytes]:
        timestamp = rec.query.get("timestamp", [""])[0]
        fresh = timestamp.isdigit() and abs(time.time() * 1000 - int(timestamp)) < 3_600_000
        given = rec.query.get("sign", [""])[0]
        if not fresh or not hmac.compare_digest(given, dingtalk_sign(timestamp, self.secret)):
            return _json(200, DINGTALK_SIGN_FAIL)
        if len(rec.body) > 20000:
            return _json(200, DINGTALK_TOO_LONG)
        rec.problems += dingtalk_problems(rec.json, rec.query)
        if rec.problems:
            return _json(200, {"errcode": 300001, "errmsg": "; ".join(rec.problems)})
        return _json(200, DINGTALK_OK)

    def _hook(self, rec: Received) -> tuple[int, dict[str, str], bytes]:
        want = "sha256=" + hmac.new(self.secret.encode(), rec.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(rec.headers.get("x-healloop-signature", ""), want):
            return 401, {}, b"bad signature"
        rec.problems += webhook_problems(rec)
        return (422, {}, "; ".join(rec.problems).encode()) if rec.problems else (202, {}, b"")


def _json(status: int, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    return status, {"content-type": "application/json"}, json.dumps(body).encode()


def feishu_card_problems(data: dict[str, Any], size: int) -> list[str]:
    problems = []
    if size > 20 * 1024:
        problems.append(f"body is {size} bytes, over 20 KB")
    if data.get("msg_type") != "interactive":
        problems.append("msg_type is not interactive")
    card = data.get("card")
    if not isinstance(card, dict):
        return [*problems, "no card"]
    title = (card.get("header") or {}).get("title") or {}
    if title.get("tag") != "plain_text" or not isinstance(title.get("content"), str) or not title["content"]:
        problems.append("card.header.title is not a plain_text with content")
    elements = card.get("elements")
    if not isinstance(elements, list) or not elements:
        return [*problems, "card.elements is not a non-empty list"]
    for el in elements:
        if not isinstance(el, dict) or el.get("tag") not in FEISHU_CARD_TAGS:
            problems.append(f"unknown element {el!r:.80}")
        elif el["tag"] == "div":
            texts = [el["text"]] if "text" in el else [f.get("text", {}) for f in el.get("fields", [])]
            if not texts or any(t.get("tag") not in ("plain_text", "lark_md") for t in texts):
                problems.append("div without a plain_text/lark_md text or fields")
        elif el["tag"] == "action":
            for button in el.get("actions", []):
                if not str(button.get("url", "")).startswith(("http://", "https://")):
                    problems.append("button without an http(s) url")
    return problems


def slack_problems(data: Any) -> list[str]:
    if not isinstance(data, dict):
        return ["not an object"]
    problems = []
    if not isinstance(data.get("text"), str) or not data["text"]:
        problems.append("no top-level text")
    blocks = data.get("blocks")
    if not isinstance(blocks, list) or not 0 < len(blocks) <= 50:
        return [*problems, "blocks must be a list of 1 to 50"]
    for block in blocks:
        kind = block.get("type")
        if kind not in SLACK_BLOCKS:
            problems.append(f"unknown block {kind!r}")
        elif kind == "header":
            text = block.get("text", {})
            if text.get("type") != "plain_text" or not 0 < len(text.get("text", "")) <= 150:
                problems.append("header must be plain_text of 1..150 characters")
        elif kind == "section":
            fields = block.get("fields")
            too_long = fields is not None and any(len(f.get("text", "")) > 2000 for f in fields)
            if fields is not None and (len(fields) > 10 or too_long):
                problems.append("section fields: at most 10, 2000 characters each")
            if "text" in block and not 0 < len(block["text"].get("text", "")) <= 3000:
                problems.append("section text must be 1..3000 characters")
            if fields is None and "text" not in block:
                problems.append("section without text or fields")
        elif kind == "actions":
            for el in block.get("elements", []):
                if len(el.get("text", {}).get("text", "")) > 75 or len(el.get("url", "")) > 3000:
                    problems.append("button text over 75 or url over 3000")
    return problems


def dingtalk_problems(data: Any, query: dict[str, list[str]]) -> list[str]:
    problems = [] if query.get("access_token") else ["no access_token"]
    if not isinstance(data, dict) or data.get("msgtype") != "markdown":
        return [*problems, "msgtype is not markdown"]
    md = data.get("markdown") or {}
    if not isinstance(md.get("title"), str) or not md["title"] or not isinstance(md.get("text"), str):
        problems.append("markdown needs a title and a text")
    return problems


WEBHOOK_KEYS = {"type", "version", "sent_at", "event_id", "outcome", "reason", "spec", "test", "message",
                "nodes", "count", "diff", "suspect", "link", "items", "items_total"}


def webhook_problems(rec: Received) -> list[str]:
    data = rec.json
    problems = []
    if not rec.headers.get("content-type", "").startswith("application/json"):
        problems.append("content-type is not application/json")
    if not isinstance(data, dict) or set(data) != WEBHOOK_KEYS:
        return [*problems, f"keys differ: {sorted(set(data or {}) ^ WEBHOOK_KEYS)}"]
    if data["type"] != "healloop.notice" or data["version"] != 1:
        problems.append("type/version")
    if rec.headers.get("x-healloop-event") != data["event_id"]:
        problems.append("X-Healloop-Event differs from event_id")
    if rec.headers.get("x-healloop-outcome") != data["outcome"]:
        problems.append("X-Healloop-Outcome differs from outcome")
    return problems


# -- reading a message back as a person would see it
def shown_text(rec: Received) -> str:
    """Every text a person would read in the message, unescaped, one string."""
    data = rec.json
    if rec.path == "/feishu":
        return "\n".join(html.unescape(s) for s in _strings(data.get("card")))
    if rec.path in ("/slack", "/slack-gone"):
        return "\n".join(html.unescape(s) for s in _strings(data))
    if rec.path == "/dingtalk":
        md = data["markdown"]
        return html.unescape(re.sub(r"\\(.)", r"\1", md["title"] + "\n" + md["text"]))
    return json.dumps(data, ensure_ascii=False)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def markup_texts(rec: Received) -> list[str]:
    """The texts that the service parses as markup (where an injection would work)."""
    data = rec.json
    if rec.path == "/feishu":
        out = []
        for el in data["card"]["elements"]:
            if el["tag"] == "div":
                texts = [el["text"]] if "text" in el else [f["text"] for f in el["fields"]]
                out += [t["content"] for t in texts if t["tag"] == "lark_md"]
        return out
    if rec.path == "/slack":
        blocks = [b for b in data["blocks"] if b["type"] in ("section", "context")]
        return [s for b in blocks for s in _strings(b) if s not in ("mrkdwn", "plain_text")] + [data["text"]]
    if rec.path == "/dingtalk":
        return [data["markdown"]["text"]]
    return []
