"""Reports and state moves stay well below the queue's 1 MiB body limit, however large the workspace's
commit subjects, logs and diffs are; and a move the queue still refuses as too large goes again, cut."""

from __future__ import annotations

import json

import anyio

from healloop.agent.bounds import MARK, bound, clip, fit, size
from healloop.agent.worker import FALLBACK_DATA_BYTES, Agent, AgentConfig, EventJob
from healloop.client import QueueClient
from tests.agent.conftest import git, history_data
from tests.support import failure

SUBJECT = 300_000  # characters of each huge commit subject: five made a 2.1 MB report


def commit_with_subject(ws, subject: str, files: dict[str, str]) -> str:
    """A commit whose one-line subject is ``subject`` (from a file: it is longer than an argument may be)."""
    for name, text in files.items():
        (ws.repo / name).parent.mkdir(parents=True, exist_ok=True)
        (ws.repo / name).write_text(text)
    message = ws.root / "message.txt"
    message.write_text(subject + "\n")
    git(ws.repo, "add", "-A")
    git(ws.repo, "commit", "-q", "-F", str(message))
    return git(ws.repo, "rev-parse", "HEAD").strip()


def test_an_escalation_after_commits_with_huge_subjects_keeps_its_report(ws):
    for i in range(4):
        commit_with_subject(ws, f"notes {i}: " + "x" * SUBJECT, {f"notes/{i}.txt": f"{i}\n"})
    suspect = commit_with_subject(ws, "pricing: add a service fee " + "y" * SUBJECT,
                                  {"app/pricing.py": "def total(prices):\n    return sum(prices) + 1\n"})
    event_id = ws.report_failure("tests/test_pricing.py", "test_total")
    ws.start_agent()
    event = ws.wait_final(event_id)
    assert event["status"] == "escalated", [(h["to"], h.get("note")) for h in event["history"]]
    assert not event["history"][-1]["note"].startswith("agent error"), event["history"][-1]["note"]
    data = history_data(event, "escalated")[0]
    report = data["report"]
    assert report["suspect_commit"]["sha"] == suspect
    subject = report["suspect_commit"]["subject"]
    assert subject.startswith("pricing: add a service fee yyy") and MARK in subject
    assert len(subject) < 400
    assert all(MARK in c and len(c) < 400 for c in data["analysis"]["recent_commits"][:5])
    # The whole move, and each of its parts, well below the queue's 1 MiB.
    assert len(json.dumps(event["history"][-1])) < 256 * 1024


def test_a_move_the_queue_refuses_as_too_large_goes_again_cut(server):
    """An agent allowed more than the queue takes (as behind a proxy that allows less than the agent
    was told): the queue answers 413, and the move is sent again, cut, rather than lost."""
    with QueueClient(server.url) as q:
        event_id = q.report(**failure())["id"]
        claim = q.claim("w1", wait=0, lease=60)
        assert claim["event"]["id"] == event_id
        agent = Agent(AgentConfig(queue_url=server.url, max_data_kb=4096))
        job = EventJob(agent, q, claim, "w1")
        tail = "log line\n" * 250_000  # 2.25 MB: over the queue's limit, within the agent's
        anyio.run(job.move, "analyzing", "analysing on node-a", {"output_tail": tail, "class": "timeout"})
        event = q.get(event_id)
    assert event["status"] == "analyzing"
    data = history_data(event, "analyzing")[0]
    assert data["class"] == "timeout" and data["worker"] == "w1"
    assert data["output_tail"].startswith("log line\nlog line") and MARK in data["output_tail"]
    assert "refused" in data["trimmed"] and str(FALLBACK_DATA_BYTES) in data["trimmed"]
    assert size(data) < FALLBACK_DATA_BYTES + 1024


def test_bounds_cut_strings_lists_and_depth_with_a_marker():
    assert clip("short", 10) == "short"
    assert clip("a" * 50, 10) == "a" * 10 + f" {MARK} 40 more characters]"
    cut = bound({"log": "b" * 100, "items": list(range(30)), "deep": [[[["x"]]]]}, text=20, items=5, depth=3)
    assert cut["log"].startswith("b" * 20) and MARK in cut["log"]
    assert cut["items"][:5] == [0, 1, 2, 3, 4] and cut["items"][5] == f"{MARK} 25 more items]"
    assert cut["deep"] == [[f"{MARK} list nested too deep]"]]
    small = {"a": 1, "b": "two"}
    assert fit(small, 1000) is small  # within the limit: untouched
    big = {"keep": "k", "blob": ["z" * 5000] * 200}
    assert size(fit(big, 2000)) <= 2000 and fit(big, 2000)["keep"] == "k"
