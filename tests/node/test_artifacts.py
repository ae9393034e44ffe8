"""The artifacts folder: created by the node when missing, read by relative (or inside absolute) path,
and a missing file named in the error."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from healloop.errors import ConfigError, InvalidInput, NotFound
from healloop.node.artifacts import read_artifact
from tests.node.conftest import make_node
from tests.node.helpers import ok, refused

pytestmark = pytest.mark.anyio


async def test_a_node_creates_a_missing_artifacts_folder_and_reads_what_reporters_write(tmp_path: Path):
    node = make_node(tmp_path, token=None)
    node.config.write_text(node.config.read_text().replace(
        'artifacts = "artifacts"', 'artifacts = "out/healloop-artifacts"'))
    folder = node.repo / "out" / "healloop-artifacts"
    assert not folder.exists()
    node.start()
    try:
        assert folder.is_dir(), "created at start, before any reporter wrote into it"
        async with node.http_client() as c:
            msg = await refused(c, "read_artifact", path="run-1/t/dom.html")
            assert msg.startswith("not_found: no artifact 'run-1/t/dom.html' in the artifacts folder")
            assert str(folder) in msg
            (folder / "run-1" / "t").mkdir(parents=True)
            (folder / "run-1" / "t" / "dom.html").write_text("<main>ok</main>")
            got = await ok(c, "read_artifact", path="run-1/t/dom.html")
            assert got == {"path": "run-1/t/dom.html", "bytes": 15, "text": "<main>ok</main>"}
            # An absolute path inside the folder (JUnit attachments name files so) is the same file.
            absolute = await ok(c, "read_artifact", path=str(folder / "run-1" / "t" / "dom.html"))
            assert absolute["path"] == "run-1/t/dom.html"
            outside = await refused(c, "read_artifact", path=str(node.repo / "src" / "app.py"))
            assert "must be relative" in outside
            # Someone cleans the folder away while the node runs: an empty folder again, not an error.
            shutil.rmtree(folder)
            msg = await refused(c, "read_artifact", path="run-1/t/dom.html")
            assert re.match(r"not_found: no artifact 'run-1/t/dom.html'", msg) and "does not exist" not in msg
            assert folder.is_dir()
    finally:
        node.stop()


def test_read_artifact_refuses_escapes_and_names_a_folder_it_cannot_make(tmp_path: Path):
    root = tmp_path / "artifacts"
    with pytest.raises(NotFound, match=r"no artifact 'x\.png'"):
        read_artifact(root, "x.png", 1000)
    with pytest.raises(InvalidInput, match="outside"):
        read_artifact(root, "../secret.txt", 1000)
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ConfigError, match=r"cannot be created: .*`node.artifacts`"):
        read_artifact(tmp_path / "a-file" / "artifacts", "x.png", 1000)


def test_read_artifact_refuses_a_hard_link(tmp_path: Path):
    """The artifacts folder is often inside the workspace: a hard link in it could lead anywhere."""
    root = tmp_path / "artifacts"
    (root / "run-1").mkdir(parents=True)
    secret = tmp_path / "secret.txt"
    secret.write_text("PRIVATE KEY")
    os.link(secret, root / "run-1" / "log.txt")
    with pytest.raises(InvalidInput, match=r"'run-1/log\.txt' is a file with 2 hard links") as refused_:
        read_artifact(root, "run-1/log.txt", 1000)
    assert "PRIVATE" not in refused_.value.message
    (root / "run-1" / "own.txt").write_text("ok")
    assert read_artifact(root, "run-1/own.txt", 1000)["text"] == "ok"
