"""The connection to an OpenAI-compatible chat-completions endpoint: one request per model turn, with
rate limits (HTTP 429) waited out, native tool calls or JSON mode, and errors said in words that name
the fix. The planner (llm.py) and ``healloop llm check`` both talk through it.

Only the base install is needed here (httpx, anyio): ``healloop llm check`` runs on any machine.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import anyio
import httpx

from healloop.agent import llm_wire
from healloop.agent.llm_wire import Turn
from healloop.agent.ratelimit import delay_s
from healloop.errors import ConfigError, HealloopError

log = logging.getLogger(__name__)

BASE_URL_HINT = (
    "the base URL ends in /v1: Ollama http://127.0.0.1:11434/v1, llama.cpp http://127.0.0.1:8080/v1, "
    "vLLM http://127.0.0.1:8000/v1"
)


@dataclass(frozen=True)
class LLMConfig:
    base_url: str
    model: str
    api_key_env: str = "HEALLOOP_LLM_API_KEY"
    max_steps: int = 12
    token_budget: int = 60_000
    timeout_s: float = 120.0
    # HTTP 429: retries of one completion, the first backoff when the server sends no Retry-After
    # (doubled each time), and the most seconds one event's plan waits on rate limits in all.
    retries: int = 4
    retry_base_s: float = 1.0
    retry_max_wait_s: float = 60.0
    # "native": tool calls as the API defines them; "json": the functions described in the prompt and
    # one JSON object per turn; "auto": native until the endpoint refuses tools, then JSON.
    tools: str = "auto"

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"the LLM base URL must start with http:// or https://, got {self.base_url!r}",
                field="llm_base_url",
            )
        if not self.model.strip():
            raise ConfigError("the LLM model name is empty; name one the endpoint serves, e.g. qwen2.5:7b",
                              field="llm_model")
        if self.tools not in llm_wire.MODES:
            raise ConfigError(
                f"the LLM tool-call mode must be one of {', '.join(llm_wire.MODES)}, got {self.tools!r}",
                field="llm_tools",
            )


class Unreachable(HealloopError):
    """The model endpoint cannot be reached."""

    code = "llm_unreachable"


class ToolsRefused(Unreachable):
    """The endpoint refused ``tools`` and the mode is native: nothing else to try."""

    def __init__(self, said: str, hint: str) -> None:
        self.said, self.hint = said, hint
        super().__init__(f"the endpoint refused tool calls ({said}) and --llm-tools is native; {hint}, "
                         "or use --llm-tools auto")


class Learned:
    """What one endpoint was found to accept. The planner keeps one for the agent's life, so a refusal
    of ``tools`` or ``response_format`` costs one request per endpoint, not one per event."""

    def __init__(self, mode: str) -> None:
        self.tools = "json" if mode == "json" else "native"
        self.response_format = True
        self.tools_refused: str | None = None  # the server's words, when auto fell back to JSON mode
        self.format_refused: str | None = None


class ChatClient:
    """One event's conversation with the endpoint; it keeps count of the time spent on rate limits."""

    def __init__(self, config: LLMConfig, learned: Learned | None = None) -> None:
        key = os.environ.get(config.api_key_env)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.config = config
        self.learned = learned or Learned(config.tools)
        self.waited_s = 0.0
        self.http = httpx.Client(
            base_url=config.base_url.rstrip("/"), headers=headers, timeout=config.timeout_s
        )

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    async def turn(self, messages: list[dict[str, Any]], functions: list[dict[str, Any]], step: int) -> Turn:
        """The model's next turn, in the mode the endpoint takes; a refusal of tools (in auto mode) or of
        ``response_format`` is learned and the same conversation sent again without it."""
        offered = {f["function"]["name"] for f in functions}
        while True:
            mode = self.learned.tools if functions else "native"
            resp = await self._send(self._body(messages, functions, mode))
            if resp.status_code < 400:
                try:
                    return llm_wire.read_reply(resp.json(), mode, offered, step)
                except ValueError as exc:
                    raise Unreachable(
                        f"the model endpoint answered HTTP {resp.status_code} with no chat completion "
                        f"({exc}): {resp.text[:200]!r}; {BASE_URL_HINT}"
                    ) from None
            message = llm_wire.error_text(resp.text)
            if mode == "native" and functions and llm_wire.refuses_tools(resp.status_code, message):
                if self.config.tools == "native":
                    raise ToolsRefused(f"HTTP {resp.status_code}: {message}", tools_hint(message))
                log.warning("the model endpoint refused tool calls (HTTP %d: %s); using JSON mode from "
                            "now on", resp.status_code, message)
                self.learned.tools = "json"
                self.learned.tools_refused = f"HTTP {resp.status_code}: {message}"
                continue
            if mode == "json" and self.learned.response_format and llm_wire.refuses_response_format(
                    resp.status_code, message):
                log.warning("the model endpoint refused response_format json_object (HTTP %d: %s); "
                            "asking for JSON in the prompt only", resp.status_code, message)
                self.learned.response_format = False
                self.learned.format_refused = f"HTTP {resp.status_code}: {message}"
                continue
            raise self.error(resp.status_code, message)

    def _body(self, messages: list[dict[str, Any]], functions: list[dict[str, Any]],
              mode: str) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.config.model, "temperature": 0}
        if not functions:
            body["messages"] = messages
        elif mode == "native":
            body |= {"messages": messages, "tools": functions, "tool_choice": "auto"}
        else:
            body["messages"] = llm_wire.json_mode(messages, functions)
            if self.learned.response_format:
                body["response_format"] = {"type": "json_object"}
        return body

    async def _send(self, body: dict[str, Any]) -> httpx.Response:
        attempt = 0
        while True:
            resp = await anyio.to_thread.run_sync(self._post, body)
            if resp.status_code != 429:
                return resp
            # Rate limited: a busy or metered endpoint, not a refusal of this request. The wait happens
            # here, off the worker thread, so a stopping agent is not held by it; heartbeats go on.
            wait = delay_s(resp.headers.get("retry-after"), attempt, self.config.retry_base_s, time.time())
            left = self.config.retry_max_wait_s - self.waited_s
            if attempt >= self.config.retries:
                raise Unreachable(
                    f"the model endpoint still answered HTTP 429 (rate limited) after {attempt + 1} "
                    f"requests and {self.waited_s:.1f} s of waiting; raise --llm-retries or the endpoint's "
                    "rate limit"
                )
            if wait > left:
                raise Unreachable(
                    f"the model endpoint answered HTTP 429 (rate limited) and asked to wait {wait:.1f} s, "
                    f"more than the {left:.1f} s left of --llm-retry-wait; raise it, or the endpoint's "
                    "rate limit"
                )
            log.warning("model endpoint rate limited (HTTP 429); retry %d of %d in %.2f s",
                        attempt + 1, self.config.retries, wait)
            await anyio.sleep(wait)
            self.waited_s += wait
            attempt += 1

    def _post(self, body: dict[str, Any]) -> httpx.Response:
        try:
            return self.http.post("/chat/completions", json=body)
        except httpx.TransportError as exc:
            raise Unreachable(f"cannot reach the model at {self.config.base_url}: {exc}") from exc

    def get_models(self) -> httpx.Response:
        try:
            return self.http.get("/models")
        except httpx.TransportError as exc:
            raise Unreachable(f"cannot reach the model at {self.config.base_url}: {exc}") from exc

    def error(self, status: int, message: str) -> HealloopError:
        """Unreachable (the rules planner runs instead) for what no retry of this request mends: the
        server down or broken, the key, the model or the URL wrong; HealloopError for other refusals."""
        said = f"HTTP {status}: {message}"
        if status in (401, 403):
            key = self.config.api_key_env
            has = "is set but was not accepted" if os.environ.get(key) else "is not set"
            return Unreachable(f"the model endpoint wants an API key ({said}); ${key} {has} "
                               "(--llm-api-key-env names the variable that holds it)")
        if status == 404 and "model" in message.lower():
            return Unreachable(f"the endpoint does not serve model {self.config.model!r} ({said}); with "
                               f"Ollama: ollama pull {self.config.model}; GET /models lists what it serves")
        if status == 404:
            return Unreachable(f"no chat completions at {self.config.base_url.rstrip('/')}/chat/completions "
                               f"({said}); {BASE_URL_HINT}")
        if status >= 500:
            return Unreachable(f"the model endpoint failed ({said})")
        return HealloopError(f"the model endpoint refused the request ({said})")


def tools_hint(message: str) -> str:
    """How to switch tool calling on, for the server whose refusal this is."""
    text = message.lower()
    if "enable-auto-tool-choice" in text or "tool-call-parser" in text:
        return ("start vLLM with --enable-auto-tool-choice --tool-call-parser NAME (hermes for Qwen, "
                "llama3_json for Llama 3.1+, mistral)")
    if "jinja" in text:
        return "start llama-server with --jinja (the default in recent builds; drop --no-jinja)"
    if "does not support tools" in text:
        return "this Ollama model has no tool template: pick one from ollama.com/search?c=tools"
    return "switch tool calling on in the server"
