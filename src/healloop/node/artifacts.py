"""Test artifacts (logs, DOM snapshots, screenshots), read only from the configured artifacts folder.

The folder is where this machine's reporters write (they get it as ``HEALLOOP_ARTIFACTS``), each run
in its own subfolder, and they report paths relative to it. The node creates it when it is missing,
at start and on every read: a node started before the first failing run, or a folder someone
cleaned away, is an empty folder, not an error.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import Image

from healloop.errors import ConfigError, InvalidInput, NotFound, PayloadTooLarge
from healloop.node.workspace import refuse_hard_link, resolve_inside

IMAGE_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".gif": "gif", ".webp": "webp"}
MAX_IMAGE_BYTES = 10_000_000


def ensure_folder(root: Path) -> Path:
    """``root`` resolved, created with its parents when missing."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"the artifacts folder {str(root)!r} (`node.artifacts`) cannot be created: "
            f"{exc.strerror or exc}; create it, or point `node.artifacts` at a folder this user can write",
            field="node.artifacts",
        ) from None
    return root.resolve()


def _relative(root: Path, path: str) -> str:
    """An absolute path that lies inside the folder, as the relative path every other check expects:
    JUnit attachments and older reporters name files by absolute path."""
    if isinstance(path, str) and os.path.isabs(path) and "\x00" not in path:
        resolved = Path(path).resolve()
        if resolved.is_relative_to(root):
            return resolved.relative_to(root).as_posix() or "."
    return path


def read_artifact(root: Path, path: str, max_text_bytes: int) -> dict[str, Any] | Image:
    root = ensure_folder(root)
    target = resolve_inside(root, _relative(root, path))
    if not target.is_file():
        raise NotFound(
            f"no artifact {path!r} in the artifacts folder {str(root)!r}: the file is not there "
            "(written on another machine, or removed since); read the queue's uploaded copy instead",
            field="path",
        )
    st = target.lstat()
    refuse_hard_link(st, repr(path))  # the folder is often inside the workspace; the same rule applies
    size = st.st_size
    fmt = IMAGE_FORMATS.get(target.suffix.lower())
    if fmt:
        if size > MAX_IMAGE_BYTES:
            raise PayloadTooLarge(
                f"screenshot {path!r} is {size} bytes, over {MAX_IMAGE_BYTES}", field="path"
            )
        return Image(data=target.read_bytes(), format=fmt)
    if size > max_text_bytes:
        raise PayloadTooLarge(
            f"artifact {path!r} is {size} bytes, over the limit of {max_text_bytes}", field="path"
        )
    data = target.read_bytes()
    if b"\x00" in data[:8192]:
        raise InvalidInput(f"artifact {path!r} is binary and not a known image format", field="path")
    return {
        "path": target.relative_to(root).as_posix(),
        "bytes": size,
        "text": data.decode("utf-8", "replace"),
    }
