"""`healloop doctor` on real things: a git repository with a small pytest suite and its own venv, a
queue with a token, a command service, run as the `healloop doctor` command a user types."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import healloop
from healloop.stack import free_port
from tests.support import ROOT, QueueServer, wait_until

TOKEN = "doctor-token"
NODE = "doc-node"
PLAYWRIGHT_MODULES = ROOT / "integrations" / "playwright" / "node_modules"


@dataclass
class Infra:
    """What the tests share, outside every project folder: venvs, a queue, a service, a browser."""

    folder: Path
    python: Path        # a project venv that can import pytest and healloop
    bare_python: Path   # a project venv that can import pytest only
    queue: QueueServer
    web_port: int
    chromium: Path


def _venv(folder: Path, *paths: Path) -> Path:
    """A real venv without pip, reaching the given folders through a .pth file (no index to install
    from in a test). With --copies: node.config resolves `node.runner.python`, and the usual symlink
    would resolve to the base interpreter, outside the venv."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--copies", str(folder)], check=True,
                   timeout=60)
    site = next(folder.glob("lib/python*/site-packages"))
    (site / "doctor-tests.pth").write_text("".join(f"{p}\n" for p in paths))
    return folder / "bin" / "python"


@pytest.fixture(scope="module")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    folder = tmp_path_factory.mktemp("infra")
    pytest_home = Path(pytest.__file__).resolve().parents[1]
    healloop_home = Path(healloop.__file__).resolve().parents[1]
    python = _venv(folder / "venv", pytest_home, healloop_home)
    bare_python = _venv(folder / "bare", pytest_home)
    chromium = folder / "chromium"
    chromium.write_text("#!/bin/sh\n")
    chromium.chmod(0o755)
    queue = QueueServer(folder / "events.db", token=TOKEN).start()
    web_port = free_port()
    web = subprocess.Popen([sys.executable, "-m", "http.server", str(web_port), "--bind", "127.0.0.1",
                            "--directory", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with queue.client() as q:
            q.post("/v1/nodes", json={"name": NODE, "mcp_url": "http://127.0.0.1:9/mcp", "labels": {}}
                   ).raise_for_status()

        def web_up() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{web_port}/", timeout=1).is_success
            except httpx.HTTPError:
                return False

        wait_until(web_up, timeout=20, what="the web service to answer")
        yield Infra(folder, python, bare_python, queue, web_port, chromium)
    finally:
        web.terminate()
        web.wait(10)
        queue.stop()


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=_env(repo.parent / "home")).stdout


def make_project(root: Path, *, identity: bool = True) -> Path:
    """A git repository with a two-test pytest suite; healloop's folder ignored."""
    proj = root / "proj"
    (proj / "tests").mkdir(parents=True)
    (root / "home").mkdir(exist_ok=True)
    (proj / "tests" / "test_shop.py").write_text("def test_total():\n    assert 2 + 2 == 4\n\n\n"
                                                 "def test_name():\n    assert 'shop'\n")
    (proj / ".gitignore").write_text(".healloop/\n")
    subprocess.run(["git", "init", "-q", "-b", "main", str(proj)], check=True, env=_env(root / "home"))
    if identity:
        git(proj, "config", "user.name", "doctor test")
        git(proj, "config", "user.email", "doctor@test.invalid")
    git(proj, "add", "-A")
    git(proj, "-c", "user.name=seed", "-c", "user.email=seed@test.invalid", "commit", "-qm", "initial")
    return proj


def write_config(proj: Path, infra: Infra, *, token: str = TOKEN, python: Path | None = None,
                 web_port: int | None = None, data_dir: str = ".healloop", extra: str = "",
                 queue_port: int | None = None) -> Path:
    """The team's queue at ``url`` (joined), or with ``queue_port`` a queue of this machine's own."""
    later = free_port()
    queue = f'port = {queue_port}' if queue_port else f'url = "{infra.queue.url}"\ntoken = "{token}"'
    config = proj / "healloop.toml"
    config.write_text(f"[queue]\n{queue}\n" + textwrap.dedent(f"""
        data_dir = "{data_dir}"
        [mcp]
        name = "{NODE}"
        [node]
        workspace = "."
        artifacts = ".healloop/artifacts"
        [node.runner]
        kind = "pytest"
        python = "{python or infra.python}"
        timeout = 60
        # The .pth reaches healloop's site-packages, whose entry points name plugins it cannot import.
        env = {{ PYTEST_DISABLE_PLUGIN_AUTOLOAD = "1" }}
        [node.services.web]
        start = ["{sys.executable}", "-m", "http.server", "{web_port or infra.web_port}"]
        health = "http://127.0.0.1:{web_port or infra.web_port}/"
        [node.services.later]
        start = ["{sys.executable}", "-m", "http.server", "{later}"]
        health = "http://127.0.0.1:{later}/"
        autostart = true
    """) + textwrap.dedent(extra))
    return config


def _env(home: Path, **extra: str) -> dict[str, str]:
    """A user's shell with an empty HOME: no global git config, no XDG state folder, no HEALLOOP_*."""
    drop = ("HEALLOOP_", "XDG_", "GIT_", "EMAIL", "PLAYWRIGHT_", "CYPRESS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return env | {"HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", **extra}


def doctor(proj: Path, infra: Infra, *args: str, **env_extra: str) -> tuple[int, str]:
    env = _env(proj.parent / "home", PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH=str(infra.chromium), **env_extra)
    done = subprocess.run([sys.executable, "-m", "healloop", "doctor", *args], cwd=proj, env=env,
                          capture_output=True, text=True, timeout=120)
    assert not done.stderr, done.stderr
    return done.returncode, done.stdout


def findings(output: str) -> dict[str, list[dict[str, str]]]:
    by_name: dict[str, list[dict[str, str]]] = {}
    for f in json.loads(output)["findings"]:
        by_name.setdefault(f["name"], []).append(f)
    return by_name


def snapshot(*roots: Path) -> dict[str, tuple[int, int, str]]:
    """Every file and folder under ``roots``: mode, mtime and content digest."""
    seen: dict[str, tuple[int, int, str]] = {}
    for root in roots:
        for path in [root, *root.rglob("*")]:
            st = path.lstat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
            seen[str(path)] = (st.st_mode, st.st_mtime_ns, digest)
    return seen


def test_a_sound_setup_is_all_ok_and_doctor_changes_nothing(tmp_path: Path, infra: Infra) -> None:
    proj = make_project(tmp_path)
    write_config(proj, infra)
    status = git(proj, "status", "--porcelain")  # first: `git status` may refresh the index
    before = snapshot(tmp_path)
    code, out = doctor(proj, infra)
    assert code == 0, out
    lines = out.splitlines()
    assert all(ln.startswith("ok   ") for ln in lines[:-1]), out
    for expected in (
        "ok   collect: pytest collects 2 test(s)",
        f"ok   python: reruns use the project's interpreter {infra.python}",
        f"ok   reporter: the pytest plugin is importable by {infra.python}",
        f"ok   service web: healthy (GET http://127.0.0.1:{infra.web_port}/: 200)",
        "ok   service later: not running; `healloop up` starts it",
        f"ok   queue: reachable at {infra.queue.url}, token accepted",
        f"ok   node: '{NODE}' is registered",
        f"ok   chromium: {infra.chromium}",
        f"ok   data dir: {proj / '.healloop'} is writable and ignored by git",
        "ok   git identity: doctor test <doctor@test.invalid>",
    ):
        assert any(ln.startswith(expected) for ln in lines), f"{expected!r} not in:\n{out}"
    assert "ok   forge: no [node.git] forge: proposals and escalations stay in healloop" in out
    assert lines[-1].startswith("doctor: 18 ok, 0 warnings, 0 failures; ready"), out
    # No side effects: the project, its .git and the user's HOME are as they were, to the mtime.
    assert snapshot(tmp_path) == before
    assert git(proj, "status", "--porcelain") == status


def test_a_wrong_token_fails_and_an_unhealthy_service_warns(tmp_path: Path, infra: Infra) -> None:
    proj = make_project(tmp_path)
    dead = free_port()
    write_config(proj, infra, token="wrong", web_port=dead)
    code, out = doctor(proj, infra, "--json")
    assert code == 1
    found = findings(out)
    queue = found["queue"][0]
    assert queue["level"] == "fail" and "401" in queue["message"]
    assert "token ([queue] token) is wrong" in queue["message"]
    assert queue["fix"] == "set [queue] token or HEALLOOP_TOKEN to the queue's token"
    web = found["service web"][0]
    assert web["level"] == "warn" and f"127.0.0.1:{dead}" in web["message"]
    assert "autostart = true" in web["fix"]
    assert not json.loads(out)["ok"]


def test_a_token_whose_role_cannot_read_nodes_is_named_and_an_agent_token_env_is_used(
        tmp_path: Path, infra: Infra) -> None:
    from healloop.queue.store.sqlite import token_admin
    from healloop.queue.tokens import issue

    tx = token_admin(infra.queue.db)
    with tx.c:
        reporter = issue(tx, f"doctor-reporter-{tmp_path.name}", "reporter")
        agent = issue(tx, f"doctor-agent-{tmp_path.name}", "agent")
    tx.c.close()
    proj = make_project(tmp_path)
    write_config(proj, infra, token=reporter)

    def queue_finding(**env: str) -> dict[str, str]:
        _, out = doctor(proj, infra, "--json", **env)
        return findings(out)["queue"][0]

    # A new token counts within about a second of being made.
    refused = wait_until(lambda: (f := queue_finding())["message"].find("(403)") > 0 and f,
                         what="the new tokens to count")
    assert refused["level"] == "fail" and "accepts the token ([queue] token)" in refused["message"]
    assert "has role reporter" in refused["message"], refused["message"]
    assert "agent_token_env" in refused["fix"]
    text = (proj / "healloop.toml").read_text()
    (proj / "healloop.toml").write_text(text.replace("[queue]\n", "[queue]\nagent_token_env = "
                                                     '"DOCTOR_AGENT_TOKEN"\n', 1))
    accepted = queue_finding(DOCTOR_AGENT_TOKEN=agent)
    assert accepted["level"] == "ok" and "token accepted" in accepted["message"], accepted
    wrong = queue_finding(DOCTOR_AGENT_TOKEN="hlt_wrong")
    assert wrong["level"] == "fail" and "($DOCTOR_AGENT_TOKEN) is wrong" in wrong["message"]


def test_no_git_identity_and_push_without_a_branch_fail_with_fixes(tmp_path: Path, infra: Infra) -> None:
    proj = make_project(tmp_path, identity=False)
    write_config(proj, infra, extra="[node.policy]\npush = true\n")
    code, out = doctor(proj, infra)
    assert code == 1
    line = next(ln for ln in out.splitlines() if "git identity" in ln)
    assert line.startswith("FAIL git identity: user.name and user.email not set: agents' commits fail — fix: "
                           "git config --global user.name"), line
    assert "git config --global user.email" in line
    assert ("FAIL git policy: [node.policy] push = true needs [node.git] remote and branch — fix: "
            "set [node.git] remote and branch, or turn them off") in out


def test_a_workspace_outside_git_fails_and_skips_the_git_checks(tmp_path: Path, infra: Infra) -> None:
    proj = tmp_path / "proj"
    (proj / "tests").mkdir(parents=True)
    (proj / "tests" / "test_a.py").write_text("def test_a():\n    pass\n")
    (tmp_path / "home").mkdir()
    port = free_port()
    write_config(proj, infra, queue_port=port)
    code, out = doctor(proj, infra)
    assert code == 1
    lines = out.splitlines()
    assert f"FAIL git: the workspace {proj} is not a git repository: agents commit their fixes" in out
    assert [ln for ln in lines if ln.startswith("skip")] == [
        f"skip {name}: not checked: no git repository with a commit"
        for name in ("git identity", "git policy", "test files")]
    assert "ok   collect: pytest collects 1 test(s)" in out
    # No [queue] url and nothing on the port: `healloop up` starts the queue; nothing to fix.
    assert f"ok   queue: not running at http://127.0.0.1:{port}; `healloop up` starts it" in out


def test_a_collection_error_fails_with_its_last_error_line(tmp_path: Path, infra: Infra) -> None:
    proj = make_project(tmp_path)
    (proj / "tests" / "test_broken.py").write_text("import not_installed_here\n")
    write_config(proj, infra)
    code, out = doctor(proj, infra)
    assert code == 1
    line = next(ln for ln in out.splitlines() if ln.startswith(("FAIL collect", "ok   collect")))
    assert line.startswith("FAIL collect: pytest cannot collect the suite (exit code 2): "
                           "ModuleNotFoundError: No module named 'not_installed_here'"), line
    # The uncommitted new test file is named too: a heal of it would commit it as it is.
    assert "WARN test files: uncommitted changes in tests/test_broken.py" in out
    assert not (proj / "tests" / "__pycache__").exists() and not (proj / ".pytest_cache").exists()


def test_an_invalid_config_fails_naming_the_key_and_skips_the_rest(tmp_path: Path, infra: Infra) -> None:
    proj = make_project(tmp_path)
    config = write_config(proj, infra)
    config.write_text(config.read_text().replace('kind = "pytest"', 'kind = "jest"'))
    code, out = doctor(proj, infra)
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("FAIL config: `node.runner.kind` must be one of pytest, playwright, cypress, "
                               "command, got 'jest'"), out
    skipped = lines[1:-1]
    assert skipped and all(ln.startswith("skip ") and ln.endswith("not checked: no valid config")
                           for ln in skipped), out
    assert lines[-1].startswith("doctor: 0 ok, 0 warnings, 1 failure, 14 not checked")


def test_warnings_do_not_fail_an_unignored_data_dir_an_unused_venv_no_plugin(
    tmp_path: Path, infra: Infra
) -> None:
    proj = make_project(tmp_path)
    write_config(proj, infra, data_dir="data", python=infra.bare_python)
    code, out = doctor(proj, infra, "--json")
    assert code == 0, out
    found = findings(out)
    data = found["data dir"][0]
    assert data["level"] == "warn" and "would show in git status" in data["message"]
    assert data["fix"] == "add data/ to .gitignore"
    reporter = found["reporter"][0]
    assert reporter["level"] == "warn" and "No module named 'healloop'" in reporter["message"]
    assert reporter["fix"].startswith(f"`{infra.bare_python} -m pip install healloop`")
    # Without node.runner.python, a venv in the project is not what reruns use.
    config = proj / "healloop.toml"
    config.write_text(config.read_text().replace(f'python = "{infra.bare_python}"\n', ""))
    (proj / ".venv" / "bin").mkdir(parents=True)
    (proj / ".venv" / "bin" / "python").symlink_to(infra.python)
    code, out = doctor(proj, infra, "--json")
    python = findings(out)["python"][0]
    assert code == 0 and python["level"] == "warn", out
    assert "reruns use healloop's interpreter" in python["message"]
    assert python["fix"] == 'python = ".venv/bin/python" in [node.runner]'


@pytest.mark.skipif(not (PLAYWRIGHT_MODULES / ".bin" / "playwright").exists(),
                    reason="needs integrations/playwright/node_modules (scripts/setup)")
def test_a_playwright_project_is_listed_and_its_reporter_found(tmp_path: Path, infra: Infra) -> None:
    proj = make_project(tmp_path)
    (proj / "tests" / "test_shop.py").unlink()
    (proj / "e2e").mkdir()
    (proj / "e2e" / "shop.spec.js").write_text(
        "const { test } = require('@playwright/test');\ntest('total', async () => {});\n")
    modules = proj / "node_modules"
    (modules / ".bin").mkdir(parents=True)
    for name in ("@playwright", "playwright", "playwright-core", "healloop-reporter-core"):
        (modules / name).symlink_to(PLAYWRIGHT_MODULES / name)
    (modules / "healloop-playwright").symlink_to(ROOT / "integrations" / "playwright")
    (modules / ".bin" / "playwright").symlink_to("../@playwright/test/cli.js")
    (proj / "package.json").write_text(json.dumps(
        {"devDependencies": {"@playwright/test": "*", "healloop-playwright": "*"}}))
    (proj / "playwright.config.js").write_text(
        "module.exports = { testDir: 'e2e', reporter: [['list'], ['healloop-playwright']] };\n")
    (proj / ".gitignore").write_text(".healloop/\nnode_modules/\n")
    git(proj, "add", "-A")
    git(proj, "commit", "-qm", "playwright")
    config = write_config(proj, infra)
    config.write_text(config.read_text().replace('kind = "pytest"', 'kind = "playwright"'))
    code, out = doctor(proj, infra)
    assert code == 0, out
    assert f"ok   runner: playwright: npx playwright test (in {proj})" in out
    assert f"ok   collect: playwright lists 1 test(s) in {proj}" in out
    assert "ok   reporter: healloop-playwright is in package.json and playwright.config.js" in out


def test_notify_channels_are_checked_without_sending(tmp_path: Path, infra: Infra) -> None:
    proj = make_project(tmp_path)
    config = write_config(proj, infra)
    base = config.read_text()
    config.write_text(base + '\n[notify.team]\nkind = "webhook"\nurl = "http://127.0.0.1:9/hook?token=abc"\n')
    code, out = doctor(proj, infra)
    assert code == 0, out
    assert "ok   notify team: webhook to http://127.0.0.1:9; no [queue] public_url: no links" in out
    assert "token=abc" not in out  # a hook's path and query hold its secret
    config.write_text(base + '\n[notify.team]\nkind = "pager"\nurl = "http://127.0.0.1:9/"\n')
    code, out = doctor(proj, infra)
    assert code == 1 and "FAIL notify: `notify.team.kind`" in out, out


def test_the_forge_token_is_checked_read_only_for_pull_requests_and_issues(tmp_path: Path,
                                                                           infra: Infra) -> None:
    from tests.forge.fake import GITEA_REPO, FakeForge

    proj = make_project(tmp_path)
    config = write_config(proj, infra)
    base = config.read_text()
    with FakeForge() as forge:
        config.write_text(base + textwrap.dedent(f"""
            [node.git]
            remote = "origin"
            branch = "main"
            forge = "gitea"
            pull_requests = true
            issues = true
            api_url = "{forge.gitea_api}"
            repository = "{GITEA_REPO}"
            token_env = "SHOP_GITEA_TOKEN"
            [node.policy]
            approve = ["edit"]
            """))
        git(proj, "remote", "add", "origin", str(tmp_path / "remote.git"))
        code, out = doctor(proj, infra, SHOP_GITEA_TOKEN=forge.token)
        assert code == 0, out
        where = f"gitea {GITEA_REPO} at {forge.gitea_api}: {GITEA_REPO}; the token may push; the token in " \
                "$SHOP_GITEA_TOKEN is accepted"
        assert f"ok   forge pull requests: proposals become pull requests into main: {where}" in out, out
        assert f"ok   forge issues: an escalation naming a suspect commit opens an issue: {where}" in out
        assert [r.method for r in forge.requests] == ["GET"]  # asked once, never written to
        code, out = doctor(proj, infra, SHOP_GITEA_TOKEN="wrong")
        assert "WARN forge pull requests: on, but gitea cannot be used: gitea refused the token in " \
               "$SHOP_GITEA_TOKEN (401" in out, out
        assert "WARN forge issues: on, but gitea cannot be used:" in out
        assert "wrong" not in out
        code, out = doctor(proj, infra)
        assert "WARN forge issues: on, but gitea cannot be used: $SHOP_GITEA_TOKEN is not set" in out, out
        assert "fix: export SHOP_GITEA_TOKEN=..." in out
    config.write_text(base + textwrap.dedent(f"""
        [node.git]
        forge = "gitea"
        issues = true
        api_url = "http://127.0.0.1:{free_port()}/api/v1"
        repository = "{GITEA_REPO}"
        token_env = "SHOP_GITEA_TOKEN"
        """))
    code, out = doctor(proj, infra, SHOP_GITEA_TOKEN="t")
    assert code == 0  # a forge that cannot be used is a warning: the loop works without it
    assert "ok   forge pull requests: off ([node.git] pull_requests)" in out, out
    assert "WARN forge issues: on, but gitea cannot be used: cannot reach gitea at http://127.0.0.1:" in out
