"""The ceiling: a trivial Starlette app served exactly as ``healloop serve`` serves the queue.

Same uvicorn settings as ``healloop.queue.server.serve`` (uvloop, httptools, lifespan on, access log
off, log level warning, one process, a pre-bound socket with backlog 2048), so the gap between this
and the queue is the queue's own work. Prints the same kind of first line:

    trivial listening on http://127.0.0.1:PORT
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


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
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(2048)
    sock.set_inheritable(True)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, loop="uvloop" if sys.platform != "win32" else "asyncio", http="httptools",
        lifespan="on", access_log=False, log_level="warning", log_config=None,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)

    async def run() -> None:
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not serving.done():
            await asyncio.sleep(0.01)
        if server.started:
            print(f"trivial listening on http://{args.host}:{port}", flush=True)
        await serving

    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(run())


if __name__ == "__main__":
    main()
