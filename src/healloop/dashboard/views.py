"""What the event page shows, picked out of an event's JSON and its history's data: plain dicts for the
templates, which escape every value (test output and page text are untrusted)."""

from __future__ import annotations

import json
from typing import Any

MAX_DATA_CHARS = 20_000  # a history entry's data shown raw, cut beyond this
_HEAL_KEYS = ("old_locator", "new_locator")


def artifacts(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The event's artifacts, each with the dashboard's own address for uploaded ones (the API's needs a
    bearer token, which a browser's <img> does not send) and what kind of view suits it."""
    out = []
    for a in event.get("artifacts") or []:
        digest = a.get("digest")
        kind = str(a.get("content_type") or "")
        name = str(a.get("name") or "")
        view = ("image" if kind.startswith("image/") else
                "html" if kind.startswith("text/html") or name.endswith((".html", ".htm")) else "file")
        out.append({"name": name or digest or a.get("url") or a.get("path"), "view": view,
                    "href": f"/artifacts/{digest}" if digest else None,
                    "where": None if digest else (a.get("url") or a.get("path")),
                    "size": a.get("size"), "snapshot": _snapshot_side(name)})
    return out


def _snapshot_side(name: str) -> str | None:
    low = name.lower()
    for side in ("before", "after"):
        if side in low:
            return side
    return None


def timeline(event: dict[str, Any]) -> list[dict[str, Any]]:
    """Each history entry with its data shown both as parts the page knows (actions, verification runs,
    report, proposal, heal) and raw."""
    rows = []
    for h in event.get("history") or []:
        data = h.get("data") or {}
        rows.append({**h, "raw": _raw(data) if data else None})
    return rows


def _raw(data: Any) -> str:
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    return text if len(text) <= MAX_DATA_CHARS else text[:MAX_DATA_CHARS] + "\n… (cut)"


def actions(event: dict[str, Any]) -> list[dict[str, Any]]:
    """Every action the agent recorded (``data.actions`` of its moves), oldest first, once each."""
    seen: set[str] = set()
    out = []
    for h in event.get("history") or []:
        for a in (h.get("data") or {}).get("actions") or []:
            if not isinstance(a, dict) or "tool" not in a:
                continue
            key = json.dumps(a, sort_keys=True, default=str)
            if key in seen:  # a later move repeats the records of an earlier one
                continue
            seen.add(key)
            out.append({"at": h.get("at"), "tool": a.get("tool"), "args": _raw(a.get("args") or {}),
                        "why": a.get("why"), "ok": a.get("ok"), "diff": a.get("diff"),
                        "error": a.get("error") or (", ".join(map(str, a["refused"])) if a.get("refused")
                                                    else None),
                        "result": _raw(a["result"]) if a.get("result") is not None else None})
    return out


def verifications(event: dict[str, Any]) -> list[dict[str, Any]]:
    """Every verification run in the history: a move's ``data.run`` and the ``verification`` of what it
    tried."""
    out = []
    for h in event.get("history") or []:
        data = h.get("data") or {}
        runs = [data["run"]] if isinstance(data.get("run"), dict) else []
        for t in data.get("actions") or []:
            if isinstance(t, dict) and isinstance(t.get("verification"), dict):
                runs.append(t["verification"])
        for run in runs:
            out.append({"at": h.get("at"), "to": h.get("to"), "passed": run.get("passed", run.get("ok")),
                        "output": str(run.get("output") or run.get("tail") or run.get("summary") or
                                      _raw(run))[:MAX_DATA_CHARS]})
    return out


def latest(event: dict[str, Any], key: str) -> Any:
    """The newest value of ``data[key]`` in the history (the report, the proposal, the class)."""
    for h in reversed(event.get("history") or []):
        value = (h.get("data") or {}).get(key)
        if value:
            return value
    return None


def heals(event: dict[str, Any]) -> list[dict[str, Any]]:
    """Each healed locator the history records (a dict with old and new locator, anywhere in a move's
    data), newest last."""
    found: list[dict[str, Any]] = []
    for h in event.get("history") or []:
        _find_heals(h.get("data") or {}, found, 0)
    unique = {(f.get("old_locator"), f.get("new_locator")): f for f in found}
    return list(unique.values())


def _find_heals(value: Any, found: list[dict[str, Any]], depth: int) -> None:
    if depth > 6:
        return
    if isinstance(value, dict):
        if all(k in value for k in _HEAL_KEYS) and value.get("new_locator"):
            found.append({"old_locator": value.get("old_locator"), "new_locator": value.get("new_locator"),
                          "confidence": value.get("confidence"), "element_html": value.get("element_html")})
            return
        for v in value.values():
            _find_heals(v, found, depth + 1)
    elif isinstance(value, list):
        for v in value[:50]:
            _find_heals(v, found, depth + 1)


def buttons(status: str, has_fix: bool) -> list[dict[str, Any]]:
    """The decisions the event's state allows, and whether each needs a reason (as the CLI asks)."""
    if status == "proposed":
        return [{"name": "approve", "reason": False}, {"name": "reject", "reason": True}]
    if status == "escalated":
        return [{"name": "requeue", "reason": False}, {"name": "close", "reason": False}]
    if status == "resolved" and has_fix:
        return [{"name": "revert", "reason": False}]
    return []
