"""The repository: agents commit their fixes, so it must exist, know who commits, and follow the
remote and branch the policy names; uncommitted test changes get mixed into heals."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from healloop.doctor.core import Finding, Setup, check, fail, git, ok, warn


@check("git", unmet="no git repository with a commit")
def check_git(setup: Setup) -> Iterator[Finding]:
    ws = setup.node.workspace
    top = git(ws, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        yield fail("git", f"the workspace {ws} is not a git repository: agents commit their fixes",
                   f"cd {ws} && git init && git add -A && git commit -m 'initial'")
        return
    setup.git_root = Path(top.stdout.strip())
    if git(ws, "rev-parse", "--verify", "--quiet", "HEAD").returncode != 0:
        yield fail("git", f"{setup.git_root} has no commit yet", "git add -A && git commit -m 'initial'")
        return
    yield ok("git", f"repository {setup.git_root}")


@check("git identity", needs=("config", "git"))
def check_identity(setup: Setup) -> Iterator[Finding]:
    ws = setup.node.workspace
    found = {key: git(ws, "config", key).stdout.strip() or os.environ.get(env, "")
             for key, env in (("user.name", "GIT_COMMITTER_NAME"), ("user.email", "GIT_COMMITTER_EMAIL"))}
    missing = [key for key, value in found.items() if not value]
    if missing:
        example = {"user.name": '"healloop on this machine"', "user.email": "healloop@example.invalid"}
        yield fail("git identity", f"{' and '.join(missing)} not set: agents' commits fail",
                   "; ".join(f"git config --global {k} {example[k]}" for k in missing))
        return
    yield ok("git identity", f"{found['user.name']} <{found['user.email']}>")


@check("git policy", needs=("config", "git"))
def check_git_policy(setup: Setup) -> Iterator[Finding]:
    node, ws = setup.node, setup.node.workspace
    remote, branch, policy = node.git_remote, node.git_branch, node.policy
    wants = [k for k in ("push", "pull") if getattr(policy, k)]
    if not (remote and branch):
        if wants:
            yield fail("git policy", f"[node.policy] {' and '.join(wants)} = true needs [node.git] remote "
                                     "and branch", 'set [node.git] remote and branch, or turn them off')
        elif remote or branch:
            yield warn("git policy", "[node.git] needs both remote and branch; git_push and git_pull are off",
                       "set both")
        else:
            yield ok("git policy", "no [node.git]: fixes stay local commits")
        return
    if git(ws, "remote", "get-url", remote).returncode != 0:
        yield fail("git policy", f"[node.git] remote {remote!r} is not a remote of {setup.git_root}",
                   f"git remote add {remote} URL, or fix node.git.remote")
        return
    refs = (f"refs/remotes/{remote}/{branch}", f"refs/heads/{branch}")
    if not any(git(ws, "rev-parse", "--verify", "--quiet", ref).returncode == 0 for ref in refs):
        yield warn("git policy", f"branch {branch!r} is not known here (not local, not fetched from "
                                 f"{remote}); if {remote} lacks it too, the first push creates it and pulls "
                                 "fail until then", f"git fetch {remote}")
        return
    current = git(ws, "rev-parse", "--abbrev-ref", "HEAD").stdout.strip()
    if policy.pull and current != branch:
        yield warn("git policy", f"the workspace is on {current!r}, not the followed branch {branch!r}: "
                                 "git_pull refuses, so agents skip catching up", f"git switch {branch}")
        return
    yield ok("git policy", f"follows {remote}/{branch}" + (f" ({', '.join(wants)})" if wants else ""))


@check("test files", needs=("config", "git"))
def check_test_files(setup: Setup) -> Iterator[Finding]:
    from healloop.agent.guardrails import Policy, is_test_path

    ws = setup.node.workspace
    out = git(ws, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", ".").stdout
    # Porcelain paths are relative to the repository's root; test_paths to the workspace.
    prefix = git(ws, "rev-parse", "--show-prefix").stdout.strip()
    policy = Policy(test_paths=setup.node.policy.test_paths)
    entries, paths = iter(out.split("\0")), []
    for entry in entries:
        if len(entry) > 3:
            paths.append(entry[3:].removeprefix(prefix))
            if entry[0] in "RC":
                next(entries, None)  # a rename's original name follows it
    dirty = [p for p in paths if is_test_path(p, policy)]
    if not dirty:
        yield ok("test files", "no uncommitted changes in test files")
        return
    shown = ", ".join(dirty[:3]) + (f" and {len(dirty) - 3} more" if len(dirty) > 3 else "")
    yield warn("test files", f"uncommitted changes in {shown}: a heal of such a file commits the whole file, "
                             "your changes included, and a pull that touches it is refused",
               "commit or stash them before `healloop up`")

