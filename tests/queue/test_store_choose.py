"""Which backend `--db` names: an SQLite path, a PostgreSQL URL, or a clear refusal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from healloop.errors import ConfigError
from healloop.queue.store import postgres
from healloop.queue.store.choose import db_target


@pytest.mark.parametrize("url", ["postgresql://u@h/db", "postgres://u:pw@h:5433/db"])
def test_postgres_urls_are_kept_as_urls(url: str) -> None:
    assert db_target(url) == url


@pytest.mark.parametrize("path", ["data/events.db", "/var/lib/healloop/e.db", "e.db", "C:/q/events.db"])
def test_paths_are_sqlite_files(path: str) -> None:
    assert db_target(path) == Path(path)


@pytest.mark.parametrize("url", ["mysql://root@h/db", "redis://h:6379/0", "http://h/x", "sqlite:///e.db"])
def test_other_urls_are_refused_naming_what_is_accepted(url: str) -> None:
    with pytest.raises(ConfigError, match=r"not a database healloop can use: give a path to an SQLite file "
                                          r".*postgresql://"):
        db_target(url)


def test_the_refusal_hides_a_password() -> None:
    with pytest.raises(ConfigError) as info:
        db_target("mysql://root:hunter2@h/db")
    assert "hunter2" not in info.value.message


def test_missing_psycopg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres, "psycopg", None)
    with pytest.raises(ConfigError, match=r"pip install 'healloop\[postgres\]'"):
        postgres.PostgresStore("postgresql://u@h/db")


def _serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "healloop", "serve", "--port", "0", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


def test_serve_refuses_a_mysql_url_and_makes_no_folder(tmp_path: Path) -> None:
    r = _serve(tmp_path, "--db", "mysql://root@127.0.0.1/test")
    assert r.returncode != 0 and "not a database healloop can use" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_serve_reads_the_database_from_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "healloop.toml").write_text('[queue]\ndb = "redis://127.0.0.1:6379/0"\n')
    r = _serve(tmp_path, "--config", "healloop.toml")
    assert r.returncode != 0 and "'redis://127.0.0.1:6379/0' is not a database" in r.stderr
