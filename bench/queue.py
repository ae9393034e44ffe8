"""Load test of the queue's HTTP API against a trivial Starlette ceiling, empty and with a long history.

    .venv/bin/python bench/queue.py                 # the full run (10 s per load, 1,000,000 history)
    .venv/bin/python bench/queue.py --quick         # a smoke test: 2 s per load, 20,000 history

Load comes from ``wrk`` (Debian's package: ``apt-get install -y wrk``, or ``bench/setup``), a separate
process, with the Lua scripts in ``bench/lua``. Each phase starts ``healloop serve`` on a database,
and the trivial app (``bench/trivial_server.py``, same uvicorn settings as ``healloop serve``) on
another free port, then runs each load ``--repeats`` times for ``--duration`` seconds with
``--connections`` connections over ``--threads`` wrk threads (first trivial GET, trivial POST and
claim+transition round-robin, then the two ingests round-robin):

    trivial GET       GET /hello of the trivial app (a small JSON answer)
    trivial POST      POST /echo of the trivial app with an ingest-sized body: the ceiling
    ingest distinct   POST /v1/events, every report a failure never seen before (201, new event)
    ingest repeats    POST /v1/events, 50 failures from 20 nodes over and over (200, merged)
    claim+transition  claim (wait 0), then analyzing, fixing, verifying, resolved with the token:
                      5 requests per event, all counted; beforehand the queue is filled (by an
                      unmeasured client) to ceiling rate x duration / 5 events, so a claim never
                      finds it empty (the 204 count is printed and should be 0); claims run before
                      the ingests, whose new events would otherwise deepen the backlog

and, before the loads while the queue is empty, the long-poll wake-up: one worker's claim with
``wait: 10`` is parked (sent, then 20 ms of quiet), a new failure is reported on a second connection,
and the time from sending the report to the worker's 200 arriving is one sample (the time from the
report's 201 arriving to the worker's 200 is printed too). Raw HTTP/1.1 over asyncio streams, one
sample at a time, nothing else running.

Phase 1 uses an empty database; phase 2 the same scenarios on a database built with ``--history``
events already resolved (bench/history_db.py, written by SQLite directly with the project's schema).
Rates are the median of the repeats. Targets (informational; the exit status is 0 whatever they say):
ingest >= 50% of the ceiling, claim+transition >= 40%, wake-up p99 < 10 ms, and with the history
every rate >= 80% of the empty database's.

    .venv/bin/python bench/queue.py --quick --db postgresql://postgres@127.0.0.1/postgres --servers 3

``--db URL`` runs phase 1 a second time on PostgreSQL, on a database ``healloop_bench_<random>`` the
bench creates on that server and drops afterwards, and prints both backends side by side (the history
phase is then off unless ``--history`` asks for it: it writes SQLite only). ``--servers N`` then
measures claim+transition and ingest distinct with 1, 2 .. N servers on one fresh database each time,
one wrk process per server, the connections and wrk threads split among them, rates summed.
"""

from __future__ import annotations

import os
import sys

# This file is named queue.py: keep the standard library's ``queue`` ahead of it on sys.path.
_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or ".") == _HERE:
    sys.path.append(sys.path.pop(0))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import history_db  # noqa: E402

LUA = Path(_HERE) / "lua"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# scenario -> (what it is compared with, minimum ratio); None: no target of its own
TARGETS: dict[str, tuple[str, float] | None] = {
    "trivial GET": None,
    "trivial POST": None,
    "ingest distinct": ("trivial POST", 0.50),
    "ingest repeats": ("trivial POST", 0.50),
    "claim+transition": ("trivial POST", 0.40),
}
CEILING = "trivial POST"
WAKE_P99_MS = 10.0
HISTORY_RATIO = 0.80


