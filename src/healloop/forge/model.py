"""What the forge clients share: their settings, a pull request and its state, an issue, and a
webhook's news of a pull request closing (and the decision it makes on the event)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

# A commit id as the forges write it; anything else in a merge sha is not recorded as the fix's commit.
_SHA = re.compile(r"^[0-9a-f]{7,64}$")


@dataclass(frozen=True)
class ForgeSettings:
    """``[node.git] forge`` (or ``pull_requests = "<kind>"``), ``api_url``, ``repository`` and
    ``token_env`` of healloop.toml."""

    kind: str          # "github", "gitlab" or "gitea" (Gitea and Forgejo)
    api_url: str       # e.g. https://api.github.com, https://gitlab.example.com/api/v4, https://gitea.example/api/v1
    repository: str    # GitHub, Gitea: owner/name; GitLab: the project's path (group/name) or numeric id
    token_env: str     # the NAME of the environment variable holding the token, never the token


@dataclass(frozen=True)
class PullRequest:
    forge: str
    number: int        # GitHub's and Gitea's number, GitLab's iid: what people call it (#12, !12)
    url: str           # the page people open
    state: str
    head: str
    base: str
    existing: bool = False  # true: an open one for the same branch was found instead of opening another

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class PullStatus:
    """Where a pull request stands: ``open``, ``merged`` or ``closed`` (without merging)."""

    forge: str
    number: int
    state: str
    url: str | None
    merged_by: str | None = None
    merge_sha: str | None = None
    closed_by: str | None = None   # GitHub and GitLab say who closed it; Gitea does not

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Issue:
    forge: str
    number: int
    url: str
    existing: bool = False            # true: the event's open issue was found instead of opening another
    assignees: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Author:
    """A suspect commit's author: as git recorded them (``name``, ``email``) and, when the forge knows
    them, their account there (``login``; GitLab assigns by numeric ``user_id``)."""

    name: str | None
    email: str | None
    login: str | None = None
    user_id: int | None = None

    def assignable(self) -> bool:
        return bool(self.login or self.user_id)


@dataclass(frozen=True)
class Decision:
    """What a closed pull request decides on its event, in the queue's words: the same whether a
    webhook told it (``/v1/ingest/<forge>``) or ``healloop forge sync`` asked the forge."""

    approve: bool
    by: str
    reason: str
    commit: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class Closed:
    """A webhook's news: the pull request from ``branch`` was merged (``merged``) or closed unmerged."""

    forge: str
    branch: str
    merged: bool
    by: str | None
    sha: str | None    # the merge commit (or the squashed one) when merged
    number: int | None
    url: str | None

    def decision(self) -> Decision:
        pr = {"forge": self.forge, "number": self.number, "url": self.url}
        by = self.by or f"{self.forge} webhook"
        if self.merged:
            sha = self.sha if self.sha and _SHA.match(self.sha) else None
            return Decision(True, by, f"pull request #{self.number} merged on {self.forge}", sha,
                            {"pull_request": pr, "merged": True})
        return Decision(False, by, "pull request closed without merging", None,
                        {"pull_request": pr, "merged": False})
