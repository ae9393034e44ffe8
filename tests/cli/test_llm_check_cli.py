"""`healloop llm check` as a process against local servers imitating Ollama, llama.cpp and vLLM (see
tests/agent/llm_servers.py): what it prints and its exit code for each server's documented answers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.agent.llm_servers import (
    VLLM,
    CallReply,
    Imitation,
    LlamaCpp,
    Ollama,
    TextReply,
    check_brain,
    scripted,
)
from tests.node.conftest import free_port


def llm_check(server: Imitation | str, model: str, *args: str,
              env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    url = server if isinstance(server, str) else server.url
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HEALLOOP_")} | (env or {})
    command = [sys.executable, "-m", "healloop", "llm", "check", "--base-url", url, "--model", model,
               "--timeout", "30", *args]
    proc = subprocess.run(command, capture_output=True, text=True, env=clean, timeout=120)
    return proc.returncode, (proc.stdout + proc.stderr).splitlines()


def line(lines: list[str], name: str) -> str:
    found = [x for x in lines if re.match(rf"^(OK|FAIL|WARN|SKIP) +{re.escape(name)}: ", x)]
    assert len(found) == 1, f"no single {name!r} line in:\n" + "\n".join(lines)
    return found[0]


@pytest.fixture
def servers() -> Iterator[list[Imitation]]:
    started: list[Imitation] = []
    yield started
    for s in started:
        s.close()


def test_ollama_with_a_tool_model_works_natively_and_in_json_mode(servers):
    ollama = Ollama(check_brain, models=["qwen2.5:7b", "llama3.2:3b"])
    servers.append(ollama)
    code, lines = llm_check(ollama, "qwen2.5:7b")
    assert code == 0, lines
    assert line(lines, "endpoint") == "OK   endpoint: reachable; GET /models lists 2 model(s)"
    assert line(lines, "model") == "OK   model: 'qwen2.5:7b' is listed"
    assert line(lines, "tool calls") == "OK   tool calls: the model called read_file in tool_calls"
    assert re.fullmatch(r"OK   arguments: a JSON string, as OpenAI's API defines them; "
                        r"call id 'call_[0-9a-f]{8}'", line(lines, "arguments"))
    assert line(lines, "round trip").startswith("OK   round trip: the tool result went back")
    assert line(lines, "json mode") == ("OK   json mode: the model called read_file as a JSON object, "
                                        "with response_format json_object")
    assert line(lines, "json round trip").startswith("OK   json round trip: ")
    assert line(lines, "agent mode") == "OK   agent mode: native tool calls (--llm-tools auto)"
    # The native round trip sent the call back with its id and the result as a tool message, quoted.
    native = [r for r in ollama.requests if r.get("tools")]
    assert len(native) == 2 and native[0]["tool_choice"] == "auto"
    call, result = native[1]["messages"][-2:]
    assert result["role"] == "tool" and result["tool_call_id"] == call["tool_calls"][0]["id"]
    assert result["content"].startswith("<<<UNTRUSTED_DATA result of read_file")
    # JSON mode: no tools, response_format, the function described in the system prompt.
    plain = [r for r in ollama.requests if not r.get("tools")]
    assert len(plain) == 2 and all(r["response_format"] == {"type": "json_object"} for r in plain)
    assert '"name": "read_file"' in plain[0]["messages"][0]["content"]
    assert plain[1]["messages"][-1]["content"].startswith("Result of read_file:\n<<<UNTRUSTED_DATA")


def test_ollama_model_not_pulled_says_pull_it_and_exits_1(servers):
    ollama = Ollama(check_brain, models=["qwen2.5:7b"])
    servers.append(ollama)
    code, lines = llm_check(ollama, "llama3.1:8b")
    assert code == 1, lines
    assert line(lines, "model") == (
        "WARN model: 'llama3.1:8b' is not among the listed models (qwen2.5:7b); llama-server answers with "
        "its one model whatever the name, Ollama and vLLM answer 404 (ollama pull llama3.1:8b)")
    assert line(lines, "tool calls") == (
        "FAIL tool calls: the endpoint does not serve model 'llama3.1:8b' (HTTP 404: model \"llama3.1:8b\" "
        "not found, try pulling it first); with Ollama: ollama pull llama3.1:8b; GET /models lists what it "
        "serves")
    assert line(lines, "agent mode") == (
        "FAIL agent mode: neither native tool calls nor JSON mode works with this endpoint and model; see "
        "the lines above")


def test_ollama_model_without_tools_falls_back_to_json_mode(servers):
    ollama = Ollama(check_brain, models=["gemma3:270m"], no_tools=("gemma3:270m",))
    servers.append(ollama)
    code, lines = llm_check(ollama, "gemma3:270m")
    assert code == 0, lines
    assert line(lines, "tool calls") == (
        "FAIL tool calls: the server refuses tools (HTTP 400: registry.ollama.ai/library/gemma3:270m does "
        "not support tools); this Ollama model has no tool template: pick one from ollama.com/search?c=tools")
    assert line(lines, "json round trip").startswith("OK ")
    assert line(lines, "agent mode") == (
        "OK   agent mode: JSON mode: with --llm-tools auto the agent falls back to it after the server's "
        "refusal of tools (one request per agent)")


def test_llama_cpp_documented_shape_without_ids_works_natively(servers):
    llama = LlamaCpp(check_brain)
    servers.append(llama)
    code, lines = llm_check(llama, "local")
    assert code == 0, lines
    # llama-server serves its one model whatever name is asked: listed or not, the check goes on.
    assert line(lines, "model").startswith("WARN model: 'local' is not among the listed models "
                                           "(Qwen2.5-7B-Instruct-Q4_K_M.gguf)")
    assert line(lines, "tool calls") == "OK   tool calls: the model called read_file in tool_calls"
    assert line(lines, "arguments") == ("OK   arguments: a JSON string, as OpenAI's API defines "
                                        "them; no call id (the agent makes one up)")
    assert line(lines, "agent mode") == "OK   agent mode: native tool calls (--llm-tools auto)"
    # The made-up id pairs the call and its result in the conversation sent back.
    sent = [r for r in llama.requests if r.get("tools")][1]["messages"]
    assert sent[-2]["tool_calls"][0]["id"] == sent[-1]["tool_call_id"] == "call_1_0"
    assert sent[-2]["tool_calls"][0]["function"]["name"] == "read_file"


def test_llama_cpp_without_jinja_refuses_tools_with_500_and_json_mode_works(servers):
    llama = LlamaCpp(check_brain, jinja=False)
    servers.append(llama)
    code, lines = llm_check(llama, "local")
    assert code == 0, lines
    assert line(lines, "tool calls") == (
        "FAIL tool calls: the server refuses tools (HTTP 500: tools param requires --jinja flag); start "
        "llama-server with --jinja (the default in recent builds; drop --no-jinja)")
    assert line(lines, "agent mode").startswith("OK   agent mode: JSON mode: with --llm-tools auto")
    code, lines = llm_check(llama, "local", "--tools", "native")
    assert code == 1, lines
    assert "json mode" not in "\n".join(lines)
    assert line(lines, "agent mode").startswith("FAIL agent mode: native tool calls do not work")


def test_vllm_without_auto_tool_choice_names_the_flags(servers):
    vllm = VLLM(check_brain, models=["Qwen/Qwen2.5-7B-Instruct"], auto_tool_choice=False)
    servers.append(vllm)
    code, lines = llm_check(vllm, "Qwen/Qwen2.5-7B-Instruct", "--json")
    assert code == 0, lines
    report = json.loads("\n".join(lines))
    assert report["mode"] == "json" and report["ok"] is True
    by_name = {c["name"]: c for c in report["checks"]}
    assert by_name["tool calls"]["level"] == "FAIL"
    assert ('"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'
            in by_name["tool calls"]["message"])
    assert ("start vLLM with --enable-auto-tool-choice --tool-call-parser NAME"
            in by_name["tool calls"]["message"])
    assert by_name["json round trip"]["level"] == "OK"


def test_vllm_with_auto_tool_choice_works_natively(servers):
    vllm = VLLM(check_brain, models=["Qwen/Qwen2.5-7B-Instruct"])
    servers.append(vllm)
    code, lines = llm_check(vllm, "Qwen/Qwen2.5-7B-Instruct", "--tools", "native")
    assert code == 0, lines
    assert re.search(r"call id 'chatcmpl-tool-[0-9a-f]{32}'", line(lines, "arguments"))
    assert line(lines, "agent mode") == "OK   agent mode: native tool calls (--llm-tools native)"
    assert all(r.get("tools") for r in vllm.requests)  # --tools native: no JSON-mode request at all


def test_a_call_written_as_json_content_counts_as_a_tool_call(servers):
    ollama = Ollama(check_brain, quirk="content")
    servers.append(ollama)
    code, lines = llm_check(ollama, "qwen2.5:7b", "--tools", "native")
    assert code == 0, lines
    assert line(lines, "tool calls") == ("OK   tool calls: the model called read_file as JSON text in the "
                                         "content, not in tool_calls (the agent reads it there too)")
    assert line(lines, "arguments").startswith("OK   arguments: a JSON object, not a string")


def test_a_model_that_ignores_tools_is_told_to_use_json_mode(servers):
    ollama = Ollama(check_brain, quirk="prose")
    servers.append(ollama)
    code, lines = llm_check(ollama, "qwen2.5:7b")
    assert code == 0, lines
    assert line(lines, "tool calls").startswith(
        "FAIL tool calls: the model answered without calling read_file")
    assert line(lines, "agent mode") == (
        "WARN agent mode: JSON mode, but only with --llm-tools json (HEALLOOP_LLM_TOOLS=json): the server "
        "takes tools but the model does not call them")


def test_a_model_that_never_quotes_the_result_fails_the_round_trip(servers):
    # Calls the function every time, then answers without the word: no mode works.
    read = CallReply("read_file", {"path": "notes/healloop-check.txt"})
    brain = scripted([read, TextReply("I read it."), read, TextReply("Done.")])
    ollama = Ollama(brain)
    servers.append(ollama)
    code, lines = llm_check(ollama, "qwen2.5:7b")
    assert code == 1, lines
    assert line(lines, "round trip").startswith(
        "FAIL round trip: the answer does not quote the word from the tool result (healloop-")
    assert line(lines, "json round trip").startswith("FAIL json round trip: ")


def test_arguments_that_are_not_json_are_named_and_never_sent_on(servers):
    ollama = Ollama(check_brain, quirk="cut-arguments")
    servers.append(ollama)
    code, lines = llm_check(ollama, "qwen2.5:7b", "--tools", "native")
    assert code == 1, lines
    assert line(lines, "tool calls") == "OK   tool calls: the model called read_file in tool_calls"
    assert line(lines, "arguments").startswith(
        "FAIL arguments: not a JSON object (the agent answers the model with an error); call id 'call_")
    assert line(lines, "round trip") == (
        "FAIL round trip: not sent: the call has arguments that are not a JSON object, not path "
        "'notes/healloop-check.txt'")
    assert len(ollama.requests) == 1


def test_response_format_refused_is_retried_without_it(servers):
    ollama = Ollama(check_brain, refuse_response_format=True)
    servers.append(ollama)
    code, lines = llm_check(ollama, "qwen2.5:7b", "--tools", "json")
    assert code == 0, lines
    assert line(lines, "json mode") == (
        "OK   json mode: the model called read_file as a JSON object, without response_format, which the "
        "server refused (HTTP 400: 'response_format.type' must be 'json_schema' or 'text')")
    assert [("response_format" in r) for r in ollama.requests] == [True, False, False]


def test_an_endpoint_with_a_key_wants_it_named(servers):
    llama = LlamaCpp(check_brain, api_key="s3cret")
    servers.append(llama)
    code, lines = llm_check(llama, "local")
    assert code == 1, lines
    assert lines[1:] == [
        "FAIL endpoint: the model endpoint wants an API key (HTTP 401: Invalid API Key); "
        "$HEALLOOP_LLM_API_KEY is not set (--llm-api-key-env names the variable that holds it)",
        "FAIL agent mode: nothing to use: the endpoint cannot be reached",
    ]
    code, lines = llm_check(llama, "local", "--api-key-env", "MY_LLAMA_KEY", env={"MY_LLAMA_KEY": "s3cret"})
    assert code == 0, lines


def test_nothing_listening_says_start_the_server():
    url = f"http://127.0.0.1:{free_port()}/v1"
    code, lines = llm_check(url, "qwen2.5:7b")
    assert code == 1, lines
    assert line(lines, "endpoint").startswith(f"FAIL endpoint: cannot reach the model at {url}: ")
    assert "is the server running and listening there? (ollama serve;" in line(lines, "endpoint")


def test_a_base_url_without_v1_is_pointed_at_it(servers):
    ollama = Ollama(check_brain)
    servers.append(ollama)
    code, lines = llm_check(ollama.url.removesuffix("/v1"), "qwen2.5:7b")
    assert code == 1, lines
    assert line(lines, "model") == "SKIP model: not checked: the server lists no models"
    assert "the base URL ends in /v1: Ollama http://127.0.0.1:11434/v1" in line(lines, "tool calls")


def test_bad_input_exits_2():
    code, lines = llm_check("ftp://example.org/v1", "m")
    assert code == 2
    said = "\n".join(lines)
    assert "the LLM base URL must start with http:// or https://, got 'ftp://example.org/v1'" in said
    code, lines = llm_check("http://127.0.0.1:9/v1", "m", "--tools", "sometimes")
    assert code == 2 and "'sometimes' is not one of 'auto', 'native', 'json'" in "\n".join(lines)
    code, lines = llm_check("http://127.0.0.1:9/v1", " ")
    assert code == 2 and "the LLM model name is empty" in "\n".join(lines)
