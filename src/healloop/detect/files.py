"""Bounded, read-only walks and readers of a project's files; none raises on a bad file."""

from __future__ import annotations

import configparser
import json
import os
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MAX_DEPTH = 4            # how deep the walk looks for a runner's config below the root
MAX_FOLDERS = 5000       # a bound on that walk in a very large repository
MAX_FILES = 20000        # and on one count of test files
SKIP = frozenset({"node_modules", ".git", ".venv", "venv", "dist", "build", "__pycache__", "site-packages"})
JS_EXTS = ("ts", "js", "mts", "mjs", "cts", "cjs")


def skip(name: str) -> bool:
    return name in SKIP or name.startswith(".")


def subdirs(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as it:
            return sorted(Path(e.path) for e in it if e.is_dir(follow_symlinks=False))
    except OSError:
        return []


def rel(root: Path, path: Path) -> str:
    rel = path.relative_to(root).as_posix()
    return rel or "."


def join(folder: str, name: str) -> str:
    return name if folder == "." else f"{folder}/{name}"


def is_venv(folder: Path) -> bool:
    return (folder / "pyvenv.cfg").is_file()


def walk(root: Path) -> list[str]:
    """Folders under ``root``, "." first, breadth first and sorted, at most ``MAX_DEPTH`` deep."""
    found, level = ["."], [root]
    for _ in range(MAX_DEPTH):
        below = [d for f in level for d in subdirs(f) if not skip(d.name) and not is_venv(d)]
        found += [rel(root, d) for d in below]
        if len(found) > MAX_FOLDERS:
            return found[:MAX_FOLDERS]
        level = below
    return found


def files_under(folder: Path, depth: int = 8) -> Iterator[Path]:
    """Files under ``folder`` (sorted walk, skipping what ``walk`` skips), at most ``MAX_FILES``."""
    count, level = 0, [folder]
    for _ in range(depth):
        below: list[Path] = []
        for f in level:
            try:
                with os.scandir(f) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError:
                continue
            for e in entries:
                if e.is_dir(follow_symlinks=False):
                    if not skip(e.name):
                        below.append(Path(e.path))
                elif e.is_file():
                    count += 1
                    if count > MAX_FILES:
                        return
                    yield Path(e.path)
        level = below


def chain(cwd: str) -> list[str]:
    """``cwd`` and the folders above it up to the root: "apps/web", "apps", "."."""
    parts = [] if cwd == "." else cwd.split("/")
    return ["/".join(parts[:n]) or "." for n in range(len(parts), -1, -1)]


def read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


def read_json(path: Path) -> dict[str, Any]:
    text = read(path)
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def read_toml(path: Path) -> dict[str, Any]:
    text = read(path)
    try:
        return tomllib.loads(text) if text else {}
    except tomllib.TOMLDecodeError:
        return {}


def read_ini(path: Path, section: str) -> dict[str, str] | None:
    text = read(path)
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text or "")
    except configparser.Error:
        return None
    return dict(parser[section]) if parser.has_section(section) else None


def yaml_list(text: str, key: str) -> list[str]:
    """The items of a top-level ``key:`` list in simple YAML (``- 'apps/*'`` lines or ``[a, b]``)."""
    items: list[str] = []
    inside = False
    for line in text.splitlines():
        bare = line.split(" #")[0].rstrip()
        if not bare.strip() or bare.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            inside = bare.startswith(f"{key}:")
            rest = bare[len(key) + 1:].strip() if inside else ""
            if rest.startswith("["):
                items += [p.strip().strip("'\"") for p in rest.strip("[]").split(",") if p.strip()]
            continue
        if inside and bare.strip().startswith("- "):
            items.append(bare.strip()[2:].strip().strip("'\""))
    return items


def packages(root: Path) -> dict[str, str]:
    """Monorepo packages: folder -> where it is listed (workspaces, pnpm-workspace.yaml, or by name)."""
    patterns: list[tuple[str, str]] = []
    workspaces = read_json(root / "package.json").get("workspaces")
    if isinstance(workspaces, dict):
        workspaces = workspaces.get("packages")
    if isinstance(workspaces, list):
        patterns += [(p, "a workspace in package.json") for p in workspaces if isinstance(p, str)]
    pnpm = read(root / "pnpm-workspace.yaml")
    if pnpm:
        patterns += [(p, "a workspace in pnpm-workspace.yaml") for p in yaml_list(pnpm, "packages")]
    patterns += [("packages/*", "a package under packages/"), ("apps/*", "an app under apps/")]
    found: dict[str, str] = {}
    for pattern, where in patterns:
        # "packages/**" (nested packages) is read one level deep: a recursive glob would walk node_modules.
        pattern = pattern.strip().rstrip("/").replace("**", "*")
        if not pattern or pattern.startswith(("!", "/")) or ".." in pattern:
            continue
        for path in sorted(root.glob(pattern)):
            folder = rel(root, path)
            if path.is_dir() and not any(skip(p) for p in folder.split("/")):
                found.setdefault(folder, where)
    return found


def strip_js_comments(text: str) -> str:
    """JavaScript without its comments (a generated playwright.config.ts comments its webServer out),
    keeping string literals whole so ``'http://...'`` survives."""
    out, i, quote = [], 0, ""
    while i < len(text):
        c = text[i]
        if quote:
            out.append(c)
            if c == "\\":
                out.append(text[i + 1:i + 2])
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"`":
            quote = c
            out.append(c)
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = len(text) if end < 0 else end + 2
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)
