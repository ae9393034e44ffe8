"""Where one run's screenshots and DOM snapshots go: the tool node's artifacts folder, or a temporary one.

With ``HEALLOOP_ARTIFACTS`` (the node's ``[node] artifacts`` on this machine) a run writes into its own
subfolder, ``run-<run id>/<spec and test>-<digest>/``, so runs never overwrite each other, and reports
each file by its path relative to the artifacts folder: what the node's ``read_artifact`` takes. Files
a test tool wrote elsewhere (Playwright's ``test-results/``, Cypress's screenshots, JUnit attachments)
are copied in, since those tools clear their folders on the next run. Each run folder holds a
``.gitignore`` of ``*``, so an artifacts folder inside the repository never shows in ``git status``
or slips into an agent's commit.

Without it, files go to a temporary folder that ``cleanup`` deletes at the end of the run, once every
report is uploaded, or spooled (the spool keeps copies of its own). ``integrations/core/artifacts.js``
is the same in JavaScript.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import tempfile
from pathlib import Path

from healloop.sources.failure import Artifact

log = logging.getLogger(__name__)
RUN_PREFIX = "run-"
GITIGNORE = "# written by healloop: test artifacts, never committed\n*\n"
_UNSAFE = re.compile(r"[^\w.() -]+")


def slug(text: str, limit: int = 80) -> str:
    """A file name from any text: letters, digits and ``_.() -`` kept, the rest one ``_``."""
    return _UNSAFE.sub("_", text).strip(" ._")[:limit].strip(" ._") or "artifact"


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root)


class RunFolder:
    def __init__(self, root: Path | None, run_id: str, *, path: Path | None = None) -> None:
        """``root``: the artifacts folder (resolved), None for a temporary folder. ``path``: a run
        folder made by another process of the same run (an xdist controller's, for its workers)."""
        self.root = root
        self.run_id = run_id
        self.temporary = root is None
        self._path = path

    @property
    def path(self) -> Path:
        """Made on first use, so a run without failures leaves nothing behind."""
        if self._path is None:
            self._path = self._make()
        return self._path

    def _make(self) -> Path:
        if self.root is not None:
            folder = self.root / f"{RUN_PREFIX}{slug(self.run_id, 64)}"
            try:
                folder.mkdir(parents=True, exist_ok=True)
                ignore = folder / ".gitignore"
                if not ignore.exists():
                    ignore.write_text(GITIGNORE)
                return folder
            except OSError as exc:
                # The node cannot read these files then, but the queue still gets its copies.
                log.warning("cannot write into the artifacts folder %s (HEALLOOP_ARTIFACTS): %s; this "
                            "run's screenshots and DOM snapshots go to a temporary folder instead",
                            self.root, exc.strerror or exc)
                self.root, self.temporary = None, True
        return Path(tempfile.mkdtemp(prefix="healloop-"))

    def for_failure(self, spec: str, test: str) -> Path:
        """The folder of one failing test in this run (made when missing); readable, and unique by
        its digest even where two long titles cut to the same name."""
        digest = hashlib.sha256(f"{spec}\0{test}".encode()).hexdigest()[:8]
        folder = self.path / f"{slug(f'{spec} -- {test}')}-{digest}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def adopt(self, artifact: Artifact, spec: str, test: str) -> Artifact:
        """With an artifacts folder: a file that lies outside it, copied into the failure's folder."""
        if self.root is None or not artifact.path.is_file() or _inside(artifact.path, self.root):
            return artifact
        try:
            dest = self.for_failure(spec, test) / slug(artifact.name, 120)
            shutil.copyfile(artifact.path, dest)
        except OSError as exc:
            log.warning("could not copy %s into the artifacts folder %s: %s", artifact.path, self.root, exc)
            return artifact
        return Artifact(dest, artifact.name, artifact.content_type)

    def reported_path(self, path: Path) -> str:
        """What a report names: relative to the artifacts folder when the file is in it."""
        if self.root is not None and _inside(path, self.root):
            return path.resolve().relative_to(self.root).as_posix()
        return str(path)

    def cleanup(self) -> None:
        """End of the run: delete a temporary folder; in the artifacts folder, only a run folder that
        got no files (the files stay for the node to read)."""
        if self._path is None:
            return
        try:
            empty = {p.name for p in self._path.iterdir()} <= {".gitignore"}
        except OSError:
            empty = True  # already gone
        if self.temporary or empty:
            shutil.rmtree(self._path, ignore_errors=True)
            self._path = None
