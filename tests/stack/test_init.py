"""`healloop init`: detection in real folders, a config both loaders accept, .gitignore, no silent overwrite.

Each layout is built in tmp_path as a user's repository would hold it; the command runs in-process
(click's runner) except where the installed entry point itself is under test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from healloop.cli.stack_commands import init_cmd
from healloop.detect import detect
from healloop.errors import ConfigError
from healloop.node.config import load_config
from healloop.stack import load_settings

PLAYWRIGHT_WEBSERVER = """\
import { defineConfig } from '@playwright/test';
export default defineConfig({
  testDir: './e2e',
  use: { baseURL: 'http://127.0.0.1:4000' },
  webServer: {
    command: 'npm run dev -- --port 4000',
    url: 'http://127.0.0.1:4000/',   // what Playwright waits for
    reuseExistingServer: !process.env.CI,
  },
});
"""
# What `npm init playwright` writes: the webServer block is there, commented out.
PLAYWRIGHT_GENERATED = """\
import { defineConfig, devices } from '@playwright/test';
export default defineConfig({
  testDir: './tests',
  /* Run your local dev server before starting the tests */
  // webServer: {
  //   command: 'npm run start',
  //   url: 'http://localhost:3000',
  // },
});
"""


def _init(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "healloop", "init", *args], cwd=folder,
                          capture_output=True, text=True, timeout=60)


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if text.startswith("#!"):
            path.chmod(0o755)
    return root


def _venv(folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=60)
    return folder / "bin" / "python"


@pytest.fixture
def init(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`healloop init ARGS` in tmp_path, in-process: (exit code, output lines, healloop.toml's text)."""
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> tuple[int, list[str], str]:
        result = CliRunner().invoke(init_cmd, list(args))
        config = tmp_path / "healloop.toml"
        return result.exit_code, result.output.splitlines(), config.read_text() if config.exists() else ""

    return run


def _line(lines: list[str], start: str) -> str:
    found = [line for line in lines if line.startswith(start)]
    assert found, f"no line starting {start!r} in:\n" + "\n".join(lines)
    return found[0]


