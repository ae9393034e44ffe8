"""Git tools over the workspace repository, with structured results (sha, files, diff text).

Commits carry the trailer ``Healloop-Event: <id>``; that trailer is also how a repeated commit or
revert for the same event is recognised and answered with the existing sha instead of a new commit.
Push goes only to the remote and branch in the node's config. With an undo journal, a commit for an
event is refused when it would take in another event's uncommitted changes, and it drops the event's
journal entries for what it committed; a revert's branch switch is journaled before it happens.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from healloop.errors import ConfigError, Conflict, InvalidInput, NotFound
from healloop.node.journal import HeadSwitch, Journal
from healloop.node.workspace import Workspace

MAX_DIFF_CHARS = 200_000
_EVENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_US, _RS = "\x1f", "\x1e"
_LOG_FORMAT = f"%H{_US}%an{_US}%aI{_US}%s{_US}%B{_RS}"
# Every branch healloop makes, deletes or lands (a revert, a proposal) is under this prefix, so it never
# writes to main or a person's branch that way.
REVERT_BRANCH_PREFIX = "healloop/"


def check_event_id(event_id: str | None, *, required: bool = False) -> str | None:
    if event_id is None or event_id == "":
        if required:
            raise InvalidInput(
                "`event_id` is required: the id of the healloop event this change is for", field="event_id"
            )
        return None
    if not _EVENT_ID.match(event_id):
        raise InvalidInput(
            f"`event_id` must be 1-128 characters of letters, digits, '_', '.', ':', '-', got {event_id!r}",
            field="event_id",
        )
    return event_id


def _check_revision(revision: str) -> str:
    if not revision or revision.startswith("-") or any(c.isspace() or c == "\x00" for c in revision):
        raise InvalidInput(
            f"`revision` must be a commit, branch or tag name, got {revision!r}", field="revision"
        )
    return revision


def head_content(root: Path, rel: str) -> bytes | None:
    """The bytes of ``rel`` in HEAD; None when HEAD has no such file (or there is no HEAD at all)."""
    proc = subprocess.run(
        ["git", "-C", str(root), "cat-file", "blob", f"HEAD:{rel}"], capture_output=True, timeout=60
    )
    return proc.stdout if proc.returncode == 0 else None


def _truncate(text: str) -> tuple[str, bool]:
    return (text[:MAX_DIFF_CHARS], True) if len(text) > MAX_DIFF_CHARS else (text, False)


class GitOps:
    def __init__(
        self, ws: Workspace, *, remote: str | None = None, branch: str | None = None,
        journal: Journal | None = None,
    ) -> None:
        self.ws, self.remote, self.branch, self.journal = ws, remote, branch, journal

    def _git(self, *args: str, stdin: str | None = None, ok: tuple[int, ...] = (0,),
             env: dict[str, str] | None = None) -> str:
        proc = subprocess.run(
            ["git", "-C", str(self.ws.root), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            env=None if env is None else {**os.environ, **env},
        )
        if proc.returncode not in ok:
            message = (proc.stderr or proc.stdout).strip() or f"exit code {proc.returncode}"
            raise Conflict(f"git {args[0]} failed: {message}")
        return proc.stdout

    def _paths(self, paths: list[str] | None) -> list[str]:
        return [self.ws.relative(self.ws.resolve(p, what="paths", must_exist=False)) for p in paths or []]

    def _files(self, *args: str) -> list[str]:
        return [f for f in self._git(*args).split("\0") if f]

    def _commit_info(self, sha: str) -> dict[str, Any]:
        out = self._git("show", "-s", f"--format={_LOG_FORMAT}", sha)
        full, author, date, subject, body = out.rstrip(_RS + "\n").split(_US, 4)
        files = self._files("show", "--name-only", "-z", "--format=", sha)
        return {
            "sha": full,
            "author": author,
            "date": date,
            "subject": subject,
            "message": body.strip(),
            "files": files,
        }

    def _status(self, *args: str) -> tuple[str | None, list[dict[str, str]]]:
        out = self._git("status", "--porcelain=v1", "-z", *args)
        entries = [e for e in out.split("\0") if e]
        branch = entries.pop(0)[3:] if entries and entries[0].startswith("## ") else None
        files = []
        skip = False
        for entry in entries:
            if skip:  # the original name of a rename follows it
                skip = False
                continue
            code, name = entry[:2], entry[3:]
            files.append({"path": name, "index": code[0].strip(), "worktree": code[1].strip()})
            skip = code[0] in "RC"
        return branch, files

    def status(self) -> dict[str, Any]:
        branch, files = self._status("--branch")
        return {"branch": branch, "clean": not files, "files": files}

    def _check_owners(self, event_id: str, rels: list[str]) -> None:
        """Refuse a commit for ``event_id`` that would take in another event's uncommitted changes."""
        if self.journal is None:
            return
        _, files = self._status("--untracked-files=all", "--", *rels)
        for entry in files:
            self.journal.check_owner(entry["path"], event_id)

    def diff(self, ref: str | None = None) -> dict[str, Any]:
        args = [_check_revision(ref)] if ref else []
        files = self._files("diff", "--name-only", "-z", *args, "--")
        diff, truncated = _truncate(self._git("diff", *args, "--"))
        return {"ref": ref, "files": files, "diff": diff, "truncated": truncated}

    def log(self, path: str | None = None, max_count: int = 20) -> dict[str, Any]:
        if not 1 <= max_count <= 500:
            raise InvalidInput(f"`max_count` must be 1-500, got {max_count}", field="max_count")
        args = ["--", *self._paths([path])] if path else []
        out = self._git("log", f"--max-count={max_count}", f"--format={_LOG_FORMAT}", *args, ok=(0, 128))
        commits = []
        for record in out.split(_RS):
            if record.strip():
                sha, author, date, subject, _ = record.strip("\n").split(_US, 4)
                commits.append({"sha": sha, "author": author, "date": date, "subject": subject})
        return {"path": path, "commits": commits}

    def _resolve_commit(self, revision: str) -> str:
        _check_revision(revision)
        try:
            return self._git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}").strip()
        except Conflict:
            raise NotFound(
                f"`revision` {revision!r} is not a commit in this repository", field="revision"
            ) from None

    def show(self, revision: str) -> dict[str, Any]:
        sha = self._resolve_commit(revision)
        info = self._commit_info(sha)
        info["diff"], info["truncated"] = _truncate(self._git("show", "--format=", "--patch", sha))
        return info

    def find_event_commit(self, event_id: str) -> str | None:
        pattern = f"^Healloop-Event: {re.escape(event_id)}$"
        out = self._git("log", "--max-count=1", "--format=%H", "-E", f"--grep={pattern}", "HEAD", ok=(0, 128))
        return out.strip() or None

    def _with_trailer(self, message: str, event_id: str) -> str:
        if not message.strip():
            raise InvalidInput("`message` is empty; describe the change in one line", field="message")
        trailer = f"Healloop-Event: {event_id}"
        return message if trailer in message else f"{message.rstrip()}\n\n{trailer}\n"

    def commit(self, message: str, event_id: str, paths: list[str] | None = None,
               branch: str | None = None) -> dict[str, Any]:
        check_event_id(event_id, required=True)
        rels = self._paths(paths)
        if branch is not None:
            return self._commit_on_branch(message, event_id, rels, self.check_branch(branch))
        with self.ws.lock("git"):
            pending = self._git("status", "--porcelain=v1", "-z", "--", *rels).strip("\0")
            existing = self.find_event_commit(event_id)
            if not pending:
                if existing:
                    # A retry after a commit whose journal update was cut short: nothing of this event
                    # under these paths is uncommitted any more.
                    self._forget(event_id, rels or None)
                    return {**self._commit_info(existing), "already_committed": True}
                raise Conflict(
                    "nothing to commit: the working tree has no changes" + (f" under {rels}" if rels else "")
                )
            self._check_owners(event_id, rels)
            self._git("add", "-A", "--", *(rels or ["."]))
            # `-- paths` commits only those paths, so unrelated staged work stays out of this commit.
            self._git("commit", "-F", "-", "--", *rels, stdin=self._with_trailer(message, event_id))
            sha = self._git("rev-parse", "HEAD").strip()
            info = self._commit_info(sha)
            # Committed work is no longer this event's to undo.
            self._forget(event_id, info["files"])
        return {**info, "already_committed": False}

    def _commit_on_branch(self, message: str, event_id: str, rels: list[str], branch: str) -> dict[str, Any]:
        """Commit the changes onto ``branch`` (a child of HEAD) without moving HEAD or touching the working
        tree and index: a fix proposed for a person's approval. The event's changes stay uncommitted in the
        working tree, still journaled, for discard_changes to put back; so the followed branch never holds
        a proposal, and a node that dies halfway leaves at most a branch behind."""
        with self.ws.lock("git"):
            head = self._git("rev-parse", "HEAD").strip()
            if not self._git("status", "--porcelain=v1", "-z", "--", *rels).strip("\0"):
                raise Conflict(
                    "nothing to commit: the working tree has no changes" + (f" under {rels}" if rels else "")
                )
            self._check_owners(event_id, rels)
            with tempfile.TemporaryDirectory(prefix="healloop-index-") as tmp:
                env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
                self._git("read-tree", "HEAD", env=env)
                self._git("add", "-A", "--", *(rels or ["."]), env=env)
                tree = self._git("write-tree", env=env).strip()
            if tree == self._git("rev-parse", "HEAD^{tree}").strip():
                raise Conflict("nothing to commit: the changes are already in HEAD")
            old = ""
            if self._branch_exists(branch):
                old = self._git("rev-parse", f"refs/heads/{branch}").strip()
                info = self._commit_info(old)
                if f"Healloop-Event: {event_id}" not in info["message"]:
                    raise Conflict(f"branch {branch} exists and does not hold a commit of event {event_id}; "
                                   "delete it or choose another branch")
                # A retry of the same proposal on the same HEAD: answer with it instead of a new commit.
                if self._git("rev-parse", f"{old}^", f"{old}^{{tree}}").split() == [head, tree]:
                    return {**info, "branch": branch, "base": head, "already_committed": True}
            sha = self._git("commit-tree", tree, "-p", head, "-F", "-",
                            stdin=self._with_trailer(message, event_id)).strip()
            # Compare-and-swap on the ref: a concurrent writer of the same branch makes this fail.
            self._git("update-ref", f"refs/heads/{branch}", sha, old or "0" * len(sha))
        return {**self._commit_info(sha), "branch": branch, "base": head, "already_committed": False}

    def land(self, branch: str, event_id: str) -> dict[str, Any]:
        """Bring a proposal's branch onto the branch HEAD is on (a fast-forward when HEAD has not moved
        since, else its commits cherry-picked), then delete it. Refused, with nothing changed, when it
        does not apply cleanly or would overwrite uncommitted changes. Safe to retry: once landed, the
        event's commit on HEAD is returned (already_landed: true)."""
        check_event_id(event_id, required=True)
        self.check_branch(branch)
        with self.ws.lock("git"):
            if not self._branch_exists(branch):
                existing = self.find_event_commit(event_id)
                if existing:
                    return {**self._commit_info(existing), "branch": branch, "landed": [existing],
                            "fast_forward": None, "already_landed": True}
                raise NotFound(f"no branch {branch} on this node, and HEAD has no commit of event "
                               f"{event_id}: the proposal was rejected, or made on another node",
                               field="branch")
            current = self._head()
            if current == branch:
                raise Conflict(f"HEAD is on {branch} itself; switch to the branch it should land on first")
            tip = self._git("rev-parse", f"refs/heads/{branch}").strip()
            commits = self._git("rev-list", "--reverse", f"HEAD..{tip}").split()
            ff = bool(commits) and self._is_ancestor("HEAD", tip)
            if ff:
                self._git("merge", "--ff-only", "--quiet", tip)
            elif commits:
                try:
                    self._git("cherry-pick", *commits)
                except Conflict as exc:
                    self._git("cherry-pick", "--abort", ok=(0, 128))
                    raise Conflict(f"the proposal on {branch} no longer applies cleanly on {current}; "
                                   "nothing was changed: reject it, then requeue the event "
                                   f"({exc.message})") from None
            new = self._git("rev-parse", "HEAD").strip()
            self._git("branch", "-D", branch)
            # A cherry-pick makes new commits (same changes and trailer, new parents): those are what landed.
            landed = commits if ff or not commits else self._git(
                "rev-list", "--reverse", f"{new}~{len(commits)}..{new}").split()
        return {**self._commit_info(new), "branch": branch, "landed": landed, "fast_forward": ff,
                "already_landed": not commits}

    def _is_ancestor(self, older: str, newer: str) -> bool:
        proc = subprocess.run(["git", "-C", str(self.ws.root), "merge-base", "--is-ancestor", older, newer],
                              capture_output=True, timeout=60)
        return proc.returncode == 0

    def delete_branch(self, branch: str, remote: bool = False) -> dict[str, Any]:
        """Delete a healloop/ branch (a decided proposal) here and, with ``remote``, on the configured
        remote too (the branch a pull request was opened from). Safe to retry: a branch already gone here
        or there is not an error (deleted: false)."""
        self.check_branch(branch)
        target = self._target("git_delete_branch with remote")[0] if remote else None
        with self.ws.lock("git"):
            if self._head() == branch:
                raise Conflict(f"HEAD is on {branch}; switch away from it before deleting it")
            result: dict[str, Any] = {"branch": branch, "deleted": False, "sha": None}
            if self._branch_exists(branch):
                tip = self._git("rev-parse", f"refs/heads/{branch}").strip()
                self._git("branch", "-D", branch)
                result.update(deleted=True, sha=tip)
        if target is not None:
            result["remote"] = self._delete_remote_branch(target, branch)
        return result

    def _delete_remote_branch(self, remote: str, branch: str) -> dict[str, Any]:
        ref = f"refs/heads/{branch}"
        # Asked first: pushing the deletion of a ref the remote lacks is an error, and a retry is not.
        found = self._git("ls-remote", "--heads", remote, ref).split()
        if not found:
            return {"remote": remote, "deleted": False, "sha": None}
        self._git("push", "--porcelain", "--delete", remote, ref)
        return {"remote": remote, "deleted": True, "sha": found[0]}

    def branches(self) -> dict[str, Any]:
        """This repository's healloop/ branches (proposals and reverts) and their tips; no others."""
        out = self._git("for-each-ref", f"--format=%(refname:short){_US}%(objectname)",
                        f"refs/heads/{REVERT_BRANCH_PREFIX}")
        found = [line.split(_US, 1) for line in out.splitlines() if line]
        return {"branches": [{"name": name, "sha": sha} for name, sha in found]}

    def author(self, revision: str) -> dict[str, str] | None:
        """The full sha and git's author (name, e-mail) of a commit; None when this repository lacks it."""
        try:
            sha = self._resolve_commit(revision)
        except (NotFound, InvalidInput):
            return None
        name, email = self._git("show", "-s", f"--format=%an{_US}%ae", sha).strip().split(_US, 1)
        return {"sha": sha, "name": name, "email": email}

    def _forget(self, event_id: str, rels: list[str] | None) -> None:
        if self.journal is not None:
            self.journal.forget_files(event_id, rels)

    def check_branch(self, branch: str) -> str:
        if not branch.startswith(REVERT_BRANCH_PREFIX) or branch == REVERT_BRANCH_PREFIX:
            raise InvalidInput(
                f"`branch` must start with {REVERT_BRANCH_PREFIX!r} (e.g. 'healloop/revert-evt_1'), "
                f"got {branch!r}",
                field="branch",
            )
        proc = subprocess.run(
            ["git", "check-ref-format", "--branch", branch], capture_output=True, text=True, timeout=30
        )
        if proc.returncode != 0 or branch.startswith("-"):
            raise InvalidInput(f"`branch` {branch!r} is not a valid git branch name", field="branch")
        return branch

    def _head(self) -> str:
        """The branch HEAD is on, or its sha when detached."""
        current = self._git("rev-parse", "--abbrev-ref", "HEAD").strip()
        return self._git("rev-parse", "HEAD").strip() if current == "HEAD" else current

    def _branch_exists(self, branch: str) -> bool:
        return bool(self._git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", ok=(0, 1)).strip())

    def _switch_to(self, branch: str, event_id: str) -> tuple[str, bool]:
        """Switch to ``branch``, creating it from the current HEAD. Returns what HEAD was (a branch name,
        or a sha when detached) and whether the branch was created. Uncommitted changes come along, or git
        refuses and nothing changes. The switch is journaled for the event before it is made."""
        current = self._head()
        if current == branch:
            return current, False
        exists = self._branch_exists(branch)
        if self.journal is not None:
            self.journal.record_switch(event_id, current, branch, created=not exists)
        self._git("switch", *(() if exists else ("-c",)), branch)
        return current, not exists

    def _switch(self, target: str) -> None:
        self._git("switch", "--detach" if re.fullmatch(r"[0-9a-f]{40,64}", target) else "--no-guess", target)

    def switch_back(self, head: HeadSwitch, keep_branch: bool = False) -> dict[str, Any]:
        """Undo a journaled branch switch: HEAD back where it was, the branch deleted if the switch
        created it (unless ``keep_branch``: a verified revert proposed for approval). A HEAD someone moved
        elsewhere since is left alone and said so (``left``)."""
        result: dict[str, Any] = {"branch": head.branch, "back_to": head.before, "switched": False,
                                  "deleted": False}
        with self.ws.lock("git"):
            current = self._head()
            if current == head.branch:
                if Path(self.ws.root, self._git("rev-parse", "--git-path", "REVERT_HEAD").strip()).exists():
                    self._git("revert", "--abort")  # a revert cut short (the node died mid-call)
                try:
                    self._switch(head.before)
                except Conflict as exc:
                    result["left"] = f"could not switch back to {head.before!r}: {exc.message}"
                    return result
                result["switched"] = True
            elif current != head.before:
                result["left"] = (
                    f"HEAD is on {current!r}, moved there after the event's switch; left as it is"
                )
                return result
            if head.created and not keep_branch and self._branch_exists(head.branch):
                self._git("branch", "-D", head.branch)
                result["deleted"] = True
        return result

    def revert(self, revision: str, event_id: str, branch: str | None = None) -> dict[str, Any]:
        check_event_id(event_id, required=True)
        if branch is not None:
            self.check_branch(branch)
        with self.ws.lock("git"):
            sha = self._resolve_commit(revision)
            on_branch: dict[str, Any] = {}
            before, created = "", False
            if branch is not None:
                before, created = self._switch_to(branch, event_id)
                on_branch = {"branch": branch, "from": before}
            existing = self.find_event_commit(event_id)
            if existing and f"This reverts commit {sha}" in self._commit_info(existing)["message"]:
                return {**self._commit_info(existing), **on_branch, "already_committed": True}
            subject = self._commit_info(sha)["subject"]
            try:
                self._git("revert", "--no-commit", sha)
            except Conflict as exc:
                self._git("revert", "--abort", ok=(0, 128))
                if created:  # leave HEAD where it was and no empty branch behind
                    self._switch(before)
                    self._git("branch", "-D", branch)
                    if self.journal is not None:
                        self.journal.forget_head(event_id, branch)
                raise Conflict(
                    f"cannot revert {sha[:12]} cleanly; nothing was changed ({exc.message})"
                ) from None
            message = f'Revert "{subject}"\n\nThis reverts commit {sha}.'
            self._git("commit", "-F", "-", stdin=self._with_trailer(message, event_id))
            new = self._git("rev-parse", "HEAD").strip()
        return {**self._commit_info(new), **on_branch, "already_committed": False}

    def _target(self, tool: str) -> tuple[str, str]:
        if not self.remote or not self.branch:
            raise ConfigError(
                f"{tool} is off: set `node.git.remote` and `node.git.branch` in healloop.toml",
                field="node.git",
            )
        return self.remote, self.branch

    def _fetch(self, remote: str, branch: str) -> str:
        """Fetch the followed branch; returns its sha."""
        self._git("fetch", "--quiet", remote, f"refs/heads/{branch}")
        return self._git("rev-parse", "FETCH_HEAD^{commit}").strip()

    def push(self) -> dict[str, Any]:
        remote, branch = self._target("push")
        with self.ws.lock("git"):
            head = self._git("rev-parse", "HEAD").strip()
            try:
                self._git("push", "--porcelain", remote, f"HEAD:refs/heads/{branch}")
                return {"remote": remote, "branch": branch, "sha": head, "rebased": False}
            except Conflict as first:
                # Another node pushed first (its own fix): replay this node's commits on top once. A
                # conflict means two fixes touch the same lines, which a person should see.
                upstream = self._fetch(remote, branch)
                if self._is_ancestor("HEAD", upstream):  # already there (a retried push)
                    return {"remote": remote, "branch": branch, "sha": head, "rebased": False}
                if self._is_ancestor(upstream, "HEAD"):
                    raise first  # not a race we can repair (auth, hooks, ...): report git's words
                try:
                    self._git("rebase", "--quiet", "--autostash", upstream)
                except Conflict as exc:
                    self._git("rebase", "--abort", ok=(0, 128))
                    raise Conflict(
                        f"the remote {branch} moved on and this node's commits do not rebase cleanly onto "
                        f"{upstream[:12]}; nothing was pushed ({exc.message})"
                    ) from None
                head = self._git("rev-parse", "HEAD").strip()
                self._git("push", "--porcelain", remote, f"HEAD:refs/heads/{branch}")
                return {"remote": remote, "branch": branch, "sha": head, "rebased": True, "onto": upstream}

    def push_branch(self, branch: str) -> dict[str, Any]:
        """Push a healloop/ branch (a proposal) to the configured remote under the same name, for a pull
        request. Forced: the branch belongs to one event, and a new proposal for it (after a rejection
        and a requeue) replaces the old one. Nothing outside healloop/ can be pushed this way."""
        remote, _ = self._target("git_push_branch")
        self.check_branch(branch)
        with self.ws.lock("git"):
            if not self._branch_exists(branch):
                raise NotFound(f"no branch {branch} on this node to push", field="branch")
            sha = self._git("rev-parse", f"refs/heads/{branch}").strip()
            self._git("push", "--porcelain", "--force", remote, f"refs/heads/{branch}:refs/heads/{branch}")
        return {"remote": remote, "branch": branch, "sha": sha}

    def _is_ancestor(self, ancestor: str, rev: str) -> bool:
        proc = subprocess.run(
            ["git", "-C", str(self.ws.root), "merge-base", "--is-ancestor", ancestor, rev],
            capture_output=True,
            timeout=60,
        )
        return proc.returncode == 0

    def _dirty(self) -> set[str]:
        return set(self._files("diff", "--name-only", "-z", "HEAD", "--"))

    def pull(self) -> dict[str, Any]:
        remote, branch = self._target("pull")
        with self.ws.lock("git"):
            current = self._git("rev-parse", "--abbrev-ref", "HEAD").strip()
            if current != branch:
                raise Conflict(
                    f"the workspace is on {current!r}, not the followed branch {branch!r}; nothing was pulled"
                )
            before = self._git("rev-parse", "HEAD").strip()
            upstream = self._fetch(remote, branch)
            if self._is_ancestor(upstream, before):
                return {"remote": remote, "branch": branch, "before": before, "after": before,
                        "updated": False, "commits": [], "dropped": []}
            if not self._is_ancestor(before, upstream):
                raise Conflict(
                    f"this node has commits that {remote}/{branch} lacks; a pull would merge, so nothing "
                    "was pulled (push them, or reset the workspace to the remote)"
                )
            incoming = set(self._files("diff", "--name-only", "-z", before, upstream, "--"))
            # A change made here that the incoming commits carry byte for byte (a fix applied on this node
            # before it went down, then committed by another node) is dropped; any other local change to
            # an incoming file is kept and the pull refused, since it would be overwritten.
            same, differing = [], []
            for path in sorted(incoming & self._dirty()):
                local = self.ws.root / path
                theirs = self._git("rev-parse", "--verify", "--quiet", f"{upstream}:{path}", ok=(0, 1))
                theirs = theirs.strip()
                mine = self._git("hash-object", "--", path).strip() if local.is_file() else ""
                (same if theirs and mine == theirs else differing).append(path)
            if differing:
                raise Conflict(
                    f"uncommitted changes to {', '.join(differing)} would be overwritten by "
                    f"{remote}/{branch}; nothing was pulled"
                )
            if same:
                self._git("checkout", "HEAD", "--", *same)
            self._git("merge", "--ff-only", "--quiet", upstream)
            out = self._git("log", f"--format=%H{_US}%s", f"{before}..{upstream}")
            commits = [dict(zip(("sha", "subject"), line.split(_US, 1), strict=True))
                       for line in out.splitlines() if line]
        return {"remote": remote, "branch": branch, "before": before, "after": upstream,
                "updated": True, "commits": commits, "dropped": same}
