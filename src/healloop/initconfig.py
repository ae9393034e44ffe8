"""``healloop init``: detect the project's test runner and write a commented ``healloop.toml``."""

from __future__ import annotations

import tomllib
from pathlib import Path

from healloop.errors import Conflict

TEMPLATE = """\
# healloop.toml for {name}, written by `healloop init` (detected: {kind}, from {evidence}).
# `healloop up` starts the queue, this machine's tool node and one agent from this file.

[queue]
host = "127.0.0.1"      # the queue listens here; reporters use http://HOST:PORT as HEALLOOP_URL
port = 8787             # 0 picks a free port
data_dir = "data"       # events.db (SQLite), artifacts, logs and the node's state
# url = "http://queue-host:8787"   # another machine of the team: join its queue, start none here

[mcp]
port = 8788             # this machine's MCP tool node (http://127.0.0.1:8788/mcp); 0 picks a free one
# name = "ci-1"         # the node name reporters send as HEALLOOP_NODE (default: the host name)
# host = "0.0.0.0"      # several machines: listen beyond loopback so agents elsewhere reach the node,
# public_url = "http://ci-1.internal:8788/mcp"   # at this address

[agent]
planner = "rules"       # "rules" needs no model; "llm" reads HEALLOOP_LLM_BASE_URL and HEALLOOP_LLM_MODEL
concurrency = 1
# enabled = false       # several machines: agents run elsewhere
# heal_threshold = 0.5  # selector healing: least evidence for the element chosen (higher: fewer heals)
# heal_margin = 0.2     # selector healing: lead it needs over the runner-up (higher: fewer heals)

[node]
workspace = "."         # the repository agents read and repair
artifacts = "artifacts" # reporters write screenshots and DOM snapshots here (HEALLOOP_ARTIFACTS),
                        # a folder per run; read_artifact reads only here. Not test-results/ or
                        # cypress/screenshots: Playwright and Cypress empty those at every run.

[node.runner]
kind = "{kind}"
timeout = 300           # seconds for one rerun of one test

# A service the tests need, which agents may restart (uncomment and adapt):
# [node.services.web]
# backend = "command"
# start = ["npm", "run", "start"]
# health = "http://127.0.0.1:3000/healthz"

# Several machines on one suite (README, "Several machines"): the branch they all follow. With push
# and pull below, one machine's verified fix is pushed and the others pull it before rerunning.
# [node.git]
# remote = "origin"
# branch = "main"

[node.policy]
app_edits = false       # agents edit test files only
revert = false          # never revert a suspect commit; escalate with a report instead
push = false            # push a verified fix to [node.git]
pull = false            # fast-forward from [node.git] before analysing and to verify another node's fix
"""



def detect(folder: Path) -> tuple[str, str] | None:
    """(runner kind, the file that shows it) or None: Cypress, then Playwright, then pytest."""
    for pattern, kind in (("cypress.config.*", "cypress"), ("playwright.config.*", "playwright")):
        found = sorted(folder.glob(pattern))
        if found:
            return kind, found[0].name
    for name in ("pytest.ini", "conftest.py"):
        if (folder / name).is_file():
            return "pytest", name
    pyproject = folder / "pyproject.toml"
    if pyproject.is_file():
        try:
            tool = tomllib.loads(pyproject.read_text()).get("tool", {})
        except tomllib.TOMLDecodeError:
            tool = {}
        if "pytest" in tool:
            return "pytest", "pyproject.toml [tool.pytest]"
    return None


def write_config(folder: Path, *, force: bool = False) -> tuple[Path, str, str]:
    """Write ``folder/healloop.toml``; returns (path, runner kind, evidence)."""
    target = folder / "healloop.toml"
    if target.exists() and not force:
        raise Conflict(f"{target} already exists; pass --force to overwrite it", field="config")
    found = detect(folder)
    kind, evidence = found or ("pytest", "nothing: no cypress.config.*, playwright.config.*, "
                               "pytest.ini, conftest.py or [tool.pytest] found; edit node.runner")
    target.write_text(TEMPLATE.format(name=folder.resolve().name, kind=kind, evidence=evidence))
    return target, kind, evidence
