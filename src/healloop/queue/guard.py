"""The queue's first layer: refuses the requests a web page could make a browser send to it.

Three checks, ahead of auth and every route (the hot path included):

- **Host** must name this queue: an IP address, a localhost name, the name it is bound to (the
  machine's names when bound to all addresses) or one it was told (``--allowed-host``). A DNS
  rebinding attack points a name of the attacker's at this machine, so the browser sends that name;
  refusing it keeps a page from reading ``/v1/events``. An IP address cannot be rebound (the page's
  origin then is the address itself), so any is accepted: reporters often reach the queue by one.
- **Origin**, sent by browsers only, must be the queue's own (its Swagger UI at ``/docs``) or one of
  ``--cors-origin``. Without it any page could POST to the queue from the machine's browser.
- **Content-Type** of a body on a ``/v1`` route must be ``application/json``: ``text/plain``,
  urlencoded and multipart bodies are what a page can send without a CORS preflight. The artifact
  upload alone takes ``multipart/form-data``; a POST with no body (``requeue`` with no note) passes.

CORS is off unless origins are configured; then their preflights are answered and their replies
carry ``Access-Control-Allow-Origin``.
"""

from __future__ import annotations

import ipaddress
import socket
import tomllib
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

import msgspec
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from healloop.errors import (
    ConfigError,
    HealloopError,
    HostNotAllowed,
    OriginNotAllowed,
    UnsupportedMediaType,
)

LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
ANY_HOST = "*"
_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_CORS_METHODS = b"GET, POST, DELETE"
_CORS_HEADERS = b"authorization, content-type"
_enc = msgspec.json.Encoder()


def allowed_hosts(bind_host: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The host names the queue answers to, as the node does (``node.server.allowed_hosts``), without
    ports: a port says nothing about who named the host, and a proxy may change it."""
    names = set(LOCAL_NAMES)
    if bind_host in ("0.0.0.0", "::", ""):
        names |= {socket.gethostname(), socket.getfqdn()}
    else:
        names.add(bind_host)
    for name in extra:
        names.add(check_host_name(name))
    return frozenset(_plain(n) for n in names)


def check_host_name(value: str) -> str:
    """A configured extra host name (``--allowed-host``), or ConfigError naming the bad value."""
    name = value.strip()
    if name == ANY_HOST:
        return name
    if not name or "/" in name or " " in name or (":" in name and not _is_ip(name.strip("[]"))):
        raise ConfigError(
            f"allowed host {value!r} is not a host name; give a bare name or address such as "
            "queue.internal or 10.0.0.5 (no scheme, port or path), or * to accept any",
            field="allowed_hosts",
        )
    return name


def check_origin(value: str) -> str:
    """A configured CORS origin (``--cors-origin``), or ConfigError naming the bad value."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/") \
            or parts.query or parts.fragment:
        raise ConfigError(
            f"CORS origin {value!r} is not an origin; give scheme, host and port only, such as "
            "https://dashboard.example or http://localhost:3000",
            field="cors_origins",
        )
    return f"{parts.scheme}://{parts.netloc}".lower()


