"""The OpenAPI document for ``/openapi.json`` and the Swagger UI page at ``/docs``.

Request schemas come from the same msgspec structs that validate the bodies, so the document
cannot drift from what the server accepts. Swagger UI is served from the swagger-ui-bundle
package: the docs work on a machine with no internet access.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec

from healloop import __version__
from healloop.queue.blobs import DIGEST_PATTERN, MAX_FILES_PER_UPLOAD
from healloop.queue.ingest import ALERT_SOURCES, ALERT_STATUSES, AlertWebhook
from healloop.queue.model import (
    NAME_PATTERN,
    NEEDS_SPEC_AND_TEST,
    ClaimIn,
    ClaimOneIn,
    DecisionIn,
    MuteIn,
    NodeIn,
    NoteIn,
    ReleaseIn,
    ReportIn,
    RevertIn,
    TokenIn,
    TransitionIn,
)
from healloop.queue.quarantine import MAX_PASSED, LiftIn, QuarantineIn, RunsIn
from healloop.queue.rules import STATES
from healloop.queue.stats import DEFAULT_SINCE, MAX_DAYS, OUTCOMES

_ERROR = {"$ref": "#/components/schemas/Error"}
_EVENT = {"$ref": "#/components/schemas/Event"}


def _body(name: str) -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
    }


def _reply(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description}
    if schema is not None:
        out["content"] = {"application/json": {"schema": schema}}
    return out


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Bad input: the message names the field.",
        401: "Missing, unknown or revoked bearer token.",
        403: "The token's role may not call this route, or the request came from a web origin the "
             "queue does not allow (see the README's Security section and Requests).",
        404: "Unknown event id.",
        409: "Lease lost, illegal move, attempts or a budget of fixes exhausted, or the event is in the "
             "wrong state.",
        413: "Body over 1 MiB.",
        415: "The body is not sent as `Content-Type: application/json`.",
        421: "The Host header names a host the queue does not answer to (`--allowed-host`).",
    }
    return {str(c): _reply(text[c], _ERROR) for c in (401, 403, 421, *codes)}


# Every route that reads a body answers 400 for a bad one, 413 for one over 1 MiB and 415 for one
# that is not JSON (the request guard).
_BODY = (400, 413, 415)


def _op(summary: str, body: str | None, ok: dict[str, Any], *errors: int, body_required: bool = True,
        **extra: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {**ok, **_errors(*errors)}}
    if body:
        op["requestBody"] = {**_body(body), "required": body_required}
    op.update(extra)
    return op


_COUNT = {"type": "integer", "minimum": 0}
_TIME = {"type": ["string", "null"], "format": "date-time"}
_SHARE = {"type": "number", "minimum": 0, "maximum": 1}


def _rows(**props: Any) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "object", "properties": props, "required": list(props)}}


_STATS = {"type": "object", "required": ["window", "events", "failures_per_day", "outcomes", "time_to_repair",
                                         "flaky_tests", "suspect_commits", "nodes", "notifications"],
          "properties": {
    "window": {"type": "object", "properties": {"since": _TIME, "until": _TIME,
                                                "node": {"type": ["string", "null"]}}},
    "events": _COUNT,
    "failures_per_day": _rows(day={"type": "string", "format": "date"}, events=_COUNT,
                              classes={"type": "object", "additionalProperties": _COUNT}),
    "outcomes": {"type": "object", "required": list(OUTCOMES), "properties": {
        o: {"type": "object", "properties": {"events": _COUNT, "share": _SHARE}} for o in OUTCOMES}},
    "time_to_repair": _rows(**{"class": {"type": "string"}}, events=_COUNT, mean_s={"type": "number"},
                            p90_s={"type": "number"}),
    "flaky_tests": _rows(spec={"type": "string"}, test={"type": "string"}, times=_COUNT, last_at=_TIME),
    "suspect_commits": _rows(sha={"type": "string"}, subject={"type": ["string", "null"]}, events=_COUNT,
                             last_at=_TIME),
    "nodes": _rows(node={"type": "string"}, events=_COUNT, resolved=_COUNT, share_resolved=_SHARE,
                   last_report=_TIME, last_seen=_TIME),
    "notifications": _rows(channel={"type": "string"}, failed=_COUNT, pending=_COUNT, delivered=_COUNT,
                           muted=_COUNT, digested=_COUNT, last_error={"type": ["string", "null"]}),
}}

_QUARANTINE = {"type": "object", "properties": {
    "spec": {"type": "string"}, "test": {"type": "string"}, "owner": {"type": "string"},
    "reason": {"type": ["string", "null"]}, "automatic": {"type": "boolean"}, "since": _TIME, "until": _TIME,
    "active": {"type": "boolean"}, "ended": {"type": ["string", "null"],
                                             "enum": ["lifted", "released", "expired", None]},
    "clean_runs": _COUNT, "clean_nodes": {"type": "array", "items": {"type": "string"}},
    "lifted_at": _TIME, "lifted_by": {"type": ["string", "null"]}, "lift_note": {"type": ["string", "null"]}}}

_ID = [{"name": "event_id", "in": "path", "required": True, "schema": {"type": "string"}}]


def _as_strict_as_the_service(components: dict[str, Any]) -> None:
    """What the service checks beyond the msgspec types, said in JSON Schema from the same constants."""
    report = components["ReportIn"]
    # spec and test are required (and not null) for the kind that names them; kind defaults to it, so
    # the `if` holds when kind is absent too.
    report["if"] = {"properties": {"kind": {"const": NEEDS_SPEC_AND_TEST}}}
    report["then"] = {"required": ["spec", "test"],
                      "properties": {"spec": {"type": "string"}, "test": {"type": "string"}}}
    # An artifact gives a `url` or a `path`, not empty.
    components["ArtifactRef"]["anyOf"] = [
        {"required": [key], "properties": {key: {"type": "string", "minLength": 1}}}
        for key in ("url", "path")
    ]
    components["TransitionIn"]["properties"]["to"]["enum"] = list(STATES)
    components["AlertWebhook"]["properties"]["alerts"]["items"] = {"allOf": [
        components["AlertWebhook"]["properties"]["alerts"]["items"],
        {"properties": {"status": {"enum": list(ALERT_STATUSES)}}}]}


# A time of GET /v1/stats: RFC 3339, or back from now (stats._RELATIVE). That `until` comes after
# `since`, at most MAX_DAYS later, is a rule across the two that JSON Schema cannot say.
_WHEN = {"anyOf": [{"type": "string", "format": "date-time"},
                   {"type": "string", "pattern": r"^\d{1,6}[mhdw]$"}]}
_STATS_PARAMS = {"since": _WHEN, "until": _WHEN,
                 "node": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": NAME_PATTERN}}


@functools.cache
def openapi_document() -> dict[str, Any]:
    _, components = msgspec.json.schema_components(
        [ReportIn, ClaimIn, ClaimOneIn, TokenIn, ReleaseIn, TransitionIn, NoteIn, NodeIn, MuteIn, RevertIn,
         DecisionIn, AlertWebhook, RunsIn, QuarantineIn, LiftIn],
        ref_template="#/components/schemas/{name}",
    )
    _as_strict_as_the_service(components)
    components["Error"] = {
        "type": "object",
        "properties": {"error": {"type": "string"}, "message": {"type": "string"},
                       "field": {"type": "string"}},
        "required": ["error", "message"],
    }
    components["Event"] = {
        "type": "object",
        "description": "An event; `history` is included by GET /v1/events/{event_id} only.",
        "properties": {
            "id": {"type": "string", "example": "evt_01JDXK3W2V6Q9T8E7RZ5N4M3P2"},
            "status": {"type": "string", "enum": list(STATES)},
            "count": {"type": "integer"},
            "nodes": {"type": "array", "items": {"type": "string"}},
            "attempt": {"type": "integer"},
            "fingerprint": {"type": "string"},
            "history": {"type": "array", "items": {"type": "object"}},
            "notifications": {"type": "array", "items": {"type": "object"}, "description":
                              "GET /v1/events/{event_id} only: what each channel was told of this "
                              "event and whether it got it (channel, outcome, status, attempts, "
                              "last_error)"},
        },
        "additionalProperties": True,
    }
    report_reply = {"type": "object", "properties": {
        "id": {"type": "string"}, "status": {"type": "string"}, "count": {"type": "integer"},
        "merged": {"type": "boolean"}}}
    paths = {
        "/v1/events": {
            "post": _op("Report a failure", "ReportIn", {
                "201": _reply("A new event", report_reply),
                "200": _reply("Merged into an existing event (or a repeated idempotency key)",
                              report_reply),
            }, *_BODY),
            "get": _op("List events, newest first", None, {
                "200": _reply("Events", {"type": "object", "properties": {
                    "events": {"type": "array", "items": _EVENT}}}),
            }, 400, parameters=[
                {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(STATES)}},
                {"name": "node", "in": "query", "schema": {"type": "string"}},
                {"name": "fingerprint", "in": "query", "schema": {"type": "string"}},
                {"name": "spec", "in": "query", "schema": {"type": "string"}},
                {"name": "class", "in": "query", "description": "The failure class the agent found "
                 "(selector_not_found, ...)", "schema": {"type": "string", "pattern": "^[a-z0-9_]{1,64}$"}},
                {"name": "label", "in": "query", "description": "key=value, such as branch=main",
                 "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:/-]{1,64}="}},
                {"name": "since", "in": "query", "description": "Created at or after (RFC 3339)",
                 "schema": {"type": "string", "format": "date-time"}},
                {"name": "q", "in": "query", "description": "Text in the test name, message or spec",
                 "schema": {"type": "string", "maxLength": 200}},
                {"name": "limit", "in": "query",
                 "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
            ]),
        },
        "/v1/events/next": {"post": _op(
            "Claim the most urgent, oldest queued event under a lease (long-poll with `wait`)",
            "ClaimIn",
            {"200": _reply("Claimed: the event and its lease {token, fencing, expires_at}"),
             "204": _reply("Nothing to claim within `wait`")}, *_BODY)},
        "/v1/events/{event_id}": {"get": _op(
            "An event with its history", None, {"200": _reply("The event", _EVENT)}, 404,
            parameters=_ID)},
        "/v1/events/{event_id}/claim": {"post": _op(
            "Claim this queued event under a lease (an agent taking the events its repair also resolves)",
            "ClaimOneIn",
            {"200": _reply("Claimed: the event and its lease {token, fencing, expires_at}")}, *_BODY, 404,
            409, parameters=_ID)},
        "/v1/events/{event_id}/heartbeat": {"post": _op(
            "Extend the lease by the lease length given at claim", "TokenIn",
            {"200": _reply("New expires_at")}, *_BODY, 404, 409, parameters=_ID)},
        "/v1/events/{event_id}/release": {"post": _op(
            "Give the event back to the queue", "ReleaseIn",
            {"200": _reply("The event", _EVENT)}, *_BODY, 404, 409, parameters=_ID)},
        "/v1/events/{event_id}/transition": {"post": _op(
            "Move a held event: processing→analyzing|escalated; analyzing→fixing|verifying|"
            "escalated; fixing→verifying|analyzing|escalated; verifying→resolved|proposed|analyzing|"
            "escalated",
            "TransitionIn", {"200": _reply("The event", _EVENT)}, *_BODY, 404, 409, parameters=_ID)},
        "/v1/events/{event_id}/requeue": {"post": _op(
            "Requeue an escalated event with a fresh start (the body may be empty)", "NoteIn",
            {"200": _reply("The event", _EVENT)}, *_BODY, 404, 409, parameters=_ID, body_required=False)},
        "/v1/events/{event_id}/close": {"post": _op(
            "Close an escalated event as resolved (the body may be empty)", "NoteIn",
            {"200": _reply("The event", _EVENT)}, *_BODY, 404, 409, parameters=_ID, body_required=False)},
        "/v1/events/{event_id}/revert": {"post": _op(
            "Record that a person undid a resolved event's fix (`healloop revert` does the git side): "
            "the event is escalated again", "RevertIn",
            {"200": _reply("The event", _EVENT)}, *_BODY, 404, 409, parameters=_ID)},
        "/v1/events/{event_id}/approve": {"post": _op(
            "Record that a person approved a proposed fix (`healloop approve` lands its branch on the node "
            "first and passes the landed `commit`): the event is resolved", "DecisionIn",
            {"200": _reply("The event", _EVENT)}, *_BODY, 404, 409, parameters=_ID)},
        "/v1/events/{event_id}/reject": {"post": _op(
            "Record that a person rejected a proposed fix (`healloop reject` deletes its branch first): "
            "the event is escalated, and agents never propose the same element again", "DecisionIn",
            {"200": _reply("The event", _EVENT)}, *_BODY, 404, 409, parameters=_ID)},
        **{f"/v1/ingest/{forge}": {"post": _op(
            f"{forge} webhook ({header}): a merged healloop/<event id> pull request approves its "
            "proposal, one closed unmerged rejects it; other deliveries are answered `{ignored}`. With "
            "`serve --forge-secret` the signature is checked instead of the bearer token", None,
            {"200": _reply("The event, or {ignored: why}", _EVENT)}, *_BODY, 404, 409)}
           for forge, header in (("github", "X-Hub-Signature-256"), ("gitlab", "X-Gitlab-Token"),
                                 ("gitea", "X-Gitea-Signature"))},
        "/v1/events/{event_id}/artifacts": {"post": _op(
            f"Upload screenshots, DOM snapshots or logs (up to {MAX_FILES_PER_UPLOAD} parts named `file`); "
            "each is stored once by its digest and added to the event's `artifacts`", None,
            {"201": _reply("The stored files", {"type": "object", "properties": {
                "artifacts": {"type": "array", "items": {"type": "object", "properties": {
                    "name": {"type": "string"}, "content_type": {"type": "string"},
                    "digest": {"type": "string"}, "size": {"type": "integer"},
                    "url": {"type": "string"}}}}}})},
            400, 404, 413, parameters=_ID,
            requestBody={"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["file"], "properties": {"file": {
                    "type": "array", "maxItems": MAX_FILES_PER_UPLOAD,
                    "items": {"type": "string", "format": "binary"}}}}}}})},
        "/v1/artifacts/{digest}": {"get": _op(
            "A stored file, with its content type (served with nosniff and a sandboxing CSP)", None,
            {"200": {"description": "The file's bytes", "content": {"*/*": {"schema": {
                "type": "string", "format": "binary"}}}}}, 400, 404,
            parameters=[{"name": "digest", "in": "path", "required": True,
                         "schema": {"type": "string", "pattern": DIGEST_PATTERN}}])},
        "/v1/ingest/alertmanager": {"post": _op(
            "Alertmanager (webhook version 4) or Grafana webhook: each firing alert is reported as a "
            "`kind: alert` event, each resolved one adds a note to its event", "AlertWebhook",
            {"200": _reply("The reports and notes", {"type": "object", "properties": {
                "events": {"type": "array", "items": report_reply}, "notes": {"type": "integer"}}})},
            *_BODY, parameters=[
                {"name": "source", "in": "query", "schema": {"type": "string", "enum": list(ALERT_SOURCES)}},
                {"name": "node", "in": "query", "schema": {"type": "string"}}])},
        "/v1/nodes": {
            "post": _op("Register or refresh a tool node", "NodeIn", {"200": _reply("The node")}, *_BODY),
            "get": _op("List tool nodes with their last-seen time", None, {"200": _reply("Nodes")}),
        },
        "/v1/stats": {"get": _op(
            "The trends of the events created in a window that a node took part in: failures per UTC day "
            "by class, how the events stand (healed by the agent, approved, closed, proposed, escalated, "
            "reverted, open), time to repair by class, the most flaky tests, the most suspected commits, "
            "node health and notification failures", None,
            {"200": _reply("The figures", _STATS)}, 400, parameters=[
                {"name": name, "in": "query", "description": text, "schema": _STATS_PARAMS[name]}
                for name, text in (
                    ("since", f"RFC 3339 (2026-11-25T08:30:00Z) or back from now (7d, 24h, 30m, 2w); "
                              f"default {DEFAULT_SINCE}; at most {MAX_DAYS} days before `until`"),
                    ("until", "RFC 3339 or back from now, after `since`; default now"),
                    ("node", "only events this node reported or joined"))])},
        "/v1/runs": {"post": _op(
            f"The tests that passed in one run on one node (at most {MAX_PASSED}; send a bigger suite in "
            "several requests, each with its own run_id): each counts a pass in the test's run history, "
            "and a clean run of a quarantined test. The same node and run_id is counted once (24 h)",
            "RunsIn", {"200": _reply("Counted", {"type": "object", "properties": {
                "counted": _COUNT, "duplicate": {"type": "boolean"},
                "released": _rows(spec={"type": "string"}, test={"type": "string"},
                                  note={"type": "string"})}})}, *_BODY)},
        "/v1/test": {"get": _op(
            "One test across every node: passes and failures and the last runs per node, the flake rate "
            "(runs healloop called flaky over all recorded runs), the heals with their commits, the "
            "last good run, and its quarantine now and before", None,
            {"200": _reply("The test", {"type": "object", "required": [
                "spec", "test", "runs", "nodes", "flaky_calls", "flake_rate", "failure_rate",
                "last_good_run", "heals", "events", "quarantine", "quarantines"]})}, 400,
            parameters=[{"name": name, "in": "query", "required": True,
                         "schema": {"type": "string", "minLength": 1, "pattern": NAME_PATTERN}}
                        for name in ("spec", "test")])},
        "/v1/quarantines": {
            "post": _op("Quarantine a test for `seconds`: its failures are kept and counted, never handed "
                        "to an agent (a quarantine in force is replaced)", "QuarantineIn",
                        {"201": _reply("The quarantine", _QUARANTINE)}, *_BODY),
            "get": _op("Quarantines in force (reporters read it to mark quarantined failures)", None,
                       {"200": _reply("Quarantines", {"type": "object", "properties": {
                           "quarantines": {"type": "array", "items": _QUARANTINE}}})}),
        },
        "/v1/quarantines/lift": {"post": _op(
            "Lift a test's quarantine now: its quarantined events go back to the queue", "LiftIn",
            {"200": _reply("The ended quarantine, with `requeued` events", _QUARANTINE)}, *_BODY, 404)},
        "/v1/mutes": {
            "post": _op("Mute a test's notifications for `seconds`", "MuteIn", {"201": _reply("The mute")},
                        *_BODY),
            "get": _op("Mutes in force", None, {"200": _reply("Mutes")}),
            "delete": _op("Lift a mute", None, {"204": _reply("Lifted")}, 400, 404, parameters=[
                {"name": name, "in": "query", "required": True,
                 "schema": {"type": "string", "minLength": 1, "pattern": NAME_PATTERN}}
                for name in ("spec", "test")]),
        },
        # Open with or without a token (roles.ANYONE): a probe, a scraper and a reader of the API.
        "/healthz": {"get": {"summary": "Liveness", "security": [], "responses": {"200": _reply("ok")}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "security": [],
                             "responses": {"200": _reply("text")}}},
        "/openapi.json": {"get": {"summary": "This document", "security": [],
                                  "responses": {"200": _reply("OpenAPI 3.1")}}},
        "/docs": {"get": {"summary": "Swagger UI for this document", "security": [],
                          "responses": {"200": _reply("HTML")}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "healloop event queue", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def swagger_static_dir() -> str:
    import swagger_ui_bundle

    return swagger_ui_bundle.swagger_ui_path


def swagger_html() -> str:
    return """<!doctype html>
<html><head><meta charset="utf-8"><title>healloop event queue API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui"});</script>
</body></html>"""
