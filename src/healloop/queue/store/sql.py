"""Named SQL, kept together per backend in ``<backend>_queries.sql`` and parsed into a dict."""

from __future__ import annotations

import re
from importlib import resources

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def load_queries(filename: str, **placeholders: str) -> dict[str, str]:
    text = resources.files(__package__).joinpath(filename).read_text(encoding="utf-8")
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = [ln for ln in body.strip().splitlines() if not ln.lstrip().startswith("--")]
        sql = "\n".join(lines).strip()
        for key, value in placeholders.items():
            sql = sql.replace("{" + key + "}", value)
        queries[name] = sql
    return queries
