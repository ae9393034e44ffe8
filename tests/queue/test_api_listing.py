"""GET /v1/events filters beyond status, node and fingerprint: spec, class, label, since and text, on a
real server; a bad value is a 400 naming the filter."""

from __future__ import annotations

from healloop.client import QueueClient
from tests.support import failure


def _ids(c: QueueClient, **filters: str) -> set[str]:
    return {e["id"] for e in c.list(**filters)}


def test_the_list_filters_by_spec_label_text_time_and_class(server) -> None:
    c = QueueClient(server.url)
    a = c.report(**failure(1, labels={"branch": "main"}, message="Timed out finding [data-cy=pay]"))["id"]
    b = c.report(**failure(2, labels={"branch": "dev"}, message="expected 200 got 500"))["id"]
    # 100%_off: a searched % or _ is literal, not a wildcard.
    d = c.report(**failure(3, test="applies 100%_off coupon", message="x"))["id"]
    assert _ids(c, spec="cypress/e2e/spec1.cy.js") == {a}
    assert _ids(c, label="branch=dev") == {b}
    assert _ids(c, q="DATA-CY") == {a}          # case-insensitive, in the message
    assert _ids(c, q="pays 2") == {b}           # in the test name
    assert _ids(c, q="100%_off") == {d}
    assert _ids(c, q="0%_o") == {d} and _ids(c, q="1%0") == set()
    assert _ids(c, since="2999-01-01T00:00:00Z") == set()
    assert _ids(c, since="2000-01-01T00:00:00Z") == {a, b, d}
    # The class is what an agent recorded on a move: none of these has been looked at yet.
    assert _ids(c, **{"class": "selector_not_found"}) == set()
    claim = c.claim("w1")
    assert claim is not None
    ev = claim["event"]
    c.transition(ev["id"], claim["lease"]["token"], "analyzing", data={"class": "selector_not_found"})
    assert _ids(c, **{"class": "selector_not_found"}) == {ev["id"]}
    assert _ids(c, label="branch=main", q="pay") == {a}


def test_bad_filters_are_refused_with_the_filter_named(server) -> None:
    with server.client() as h:
        for query, field in (({"label": "branch"}, "label"), ({"since": "yesterday"}, "since"),
                             ({"class": "Not A Class"}, "class"), ({"colour": "red"}, "colour")):
            r = h.get("/v1/events", params=query)
            assert r.status_code == 400, (query, r.text)
            assert r.json()["field"] == field and field in r.json()["message"]
