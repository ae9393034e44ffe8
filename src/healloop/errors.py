"""One exception family for the whole project.

Each class carries the HTTP status it maps to; the HTTP layer (``queue/api.py``) and the MCP layer
translate them once, at the edge. The docstring is the default message.
"""

from __future__ import annotations


class HealloopError(Exception):
    """Something went wrong in healloop."""

    status = 500
    code = "internal"
    # Set on the refusals a tool node counts (healloop_node_refusals_total): "sandbox", "allow_list".
    refusal: str | None = None

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        self.message = message or (self.__doc__ or "").strip()
        self.field = field
        super().__init__(self.message)

    def to_dict(self) -> dict[str, str]:
        body = {"error": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


class InvalidInput(HealloopError):
    """The request is not valid."""

    status = 400
    code = "invalid_input"


class Unauthorized(HealloopError):
    """Missing or wrong bearer token: send 'Authorization: Bearer <token>'."""

    status = 401
    code = "unauthorized"


class Forbidden(HealloopError):
    """This token's role may not do that: send a token of a role that may (see `healloop token create`)."""

    status = 403
    code = "forbidden"


class NotFound(HealloopError):
    """No such object."""

    status = 404
    code = "not_found"


class NotOnAllowList(NotFound):
    """Not one this node offers: it uses only the services and diagnostics its healloop.toml names."""

    refusal = "allow_list"  # the code stays not_found: clients handle it as before


class Conflict(HealloopError):
    """The request conflicts with the object's current state."""

    status = 409
    code = "conflict"


class FileOwned(Conflict):
    """Another event has uncommitted changes to this file; it commits or discards them first."""

    code = "file_owned"


class LeaseLost(Conflict):
    """The lease token is wrong, stale or expired: the event is no longer held by you."""

    code = "lease_lost"


class IllegalTransition(Conflict):
    """That state change is not allowed from the event's current state."""

    code = "illegal_transition"


class BudgetExhausted(Conflict):
    """The budget of automatic fixes for this test or node is spent for now: escalate to a person."""

    code = "budget_exhausted"


class SandboxRefused(InvalidInput):
    """The node's sandbox refused the path: outside the workspace, inside .git or healloop's own data,
    through a symlink, or a file with other hard links."""

    refusal = "sandbox"  # the code stays invalid_input: clients handle it as before


class PayloadTooLarge(HealloopError):
    """The request body is too large."""

    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(HealloopError):
    """The body must be JSON: send it with 'Content-Type: application/json'."""

    status = 415
    code = "unsupported_media_type"


class HostNotAllowed(HealloopError):
    """The request names a host this server does not answer to (DNS-rebinding protection)."""

    status = 421
    code = "host_not_allowed"


class OriginNotAllowed(HealloopError):
    """A web page from another origin may not call this server."""

    status = 403
    code = "origin_not_allowed"


class ConfigError(HealloopError):
    """The configuration is not valid."""

    status = 400
    code = "config_error"


class Unavailable(HealloopError):
    """A service healloop depends on cannot be reached."""

    status = 503
    code = "unavailable"


class MissingExtra(HealloopError):
    """This command needs an optional part of healloop that is not installed."""

    status = 501
    code = "missing_extra"


class ForgeError(HealloopError):
    """The forge (GitHub, GitLab, Gitea) refused or failed a request."""

    status = 502
    code = "forge_error"
