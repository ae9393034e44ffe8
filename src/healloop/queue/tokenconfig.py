"""Role tokens declared in healloop.toml, read once by ``healloop serve --config``:

    [queue.tokens.ci-reporter]
    role = "reporter"
    sha256 = "9f2c..."          # the SHA-256 of the secret (`healloop token create --toml` prints it)

    [queue.tokens.ci-1]
    role = "node"
    env = "CI1_QUEUE_TOKEN"     # or: the NAME of an environment variable that holds the secret

Never the secret itself: the file is committed and read by people who should not hold every token.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from healloop.errors import ConfigError, HealloopError
from healloop.queue.tokens import Token, check_name, check_role, hash_secret

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def declared_tokens(config: Path, environ: dict[str, str] | None = None) -> tuple[Token, ...]:
    env = os.environ if environ is None else environ
    return tuple(_token(name, t, env) for name, t in _tables(config).items())


def declared_list(config: Path) -> list[dict[str, str]]:
    """What ``healloop token list`` shows of the declared tokens: name, role and where the secret's hash
    comes from (``sha256`` or ``env $NAME``), checked as ``serve`` checks them but without needing the
    variables set here."""
    out = []
    for name, t in _tables(config).items():
        _token(name, t, None)
        out.append({"name": name, "role": t["role"],
                    "source": "sha256" if "sha256" in t else f"env ${t['env']}"})
    return out


def _tables(config: Path) -> dict[str, Any]:
    try:
        with open(config, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {str(config)!r}: {exc}", field="config") from None
    queue = data.get("queue", {})
    tables = queue.get("tokens", {}) if isinstance(queue, dict) else {}
    if not isinstance(tables, dict):
        raise ConfigError("`queue.tokens` must hold one table per token, e.g. [queue.tokens.ci-1]",
                          field="queue.tokens")
    return tables


def _token(name: str, t: Any, env: Any) -> Token:
    """One declared token, checked; ``env`` None checks an env table's form without reading it."""
    key = f"queue.tokens.{name}"
    try:
        check_name(name, field=key)
    except HealloopError as exc:
        raise ConfigError(exc.message, field=key) from None
    if not isinstance(t, dict):
        raise ConfigError(f"`{key}` must be a table with role and sha256 or env", field=key)
    unknown = sorted(set(t) - {"role", "sha256", "env"})
    if unknown:
        raise ConfigError(f"unknown key `{key}.{unknown[0]}`; allowed: role, sha256, env", field=key)
    role = t.get("role")
    try:
        check_role(role if isinstance(role, str) else repr(role), field=f"{key}.role")
    except HealloopError as exc:
        raise ConfigError(exc.message, field=f"{key}.role") from None
    digest, var = t.get("sha256"), t.get("env")
    if (digest is None) == (var is None):
        raise ConfigError(f"`{key}` needs exactly one of sha256 (the secret's SHA-256, printed by "
                          "`healloop token create --toml`) or env (the NAME of a variable holding the "
                          "secret)", field=key)
    if digest is not None:
        if not isinstance(digest, str) or not _HEX64.match(digest):
            # Not echoed: it may be the secret, pasted by mistake.
            raise ConfigError(f"`{key}.sha256` must be 64 lowercase hex digits, the SHA-256 of the "
                              "secret (`healloop token create --toml` prints it); never the secret itself",
                              field=f"{key}.sha256")
        return Token(name, role, digest, 0)
    if not isinstance(var, str) or not _ENV.match(var):
        raise ConfigError(f"`{key}.env` must be the NAME of an environment variable (letters, digits, "
                          "'_'); the secret itself never goes in the file", field=f"{key}.env")
    if env is None:
        return Token(name, role, "", 0)
    secret = env.get(var)
    if not secret:
        raise ConfigError(f"`{key}.env` names ${var}, which is not set for `healloop serve`; export it "
                          "with the token's secret", field=f"{key}.env")
    return Token(name, role, hash_secret(secret), 0)
