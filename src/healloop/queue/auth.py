"""The queue's door: who holds the request's bearer token, and whether that role may call the route.

With no token of any kind (no ``--token``, none in healloop.toml, none ever created), the queue is
open as before. Once there is one, every ``/v1`` route needs ``Authorization: Bearer <secret>``
(the scheme in any case, RFC 7235), and the secret's role must be among those ``roles.ACCESS``
allows there. A missing, unknown or revoked token is 401; a known token of the wrong role is 403,
with a message naming the role needed and the role held.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from healloop.errors import Forbidden, HealloopError, Unauthorized
from healloop.queue.hotpath import read_request_body
from healloop.queue.roles import ANYONE, NODE, allows, needed, roles_for
from healloop.queue.tokens import Principal, TokenBook
from healloop.timeutil import to_rfc3339

PRINCIPAL = "healloop.principal"  # the scope key the request's Principal is kept under
_ASK = "ask the queue's admin for one (`healloop token create --role ROLE --name NAME`)"


def principal(scope: Scope) -> Principal | None:
    return scope.get(PRINCIPAL)


def _bearer(headers: list[tuple[bytes, bytes]]) -> str:
    """The secret of the Authorization header; raises Unauthorized naming what is wrong with it."""
    value = next((v for k, v in headers if k == b"authorization"), None)
    if value is None:
        raise Unauthorized("this queue needs a token on /v1: send 'Authorization: Bearer <token>' "
                           f"(HEALLOOP_TOKEN or --token for the healloop commands); {_ASK}")
    scheme, _, secret = value.decode("latin-1").strip().partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized(f"the Authorization header must be 'Bearer <token>', not {scheme[:20]!r} "
                           "followed by something else")
    return secret.strip()


class RoleAuth:
    """ASGI middleware in front of the whole app (the hot path included). ``signed`` paths prove
    themselves otherwise (the forges' webhooks, with the forge secret) and pass without a token.
    ``answer`` is the app's one error translation (``api._error``)."""

    def __init__(self, app: ASGIApp, book: TokenBook, answer: Callable[[HealloopError], Response],
                 signed: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.book = book
        self.answer = answer
        self.signed = signed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        need = roles_for(scope["method"], path)
        # Outside /v1 are the open routes and the dashboard, whose pages check a session cookie instead
        # of a bearer token (dashboard/access.py), against the same book and the same roles.ACCESS.
        if need is ANYONE or path in self.signed or not path.startswith("/v1"):
            await self.app(scope, receive, send)
            return
        if self.book.stale():  # a reload at most every second; a plain check otherwise
            await self.book.current()
        if self.book.required:
            try:
                scope[PRINCIPAL] = self.check(scope, need)
            except HealloopError as exc:
                await self.answer(exc)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def check(self, scope: Scope, need: frozenset[str] | None) -> Principal:
        header = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        found = self.book.seen.get(header) if header is not None else None
        if found is None:
            found = self._look_up(scope)
            if header is not None and isinstance(found, Principal):
                self.book.seen[header] = found
        # None: no route matches; any valid token may learn that (404 or 405 from the router).
        if need is not None and not allows(found.role, need):
            raise Forbidden(f"{scope['method']} {scope['path']} needs a token of role {needed(need)}; "
                            f"this token ({found.name!r}) has role {found.role}")
        return found

    def _look_up(self, scope: Scope) -> Principal:
        found = self.book.lookup(_bearer(scope["headers"]))
        if found is None:
            raise Unauthorized(f"the bearer token is not one this queue knows; check HEALLOOP_TOKEN or "
                               f"--token, or {_ASK}")
        if not isinstance(found, Principal):
            raise Unauthorized(f"the token {found.name!r} was revoked at {to_rfc3339(found.revoked_at)}; "
                               f"{_ASK}")
        return found


class _Named(msgspec.Struct):
    name: object = None


Endpoint = Callable[[Request], Awaitable[Response]]


def own_node_only(endpoint: Endpoint) -> Endpoint:
    """``POST /v1/nodes`` with a node token registers the token's own node only: a node token of
    ci-1 cannot re-register ci-2 with its own ``mcp_url`` (and so receive the node token the agents
    send to ci-2). Other roles that may register (admin) are not limited."""

    async def register(request: Request) -> Response:
        who = principal(request.scope)
        if who is not None and who.role == NODE:
            # Kept where Starlette keeps a read body, so the handler reads the same bytes.
            request._body = body = await read_request_body(request)
            try:
                name = msgspec.json.decode(body, type=_Named).name
            except msgspec.DecodeError:
                name = None  # not JSON: the handler answers 400 with the details
            if isinstance(name, str) and name != who.name:
                raise Forbidden(f"this node token is for node {who.name!r}; it may register only that "
                                f"name, not {name!r} (create a token for {name!r}: `healloop token "
                                f"create --role node --name {name}`)")
        return await endpoint(request)

    return register
