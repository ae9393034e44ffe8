"""Each role, signed in to the dashboard with a cookie, against each of its routes in roles.DASHBOARD (the
API's routes are walked with bearer tokens in tests/queue/test_api_auth.py)."""

from __future__ import annotations

import httpx

from healloop.queue.roles import ANYONE, DASHBOARD, ROLES, allows
from tests.dashboard.support import Person
from tests.queue.test_api_auth import give
from tests.support import wait_until

PEOPLE = ("reader", "operator", "admin")


def _path(template: str) -> str:
    return template.replace("{event_id}", "evt_none").replace("{digest}", "sha256:" + "0" * 64)


def _call(p: Person, method: str, template: str) -> int:
    path = _path(template)
    if path == "/live":  # a stream: its status is enough
        headers = {"cookie": f"healloop_session={p.session}"} if p.session else {}
        with p.http.stream("GET", path, headers=headers) as r:
            return r.status_code
    if method == "GET":
        return p.get(path).status_code
    return p.post(path, {"reason": "because"}, csrf_from="/").status_code


def test_each_role_may_use_exactly_the_pages_and_buttons_the_table_gives_it(make_server) -> None:
    s = make_server(token="the-admin")
    secrets = {role: give(s.db, f"my-{role}", role) for role in ROLES if role != "admin"}
    secrets["admin"] = "the-admin"
    with httpx.Client(base_url=s.url, timeout=30) as c:
        wait_until(lambda: c.get("/v1/events", headers={"Authorization": f"Bearer {secrets['reader']}"})
                   .status_code == 200, what="the new tokens to count")
    wrong = []
    for role in ROLES:
        p = Person(s.url)
        r = p.sign_in(secrets[role])
        if role not in PEOPLE:
            # An agent's or reporter's token is refused at the door, naming the roles that may.
            assert r.status_code == 403 and "reader, operator or admin" in r.text, (role, r.text)
            p.close()
            continue
        assert r.status_code == 303, (role, r.text)
        for (method, template), need in DASHBOARD.items():
            if need is ANYONE:
                continue
            status = _call(p, method, template)
            if allows(role, need) == (status in (401, 403)):
                wrong.append(f"{role} {method} {template}: {status}")
        p.close()
    assert wrong == []


def test_nobody_signed_in_is_sent_to_sign_in_and_no_button_works(make_server) -> None:
    s = make_server(token="the-admin")
    p = Person(s.url)
    try:
        for (method, template), need in DASHBOARD.items():
            if need is ANYONE:
                continue
            path = _path(template)
            if method == "GET" and path != "/live":
                r = p.get(path)
                assert r.status_code == 303 and r.headers["location"].startswith("/signin?next="), path
            else:
                r = p.request(method, path, data={"reason": "x"})
                assert r.status_code == 401, (path, r.status_code)
        assert p.sign_in("hlt_not-a-token").status_code == 401
    finally:
        p.close()


def test_an_open_queue_opens_its_pages_as_it_opens_the_api(server) -> None:
    p = Person(server.url)
    try:
        assert p.get("/").status_code == 200
        assert p.get("/signin").status_code == 303  # nothing to sign in to
    finally:
        p.close()
