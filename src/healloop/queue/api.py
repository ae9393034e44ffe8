"""The queue's HTTP API (version 1): routes, auth, body limits, and the one error translation.

Reports, claims, heartbeats and transitions are answered ahead of Starlette by ``hotpath.HotPath``;
the rest of the routes are here.

Plain Starlette with msgspec: handlers decode the body straight into typed structs and encode
replies with msgspec, because ingest speed is a stated target (see bench/queue.py).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.staticfiles import StaticFiles

from healloop.dashboard.pages import Dashboard, NodeAccess
from healloop.dashboard.pages import routes as dashboard_routes
from healloop.dashboard.session import Signer
from healloop.errors import HealloopError, InvalidInput, NotFound, PayloadTooLarge
from healloop.queue import hotpath, rules
from healloop.queue.artifacts import ArtifactStore
from healloop.queue.auth import RoleAuth, own_node_only
from healloop.queue.blobs import MAX_FILES_PER_UPLOAD, hex_of
from healloop.queue.download import artifact_response
from healloop.queue.guard import RequestGuard, allowed_hosts
from healloop.queue.hotpath import MAX_BODY, HotPath
from healloop.queue.ingest import ALERT_SOURCES, AlertWebhook
from healloop.queue.listing import parse_listing
from healloop.queue.metrics import notify_metrics
from healloop.queue.model import (
    ClaimOneIn,
    DecisionIn,
    MuteIn,
    NodeIn,
    NoteIn,
    ReleaseIn,
    RevertIn,
    decode,
)
from healloop.queue.openapi import openapi_document, swagger_html, swagger_static_dir
from healloop.queue.quarantine import LiftIn, QuarantineIn, RunsIn
from healloop.queue.service import PROPOSAL_PREFIX, QueueService
from healloop.queue.stats import parse_window
from healloop.queue.tokens import Token, TokenBook

_enc = msgspec.json.Encoder()


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _enc.encode(content)


def _error(exc: HealloopError) -> JSON:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSON(exc.to_dict(), status_code=exc.status, headers=headers)


def _service(request: Request) -> QueueService:
    return request.app.state.service


# -- handlers (reports, claims, heartbeats and transitions are in hotpath.py)
def _hot(handler: Callable[[QueueService, bytes, str], Awaitable[hotpath.Reply]]) -> Callable[..., Any]:
    """A hot route as Starlette serves it: reached only when HotPath is not in front, and routed so
    that the router knows its method."""

    async def endpoint(request: Request) -> Response:
        status, reply = await handler(_service(request), await hotpath.read_request_body(request),
                                      request.path_params.get("event_id", ""))
        return Response(status_code=204) if status == 204 else JSON(reply, status_code=status)

    return endpoint


async def release(request: Request) -> Response:
    r = decode(await hotpath.read_request_body(request), ReleaseIn)
    ev = await _service(request).release(request.path_params["event_id"], r.token, r.note)
    return JSON(ev.to_json())


async def claim_one(request: Request) -> Response:
    c = decode(await hotpath.read_request_body(request), ClaimOneIn)
    got = await _service(request).claim_event(request.path_params["event_id"], c.worker, c.lease)
    return JSON(got.to_json())


async def _note(request: Request) -> str | None:
    body = await hotpath.read_request_body(request)
    return decode(body, NoteIn).note if body.strip() else None


async def requeue(request: Request) -> Response:
    note = await _note(request)
    ev = await _service(request).requeue(request.path_params["event_id"], note)
    return JSON(ev.to_json())


async def close(request: Request) -> Response:
    note = await _note(request)
    ev = await _service(request).close_event(request.path_params["event_id"], note)
    return JSON(ev.to_json())


async def revert(request: Request) -> Response:
    r = decode(await hotpath.read_request_body(request), RevertIn)
    ev = await _service(request).revert_event(request.path_params["event_id"], r)
    return JSON(ev.to_json())


async def approve(request: Request) -> Response:
    d = decode(await hotpath.read_request_body(request), DecisionIn)
    ev = await _service(request).decide(request.path_params["event_id"], True, d)
    return JSON(ev.to_json())


async def reject(request: Request) -> Response:
    d = decode(await hotpath.read_request_body(request), DecisionIn)
    ev = await _service(request).decide(request.path_params["event_id"], False, d)
    return JSON(ev.to_json())


async def get_event(request: Request) -> Response:
    return JSON(await _service(request).get(request.path_params["event_id"]))


async def list_events(request: Request) -> Response:
    f = parse_listing(request.query_params)
    events = await _service(request).list(status=f.status, node=f.node, fingerprint=f.fingerprint,
                                          limit=f.limit, match=f.match)
    return JSON({"events": events})


async def get_stats(request: Request) -> Response:
    q = request.query_params
    unknown = set(q.keys()) - {"since", "until", "node"}
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidInput(f"`{name}` is not a known parameter; use since, until or node", field=name)
    window = parse_window(q.get("since") or None, q.get("until") or None, q.get("node"))
    return JSON(await _service(request).stats(window))


async def register_node(request: Request) -> Response:
    n = decode(await hotpath.read_request_body(request), NodeIn)  # mcp_url's scheme is checked by its pattern
    node = await _service(request).register_node(n)
    return JSON(node.to_json())


async def list_nodes(request: Request) -> Response:
    nodes = await _service(request).list_nodes()
    return JSON({"nodes": [n.to_json() for n in nodes]})


async def add_mute(request: Request) -> Response:
    mute = await _service(request).mute(decode(await hotpath.read_request_body(request), MuteIn))
    return JSON(mute.to_json(), status_code=201)


async def list_mutes(request: Request) -> Response:
    return JSON({"mutes": [m.to_json() for m in await _service(request).mutes()]})


async def delete_mute(request: Request) -> Response:
    spec, test = request.query_params.get("spec"), request.query_params.get("test")
    if not spec or not test:
        raise InvalidInput("`spec` and `test` query parameters name the mute to lift", field="spec")
    await _service(request).unmute(spec, test)
    return Response(status_code=204)


async def record_runs(request: Request) -> Response:
    runs = decode(await hotpath.read_request_body(request), RunsIn)
    return JSON(await _service(request).tests.record_runs(runs))


async def test_view(request: Request) -> Response:
    q = request.query_params
    unknown = set(q.keys()) - {"spec", "test"}
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidInput(f"`{name}` is not a known parameter; use spec and test", field=name)
    spec, test = q.get("spec"), q.get("test")
    for name, value in (("spec", spec), ("test", test)):
        if not value or not value.strip() or "\x00" in value:
            raise InvalidInput(f"`{name}` is required: GET /v1/test?spec=SPEC&test=TEST names one test, as "
                               "its reports name it", field=name)
    assert spec is not None and test is not None
    return JSON(await _service(request).tests.view(spec, test))


async def add_quarantine(request: Request) -> Response:
    q = await _service(request).tests.add(decode(await hotpath.read_request_body(request), QuarantineIn))
    return JSON(q.to_json(q.set_at), status_code=201)


async def list_quarantines(request: Request) -> Response:
    return JSON({"quarantines": await _service(request).tests.in_force()})


async def lift_quarantine(request: Request) -> Response:
    q, requeued = await _service(request).tests.lift(decode(await hotpath.read_request_body(request), LiftIn))
    if requeued:
        _service(request).work_arrived(requeued)
    return JSON({**q.to_json(q.lifted_at or q.set_at), "requeued": requeued})


async def upload_artifacts(request: Request) -> Response:
    blobs: ArtifactStore = request.app.state.blobs
    event_id = request.path_params["event_id"]
    svc = _service(request)
    if not await svc.exists(event_id):
        raise NotFound(f"no event with id {event_id!r}")
    length = request.headers.get("content-length")
    ceiling = blobs.max_bytes * MAX_FILES_PER_UPLOAD + MAX_BODY
    if length is not None and length.isdigit() and int(length) > ceiling:
        raise PayloadTooLarge(
            f"the upload is {int(length)} bytes; each file may be at most "
            f"{blobs.max_bytes // (1024 * 1024)} MiB (`healloop serve --max-artifact-mb`)"
        )
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidInput("send the files as multipart/form-data, each in a part named `file`")
    try:
        parsing = request.form(max_files=MAX_FILES_PER_UPLOAD, max_fields=10)
        form = await parsing.__aenter__()
    except MultiPartException as exc:
        raise InvalidInput(f"the multipart body could not be read: {exc.message}") from None
    try:
        files = [f for f in form.getlist("file") if isinstance(f, UploadFile)]
        if not files:
            raise InvalidInput("no file in the upload: send each file in a part named `file`",
                               field="file")
        items = []
        for f in files:
            name = f.filename or "artifact"
            digest, size = await run_in_threadpool(blobs.put, name, f.file)
            items.append({"name": name, "content_type": f.content_type or "application/octet-stream",
                          "digest": digest, "size": size, "url": f"/v1/artifacts/{digest}"})
        stored = await svc.add_artifacts(event_id, items)
        # Recorded: a prune that removed one of these meanwhile ran before, so this check sees it.
        for f, item in zip(files, items, strict=True):
            await run_in_threadpool(blobs.confirm, item["digest"], item["name"], f.file)
    finally:
        await form.close()  # removes the spooled temporary files
    return JSON({"artifacts": stored}, status_code=201)


async def get_artifact(request: Request) -> Response:
    blobs: ArtifactStore = request.app.state.blobs
    digest = request.path_params["digest"]
    hex_of(digest)  # a malformed digest is a 400 before any lookup
    meta = await _service(request).artifact(digest)
    opened = await run_in_threadpool(blobs.open, digest)
    return artifact_response(opened, meta.content_type,
                             {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"})


async def ingest_alertmanager(request: Request) -> Response:
    hook = decode(await hotpath.read_request_body(request), AlertWebhook)
    source = request.query_params.get("source") or ("grafana" if hook.orgId is not None else "alertmanager")
    if source not in ALERT_SOURCES:
        raise InvalidInput(f"`source` must be {' or '.join(ALERT_SOURCES)}, got {source!r}", field="source")
    node = request.query_params.get("node") or None
    return JSON(await _service(request).ingest_alerts(hook, source=source, node=node))


FORGE_HOOKS = ("github", "gitlab", "gitea")


async def ingest_forge(request: Request) -> Response:
    """A forge's webhook: a merged healloop/<event id> pull request approves its proposal, one closed
    unmerged rejects it. Other events and actions (a ping, an opened pull request) are answered 200 and
    ignored, so the forge shows the hook as working."""
    from healloop.forge import FORGES

    kind = request.url.path.rsplit("/", 1)[-1]
    body = await hotpath.read_request_body(request)
    news = FORGES[kind].parse_hook(request.headers, body, request.app.state.forge_secret)
    if isinstance(news, str):
        return JSON({"ignored": news})
    if not news.branch.startswith(PROPOSAL_PREFIX):
        # A repository-wide hook fires for people's own pull requests too: not ours, and not an error
        # the forge should show as a failed delivery.
        return JSON({"ignored": f"the pull request's branch {news.branch!r} is not a healloop proposal "
                                f"({PROPOSAL_PREFIX}<event id>)"})
    ev = await _service(request).pull_request_closed(news)
    return JSON(ev.to_json())


async def healthz(request: Request) -> Response:
    return JSON({"status": "ok"})


async def metrics(request: Request) -> Response:
    svc = _service(request)
    text = svc.metrics.render(await svc.count_by_status(), rules.STATES, svc.waiting)
    if svc.notify is not None:
        text += notify_metrics(await svc.notification_counts(), svc.dispatcher)
    return Response(text, media_type="text/plain; version=0.0.4")


async def openapi(request: Request) -> Response:
    return JSON(openapi_document())


async def docs(request: Request) -> Response:
    return HTMLResponse(swagger_html())


# -- edges: errors (auth is in queue/auth.py, its table in queue/roles.py)
async def _on_healloop_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HealloopError)
    return _error(exc)


def _allow(request: Request) -> str:
    """The methods of every route on this path. Starlette's own Allow names only the first route that
    matched the path (POST alone on /v1/nodes, which also answers GET), and its static files none."""
    methods = {"OPTIONS"}
    # The path as the app saw it: within the static Mount the request's scope is the Mount's child's.
    scope = {"type": "http", "path": request.url.path, "root_path": "", "method": request.method}
    for route in request.app.router.routes:
        if route.matches(scope)[0] is Match.NONE:
            continue
        if isinstance(route, Route):
            methods |= route.methods or set()
        else:  # the Mount of the Swagger UI's static files
            methods |= {"GET", "HEAD"}
    return ", ".join(sorted(methods))


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # RFC 9110: OPTIONS answers with the methods the path allows, and every 405 lists them.
        headers["Allow"] = _allow(request)
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=headers)
    if exc.status_code == 404:
        message = f"no route {request.method} {request.url.path}; see /docs for the API"
    elif exc.status_code == 405:
        message = (f"{request.method} is not allowed on {request.url.path}; it allows {headers['Allow']} "
                   "(see /docs for the API)")
    else:
        message = str(exc.detail)
    return JSON({"error": "http_error", "message": message}, status_code=exc.status_code,
                headers=headers)


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    # Logged with its traceback by the server; the client gets JSON like every other error.
    return JSON({"error": "internal", "message": "internal error in the queue; see the server's log"},
                status_code=500)


def routes() -> list[BaseRoute]:
    """Every route and method the API answers (the hot ones first, as HotPath answers them ahead)."""
    v1 = "/v1/events/{event_id}"
    return [
        *(Route(path, _hot(handler), methods=["POST"]) for path, handler in hotpath.ROUTES.items()),
        Route("/v1/events", list_events, methods=["GET"]),
        Route(v1, get_event, methods=["GET"]),
        Route(v1 + "/release", release, methods=["POST"]),
        Route(v1 + "/claim", claim_one, methods=["POST"]),
        Route(v1 + "/requeue", requeue, methods=["POST"]),
        Route(v1 + "/close", close, methods=["POST"]),
        Route(v1 + "/revert", revert, methods=["POST"]),
        Route(v1 + "/approve", approve, methods=["POST"]),
        Route(v1 + "/reject", reject, methods=["POST"]),
        Route(v1 + "/artifacts", upload_artifacts, methods=["POST"]),
        Route("/v1/artifacts/{digest}", get_artifact, methods=["GET"]),
        Route("/v1/ingest/alertmanager", ingest_alertmanager, methods=["POST"]),
        *(Route(f"/v1/ingest/{kind}", ingest_forge, methods=["POST"]) for kind in FORGE_HOOKS),
        Route("/v1/nodes", own_node_only(register_node), methods=["POST"]),
        Route("/v1/nodes", list_nodes, methods=["GET"]),
        Route("/v1/stats", get_stats, methods=["GET"]),
        Route("/v1/runs", record_runs, methods=["POST"]),
        Route("/v1/test", test_view, methods=["GET"]),
        Route("/v1/quarantines", add_quarantine, methods=["POST"]),
        Route("/v1/quarantines", list_quarantines, methods=["GET"]),
        Route("/v1/quarantines/lift", lift_quarantine, methods=["POST"]),
        Route("/v1/mutes", add_mute, methods=["POST"]),
        Route("/v1/mutes", list_mutes, methods=["GET"]),
        Route("/v1/mutes", delete_mute, methods=["DELETE"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
        Mount("/docs/static", StaticFiles(directory=swagger_static_dir()), name="docs-static"),
        *dashboard_routes(),
    ]


def create_app(service: QueueService, blobs: ArtifactStore, *, token: str | None = None,
               declared: tuple[Token, ...] = (), forge_secret: str | None = None,
               hosts: Iterable[str] | None = None, cors_origins: Iterable[str] = (),
               session_key: bytes | None = None, nodes: NodeAccess | None = None) -> RequestGuard:
    """The whole app. ``token`` is the single admin token (``--token``), ``declared`` the tokens of
    healloop.toml; the role tokens of the store's ``tokens`` table count too, read while serving.
    ``hosts`` are the Host names it answers to (``guard.allowed_hosts``, by default those of a queue
    bound to 127.0.0.1) and ``cors_origins`` the web origins allowed to call it. ``session_key`` signs
    the dashboard's sessions (``healloop serve`` keeps it beside the database; without one, a key of this
    process's own, so sessions end with it), and ``nodes`` is how its buttons reach a node."""
    book = TokenBook(service.store, admin_secret=token, declared=declared)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        await book.refresh()
        try:
            yield
        finally:
            await service.close()

    app = Starlette(
        routes=routes(),
        exception_handlers={
            HealloopError: _on_healloop_error,
            StarletteHTTPException: _on_http_error,
            500: _on_unexpected,
        },
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.blobs = blobs
    app.state.forge_secret = forge_secret
    signer = Signer(session_key or secrets.token_bytes(32))
    app.state.dashboard = Dashboard(service, blobs, book, signer, nodes)
    # Without a forge secret the webhooks need the bearer token like every other route.
    signed = frozenset(f"/v1/ingest/{kind}" for kind in FORGE_HOOKS) if forge_secret else frozenset()
    # The guard is outermost: a cross-site or rebound request is refused before auth or any route.
    return RequestGuard(RoleAuth(HotPath(app, service), book, _error, signed),
                        allowed_hosts("127.0.0.1") if hosts is None else hosts, cors_origins)