# -- processes
class Server:
    """A server process started by the bench; its first stdout line names the URL."""

    def __init__(self, name: str, argv: list[str], db: str | None = None) -> None:
        self.name = name
        self.db = db  # a postgresql:// URL: its backends' CPU is measured beside the server's
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        m = re.search(r"http://([\d.]+):(\d+)", line)
        if not m:
            self.proc.kill()
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise SystemExit(f"{name} did not start: {line.strip()} {err.strip()}")
        self.host, self.port = m.group(1), int(m.group(2))
        self.url = f"http://{self.host}:{self.port}"

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_queue(db: Path | str) -> Server:
    exe = Path(sys.executable).with_name("healloop")
    argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "healloop.cli.main"]
    return Server("healloop serve", [*argv, "serve", "--db", str(db), "--host", "127.0.0.1", "--port", "0"],
                  str(db) if is_postgres(str(db)) else None)


def start_trivial() -> Server:
    script = str(Path(_HERE) / "trivial_server.py")
    return Server("trivial server", [sys.executable, script, "--host", "127.0.0.1", "--port", "0"])


def http_json(url: str, body: dict | None = None) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, resp.read().decode()


def queued_count(server: Server) -> int:
    _, text = http_json(server.url + "/metrics")
    m = re.search(r'healloop_events\{status="queued"\} (\d+)', text)
    return int(m.group(1)) if m else 0


# -- wrk
@dataclass
class WrkResult:
    rps: float
    requests: int
    p50_ms: float
    p99_ms: float
    non2xx: int
    socket_errors: int
    extra: dict[str, int]
    server_cpu: float  # cores used by the server process during the run
    wrk_cpu: float  # cores used by wrk
    other_cpu: float  # cores busy with anything else on the machine (other tenants, the kernel)
    db_cpu: float = math.nan  # cores used by the PostgreSQL backends of the run's database (in other_cpu)


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all CPUs), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLK_TCK


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        return float("nan")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[m.group(2)]
    return float(m.group(1)) * scale


def _wrk_argv(url: str, duration: float, connections: int, threads: int, script: str | None,
              args: tuple[str, ...]) -> list[str]:
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency", "--timeout", "10s"]
    if script:
        argv += ["-s", str(LUA / script)]
    argv.append(url)
    if args:
        argv += ["--", *args]
    return argv


@dataclass
class _WrkOut:
    rps: float
    requests: int
    p50_ms: float
    p99_ms: float
    non2xx: int
    socket_errors: int
    extra: dict[str, int]


def _parse_wrk(argv: list[str], rc: int, text: str, err: str) -> _WrkOut:
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if rc != 0 or not m:
        raise SystemExit(f"wrk failed ({' '.join(argv)}):\n{text}\n{err}")
    if err.strip():
        print("    wrk stderr: " + err.strip().replace("\n", "\n    "), flush=True)
    req = re.search(r"(\d+) requests in", text)
    p50 = re.search(r"\s50%\s+(\S+)", text)
    p99 = re.search(r"\s99%\s+(\S+)", text)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    extra = {}
    bench = re.search(r"^BENCH (.*)$", text, re.MULTILINE)
    if bench:
        extra = {k: int(v) for k, v in (kv.split("=") for kv in bench.group(1).split())}
    return _WrkOut(float(m.group(1)), int(req.group(1)) if req else 0,
                   _ms(p50.group(1)) if p50 else math.nan, _ms(p99.group(1)) if p99 else math.nan,
                   int(non2xx.group(1)) if non2xx else 0,
                   sum(int(x) for x in sock.groups()) if sock else 0, extra)


