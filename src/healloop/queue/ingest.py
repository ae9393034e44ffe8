"""Alerts from Alertmanager (webhook payload version 4) and Grafana as failure reports.

Each firing alert becomes a ``kind: alert`` report keyed by the alert's own fingerprint; a resolved
alert becomes a note on its event. Grafana's webhook contact point sends the same shape with extra
fields, so one decoder serves both; unknown fields are ignored here (unlike our own API) because
those senders add fields between versions.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from healloop.queue.model import ReportIn
from healloop.queue.rules import fingerprint

ALERT_STATUSES = ("firing", "resolved")
# Who sent the webhook (the events' `source`): ?source=, else grafana when the body has an orgId.
ALERT_SOURCES = ("alertmanager", "grafana")
_SEVERITY = {"critical": 1, "page": 1, "high": 2, "error": 2, "major": 2, "warning": 3,
             "minor": 4, "info": 4, "none": 5}


class Alert(msgspec.Struct):
    status: Annotated[str, msgspec.Meta(min_length=1)]
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    # The webhook's own camelCase field names. Times are RFC 3339, as the queue's own are.
    startsAt: Annotated[str, msgspec.Meta(extra_json_schema={"format": "date-time"})] | None = None
    endsAt: Annotated[str, msgspec.Meta(extra_json_schema={"format": "date-time"})] | None = None
    generatorURL: str | None = None
    fingerprint: str | None = None


class AlertWebhook(msgspec.Struct):
    version: str
    status: str
    alerts: list[Alert]
    receiver: str = ""
    groupKey: str = ""
    externalURL: str = ""
    orgId: int | None = None


def alert_fingerprint(alert: Alert) -> str:
    if alert.fingerprint:
        return f"alert:{alert.fingerprint}"
    return fingerprint("alert", "alertmanager", None, None, alert.labels)


def _node(alert: Alert, fallback: str) -> str:
    labels = alert.labels
    if labels.get("node"):
        return labels["node"]
    if labels.get("instance"):
        return labels["instance"].rsplit(":", 1)[0] or labels["instance"]
    return fallback


def to_report(alert: Alert, *, source: str, node: str | None, receiver: str) -> ReportIn:
    a = alert.annotations
    name = alert.labels.get("alertname", "alert")
    message = a.get("summary") or a.get("description") or a.get("message") or name
    if a.get("description") and a.get("description") != message:
        message = f"{message}\n{a['description']}"
    # Alertmanager resends a firing alert every repeat interval: one firing is one report.
    key = f"{source}:{alert.fingerprint or alert_fingerprint(alert)}:{alert.startsAt or ''}"
    return ReportIn(
        node=node or _node(alert, receiver or source),
        source=source,
        message=message,
        kind="alert",
        priority=_SEVERITY.get(alert.labels.get("severity", "").lower(), 3),
        occurred_at=alert.startsAt if alert.startsAt and not alert.startsAt.startswith("0001") else None,
        labels=dict(alert.labels),
        artifacts=[],
        idempotency_key=key[:256],
        fingerprint=alert_fingerprint(alert)[:256],
        stack=alert.generatorURL,
    )
