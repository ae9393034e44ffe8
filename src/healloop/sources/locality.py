"""Whether a failure is local to the machine that ran the test, from its message and stack.

A local failure (this machine's own service is down, its disk is full, one of its ports is taken)
is reported with ``local: true``, so the queue keeps one event per machine and repairs it there. A
fault in the test or the app fails the same way on every machine and must stay one shared event,
so anything uncertain is not local: a wrong "local" splits one fault into an event per machine.

The words for a refused or reset connection are those of the agent's SERVICE_UNREACHABLE rule
(``healloop.agent.classify``), which sources must not import; tests/sources/test_locality.py checks
that both agree. ``isLocal`` in integrations/core/locality.js is a copy of this module for the
JavaScript reporters: both are run against tests/sources/fixtures/locality.json.
"""

from __future__ import annotations

import re

# Ordered: the first rule that matches gives the reason. A full disk and a port in use are this
# machine's whatever host the text names (a bind names 0.0.0.0, a failed write may name the URL it
# was saving), so they come before connections, which are local only when the host is this machine.
# Among connections "refused" comes first: requests says "Failed to establish a new connection:
# [Errno 111] Connection refused", and the errno is the more precise reason.
_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("no space left on device", re.compile(r"\bENOSPC\b|No space left on device", re.I)),
    ("disk quota exceeded", re.compile(r"\bEDQUOT\b|Disk quota exceeded", re.I)),
    ("address already in use", re.compile(
        r"\bEADDRINUSE\b|Address already in use|\bport [0-9]+ is already in use"
        r"|is already used, make sure that nothing is running on the port", re.I)),
    ("connection refused", re.compile(r"ECONNREFUSED|ERR_CONNECTION_REFUSED|Connection refused", re.I)),
    ("connection reset", re.compile(r"ECONNRESET|ERR_CONNECTION_RESET|Connection reset", re.I)),
    ("connection failed", re.compile(r"Failed to establish a new connection", re.I)),
]
_CONNECTION = ("connection refused", "connection reset", "connection failed")

# A host, host:port, [v6]:port or Node's "::1:3000", ending on a letter, digit or bracket so that a
# sentence's full stop or Go's "127.0.0.1:8080: connect" colon is left out.
_TOKEN = r"([A-Za-z0-9_.:\[\]%-]*[A-Za-z0-9\]])"
# A URL's user:password@host:port; _host drops the user part and a sentence's trailing full stop.
_AUTHORITY = r"([^\s/?#'\"<>()`]*)"

# The host that refused or reset the connection, where each tool names it, most direct first: the
# first pattern that names one decides, so Cypress's docs link or a stack's URLs do not. Group 1 is
# the host (or host:port), group 2 a port given apart. Patterns must stay valid in both Python's re
# and JavaScript's RegExp (integrations/core/locality.js has the same list).
_HOSTS: list[re.Pattern[str]] = [
    # Node, so Cypress and Playwright's API requests: "connect ECONNREFUSED 127.0.0.1:3000"
    re.compile(r"\b(?:ECONNREFUSED|ECONNRESET)[ \t]+" + _TOKEN, re.I),
    # Chromium: "net::ERR_CONNECTION_REFUSED at http://127.0.0.1:4173/"; Cypress: "cy.visit()
    # failed trying to load:\n\nhttp://localhost:3000/"
    re.compile(r"(?:ERR_CONNECTION_[A-Z_]+ at|failed trying to load:)\s+[a-z][a-z0-9+.-]*://" + _AUTHORITY,
               re.I),
    # urllib3 and requests: "HTTPConnectionPool(host='localhost', port=8000)"
    re.compile(r"ConnectionPool\(host='([^']*)'(?:, port=([0-9]+))?", re.I),
    # curl: "Failed to connect to localhost port 3000"
    re.compile(r"Failed to connect to " + _TOKEN + r" port ([0-9]+)", re.I),
    # Go: "dial tcp 127.0.0.1:8080: connect: connection refused"
    re.compile(r"\bdial (?:tcp|tcp4|tcp6|udp) " + _TOKEN, re.I),
    # libpq (psycopg): 'connection to server at "localhost" (127.0.0.1), port 5432 failed'
    re.compile(r"connection to server at \"([^\"]*)\"(?: \([^)]*\))?, port ([0-9]+)", re.I),
]
# With none of those, any web address in the text may be the one refused (urllib names none).
_ANY_URL = re.compile(r"\b(?:https?|wss?)://" + _AUTHORITY, re.I)
_PORT_IN_USE = re.compile(r"(?:EADDRINUSE:? address already in use|EADDRINUSE)[ \t]+" + _TOKEN, re.I)

# localhost (and *.localhost, RFC 6761), 127.0.0.0/8, ::1, and the unspecified 0.0.0.0 and :: that
# a client reaching "all interfaces" connects to on this machine.
_LOOPBACK = re.compile(
    r"^(?:localhost|[a-z0-9.-]*\.localhost|127(?:\.[0-9]{1,3}){3}|0\.0\.0\.0|::1?"
    r"|(?:0{1,4}:){7}0{0,3}[01]|::ffff:127(?:\.[0-9]{1,3}){3})$", re.I)


def _host(token: str, port: str | None = None) -> str:
    """``host`` or ``host:port``, without the user name and password a URL may carry (the host
    ends up in a label) and without the punctuation of the sentence around it."""
    token = re.sub(r"[.,;:]+$", "", token.rsplit("@", 1)[-1])
    return f"{token}:{port}" if token and port else token


def _is_loopback(host: str) -> bool:
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]  # host:port, the port possibly a template's "{port}"
    host = host.split("%", 1)[0]  # an IPv6 zone: fe80::1%eth0
    # Node writes "::1:3000" for port 3000 of ::1: try the text with and without a trailing port.
    return bool(_LOOPBACK.fullmatch(host) or _LOOPBACK.fullmatch(re.sub(r":[0-9]+$", "", host)))


def _named_hosts(text: str) -> list[str]:
    for pattern in _HOSTS:
        hosts = [h for h in (_host(*m.groups()) for m in pattern.finditer(text)) if h]
        if hosts:
            return hosts
    return [h for h in (_host(m.group(1)) for m in _ANY_URL.finditer(text)) if h]


def is_local(message: str, stack: str | None = None) -> str | None:
    """The reason a failure is local to the reporting machine, e.g. "connection refused to
    127.0.0.1:3000", or None when it is not, or may not be."""
    text = f"{message or ''}\n{stack or ''}"
    for reason, pattern in _RULES:
        if not pattern.search(text):
            continue
        if reason == "address already in use":
            m = _PORT_IN_USE.search(text)
            return f"{reason} {m.group(1)}" if m else reason
        if reason not in _CONNECTION:
            return reason
        hosts = _named_hosts(text)
        if not hosts:
            return f"{reason}, no host named"
        if all(_is_loopback(h) for h in hosts):
            return f"{reason} to {hosts[0]}"
        return None  # another machine's service, shared by every machine that runs the test
    return None
