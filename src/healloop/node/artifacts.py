"""Test artifacts (logs, DOM snapshots, screenshots), read only from the configured artifacts folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcp.server.mcpserver import Image

from healloop.errors import InvalidInput, NotFound, PayloadTooLarge
from healloop.node.workspace import resolve_inside

IMAGE_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".gif": "gif", ".webp": "webp"}
MAX_IMAGE_BYTES = 10_000_000


def read_artifact(root: Path, path: str, max_text_bytes: int) -> dict[str, Any] | Image:
    root = root.resolve()
    if not root.is_dir():
        raise NotFound(f"the artifacts folder {str(root)!r} does not exist on this node", field="path")
    target = resolve_inside(root, path)
    if not target.is_file():
        raise NotFound(f"no artifact {path!r} in the artifacts folder", field="path")
    size = target.stat().st_size
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
