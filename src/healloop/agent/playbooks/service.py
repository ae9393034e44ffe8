"""Service unreachable: map the failing URL or port to a configured service, restart it, verify."""

from __future__ import annotations

from urllib.parse import urlsplit

from healloop.agent.classify import SERVICE_UNREACHABLE
from healloop.agent.context import Context
from healloop.agent.playbooks import Action, Plan

NAME = "service_restart"


def _port(url: str | None) -> int | None:
    if not url:
        return None
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # a URL template in the test source, e.g. http://127.0.0.1:{PORT}/health
        return None
    return port or (443 if parts.scheme == "https" else 80)


def find_service(ctx: Context) -> tuple[str | None, str]:
    services = ctx.info.get("services") or {}
    ports = set(ctx.classification.ports) | {p for u in ctx.classification.urls if (p := _port(u))}
    for name, svc in services.items():
        port = _port(svc.get("health_url"))
        if port and port in ports:
            return name, f"port {port} of the failing request is the port of service {name!r}"
    text = ctx.message.lower()
    for name in services:
        if name.lower() in text:
            return name, f"the failure names service {name!r}"
    down = [n for n, s in ctx.services.items() if not s.get("healthy")]
    if len(down) == 1:
        return down[0], f"service {down[0]!r} is the only configured service that is not healthy"
    return None, "no configured service matches the failing URL or port"


def applies(ctx: Context) -> bool:
    return ctx.classification.kind == SERVICE_UNREACHABLE


def plan(ctx: Context) -> Plan | None:
    name, why = find_service(ctx)
    if name is None:
        return Plan(NAME, escalate=True, why=why)
    status = ctx.services.get(name, {})
    if status.get("healthy"):
        return Plan(
            NAME, why=f"{why}; it is healthy now, so rerun without restarting", details={"service": name}
        )
    return Plan(
        NAME,
        actions=[
            Action("service_restart", {"name": name}, f"{name} is {status.get('detail') or 'not healthy'}")
        ],
        why=why,
        details={"service": name, "status": status},
    )
