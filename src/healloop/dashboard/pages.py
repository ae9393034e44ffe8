"""The dashboard's routes: the events list, an event's page, sign-in and out, the language switch, the
artifacts a page shows, and the static files. The buttons are in ``actions.py``, the live feed in
``live.py``. Pages read through the queue's service, as the API does.

The test page, the quarantined tests and their buttons are in ``testpage.py``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from healloop.dashboard import actions, i18n, live, snapshot, testpage, trendpage, views
from healloop.dashboard.access import Visit, guarded, set_session, visit
from healloop.dashboard.session import Signer
from healloop.errors import HealloopError, InvalidInput, NotFound
from healloop.queue.artifacts import ArtifactStore
from healloop.queue.download import artifact_response
from healloop.queue.listing import parse_listing
from healloop.queue.roles import OPERATOR, READER, allows
from healloop.queue.rules import ESCALATED, PROPOSED, STATES
from healloop.queue.service import QueueService
from healloop.queue.tokens import Principal, TokenBook
from healloop.timeutil import US, now_us, to_rfc3339

HERE = Path(__file__).parent
# (path, text key) of the pages in the top bar; a test's page is reached from its events.
NAV: list[tuple[str, str]] = [("/", "events"), ("/trends", "trends"), ("/quarantines", "quarantined_tests")]
WINDOWS: dict[str, int | None] = {"1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "all": None}
# A search, spec or label with no window chosen looks back this far: those filters have no index, and a
# match for something rare walks the whole history (0.7 to 1.6 s on a million events; bench/dashboard.py).
# "any time" (window=all) still reaches it all.
SEARCH_WINDOW = "30d"
UNINDEXED = ("q", "spec", "label")
PAGE_FILTERS = ("status", "node", "spec", "class", "label", "window", "q")
PINNED = (PROPOSED, ESCALATED)
LIST_LIMIT = 200
PAGE_ROLES = frozenset({READER, OPERATOR})


@dataclass
class NodeAccess:
    """How the queue reaches a node for approve, reject and revert: the node token and the trusted node
    hosts, as the CLI gets them (``--node-token``/HEALLOOP_AGENT_NODE_TOKEN, ``--node-host``)."""

    token: str | None = None
    hosts: tuple[str, ...] = ()


class Dashboard:
    def __init__(self, service: QueueService, blobs: ArtifactStore, book: TokenBook, signer: Signer,
                 nodes: NodeAccess | None = None) -> None:
        self.service = service
        self.blobs = blobs
        self.book = book
        self.signer = signer
        self.nodes = nodes or NodeAccess()
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                                      autoescape=True, undefined=jinja2.ChainableUndefined)
        self.env.globals["test_url"] = testpage.test_url

    def render(self, request: Request, v: Visit, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        p = v.principal
        html = self.env.get_template(name).render(
            t=v.t, lang=v.lang, other_lang="zh" if v.lang == "en" else "en", nav=NAV, path=request.url.path,
            here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            csrf=self.signer.csrf(v.session), principal=p, open=v.open,
            can_act=p is not None and allows(p.role, frozenset({OPERATOR})), **ctx)
        return HTMLResponse(html, status_code=status, headers=_HEADERS)

    def problem(self, request: Request, v: Visit, status: int, message: str) -> HTMLResponse:
        return self.render(request, v, "problem.html", status, message=message)


# A page is never framed elsewhere, and runs only its own script: test output shown on it is escaped,
# and this keeps anything that slipped through from running.
_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-src 'self'; "
                                       "frame-ancestors 'none'; form-action 'self'",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
            "Cache-Control": "no-store"}


def _dash(request: Request) -> Dashboard:
    return request.app.state.dashboard


# -- the events list
async def events_page(request: Request, v: Visit) -> Response:
    dash = _dash(request)
    q = {k: v_.strip() for k, v_ in request.query_params.items() if k in PAGE_FILTERS and v_.strip()}
    narrowed = "window" not in q and any(k in q for k in UNINDEXED)
    if narrowed:
        q["window"] = SEARCH_WINDOW
    error = None
    try:
        listing = _listing(q)
    except HealloopError as exc:
        error, listing = exc.message, None
    svc = dash.service
    counts = await svc.count_by_status()
    pinned: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    if listing is not None:
        m = listing.match
        if listing.status in (None, *PINNED):
            for state in PINNED:
                if listing.status in (None, state):
                    pinned += await svc.list(status=state, node=listing.node, fingerprint=None, limit=50,
                                             match=m)
        if listing.status not in PINNED:
            held = {e["id"] for e in pinned}
            got = await svc.list(status=listing.status, node=listing.node, fingerprint=None,
                                 limit=LIST_LIMIT, match=m)
            rows = [e for e in got if e["id"] not in held]
    ctx = dict(filters=q, counts=counts, total=sum(counts.values()), states=STATES, pinned=pinned, rows=rows,
               error=error, windows=WINDOWS, narrowed=narrowed, query=lambda **kw: _query(q, **kw))
    name = "events_body.html" if request.query_params.get("partial") else "events.html"
    return dash.render(request, v, name, 400 if error else 200, **ctx)


def _listing(q: dict[str, str]) -> Any:
    given = {k: v for k, v in q.items() if k != "window"}
    if "window" in q:
        if q["window"] not in WINDOWS:
            raise InvalidInput(f"`window` must be one of {', '.join(WINDOWS)}, got {q['window']!r}",
                               field="window")
        seconds = WINDOWS[q["window"]]
        if seconds is not None:
            given["since"] = to_rfc3339(now_us() - seconds * US)
    return parse_listing(given, default_limit=LIST_LIMIT)


def _query(current: dict[str, str], **change: str | None) -> str:
    q = {**current, **change}
    return "?" + urlencode({k: v for k, v in q.items() if v})


# -- one event
async def event_page(request: Request, v: Visit) -> Response:
    dash = _dash(request)
    event_id = request.path_params["event_id"]
    try:
        ev = await dash.service.get(event_id)
    except NotFound:
        return dash.problem(request, v, 404, v.t("not_found"))
    done = request.query_params.get("done")
    name = "event_body.html" if request.query_params.get("partial") else "event.html"
    return dash.render(request, v, name, **event_context(ev), done=done if done in actions.VERBS else None,
                       failed=None)


def event_context(ev: dict[str, Any]) -> dict[str, Any]:
    from healloop.undo import fix_commits

    return dict(ev=ev, history=views.timeline(ev), artifacts=views.artifacts(ev), actions=views.actions(ev),
                runs=views.verifications(ev), report=views.latest(ev, "report"),
                proposal=views.latest(ev, "proposal"), klass=views.latest(ev, "class"),
                heals=views.heals(ev), buttons=views.buttons(ev["status"], bool(fix_commits(ev))))


async def artifact(request: Request, v: Visit) -> Response:
    """An uploaded artifact; with ``?event=ID`` an HTML snapshot comes with the element that event's
    heal found outlined (``snapshot.py``)."""
    dash = _dash(request)
    digest = request.path_params["digest"]
    meta = await dash.service.artifact(digest)
    # Shown by the event page: images inline, DOM snapshots in a sandboxed frame (no script runs).
    headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox",
               "Cache-Control": "private, max-age=3600"}
    event_id = request.query_params.get("event")
    heal = None
    if event_id and meta.content_type.startswith("text/html"):
        heal = next((h for h in reversed(views.heals(await dash.service.get(event_id))) if h["element_html"]),
                    None)
    # Opened last: a stream from S3 holds a connection until it is read.
    opened = await asyncio.to_thread(dash.blobs.open, digest)
    if heal is not None:
        raw = await asyncio.to_thread(opened.read_all)
        marked, found = await asyncio.to_thread(snapshot.highlight, raw, heal["element_html"])
        return Response(marked, media_type="text/html; charset=utf-8",
                        headers={**headers, "X-Healloop-Healed": str(found)})
    return artifact_response(opened, meta.content_type, headers)


# -- sign-in, sign-out, language
async def signin_page(request: Request) -> Response:
    dash = _dash(request)
    v = await visit(request, dash)
    if v.open:
        return RedirectResponse("/", 303)
    return _signin_form(request, v, None, 200, request.query_params.get("next"))


def _signin_form(request: Request, v: Visit, error: str | None, status: int, target: str | None) -> Response:
    dash = _dash(request)
    response = dash.render(request, v, "signin.html", status, error=error, next=_safe_next(target))
    return set_session(response, request, dash, v.session) if v.fresh else response


async def signin(request: Request) -> Response:
    dash = _dash(request)
    v = await visit(request, dash)
    form = await request.form(max_files=0, max_fields=10)
    fields = {k: str(val) for k, val in form.items() if isinstance(val, str)}
    if not dash.signer.csrf_ok(v.session, fields.get("csrf")):
        return _signin_form(request, v, v.t("csrf_failed"), 403, fields.get("next"))
    secret = fields.get("token", "").strip()
    found = dash.book.lookup(secret) if secret else None
    if not isinstance(found, Principal):
        return _signin_form(request, v, v.t("revoked_token" if found is not None else "bad_token"), 401,
                            fields.get("next"))
    if not allows(found.role, PAGE_ROLES):
        return _signin_form(request, v, v.t("wrong_role", role=found.role), 403, fields.get("next"))
    from healloop.queue.tokens import hash_secret

    response = RedirectResponse(_safe_next(fields.get("next")), 303)
    # A new nonce at sign-in, so a CSRF token learnt before it is worth nothing after.
    return set_session(response, request, dash, dash.signer.new(hash_secret(secret)))


async def signout(request: Request) -> Response:
    dash = _dash(request)
    v = await visit(request, dash)
    form = await request.form(max_files=0, max_fields=5)
    if not dash.signer.csrf_ok(v.session, str(form.get("csrf") or "")):
        return dash.problem(request, v, 403, v.t("csrf_failed"))
    response = RedirectResponse("/signin", 303)
    return set_session(response, request, dash, dash.signer.new(None))


async def language(request: Request) -> Response:
    code = request.path_params["code"]
    response = RedirectResponse(_safe_next(request.query_params.get("next")), 303)
    if code in i18n.LANGS:
        response.set_cookie(i18n.COOKIE, code, max_age=365 * 86400, path="/", samesite="lax")
    return response


def _safe_next(target: str | None) -> str:
    """A page of this site to go on to: a path, never another host (``//evil`` or ``/\\evil``)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


def routes() -> list[BaseRoute]:
    """The dashboard's routes (each in ``roles.ACCESS``); they find the Dashboard in ``app.state``."""
    e = "/events/{event_id}"
    return [
        Route("/", guarded(events_page), methods=["GET"]),
        Route(e, guarded(event_page), methods=["GET"]),
        *(Route(f"{e}/{verb}", guarded(actions.handler(verb)), methods=["POST"]) for verb in actions.VERBS),
        Route("/trends", guarded(trendpage.trends_page), methods=["GET"]),
        Route("/tests", guarded(testpage.test_page), methods=["GET"]),
        Route("/quarantines", guarded(testpage.quarantines_page), methods=["GET"]),
        Route("/quarantines", guarded(testpage.set_quarantine), methods=["POST"]),
        Route("/quarantines/lift", guarded(testpage.lift_quarantine), methods=["POST"]),
        Route("/live", guarded(live.stream), methods=["GET"]),
        Route("/artifacts/{digest}", guarded(artifact), methods=["GET"]),
        Route("/signin", signin_page, methods=["GET"]),
        Route("/signin", signin, methods=["POST"]),
        Route("/signout", signout, methods=["POST"]),
        Route("/lang/{code}", language, methods=["GET"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="dashboard-static"),
    ]
