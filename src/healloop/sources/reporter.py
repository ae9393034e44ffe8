"""The delivery core every Python source uses: idempotent reports, bounded retries, the spool.

A reporter must never fail or slow the run it reports on. So ``send`` never raises: a report is
delivered, or spooled for the next run, or (refused as invalid by the queue) kept in the spool's
``rejected/`` folder with the queue's message. Retries share one time budget per run
(``HEALLOOP_REPORT_BUDGET``, 5 s); once it is spent, or the token is refused, the queue counts as
down for the rest of the run: the outage is logged once and every later report goes straight to
the spool. With ``HEALLOOP_REPORT=off`` nothing is sent or spooled at all.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from healloop.client import QueueClient
from healloop.errors import (
    HealloopError,
    HostNotAllowed,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
)
from healloop.sources.artifacts import RunFolder
from healloop.sources.failure import Artifact, Failure, idempotency_key, test_names
from healloop.sources.settings import SourceSettings
from healloop.sources.spool import Spool, SpoolEntry
from healloop.timeutil import now_us, to_rfc3339

log = logging.getLogger(__name__)
T = TypeVar("T")
UPLOAD_TIMEOUT_S = 60.0
OFF_NOTICE = "reporting is off (HEALLOOP_REPORT=off); nothing sent"
# Passes per POST /v1/runs (the queue takes at most 2,000: queue/quarantine.py MAX_PASSED).
RUNS_CHUNK = 1000
# Spooled runs wait in this folder of the spool: the JavaScript reporters flush only the spool's own
# files (failure reports), and would send a runs body to the wrong route.
RUNS_FOLDER = "runs"
# The quarantined tests are fetched once per run and kept this long in the spool folder, so the many
# short runs of one CI job (shards, reruns) ask once.
QUARANTINE_CACHE_S = 60.0


class ReporterClient(QueueClient):
    """The queue client plus the artifact upload, which only reporters need."""

    def upload_artifact(self, event_id: str, artifact: Artifact) -> dict[str, Any]:
        with open(artifact.path, "rb") as fh:
            files = {"file": (artifact.name, fh, artifact.content_type)}
            resp = self._call("POST", f"/v1/events/{event_id}/artifacts", files=files,
                              timeout=httpx.Timeout(UPLOAD_TIMEOUT_S, connect=5.0))
        return resp.json()


@dataclass
class Outcome:
    status: str  # delivered | merged | spooled | rejected | lost | off
    event_id: str | None = None
    message: str = ""


class Reporter:
    def __init__(self, settings: SourceSettings, *, run_id: str | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], int] = now_us) -> None:
        self.settings = settings
        self.run_id = run_id or uuid.uuid4().hex
        self.spool = Spool(settings.spool_dir)
        self.artifacts = RunFolder(settings.artifacts_dir, self.run_id)
        self.counts: Counter[str] = Counter()
        self.refused_artifacts: list[str] = []
        self._budget = settings.budget_s
        self._down: str | None = None
        self._sleep, self._clock, self._wall = sleep, clock, wall  # wall: this machine's time, in µs
        self._client: ReporterClient | None = None
        self.runs_spool = Spool(settings.spool_dir / RUNS_FOLDER)
        self._quarantined: set[tuple[str, str]] | None = None

    # -- public
    def key(self, failure: Failure, run_id: str | None = None) -> str:
        return idempotency_key(run_id or self.run_id, failure.spec, failure.test, failure.attempt)

    def send(self, failure: Failure, *, run_id: str | None = None) -> Outcome:
        """Deliver one failure, or keep it; never raises, whatever the queue does.

        ``run_id`` overrides the reporter's own, e.g. the digest of a report file, so that
        reporting the same file twice is one report."""
        if self.off:
            self.counts["off"] += 1
            return Outcome("off", message=OFF_NOTICE)
        # Into the node's artifacts folder (when set) before the report names them.
        failure.artifacts = [self.artifacts.adopt(a, failure.spec, failure.test) for a in failure.artifacts]
        report = failure.to_report(self.settings.node, self.key(failure, run_id),
                                   self.artifacts.reported_path)
        if (report["spec"], report["test"]) in self.quarantined():
            # Said for the person reading the run's output; the queue decides the event's state itself.
            report["labels"]["quarantined"] = "true"
            self.counts["quarantined"] += 1
        entry = SpoolEntry(report=report, artifacts=[a for a in failure.artifacts if a.path.is_file()])
        outcome = self._deliver(entry)
        if outcome.status == "spooled":
            try:
                self.spool.put(entry)
            except OSError as exc:
                # Nothing else can keep it: say so loudly, but still leave the run alone.
                log.error("could not spool the report of %s > %s to %s: %s", failure.spec,
                          failure.test, self.spool.dir, exc)
                outcome = Outcome("lost", message=str(exc))
        elif outcome.status == "rejected":
            self._keep_rejected(entry, outcome)
        self.counts[outcome.status] += 1
        return outcome

    def send_runs(self, passed: list[tuple[str, str]], *, source: str, run_id: str | None = None) -> None:
        """Tell the queue which tests passed in this run (their run history; the clean runs that end a
        quarantine), in requests of RUNS_CHUNK; never raises. A chunk the queue cannot take now is
        spooled, like a report; each chunk's run_id (the run's, and its number) makes a retry count
        once."""
        if self.off or not passed:
            return
        names = [test_names(spec, test) for spec, test in passed]
        rid = run_id or self.run_id
        for i in range(0, len(names), RUNS_CHUNK):
            body = {"node": self.settings.node, "run_id": f"{rid}:{i // RUNS_CHUNK}", "source": source,
                    "passed": [{"spec": s, "test": t} for s, t in names[i:i + RUNS_CHUNK]]}
            entry = SpoolEntry(report=body)
            status = self._deliver_runs(entry)
            if status == "spooled":
                try:
                    self.runs_spool.put(entry)
                except OSError as exc:
                    log.error("could not spool the passes of this run to %s: %s", self.runs_spool.dir, exc)
                    status = "lost"
            self.counts[f"runs_{status}"] += 1
            if status == "delivered":
                self.counts["passes_sent"] += len(body["passed"])

    def quarantined(self) -> set[tuple[str, str]]:
        """The (spec, test) pairs quarantined now, asked of the queue once per run (or read from a cache
        of QUARANTINE_CACHE_S); empty when the queue cannot say (then no failure is marked: the queue
        still keeps a quarantined test's failure from the agents)."""
        if self._quarantined is None:
            self._quarantined = set()
            if not self.off:
                self._quarantined = self._read_quarantined()
        return self._quarantined

    def _read_quarantined(self) -> set[tuple[str, str]]:
        # Not *.json: the spool's own files are its entries.
        cache = self.settings.spool_dir / "quarantines.cache"
        key = f"{self.settings.url} {self.settings.node}"
        try:
            data = json.loads(cache.read_text(encoding="utf-8"))
            if data.get("key") == key and 0 <= time.time() - float(data["at"]) < QUARANTINE_CACHE_S:
                return {(q[0], q[1]) for q in data["tests"]}
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            pass  # no cache, or not ours: ask
        if self._down:
            return set()
        try:
            found = self._retrying(lambda: self._http().quarantines())
        except (Unavailable, Unauthorized, HostNotAllowed) as exc:
            self._mark_down(exc)  # the failure itself is spooled, without a second retry budget
            return set()
        except HealloopError as exc:
            log.warning("could not read the quarantined tests from %s: %s", self.settings.url, exc.message)
            return set()
        tests = sorted({(q["spec"], q["test"]) for q in found})
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(f".quarantines-{uuid.uuid4().hex}")
            tmp.write_text(json.dumps({"key": key, "at": time.time(), "tests": tests}), encoding="utf-8")
            os.replace(tmp, cache)
        except OSError as exc:
            log.debug("could not cache the quarantined tests: %s", exc)
        return set(tests)

    def _deliver_runs(self, entry: SpoolEntry) -> str:
        if self._down:
            return "spooled"
        body = entry.report
        try:
            passed = [(p["spec"], p["test"]) for p in body["passed"]]
            node, run_id = body["node"], body["run_id"]
        except (KeyError, TypeError) as exc:
            log.error("a spooled run in %s is not a runs body (%r missing); dropped", self.runs_spool.dir,
                      exc)
            return "rejected"
        client = self._http()
        try:
            self._retrying(lambda: client.runs(node, run_id, passed, body.get("source")))
        except (Unavailable, Unauthorized, HostNotAllowed) as exc:
            self._mark_down(exc)
            return "spooled"
        except HealloopError as exc:
            log.error("the queue refused this run's passes: %s", exc.message)
            return "rejected"
        return "delivered"

    def flush(self) -> Counter[str]:
        """Deliver what earlier runs spooled, oldest first; stops at the first sign of an outage."""
        done: Counter[str] = Counter()
        if self.off:
            return done
        for path in self.spool.pending():
            if self._down:
                break
            entry = self.spool.claim(path)
            if entry is None:
                continue
            outcome = self._deliver(entry)
            if outcome.status == "spooled":
                self.spool.release(entry)
            else:
                if outcome.status == "rejected":
                    self._keep_rejected(entry, outcome)
                self.spool.done(entry)
            done["flushed" if outcome.status in ("delivered", "merged") else outcome.status] += 1
        for path in self.runs_spool.pending():
            if self._down:
                break
            entry = self.runs_spool.claim(path)
            if entry is None:
                continue
            status = self._deliver_runs(entry)
            if status == "spooled":
                self.runs_spool.release(entry)
            else:
                self.runs_spool.done(entry)  # a refused one is logged; passes are not worth keeping aside
                # Counted apart from the reports' `done`, which `healloop report --flush` sums up.
                self.counts["runs_flushed" if status == "delivered" else "runs_rejected"] += 1
        self.counts.update(done)
        return done

    def finish(self) -> None:
        """End of a run: deliver older spooled reports while the queue answers, then sum up once.

        Every report of the run is uploaded or spooled with copies of its files by now, so a
        temporary artifacts folder goes."""
        if not self.off and not self._down and (self.spool.pending() or self.runs_spool.pending()):
            self.flush()
        if self._down and self.counts["spooled"]:
            log.warning("%d report(s) kept in %s; they are delivered on the next run or by "
                        "'healloop report --flush'", self.counts["spooled"], self.spool.dir)
        self.artifacts.cleanup()
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def off(self) -> bool:
        """``HEALLOOP_REPORT=off``: every report is dropped and the spool is left alone."""
        return not self.settings.report

    @property
    def down(self) -> str | None:
        return self._down

    # -- delivery
    def _http(self) -> ReporterClient:
        if self._client is None:
            self._client = ReporterClient(self.settings.url, self.settings.token,
                                          timeout=self.settings.timeout_s)
        return self._client

    def _mark_down(self, exc: HealloopError) -> None:
        if self._down is None:
            self._down = exc.message
            log.warning("the queue at %s is not taking reports (%s); reports of this run are kept in "
                        "%s and delivered later", self.settings.url, exc.message, self.spool.dir)

    def _retrying(self, call: Callable[[], T]) -> T:
        delay = 0.1
        while True:
            started = self._clock()
            try:
                return call()
            except Unavailable:
                self._budget -= self._clock() - started
                if self._budget <= 0:
                    raise
                pause = min(delay, self._budget)
                self._sleep(pause)
                self._budget -= pause
                delay *= 2

    def _deliver(self, entry: SpoolEntry) -> Outcome:
        if self._down:
            return Outcome("spooled", entry.event_id, self._down)
        client = self._http()
        status = "delivered"
        try:
            if entry.event_id is None:
                # sent_at, read at each try: the queue corrects occurred_at by this machine's clock
                # offset (a spooled report flushed later keeps its real, earlier occurred_at).
                answer = self._retrying(
                    lambda: client.report(**entry.report, sent_at=to_rfc3339(self._wall())))
                entry.event_id = answer["id"]
                status = "merged" if answer.get("merged") else "delivered"
            while entry.artifacts:
                self._upload(client, entry.event_id, entry.artifacts[0])
                entry.artifacts.pop(0)
        except (Unavailable, Unauthorized, HostNotAllowed) as exc:
            # The queue is down or refuses this machine's setup (token, host name): the report is kept
            # for when that is fixed, not set aside as invalid.
            self._mark_down(exc)
            return Outcome("spooled", entry.event_id, exc.message)
        except HealloopError as exc:
            log.error("the queue refused the report of %s > %s: %s", entry.report.get("spec"),
                      entry.report.get("test"), exc.message)
            return Outcome("rejected", entry.event_id, exc.message)
        return Outcome(status, entry.event_id)

    def _upload(self, client: ReporterClient, event_id: str, art: Artifact) -> None:
        try:
            self._retrying(lambda: client.upload_artifact(event_id, art))
        except (PayloadTooLarge, NotFound) as exc:
            # The report itself is in; only this file is refused, and its local path stays on it.
            message = f"artifact {art.name} of event {event_id} was not stored: {exc.message}"
            self.refused_artifacts.append(message)
            log.error("%s", message)
        except OSError as exc:
            log.warning("artifact %s is gone and was not uploaded: %s", art.path, exc)

    def _keep_rejected(self, entry: SpoolEntry, outcome: Outcome) -> None:
        entry.error = outcome.message
        try:
            self.spool.put(entry, rejected=True)
        except OSError as exc:
            log.error("could not keep the rejected report in %s: %s", self.spool.dir, exc)
