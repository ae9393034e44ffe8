"""Serve the shop: ``python -m shop.server --port 8080``. Standard library only.

``/api/stock`` answers late once when the file ``.slow-once`` exists in the working folder (and
removes it): the demo uses it to make one test run flaky. Edits to ``shop/pages.py`` and
``shop/pricing.py`` are picked up on the next request (the modules are reloaded when their files
change), so a code change needs no restart, as with a development server.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from shop import pages, pricing

SLOW_FLAG = ".slow-once"
_reload_lock = threading.Lock()
_mtimes: dict[str, int] = {}


def _reload_changed() -> None:
    """Reload pricing, then pages (which imports from it), when either file changed on disk."""
    with _reload_lock:
        changed = False
        for module in (pricing, pages):
            mtime = os.stat(module.__file__).st_mtime_ns
            if _mtimes.setdefault(module.__name__, mtime) != mtime:
                _mtimes[module.__name__] = mtime
                changed = True
        if changed:
            importlib.reload(pricing)
            importlib.reload(pages)


class Handler(BaseHTTPRequestHandler):
    def _send(self, status: int, body: str, content_type: str = "text/html; charset=utf-8") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        _reload_changed()
        url = urlparse(self.path)
        if url.path == "/":
            self._send(200, pages.home())
        elif url.path == "/checkout":
            items = parse_qs(url.query).get("items", [""])[0]
            self._send(200, pages.checkout([s for s in items.split(",") if s]))
        elif url.path == "/api/stock":
            if os.path.exists(SLOW_FLAG):
                os.remove(SLOW_FLAG)
                time.sleep(8)  # longer than the spec's timeout: this one run fails
            self._send(200, json.dumps({"in_stock": 42}), "application/json")
        elif url.path == "/healthz":
            self._send(200, '{"status": "ok"}', "application/json")
        else:
            self._send(404, "not found", "text/plain")

    def log_message(self, format: str, *args: object) -> None:
        print(f"{self.address_string()} {format % args}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description="The healloop sample shop.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    args = ap.parse_args()
    _reload_changed()  # records the files' times at start
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"shop listening on http://{args.host}:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
