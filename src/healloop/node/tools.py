"""The node's MCP tools: thin, typed functions over the ``Node`` parts, each with annotations.

Descriptions are fixed text written here; nothing a test, page or file says is ever put into them.
Every argument is typed and there are no open-ended dict arguments, so the schemas work unchanged as
OpenAI-style function definitions.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from mcp.types import ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

from healloop import forge
from healloop.errors import ConfigError
from healloop.node import artifacts, diagnostics, files, undo
from healloop.node.config import NodeConfig
from healloop.node.gitops import GitOps, check_event_id, head_content
from healloop.node.journal import Journal
from healloop.node.runners import Runner, make_runner, run_test
from healloop.node.services import Services
from healloop.node.workspace import Workspace

Path_ = Annotated[str, Field(description="Path relative to the workspace root, e.g. 'src/app.py'.")]
EventId = Annotated[
    str | None,
    Field(
        description="Id of the healloop event this action serves (evt_...); recorded in the audit log. "
        "With it, the change is journaled so discard_changes can undo it."
    ),
]
RequiredEventId = Annotated[str, Field(description="Id of the healloop event (evt_...).")]


class Edit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    old_text: Annotated[str, Field(description="Exact text currently in the file; must occur exactly once.")]
    new_text: Annotated[str, Field(description="Text to put in its place.")]


@dataclass
class Node:
    config: NodeConfig
    ws: Workspace
    git: GitOps
    runner: Runner
    services: Services
    journal: Journal

    @classmethod
    def from_config(cls, config: NodeConfig) -> Node:
        ws = Workspace(config.workspace, config.state_dir, max_file_bytes=config.max_file_bytes)
        journal = Journal(ws, functools.partial(head_content, ws.root))
        return cls(
            config=config,
            ws=ws,
            journal=journal,
            git=GitOps(ws, remote=config.git_remote, branch=config.git_branch, journal=journal),
            runner=make_runner(config.runner),
            services=Services(ws, config.services, config.restarts_per_hour),
        )


READ = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
EDIT = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
WRITE = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
)
ACT = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
)
RESTART = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False
)
PUSH = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True
)
PULL = PUSH
FORGE_READ = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
)


def node_tools(node: Node) -> list[tuple[Callable[..., Any], ToolAnnotations]]:
    """The tool functions, bound to one node; the docstring of each is its MCP description."""
    ws, git, journal = node.ws, node.git, node.journal

    def read_file(
        path: Path_,
        start_line: Annotated[int | None, Field(description="First line to return (1-based).")] = None,
        end_line: Annotated[int | None, Field(description="Last line to return (inclusive).")] = None,
    ) -> dict[str, Any]:
        """Read a UTF-8 text file in the workspace, optionally a line range.

        Returns the content and line numbers."""
        return files.read_file(ws, path, start_line, end_line)

    def list_files(
        path: Annotated[str, Field(description="Directory relative to the workspace root.")] = ".",
        pattern: Annotated[
            str | None, Field(description="Glob on the relative path or name, e.g. '*.py'.")
        ] = None,
    ) -> dict[str, Any]:
        """List files under a workspace directory (recursively; .git and node_modules skipped)."""
        return files.list_files(ws, path, pattern)

    def search_text(
        pattern: Annotated[str, Field(description="Python regular expression matched against each line.")],
        path: Annotated[
            str, Field(description="File or directory to search, relative to the workspace.")
        ] = ".",
    ) -> dict[str, Any]:
        """Search workspace text files for a regular expression.

        Returns path, line number and line of each match."""
        return files.search_text(ws, pattern, path, timeout_s=node.config.search_timeout)

    def edit_file(
        path: Path_,
        edits: Annotated[list[Edit], Field(description="Replacements applied in order.", min_length=1)],
        dry_run: Annotated[bool, Field(description="Only return the diff; write nothing.")] = False,
        event_id: EventId = None,
    ) -> dict[str, Any]:
        """Replace exact text in one existing file and return the unified diff.

        Each old_text must occur exactly once; the call is refused, changing nothing, if one is missing or
        ambiguous (add surrounding lines). Safe to retry: replacements already in place are skipped, and a
        call whose replacements are all in place changes nothing and says so. Refused while another event
        has uncommitted changes to the file (the error names it).
        """
        check_event_id(event_id)
        edits_ = [files.Replacement(e.old_text, e.new_text) for e in edits]
        return files.edit_file(ws, path, edits_, dry_run, journal=journal, event_id=event_id)

    def write_file(
        path: Path_,
        content: Annotated[str, Field(description="The complete new content of the file.")],
        event_id: EventId = None,
    ) -> dict[str, Any]:
        """Create a file or replace its whole content. Prefer edit_file for changes to existing files.
        Refused while another event has uncommitted changes to the file (the error names it)."""
        check_event_id(event_id)
        return files.write_file(ws, path, content, journal=journal, event_id=event_id)

    def git_status() -> dict[str, Any]:
        """Show the current branch and the changed, staged and untracked files."""
        return git.status()

    def git_diff(
        ref: Annotated[
            str | None, Field(description="Compare the working tree with this commit; default the index.")
        ] = None,
    ) -> dict[str, Any]:
        """Show uncommitted changes as a unified diff, with the list of files."""
        return git.diff(ref)

    def git_log(
        path: Annotated[str | None, Field(description="Only commits touching this path.")] = None,
        max_count: Annotated[int, Field(description="How many commits, newest first (1-500).")] = 20,
    ) -> dict[str, Any]:
        """List recent commits (sha, author, date, subject)."""
        return git.log(path, max_count)

    def git_show(revision: Annotated[str, Field(description="Commit sha, branch or tag.")]) -> dict[str, Any]:
        """Show one commit: message, files and diff."""
        return git.show(revision)

    def git_commit(
        message: Annotated[
            str, Field(description="Commit message; a 'Healloop-Event: <id>' trailer is added.")
        ],
        event_id: Annotated[
            str, Field(description="Id of the healloop event this commit repairs (evt_...).")
        ],
        paths: Annotated[
            list[str] | None, Field(description="Only commit these paths; default all changes.")
        ] = None,
        branch: Annotated[
            str | None,
            Field(description="Propose instead: commit onto this branch (a child of HEAD, created or "
                  "replaced; must start with 'healloop/', e.g. 'healloop/<event id>'), leaving HEAD, the "
                  "index and the working tree as they are. Default: commit on HEAD."),
        ] = None,
    ) -> dict[str, Any]:
        """Commit the working-tree changes for an event. Safe to retry: if the event already has its commit
        and there is no new change, that commit is returned (already_committed: true) instead of a new one.
        Refused when it would take in another event's uncommitted changes; what it commits can no longer
        be undone by discard_changes. With `branch`, the changes stay uncommitted here (discard_changes
        puts the files back) and the commit waits on that branch for git_land_branch."""
        return git.commit(message, event_id, paths, branch)

    def git_land_branch(
        branch: Annotated[str, Field(description="The proposal's branch, e.g. 'healloop/<event id>'.")],
        event_id: Annotated[str, Field(description="Id of the healloop event the proposal serves.")],
    ) -> dict[str, Any]:
        """Land an approved proposal: its branch's commits onto the branch HEAD is on (a fast-forward when
        HEAD has not moved, else cherry-picked), then the branch is deleted. Refused, with nothing changed,
        when it does not apply cleanly or would overwrite uncommitted changes. Safe to retry."""
        return git.land(branch, event_id)

    def git_delete_branch(
        branch: Annotated[str, Field(description="A branch under 'healloop/', e.g. a rejected proposal.")],
        remote: Annotated[bool, Field(description="Also delete it on this node's configured remote (the "
                                      "branch a pull request was opened from).")] = False,
    ) -> dict[str, Any]:
        """Delete a healloop/ branch (a decided proposal) here and, with remote, on the node's configured
        remote. No branch outside healloop/ can be deleted. Safe to retry (deleted: false when it is
        gone)."""
        return git.delete_branch(branch, remote)

    def git_branches() -> dict[str, Any]:
        """List this node's healloop/ branches (proposals waiting for a decision, reverts left for a
        person) with their tip commits; other branches are not listed."""
        return git.branches()

    def git_revert(
        revision: Annotated[str, Field(description="The commit to undo.")],
        event_id: Annotated[str, Field(description="Id of the healloop event this revert serves.")],
        branch: Annotated[
            str | None,
            Field(
                description="Revert on this branch, created from the current HEAD (or switched to) first; "
                "must start with 'healloop/', e.g. 'healloop/revert-<event id>'. Default: the current branch."
            ),
        ] = None,
    ) -> dict[str, Any]:
        """Create a commit that undoes a previous commit, optionally on a healloop/ branch. Refused, with
        nothing changed, if it does not apply cleanly. Safe to retry for the same event and revision."""
        return git.revert(revision, event_id, branch)

    def git_push() -> dict[str, Any]:
        """Push HEAD to the remote and branch configured for this node (no other target is possible). If
        the remote branch moved on, this node's new commits are rebased onto it once and pushed again;
        a rebase that does not apply cleanly is undone and refused."""
        return git.push()

    def git_push_branch(
        branch: Annotated[str, Field(description="A proposal's branch under 'healloop/', e.g. "
                                     "'healloop/<event id>'.")],
    ) -> dict[str, Any]:
        """Push a healloop/ branch (a proposal) to this node's configured remote under the same name, so a
        pull request can be opened from it. No other branch can be pushed this way. Safe to retry."""
        return git.push_branch(branch)

    def forge_open_pull_request(
        event_id: RequiredEventId,
        branch: Annotated[str, Field(description="The pushed proposal branch, 'healloop/<event id>'.")],
        title: Annotated[str, Field(description="The pull request's title (the commit's subject).",
                                    min_length=1, max_length=250)],
        body: Annotated[str, Field(description="Markdown: what failed, the change, the verification.",
                                   max_length=60_000)],
    ) -> dict[str, Any]:
        """Open a pull request (GitLab: merge request) on this node's forge from a pushed healloop/ branch
        into the branch the node follows; a link back to the event is added to the body. Safe to retry: an
        open one for the same branch is returned (existing: true), never a second. Off unless
        [node.git] pull_requests is on."""
        check_event_id(event_id, required=True)
        settings = node.config.forge
        if settings is None or not node.config.pull_requests:
            raise ConfigError("pull requests are off on this node: set `node.git.forge` (with repository "
                              "and token_env) and `node.git.pull_requests = true` in healloop.toml",
                              field="node.git.pull_requests")
        git.check_branch(branch)
        footer = (f"\n\n---\nhealloop event: {_event_link(event_id)}. Merging this resolves the event; "
                  "closing it without merging rejects the fix.")
        pr = forge.client(settings).open_pull_request(branch, str(node.config.git_branch), title,
                                                       body + footer)
        return pr.to_dict()

    def forge_pull_request_status(
        number: Annotated[int, Field(description="The pull request's number (GitLab: the merge request's "
                                     "iid), as its proposal recorded it.", ge=1)],
    ) -> dict[str, Any]:
        """Ask this node's forge where a pull request stands: state open, merged or closed (without
        merging), who merged (or closed) it, the merge commit and its page. Changes nothing."""
        return forge.client(_forge_settings("reading pull requests")).pull_request_status(number).to_dict()

    def forge_close_pull_request(
        event_id: RequiredEventId,
        number: Annotated[int, Field(description="The pull request's number (GitLab: iid).", ge=1)],
        comment: Annotated[str, Field(description="Markdown: why it is closed (who decided what).",
                                      min_length=1, max_length=60_000)],
    ) -> dict[str, Any]:
        """Close a proposal's pull request (GitLab: merge request) on this node's forge with a comment
        saying why, after the proposal was decided by `healloop approve` or `reject`. Safe to retry: one
        already closed or merged is left as it is and said so (closed: false), not an error."""
        check_event_id(event_id, required=True)
        return forge.client(_forge_settings("closing pull requests")).close_pull_request(number, comment)

    def forge_open_issue(
        event_id: RequiredEventId,
        title: Annotated[str, Field(description="The issue's title: the test and a one-line reason.",
                                    min_length=1, max_length=250)],
        body: Annotated[str, Field(description="Markdown: the escalation's root-cause report.",
                                   max_length=60_000)],
        suspect_sha: Annotated[str, Field(description="The suspect commit the report names (full or "
                                          "abbreviated sha).", pattern=r"^[0-9a-fA-F]{7,64}$")],
    ) -> dict[str, Any]:
        """Open an issue on this node's forge for an escalated event, assigned to the suspect commit's
        author where the forge knows them (else unassigned, with the author's name and e-mail in the
        body); a link back to the event is added. Safe to retry: the event's open issue is returned
        (existing: true), never a second. Off unless [node.git] issues is on."""
        check_event_id(event_id, required=True)
        settings = _forge_settings("issues")
        if not node.config.issues:
            raise ConfigError("issues are off on this node: set `node.git.issues = true` in healloop.toml",
                              field="node.git.issues")
        local = git.author(suspect_sha)
        sha = local["sha"] if local else suspect_sha.lower()
        client = forge.client(settings)
        author = client.commit_author(sha, forge.Author(name=(local or {}).get("name"),
                                                         email=(local or {}).get("email")))
        footer = (f"\n\n---\nhealloop event: {_event_link(event_id)}, escalated. Once the cause is "
                  f"fixed, `healloop events requeue {event_id}` lets an agent verify it.")
        issue = client.open_issue(event_id, title, body + footer, sha, author)
        return {**issue.to_dict(), "suspect_sha": sha,
                "author": {"name": author.name, "email": author.email, "login": author.login}}

    def _forge_settings(what: str) -> forge.ForgeSettings:
        if node.config.forge is None:
            raise ConfigError(f"no forge on this node for {what}: set `node.git.forge` (with repository and "
                              "token_env) in healloop.toml", field="node.git.forge")
        return node.config.forge

    def _event_link(event_id: str) -> str:
        return (f"{node.config.public_url.rstrip('/')}/v1/events/{event_id}" if node.config.public_url
                else f"`{event_id}` (`healloop events show {event_id}`)")

    def git_pull() -> dict[str, Any]:
        """Fast-forward the workspace to the remote branch configured for this node (another node's pushed
        fix, say). Never merges or rewrites: refused when this node has commits the remote lacks, is on
        another branch, or has uncommitted changes the incoming commits would overwrite (uncommitted
        changes identical to what arrives are dropped, since the commit brings them). Safe to retry."""
        return git.pull()

    def discard_changes(
        event_id: RequiredEventId,
        keep_branch: Annotated[
            bool, Field(description="After a revert on a healloop/ branch: put HEAD back but keep the "
                        "branch and its commit (a proposal waiting for git_land_branch).")
        ] = False,
    ) -> dict[str, Any]:
        """Undo every uncommitted change made on this node for an event: files it edited get their
        original content back, files it created are removed, and after a revert on a healloop/ branch
        HEAD goes back to the branch it was on and the branch the event created is deleted (kept with
        keep_branch). A file someone else changed after the event's last write is left as it is and
        listed under `left`. Committed changes are not undone. Safe to retry: a second call finds nothing
        to undo."""
        check_event_id(event_id, required=True)
        return undo.discard(ws, journal, git, str(event_id), keep_branch=keep_branch)

    def pending_changes() -> dict[str, Any]:
        """List the events with uncommitted changes on this node that discard_changes can undo: event id,
        files, branch switch, and since when. While an event is listed, its files can be changed only
        for that event."""
        return undo.pending(journal)

    def keep_changes(event_id: RequiredEventId) -> dict[str, Any]:
        """Keep an event's uncommitted changes as they are and forget how to undo them, so its files are
        free for other events (for a fix accepted without a commit, such as a revert branch left for a
        person to merge). git_commit does this by itself for the files it commits."""
        check_event_id(event_id, required=True)
        return undo.keep(journal, str(event_id))

    def run_test_(
        spec: Annotated[
            str, Field(description="Test file relative to the workspace, e.g. 'tests/test_login.py'.")
        ],
        test: Annotated[str, Field(description="Test name or title within the file, e.g. 'test_login'.")],
        timeout: Annotated[
            float | None, Field(description="Seconds before the run is killed; at most the node's limit.")
        ] = None,
    ) -> dict[str, Any]:
        """Rerun exactly one test with this node's runner.

        Returns passed/failed, exit code, duration, the failure message and the tail of the output.
        Runs go one at a time on a node; a call waits for the one before it."""
        return run_test(ws, node.runner, spec, test, timeout)

    def service_status(
        name: Annotated[str, Field(description="Service name from the node's config.")],
    ) -> dict[str, Any]:
        """Report whether a configured service is running and passes its health check."""
        return node.services.status(name)

    def service_restart(
        name: Annotated[str, Field(description="Service name from the node's config.")],
        event_id: EventId = None,
    ) -> dict[str, Any]:
        """Restart a configured service and wait until its health check passes. Limited per service per hour;
        when the limit is reached the call is refused: read service_logs and fix the cause instead."""
        check_event_id(event_id)
        return node.services.restart(name)

    def service_logs(
        name: Annotated[str, Field(description="Service name from the node's config.")],
        lines: Annotated[int, Field(description="How many of the last lines to return (1-5000).")] = 100,
    ) -> dict[str, Any]:
        """Return the last lines of a configured service's log."""
        return node.services.logs(name, lines)

    def run_diagnostic(
        name: Annotated[str, Field(description="Diagnostic name from the node's config.")],
    ) -> dict[str, Any]:
        """Run one of the diagnostic commands named in the node's config (no other command can be run)."""
        return diagnostics.run_diagnostic(ws, node.config.diagnostics, name)

    def read_artifact(
        path: Annotated[
            str, Field(description="Path relative to the artifacts folder, e.g. 'login/screenshot.png'.")
        ],
    ) -> Any:
        """Read a test artifact: logs and DOM snapshots come back as text, screenshots as an image."""
        return artifacts.read_artifact(node.config.artifacts, path, ws.max_file_bytes)

    def node_info() -> dict[str, Any]:
        """Describe this node: its runner, configured services (with health URLs), git push target and the
        policy agents must follow (which paths they may edit, whether reverts and pushes are allowed)."""
        cfg = node.config
        return {
            "runner": cfg.runner.kind,
            # Reporters name specs relative to the runner's folder (Playwright: its config's; pytest:
            # its rootdir); agents map them into the workspace with it (a monorepo package).
            "runner_cwd": node.ws.relative(cfg.runner.cwd) if cfg.runner.cwd else ".",
            "run_timeout_s": cfg.runner.timeout,
            "services": {
                name: {"backend": s.backend, "health_url": s.health_url} for name, s in cfg.services.items()
            },
            # pull_requests names the forge when they are on (what agents before `forge` existed read).
            "git": {"remote": cfg.git_remote, "branch": cfg.git_branch,
                    "forge": cfg.forge.kind if cfg.forge else None,
                    "pull_requests": cfg.forge.kind if cfg.forge and cfg.pull_requests else None,
                    "issues": bool(cfg.forge and cfg.issues)},
            "policy": {
                "test_paths": list(cfg.policy.test_paths),
                "app_edits": cfg.policy.app_edits,
                "revert": cfg.policy.revert,
                "push": cfg.policy.push and bool(cfg.git_remote and cfg.git_branch),
                "pull": cfg.policy.pull and bool(cfg.git_remote and cfg.git_branch),
                "max_timeout_s": cfg.policy.max_timeout_s,
                "restarts_per_event": cfg.policy.restarts_per_event,
                "reverts_per_event": cfg.policy.reverts_per_event,
                "approve": list(cfg.policy.approve),
            },
        }

    run_test_.__name__ = "run_test"
    return [
        (node_info, READ),
        (read_file, READ),
        (list_files, READ),
        (search_text, READ),
        (edit_file, EDIT),
        (write_file, WRITE),
        (git_status, READ),
        (git_diff, READ),
        (git_log, READ),
        (git_show, READ),
        (git_commit, EDIT),
        (git_revert, EDIT),
        (git_land_branch, EDIT),
        (git_delete_branch, WRITE),
        (git_branches, READ),
        (git_push, PUSH),
        (git_push_branch, PUSH),
        (git_pull, PULL),
        (forge_open_pull_request, PUSH),
        (forge_pull_request_status, FORGE_READ),
        (forge_close_pull_request, PUSH),
        (forge_open_issue, PUSH),
        (discard_changes, WRITE),
        (pending_changes, READ),
        (keep_changes, EDIT),
        (run_test_, ACT),
        (service_status, READ),
        (service_restart, RESTART),
        (service_logs, READ),
        (run_diagnostic, ACT),
        (read_artifact, READ),
    ]
