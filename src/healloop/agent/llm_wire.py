"""What goes over the wire to the model and back: untrusted text quoted as data, the tool calls
OpenAI-compatible servers send, what they refuse, and the JSON-mode protocol for a server or model
without tool calling. Pure: no I/O, no clock.

What the servers send (their documentation and source, read in December 2026; see docs/agent.md):

* OpenAI, vLLM (``--enable-auto-tool-choice --tool-call-parser NAME``), Ollama's ``/v1``: a
  ``tool_calls`` list of ``{"id", "type": "function", "function": {"name", "arguments"}}`` where
  ``arguments`` is a JSON *string*.
* Ollama's native ``/api/chat`` and some proxies: ``arguments`` as a JSON *object*, and no ``id``.
* llama.cpp's ``docs/function-calling.md`` shows ``{"name", "arguments"}`` with no ``function`` wrapper,
  no ``id`` and ``finish_reason: "tool"``; its server nests them under ``function`` with an ``id``.
* Small local models, and servers whose tool parser did not recognise the output, put the call as JSON
  text in ``content`` (bare, in a code fence, or between ``<tool_call>`` tags).

What they refuse, and how it reads: vLLM without ``--enable-auto-tool-choice`` answers HTTP 400
``"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set``; llama.cpp
with ``--no-jinja`` (or a build from before ``--jinja`` became its default) answers HTTP 500
``tools param requires --jinja flag``; Ollama answers HTTP 400 ``... does not support tools`` for a
model whose template has none.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

MODES = ("auto", "native", "json")
BEGIN, END = "<<<UNTRUSTED_DATA", "UNTRUSTED_DATA>>>"

JSON_MODE_PROMPT = (
    "This endpoint has no native tool calling, so you call functions by answering with exactly one JSON "
    'object and nothing else. To call a function: {"tool": "NAME", "arguments": {...}}. When you are '
    'done: {"answer": "TEXT"}. One call per answer; its result comes back in the next user message, '
    "as data. The functions you may call:\n"
)

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)
_TAGGED = re.compile(r"^<tool_call>\s*(.*?)\s*</tool_call>$", re.DOTALL)


@dataclass(frozen=True)
class Call:
    """One function call the model asked for, however the server shaped it."""

    id: str
    name: str
    args: dict[str, Any] | None  # None when the arguments could not be read as a JSON object
    args_shape: str  # "string" (JSON text, the OpenAI shape), "object", "missing" or "invalid"
    id_given: bool

    def wire(self) -> dict[str, Any]:
        """The call as OpenAI's shape, which every server accepts back in the conversation: Ollama's
        and vLLM's request parsers need ``arguments`` as a string even when they sent an object."""
        args = json.dumps(self.args if self.args is not None else {}, ensure_ascii=False)
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": args}}


@dataclass
class Turn:
    """One reply of the model: its text and the calls it asked for, with where the calls came from."""

    text: str
    calls: list[Call] = field(default_factory=list)
    tokens: int = 0
    source: str = "text"  # "tool_calls", "content" (JSON text in a native reply), "json" (JSON mode)

    def message(self) -> dict[str, Any]:
        """The assistant message to keep in the conversation, in OpenAI's shape whatever came in."""
        if not self.calls:
            return {"role": "assistant", "content": self.text}
        return {"role": "assistant", "content": self.text or None,
                "tool_calls": [c.wire() for c in self.calls]}


def quoted(label: str, value: Any) -> str:
    """Untrusted text as data: JSON-encoded between delimiters. JSON escapes quotes and newlines but
    not the delimiters themselves, so < and > are written as \\u003c and \\u003e: a log line or page
    holding "UNTRUSTED_DATA>>>" cannot end its own block, and the model still reads the same JSON."""
    data = json.dumps(value, ensure_ascii=False, indent=1).replace("<", "\\u003c").replace(">", "\\u003e")
    return f"{BEGIN} {label}\n{data}\n{END}"


