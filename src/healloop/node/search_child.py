"""The child process of ``search_text``: matches one regular expression against each line of the files
it is given, and prints the matches as JSON.

It runs as ``python -I -S search_child.py`` with the request as JSON on stdin, and imports nothing but
the standard library. It is a process of its own so that the node can kill it: a pattern such as
``(a+)+$`` backtracks for hours on one line, and a thread stuck in ``re`` cannot be stopped.

The node chose the files (inside the workspace, not symlinks, not hard links, not too big); each is
opened without following a symlink and checked again on the open file, so a file swapped since
is skipped rather than read.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from typing import Any

LINE_CHARS = 500  # of a matching line, returned


def _text(path: str, max_bytes: int) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1 or st.st_size > max_bytes:
            return None
        try:
            return fh.read(max_bytes + 1).decode("utf-8")
        except (UnicodeDecodeError, OSError):
            return None  # binary or unreadable: not text to search


def search(request: dict[str, Any]) -> dict[str, Any]:
    regex = re.compile(request["pattern"])
    limit = request["max_matches"]
    matches: list[dict[str, Any]] = []
    for path, rel in request["files"]:
        text = _text(path, request["max_bytes"])
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if regex.search(line):
                matches.append({"path": rel, "line": number, "text": line[:LINE_CHARS]})
                if len(matches) >= limit:
                    return {"matches": matches, "truncated": True}
    return {"matches": matches, "truncated": False}


if __name__ == "__main__":
    # Bytes both ways, ASCII JSON: the locale's encoding plays no part, and a file name that is not
    # UTF-8 (a surrogate escape) goes through unchanged.
    sys.stdout.buffer.write(json.dumps(search(json.loads(sys.stdin.buffer.read()))).encode())
