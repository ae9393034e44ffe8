"""Local HTTP servers that imitate the OpenAI-compatible endpoints of Ollama, llama.cpp's llama-server
and vLLM: their model lists, their tool-call answers, their errors, and the checks their request
parsers make on what the client sends back. The model behind them is a ``brain``: a function from the
request to an abstract reply (call a function, or answer text), which each server then writes in its
own wire shape: ``tool_calls`` when the request offered tools and the server takes them, JSON text in
the content when it did not (the model following healloop's JSON-mode prompt).

Each shape is copied from the server's documentation or source (December 2026):

* Ollama ``openai/openai.go``: ``ToolCall{ID "call_...", Index, Type "function", Function{Name,
  Arguments string}}``, ``finish_reason`` ``tool_calls``, ``system_fingerprint`` ``fp_ollama``; errors
  ``{"error": {"message", "type", "param", "code"}}``; a model not pulled: 404 ``model "x" not found,
  try pulling it first``; one without a tool template: 400 ``... does not support tools``. Its request
  parser takes ``arguments`` only as a string and ``content: null`` only beside ``tool_calls``.
* llama.cpp ``docs/function-calling.md``: ``tool_calls`` of ``{"name", "arguments"}`` (no ``function``
  wrapper, no ``id``), ``finish_reason`` ``tool``; without ``--jinja`` (``--no-jinja``, or builds from
  before it became the default) ``tools`` is answered HTTP 500 ``{"error": {"code": 500, "message":
  "tools param requires --jinja flag", "type": "server_error"}}``. It serves one model whatever the
  request's ``model`` says.
* vLLM ``chat_completion/serving.py`` and ``engine/protocol.py``: without ``--enable-auto-tool-choice``
  and ``--tool-call-parser``, ``tool_choice: "auto"`` is answered 400 ``"auto" tool choice requires
  --enable-auto-tool-choice and --tool-call-parser to be set`` (``type`` ``BadRequestError``); an unknown
  model 404 ``The model `x` does not exist.``; call ids ``chatcmpl-tool-<hex>``.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class CallReply:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class TextReply:
    text: str


Reply = CallReply | TextReply
# llama-server --api-key's answer to a missing or wrong key.
UNAUTHORIZED = {"error": {"code": 401, "message": "Invalid API Key", "type": "authentication_error"}}
Brain = Callable[[dict[str, Any]], Reply]


def scripted(replies: list[Reply]) -> Brain:
    """A brain that gives these replies in order, then says it is done."""
    queue = list(replies)
    return lambda body: queue.pop(0) if queue else TextReply("done")


def check_brain(body: dict[str, Any]) -> Reply:
    """What a capable model does with `healloop llm check`'s request: call read_file with the path it
    was asked for, then quote the word the result holds. It reads both from the conversation it was
    sent, so a client that loses the tool result fails."""
    last = body["messages"][-1]
    text = str(last.get("content") or "")
    if last["role"] == "tool" or text.startswith("Result of"):
        word = re.search(r"healloop-[0-9a-f]{6}", text)
        return TextReply(f"The secret word is {word.group(0) if word else 'missing'}.")
    path = re.search(r"path '([^']+)'", text)
    return CallReply("read_file", {"path": path.group(1) if path else ""})


@dataclass
class Imitation:
    """One server; subclasses write its shapes. ``quirk``: how the model behind it misbehaves with
    native tools: "content" (the call as JSON text in a code fence), "prose" (ignores the tools),
    "cut-arguments" (the call's arguments cut short, not JSON)."""

    brain: Brain
    models: list[str] = field(default_factory=lambda: ["qwen2.5:7b"])
    api_key: str | None = None
    quirk: str | None = None
    refuse_response_format: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        imitation = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if not imitation.authorized(self.headers.get("Authorization")):
                    self.answer(401, UNAUTHORIZED)
                elif self.path == "/v1/models":
                    self.answer(200, imitation.model_list())
                else:
                    self.answer(404, {"error": {"message": "File Not Found", "type": "not_found_error"}})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                imitation.requests.append(body)
                if not imitation.authorized(self.headers.get("Authorization")):
                    self.answer(401, UNAUTHORIZED)
                elif self.path != "/v1/chat/completions":
                    self.answer(404, {"error": {"message": "File Not Found", "type": "not_found_error"}})
                else:
                    self.answer(*imitation.complete(body))

            def answer(self, status: int, data: dict[str, Any]) -> None:
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def authorized(self, header: str | None) -> bool:
        return self.api_key is None or header == f"Bearer {self.api_key}"

    # -- what each server overrides
    def model_list(self) -> dict[str, Any]:
        return {"object": "list", "data": [{"id": m, "object": "model", "created": 1764720000,
                                            "owned_by": "library"} for m in self.models]}

    def refuse(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        """The server's error for this request, or None when it takes it."""
        return None

    def tool_calls(self, reply: CallReply) -> list[dict[str, Any]]:
        return [{"id": f"call_{uuid.uuid4().hex[:8]}", "type": "function",
                 "function": {"name": reply.name, "arguments": json.dumps(reply.arguments)}}]

    def finish(self, message: dict[str, Any], body: dict[str, Any], reason: str) -> dict[str, Any]:
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:8]}", "object": "chat.completion",
                "created": int(time.time()), "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": reason}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}}

    tool_reason = "tool_calls"

    # -- the common part
    def complete(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        refused = self.refuse(body)
        if refused is not None:
            return refused
        if self.refuse_response_format and "response_format" in body:
            return 400, {"error": {"message": "'response_format.type' must be 'json_schema' or 'text'",
                                   "type": "invalid_request_error"}}
        reply = self.brain(body)
        native = bool(body.get("tools"))
        if isinstance(reply, TextReply):
            content = reply.text if native else json.dumps({"answer": reply.text})
            return 200, self.finish({"role": "assistant", "content": content}, body, "stop")
        as_json = json.dumps({"tool": reply.name, "arguments": reply.arguments})
        if not native:
            return 200, self.finish({"role": "assistant", "content": as_json}, body, "stop")
        if self.quirk == "content":
            fenced = "```json\n" + json.dumps({"name": reply.name, "arguments": reply.arguments}) + "\n```"
            return 200, self.finish({"role": "assistant", "content": fenced}, body, "stop")
        if self.quirk == "prose":
            text = "I would read the file notes/healloop-check.txt to find the word."
            return 200, self.finish({"role": "assistant", "content": text}, body, "stop")
        calls = self.tool_calls(reply)
        if self.quirk == "cut-arguments":  # generation stopped mid-call (a max_tokens too small)
            calls[0]["function"]["arguments"] = calls[0]["function"]["arguments"][:10]
        message = {"role": "assistant", "content": None, "tool_calls": calls}
        return 200, self.finish(message, body, self.tool_reason)


@dataclass
class Ollama(Imitation):
    """``ollama serve``'s /v1. ``no_tools``: models whose template has no tool calling."""

    no_tools: tuple[str, ...] = ()

    def refuse(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        model = body["model"]
        if model not in self.models:
            return 404, _ollama_error(f'model "{model}" not found, try pulling it first', "not_found_error")
        for m in body["messages"]:
            calls = m.get("tool_calls") or []
            if m.get("content") is None and not calls:
                return 400, _ollama_error("invalid message content type: <nil>", "invalid_request_error")
            if any(not isinstance((c.get("function") or {}).get("arguments"), str) for c in calls):
                return 400, _ollama_error("json: cannot unmarshal object into Go struct field "
                                          ".messages.tool_calls.function.arguments of type string",
                                          "invalid_request_error")
        if body.get("tools") and model in self.no_tools:
            return 400, _ollama_error(f"registry.ollama.ai/library/{model} does not support tools",
                                      "invalid_request_error")
        return None

    def finish(self, message: dict[str, Any], body: dict[str, Any], reason: str) -> dict[str, Any]:
        out = super().finish(message, body, reason)
        out["system_fingerprint"] = "fp_ollama"
        for i, call in enumerate(message.get("tool_calls") or []):
            call["index"] = i
        if message.get("content") is None:
            message["content"] = ""  # Ollama's Message.Content is a string: "" beside tool calls
        return out


def _ollama_error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


@dataclass
class LlamaCpp(Imitation):
    """``llama-server``; ``jinja`` False is ``--no-jinja`` (or an old build run without ``--jinja``)."""

    jinja: bool = True
    tool_reason = "tool"

    def model_list(self) -> dict[str, Any]:
        return {"object": "list", "data": [{"id": "Qwen2.5-7B-Instruct-Q4_K_M.gguf", "object": "model",
                                            "created": 1764720000, "owned_by": "llamacpp",
                                            "meta": {"n_ctx_train": 32768}}]}

    def refuse(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        if body.get("tools") and not self.jinja:
            return 500, {"error": {"code": 500, "message": "tools param requires --jinja flag",
                                   "type": "server_error"}}
        return None

    def tool_calls(self, reply: CallReply) -> list[dict[str, Any]]:
        # As docs/function-calling.md shows it: no function wrapper, no id, no type.
        return [{"name": reply.name, "arguments": json.dumps(reply.arguments)}]


@dataclass
class VLLM(Imitation):
    """``vllm serve``; ``auto_tool_choice`` is ``--enable-auto-tool-choice --tool-call-parser hermes``."""

    auto_tool_choice: bool = True

    def model_list(self) -> dict[str, Any]:
        return {"object": "list", "data": [{"id": m, "object": "model", "created": 1764720000,
                                            "owned_by": "vllm", "root": m, "parent": None,
                                            "max_model_len": 32768, "permission": []} for m in self.models]}

    def refuse(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        if body["model"] not in self.models:
            return 404, {"error": {"message": f"The model `{body['model']}` does not exist.",
                                   "type": "NotFoundError", "param": "model", "code": 404}}
        if body.get("tool_choice") == "auto" and not self.auto_tool_choice:
            return 400, {"error": {"message": '"auto" tool choice requires --enable-auto-tool-choice and '
                                              "--tool-call-parser to be set",
                                   "type": "BadRequestError", "param": None, "code": 400}}
        return None

    def tool_calls(self, reply: CallReply) -> list[dict[str, Any]]:
        return [{"id": f"chatcmpl-tool-{uuid.uuid4().hex}", "type": "function",
                 "function": {"name": reply.name, "arguments": json.dumps(reply.arguments)}}]
