"""One HTTP call to a forge's API, with every failure turned into a sentence that says what to fix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from healloop.errors import ForgeError, Unavailable
from healloop.forge.model import PullRequest, PullStatus

TIMEOUT_S = 30.0


def call(forge: str, method: str, url: str, *, headers: dict[str, str], token_env: str,
         ok: tuple[int, ...] = (200, 201), accept: tuple[int, ...] = (),
         json: dict[str, Any] | None = None, params: dict[str, str] | None = None) -> tuple[int, Any]:
    """(status, decoded JSON body). A status in ``ok`` or ``accept`` is returned (``accept``: ones the
    caller handles, such as "already exists"); any other is a ForgeError naming the forge, the call and
    the forge's own message; no answer at all is Unavailable."""
    try:
        r = httpx.request(method, url, headers=headers, json=json, params=params, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise Unavailable(f"cannot reach {forge} at {url}: {exc}") from None
    try:
        body: Any = r.json() if r.content else None
    except ValueError:
        body = None
    if r.status_code in ok or r.status_code in accept:
        return r.status_code, body
    said = message(body) or r.text[:300] or r.reason_phrase
    where = f"{method} {url}"
    if r.status_code in (401, 403):
        raise ForgeError(f"{forge} refused the token in ${token_env} ({r.status_code}: {said}) on {where}; "
                         "check that it is set, not expired, and may write the repository's pull requests "
                         "(and issues, with [node.git] issues)")
    if r.status_code == 404:
        raise ForgeError(f"{forge} answered 404 on {where}: the repository does not exist or the token in "
                         f"${token_env} cannot see it; check [node.git] repository and api_url ({said})")
    raise ForgeError(f"{forge} answered {r.status_code} on {where}: {said}")


def missing(forge: str, what: str, number: int, settings: Any) -> ForgeError:
    return ForgeError(f"{forge} has no {what} #{number} in {settings.repository} (404), or the token in "
                      f"${settings.token_env} cannot see it")


def message(body: Any) -> str:
    """The forge's own explanation: GitHub's and Gitea's ``message`` and ``errors``, GitLab's
    ``message``/``error``."""
    if not isinstance(body, dict):
        return ""
    parts = [str(body.get("message") or body.get("error") or "")]
    for e in body.get("errors") or []:
        parts.append(str(e.get("message") or e) if isinstance(e, dict) else str(e))
    return "; ".join(p for p in parts if p)


def open_once(forge: str, what: str, repository: str, head: str, base: str, *,
              find: Callable[[], PullRequest | None], post: Callable[[], tuple[int, Any]],
              refused: tuple[int, ...], made: Callable[[Any], PullRequest]) -> PullRequest:
    """Open a pull (merge) request from ``head`` into ``base`` once: an open one for the same branches is
    returned instead (``existing``), so a retried proposal never opens a second. A status in ``refused``
    ("already exists") is looked up again, since a concurrent call may have opened it since the look-up;
    otherwise it is the forge's own reason ("no commits between", a branch it does not have)."""
    found = find()
    if found:
        return found
    status, body = post()
    if status in refused:
        found = find()
        if found:
            return found
        raise ForgeError(f"{forge} refused to open a {what} from {head} into {base} of {repository}: "
                         f"{message(body)}")
    return made(body)


def close_once(forge: str, what: str, number: int, *, status: Callable[[], PullStatus],
               comment: Callable[[], object], close: Callable[[], object]) -> dict[str, Any]:
    """Close pull (merge) request ``number`` with a comment saying why, once: one already merged or
    closed is left as it is and said so (``closed: false``), so deciding again never fails on it. The
    comment goes first: a request closed without it would leave people guessing."""
    now = status()
    if now.state != "open":
        return {"forge": forge, "number": number, "url": now.url, "state": now.state, "closed": False,
                "message": f"{what} #{number} was already {now.state} on {forge}; nothing to close"}
    comment()
    close()
    return {"forge": forge, "number": number, "url": now.url, "state": "closed", "closed": True,
            "message": f"{what} #{number} closed on {forge} with a comment"}