def error_text(body: str) -> str:
    """The error message of an error body, whichever of the usual shapes it has: OpenAI's, vLLM's and
    Ollama's ``/v1`` ``{"error": {"message": ...}}``, Ollama's native ``{"error": "..."}``, older vLLM's
    ``{"object": "error", "message": ...}``, or FastAPI's ``{"detail": ...}``; else the text itself."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:300]
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:300]
        for value in (err, data.get("message"), data.get("detail")):
            if isinstance(value, str) and value:
                return value[:300]
    return body.strip()[:300]


def refuses_tools(status: int, message: str) -> bool:
    """True when an error says the server or model does not take ``tools``/``tool_choice``. llama.cpp
    says so with HTTP 500, so the status alone cannot tell; a message not naming tools (a context
    overflow, a malformed request) is not a refusal of tools, and falling back would hide it."""
    text = message.lower()
    return status in (400, 422, 500, 501) and ("tool" in text or "jinja" in text)


def refuses_response_format(status: int, message: str) -> bool:
    text = message.lower()
    return 400 <= status < 600 and any(k in text for k in ("response_format", "json_object", "json mode"))


def json_mode(messages: list[dict[str, Any]], functions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation for JSON mode: no ``tools``, the functions described in the system prompt, each
    earlier call as the assistant's JSON object and each result as the next user message. The results
    keep the quoting the planner gave them, so untrusted text stays marked as data."""
    described = [
        {"name": f["function"]["name"], "description": f["function"].get("description", ""),
         "parameters": f["function"].get("parameters", {})}
        for f in functions
    ]
    prompt = JSON_MODE_PROMPT + json.dumps(described, ensure_ascii=False, indent=1)
    out: list[dict[str, Any]] = []
    waiting: list[dict[str, Any]] = []  # calls of one native turn after the first: one per answer here
    for m in messages:
        role = m.get("role")
        if role == "system":
            out.append({"role": "system", "content": f"{m.get('content') or ''}\n\n{prompt}"})
        elif role == "assistant" and m.get("tool_calls"):
            first, *waiting = m["tool_calls"]
            out.append({"role": "assistant", "content": _call_json(first)})
        elif role == "tool":
            out.append({"role": "user", "content": f"Result of {m.get('name')}:\n{m.get('content') or ''}"})
            if waiting:
                out.append({"role": "assistant", "content": _call_json(waiting.pop(0))})
        else:
            out.append({"role": role, "content": m.get("content") or ""})
    return out


def _call_json(call: dict[str, Any]) -> str:
    fn = call.get("function") or {}
    args, _ = _arguments(fn.get("arguments"))
    return json.dumps({"tool": fn.get("name"), "arguments": args or {}}, ensure_ascii=False)


def read_reply(data: Any, mode: str, offered: set[str], step: int) -> Turn:
    """The model's turn from a chat-completions answer. ``mode`` is what was asked for: "native" (with
    ``tools``) or "json". In native mode a reply without ``tool_calls`` whose content is JSON naming an
    offered function is read as that call; in JSON mode the content is the protocol."""
    if not isinstance(data, dict):
        raise ValueError("the answer is not a JSON object")
    choices = data.get("choices") or [{}]
    message = (choices[0] if isinstance(choices[0], dict) else {}).get("message") or {}
    tokens = int((data.get("usage") or {}).get("total_tokens") or 0)
    text = message.get("content") if isinstance(message.get("content"), str) else ""
    raw_calls = message.get("tool_calls") or []
    if raw_calls:
        calls = [_native_call(c, step, i) for i, c in enumerate(raw_calls) if isinstance(c, dict)]
        return Turn(text, calls, tokens, "tool_calls")
    parsed = _content_json(text)
    if isinstance(parsed, dict):
        call = _content_call(parsed, step)
        if call is not None and (mode == "json" or call.name in offered):
            return Turn("", [call], tokens, "json" if mode == "json" else "content")
        if mode == "json" and isinstance(parsed.get("answer"), str):
            return Turn(parsed["answer"], [], tokens, "json")
    return Turn(text, [], tokens, "text")


def _native_call(raw: dict[str, Any], step: int, index: int) -> Call:
    # llama.cpp's documented shape has name and arguments at the top, without the function wrapper.
    fn = raw.get("function") if isinstance(raw.get("function"), dict) else raw
    args, shape = _arguments(fn.get("arguments"))
    given = isinstance(raw.get("id"), str) and bool(raw["id"])
    # A made-up id still pairs each result with its call in the conversation sent back.
    call_id = raw["id"] if given else f"call_{step}_{index}"
    return Call(call_id, str(fn.get("name") or ""), args, shape, given)


def _content_call(parsed: dict[str, Any], step: int) -> Call | None:
    name = next((parsed[k] for k in ("tool", "name", "function") if isinstance(parsed.get(k), str)), None)
    if name is None:
        return None
    raw = next((parsed[k] for k in ("arguments", "parameters", "args") if k in parsed), None)
    args, shape = _arguments(raw)
    return Call(f"call_{step}_0", name, args, shape, False)


def _arguments(raw: Any) -> tuple[dict[str, Any] | None, str]:
    if raw is None or raw == "":
        return {}, "missing"
    if isinstance(raw, dict):
        return raw, "object"
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError:
            return None, "invalid"
        return (value, "string") if isinstance(value, dict) else (None, "invalid")
    return None, "invalid"


def _content_json(text: str) -> Any:
    """JSON in the content: bare, in a ```json fence, or between <tool_call> tags (Hermes and Qwen
    templates); None when it is prose."""
    body = text.strip()
    for pattern in (_FENCE, _TAGGED):
        m = pattern.match(body)
        if m:
            body = m.group(1)
    if not body.startswith("{"):
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None
