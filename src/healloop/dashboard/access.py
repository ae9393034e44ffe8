"""Who is looking at a page: the session cookie, checked against the queue's TokenBook on every request,
and the role the route needs (``roles.ACCESS``), with CSRF checked on every POST."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from healloop.dashboard import i18n
from healloop.dashboard.session import COOKIE, Session, cookie
from healloop.queue.roles import ADMIN, allows, needed, roles_for
from healloop.queue.tokens import Principal

if TYPE_CHECKING:
    from healloop.dashboard.pages import Dashboard

OPEN = Principal("open queue", ADMIN)  # who acts on a queue with no tokens at all


@dataclass
class Visit:
    session: Session
    principal: Principal | None  # None: not signed in (or the token was revoked)
    lang: str
    open: bool
    fresh: bool = False  # the session is new: its cookie goes with the reply
    form: dict[str, str] = field(default_factory=dict)

    @property
    def t(self) -> Callable[..., str]:
        return i18n.text(self.lang)


async def visit(request: Request, dash: Dashboard) -> Visit:
    book = dash.book
    if book.stale():
        await book.current()
    session = dash.signer.decode(request.cookies.get(COOKIE))
    lang = i18n.chosen(request.cookies.get(i18n.COOKIE))
    if not book.required:
        fresh = session is None
        return Visit(session or dash.signer.new(None), OPEN, lang, True, fresh)
    principal = None
    if session is not None and session.token_hash:
        found = book.by_hash(session.token_hash)
        principal = found if isinstance(found, Principal) else None  # revoked or unknown: signed out
    fresh = session is None
    # Someone not signed in still gets a session (no token in it) so the sign-in form has a CSRF token.
    return Visit(session or dash.signer.new(None), principal, lang, False, fresh)


def set_session(response: Response, request: Request, dash: Dashboard, session: Session) -> Response:
    value = cookie(dash.signer.encode(session), host=request.headers.get("host", ""),
                   https=request.url.scheme == "https", max_age=dash.signer.lifetime_s)
    response.headers.append("set-cookie", value)
    return response


Handler = Callable[[Request, Visit], Awaitable[Response]]


def guarded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A page or button behind the session: signed in (else the sign-in page, or 401 for a POST), of a
    role the route allows (else 403), and for a POST with the session's CSRF token (else 403)."""

    async def endpoint(request: Request) -> Response:
        dash: Dashboard = request.app.state.dashboard
        v = await visit(request, dash)
        if v.principal is None:
            if request.method == "GET" and request.url.path != "/live":
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return set_session(RedirectResponse(f"/signin?next={quote(target, safe='')}", 303),
                                   request, dash, v.session)
            return dash.problem(request, v, 401, v.t("session_ended"))
        need = roles_for(request.method, request.url.path)
        if need is None or not allows(v.principal.role, need):
            return dash.problem(request, v, 403, v.t("forbidden", role=v.principal.role,
                                                     need=needed(need or frozenset())))
        if request.method == "POST":
            form = await request.form(max_files=0, max_fields=20)
            v.form = {k: str(val) for k, val in form.items() if isinstance(val, str)}
            if not dash.signer.csrf_ok(v.session, v.form.get("csrf")):
                return dash.problem(request, v, 403, v.t("csrf_failed"))
        response = await handler(request, v)
        return set_session(response, request, dash, v.session) if v.fresh else response

    return endpoint
