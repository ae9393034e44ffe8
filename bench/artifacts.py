"""What keeping artifacts on S3 costs an upload and a download, against the local folder in the same run.

Starts two real ``healloop serve`` processes on loopback, one with the default artifacts folder (the
baseline) and one with ``--artifacts s3://…`` on moto's S3 server (a local process, the tests' own:
``tests/s3support.py``), and times, from one client, N uploads of new content (``POST
/v1/events/{id}/artifacts``), N uploads of content already stored, and N downloads (``GET
/v1/artifacts/…``) of each size. Prints medians and the S3/folder ratio. moto is a Python server: the
figures measure healloop's path plus a local S3 endpoint, not AWS's network.

    .venv/bin/python bench/artifacts.py [--n 30] [--sizes 65536,1048576,8388608] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# bench/ holds queue.py: run as a script, keep the standard library's ``queue`` ahead of it; the
# repository root makes tests/ importable (the tests' own S3 server and queue process helpers).
if sys.path and os.path.abspath(sys.path[0] or ".") == str(ROOT / "bench"):
    sys.path.pop(0)
sys.path.insert(0, str(ROOT))

from tests.s3support import S3Server  # noqa: E402
from tests.support import QueueServer, failure  # noqa: E402


def _time(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(server: QueueServer, n: int, size: int) -> dict[str, float]:
    with server.client(timeout=120) as c:
        eid = c.post("/v1/events", json=failure(f"bench-{size}")).json()["id"]
        new, again, down = [], [], []
        for i in range(n):
            body = os.urandom(size)

            def up(b: bytes = body, name: str = f"f{i}.bin") -> None:
                r = c.post(f"/v1/events/{eid}/artifacts", files=[("file", (name, b, "image/png"))])
                r.raise_for_status()

            new.append(_time(up))
            again.append(_time(up))
            url = c.get(f"/v1/events/{eid}").json()["artifacts"][-1]["url"]
            down.append(_time(lambda u=url: c.get(u).raise_for_status()))
    return {"upload_new_ms": statistics.median(new) * 1000,
            "upload_stored_ms": statistics.median(again) * 1000,
            "download_ms": statistics.median(down) * 1000}


def run(n: int, sizes: list[int]) -> dict[str, Any]:
    s3 = S3Server.start()
    try:
        bucket = s3.bucket("bench-artifacts")
        with tempfile.TemporaryDirectory(prefix="healloop-artifacts-bench-") as tmp:
            folder = QueueServer(Path(tmp) / "f" / "events.db", "--max-artifact-mb", "64")
            on_s3 = QueueServer(Path(tmp) / "s" / "events.db", "--max-artifact-mb", "64", "--artifacts",
                                f"s3://{bucket}/bench", "--s3-endpoint", s3.url, env=s3.env())
            for s in (folder, on_s3):
                s.db.parent.mkdir()
                s.start()
            try:
                out = {}
                for size in sizes:
                    base, other = measure(folder, n, size), measure(on_s3, n, size)
                    out[str(size)] = {"folder": base, "s3": other,
                                      "ratio": {k: other[k] / base[k] for k in base}}
                return out
            finally:
                folder.stop()
                on_s3.stop()
    finally:
        s3.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=30)
    p.add_argument("--sizes", default="65536,1048576,8388608")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    result = run(a.n, [int(x) for x in a.sizes.split(",")])
    if a.json:
        print(json.dumps(result, indent=2))
        return
    print(f"median of {a.n} per figure, ms (S3 = moto on loopback; ratio S3/folder)")
    for size, r in result.items():
        for k in r["folder"]:
            print(f"{int(size) // 1024:>6} KiB {k:<17} folder {r['folder'][k]:8.1f}  s3 {r['s3'][k]:8.1f}  "
                  f"x{r['ratio'][k]:.2f}")


if __name__ == "__main__":
    main()
