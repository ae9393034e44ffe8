"""Which optional parts of healloop need which extra, and the check a command runs before it starts.

``pip install healloop`` is what a CI machine needs to report failures (the pytest plugin,
``healloop report``, ``healloop run``); the queue, the tool node, the agent and the backends come
with extras (``healloop[queue]``, ...). A command whose extra is missing says which one to install
instead of ending in an ImportError deep inside.
"""

from __future__ import annotations

import importlib

from healloop.errors import MissingExtra

# The modules each extra brings that its commands import: checked by `require` (the first one missing
# is named), and by tests/test_packaging.py against the extras declared in pyproject.toml.
EXTRAS: dict[str, tuple[str, ...]] = {
    "queue": ("starlette", "uvicorn", "jinja2", "markupsafe", "swagger_ui_bundle", "html5lib", "lxml", "mcp",
              "httpx2"),
    "node": ("mcp", "pydantic", "starlette", "uvicorn"),
    "agent": ("mcp", "httpx2", "html5lib", "lxml", "cssselect"),
    "postgres": ("psycopg",),
    "docker": ("docker", "requests"),
    "apprise": ("apprise",),
}


def missing_module(modules: tuple[str, ...]) -> str | None:
    """The first of ``modules`` that cannot be imported, or None when all can."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            # A module present but broken (a compiled part missing) fails the same way: the install
            # of the extra is what mends it either way.
            return name
    return None


def require(*extras: str, command: str) -> None:
    """Raise MissingExtra naming ``command`` and the pip line when a module of ``extras`` is missing."""
    missing = [extra for extra in extras if missing_module(EXTRAS[extra]) is not None]
    if not missing:
        return
    names = " and ".join(", ".join(missing).rsplit(", ", 1))
    noun = "extra" if len(missing) == 1 else "extras"
    raise MissingExtra(
        f"{command} needs the {names} {noun}: pip install 'healloop[{','.join(missing)}]'"
    )
