"""``healloop.jsonc``: JSON with comments read with its spans, and edits that leave the rest of the text as
it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from healloop import jsonc
from healloop.errors import HealloopError
from healloop.vscodeconfig import merge


def _add(text: str, pairs: list[tuple[str, object]]) -> str:
    root = jsonc.parse(text)
    return jsonc.apply(text, jsonc.set_members(text, root, pairs, jsonc.indent_unit(text, root),
                                               jsonc.newline_of(text)))


def test_values_comments_and_trailing_commas() -> None:
    text = ('// head\n{ "url": "https://x/y//z", /* c */ "q": "say \\"hi\\" // not a comment",\n'
            '  "n": [1, -2.5e3, true, null, {},], }\n')
    root = jsonc.parse(text)
    assert root.value == {"url": "https://x/y//z", "q": 'say "hi" // not a comment',
                          "n": [1, -2500.0, True, None, {}]}
    assert root.trailing_comma and root.members[2].node.trailing_comma
    url = root.members[0].node
    assert text[url.start:url.end] == '"https://x/y//z"'


@pytest.mark.parametrize(("text", "where", "what"), [
    ('{\n  "a": 1\n  "b": 2\n}', "line 3, column 3", "expected ',' or '}' after the member 'a'"),
    ('{"a": [1 2]}', "line 1, column 10", "expected ',' or ']'"),
    ('{"a": 1} {}', "line 1, column 10", "unexpected text after the end"),
    ("{'a': 1}", "line 1, column 2", "expected a quoted member name"),
    ('{"a": tru}', "line 1, column 7", "expected a value"),
    ('{"a": 1 /* open', "line 1, column 9", "never closed with */"),
    ('{"a": "\\x"}', "line 1, column 8", "bad string: Invalid \\escape"),
    ("  // only a comment\n", "line 2, column 1", "holds no JSON value"),
])
def test_errors_name_line_and_column(text: str, where: str, what: str) -> None:
    with pytest.raises(jsonc.JsoncError) as err:
        jsonc.parse(text)
    assert err.value.message.startswith(where + ": ") and what in err.value.message


def test_replacing_a_member_keeps_everything_around_it() -> None:
    text = '{\n  // why\n  "keep": 1, // mine\n  "x": {"old": true}, /* after */\n  "z": 3\n}\n'
    root = jsonc.parse(text)
    edits = jsonc.set_members(text, root, [("x", {"new": [1, 2]}), ("keep", 1)], "  ", "\n")
    assert len(edits) == 1   # "keep" is already 1
    out = jsonc.apply(text, edits)
    assert out == ('{\n  // why\n  "keep": 1, // mine\n  "x": {\n    "new": [1, 2]\n  }, /* after */\n'
                   '  "z": 3\n}\n')


def test_adding_members_to_objects_of_each_shape() -> None:
    assert _add("{}", [("a", 1)]) == '{\n  "a": 1\n}'
    assert _add('{"a": 1}', [("b", 2)]) == '{"a": 1, "b": 2}'
    assert _add('{\n    "a": 1 // c\n}\n', [("b", [1])]) == '{\n    "a": 1, // c\n    "b": [1]\n}\n'
    assert _add('{\n  "a": 1,\n}\n', [("b", 2)]) == '{\n  "a": 1,\n  "b": 2\n}\n'
    assert _add("{ /* nothing yet */ }", [("a", 1)]) == '{\n  "a": 1 /* nothing yet */ }'
    for text in ['{"a": 1}', '{\n    "a": 1 // c\n}\n', "{ /* nothing yet */ }"]:
        assert jsonc.parse(_add(text, [("b", {"c": [1, 2]})])).value["b"] == {"c": [1, 2]}


def test_crlf_tabs_and_a_byte_order_mark_survive_a_merge() -> None:
    text = '\ufeff{\r\n\t"servers": {\r\n\t\t"x": {"command": "y"}\r\n\t}\r\n}\r\n'
    out, changes = merge(text, {"h": {"type": "http", "url": "u"}}, [{"id": "t", "type": "promptString"}],
                         Path("mcp.json"))
    assert out.startswith('\ufeff{\r\n\t"servers": {\r\n\t\t"x": {"command": "y"},\r\n\t\t"h": {\r\n')
    assert "\n" not in out.replace("\r\n", "")
    assert json.loads(out.lstrip("\ufeff")) == {"servers": {"x": {"command": "y"}, "h": {"type": "http",
                                                                                          "url": "u"}},
                                                "inputs": [{"id": "t", "type": "promptString"}]}
    assert dict(changes) == {"h": "added", "t": "added"}
    again, changes = merge(out, {"h": {"type": "http", "url": "u"}}, [{"id": "t", "type": "promptString"}],
                           Path("mcp.json"))
    assert again == out and set(dict(changes).values()) == {"unchanged"}


def test_a_file_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(HealloopError, match="must hold a JSON object"):
        merge("[]", {}, [], Path("mcp.json"))
    with pytest.raises(HealloopError, match='"inputs" must be an array'):
        merge('{"inputs": {}}', {}, [], Path("mcp.json"))


def test_overlapping_edits_are_a_bug_not_a_file() -> None:
    with pytest.raises(ValueError, match="overlapping"):
        jsonc.apply("abcdef", [jsonc.Edit(0, 3, "x"), jsonc.Edit(2, 4, "y")])
