"""``healloop init --vscode``: ``.vscode/mcp.json`` with healloop's two MCP servers for VS Code's agent
mode: the queue server (``healloop mcp queue``, started by VS Code over stdio) and this machine's tool
node (``healloop mcp serve``, reached over streamable HTTP).

The file's format is VS Code's (``servers`` by name, ``inputs`` for secrets prompted once and kept in
VS Code's secret storage). An existing file is edited in place (``healloop.jsonc``): healloop's two
servers and two inputs are added or replaced, every other byte stays. Nothing here reads or writes
``healloop.toml`` beyond the queue's and node's addresses when no flag gives them.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from healloop import jsonc
from healloop.errors import ConfigError, HealloopError

QUEUE_SERVER = "healloop-queue"
NODE_SERVER = "healloop-node"
QUEUE_INPUT = "healloop-queue-token"
NODE_INPUT = "healloop-node-token"
# `healloop serve`'s and `healloop mcp serve`'s own defaults.
DEFAULT_QUEUE_URL = "http://127.0.0.1:8787"
DEFAULT_NODE_URL = "http://127.0.0.1:8788/mcp"
# A server bound to every interface is reached from this machine at loopback.
_ANY_HOST = {"0.0.0.0", "::", "[::]", ""}


@dataclass(frozen=True)
class Launcher:
    """How VS Code starts healloop: the program and the arguments before ``mcp queue``."""

    command: str
    prefix: tuple[str, ...] = ()
    note: str | None = None     # why it is not plain `healloop`, for the report


def launcher(argv0: str, *, which: Callable[[str], str | None] = shutil.which,
             python: str = sys.executable) -> Launcher:
    """Plain ``healloop`` when that name on PATH is the program running now, so the file is the same on
    every machine and can be committed; else the running program's absolute path, since VS Code starts
    the server with its own PATH (a virtual environment that is not activated is not on it)."""
    if Path(argv0).name == "__main__.py":   # `python -m healloop`
        return Launcher(python, ("-m", "healloop"),
                        f"run as `python -m healloop`, so the queue server starts as {python} -m healloop")
    found = argv0 if os.sep in argv0 else which(argv0)
    running = Path(found).resolve() if found else None
    on_path = which("healloop")
    if running is None or (on_path and Path(on_path).resolve() == running):
        return Launcher("healloop")
    why = f"`healloop` on PATH is another program ({on_path})" if on_path else "`healloop` is not on PATH"
    return Launcher(str(running), note=f"{why}, so the queue server starts as {running}, a path of this "
                    "machine's: on another machine run `healloop init --vscode` there, or put healloop on "
                    "PATH and run it again")


@dataclass(frozen=True)
class Targets:
    queue_url: str
    node_url: str
    queue_from: str     # where each came from, for the report
    node_from: str


def _loopback(host: str) -> str:
    host = "127.0.0.1" if host in _ANY_HOST else host
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix it, or pass --queue and --node-url",
                          field="config") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", field="config") from None


def _get(data: dict[str, Any], table: str, key: str, kind: type, path: Path) -> Any:
    section = data.get(table, {})
    value = section.get(key) if isinstance(section, dict) else None
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        want = "a string" if kind is str else "a port number"
        raise ConfigError(f"`{table}.{key}` in {path} must be {want}, got {value!r}; fix it, or pass --queue "
                          "and --node-url", field=f"{table}.{key}")
    return value


def check_url(url: str, option: str, example: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{option} must be an http(s) URL like {example}, got {url!r}", field=option)
    return url


def targets(folder: Path, queue_url: str | None, node_url: str | None) -> Targets:
    """The queue's and the node's URLs: the flags, else ``healloop.toml`` in ``folder`` (as ``healloop up``
    reads it: ``[queue] url`` to join a team's queue, else ``[queue] host``/``port``; ``[mcp] public_url``,
    else ``[mcp] host``/``port``), else the defaults of ``healloop serve`` and ``healloop mcp serve``."""
    for url, option, example in ((queue_url, "--queue", DEFAULT_QUEUE_URL), (node_url, "--node-url",
                                                                               DEFAULT_NODE_URL)):
        if url is not None:
            check_url(url, option, example)
    path = folder / "healloop.toml"
    data = _toml(path) if (queue_url is None or node_url is None) and path.is_file() else None
    queue_from, node_from = "--queue or HEALLOOP_URL", "--node-url"
    if queue_url is None:
        queue_url, queue_from = _queue_from(data, path)
    if node_url is None:
        node_url, node_from = _node_from(data, path)
    return Targets(check_url(queue_url.rstrip("/"), "--queue", DEFAULT_QUEUE_URL),
                   check_url(node_url, "--node-url", DEFAULT_NODE_URL), queue_from, node_from)


def _queue_from(data: dict[str, Any] | None, path: Path) -> tuple[str, str]:
    if data is None:
        return DEFAULT_QUEUE_URL, "healloop serve's default: no --queue, HEALLOOP_URL or healloop.toml"
    joined = _get(data, "queue", "url", str, path)
    if joined:
        return joined, f"[queue] url of {path.name}"
    host = _loopback(_get(data, "queue", "host", str, path) or "127.0.0.1")
    port = _get(data, "queue", "port", int, path)
    if not port:
        return (f"http://{host}:8787", f"port 8787 assumed: {path.name} has no fixed [queue] port (healloop "
                "up picks a free one); set one, or pass --queue")
    return f"http://{host}:{port}", f"[queue] host and port of {path.name}"


def _node_from(data: dict[str, Any] | None, path: Path) -> tuple[str, str]:
    if data is None:
        return DEFAULT_NODE_URL, "healloop mcp serve's default: no --node-url or healloop.toml"
    public = _get(data, "mcp", "public_url", str, path)
    if public:
        return public, f"[mcp] public_url of {path.name}"
    host = _loopback(_get(data, "mcp", "host", str, path) or _get(data, "queue", "host", str, path)
                     or "127.0.0.1")
    port = _get(data, "mcp", "port", int, path)
    if not port:
        return (f"http://{host}:8788/mcp", f"port 8788 assumed: {path.name} has no fixed [mcp] port "
                "(healloop up picks a free one); set one, or pass --node-url")
    return f"http://{host}:{port}/mcp", f"[mcp] host and port of {path.name}"


def servers(run: Launcher, queue_url: str, node_url: str) -> dict[str, Any]:
    """healloop's two entries of ``servers``, as VS Code's mcp.json format has them."""
    return {
        QUEUE_SERVER: {
            "type": "stdio",
            "command": run.command,
            "args": [*run.prefix, "mcp", "queue", "--queue", queue_url],
            # The queue server reads these as `healloop agent` does; the node token is for its node_call.
            "env": {"HEALLOOP_TOKEN": f"${{input:{QUEUE_INPUT}}}",
                    "HEALLOOP_AGENT_NODE_TOKEN": f"${{input:{NODE_INPUT}}}"},
        },
        NODE_SERVER: {
            "type": "http",
            "url": node_url,
            "headers": {"Authorization": f"Bearer ${{input:{NODE_INPUT}}}"},
        },
    }


def inputs() -> list[dict[str, Any]]:
    return [
        {"type": "promptString", "id": QUEUE_INPUT,
         "description": "healloop queue token, agent role (leave empty when the queue has no token)",
         "password": True},
        {"type": "promptString", "id": NODE_INPUT,
         "description": "healloop node token, the node's --token (leave empty when it has none)",
         "password": True},
    ]


@dataclass(frozen=True)
class Plan:
    path: Path
    text: str                           # the file to write
    changes: tuple[tuple[str, str], ...]   # (entry, "added" | "updated" | "unchanged")
    created: bool                       # no file was there
    targets: Targets
    run: Launcher

    @property
    def changed(self) -> bool:
        return self.created or any(state != "unchanged" for _, state in self.changes)


def _read(path: Path) -> str | None:
    if path.is_dir():
        raise HealloopError(f"{path} is a folder; VS Code expects a file there", field="vscode")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise HealloopError(f"cannot read {path}: {exc.strerror}", field="vscode") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HealloopError(f"{path} is not UTF-8 text (byte {exc.start}); VS Code's mcp.json is JSON in "
                            "UTF-8: fix it or move it aside, then run healloop init --vscode again",
                            field="vscode") from None


def _table(root: jsonc.Node, key: str, kind: str, path: Path) -> jsonc.Node | None:
    found = [m for m in root.members if m.key == key]
    if found and found[-1].node.kind != kind:
        what = "an object" if kind == "object" else "an array"
        raise HealloopError(f"{path}: \"{key}\" must be {what} in VS Code's mcp.json format; fix it or move "
                            "the file aside, then run healloop init --vscode again", field="vscode")
    return found[-1].node if found else None


def _state(old: Any, new: Any) -> str:
    return "added" if old is None else "unchanged" if jsonc.same(old, new) else "updated"


def _same_id(old: Any, new: dict[str, Any]) -> bool:
    return isinstance(old, dict) and old.get("id") == new["id"]


def merge(text: str | None, ours: dict[str, Any], our_inputs: list[dict[str, Any]], path: Path,
          ) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The file with healloop's servers and inputs in it, and what changed for each."""
    bom = "\ufeff" if text and text.startswith("\ufeff") else ""
    body = text[len(bom):] if text else ""
    if not body.strip():
        new = {"inputs": our_inputs, "servers": ours}
        changes = tuple((name, "added") for name in [*ours, *(i["id"] for i in our_inputs)])
        return jsonc.dumps(new) + "\n", changes
    try:
        root = jsonc.parse(body)
    except jsonc.JsoncError as exc:
        raise HealloopError(f"{path} is not valid JSON (comments and trailing commas allowed): "
                            f"{exc.message}; fix it or move it aside, then run healloop init --vscode again; "
                            "nothing was written", field="vscode") from None
    if root.kind != "object":
        raise HealloopError(f"{path} must hold a JSON object with \"servers\" (VS Code's mcp.json format); "
                            "fix it or move it aside, then run healloop init --vscode again", field="vscode")
    unit, nl = jsonc.indent_unit(body, root), jsonc.newline_of(body)
    servers_node = _table(root, "servers", "object", path)
    inputs_node = _table(root, "inputs", "array", path)
    old_servers = servers_node.value if servers_node else {}
    old_inputs = {i.get("id"): i for i in (inputs_node.value if inputs_node else []) if isinstance(i, dict)}
    changes = tuple([(name, _state(old_servers.get(name), entry)) for name, entry in ours.items()]
                    + [(i["id"], _state(old_inputs.get(i["id"]), i)) for i in our_inputs])
    edits: list[jsonc.Edit] = []
    missing: list[tuple[str, Any]] = []
    if inputs_node is None:
        missing.append(("inputs", our_inputs))
    else:
        edits += jsonc.upsert_items(body, inputs_node, our_inputs, _same_id, unit, nl)
    if servers_node is None:
        missing.append(("servers", ours))
    else:
        edits += jsonc.set_members(body, servers_node, list(ours.items()), unit, nl)
    if missing:
        edits += jsonc.set_members(body, root, missing, unit, nl)
    return bom + jsonc.apply(body, edits), changes


