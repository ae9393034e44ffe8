"""Garbage a fuzzer or an attacker sends, against a real server process: NUL and blank names, specs
outside the repository, lone UTF-16 surrogates (issue 13, item 8). Each is a 400 naming the field,
and nothing is stored."""

from __future__ import annotations

import re

import pytest

from healloop.queue.model import SPEC_PATTERN
from tests.support import QueueServer, failure

NUL_OR_BLANK = [
    (failure(node="\x00"), "node"),
    (failure(node="node\x00-a"), "node"),
    (failure(node="   "), "node"),
    (failure(spec=" \t\n"), "spec"),
    (failure(spec="cypress/e2e/a.cy.js\x00"), "spec"),
    (failure(test="\u3000"), "test"),
    (failure(test="pays\x00"), "test"),
    (failure(source=" "), "source"),
    (failure(idempotency_key="\x00"), "idempotency_key"),
    (failure(fingerprint="  "), "fingerprint"),
    (failure(artifacts=[{"name": "\x00", "path": "a.png"}]), "artifacts[0].name"),
]


def test_nul_or_blank_names_are_400_naming_the_field(server: QueueServer) -> None:
    with server.client() as c:
        for body, field in NUL_OR_BLANK:
            r = c.post("/v1/events", json=body)
            assert r.status_code == 400, (body, r.text)
            err = r.json()
            assert err["field"] == field and f"`{field}`" in err["message"], err
            assert "NUL" in err["message"], err
        # The same rule for the other names a person or an agent gives.
        for path, body, field in (
            ("/v1/events/next", {"worker": " "}, "worker"),
            ("/v1/nodes", {"name": "ci\x00", "mcp_url": "http://x:8788/mcp"}, "name"),
            ("/v1/mutes", {"spec": "s", "test": "\x00", "seconds": 60}, "test"),
            ("/v1/events/evt_x/approve", {"by": "  "}, "by"),
        ):
            r = c.post(path, json=body)
            assert r.status_code == 400 and r.json()["field"] == field, (path, r.text)
        assert c.get("/v1/events").json() == {"events": []}
        assert c.get("/v1/nodes").json() == {"nodes": []}
        # Free text keeps any character, NUL included: only names are held to the rule.
        ok = c.post("/v1/events", json=failure(message="a\x00b", stack=" "))
        assert ok.status_code == 201, ok.text


# What the reporters send (integrations/*, sources/junit.py, sources/pytest_plugin.py) and what a
# spec outside the repository looks like.
REPORTED_SPECS = ["cypress/e2e/login.cy.js", "e2e\\login.spec.ts", "tests/test_shop.py",
                  "src/cart.test.js", "(unknown spec)", "com.example.LoginTest", "checkout > payment",
                  "a..b/c...js", ".hidden/x.py"]
OUTSIDE = ["../../etc/passwd", "/etc/passwd", "..", "a/../../b", "a\\..\\..\\b", "..\\x", "C:\\repo\\a.js",
           "c:/repo/a.js", "\\\\server\\share\\a.js", "/"]


@pytest.mark.parametrize("spec", REPORTED_SPECS)
def test_the_reporters_specs_match_the_spec_pattern(spec: str) -> None:
    assert re.search(SPEC_PATTERN, spec)


@pytest.mark.parametrize("spec", OUTSIDE)
def test_specs_outside_the_repository_do_not(spec: str) -> None:
    assert not re.search(SPEC_PATTERN, spec)


def test_spec_outside_the_repository_is_400_and_windows_paths_are_kept_as_sent(server: QueueServer) -> None:
    with server.client() as c:
        for spec in ("../../etc/passwd", "/etc/passwd", "e2e\\..\\..\\secret.js", "C:\\repo\\a.spec.ts"):
            r = c.post("/v1/events", json=failure(spec=spec))
            assert r.status_code == 400, (spec, r.text)
            err = r.json()
            assert err["field"] == "spec" and "relative to the repository" in err["message"], err
        assert c.get("/v1/events").json() == {"events": []}
        eid = c.post("/v1/events", json=failure(spec="e2e\\login.spec.ts")).json()["id"]
        assert c.get(f"/v1/events/{eid}").json()["spec"] == "e2e\\login.spec.ts"


def test_lone_utf16_surrogate_is_400_naming_the_field(server: QueueServer) -> None:
    report = (b'{"node": "node-a", "source": "cypress", "spec": "a.cy.js", "test": "t", '
              b'"message": "m", "labels": {"why": "%s"}}')
    with server.client() as c:
        for raw, field in ((report % b"\\ud800", "labels.why"), (report % b"ok \\udc00", "labels.why"),
                           (report.replace(b'"node-a"', b'"\\ud83d"') % b"x", "node")):
            r = c.post("/v1/events", content=raw, headers={"content-type": "application/json"})
            assert r.status_code == 400, r.text
            err = r.json()
            assert "unpaired UTF-16 surrogate" in err["message"] and err["field"] == field, err
            assert "not valid JSON" not in err["message"]
        eid = c.post("/v1/events", json=failure(1)).json()["id"]
        tok = c.post("/v1/events/next", json={"worker": "w"}).json()["lease"]["token"]
        raw = b'{"token": "%s", "to": "analyzing", "data": {"seen": ["ok", "\\ud800"]}}' % tok.encode()
        r = c.post(f"/v1/events/{eid}/transition", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["field"] == "data.seen[1]", r.text
        # A whole pair is one character, kept.
        r = c.post("/v1/events", content=report % b"\\ud83d\\ude80",
                   headers={"content-type": "application/json"})
        assert r.status_code == 201 and c.get(f"/v1/events/{r.json()['id']}").json()["labels"]["why"] == "🚀"


def test_an_alert_whose_labels_make_a_bad_node_stores_nothing(server: QueueServer) -> None:
    def alert(fp: str, **labels: str) -> dict:
        return {"status": "firing", "labels": {"alertname": "AppDown", **labels}, "fingerprint": fp}

    hook = {"version": "4", "status": "firing", "receiver": "healloop",
            "alerts": [alert("a1", instance="shop-1:80"), alert("b2", node="\x00")]}
    with server.client() as c:
        r = c.post("/v1/ingest/alertmanager", json=hook)
        assert r.status_code == 400, r.text
        assert r.json()["field"] == "alerts[1]" and "`node`" in r.json()["message"]
        assert c.get("/v1/events").json() == {"events": []}, "the good alert before it is not stored either"
