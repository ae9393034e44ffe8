"""The wire shapes (pure), and the chat client against the imitated servers in-process: what each shape
is read as, how a refusal is told from another error, and that a refusal is learned once per endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anyio
import pytest

from healloop.agent.llm_chat import ChatClient, Learned, LLMConfig, ToolsRefused, Unreachable
from healloop.agent.llm_check import READ_FILE
from healloop.agent.llm_wire import (
    error_text,
    json_mode,
    quoted,
    read_reply,
    refuses_response_format,
    refuses_tools,
)
from tests.agent.llm_servers import VLLM, CallReply, LlamaCpp, Ollama, TextReply, scripted

OFFERED = {"read_file", "edit_file"}


def fn(name: str, arguments: str, call_id: str | None = None) -> dict:
    return {**({"id": call_id, "type": "function"} if call_id else {}),
            "function": {"name": name, "arguments": arguments}}


def completion(message: dict) -> dict:
    return {"choices": [{"index": 0, "message": message}], "usage": {"total_tokens": 7}}


def test_openai_shape_string_arguments_with_id():
    message = {"role": "assistant", "content": None,
               "tool_calls": [fn("read_file", '{"path": "a"}', "call_9")]}
    turn = read_reply(completion(message), "native", OFFERED, 3)
    assert turn.source == "tool_calls" and turn.tokens == 7
    (call,) = turn.calls
    assert (call.id, call.name, call.args, call.args_shape, call.id_given) == (
        "call_9", "read_file", {"path": "a"}, "string", True)


def test_object_arguments_and_no_id_are_normalised_for_the_conversation():
    turn = read_reply(completion({"role": "assistant", "content": "", "tool_calls": [
        {"function": {"name": "read_file", "arguments": {"path": "a"}}},
        {"function": {"name": "read_file", "arguments": {"path": "b"}}}]}), "native", OFFERED, 2)
    assert [(c.id, c.args_shape, c.id_given) for c in turn.calls] == [
        ("call_2_0", "object", False), ("call_2_1", "object", False)]
    sent = turn.message()["tool_calls"]
    assert sent[1] == {"id": "call_2_1", "type": "function",
                       "function": {"name": "read_file", "arguments": '{"path": "b"}'}}


def test_llama_cpp_documented_flat_call():
    turn = read_reply(completion({"role": "assistant", "content": None, "tool_calls": [
        {"name": "read_file", "arguments": '{"path": "x"}'}]}), "native", OFFERED, 1)
    assert turn.calls[0].name == "read_file" and turn.calls[0].args == {"path": "x"}


def test_arguments_that_are_not_an_object_are_flagged_not_guessed():
    turn = read_reply(completion({"role": "assistant", "tool_calls": [
        {"id": "c", "function": {"name": "edit_file", "arguments": "{not json"}},
        {"id": "d", "function": {"name": "edit_file", "arguments": "[1, 2]"}}]}), "native", OFFERED, 1)
    assert [(c.args, c.args_shape) for c in turn.calls] == [(None, "invalid"), (None, "invalid")]


@pytest.mark.parametrize("content", [
    '{"name": "read_file", "arguments": {"path": "a"}}',
    '```json\n{"name": "read_file", "arguments": {"path": "a"}}\n```',
    '<tool_call>\n{"name": "read_file", "arguments": "{\\"path\\": \\"a\\"}"}\n</tool_call>',
    '{"tool": "read_file", "parameters": {"path": "a"}}',
])
def test_a_call_written_in_the_content_is_read_in_native_mode(content):
    turn = read_reply(completion({"role": "assistant", "content": content}), "native", OFFERED, 4)
    assert turn.source == "content"
    assert [(c.id, c.name, c.args) for c in turn.calls] == [("call_4_0", "read_file", {"path": "a"})]


def test_json_in_the_content_naming_no_offered_function_is_an_answer():
    text = '{"name": "git_push", "arguments": {}}'
    turn = read_reply(completion({"role": "assistant", "content": text}), "native", OFFERED, 1)
    assert turn.calls == [] and turn.text == text
    prose = read_reply(completion({"role": "assistant", "content": "ESCALATE: total changed"}), "native",
                       OFFERED, 1)
    assert prose.calls == [] and prose.text == "ESCALATE: total changed" and prose.source == "text"


def test_json_mode_calls_answers_and_prose():
    call = read_reply(completion({"role": "assistant", "content": '{"tool": "git_push", "arguments": {}}'}),
                      "json", OFFERED, 1)
    # JSON mode takes any name: the planner then answers that the tool is not offered.
    assert call.source == "json" and call.calls[0].name == "git_push"
    answer = read_reply(completion({"role": "assistant", "content": '{"answer": "ESCALATE: x"}'}), "json",
                        OFFERED, 2)
    assert answer.calls == [] and answer.text == "ESCALATE: x"
    prose = read_reply(completion({"role": "assistant", "content": "plain words"}), "json", OFFERED, 3)
    assert prose.calls == [] and prose.text == "plain words"


def test_json_mode_conversation_keeps_one_call_per_turn_and_the_quoting():
    messages = [
        {"role": "system", "content": "SYSTEM"},
        {"role": "user", "content": "task"},
        {"role": "assistant", "content": None,
         "tool_calls": [fn("read_file", '{"path": "x"}', "a"), fn("read_file", '{"path": "y"}', "b")]},
        {"role": "tool", "tool_call_id": "a", "name": "read_file", "content": quoted("r", 1)},
        {"role": "tool", "tool_call_id": "b", "name": "read_file", "content": quoted("r", 2)},
    ]
    out = json_mode(messages, [READ_FILE])
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert out[0]["content"].startswith("SYSTEM\n\nThis endpoint has no native tool calling")
    described = json.loads(out[0]["content"].split("The functions you may call:\n", 1)[1])
    assert described[0]["name"] == "read_file" and described[0]["parameters"]["required"] == ["path"]
    assert json.loads(out[2]["content"]) == {"tool": "read_file", "arguments": {"path": "x"}}
    assert out[3]["content"] == "Result of read_file:\n<<<UNTRUSTED_DATA r\n1\nUNTRUSTED_DATA>>>"
    assert out[5]["content"] == "Result of read_file:\n" + quoted("r", 2)
    assert json.loads(out[4]["content"]) == {"tool": "read_file", "arguments": {"path": "y"}}
    assert all(isinstance(m["content"], str) and "tool_calls" not in m for m in out)


def test_error_bodies_of_each_server():
    assert error_text('{"error": {"message": "model \\"x\\" not found, try pulling it first"}}') == (
        'model "x" not found, try pulling it first')
    assert error_text('{"error": "model \'x\' not found"}') == "model 'x' not found"
    assert error_text('{"object": "error", "message": "old vllm", "code": 400}') == "old vllm"
    assert error_text('{"detail": "Not Found"}') == "Not Found"
    assert error_text("404 page not found\n") == "404 page not found"


def test_what_counts_as_a_refusal_of_tools():
    assert refuses_tools(400, '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser')
    assert refuses_tools(500, "tools param requires --jinja flag")
    assert refuses_tools(400, "registry.ollama.ai/library/gemma3:270m does not support tools")
    # The same statuses for other reasons: falling back would hide them.
    assert not refuses_tools(400, "This model's maximum context length is 8192 tokens")
    assert not refuses_tools(500, "CUDA out of memory")
    assert not refuses_tools(404, "model 'tool-llama' not found")
    assert refuses_response_format(400, "'response_format.type' must be 'json_schema' or 'text'")
    assert not refuses_response_format(400, "maximum context length")


@pytest.fixture
def close() -> Iterator[list]:
    servers: list = []
    yield servers
    for s in servers:
        s.close()


def test_a_refusal_is_learned_once_per_endpoint(close):
    """Two events' conversations through one Learned: only the very first request offers tools."""
    vllm = VLLM(scripted([CallReply("read_file", {"path": "a"}), TextReply("ESCALATE: one"),
                          TextReply("ESCALATE: two")]), models=["m"], auto_tool_choice=False)
    close.append(vllm)
    config = LLMConfig(base_url=vllm.url, model="m")
    learned = Learned(config.tools)

    async def two_events() -> list:
        first = ChatClient(config, learned)
        turns = [await first.turn([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
                                  [READ_FILE], 1)]
        second = ChatClient(config, learned)
        turns.append(await second.turn([{"role": "system", "content": "s"}, {"role": "user", "content": "v"}],
                                       [READ_FILE], 1))
        return turns

    turns = anyio.run(two_events)
    assert turns[0].source == "json" and turns[0].calls[0].args == {"path": "a"}
    assert turns[1].text == "ESCALATE: one"
    assert ["tools" in r for r in vllm.requests] == [True, False, False]
    assert learned.tools == "json" and "enable-auto-tool-choice" in (learned.tools_refused or "")


def test_native_mode_does_not_fall_back_and_says_how_to_switch_tools_on(close):
    llama = LlamaCpp(scripted([]), jinja=False)
    close.append(llama)
    client = ChatClient(LLMConfig(base_url=llama.url, model="m", tools="native"))
    with pytest.raises(ToolsRefused) as refused:
        anyio.run(client.turn, [{"role": "user", "content": "u"}], [READ_FILE], 1)
    assert refused.value.message == (
        "the endpoint refused tool calls (HTTP 500: tools param requires --jinja flag) and --llm-tools is "
        "native; start llama-server with --jinja (the default in recent builds; drop --no-jinja), or use "
        "--llm-tools auto")
    assert len(llama.requests) == 1


def test_json_mode_never_offers_tools_and_drops_response_format_when_refused(close):
    ollama = Ollama(scripted([TextReply("fine")]), refuse_response_format=True)
    close.append(ollama)
    client = ChatClient(LLMConfig(base_url=ollama.url, model="qwen2.5:7b", tools="json"))
    turn = anyio.run(client.turn, [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
                     [READ_FILE], 1)
    assert turn.text == "fine"
    sent = [("tools" in r, "response_format" in r) for r in ollama.requests]
    assert sent == [(False, True), (False, False)]


def test_a_model_not_pulled_is_unreachable_with_the_pull_command(close):
    ollama = Ollama(scripted([]), models=["qwen2.5:7b"])
    close.append(ollama)
    client = ChatClient(LLMConfig(base_url=ollama.url, model="llama3.1:8b"))
    with pytest.raises(Unreachable, match=r"ollama pull llama3\.1:8b"):
        anyio.run(client.turn, [{"role": "user", "content": "u"}], [READ_FILE], 1)
