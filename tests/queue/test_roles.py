"""The one table of routes and roles: every route of the app is in it, and paths match as routed."""

from __future__ import annotations

import pytest
from starlette.routing import Mount, Route

from healloop.queue import roles
from healloop.queue.api import routes
from healloop.queue.roles import ADMIN, AGENT, ANYONE, NODE, OPERATOR, READER, REPORTER, allows, roles_for


def _routes(tmp_path) -> set[tuple[str, str]]:
    # The app's own routes, the four HotPath answers ahead of Starlette included (routed there too).
    found: set[tuple[str, str]] = set()
    for route in routes():
        if isinstance(route, Route):
            found |= {(m, route.path) for m in route.methods or () if m != "HEAD"}
        elif isinstance(route, Mount):
            found.add(("GET", route.path + "/{path}"))
        else:
            raise AssertionError(f"a route of a kind this test does not know: {route!r}")
    return found


def test_every_route_of_the_app_is_in_the_table_and_nothing_else(tmp_path) -> None:
    routes = _routes(tmp_path)
    assert routes - set(roles.ACCESS) == set(), "routes missing from roles.ACCESS"
    assert set(roles.ACCESS) - routes == set(), "roles.ACCESS names routes the app does not have"


@pytest.mark.parametrize(("method", "path", "want"), [
    ("POST", "/v1/events", {REPORTER}),
    ("POST", "/v1/events/next", {AGENT}),  # not the template /v1/events/{event_id}
    ("GET", "/v1/events/evt_1", {AGENT, READER, OPERATOR}),
    ("HEAD", "/v1/events/evt_1", {AGENT, READER, OPERATOR}),
    ("POST", "/v1/events/evt_1/approve", {OPERATOR}),
    ("POST", "/v1/events/evt_1/artifacts", {REPORTER}),
    ("POST", "/v1/nodes", {NODE}),
    ("GET", "/docs/static/swagger-ui.css", ANYONE),
    ("GET", "/metrics", ANYONE),
    ("GET", "/events/evt_1", {READER, OPERATOR}),
    ("POST", "/events/evt_1/requeue", {OPERATOR}),
    ("GET", "/static/dashboard.css", ANYONE),
])
def test_paths_match_their_route(method: str, path: str, want: set[str]) -> None:
    assert roles_for(method, path) == want


def test_unrouted_paths_have_no_roles_so_any_valid_token_gets_the_routers_answer() -> None:
    assert roles_for("PUT", "/v1/events") is None
    assert roles_for("POST", "/v1/events/evt_1/nonsense") is None
    assert roles_for("GET", "/v1/events/evt_1/approve/extra") is None


def test_admin_may_everything_and_anyone_routes_need_no_role() -> None:
    for need in roles.ACCESS.values():
        assert allows(ADMIN, need)
    assert allows(REPORTER, ANYONE)
    assert not allows(REPORTER, frozenset({AGENT}))


def test_a_reader_may_only_look() -> None:
    """A reader reads events, stats, nodes and artifacts and the dashboard's pages; it changes nothing."""
    for (method, path), need in roles.ACCESS.items():
        if allows(READER, need) and need is not ANYONE:
            assert method == "GET", f"a reader may {method} {path}"
    for path in ("/v1/events", "/v1/events/{event_id}", "/v1/stats", "/v1/nodes", "/v1/artifacts/{digest}",
                 "/", "/events/{event_id}", "/live"):
        assert allows(READER, roles.ACCESS[("GET", path)]), path
    assert not allows(READER, roles.ACCESS[("GET", "/v1/mutes")])
