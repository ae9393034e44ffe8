"""The session cookie and CSRF tokens, as units (a tampered or expired cookie is no session) and on a
real server (a revoked token ends its sessions; a POST without the session's CSRF token is refused)."""

from __future__ import annotations

from pathlib import Path

import pytest

from healloop.dashboard.session import Signer, cookie, load_key
from healloop.errors import ConfigError
from tests.dashboard.support import Person, signed_queue
from tests.queue.test_api_auth import give, take_back
from tests.support import failure, wait_until

KEY = b"k" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_cookie_reads_back_and_any_change_to_it_is_no_session() -> None:
    signer = Signer(KEY)
    s = signer.new("ab" * 32)
    value = signer.encode(s)
    assert signer.decode(value) == s
    payload, sig = value.split(".")
    flipped = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    for bad in (flipped + "." + sig, payload + "." + sig[:-2], payload, "", "a.b.c", "!!.??",
                value.replace(payload, payload + "xx")):
        assert signer.decode(bad) is None, bad
    # Signed under another key: refused.
    assert Signer(b"x" * 32).decode(value) is None


def test_a_cookie_past_its_expiry_is_no_session() -> None:
    clock = Clock()
    signer = Signer(KEY, lifetime_s=60, clock=clock)
    value = signer.encode(signer.new("ab" * 32))
    clock.now += 59
    assert signer.decode(value) is not None
    clock.now += 1
    assert signer.decode(value) is None


def test_csrf_tokens_belong_to_their_session() -> None:
    signer = Signer(KEY)
    a, b = signer.new(None), signer.new(None)
    assert signer.csrf_ok(a, signer.csrf(a))
    assert not signer.csrf_ok(a, signer.csrf(b))
    assert not signer.csrf_ok(a, "")
    assert not signer.csrf_ok(a, None)
    assert not signer.csrf_ok(None, signer.csrf(a))


def test_the_cookie_is_httponly_lax_and_secure_where_a_browser_keeps_it() -> None:
    local = cookie("v", host="127.0.0.1:8787", https=False, max_age=60)
    assert "HttpOnly" in local and "SameSite=Lax" in local and "Secure" in local
    assert "Secure" in cookie("v", host="[::1]:8787", https=False, max_age=60)
    assert "Secure" in cookie("v", host="queue.example", https=True, max_age=60)
    # Plain http to another host: a Secure cookie would be dropped and nobody could sign in.
    assert "Secure" not in cookie("v", host="ci-queue:8787", https=False, max_age=60)


def test_the_key_is_made_once_private_and_a_bad_one_is_named(tmp_path: Path) -> None:
    path = tmp_path / "events.db.session-key"
    key = load_key(path)
    assert len(key) == 32 and load_key(path) == key
    assert path.stat().st_mode & 0o777 == 0o600
    path.write_text("not hex")
    with pytest.raises(ConfigError, match="session key"):
        load_key(path)


def test_a_revoked_token_ends_its_session_on_the_next_request(make_server) -> None:
    s = make_server()
    secret = give(s.db, "alice", "operator")
    signed_queue(s.url)
    person = Person(s.url)
    try:
        assert person.sign_in(secret).status_code == 303
        assert person.get("/").status_code == 200
        take_back(s.db, "alice")
        # The book reloads within about a second; then the same cookie is no longer signed in.
        wait_until(lambda: person.get("/").status_code == 303, what="the revocation to count")
        assert person.get("/").headers["location"].startswith("/signin")
        r = person.sign_in(secret)
        assert r.status_code == 401 and "revoked" in r.text
    finally:
        person.close()


def test_a_post_without_the_sessions_csrf_token_changes_nothing(make_server) -> None:
    s = make_server(token="the-admin")
    secret = give(s.db, "alice", "operator")
    with s.client() as api:
        ev = api.post("/v1/events", json=failure(1)).json()["id"]
        wait_until(lambda: api.get("/v1/events", headers={"Authorization": f"Bearer {secret}"})
                   .status_code == 200, what="alice's token to count")
    person, other = Person(s.url), Person(s.url)
    try:
        assert person.sign_in(secret).status_code == 303
        assert other.sign_in(secret).status_code == 303
        for token in (None, "forged", other.csrf("/")):  # none, made up, another session's
            data = {"reason": "x"} if token is None else {"reason": "x", "csrf": token}
            r = person.request("POST", f"/events/{ev}/close", data=data)
            assert r.status_code == 403 and "CSRF" in r.text
        with s.client() as api:
            assert api.get(f"/v1/events/{ev}").json()["status"] == "queued"
        # The sign-in form has one too: a login from another site's form is refused.
        fresh = Person(s.url)
        r = fresh.request("POST", "/signin", data={"token": secret})
        assert r.status_code == 403 and fresh.get("/").status_code == 303
        fresh.close()
    finally:
        person.close()
        other.close()
