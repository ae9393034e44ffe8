"""Loading the healing corpus (``corpus/<set>/<id>.toml``; the format is in ``corpus/README.md``)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).parent / "corpus"
SETS = ("dev", "holdout")
RUNNERS = ("playwright-js", "playwright-python", "cypress", "selenium-python", "selenium-js")
CATEGORIES = (
    "generated-id", "class-swap", "text-change", "label-change", "wrapped", "similar-siblings",
    "list-table", "test-id-renamed", "test-id-removed", "removed", "decoy", "role-name", "chain",
    "xpath", "custom-test-id", "moved",
)


@dataclass(frozen=True)
class Case:
    set: str
    id: str
    runner: str
    categories: tuple[str, ...]
    summary: str
    spec_path: str
    test: str
    spec: str
    message: str
    before: str
    after: str
    probe: str
    outcome: str
    why: str
    target: str | None = None
    stack: str = ""
    e2e: bool = False
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.set}/{self.id}"


def load_case(path: Path) -> Case:
    with path.open("rb") as fh:
        raw = tomllib.load(fh)
    expect = raw.get("expect") or {}
    return Case(
        set=path.parent.name,
        id=raw["id"],
        runner=raw["runner"],
        categories=tuple(raw.get("categories") or ()),
        summary=raw.get("summary", ""),
        spec_path=raw["spec_path"],
        test=raw["test"],
        spec=raw["spec"],
        message=raw["message"],
        before=raw["before"],
        after=raw["after"],
        probe=raw["probe"],
        outcome=expect.get("outcome", ""),
        why=expect.get("why", ""),
        target=expect.get("target"),
        stack=raw.get("stack", ""),
        e2e=bool(raw.get("e2e", False)),
        options=dict(raw.get("options") or {}),
    )


def load(sets: tuple[str, ...] = SETS) -> list[Case]:
    return [load_case(p) for s in sets for p in sorted((CORPUS / s).glob("*.toml"))]
