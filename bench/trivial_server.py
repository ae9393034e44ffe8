"""The ceiling: a trivial Starlette app served exactly as ``healloop serve`` serves the queue.

Served by the same function as the queue (``healloop.queue.server.run_uvicorn``: uvloop, httptools,
lifespan on, access log off, one process, a pre-bound socket with backlog 2048), so the gap between
this and the queue is the queue's own work. Prints the same kind of first line:

    trivial listening on http://127.0.0.1:PORT
"""

from __future__ import annotations

import os
import sys

# bench/queue.py sits beside this file: keep the standard library's ``queue`` (which psycopg imports,
# through healloop.queue.server) ahead of it on sys.path.
_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or ".") == _HERE:
    sys.path.append(sys.path.pop(0))

import argparse  # noqa: E402

from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

from healloop.queue.server import bind, run_uvicorn  # noqa: E402


async def hello(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"status": "ok", "bytes": len(body)}, status_code=201)


app = Starlette(routes=[Route("/hello", hello, methods=["GET"]), Route("/echo", echo, methods=["POST"])])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    sock = bind(args.host, args.port)
    port = sock.getsockname()[1]
    run_uvicorn(app, sock, lambda: print(f"trivial listening on http://{args.host}:{port}", flush=True))


if __name__ == "__main__":
    main()
