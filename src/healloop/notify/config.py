"""Notification channels: the ``[notify.NAME]`` tables of healloop.toml, read once at start.

Every bad value is a ``ConfigError`` naming the full key (``notify.qa-feishu.url``) and what is
expected. A URL or secret may come from the environment (``url_env``, ``secret_env``) so that neither
has to sit in a file that is committed.
"""

from __future__ import annotations

import fnmatch
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from healloop.errors import ConfigError
from healloop.notify.model import ALWAYS, OUTCOMES

KINDS = ("feishu", "slack", "webhook", "dingtalk", "apprise")
SIGNED = ("feishu", "dingtalk", "webhook")    # the kinds that use `secret`
DEFAULT_ON = frozenset(o for o in OUTCOMES if o != "resolved")
_KEYS = {"kind", "url", "url_env", "secret", "secret_env", "on", "filter", "timeout"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ChannelConfig:
    name: str
    kind: str
    url: str = field(repr=False)             # chat webhook URLs carry their access token
    secret: str | None = field(default=None, repr=False)
    on: frozenset[str] = DEFAULT_ON
    filter_node: str | None = None           # fnmatch glob on the reporting node
    filter_spec: str | None = None           # fnmatch glob on the spec path ('*' also crosses '/')
    timeout: float = 10.0

    def wants(self, outcome: str, node: str | None, spec: str | None) -> bool:
        """Whether this channel is told about ``outcome`` of an event of ``node`` and ``spec``; digests
        and test messages always are. A filter set on a value the event lacks does not match."""
        if outcome in ALWAYS:
            return True
        if outcome not in self.on:
            return False
        if self.filter_node is not None and (node is None or not fnmatch.fnmatchcase(node, self.filter_node)):
            return False
        return self.filter_spec is None or (spec is not None and fnmatch.fnmatchcase(spec, self.filter_spec))

    @property
    def where(self) -> str:
        """The URL's scheme, host and port, safe to print (the path and query hold the token)."""
        parts = urlsplit(self.url)
        if self.kind == "apprise":
            return f"{parts.scheme}://"
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname or ''}{port}"


def _fail(key: str, want: str, value: Any) -> ConfigError:
    return ConfigError(f"`{key}` must be {want}, got {value!r}", field=key)


def _string(table: dict[str, Any], prefix: str, name: str) -> str | None:
    value = table.get(name)
    if value is not None and (not isinstance(value, str) or not value.strip() or "\x00" in value):
        raise _fail(f"{prefix}.{name}", "a non-empty string", value)
    return value


def _from_env(table: dict[str, Any], prefix: str, name: str, what: str, env: dict[str, str]) -> str | None:
    """``name`` itself, or the environment variable that ``name_env`` names; not both."""
    direct = _string(table, prefix, name)
    var = _string(table, prefix, f"{name}_env")
    if var is None:
        return direct
    key = f"{prefix}.{name}_env"
    if direct is not None:
        raise ConfigError(f"set either `{prefix}.{name}` or `{key}`, not both", field=key)
    if not _ENV_NAME.match(var):
        raise _fail(key, "the name of an environment variable (letters, digits, '_')", var)
    value = env.get(var)
    if not value:
        raise ConfigError(f"`{key}` names the environment variable {var}, which is not set:"
                          f" export {var}=<{what}> before starting healloop", field=key)
    return value


def _url(kind: str, url: str, key: str, var: str | None) -> str:
    if kind == "apprise":
        good = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$", url) is not None
        want = "an Apprise URL such as 'tgram://TOKEN/CHAT' or 'mailto://user:pass@host'"
    else:
        parts = urlsplit(url)
        good = (parts.scheme in ("http", "https") and bool(parts.hostname)
                and not any(c.isspace() for c in url))
        want = "an http(s) URL (the webhook address the service gave you)"
    if good:
        return url
    if var is not None:  # the value may hold a token: name the variable, never print it
        raise ConfigError(f"`{key}`: the environment variable {var} must hold {want}", field=key)
    raise _fail(key, want, url)


