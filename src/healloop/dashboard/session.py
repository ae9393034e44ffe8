"""Sign-in for the dashboard: a signed session cookie over a role token, and CSRF tokens for forms.

The cookie holds the SHA-256 of the token a person signed in with (never the secret), a random nonce
and an expiry, signed with HMAC-SHA256 under a key kept beside the database (``<db>.session-key``,
mode 0600; ``load_key``). Every request looks the hash up in the queue's TokenBook, the one the API
uses, so a token revoked with ``healloop token revoke`` ends its sessions within the book's reload
(about a second). A CSRF token is the HMAC of the session's nonce, put in every form and checked on
every POST; the app's RequestGuard also refuses a POST whose Origin is not the queue's own.

A queue with no token of any kind is open, pages as the API: there the session is anonymous, and still
carries a nonce so that its forms have a CSRF token all the same.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from healloop.errors import ConfigError
from healloop.queue.guard import host_name

COOKIE = "healloop_session"
LIFETIME_S = 12 * 3600  # a working day: a person signs in each morning
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class Session:
    token_hash: str | None  # None: an open queue, nobody signed in
    nonce: str
    expires: int  # unix seconds


class Signer:
    def __init__(self, key: bytes, lifetime_s: int = LIFETIME_S,
                 clock: Callable[[], float] = time.time) -> None:
        if len(key) < 32:
            raise ConfigError("the dashboard's session key must be at least 32 bytes", field="session_key")
        self.key = key
        self.lifetime_s = lifetime_s
        self.clock = clock

    def new(self, token_hash: str | None) -> Session:
        return Session(token_hash, secrets.token_urlsafe(18), int(self.clock()) + self.lifetime_s)

    def _mac(self, what: bytes) -> bytes:
        return hmac.new(self.key, what, hashlib.sha256).digest()

    def encode(self, s: Session) -> str:
        payload = _b64(json.dumps({"t": s.token_hash, "n": s.nonce, "e": s.expires},
                                  separators=(",", ":")).encode())
        return payload + "." + _b64(self._mac(payload.encode()))

    def decode(self, value: str | None) -> Session | None:
        """The session of a cookie; None when absent, altered, malformed or expired."""
        if not value or value.count(".") != 1:
            return None
        payload, sig = value.split(".")
        try:
            if not hmac.compare_digest(_unb64(sig), self._mac(payload.encode())):
                return None
            data = json.loads(_unb64(payload))
            s = Session(data["t"], str(data["n"]), int(data["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        if s.token_hash is not None and not isinstance(s.token_hash, str):
            return None
        return s if s.expires > self.clock() else None

    def csrf(self, s: Session) -> str:
        return _b64(self._mac(b"csrf:" + s.nonce.encode()))

    def csrf_ok(self, s: Session | None, given: str | None) -> bool:
        return bool(s is not None and given and hmac.compare_digest(given.encode(), self.csrf(s).encode()))


def cookie(value: str, *, host: str, https: bool, max_age: int) -> str:
    """The Set-Cookie header's value.

    HttpOnly: the page's script never needs it. SameSite=Lax rather than Strict: the notifications link
    to event pages (``[queue] public_url``), and under Strict a click from a chat would arrive without
    the cookie and show the sign-in page to someone signed in; Lax still withholds it from every
    cross-site POST, and the CSRF token and Origin check stand behind that. Secure on https, and on
    loopback over plain http too: Chromium 156 keeps a Secure cookie set by http://127.0.0.1 and
    http://localhost (tried: tests/dashboard/test_browser.py signs in there), but drops one from any other
    plain-http host, so a queue reached as http://ci-queue:8787 gets no Secure flag, or nobody could sign
    in there. Put such a queue behind TLS (README, Dashboard).
    """
    secure = https or host_name(host) in _LOOPBACK
    return (f"{COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax"
            + ("; Secure" if secure else ""))


def load_key(path: Path) -> bytes:
    """The session key at ``path``, made (32 random bytes, mode 0600) when missing. Kept in a file beside
    the database so sessions outlive a restart, and readable only by whoever runs the queue."""
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the dashboard's session key {str(path)!r}: {exc}; delete it to "
                          "make a new one (everyone signs in again)", field="session_key") from None
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return load_key(path)
    except OSError as exc:
        raise ConfigError(f"cannot write the dashboard's session key {str(path)!r}: {exc}",
                          field="session_key") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex())
    return key


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
