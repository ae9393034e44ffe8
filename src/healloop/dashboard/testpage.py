"""The test page (one spec and test on every machine: ``/tests?spec=&test=``, from the service's test view,
the one ``GET /v1/test`` answers), the list of quarantined tests (``/quarantines``), and an operator's
quarantine buttons: set (owner, how long, why) and lift.

The buttons go through the API's own body types (``QuarantineIn``, ``LiftIn``) and the service's
``tests.add`` and ``tests.lift``, so a quarantine set here is the one ``healloop quarantine add`` sets,
with the same limits, and lifting sends the test's quarantined events back to the queue as
``healloop quarantine remove`` does. Test names come from test runs: the templates escape them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import msgspec
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from healloop.dashboard.actions import who
from healloop.errors import HealloopError, InvalidInput
from healloop.queue.model import decode
from healloop.queue.quarantine import LiftIn, QuarantineIn, duration_s

if TYPE_CHECKING:
    from healloop.dashboard.access import Visit

MAX_QUARANTINE_S = 90 * 86400  # as QuarantineIn allows, and `healloop quarantine add --for`
DEFAULT_FOR = "14d"  # as `healloop quarantine add --for`
DURATIONS = ("1d", "7d", "14d", "30d", "90d")
DONE = ("quarantined", "lifted")


def test_url(spec: str, test: str, **more: str) -> str:
    return "/tests?" + urlencode({"spec": spec, "test": test, **more})


def _named(values: dict[str, str]) -> tuple[str, str] | None:
    """The spec and test a query or form names, as reported (not stripped: a name is matched exactly);
    None when neither is given; InvalidInput when one is missing or blank."""
    spec, test = values.get("spec"), values.get("test")
    if not spec and not test:
        return None
    for name, value in (("spec", spec), ("test", test)):
        if not value or not value.strip() or "\x00" in value:
            raise InvalidInput(f"name the test by both its spec and its test name, as its reports name "
                               f"them: `{name}` is missing", field=name)
    assert spec is not None and test is not None
    return spec, test


async def test_page(request: Request, v: Visit) -> Response:
    done = request.query_params.get("done")
    return await _render(request, v, dict(request.query_params), done=done if done in DONE else None)


async def _render(request: Request, v: Visit, named: dict[str, str], *, status: int = 200,
                  done: str | None = None, failed: str | None = None,
                  form: dict[str, str] | None = None) -> Response:
    dash = request.app.state.dashboard
    try:
        pair = _named(named)
    except InvalidInput as exc:
        return dash.render(request, v, "test.html", 400, view=None, error=exc.message, asked=named)
    if pair is None:
        return dash.render(request, v, "test.html", view=None, error=None, asked={})
    view = await dash.service.tests.view(*pair)
    p = v.principal
    owner = "" if v.open or p is None else p.name
    form = {"owner": owner, "for": DEFAULT_FOR, "reason": "", **(form or {})}
    return dash.render(request, v, "test.html", status, view=view, error=None, asked=named,
                       nodes=node_rows(view["nodes"]), done=done, failed=failed, form=form,
                       durations=DURATIONS)


def node_rows(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each node's record with the share of its runs that passed (for its bar), busiest node first."""
    rows = []
    for n in nodes:
        runs = n["passes"] + n["failures"]
        rows.append({**n, "runs": runs, "pass_share": n["passes"] / runs if runs else 0.0})
    return sorted(rows, key=lambda r: (-r["runs"], r["node"]))


def _seconds(text: str) -> int:
    seconds = duration_s(text, "for")
    if seconds > MAX_QUARANTINE_S:
        raise InvalidInput(f"`for` is {text.strip()!r}, over 90 days, the longest quarantine; "
                           "set it again when it ends", field="for")
    return seconds


def _checked(fields: dict[str, Any], kind: type[Any]) -> Any:
    """Through the API's own decoder, so a form meets the limits the API's body would."""
    return decode(msgspec.json.encode(fields), kind)


async def set_quarantine(request: Request, v: Visit) -> Response:
    return await _act(request, v, "quarantined")


async def lift_quarantine(request: Request, v: Visit) -> Response:
    return await _act(request, v, "lifted")


async def _act(request: Request, v: Visit, verb: str) -> Response:
    dash = request.app.state.dashboard
    f = v.form
    svc = dash.service
    reason = (f.get("reason") or "").strip() or None
    try:
        pair = _named(f)
        if pair is None:
            raise InvalidInput("name the test by both its spec and its test name", field="spec")
        spec, test = pair
        if verb == "quarantined":
            owner = (f.get("owner") or "").strip()
            if not owner:
                raise InvalidInput("say who answers for the quarantine: `owner` is empty", field="owner")
            await svc.tests.add(_checked({"spec": spec, "test": test, "owner": owner,
                                          "seconds": _seconds(f.get("for") or ""), "reason": reason},
                                         QuarantineIn))
        else:
            _, requeued = await svc.tests.lift(_checked({"spec": spec, "test": test, "by": who(v),
                                                         "reason": reason}, LiftIn))
            if requeued:
                svc.work_arrived(requeued)  # as the API's lift does: waiting agents take them up
    except HealloopError as exc:
        # The page again, with what was typed kept, and why nothing changed.
        kept = {k: f.get(k, "") for k in ("owner", "for", "reason")} if verb == "quarantined" else None
        return await _render(request, v, f, status=exc.status, failed=f"{v.t('verb_' + verb)}: {exc.message}",
                             form=kept)
    return RedirectResponse(test_url(spec, test, done=verb), 303)


async def quarantines_page(request: Request, v: Visit) -> Response:
    dash = request.app.state.dashboard
    found = await dash.service.tests.in_force()
    rows = [{**q, "href": test_url(q["spec"], q["test"])} for q in found]
    return dash.render(request, v, "quarantines.html", rows=rows)
