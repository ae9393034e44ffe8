"""The sandbox every tool goes through: path checks, cross-process locks and atomic writes.

A client only ever names paths relative to the workspace. ``resolve`` refuses absolute paths, ``..``
escapes and symlinks that lead outside (checked on the fully resolved path, and for a new file on its
parent), and ``resolve_for_write`` also refuses ``.git`` internals and symlinked targets. A regular
file with more than one hard link is neither read nor written: the other link can be anywhere on the
same file system, and no path check can see where. Lock files live in the node's state directory,
never in the repository, so they cannot be committed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from healloop.errors import InvalidInput, NotFound, PayloadTooLarge, SandboxRefused


def resolve_inside(root: Path, rel: str, *, what: str = "path") -> Path:
    """Resolve ``rel`` under ``root`` (already resolved) or refuse it, naming the value."""
    if not isinstance(rel, str) or "\x00" in rel:
        raise InvalidInput(f"`{what}` must be a string without NUL bytes, got {rel!r}", field=what)
    if os.path.isabs(rel) or rel.startswith("~"):
        raise SandboxRefused(
            f"`{what}` must be relative to the workspace, got the absolute path {rel!r}", field=what
        )
    candidate = root / (rel or ".")
    # strict=False: a file about to be created does not exist yet; its parent is checked below.
    resolved = candidate.resolve(strict=False)
    if resolved != root and root not in resolved.parents:
        raise SandboxRefused(
            f"`{what}` {rel!r} resolves outside the workspace (through '..' or a symlink); refused",
            field=what,
        )
    return resolved


def refuse_hard_link(st: os.stat_result, shown: str, *, what: str = "path") -> None:
    """Refuse a regular file with more than one hard link (``shown`` names it in the message).

    A hard link made inside the workspace to, say, ~/.ssh/id_rsa passes every path check, since its
    path is inside; the only sign is the link count. Git never makes one in a work tree (it writes
    files afresh), and neither does healloop.
    """
    if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
        raise SandboxRefused(
            f"`{what}` {shown} is a file with {st.st_nlink} hard links, and another link may lie outside"
            " the workspace, so it is neither read nor written here; if it belongs in the workspace, replace"
            " it with a copy of its own (cp FILE FILE.copy && mv FILE.copy FILE)",
            field=what,
        )


class Workspace:
    def __init__(self, root: Path, state_dir: Path, *, max_file_bytes: int = 1_000_000) -> None:
        self.root = root.resolve()
        self.state_dir = state_dir
        self.max_file_bytes = max_file_bytes
        # Created at the first lock, not here: `healloop mcp check` builds a node and must write nothing.
        self.lock_dir = state_dir / "locks"

    def resolve(self, rel: str, *, what: str = "path", must_exist: bool = True) -> Path:
        path = resolve_inside(self.root, rel, what=what)
        if must_exist and not path.exists():
            raise NotFound(f"`{what}` {rel!r} does not exist in the workspace", field=what)
        return path

    def resolve_for_write(self, rel: str, *, what: str = "path") -> Path:
        path = self.resolve(rel, what=what, must_exist=False)
        unresolved = self.root / rel
        # Compared without case: on a case-insensitive file system .GIT/hooks is .git/hooks.
        parts = {p.lower() for p in (*path.relative_to(self.root).parts, *Path(rel).parts)}
        if ".git" in parts:
            raise SandboxRefused(
                f"`{what}` {rel!r} is inside .git; git internals are never written", field=what
            )
        if ".healloop" in parts or path == self.state_dir or self.state_dir in path.parents:
            raise SandboxRefused(
                f"`{what}` {rel!r} is inside healloop's own data (the queue, logs, the node's state and"
                " journal); it is never written through the file tools", field=what
            )
        if unresolved.is_symlink():
            # Replacing a symlink would either write through it or silently turn it into a file.
            raise SandboxRefused(f"`{what}` {rel!r} is a symlink; write to its target instead", field=what)
        if path.is_dir():
            raise InvalidInput(f"`{what}` {rel!r} is a directory, not a file", field=what)
        with contextlib.suppress(FileNotFoundError):
            refuse_hard_link(path.lstat(), repr(rel), what=what)
        parent = path.parent.resolve()
        if parent != self.root and self.root not in parent.parents:
            raise SandboxRefused(f"`{what}` {rel!r} has a parent outside the workspace; refused", field=what)
        return path

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix() or "."

    def read_bytes(self, path: Path, *, what: str = "path") -> bytes:
        """The file's bytes, checked on the open file: what is read is what was checked, even if the
        path is swapped meanwhile. O_NOFOLLOW: a symlink swapped in is refused; O_NONBLOCK: a FIFO
        does not hang the open."""
        not_regular = InvalidInput(f"`{what}` {self.relative(path)!r} is not a regular file", field=what)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            raise not_regular from None
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise not_regular
            refuse_hard_link(st, repr(self.relative(path)), what=what)
            if st.st_size > self.max_file_bytes:
                raise PayloadTooLarge(
                    f"{self.relative(path)!r} is {st.st_size} bytes, over the node's limit of"
                    f" {self.max_file_bytes}; read a line range or search instead",
                    field=what,
                )
            return fh.read()

    def check_size(self, data: bytes, *, what: str = "content") -> None:
        if len(data) > self.max_file_bytes:
            raise PayloadTooLarge(
                f"`{what}` is {len(data)} bytes, over the node's limit of {self.max_file_bytes}", field=what
            )

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """An exclusive lock shared by every process on this machine (``flock`` on a lock file).

        Each call opens its own file description, so threads of one process exclude each other too.
        """
        digest = hashlib.sha256(name.encode()).hexdigest()[:32]
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_dir / f"{digest}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the description releases the flock

    def file_lock(self, path: Path) -> contextlib.AbstractContextManager[None]:
        return self.lock("file:" + self.relative(path))

    def atomic_write(self, path: Path, data: bytes) -> None:
        """Write to a temporary file in the same directory, fsync, then rename over the target.

        Readers see the old or the new content, never half a file; the file's mode is kept.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".healloop-tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
