"""The app under test: one page, read at every request so an edit shows without a restart."""

import argparse
import http.server
from pathlib import Path

PAGE = Path(__file__).parent / "notes" / "index.html"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ok" if self.path == "/healthz" else PAGE.read_bytes()
        self.send_response(200)
        kind = "text/plain" if self.path == "/healthz" else "text/html; charset=utf-8"
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8000)
    port = parser.parse_args().port
    print(f"notes listening on http://127.0.0.1:{port}", flush=True)
    http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