def run_wrk_many(jobs: list[tuple[str, Server, str | None, tuple[str, ...]]], duration: float,
                 connections: int, threads: int) -> WrkResult:
    """One wrk process per (url, server, script, args), all at once, each with ``connections`` and
    ``threads`` of its own: load spread over several servers. Rates, counts and server CPU are summed;
    p50 and p99 are the worst of the processes' (wrk cannot merge histograms)."""
    argvs = [_wrk_argv(url, duration, connections, threads, script, args) for url, _, script, args in jobs]
    servers = [server for _, server, _, _ in jobs]
    dbs = {sv.db for sv in servers if sv.db}
    db0 = pg_backend_seconds(dbs)
    cpu0, busy0 = sum(sv.cpu_seconds() for sv in servers), machine_busy_seconds()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    procs = [subprocess.Popen(a, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for a in argvs]
    outs = [p.communicate() for p in procs]
    wall = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu1, busy1 = sum(sv.cpu_seconds() for sv in servers), machine_busy_seconds()
    db1 = pg_backend_seconds(dbs)
    db_cpu = sum(t - db0.get(pid, 0.0) for pid, t in db1.items()) / wall if dbs else math.nan
    parsed = [_parse_wrk(a, p.returncode, o, e) for a, p, (o, e) in zip(argvs, procs, outs, strict=True)]
    extra: dict[str, int] = {}
    for w in parsed:
        for k, v in w.extra.items():
            extra[k] = extra.get(k, 0) + v
    wrk_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return WrkResult(
        rps=sum(w.rps for w in parsed), requests=sum(w.requests for w in parsed),
        p50_ms=max(w.p50_ms for w in parsed), p99_ms=max(w.p99_ms for w in parsed),
        non2xx=sum(w.non2xx for w in parsed), socket_errors=sum(w.socket_errors for w in parsed),
        extra=extra, server_cpu=(cpu1 - cpu0) / wall, wrk_cpu=wrk_cpu / wall,
        other_cpu=max(0.0, (busy1 - busy0) - (cpu1 - cpu0) - wrk_cpu) / wall, db_cpu=db_cpu,
    )


def pg_backend_seconds(urls: set[str]) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend connected to the databases of ``urls`` (the same
    host, /proc readable): the database's share of the machine, apart from other tenants' work."""
    if not urls:
        return {}
    names = [u.rsplit("/", 1)[1].split("?", 1)[0] for u in urls]
    with pg_admin(next(iter(urls))) as conn:
        pids = [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = ANY(%s) "
                                           "AND pid <> pg_backend_pid()", (names,))]
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile, or on another host
        out[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def run_wrk(url: str, duration: float, connections: int, threads: int, server: Server,
            script: str | None = None, args: tuple[str, ...] = ()) -> WrkResult:
    return run_wrk_many([(url, server, script, args)], duration, connections, threads)


# -- long-poll wake-up
class RawHTTP:
    """One keep-alive HTTP/1.1 connection, just enough for JSON requests (no chunked bodies)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.r, self.w, self.host = reader, writer, host

    @classmethod
    async def open(cls, host: str, port: int) -> RawHTTP:
        r, w = await asyncio.open_connection(host, port)
        return cls(r, w, host)

    def send(self, path: str, body: dict) -> None:
        data = json.dumps(body).encode()
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n\r\n").encode()
        self.w.write(head + data)

    async def response(self) -> tuple[int, bytes, float]:
        """(status, body, time.perf_counter() when the whole response had arrived)."""
        head = await self.r.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            if line.lower().startswith("content-length:"):
                length = int(line.split(":", 1)[1])
        body = await self.r.readexactly(length) if length else b""
        return status, body, time.perf_counter()

    async def close(self) -> None:
        self.w.close()
        await self.w.wait_closed()


async def _wakeup(
    host: str, port: int, samples: int, tag: str, park_s: float, report_to: tuple[str, int] | None = None
) -> tuple[list[float], list[float]]:
    """The parked claim on host:port; the report to ``report_to`` (another server on the same database:
    the wake-up then crosses servers through LISTEN/NOTIFY), else to the same server."""
    worker = await RawHTTP.open(host, port)
    reporter = await RawHTTP.open(*(report_to or (host, port)))
    from_send, from_201 = [], []
    try:
        for i in range(samples):
            worker.send("/v1/events/next", {"worker": f"wake-{tag}", "wait": 10, "lease": 3600})
            claim = asyncio.ensure_future(worker.response())
            await asyncio.sleep(park_s)
            if claim.done():
                status, body, _ = claim.result()
                raise SystemExit(f"wake-up: the claim was answered before any report ({status} "
                                 f"{body[:200]!r}): the queue is not empty")
            t0 = time.perf_counter()
            reporter.send("/v1/events", {
                "node": "node-1", "source": "playwright", "spec": f"tests/e2e/wake/{tag}.spec.ts",
                "test": f"wake-up sample {i}", "message": "expect(locator).toBeVisible() failed",
            })
            status, body, t1 = await reporter.response()
            if status != 201:
                raise SystemExit(f"wake-up: the report got {status} {body[:200]!r}, not 201")
            status, body, t2 = await asyncio.wait_for(claim, 15)
            if status != 200:
                raise SystemExit(f"wake-up: the parked claim got {status} {body[:200]!r}, not 200")
            from_send.append((t2 - t0) * 1000)
            from_201.append((t2 - t1) * 1000)
    finally:
        await worker.close()
        await reporter.close()
    return from_send, from_201


def pct(values: list[float], p: int) -> float:
    if len(values) < 2:
        return values[0] if values else math.nan
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


@dataclass
class Wake:
    from_send: list[float]
    from_201: list[float]

    def line(self) -> str:
        s, r = self.from_send, self.from_201
        return (f"report sent -> claim 200: p50 {pct(s, 50):.2f} ms, p90 {pct(s, 90):.2f} ms, "
                f"p99 {pct(s, 99):.2f} ms, max {max(s):.2f} ms;  report 201 -> claim 200: "
                f"p50 {pct(r, 50):.2f} ms, p99 {pct(r, 99):.2f} ms  ({len(s)} samples)")


# -- one phase: one database, all scenarios
@dataclass
class Phase:
    name: str
    results: dict[str, list[WrkResult]] = field(default_factory=dict)
    wake: Wake | None = None
    note: str = ""
    backlog: list[int] = field(default_factory=list)

    def rps(self, scenario: str) -> float:
        return statistics.median(r.rps for r in self.results[scenario])

    def pick(self, scenario: str) -> WrkResult:
        """The repeat whose rate is the median (for the latency and CPU columns)."""
        runs = sorted(self.results[scenario], key=lambda r: r.rps)
        return runs[(len(runs) - 1) // 2]


async def _report_many(host: str, port: int, count: int, tag: str, connections: int = 16) -> None:
    conns = [await RawHTTP.open(host, port) for _ in range(connections)]
    todo = iter(range(count))

    async def one(conn: RawHTTP) -> None:
        for i in todo:
            conn.send("/v1/events", {
                "node": f"node-{i % 20}", "source": "playwright", "spec": f"tests/e2e/{tag}/fill.spec.ts",
                "test": f"backlog {i}", "message": "expect(locator).toBeVisible() failed",
            })
            status, body, _ = await conn.response()
            if status != 201:
                raise SystemExit(f"backlog fill: {status} {body[:200]!r}")

    try:
        await asyncio.gather(*(one(c) for c in conns))
    finally:
        for c in conns:
            await c.close()


def fill_backlog(server: Server, need: int, tag: str) -> int:
    """Report new failures (unmeasured) until exactly ``need`` events are queued; returns the count."""
    have = queued_count(server)
    if have < need:
        asyncio.run(_report_many(server.host, server.port, need - have, tag))
    return queued_count(server)


def _show(rep: int, repeats: int, scenario: str, r: WrkResult, note: str = "") -> None:
    extra = " ".join(f"{k}={v}" for k, v in r.extra.items())
    if not math.isnan(r.db_cpu):
        extra = f"postgres {r.db_cpu:4.2f} cores  " + extra
    print(f"    [{rep + 1}/{repeats}] {scenario:<17} {r.rps:9.0f} req/s  "
          f"p50 {r.p50_ms:6.2f} ms  p99 {r.p99_ms:6.2f} ms  server {r.server_cpu:4.2f} cores  "
          f"wrk {r.wrk_cpu:4.2f}  other {r.other_cpu:4.2f}  non-2xx {r.non2xx}  {extra}{note}", flush=True)


def run_phase(name: str, db: Path | str, opts: argparse.Namespace, tag: str) -> Phase:
    phase = Phase(name)
    trivial = start_trivial()
    queue = start_queue(db)
    d, c, t, n = opts.duration, opts.connections, opts.threads, opts.repeats
    try:
        print(f"  {name}: queue at {queue.url} (pid {queue.proc.pid}), trivial at {trivial.url} "
              f"(pid {trivial.proc.pid})", flush=True)
        # Warm both servers (imports, first connections) without touching the queue's data.
        run_wrk(trivial.url + "/hello", 1, c, t, trivial)
        run_wrk(queue.url + "/healthz", 1, c, t, queue)
        if opts.samples:
            fs, fr = asyncio.run(_wakeup(queue.host, queue.port, opts.samples, tag, 0.02))
            phase.wake = Wake(fs, fr)
            print(f"    wake-up: {phase.wake.line()}", flush=True)

        def record(rep: int, scenario: str, r: WrkResult, note: str = "") -> None:
            phase.results.setdefault(scenario, []).append(r)
            _show(rep, n, scenario, r, note)

        # Claims first, while the only queued events are the backlog filled for them: distinct
        # ingest leaves its events queued, and the backlog's depth is part of what a claim costs.
        for rep in range(n):
            record(rep, "trivial GET", run_wrk(trivial.url + "/hello", d, c, t, trivial))
            record(rep, "trivial POST", run_wrk(trivial.url + "/echo", d, c, t, trivial, "trivial_post.lua"))
            # Enough events that a server answering at the ceiling's rate (1 claim in 5 requests)
            # never finds the queue empty.
            ceiling = max(phase.rps("trivial POST"), phase.rps("trivial GET"))
            backlog = fill_backlog(queue, int(ceiling * d / 5) + 100, f"{tag}-fill{rep}")
            phase.backlog.append(backlog)
            record(rep, "claim+transition",
                   run_wrk(queue.url, d, c, t, queue, "claim.lua", (f"{tag}{rep}",)),
                   f"  (backlog {backlog} queued)")
        for rep in range(n):
            record(rep, "ingest distinct",
                   run_wrk(queue.url, d, c, t, queue, "ingest.lua", (f"{tag}-d{rep}", "distinct")))
            record(rep, "ingest repeats",
                   run_wrk(queue.url, d, c, t, queue, "ingest.lua", (f"{tag}-rep", "repeat", "50")))
    finally:
        queue.stop()
        trivial.stop()
    return phase


# -- PostgreSQL: a database made for the run, and the scaling over several servers on it
def is_postgres(db: str | None) -> bool:
    return bool(db) and db.split("://", 1)[0] in ("postgresql", "postgres")


def pg_admin(admin_url: str):  # -> psycopg.Connection (psycopg is an optional extra)
    """A connection to the database ``admin_url`` names, or a SystemExit saying what to do."""
    try:
        import psycopg
    except ImportError:
        raise SystemExit("--db postgresql://... needs psycopg: "
                         ".venv/bin/pip install -e '.[postgres]'") from None
    try:
        return psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise SystemExit(f"PostgreSQL at {admin_url} does not answer ({str(exc).strip()}); start it "
                         "(scripts/setup does) or give another --db URL") from None


@contextmanager
def pg_database(admin_url: str) -> Iterator[str]:
    """A fresh database ``healloop_bench_<random>`` on the server of ``admin_url`` (which names a
    database to connect to for CREATE and DROP, e.g. .../postgres), dropped afterwards."""
    name = f"healloop_bench_{secrets.token_hex(4)}"
    with pg_admin(admin_url) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with pg_admin(admin_url) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@dataclass
class Scale:
    servers: int
    results: dict[str, list[WrkResult]] = field(default_factory=dict)
    wake: Wake | None = None  # a claim parked on the first server woken by a report to the second

    def rps(self, scenario: str) -> float:
        return statistics.median(r.rps for r in self.results[scenario])


def run_scaling(admin_url: str, opts: argparse.Namespace, tag: str, ceiling: float) -> list[Scale]:
    """For 1..opts.servers servers on one fresh database each time: claim+transition, then ingest
    distinct, with one wrk process per server (the connections and wrk threads split among them)."""
    out = []
    d, n = opts.duration, opts.repeats
    for count in range(1, opts.servers + 1):
        scale = Scale(count)
        conns, threads = max(1, opts.connections // count), max(1, opts.threads // count)
        with pg_database(admin_url) as url:
            queues = [start_queue(url) for _ in range(count)]
            try:
                print(f"  {count} server(s) on {url.rsplit('/', 1)[1]}: "
                      f"{', '.join(q.url for q in queues)}; wrk -t{threads} -c{conns} each", flush=True)
                for q in queues:
                    run_wrk(q.url + "/healthz", 1, conns, threads, q)
                if count > 1:  # before any load, the database empty: each parked claim waits for its report
                    fs, fr = asyncio.run(_wakeup(queues[0].host, queues[0].port, opts.samples,
                                                 f"{tag}-x{count}", 0.02, (queues[1].host, queues[1].port)))
                    scale.wake = Wake(fs, fr)
                    print(f"  wake-up across servers: {scale.wake.line()}", flush=True)

                def record(rep: int, scenario: str, r: WrkResult, note: str = "",
                           scale: Scale = scale) -> None:
                    scale.results.setdefault(scenario, []).append(r)
                    _show(rep, n, scenario, r, note)

                for rep in range(n):
                    backlog = fill_backlog(queues[0], int(ceiling * d / 5) + 100, f"{tag}-s{count}f{rep}")
                    jobs = [(q.url, q, "claim.lua", (f"{tag}s{count}r{rep}q{i}",))
                            for i, q in enumerate(queues)]
                    record(rep, "claim+transition", run_wrk_many(jobs, d, conns, threads),
                           f"  (backlog {backlog} queued)")
                for rep in range(n):
                    jobs = [(q.url, q, "ingest.lua", (f"{tag}-s{count}d{rep}q{i}", "distinct"))
                            for i, q in enumerate(queues)]
                    record(rep, "ingest distinct", run_wrk_many(jobs, d, conns, threads))
            finally:
                for q in queues:
                    q.stop()
        out.append(scale)
    return out


def print_scaling_table(scales: list[Scale]) -> None:
    print("\nServers on one PostgreSQL database (one wrk per server; rates summed, median of the repeats)")
    print(f"  {'servers':<9}{'ingest distinct':>16}{'vs 1':>7}{'claim+transition':>18}{'vs 1':>7}"
          f"{'server cores':>14}{'postgres cores':>16}")
    base_i, base_c = scales[0].rps("ingest distinct"), scales[0].rps("claim+transition")
    for sc in scales:
        i, c = sc.rps("ingest distinct"), sc.rps("claim+transition")
        cores = statistics.median(r.server_cpu for r in sc.results["ingest distinct"])
        db = statistics.median(r.db_cpu for r in sc.results["ingest distinct"])
        print(f"  {sc.servers:<9}{i:16.0f}{i / base_i:7.2f}{c:18.0f}{c / base_c:7.2f}{cores:14.2f}{db:16.2f}")
    print("  (claim+transition counts all 5 requests per event; server / postgres cores: all the healloop "
          "servers, and the PostgreSQL backends of their database, during ingest)")
    for sc in scales:
        if sc.wake is not None:
            print(f"  wake-up across servers ({sc.servers} running): {sc.wake.line()}")


def print_backend_table(sqlite: Phase, pg: Phase) -> None:
    print("\nPostgreSQL vs SQLite, empty database, same run (median req/s)")
    print(f"  {'scenario':<18}{'SQLite':>9}{'PostgreSQL':>12}{'ratio':>8}{'PG p50 ms':>11}{'PG p99 ms':>11}"
          f"{'server CPU ms/req SQLite, PG':>30}{'postgres CPU ms/req':>21}")
    for scenario, target in TARGETS.items():
        if target is None:
            continue
        a, b = sqlite.rps(scenario), pg.rps(scenario)
        r, q = pg.pick(scenario), sqlite.pick(scenario)
        per = f"{q.server_cpu / q.rps * 1000:.2f}, {r.server_cpu / r.rps * 1000:.2f}"
        print(f"  {scenario:<18}{a:9.0f}{b:12.0f}{b / a:8.0%}{r.p50_ms:11.2f}{r.p99_ms:11.2f}"
              f"{per:>30}{r.db_cpu / r.rps * 1000:21.2f}")
    if sqlite.wake and pg.wake:
        a, b = pct(sqlite.wake.from_send, 99), pct(pg.wake.from_send, 99)
        print(f"  {'wake-up p99 (ms)':<18}{a:9.2f}{b:12.2f}")


# -- report
def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_phase_table(phase: Phase) -> list[bool]:
    checks = []
    ceiling = phase.rps(CEILING)
    get = phase.rps("trivial GET")
    print(f"\n{phase.name}{phase.note}")
    print(f"  {'scenario':<18}{'req/s':>9}{'vs POST':>9}{'vs GET':>8}  {'target':<24}{'result':<7}"
          f"{'p50 ms':>8}{'p99 ms':>8}{'server':>8}{'wrk':>6}{'other':>7}")
    for scenario, target in TARGETS.items():
        rps = phase.rps(scenario)
        r = phase.pick(scenario)
        ratio = rps / ceiling
        if target is None:
            tgt, res = "(ceiling)" if scenario == CEILING else "", ""
        else:
            ok = ratio >= target[1]
            checks.append(ok)
            tgt, res = f">= {target[1]:.0%} of {target[0]}", verdict(ok)
        print(f"  {scenario:<18}{rps:9.0f}{ratio:9.0%}{rps / get:8.0%}  {tgt:<24}{res:<7}"
              f"{r.p50_ms:8.2f}{r.p99_ms:8.2f}{r.server_cpu:8.2f}{r.wrk_cpu:6.2f}{r.other_cpu:7.2f}")
    if phase.backlog:
        print(f"    claim+transition started with {', '.join(map(str, phase.backlog))} events queued "
              "(the ceiling's rate x duration / 5, so the queue never runs dry)")
    if phase.wake:
        p99 = pct(phase.wake.from_send, 99)
        ok = p99 < WAKE_P99_MS
        checks.append(ok)
        print(f"  {'long-poll wake-up':<18}{'':>26}  {'p99 < 10 ms':<24}{verdict(ok):<7}"
              f"p99 {p99:.2f} ms (report sent -> claim 200)")
        print(f"    {phase.wake.line()}")
    return checks


def print_history_table(empty: Phase, hist: Phase) -> list[bool]:
    checks = []
    print(f"\nHistory vs empty database (target: every rate >= {HISTORY_RATIO:.0%} of the empty one)")
    print(f"  {'scenario':<18}{'empty':>9}{'history':>9}{'ratio':>8}  result")
    for scenario, target in TARGETS.items():
        a, b = empty.rps(scenario), hist.rps(scenario)
        if target is None:
            print(f"  {scenario:<18}{a:9.0f}{b:9.0f}{b / a:8.0%}  (ceiling, no database)")
            continue
        ok = b / a >= HISTORY_RATIO
        checks.append(ok)
        print(f"  {scenario:<18}{a:9.0f}{b:9.0f}{b / a:8.0%}  {verdict(ok)}")
    if empty.wake and hist.wake:
        a, b = pct(empty.wake.from_send, 99), pct(hist.wake.from_send, 99)
        ok = b < WAKE_P99_MS
        checks.append(ok)
        print(f"  {'wake-up p99 (ms)':<18}{a:9.2f}{b:9.2f}{'':>8}  {verdict(ok)} (< {WAKE_P99_MS:g} ms)")
    return checks


def machine_notes(opts: argparse.Namespace) -> None:
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"machine: {os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}, Python "
          f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}, {wrk_version.strip()}")
    print(f"load: wrk -t{opts.threads} -c{opts.connections} -d{opts.duration:g}s per run, "
          f"{opts.repeats} repeat(s), median reported; wrk runs on the same "
          f"{os.cpu_count()} CPUs as the server (its CPU use is the 'wrk' column, in cores)")
    print("servers: healloop serve and bench/trivial_server.py, each one process, uvloop + httptools, "
          "access log off")
    print("columns: server / wrk / other = CPU cores used during the run by the server process, by wrk, "
          "and by everything else on the machine (other tenants; 1.00 = one CPU busy)")
    print(f"load average before the run: {Path('/proc/loadavg').read_text().split()[0:3]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=None, help="seconds per load run (default 10)")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    ap.add_argument("--repeats", type=int, default=None, help="runs per scenario; the median counts "
                    "(default 3, 1 with --quick)")
    ap.add_argument("--history", type=int, default=None,
                    help="events in the history of phase 2 (default 1000000, 20000 with --quick; 0 skips it)")
    ap.add_argument("--samples", type=int, default=None,
                    help="wake-up samples (default 200, 50 with --quick)")
    ap.add_argument("--quick", action="store_true", help="short runs for a smoke test")
    ap.add_argument("--db", default=None, metavar="postgresql://USER@HOST/DB",
                    help="also run phase 1 on PostgreSQL: a fresh database made on this server (the URL's "
                    "database is only connected to, to create and drop it) beside the SQLite phase")
    ap.add_argument("--servers", type=int, default=0, metavar="N",
                    help="with --db: ingest and claims with 1, 2 .. N servers on one database")
    ap.add_argument("--workdir", type=Path, default=None, help="where the databases go (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    opts = ap.parse_args()
    q = opts.quick
    opts.duration = opts.duration if opts.duration is not None else (2.0 if q else 10.0)
    opts.repeats = opts.repeats if opts.repeats is not None else (1 if q else 3)
    pg = is_postgres(opts.db)
    if opts.db and not pg:
        ap.error(f"--db takes a postgresql:// (or postgres://) URL, not {opts.db!r}; SQLite always runs")
    if opts.servers and not pg:
        ap.error("--servers N needs --db postgresql://...: several servers share one PostgreSQL database")
    # With PostgreSQL the run is about the backends side by side: the history phase (SQLite only,
    # bench/history_db.py writes the file directly) is off unless asked for.
    default_history = 0 if pg else (20_000 if q else 1_000_000)
    opts.history = opts.history if opts.history is not None else default_history
    opts.samples = opts.samples if opts.samples is not None else (50 if q else 200)

    if shutil.which("wrk") is None:
        print("bench/queue.py needs wrk (HTTP load from a separate process), and it is not on PATH.\n"
              "Install Debian's package:  sudo apt-get update && sudo apt-get install -y wrk\n"
              "(or run bench/setup, which does that)", file=sys.stderr)
        return 2

    if pg:
        pg_admin(opts.db).close()  # an unreachable server fails now, not after the SQLite phase
    machine_notes(opts)
    work = opts.workdir or Path(tempfile.mkdtemp(prefix="healloop-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    tag = f"b{int(time.time())}"
    checks: list[bool] = []
    try:
        print("\nphase 1: empty database", flush=True)
        empty = run_phase("Empty database" + (", SQLite" if pg else ""), work / "empty.db", opts, tag + "e")
        pg_empty, scales = None, []
        if pg:
            print("\nphase 1 on PostgreSQL: empty database", flush=True)
            with pg_database(opts.db) as url:
                pg_empty = run_phase("Empty database, PostgreSQL", url, opts, tag + "p")
            if opts.servers:
                print(f"\nscaling: 1 to {opts.servers} servers on one PostgreSQL database", flush=True)
                scales = run_scaling(opts.db, opts, tag + "s", empty.rps(CEILING))
        hist = None
        if opts.history:
            print(f"\nphase 2: {opts.history:,} events in the history", flush=True)
            t = history_db.build(work / "history.db", opts.history)
            size = (work / "history.db").stat().st_size / 2**20
            note = (f"built in {t['total']:.1f} s (events {t['events']:.1f} s, history rows "
                    f"{t['history']:.1f} s, indexes {t['indexes']:.1f} s), {size:,.0f} MiB")
            print(f"  history database: {note}", flush=True)
            hist = run_phase(f"{opts.history:,} events in the history", work / "history.db", opts, tag + "h")
            hist.note = f" ({note})"

        print("\n" + "=" * 100)
        checks += print_phase_table(empty)
        if pg_empty:
            checks += print_phase_table(pg_empty)
            print_backend_table(empty, pg_empty)
        if scales:
            print_scaling_table(scales)
        if hist:
            checks += print_phase_table(hist)
            checks += print_history_table(empty, hist)
        print(f"\n{sum(checks)} of {len(checks)} targets met (informational: the exit status is 0)")
        print("ratios: 'vs POST' is against the trivial POST (the ceiling the targets use: same body "
              "size, read and answered with a small JSON); 'vs GET' against the trivial GET")
    finally:
        if opts.keep:
            print(f"databases kept in {work}")
        elif opts.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
