"""What the forge clients share: their settings, a pull request, and a webhook's news of one closing."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ForgeSettings:
    """``[node.git] pull_requests``, ``api_url``, ``repository`` and ``token_env`` of healloop.toml."""

    kind: str          # "github" or "gitlab"
    api_url: str       # e.g. https://api.github.com, https://gitlab.example.com/api/v4
    repository: str    # GitHub: owner/name; GitLab: the project's path (group/name) or numeric id
    token_env: str     # the NAME of the environment variable holding the token, never the token


@dataclass(frozen=True)
class PullRequest:
    forge: str
    number: int        # GitHub's number, GitLab's iid: what people call it (#12, !12)
    url: str           # the page people open
    state: str
    head: str
    base: str
    existing: bool = False  # true: an open one for the same branch was found instead of opening another

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


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
