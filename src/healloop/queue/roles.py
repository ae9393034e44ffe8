"""Who may call what: the one table of the queue's routes and the roles allowed on each.

A role token (``healloop token create --role ROLE``) carries one role. ``admin`` may do everything;
the others only what their part of the system needs, so a leaked reporter token in a CI log cannot
re-register a node (and harvest the node token agents send it) or approve a fix. Every route of the
app is in ``ACCESS``: ``tests/queue/test_roles.py`` walks the routes and fails on one left out.
"""

from __future__ import annotations

import re

REPORTER, AGENT, NODE, READER, OPERATOR, ADMIN = "reporter", "agent", "node", "reader", "operator", "admin"
ROLES = (REPORTER, AGENT, NODE, READER, OPERATOR, ADMIN)
# Routes anyone may call, token or not: health, metrics and the API's own documentation.
ANYONE = frozenset({"anyone"})

_E = "/v1/events/{event_id}"
_READ = frozenset({AGENT, READER, OPERATOR})
# The dashboard's pages are for people: a reader looks, an operator also presses the buttons. They are
# checked by the dashboard's session (dashboard/session.py), not by a bearer token (queue/auth.py).
_LOOK = frozenset({READER, OPERATOR})
_D = "/events/{event_id}"
ACCESS: dict[tuple[str, str], frozenset[str]] = {
    # reporters: failures, alerts and their artifacts in, nothing out
    ("POST", "/v1/events"): frozenset({REPORTER}),
    ("POST", _E + "/artifacts"): frozenset({REPORTER}),
    ("POST", "/v1/ingest/alertmanager"): frozenset({REPORTER}),
    # the tests that passed in a run; and the quarantined tests, which reporters mark as such
    ("POST", "/v1/runs"): frozenset({REPORTER}),
    ("GET", "/v1/quarantines"): _READ | {REPORTER},
    # agents: claim work, hold it, move it, and read what they need to repair it
    ("POST", "/v1/events/next"): frozenset({AGENT}),
    ("POST", _E + "/claim"): frozenset({AGENT}),
    ("POST", _E + "/heartbeat"): frozenset({AGENT}),
    ("POST", _E + "/transition"): frozenset({AGENT}),
    ("POST", _E + "/release"): frozenset({AGENT}),
    ("GET", "/v1/events"): _READ,
    ("GET", _E): _READ,
    ("GET", "/v1/artifacts/{digest}"): _READ,
    ("GET", "/v1/nodes"): _READ,
    ("GET", "/v1/stats"): _READ,
    ("GET", "/v1/test"): _READ,
    # nodes: list themselves, under their own name only (checked by auth.own_node_only)
    ("POST", "/v1/nodes"): frozenset({NODE}),
    # operators: a person's decisions, and the forges' webhooks deciding for them when unsigned
    ("POST", _E + "/approve"): frozenset({OPERATOR}),
    ("POST", _E + "/reject"): frozenset({OPERATOR}),
    ("POST", _E + "/revert"): frozenset({OPERATOR}),
    ("POST", _E + "/requeue"): frozenset({OPERATOR}),
    ("POST", _E + "/close"): frozenset({OPERATOR}),
    ("POST", "/v1/ingest/github"): frozenset({OPERATOR}),
    ("POST", "/v1/ingest/gitlab"): frozenset({OPERATOR}),
    ("POST", "/v1/ingest/gitea"): frozenset({OPERATOR}),
    ("POST", "/v1/quarantines"): frozenset({OPERATOR}),
    ("POST", "/v1/quarantines/lift"): frozenset({OPERATOR}),
    ("POST", "/v1/mutes"): frozenset({OPERATOR}),
    ("GET", "/v1/mutes"): frozenset({OPERATOR}),
    ("DELETE", "/v1/mutes"): frozenset({OPERATOR}),
    ("GET", "/healthz"): ANYONE,
    ("GET", "/metrics"): ANYONE,
    ("GET", "/openapi.json"): ANYONE,
    ("GET", "/docs"): ANYONE,
    ("GET", "/docs/static/{path}"): ANYONE,
}
# The dashboard's routes (healloop/dashboard): pages and their live feed for readers, buttons for operators.
# A browser's session cookie is checked here instead of a bearer token (dashboard/access.py).
DASHBOARD: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/"): _LOOK,
    ("GET", _D): _LOOK,
    ("GET", "/trends"): _LOOK,
    ("GET", "/tests"): _LOOK,
    ("GET", "/quarantines"): _LOOK,
    ("POST", "/quarantines"): frozenset({OPERATOR}),
    ("POST", "/quarantines/lift"): frozenset({OPERATOR}),
    ("GET", "/live"): _LOOK,
    ("GET", "/artifacts/{digest}"): _LOOK,
    ("POST", _D + "/requeue"): frozenset({OPERATOR}),
    ("POST", _D + "/close"): frozenset({OPERATOR}),
    ("POST", _D + "/approve"): frozenset({OPERATOR}),
    ("POST", _D + "/reject"): frozenset({OPERATOR}),
    ("POST", _D + "/revert"): frozenset({OPERATOR}),
    ("GET", "/signin"): ANYONE,
    ("POST", "/signin"): ANYONE,
    ("POST", "/signout"): ANYONE,
    ("GET", "/lang/{code}"): ANYONE,
    ("GET", "/static/{path}"): ANYONE,
}
ACCESS.update(DASHBOARD)

_EXACT = {key: roles for key, roles in ACCESS.items() if "{" not in key[1]}
_PATTERNS = [
    (method, re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path)) + "$"), roles)
    for (method, path), roles in ACCESS.items() if "{" in path
]
# Swagger UI's files sit in folders under /docs/static; the dashboard's under /static.
_PATTERNS.append(("GET", re.compile(r"^/docs/static/.+$"), ANYONE))
_PATTERNS.append(("GET", re.compile(r"^/static/.+$"), ANYONE))


def roles_for(method: str, path: str) -> frozenset[str] | None:
    """The roles that may call ``method path`` (``ANYONE`` for the open routes); None when no route
    matches, which the router answers with 404 or 405 (after the token is checked, for /v1)."""
    method = "GET" if method == "HEAD" else method
    exact = _EXACT.get((method, path))
    if exact is not None:
        return exact
    for m, pattern, roles in _PATTERNS:
        if m == method and pattern.match(path):
            return roles
    return None


def allows(role: str, roles: frozenset[str]) -> bool:
    return role == ADMIN or role in roles or roles is ANYONE


def needed(roles: frozenset[str]) -> str:
    """The roles that may, as words: 'operator or admin'."""
    return " or ".join([*sorted(roles), ADMIN])
