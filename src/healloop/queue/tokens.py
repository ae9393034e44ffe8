"""Role tokens: their secrets, how they are kept, and the book the server looks them up in.

Only the SHA-256 of a secret is stored. A plain fast hash is right here, unlike for passwords: a
secret is 256 random bits from ``secrets``, so there is nothing to guess and no dictionary to run, and
a slow hash (bcrypt, scrypt) would add milliseconds to every request for no gain. The hash also makes
the lookup a dictionary access, so no comparison leaks timing about a secret.

The server reads the ``tokens`` table through its store, at most every ``CACHE_S`` seconds, so a token
created or revoked by ``healloop token`` (another process, same SQLite file) counts within about a
second without a restart, and a request costs no database read.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from healloop.errors import Conflict, HealloopError, InvalidInput, NotFound
from healloop.queue.roles import ADMIN, ROLES
from healloop.timeutil import now_us, to_rfc3339

log = logging.getLogger(__name__)

PREFIX = "hlt_"  # makes a pasted secret recognisable (and findable by secret scanners)
CACHE_S = 1.0
# Last use is written at most this often per token: a write per request would cost every request.
TOUCH_EVERY_S = 60.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


@dataclass
class Token:
    """One row of the ``tokens`` table; ``hash`` is the SHA-256 (hex) of the secret."""

    name: str
    role: str
    hash: str
    created_at: int
    last_used_at: int | None = None
    revoked_at: int | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request's token says it is. For the role ``node``, ``name`` is the node's name."""

    name: str
    role: str


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_role(role: str, field: str = "role") -> str:
    if role not in ROLES:
        raise InvalidInput(f"`{field}` must be one of {', '.join(ROLES)}, got {role!r}", field=field)
    return role


def check_name(name: str, field: str = "name") -> str:
    if not _NAME.match(name):
        raise InvalidInput(
            f"`{field}` must be 1 to 128 letters, digits, '.', '_', ':' or '-' (starting with a letter or "
            f"digit), got {name!r}; a node token's name is the node's name, e.g. ci-1", field=field)
    return name


def new_token(name: str, role: str) -> tuple[str, Token]:
    """A fresh secret and the row that stores its hash."""
    secret = new_secret()
    return secret, Token(check_name(name), check_role(role), hash_secret(secret), now_us())


class TokenBook:
    """The tokens a running queue accepts: the single ``--token`` (as admin), the ones declared in
    healloop.toml, and the ``tokens`` table of the store, reloaded at most every ``CACHE_S``."""

    def __init__(self, store: Any, *, admin_secret: str | None = None,
                 declared: tuple[Token, ...] = ()) -> None:
        self.store = store
        self.fixed: dict[str, Principal] = {}
        if admin_secret:
            self.fixed[hash_secret(admin_secret)] = Principal("--token", ADMIN)
        for t in declared:
            self.fixed[t.hash] = Principal(t.name, t.role)
        self.stored: dict[str, Token] = {}
        self._principals: dict[str, Principal] = {}  # hash -> principal of each unrevoked stored token
        # Authorization header -> principal, for headers already found valid since the last reload: a
        # request then costs one dictionary lookup instead of parsing and hashing (measured: 6-9 us to
        # under 2 us). Only valid tokens go in, so it is no larger than the tokens in use.
        self.seen: dict[bytes, Principal] = {}
        self.loaded_at: float | None = None
        self._loading: asyncio.Task[None] | None = None
        self._used: dict[str, int] = {}      # name -> last use (us) not yet written
        self._written: dict[str, float] = {}  # name -> when its last use was written (monotonic)

    @property
    def required(self) -> bool:
        """Whether a token is needed at all: once any token exists (revoked ones too, so revoking the
        last one does not open the queue), the /v1 routes need one."""
        return bool(self.fixed or self.stored)

    async def refresh(self) -> None:
        rows = await self.store.read(lambda tx: tx.list_tokens())
        self.stored = {t.hash: t for t in rows}
        self._principals = {t.hash: Principal(t.name, t.role) for t in rows if t.revoked_at is None}
        self.seen = {}
        self.loaded_at = time.monotonic()
        await self._write_uses()

    async def _refresh_logged(self) -> None:
        try:
            await self.refresh()
        except (HealloopError, sqlite3.Error) as exc:
            # Keep the copy in hand (a revoked token stays refused); the next request tries again.
            log.warning("could not reload the role tokens: %s", exc)

    def stale(self) -> bool:
        return self.loaded_at is None or time.monotonic() - self.loaded_at >= CACHE_S

    async def current(self) -> None:
        """Reload when the copy is older than ``CACHE_S``; one reload at a time, the others use the copy
        they have (it is at most one reload old)."""
        if not self.stale():
            return
        if self._loading is None or self._loading.done():
            self._loading = asyncio.create_task(self._refresh_logged())
        if self.loaded_at is None:
            await asyncio.shield(self._loading)

    def lookup(self, secret: str) -> Principal | Token | None:
        """The principal of ``secret``; a revoked ``Token`` when it was revoked; None when unknown."""
        digest = hash_secret(secret)
        found = self.fixed.get(digest) or self._principals.get(digest)
        if found is None:
            return self.stored.get(digest)  # revoked, or None
        if found.name not in self._used and digest not in self.fixed:
            # The first use since the last write is kept: last use is shown to the minute.
            self._used[found.name] = now_us()
        return found

    def by_hash(self, digest: str) -> Principal | Token | None:
        """As ``lookup``, for a secret known by its hash only (a dashboard session keeps no secret)."""
        return self.fixed.get(digest) or self._principals.get(digest) or self.stored.get(digest)

    async def _write_uses(self) -> None:
        now = time.monotonic()
        due = {n: at for n, at in self._used.items()
               if n not in self._written or now - self._written[n] >= TOUCH_EVERY_S}
        if not due:
            return
        for name in due:
            self._written[name] = now
            del self._used[name]
        try:
            await self.store.write(lambda tx: tx.touch_tokens(list(due.items())))
        except (HealloopError, sqlite3.Error) as exc:  # last use is a convenience; nothing fails for it
            log.warning("could not record when tokens were last used: %s", exc)


def issue(tx: Any, name: str, role: str, *, replace: bool = False) -> str:
    """Store a new token and return its secret (the only time it exists outside its holder). A name in
    use by an unrevoked token is refused unless ``replace`` (a rotation: the old secret stops working)."""
    secret, token = new_token(name, role)
    old = tx.get_token(name)
    if old is not None and old.revoked_at is None and not replace:
        raise Conflict(f"a token named {name!r} exists (role {old.role}, created "
                       f"{to_rfc3339(old.created_at)}); revoke it first (`healloop token revoke {name}`) "
                       "or pass --replace to rotate it")
    tx.put_token(token)
    return secret


def revoke(tx: Any, name: str) -> Token:
    old = tx.get_token(name)
    if old is None:
        raise NotFound(f"no token named {name!r}; `healloop token list` shows them")
    if old.revoked_at is not None:
        raise Conflict(f"the token {name!r} was already revoked at {to_rfc3339(old.revoked_at)}")
    tx.revoke_token(name, now_us())
    return old
