"""The packages declared in pyproject.toml against what src/healloop imports, read with ``ast``.

Every third-party import is declared (in the base dependencies or an extra), and what the base install
loads (the pytest plugin, the CLI with every command registered, the doctor's checks) imports only
the base dependencies at module level. tests/test_base_install.py proves the same in a real small venv.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from healloop.cli.main import COMMAND_MODULES
from healloop.errors import MissingExtra
from healloop.extras import EXTRAS, missing_module, require

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
# pytest is the user's own: the plugin is loaded by a pytest run, so pytest is already there.
HOST_PROVIDED = {"pytest"}
# Optional packages whose one user checks for them and reports the feature off, naming the package.
CHECKED_WHERE_USED = {
    "apprise": "notify/channels/apprise.py: the channel reports itself off",
    "docker": "node/services.py: the service raises Unavailable naming the docker extra",
    "requests": "node/services.py: imported with docker (whose HTTP errors it names), in the same check",
    "psycopg": "queue/store/postgres.py: a postgresql:// --db raises ConfigError naming the postgres extra",
    "boto3": "queue/blobs_s3.py: an s3:// artifact store raises ConfigError naming the s3 extra",
    "botocore": "queue/blobs_s3.py: imported with boto3, in the same check",
}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(req: str) -> str:
    m = re.match(r"[A-Za-z0-9._-]+", req.strip())
    assert m, f"cannot read a package name from {req!r}"
    return _norm(m.group(0))


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def base_dists() -> set[str]:
    return {_requirement_name(r) for r in _pyproject()["dependencies"]}


def extra_dists() -> dict[str, set[str]]:
    return {extra: {_requirement_name(r) for r in reqs}
            for extra, reqs in _pyproject()["optional-dependencies"].items()}


_DISTS = importlib.metadata.packages_distributions()


def dists_of(module: str) -> set[str]:
    """The distributions that install top-level ``module`` (its own name when none here does)."""
    return {_norm(d) for d in _DISTS.get(module, [])} or {_norm(module)}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in (SRC / "healloop").rglob("*.py")}


def _absolute(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def _imports(module: str, nodes: list[ast.stmt], *, top_level: bool) -> Iterator[str]:
    """Modules imported by ``nodes``; with top_level, only what runs on import (not function bodies
    nor ``if TYPE_CHECKING:`` blocks)."""
    for node in nodes:
        if top_level and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if top_level and isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from _imports(module, node.orelse, top_level=top_level)
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, node)
            yield source
            # `from healloop.queue import quarantine` imports the module healloop.queue.quarantine.
            yield from (f"{source}.{a.name}" for a in node.names if f"{source}.{a.name}" in MODULES)
        children = [c for c in ast.iter_child_nodes(node) if isinstance(c, ast.stmt | ast.excepthandler)]
        yield from _imports(module, [c for c in children if isinstance(c, ast.stmt)], top_level=top_level)
        for handler in (c for c in children if isinstance(c, ast.excepthandler)):
            yield from _imports(module, handler.body, top_level=top_level)


def _tree(module: str) -> ast.Module:
    return ast.parse(MODULES[module].read_text(), str(MODULES[module]))


def third_party(name: str) -> str | None:
    top = name.split(".")[0]
    return None if top == "healloop" or top in sys.stdlib_module_names else top


def loaded_on_import(roots: list[str], *, top_level: bool = True) -> dict[str, str]:
    """Third-party top-level module -> the healloop module importing it, for everything importing
    ``roots`` loads (parent packages included); with top_level False, also what their functions may
    import when called."""
    found: dict[str, str] = {}
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        for name in _imports(module, _tree(module).body, top_level=top_level):
            if (top := third_party(name)) is not None:
                found.setdefault(top, module)
            elif name in MODULES:
                todo.append(name)
    return found


def test_every_third_party_import_is_declared() -> None:
    declared = base_dists().union(*extra_dists().values())
    undeclared = []
    for module in MODULES:
        for name in _imports(module, _tree(module).body, top_level=False):
            top = third_party(name)
            if top and top not in HOST_PROVIDED and not dists_of(top) & declared:
                undeclared.append(f"{module} imports {top} ({', '.join(sorted(dists_of(top)))})")
    assert not undeclared, "declare these in pyproject.toml (base or an extra):\n" + "\n".join(undeclared)


def test_what_the_base_install_loads_imports_only_base_dependencies() -> None:
    doctor_checks = [m for m in MODULES if m.startswith("healloop.doctor.")]  # imported by name at run time
    roots = ["healloop.sources.pytest_plugin", "healloop.cli.main", *COMMAND_MODULES, *doctor_checks]
    base = base_dists()
    outside = {top: by for top, by in loaded_on_import(roots).items()
               if top not in HOST_PROVIDED and not dists_of(top) & base}
    assert not outside, f"imported at module level but not a base dependency (import them lazily): {outside}"


def test_a_base_module_check_that_can_fail() -> None:
    # The walk above sees through packages and `from x import module`: the queue's server needs starlette.
    assert "starlette" in loaded_on_import(["healloop.queue.server"])
    assert "mcp" in loaded_on_import(["healloop.node.server"])
    # and, through function bodies, the MCP client behind `healloop approve`.
    assert "mcp" not in loaded_on_import(["healloop.approval"])
    assert "mcp" in loaded_on_import(["healloop.approval"], top_level=False)


def _commands_extras(tree: ast.Module) -> dict[str, set[str]]:
    """Function name -> the extras its `require(...)` calls name."""
    out: dict[str, set[str]] = {}
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            out[fn.name] = {arg.value for call in ast.walk(fn) if isinstance(call, ast.Call)
                            and isinstance(call.func, ast.Name) and call.func.id == "require"
                            for arg in call.args if isinstance(arg, ast.Constant)}
    return out


def test_commands_that_import_an_extra_require_it_first() -> None:
    base = base_dists()
    problems = []
    for module in [m for m in MODULES if m.startswith("healloop.cli.")]:
        tree = _tree(module)
        extras_of = _commands_extras(tree)
        for fn in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]:
            lazy = list(_imports(module, fn.body, top_level=False))
            needs = {top for n in lazy if (top := third_party(n))}
            needs |= set(loaded_on_import([n for n in lazy if n in MODULES], top_level=False))
            needs = {top for top in needs
                     if top not in HOST_PROVIDED | set(CHECKED_WHERE_USED) and not dists_of(top) & base}
            # A helper is covered by the command that calls it.
            callers = {name for name, extras in extras_of.items() if extras and any(
                isinstance(c, ast.Name) and c.id == fn.name for c in ast.walk(
                    next(f for f in ast.walk(tree) if getattr(f, "name", None) == name)))}
            required = extras_of[fn.name].union(*(extras_of[c] for c in callers))
            covered = set().union(*(EXTRAS[e] for e in required)) if required else set()
            if needs - covered:
                problems.append(f"{module}.{fn.name} imports {sorted(needs - covered)}; required: {required}")
    assert not problems, "call healloop.extras.require(...) first:\n" + "\n".join(problems)


def test_llm_check_needs_only_the_base_install() -> None:
    # `healloop llm check` requires no extra: it and the chat client it shares with the llm planner
    # import httpx and anyio only, so an endpoint can be checked from any machine. The planner itself
    # (agent/llm.py) needs MCP.
    base = base_dists()
    outside = {top for top in loaded_on_import(["healloop.agent.llm_check"], top_level=False)
               if not dists_of(top) & base}
    assert not outside, f"llm check would need an extra for {outside}"
    assert "mcp" in loaded_on_import(["healloop.agent.llm"])


def test_extras_map_matches_pyproject() -> None:
    declared = extra_dists()
    for extra, modules in EXTRAS.items():
        assert extra in declared, f"pyproject.toml has no extra {extra!r}"
        for module in modules:
            assert dists_of(module) & declared[extra], f"{module} is not in the {extra} extra"
    everything = _pyproject()["optional-dependencies"]["all"]
    assert len(everything) == 1 and everything[0].startswith("healloop[")
    assert set(EXTRAS) <= set(everything[0][len("healloop["):-1].split(","))


def test_require_names_the_command_and_the_pip_line(monkeypatch: pytest.MonkeyPatch) -> None:
    require("queue", "node", "agent", command="healloop demo")  # all installed in the test venv
    monkeypatch.setitem(EXTRAS, "queue", ("starlette", "healloop_no_such_module"))
    monkeypatch.setitem(EXTRAS, "agent", ("healloop_no_such_module",))
    with pytest.raises(MissingExtra) as one:
        require("queue", "node", command="healloop serve")
    assert one.value.message == "healloop serve needs the queue extra: pip install 'healloop[queue]'"
    with pytest.raises(MissingExtra) as two:
        require("queue", "node", "agent", command="healloop demo")
    assert two.value.message == ("healloop demo needs the queue and agent extras: "
                                 "pip install 'healloop[queue,agent]'")
    assert missing_module(("json", "healloop_no_such_module")) == "healloop_no_such_module"


def test_agent_help_default_is_the_clients_setup_timeout() -> None:
    from healloop.agent.mcpclient import SETUP_TIMEOUT_S
    from healloop.cli.agent_commands import NODE_SETUP_TIMEOUT_S

    assert NODE_SETUP_TIMEOUT_S == SETUP_TIMEOUT_S


def test_the_image_installs_every_role() -> None:
    # deploy/Dockerfile builds one image for the queue, the agent and the tool node.
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert re.search(r"^RUN pip install .*\.\[all\]", dockerfile, re.MULTILINE), dockerfile


def test_up_requires_the_extras_of_the_parts_it_starts(tmp_path: Path) -> None:
    from healloop.cli.stack_commands import _parts
    from healloop.stack import StackSettings

    alone = StackSettings(config=tmp_path / "healloop.toml", data_dir=tmp_path)
    assert _parts(alone) == ["queue", "node", "agent"]
    joined = StackSettings(config=tmp_path / "healloop.toml", data_dir=tmp_path, join="http://q:8787",
                           agent=False)
    assert _parts(joined) == ["node"]