@pytest.mark.parametrize(
    ("files", "kind"),
    [
        ({"cypress.config.js": "", "playwright.config.ts": ""}, "cypress"),
        ({"playwright.config.ts": ""}, "playwright"),
        ({"pytest.ini": "[pytest]\n"}, "pytest"),
        ({"pyproject.toml": "[tool.pytest.ini_options]\naddopts = '-q'\n"}, "pytest"),
        ({"conftest.py": ""}, "pytest"),
    ],
)
def test_init_detects_the_runner_and_writes_a_valid_config(tmp_path: Path, files: dict, kind: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    done = _init(tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"detected {kind}" in done.stdout
    config = tmp_path / "healloop.toml"
    node = load_config(config)
    assert node.runner.kind == kind and node.workspace == tmp_path.resolve()
    assert node.artifacts == (tmp_path / ".healloop" / "artifacts").resolve()
    stack = load_settings(config)
    assert stack.queue_port == 8787 and stack.data_dir == (tmp_path / ".healloop").resolve()
    assert stack.planner == "rules"


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    (tmp_path / "healloop.toml").write_text("# mine\n")
    refused = _init(tmp_path)
    assert refused.returncode != 0 and "--force" in refused.stderr
    assert (tmp_path / "healloop.toml").read_text() == "# mine\n"
    forced = _init(tmp_path, "--force")
    assert forced.returncode == 0 and "[node.runner]" in (tmp_path / "healloop.toml").read_text()


def test_a_bad_stack_setting_is_named(tmp_path: Path) -> None:
    config = tmp_path / "healloop.toml"
    config.write_text('[agent]\nplanner = "magic"\n')
    with pytest.raises(ConfigError, match=r"agent\.planner"):
        load_settings(config)


def test_the_node_setup_timeout_goes_to_the_agent_and_a_bad_one_is_named(tmp_path: Path) -> None:
    config = tmp_path / "healloop.toml"
    config.write_text("[agent]\nnode_setup_timeout = 5\n")
    assert load_settings(config).agent_args == ("--node-setup-timeout", "5")
    for bad in ("0", '"30s"', "true", "601"):
        config.write_text(f"[agent]\nnode_setup_timeout = {bad}\n")
        with pytest.raises(ConfigError, match=r"`agent\.node_setup_timeout` must be a number of seconds"):
            load_settings(config)


def test_a_conftest_under_tests_and_the_projects_venv(tmp_path: Path, init) -> None:
    """The issue's case: tests/conftest.py only; init used to print `from nothing`."""
    _tree(tmp_path, {"tests/conftest.py": "", **{f"tests/test_{n}.py": "" for n in ("a", "b", "c", "d")},
                     "app.py": ""})
    _venv(tmp_path / ".venv")
    code, lines, text = init()
    assert code == 0, lines
    assert lines[0] == "detected pytest: tests/conftest.py and 4 test_*.py files under tests/"
    assert _line(lines, "toolchain:") == "toolchain: .venv/bin/python (the virtualenv .venv)"
    assert "from nothing" not in text and 'python = ".venv/bin/python"' in text
    node = load_config(tmp_path / "healloop.toml")
    assert node.runner.kind == "pytest" and node.runner.cwd is None
    assert node.runner.python is not None and node.runner.python.samefile(tmp_path / ".venv/bin/python")


def test_pyproject_testpaths_and_a_uv_project_without_its_venv(tmp_path: Path, init) -> None:
    _tree(tmp_path, {
        "pyproject.toml": '[project]\nname = "shop"\n[tool.pytest.ini_options]\ntestpaths = ["tests/e2e"]\n',
        "tests/e2e/test_login.py": "", "tests/e2e/test_cart.py": "", "tests/unit/test_price.py": "",
        "uv.lock": "",
    })
    code, lines, text = init()
    assert code == 0, lines
    assert lines[0] == ("detected pytest: pyproject.toml [tool.pytest.ini_options] (testpaths = tests/e2e) "
                        "and 2 test_*.py files under tests/e2e/")
    assert "run `uv sync`" in _line(lines, "toolchain:")
    assert '# python = ".venv/bin/python"' in text
    assert load_config(tmp_path / "healloop.toml").runner.python is None


def test_a_monorepo_package_with_hoisted_node_modules_and_a_webserver(tmp_path: Path, init) -> None:
    _tree(tmp_path, {
        "package.json": '{"private": true, "workspaces": ["apps/*"]}',
        "package-lock.json": "{}",
        "node_modules/.bin/playwright": "#!/bin/sh\n",
        "apps/web/package.json": '{"name": "@acme/web", "scripts": {"dev": "vite"}}',
        "apps/web/playwright.config.ts": PLAYWRIGHT_WEBSERVER,
        "apps/web/e2e/login.spec.ts": "", "apps/web/e2e/cart.spec.ts": "",
        "tests/conftest.py": "",      # inferred from files only: the package's config file wins
    })
    code, lines, text = init()
    assert code == 0, lines
    assert lines[0] == ("detected playwright in apps/web: apps/web/playwright.config.ts and 2 *.spec.ts "
                        "files under apps/web/e2e/ (apps/web is a workspace in package.json)")
    assert _line(lines, "also found") == "also found pytest: tests/conftest.py (not used)"
    assert "hoisted to the repository root" in _line(lines, "toolchain:")
    assert _line(lines, "app:").startswith("app: service 'web' runs `npm run dev -- --port 4000`, health "
                                           "http://127.0.0.1:4000/")
    node = load_config(tmp_path / "healloop.toml")
    assert node.runner.kind == "playwright" and node.runner.cwd == (tmp_path / "apps/web").resolve()
    assert node.runner.command == ("../../node_modules/.bin/playwright", "test")
    assert (node.runner.cwd / node.runner.command[0]).is_file()
    web = node.services["web"]
    assert web.start == ("npm", "run", "dev", "--", "--port", "4000") and web.autostart
    assert web.health_url == "http://127.0.0.1:4000/" and web.cwd == (tmp_path / "apps/web").resolve()
    assert "vite" in text      # the package.json script, named as another start command


def test_cypress_without_node_modules_says_what_to_install(tmp_path: Path, init) -> None:
    _tree(tmp_path, {"cypress.config.js": "module.exports = {}\n", "cypress/e2e/login.cy.js": "",
                     "cypress/e2e/cart.cy.js": "", "package-lock.json": "{}"})
    code, lines, text = init()
    assert code == 0, lines
    assert lines[0] == "detected cypress: cypress.config.js and 2 *.cy.js files under cypress/"
    assert _line(lines, "toolchain:") == "toolchain: the project's node_modules were not found: run `npm ci`"
    assert '# command = ["node_modules/.bin/cypress", "run"]' in text
    assert load_config(tmp_path / "healloop.toml").runner.command == ()


def test_a_vite_dev_script_is_written_commented_out(tmp_path: Path, init) -> None:
    """The port is Vite's default, not in the project: commented, and a generated config's commented
    webServer block is not mistaken for a real one."""
    _tree(tmp_path, {"playwright.config.ts": PLAYWRIGHT_GENERATED, "tests/home.spec.ts": "",
                     "package.json": '{"name": "shop", "scripts": {"build": "vite build", "dev": "vite"}}',
                     "pnpm-lock.yaml": "", "node_modules/.bin/playwright": "#!/bin/sh\n"})
    code, lines, text = init()
    assert code == 0, lines
    app = _line(lines, "app:")
    assert "service 'shop' runs `pnpm run dev`" in app and "commented out" in app and "5173" in app
    assert "# [node.services.shop]" in text and '# health = "http://127.0.0.1:5173/"' in text
    assert "# autostart = true" in text and "localhost:3000" not in text
    assert load_config(tmp_path / "healloop.toml").services == {}
    # Uncommented as the comment says, the block is a service the loader accepts.
    lines = text.splitlines()
    start = lines.index("# [node.services.shop]")
    end = lines.index("", start)
    lines[start:end] = [line.removeprefix("# ") for line in lines[start:end]]
    (tmp_path / "healloop.toml").write_text("\n".join(lines))
    shop = load_config(tmp_path / "healloop.toml").services["shop"]
    assert shop.start == ("pnpm", "run", "dev") and shop.autostart
    assert shop.health_url == "http://127.0.0.1:5173/"


@pytest.mark.parametrize(
    ("script", "start", "health", "sure"),
    [
        ("next dev -p 4000", ("npm", "run", "dev"), "http://127.0.0.1:4000/", True),
        ("PORT=4001 react-scripts start", ("npm", "run", "dev"), "http://127.0.0.1:4001/", True),
        ("vite preview", ("npm", "run", "dev"), "http://127.0.0.1:4173/", False),
        ("node server.js", ("npm", "run", "dev"), "http://127.0.0.1:3000/", False),
    ],
)
def test_a_scripts_port_is_sure_only_when_written(tmp_path: Path, script: str, start: tuple, health: str,
                                                  sure: bool) -> None:
    _tree(tmp_path, {"package.json": f'{{"scripts": {{"dev": "{script}"}}}}', "playwright.config.js": ""})
    app = detect(tmp_path).app
    assert (app.name, app.start, app.health, app.sure) == ("app", start, health, sure)


def test_the_suites_local_base_url_makes_a_scripts_port_sure(tmp_path: Path) -> None:
    """`node server.js` names no port, but the Cypress config points the tests at 127.0.0.1:3000."""
    config = "module.exports = defineConfig({ e2e: { baseUrl: 'http://127.0.0.1:3000' } });\n"
    _tree(tmp_path, {"package.json": '{"scripts": {"start": "node server.js"}}', "cypress.config.js": config,
                     "cypress/e2e/a.cy.js": ""})
    app = detect(tmp_path).app
    assert (app.start, app.health, app.sure) == (("npm", "run", "start"), "http://127.0.0.1:3000/", True)
    assert "from the baseUrl in cypress.config.js" in app.why
    (tmp_path / "cypress.config.js").write_text("// baseUrl: 'http://127.0.0.1:3000'\nmodule.exports = {};\n")
    assert detect(tmp_path).app.sure is False  # a comment is not the config


def test_a_procfile_web_line_runs_with_the_projects_own_program(tmp_path: Path, init) -> None:
    _tree(tmp_path, {"Procfile": "release: ./migrate\nweb: gunicorn shop:app --bind 0.0.0.0:8000\n",
                     "tests/test_home.py": ""})
    _venv(tmp_path / ".venv")
    _tree(tmp_path, {".venv/bin/gunicorn": "#!/bin/sh\n"})
    code, lines, _ = init()
    assert code == 0, lines
    app = load_config(tmp_path / "healloop.toml").services["app"]
    assert app.start == (".venv/bin/gunicorn", "shop:app", "--bind", "0.0.0.0:8000") and app.autostart
    assert app.health_url == "http://127.0.0.1:8000/"


def test_manage_py_is_a_guess_with_the_projects_python(tmp_path: Path, init) -> None:
    _tree(tmp_path, {"manage.py": "", "shop/tests/conftest.py": "", "pytest.ini": "[pytest]\n"})
    _venv(tmp_path / "venv")
    code, lines, text = init()
    assert code == 0, lines
    assert "Django's default" in _line(lines, "app:")
    assert '# start = ["venv/bin/python", "manage.py", "runserver", "127.0.0.1:8000"]' in text
    assert load_config(tmp_path / "healloop.toml").services == {}


def test_a_compose_service_with_ports_skips_the_database(tmp_path: Path, init) -> None:
    _tree(tmp_path, {"pytest.ini": "[pytest]\n", "compose.yaml": """\
services:
  db:
    image: postgres:16
    ports:
      - "5432:5432"
  web:
    build: .
    environment:
      - DEBUG=1
    ports:
      - "127.0.0.1:8080:80"
"""})
    code, lines, _ = init()
    assert code == 0, lines
    web = load_config(tmp_path / "healloop.toml").services["web"]
    assert web.start == ("docker", "compose", "up", "web") and web.health_url == "http://127.0.0.1:8080/"
    assert web.autostart


@pytest.mark.parametrize(
    ("before", "after", "said"),
    [
        (None, ".healloop/\n", ".gitignore: created it with .healloop/"),
        ("node_modules/\n*.log", "node_modules/\n*.log\n.healloop/\n", ".gitignore: added .healloop/"),
        ("dist/\r\n", "dist/\r\n.healloop/\r\n", ".gitignore: added .healloop/"),
        ("/.healloop\n", "/.healloop\n", ".gitignore already ignores .healloop/"),
    ],
)
def test_gitignore_is_created_appended_or_kept(tmp_path: Path, init, before: str | None, after: str,
                                                said: str) -> None:
    gitignore = tmp_path / ".gitignore"
    if before is not None:
        gitignore.write_bytes(before.encode())
    code, lines, _ = init()
    assert code == 0, lines
    assert _line(lines, ".gitignore").startswith(said)
    assert gitignore.read_bytes() == after.encode()
    code, lines, _ = init("--force")
    assert code == 0 and gitignore.read_bytes() == after.encode()   # never a second line
    assert _line(lines, ".gitignore") == ".gitignore already ignores .healloop/"


def test_dry_run_writes_nothing(tmp_path: Path, init) -> None:
    _tree(tmp_path, {"tests/conftest.py": ""})
    code, lines, _ = init("--dry-run")
    assert code == 0, lines
    assert lines[0].startswith("detected pytest: tests/conftest.py")
    assert _line(lines, ".gitignore").startswith(".gitignore: would create it")
    config = tmp_path.resolve() / "healloop.toml"
    assert _line(lines, "dry run:") == f"dry run: would write {config}; nothing written"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tests"]


def test_nothing_found_says_so_and_keeps_the_example_service(tmp_path: Path, init) -> None:
    _tree(tmp_path, {"README.md": "# not a project yet\n"})
    code, lines, text = init()
    assert code == 0, lines
    assert lines[0].startswith("no test suite found (looked for cypress.config.*")
    assert _line(lines, "app:") == "app: no start command found; add one under [node.services]"
    assert _line(lines, "next:").startswith("next: `healloop doctor`")
    assert '# env = { PORT = "3000" }' in text and "# autostart = true" in text
    node = load_config(tmp_path / "healloop.toml")
    assert node.runner.kind == "pytest" and node.services == {}


def test_venvs_by_pyvenv_cfg_and_by_poetry(tmp_path: Path) -> None:
    _tree(tmp_path, {"tests/test_a.py": ""})
    _venv(tmp_path / ".env")
    assert detect(tmp_path).toolchain.python == ".env/bin/python"

    poetry_home = tmp_path.parent / f"{tmp_path.name}-poetry"
    project = _tree(tmp_path / "p", {"tests/test_a.py": "", "poetry.lock": ""})
    python = _venv(poetry_home / "shop-py3.11")
    asked: list[Path] = []

    def poetry(folder: Path) -> Path:
        asked.append(folder)
        return python.parent.parent

    found = detect(project, poetry=poetry).toolchain
    assert found.python == str(python) and asked == [project.resolve()]
    assert detect(project, poetry=lambda folder: None).toolchain.fix == (
        "a poetry project without a virtualenv: run `poetry install`")


def test_the_choice_is_explained_and_deterministic(tmp_path: Path) -> None:
    """A config file beats inferred files, then the shallowest, then Cypress, Playwright, pytest, then the
    folder's name; node_modules and hidden folders are not looked in."""
    _tree(tmp_path, {
        "e2e/test_smoke.py": "",
        "packages/b/cypress.config.ts": "", "packages/a/playwright.config.js": "",
        "examples/demo/site/playwright.config.ts": "",
        "node_modules/pkg/playwright.config.js": "", ".cache/cypress.config.js": "",
    })
    found = detect(tmp_path)
    assert (found.suite.kind, found.suite.cwd) == ("cypress", "packages/b")
    assert found.suite.evidence == "packages/b/cypress.config.ts (packages/b is a package under packages/)"
    assert [(s.kind, s.cwd) for s in found.also] == [
        ("playwright", "packages/a"), ("playwright", "examples/demo/site"), ("pytest", "."),
    ]
    assert found.also[2].evidence == "1 test_*.py file under e2e/"
    assert detect(tmp_path) == found
