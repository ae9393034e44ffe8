"""Which registered node URLs an agent sends the node token to.

The queue's node list says where each node's MCP endpoint is, and the agent sends the node token with
every request there. Whoever can register a node can point its URL anywhere (a web page could, before
the queue refused cross-site requests; any holder of the queue token still can), so the agent checks
the URL's host first: loopback (a node on this machine) and the hosts it was told, by name, by
wildcard (``*.ci.internal``) or by network (``10.20.0.0/24``), from ``--node-host`` or
``[agent] node_hosts``. Any other host gets no connection at all, and the event says what to add.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from healloop.errors import ConfigError, Forbidden

# 0.0.0.0 and :: are where a node bound to every address says it is; a connection to them stays on
# this machine, like loopback.
LOOPBACK = ("localhost", "127.0.0.0/8", "::1", "0.0.0.0", "::")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def check_pattern(value: str) -> str:
    """A configured node host (name, ``*.`` wildcard, address or network), or ConfigError naming it."""
    pattern = value.strip().lower().rstrip(".")
    if "/" in pattern:
        try:
            ipaddress.ip_network(pattern, strict=False)
        except ValueError:
            pattern = ""
    elif ":" in pattern and _ip(pattern.strip("[]")) is None:
        pattern = ""
    if not pattern or "://" in value or " " in pattern:
        raise ConfigError(
            f"node host {value!r} is not a host name, wildcard, address or network; give e.g. "
            "ci-3.internal, *.ci.internal, 10.0.0.7 or 10.0.0.0/24 (no scheme, port or path)",
            field="node_hosts",
        )
    return pattern.strip("[]")


def _ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class NodeHosts:
    patterns: tuple[str, ...]

    @classmethod
    def of(cls, extra: Iterable[str] = ()) -> NodeHosts:
        return cls((*LOOPBACK, *(check_pattern(e) for e in extra)))

    def allows(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False
        host = parts.hostname.lower().rstrip(".")
        ip = _ip(host)
        for pattern in self.patterns:
            if "/" in pattern:
                if ip is not None and ip in ipaddress.ip_network(pattern, strict=False):
                    return True
            elif ip is not None and _ip(pattern) is not None:
                if ip == _ip(pattern):
                    return True
            elif fnmatch.fnmatchcase(host, pattern):
                return True
        return False

    def refusal(self, name: str, url: str) -> str:
        host = urlsplit(url).hostname or url
        told = [p for p in self.patterns if p not in LOOPBACK]
        return (f"node {name} is registered at {url}, whose host {host} is not one this agent sends the "
                f"node token to (loopback{', ' + ', '.join(told) if told else ''}); nothing was sent "
                f"there. If that is your node, add its host: `healloop agent --node-host {host}` (or "
                f"`node_hosts = [\"{host}\"]` under [agent] in healloop.toml, or "
                "HEALLOOP_AGENT_NODE_HOSTS); if not, someone re-registered the node: see its `moves` "
                "in GET /v1/nodes")

    def urls(self, nodes: Iterable[dict[str, Any]], needed: Iterable[str] = ()) -> dict[str, str]:
        """The trusted nodes' URLs, for a person's command (approve, revert, forge sync): a node it
        needs on a host not trusted is a Forbidden that says what to add, before anything is sent."""
        trusted, refused = self.split(nodes)
        for name in needed:
            if name in refused:
                raise Forbidden(refused[name].replace("`healloop agent --node-host", "`--node-host"))
        return trusted

    def split(self, nodes: Iterable[dict[str, Any]]) -> tuple[dict[str, str], dict[str, str]]:
        """The queue's node list as (name -> URL the token may go to, name -> why another may not)."""
        trusted: dict[str, str] = {}
        refused: dict[str, str] = {}
        for n in nodes:
            name, url = str(n["name"]), str(n["mcp_url"])
            if self.allows(url):
                trusted[name] = url
            else:
                refused[name] = self.refusal(name, url)
        return trusted, refused
