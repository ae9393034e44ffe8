"""An issue for an escalated event, once per event: the open issue that carries the event's marker is
returned instead of a second, and the suspect commit's author is assigned where the forge knows them
(else named in the body, with their e-mail, so someone can pass it on)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from healloop.errors import ForgeError
from healloop.forge.http import message
from healloop.forge.model import Author, Issue

# The forges list open issues newest first; the event's issue, if any, was opened when it was escalated,
# so it is near the top. This bounds the look-up on a repository with thousands of open issues.
MAX_PAGES = 10


def marker(event_id: str) -> str:
    """Hidden in the rendered body (an HTML comment), found again by the look-up."""
    return f"<!-- healloop-event: {event_id} -->"


def author_line(forge: str, sha: str, author: Author | None, assigned: bool) -> str:
    short = f"`{sha[:10]}`"
    if author is None or not (author.name or author.email or author.login):
        return f"The suspect commit {short}'s author is known neither here nor on {forge}: unassigned."
    who = f"{author.name or ''} <{author.email or '?'}>".strip()
    if assigned:
        return f"The suspect commit {short} is by {who} (@{author.login}), assigned to them."
    return (f"The suspect commit {short} is by {who}; {forge} knows no account for them, so this issue is "
            "unassigned: please pass it on.")


def open_once(forge: str, repository: str, event_id: str, title: str, body: str, sha: str,
              author: Author | None, *, find: Callable[[str], Issue | None],
              post: Callable[[str, str, Author | None], tuple[int, Any]], refused: tuple[int, ...],
              made: Callable[[Any], Issue]) -> Issue:
    """Open the event's issue once. An assignee the forge refuses (not a member, say) does not lose the
    issue: it is opened unassigned, the author named in the body."""
    mark = marker(event_id)
    found = find(mark)
    if found:
        return found
    attempts = [author, None] if author is not None and author.assignable() else [None]
    said = ""
    for assignee in attempts:
        text = f"{body}\n\n{author_line(forge, sha, author, assignee is not None)}\n\n{mark}\n"
        status, answer = post(title, text, assignee)
        if status not in refused:
            return made(answer)
        said = message(answer)
    raise ForgeError(f"{forge} refused to open an issue on {repository} for {event_id}: {said}")
