"""schemathesis against the live OpenAPI document of a real queue: every operation it lists, with
generated bodies, paths and queries, as each role. No answer may be a 5xx, and answers must conform to
the document (status codes, content types, response schemas).

Bounded: MAX_EXAMPLES per operation and role (25 s in all on 2 cores)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi import checks as openapi_checks

from tests.support import QueueServer, failure

ADMIN = "admin-token-for-fuzzing"
# Every role the queue knows, and none: each fuzzes the whole document with its own token (made by
# `healloop token create` on the queue's file; "admin" is the old single --token).
ROLES = ("no token", "admin", "reporter", "agent", "node", "operator")
MAX_EXAMPLES = 25
# A claim may long-poll up to 30 s when nothing is queued: the queue is kept full so every generated
# claim is answered at once (each takes one event).
BACKLOG = 400


TOKENS: dict[str, str | None] = {"no token": None, "admin": ADMIN}


@pytest.fixture(scope="module")
def queue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QueueServer]:
    db: Path = tmp_path_factory.mktemp("fuzz") / "events.db"
    server = QueueServer(db, token=ADMIN).start()
    for role in ROLES[2:]:
        made = subprocess.run([sys.executable, "-m", "healloop", "token", "create", "--role", role,
                               "--name", "ci-1" if role == "node" else f"fuzz-{role}", "--db", str(db)],
                              capture_output=True, text=True, timeout=60)
        assert made.returncode == 0, made.stderr
        TOKENS[role] = made.stdout.strip()
    with server.client() as c:
        for i in range(BACKLOG):
            assert c.post("/v1/events", json=failure(f"backlog-{i}")).status_code == 201
    yield server
    server.stop()


def operations(server: QueueServer) -> list[schemathesis.APIOperation]:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]

# What must hold today: no 5xx, and every answer is one the document lists, with its content type,
# headers and schema.
MUST = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.response_headers_conformance,
]
# The document against the server the other way round: a request the document calls valid is
# accepted, and an open route is documented as open.
DOCUMENT_AS_STRICT_AS_THE_SERVER = [openapi_checks.positive_data_acceptance, openapi_checks.ignored_auth]
# Operations whose valid requests the document cannot say in full, and why. They still get MUST.
ACROSS_PARAMETERS = {
    "GET /v1/stats": "`until` after `since` and at most 366 days later is a rule across two parameters, "
                     "which JSON Schema cannot say (each one alone is as strict as the server)",
}


def fuzz(server: QueueServer, role: str, checks: list, skip: dict[str, str] | None = None) -> list[str]:
    """Runs every operation of the live document as ``role``; returns the failures, one per operation."""
    token = TOKENS[role]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    ops = operations(server)
    assert len(ops) >= 10, [op.label for op in ops]
    assert not set(skip or {}) - {op.label for op in ops}, "a skipped operation is not in the document"
    failures: list[str] = []
    for op in ops:
        if op.label in (skip or {}):
            continue

        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=server.url, headers=headers, timeout=15, checks=checks)

        try:
            check()
        # schemathesis reports a BaseExceptionGroup; every operation is tried, the failures listed together.
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            failures.append(f"{op.label} as {role}: {exc}")
    return failures


@pytest.mark.timeout(300)
@pytest.mark.parametrize("role", ROLES)
def test_every_operation_answers_without_5xx_and_as_documented(queue: QueueServer, role: str) -> None:
    failures = fuzz(queue, role, MUST)
    assert not failures, "\n\n".join(failures)


@pytest.mark.timeout(300)
def test_the_document_is_as_strict_as_the_server(queue: QueueServer) -> None:
    failures = fuzz(queue, "admin", DOCUMENT_AS_STRICT_AS_THE_SERVER, skip=ACROSS_PARAMETERS)
    assert not failures, "\n\n".join(failures)
