"""Which failures a reporter marks ``local``. The vectors are shared with the JavaScript reporters'
copy (integrations/cypress/test/locality.test.js), so both answer alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from healloop.agent.classify import SERVICE_UNREACHABLE, classify
from healloop.sources.failure import MAX_LABEL, Failure
from healloop.sources.locality import is_local

VECTORS = json.loads((Path(__file__).parent / "fixtures" / "locality.json").read_text(encoding="utf-8"))


def test_the_vectors_cover_both_answers() -> None:
    assert all((v["reason"] is not None) == v["local"] for v in VECTORS)
    assert sum(v["local"] for v in VECTORS) >= 10 and sum(not v["local"] for v in VECTORS) >= 10


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_is_local(vector: dict) -> None:
    assert is_local(vector["message"], vector["stack"]) == vector["reason"]


@pytest.mark.parametrize("vector", [v for v in VECTORS if (v["reason"] or "").startswith("connection")],
                         ids=lambda v: v["name"])
def test_a_local_connection_failure_is_one_the_agent_sees_as_an_unreachable_service(vector: dict) -> None:
    # The agent restarts the service it finds down; a report it would not classify so could not be
    # repaired on the machine that the queue keeps it for.
    assert classify(vector["message"], vector["stack"]).kind == SERVICE_UNREACHABLE


def _failure(message: str, stack: str | None = None) -> Failure:
    return Failure(source="pytest", spec="tests/test_shop.py", test="test_checkout", message=message,
                   stack=stack)


def test_to_report_marks_a_local_failure_and_says_why() -> None:
    body = _failure("urllib.error.URLError: <urlopen error [Errno 111] Connection refused>",
                    ">       urlopen('http://127.0.0.1:8000/health')").to_report("ci-7", "k1")
    assert body["local"] is True
    assert body["labels"]["local_reason"] == "connection refused to 127.0.0.1:8000"


def test_to_report_leaves_a_shared_failure_unmarked() -> None:
    for message in ("AssertionError: refund should include shipping\nassert 10 == 12",
                    "Error: connect ECONNREFUSED 10.0.0.5:5432"):
        body = _failure(message).to_report("ci-7", "k1")
        assert "local" not in body and "local_reason" not in body["labels"]


def test_a_huge_host_name_is_cut_to_fit_a_label() -> None:
    body = _failure(f"Error: connect ECONNREFUSED {'a' * 3000}.localhost:3000").to_report("ci-7", "k1")
    assert body["local"] is True and len(body["labels"]["local_reason"]) <= MAX_LABEL