def from_config(path: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``allowed_hosts`` and ``cors_origins`` under ``[queue]`` of a healloop.toml, checked."""
    try:
        with open(path, "rb") as fh:
            queue = tomllib.load(fh).get("queue", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {str(path)!r}: {exc}", field="config") from None
    out: list[tuple[str, ...]] = []
    for key, check in (("allowed_hosts", check_host_name), ("cors_origins", check_origin)):
        value = queue.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"`queue.{key}` must be a list of strings, got {value!r}", field=f"queue.{key}")
        out.append(tuple(check(v) for v in value))
    return out[0], out[1]


def _plain(name: str) -> str:
    return name.strip().strip("[]").rstrip(".").lower()


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def host_name(header: str) -> str:
    """The name in a Host header, without its port or IPv6 brackets."""
    if header.startswith("["):
        return _plain(header[1:].split("]", 1)[0])
    return _plain(header.rsplit(":", 1)[0] if header.count(":") == 1 else header)


def _is_upload(path: str) -> bool:
    parts = path.split("/")  # "", "v1", "events", "{id}", "artifacts"
    return len(parts) == 5 and parts[1] == "v1" and parts[2] == "events" and parts[4] == "artifacts"


class RequestGuard:
    def __init__(self, app: ASGIApp, hosts: Iterable[str], cors_origins: Iterable[str] = ()) -> None:
        self.app = app
        self.hosts = frozenset(_plain(h) for h in hosts)
        self.cors = frozenset(check_origin(o) for o in cors_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name, value)
        try:
            host = headers.get(b"host", b"").decode("latin-1")
            self._check_host(host)
            origin = headers.get(b"origin", b"").decode("latin-1")
            if origin and scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
                await self._preflight(origin, send)
                return
            if origin:
                self._check_origin(origin, host)
            if scope["method"] in _WITH_BODY and scope["path"].startswith("/v1/"):
                self._check_content_type(scope["path"], headers)
        except HealloopError as exc:
            await _refuse(send, exc)
            return
        if origin and origin.lower() in self.cors:
            await self.app(scope, receive, _with_cors(send, origin))
            return
        await self.app(scope, receive, send)

    def _check_host(self, header: str) -> None:
        # No Host at all is no browser's request (every browser sends one).
        if not header or ANY_HOST in self.hosts:
            return
        name = host_name(header)
        if name in self.hosts or _is_ip(name):
            return
        raise HostNotAllowed(
            f"this queue does not answer to the host name {name!r} (Host: {header}), as a guard "
            f"against DNS rebinding. If {name} is how your machines reach it, start the queue with "
            f"`healloop serve --allowed-host {name}` (or `allowed_hosts = [\"{name}\"]` under [queue] "
            "in healloop.toml, or HEALLOOP_ALLOWED_HOSTS)"
        )

    def _check_origin(self, origin: str, host: str) -> None:
        netloc = urlsplit(origin).netloc.lower() if origin != "null" else ""
        if (netloc and netloc == host.lower()) or origin.lower() in self.cors:
            return
        raise OriginNotAllowed(
            f"requests from web pages of another origin ({origin}) are refused, so that no page can use "
            "a browser to reach the queue. To let a web app at that origin call the API, start the queue "
            f"with `healloop serve --cors-origin {origin}` (or `cors_origins = [\"{origin}\"]` under "
            "[queue] in healloop.toml)"
        )

    async def _preflight(self, origin: str, send: Send) -> None:
        if origin.lower() not in self.cors:
            raise OriginNotAllowed(
                f"CORS is not enabled for {origin}: to let a web app at that origin call the API, start "
                f"the queue with `healloop serve --cors-origin {origin}` (or `cors_origins = "
                f"[\"{origin}\"]` under [queue] in healloop.toml)"
            )
        await send({"type": "http.response.start", "status": 204, "headers": [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", _CORS_METHODS),
            (b"access-control-allow-headers", _CORS_HEADERS),
            (b"access-control-max-age", b"600"),
            (b"vary", b"Origin"),
        ]})
        await send({"type": "http.response.body", "body": b""})

    def _check_content_type(self, path: str, headers: dict[bytes, bytes]) -> None:
        length = headers.get(b"content-length")
        if length == b"0" or (length is None and b"transfer-encoding" not in headers):
            return  # no body: nothing a page could smuggle (requeue and close take an empty one)
        given = headers.get(b"content-type", b"").decode("latin-1")
        media = given.split(";", 1)[0].strip().lower()
        if _is_upload(path):
            return  # multipart, checked by the upload's own handler
        if media == "application/json":
            return
        hint = (" (set the webhook's content type to application/json)" if path.startswith("/v1/ingest/")
                else "")
        raise UnsupportedMediaType(
            f"the body of {path} must be JSON sent with 'Content-Type: application/json'; got "
            f"{repr(given) if given else 'no Content-Type'}{hint}"
        )


def _with_cors(send: Send, origin: str) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []),
                                              (b"access-control-allow-origin", origin.encode("latin-1")),
                                              (b"vary", b"Origin")]}
        await send(message)

    return sending


async def _refuse(send: Send, exc: HealloopError) -> None:
    body = _enc.encode(exc.to_dict())
    await send({"type": "http.response.start", "status": exc.status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
