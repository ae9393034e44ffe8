"""A person at the dashboard without a browser: the session cookie carried by hand (httpx's cookie jar,
like the standard library's, never sends a Secure cookie over plain http, which Chromium does on
127.0.0.1), and the CSRF token read from the page's forms."""

from __future__ import annotations

import re
from typing import Any

import httpx

from healloop.dashboard.session import COOKIE

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Person:
    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30, follow_redirects=False)
        self.session: str | None = None

    def close(self) -> None:
        self.http.close()

    def _keep(self, r: httpx.Response) -> httpx.Response:
        for header in r.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            if name == COOKIE:
                self.session = rest.split(";", 1)[0]
        return r

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = kw.pop("headers", {})
        if self.session:
            headers["cookie"] = f"{COOKIE}={self.session}"
        return self._keep(self.http.request(method, path, headers=headers, **kw))

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def csrf(self, path: str = "/signin") -> str:
        m = _CSRF.search(self.get(path).text)
        assert m, f"no CSRF token in the form of {path}"
        return m.group(1)

    def post(self, path: str, data: dict[str, str], *, csrf_from: str = "/signin") -> httpx.Response:
        form = {"csrf": self.csrf(csrf_from), **data}
        return self.request("POST", path, data=form)

    def sign_in(self, token: str) -> httpx.Response:
        return self.post("/signin", {"token": token, "next": "/"})


def signed_queue(url: str) -> None:
    """Wait until a queue whose first token was just made needs it (the book reloads within a second):
    until then it is open, and /signin sends a person straight in."""
    from tests.support import wait_until

    with httpx.Client(base_url=url, timeout=30) as c:
        wait_until(lambda: c.get("/signin").status_code == 200, what="the queue to need a token")