def plan(folder: Path, *, queue_url: str | None, node_url: str | None, argv0: str) -> Plan:
    path = folder / ".vscode" / "mcp.json"
    found = targets(folder, queue_url, node_url)
    run = launcher(argv0)
    old = _read(path)
    text, changes = merge(old, servers(run, found.queue_url, found.node_url), inputs(), path)
    return Plan(path, text, changes, old is None, found, run)


def write(p: Plan) -> None:
    """Replace the file in one step, so VS Code never reads it half written."""
    try:
        p.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.path.parent, prefix=".mcp.json.")
    except OSError as exc:
        raise HealloopError(f"cannot write {p.path}: {exc.strerror}", field="vscode") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(p.text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, p.path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise HealloopError(f"cannot write {p.path}: {exc.strerror}", field="vscode") from None


def report(p: Plan, *, dry_run: bool) -> list[str]:
    def done(name: str) -> str:
        state = dict(p.changes)[name]
        return f"would be {state}" if dry_run and state != "unchanged" else state

    state = "created" if p.created else "updated" if p.changed else "already up to date"
    run = " ".join([p.run.command, *p.run.prefix, "mcp", "queue", "--queue", p.targets.queue_url])
    lines = [f"{p.path}: {'would be ' if dry_run and p.changed else ''}{state}",
             f"  {QUEUE_SERVER} ({done(QUEUE_SERVER)}): {run}  [the queue: {p.targets.queue_from}]",
             f"  {NODE_SERVER} ({done(NODE_SERVER)}): {p.targets.node_url}  [{p.targets.node_from}]",
             f"  inputs {QUEUE_INPUT} ({done(QUEUE_INPUT)}), {NODE_INPUT} ({done(NODE_INPUT)}): VS Code asks "
             "for each once and keeps it in its secret storage"]
    if p.run.note:
        lines.append(f"  {p.run.note}")
    if dry_run:
        lines += ["dry run: nothing written; the file would be:", p.text.rstrip("\n")]
    elif p.changed:
        lines.append("next: open this folder in VS Code, start the two servers from .vscode/mcp.json and "
                     "give the tokens it asks for (empty where there is none); the queue server needs the "
                     "queue running (healloop up or healloop serve)")
    return lines


def init_vscode(folder: Path, *, queue_url: str | None = None, node_url: str | None = None,
                argv0: str = "healloop", dry_run: bool = False) -> list[str]:
    """``healloop init --vscode``: plan, write (unless ``dry_run`` or nothing changes), report."""
    p = plan(folder.resolve(), queue_url=queue_url, node_url=node_url, argv0=argv0)
    if p.changed and not dry_run:
        write(p)
    return report(p, dry_run=dry_run)
