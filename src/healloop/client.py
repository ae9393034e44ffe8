"""A small synchronous client of the queue's HTTP API, used by the CLI, agents and reporters.

Errors come back as the same ``HealloopError`` family the server raised, rebuilt from the status
code and the JSON body, so callers handle one set of exceptions whatever the transport.
"""

from __future__ import annotations

from typing import Any

import httpx

from healloop.errors import (
    BudgetExhausted,
    Conflict,
    Forbidden,
    HealloopError,
    HostNotAllowed,
    IllegalTransition,
    InvalidInput,
    LeaseLost,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)

_BY_STATUS: dict[int, type[HealloopError]] = {
    400: InvalidInput, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict, 413: PayloadTooLarge,
    415: UnsupportedMediaType, 421: HostNotAllowed,
}
# A 409's code says which conflict it is: an agent escalates on a spent budget, gives up on a lost lease.
_CONFLICTS: dict[str, type[HealloopError]] = {
    cls.code: cls for cls in (LeaseLost, IllegalTransition, BudgetExhausted)
}


class QueueClient:
    def __init__(self, url: str, token: str | None = None, *, timeout: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise InvalidInput(f"the queue URL must start with http:// or https://, got {url!r}")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> QueueClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            resp = self._http.request(method, path, **kw)
        except httpx.TransportError as exc:
            raise Unavailable(f"cannot reach the queue at {self.url}: {exc}") from exc
        if resp.status_code >= 400:
            try:
                body = resp.json()
                message = body.get("message") or resp.text
                field, code = body.get("field"), body.get("error")
            except ValueError:
                message, field, code = resp.text or resp.reason_phrase, None, None
            cls = _BY_STATUS.get(resp.status_code, HealloopError)
            if resp.status_code == 409:
                cls = _CONFLICTS.get(str(code), Conflict)
            if resp.status_code >= 500:
                cls = Unavailable
            raise cls(f"{message} (HTTP {resp.status_code})", field=field)
        return resp

    # -- events
    def report(self, **fields: Any) -> dict[str, Any]:
        return self._call("POST", "/v1/events", json=fields).json()

    def claim(self, worker: str, *, wait: float = 0, lease: float = 60) -> dict[str, Any] | None:
        resp = self._call(
            "POST", "/v1/events/next", json={"worker": worker, "wait": wait, "lease": lease},
            timeout=self._http.timeout.read + wait if self._http.timeout.read else None,
        )
        return None if resp.status_code == 204 else resp.json()

    def claim_event(self, event_id: str, worker: str, *, lease: float = 60) -> dict[str, Any]:
        """Claim one queued event by id; a Conflict when it is not queued."""
        body = {"worker": worker, "lease": lease}
        return self._call("POST", f"/v1/events/{event_id}/claim", json=body).json()

    def heartbeat(self, event_id: str, token: str) -> dict[str, Any]:
        return self._call("POST", f"/v1/events/{event_id}/heartbeat", json={"token": token}).json()

    def release(self, event_id: str, token: str, note: str | None = None) -> dict[str, Any]:
        body = {"token": token, "note": note}
        return self._call("POST", f"/v1/events/{event_id}/release", json=body).json()

    def transition(
        self, event_id: str, token: str, to: str, note: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        body = {"token": token, "to": to, "note": note, "data": data}
        return self._call("POST", f"/v1/events/{event_id}/transition", json=body).json()

    def requeue(self, event_id: str, note: str | None = None) -> dict[str, Any]:
        return self._call("POST", f"/v1/events/{event_id}/requeue", json={"note": note}).json()

    def decide(self, event_id: str, approve: bool, by: str, reason: str | None = None,
               commit: str | None = None, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """Record a person's approval or rejection of a proposal (see QueueService.decide)."""
        body = {"by": by, "reason": reason, "commit": commit, "data": data}
        verb = "approve" if approve else "reject"
        return self._call("POST", f"/v1/events/{event_id}/{verb}", json=body).json()

    def revert_event(self, event_id: str, by: str, reason: str | None, reverted: list[str],
                     reverts: list[str]) -> dict[str, Any]:
        body = {"by": by, "reason": reason, "reverted": reverted, "reverts": reverts}
        return self._call("POST", f"/v1/events/{event_id}/revert", json=body).json()

    def close_event(self, event_id: str, note: str | None = None) -> dict[str, Any]:
        return self._call("POST", f"/v1/events/{event_id}/close", json={"note": note}).json()

    def get(self, event_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/events/{event_id}").json()

    def list(self, **filters: Any) -> list[dict[str, Any]]:
        params = {k: v for k, v in filters.items() if v is not None}
        return self._call("GET", "/v1/events", params=params).json()["events"]

    def stats(self, since: str | None = None, until: str | None = None, node: str | None = None
              ) -> dict[str, Any]:
        params = {k: v for k, v in (("since", since), ("until", until), ("node", node)) if v is not None}
        return self._call("GET", "/v1/stats", params=params).json()

    # -- artifacts
    def artifact(self, digest: str) -> bytes:
        """The bytes of one uploaded artifact (``GET /v1/artifacts/{digest}``, the digest from an event's
        ``artifacts[].digest`` or the end of its ``url``)."""
        if not digest or "/" in digest or digest.startswith("."):
            raise InvalidInput(f"`digest` must be an artifact digest, got {digest!r}", field="digest")
        return self._call("GET", f"/v1/artifacts/{digest}").content

    # -- nodes
    def register_node(self, name: str, mcp_url: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
        body = {"name": name, "mcp_url": mcp_url, "labels": labels or {}}
        return self._call("POST", "/v1/nodes", json=body).json()

    def nodes(self) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/nodes").json()["nodes"]

    def mute(self, spec: str, test: str, seconds: int, reason: str | None = None) -> dict[str, Any]:
        body = {"spec": spec, "test": test, "seconds": seconds, "reason": reason}
        return self._call("POST", "/v1/mutes", json=body).json()

    def unmute(self, spec: str, test: str) -> None:
        self._call("DELETE", "/v1/mutes", params={"spec": spec, "test": test})

    def mutes(self) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/mutes").json()["mutes"]

    # -- run history and quarantine
    def runs(self, node: str, run_id: str, passed: list[tuple[str, str]], source: str | None = None,
             sent_at: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"node": node, "run_id": run_id,
                                "passed": [{"spec": s, "test": t} for s, t in passed]}
        body.update({k: v for k, v in (("source", source), ("sent_at", sent_at)) if v is not None})
        return self._call("POST", "/v1/runs", json=body).json()

    def test_view(self, spec: str, test: str) -> dict[str, Any]:
        return self._call("GET", "/v1/test", params={"spec": spec, "test": test}).json()

    def quarantine(self, spec: str, test: str, owner: str, seconds: int, reason: str | None = None
                   ) -> dict[str, Any]:
        body = {"spec": spec, "test": test, "owner": owner, "seconds": seconds, "reason": reason}
        return self._call("POST", "/v1/quarantines", json=body).json()

    def quarantines(self) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/quarantines").json()["quarantines"]

    def lift_quarantine(self, spec: str, test: str, by: str, reason: str | None = None) -> dict[str, Any]:
        body = {"spec": spec, "test": test, "by": by, "reason": reason}
        return self._call("POST", "/v1/quarantines/lift", json=body).json()