def _on(table: dict[str, Any], prefix: str) -> frozenset[str]:
    value = table.get("on")
    if value is None:
        return DEFAULT_ON
    key = f"{prefix}.on"
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(key, "a list of outcomes: " + ", ".join(OUTCOMES), value)
    for item in value:
        if item not in OUTCOMES:
            extra = f" ({item} messages are always sent)" if item in ALWAYS else ""
            raise ConfigError(f"`{key}` has {item!r}{extra}; the outcomes are " + ", ".join(OUTCOMES),
                              field=key)
    return frozenset(value)


def _filter(table: dict[str, Any], prefix: str) -> tuple[str | None, str | None]:
    value = table.get("filter", {})
    key = f"{prefix}.filter"
    if not isinstance(value, dict):
        raise _fail(key, 'a table such as { node = "ci-*", spec = "e2e/checkout/**" }', value)
    unknown = sorted(set(value) - {"node", "spec"})
    if unknown:
        raise ConfigError(f"unknown key `{key}.{unknown[0]}`; allowed keys in {key}: node, spec",
                          field=f"{key}.{unknown[0]}")
    return _string(value, key, "node"), _string(value, key, "spec")


def _timeout(table: dict[str, Any], prefix: str) -> float:
    value = table.get("timeout", 10)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 300:
        raise _fail(f"{prefix}.timeout", "a number of seconds above 0 and at most 300", value)
    return float(value)


def channel_from_table(name: str, table: Any, env: dict[str, str] | None = None) -> ChannelConfig:
    """One ``[notify.NAME]`` table; ``env`` defaults to the process environment."""
    prefix = f"notify.{name}"
    env = dict(os.environ) if env is None else env
    if not _NAME.match(name):
        raise ConfigError(f"channel name {name!r} ([{prefix}]) must be letters, digits, '_', '.', '-'",
                          field=prefix)
    if not isinstance(table, dict):
        raise _fail(prefix, "a table ([notify.NAME] with kind and url)", table)
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ConfigError(f"unknown key `{prefix}.{unknown[0]}`; allowed keys in [{prefix}]: "
                          + ", ".join(sorted(_KEYS)), field=f"{prefix}.{unknown[0]}")
    kind = table.get("kind")
    if kind not in KINDS:
        raise _fail(f"{prefix}.kind", "one of " + ", ".join(KINDS), kind)
    url = _from_env(table, prefix, "url", "the webhook URL", env)
    if url is None:
        raise ConfigError(f"`{prefix}.url` is required (or `{prefix}.url_env`, naming a variable that"
                          " holds it)", field=f"{prefix}.url")
    url_var = table.get("url_env")
    url_key = f"{prefix}.url_env" if url_var else f"{prefix}.url"
    secret = _from_env(table, prefix, "secret", "the signing secret", env)
    if secret is not None and kind not in SIGNED:
        key = f"{prefix}.secret_env" if "secret_env" in table else f"{prefix}.secret"
        where = ("put credentials in the Apprise URL" if kind == "apprise"
                 else "the URL itself is the credential")
        raise ConfigError(f"`{key}` is not used by kind = {kind!r} ({where}); remove it", field=key)
    node, spec = _filter(table, prefix)
    return ChannelConfig(name=name, kind=kind, url=_url(kind, url, url_key, url_var), secret=secret,
                         on=_on(table, prefix), filter_node=node, filter_spec=spec,
                         timeout=_timeout(table, prefix))


def load_channels(path: Path, env: dict[str, str] | None = None) -> dict[str, ChannelConfig]:
    """The channels of ``path`` by name, in file order; {} when the file or its [notify] table is absent."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}", field="config") from None
    notify = data.get("notify", {})
    if not isinstance(notify, dict):
        raise ConfigError("`notify` must be a table of channels ([notify.NAME])", field="notify")
    return {name: channel_from_table(name, table, env) for name, table in notify.items()}
