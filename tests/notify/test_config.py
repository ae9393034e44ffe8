"""The [notify.NAME] tables: defaults, filters, secrets from the environment, and errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from healloop.errors import ConfigError
from healloop.notify.config import DEFAULT_ON, ChannelConfig, load_channels

FULL = '''
[queue]
port = 8787

[notify.qa-feishu]
kind = "feishu"
url = "https://open.feishu.cn/open-apis/bot/v2/hook/abc"
secret = "feishu-secret"
on = ["escalated", "resolved"]
filter = { node = "ci-*", spec = "e2e/checkout/**" }
timeout = 5

[notify.team-slack]
kind = "slack"
url = "https://hooks.slack.com/services/T0/B0/XYZ"

[notify.ding]
kind = "dingtalk"
url = "https://oapi.dingtalk.com/robot/send?access_token=abc"
secret_env = "DING_SECRET"

[notify.hook]
kind = "webhook"
url_env = "HOOK_URL"
secret = "hmac-key"

[notify.phone]
kind = "apprise"
url = "tgram://123456:ABCdef/987654"
'''


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "healloop.toml"
    path.write_text(text)
    return path


def test_every_kind_read_with_its_defaults(tmp_path: Path) -> None:
    env = {"DING_SECRET": "ding-secret", "HOOK_URL": "http://127.0.0.1:9000/hook"}
    channels = load_channels(write(tmp_path, FULL), env)
    assert list(channels) == ["qa-feishu", "team-slack", "ding", "hook", "phone"]
    feishu = channels["qa-feishu"]
    assert (feishu.kind, feishu.secret, feishu.on, feishu.timeout) == (
        "feishu", "feishu-secret", frozenset({"escalated", "resolved"}), 5.0)
    assert (feishu.filter_node, feishu.filter_spec) == ("ci-*", "e2e/checkout/**")
    slack = channels["team-slack"]
    assert (slack.secret, slack.on, slack.timeout, slack.filter_node) == (None, DEFAULT_ON, 10.0, None)
    assert set(DEFAULT_ON) == {"escalated", "proposed", "flapping", "reverted"}
    assert channels["ding"].secret == "ding-secret"
    assert channels["hook"].url == "http://127.0.0.1:9000/hook"
    assert channels["phone"].url.startswith("tgram://")


def test_no_file_or_no_notify_table_is_no_channels(tmp_path: Path) -> None:
    assert load_channels(tmp_path / "missing.toml") == {}
    assert load_channels(write(tmp_path, "[queue]\nport = 1\n")) == {}


def test_the_url_and_secret_never_show_in_a_repr(tmp_path: Path) -> None:
    ch = load_channels(write(tmp_path, FULL), {"DING_SECRET": "x", "HOOK_URL": "http://h/x"})["qa-feishu"]
    assert "feishu-secret" not in repr(ch) and "hook/abc" not in repr(ch)
    assert ch.where == "https://open.feishu.cn"


def test_wants_follows_on_and_the_filters() -> None:
    ch = ChannelConfig(name="c", kind="slack", url="https://x", filter_node="ci-*",
                       filter_spec="e2e/checkout/**")
    assert ch.wants("escalated", "ci-1", "e2e/checkout/pay/card.cy.js")
    assert not ch.wants("resolved", "ci-1", "e2e/checkout/pay.cy.js")        # not in the default `on`
    assert not ch.wants("escalated", "dev-laptop", "e2e/checkout/pay.cy.js")
    assert not ch.wants("escalated", "ci-1", "e2e/login.cy.js")
    assert not ch.wants("escalated", None, "e2e/checkout/pay.cy.js")          # a filter needs the value
    assert ch.wants("digest", None, None) and ch.wants("test", "laptop", None)
    everything = ChannelConfig(name="c", kind="slack", url="https://x", on=frozenset({"resolved"}))
    assert everything.wants("resolved", None, None) and not everything.wants("escalated", "n", "s")


GOOD = 'kind = "slack"\nurl = "https://hooks.slack.com/services/x"\n'


@pytest.mark.parametrize(("table", "key", "words"), [
    ('url = "https://x.example/hook"\n', "notify.qa.kind", "must be one of feishu, slack, webhook, dingtalk"),
    ('kind = "teams"\nurl = "https://x.example/hook"\n', "notify.qa.kind", "'teams'"),
    ('kind = "slack"\n', "notify.qa.url", "is required"),
    ('kind = "slack"\nurl = "ftp://x.example/hook"\n', "notify.qa.url", "must be an http(s) URL"),
    ('kind = "slack"\nurl = "hooks.slack.com/services/x"\n', "notify.qa.url", "must be an http(s) URL"),
    ('kind = "slack"\nurl = ""\n', "notify.qa.url", "must be a non-empty string"),
    ('kind = "slack"\nurl = 3\n', "notify.qa.url", "must be a non-empty string"),
    ('kind = "slack"\nurl_env = "QA_UNSET_URL"\n', "notify.qa.url_env",
     "names the environment variable QA_UNSET_URL, which is not set"),
    ('kind = "slack"\nurl_env = "BAD_URL"\n', "notify.qa.url_env",
     "the environment variable BAD_URL must hold an http(s) URL"),
    ('kind = "slack"\nurl_env = "not a name"\n', "notify.qa.url_env", "the name of an environment variable"),
    (GOOD + 'url_env = "X"\n', "notify.qa.url_env", "set either `notify.qa.url` or `notify.qa.url_env`"),
    ('kind = "feishu"\nurl = "https://x.example/h"\nsecret_env = "FEISHU_SECRET"\n', "notify.qa.secret_env",
     "FEISHU_SECRET, which is not set"),
    ('kind = "feishu"\nurl = "https://x.example/h"\nsecret = "a"\nsecret_env = "S"\n',
     "notify.qa.secret_env", "not both"),
    (GOOD + 'secret = "abc"\n', "notify.qa.secret", "is not used by kind = 'slack'"),
    ('kind = "apprise"\nurl = "tgram://a/b"\nsecret = "abc"\n', "notify.qa.secret",
     "put credentials in the Apprise URL"),
    ('kind = "apprise"\nurl = "telegram bot"\n', "notify.qa.url", "an Apprise URL"),
    (GOOD + 'on = ["escalate"]\n', "notify.qa.on", "has 'escalate'; the outcomes are escalated, resolved"),
    (GOOD + 'on = ["digest"]\n', "notify.qa.on", "digest messages are always sent"),
    (GOOD + 'on = "escalated"\n', "notify.qa.on", "must be a list of outcomes"),
    (GOOD + 'filter = "ci-*"\n', "notify.qa.filter", "must be a table such as"),
    (GOOD + 'filter = { nodes = "ci-*" }\n', "notify.qa.filter.nodes", "allowed keys in notify.qa.filter"),
    (GOOD + 'filter = { node = "" }\n', "notify.qa.filter.node", "must be a non-empty string"),
    (GOOD + "timeout = 0\n", "notify.qa.timeout", "a number of seconds above 0 and at most 300"),
    (GOOD + 'timeout = "10s"\n', "notify.qa.timeout", "a number of seconds"),
    (GOOD + 'secrets = "x"\n', "notify.qa.secrets", "allowed keys in [notify.qa]:"),
])
def test_each_bad_value_names_its_key(tmp_path: Path, table: str, key: str, words: str) -> None:
    path = write(tmp_path, "[notify.qa]\n" + table)
    with pytest.raises(ConfigError) as err:
        load_channels(path, {"BAD_URL": "ftp://secret-token@x", "X": "https://x.example"})
    assert err.value.field == key
    assert f"`{key}`" in err.value.message
    assert words in err.value.message
    assert "secret-token" not in err.value.message


@pytest.mark.parametrize(("text", "key", "words"), [
    ("notify = 1\n", "notify", "must be a table of channels"),
    ("[notify]\nqa = 1\n", "notify.qa", "must be a table"),
    ('[notify."bad name!"]\nkind = "slack"\n', "notify.bad name!", "must be letters, digits"),
    ("[notify.qa\n", "config", "is not valid TOML"),
])
def test_bad_tables_are_named(tmp_path: Path, text: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_channels(write(tmp_path, text), {})
    assert err.value.field == key and words in err.value.message


def test_the_environment_defaults_to_the_process_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_HOOK_URL", "https://hooks.example/1")
    monkeypatch.setenv("QA_HOOK_SECRET", "from-env")
    path = write(tmp_path, '[notify.qa]\nkind = "webhook"\nurl_env = "QA_HOOK_URL"\n'
                           'secret_env = "QA_HOOK_SECRET"\n')
    ch = load_channels(path)["qa"]
    assert (ch.url, ch.secret) == ("https://hooks.example/1", "from-env")


def test_the_readme_examples_load(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Notifications\n", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    env = {"FEISHU_SECRET": "f", "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/X",
           "DINGTALK_SECRET": "SECd", "HEALLOOP_HOOK_SECRET": "h"}
    channels = load_channels(write(tmp_path, example), env)
    assert {c.kind for c in channels.values()} == {"feishu", "slack", "dingtalk", "webhook", "apprise"}
