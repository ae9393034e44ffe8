"""The app's start command and health URL, from the project's files."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from healloop.detect.files import JS_EXTS, chain, join, read, read_json, rel, skip, strip_js_comments, subdirs
from healloop.detect.findings import App
from healloop.detect.toolchain import package_manager

# A dev server starts from the sources; `start` and `preview` often serve a build that may not exist yet
# (`next start`, `vite preview`), so they come after it.
SCRIPTS = ("dev", "start", "serve", "preview")
COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
_NOT_AN_APP = re.compile(
    r"postgres|mysql|mariadb|redis|valkey|mongo|memcache|rabbitmq|elastic|opensearch|minio|mailhog|"
    r"mailpit|localstack|kafka|zookeeper|nats|^db$|database|cache"
)
_SHELL = re.compile(r"[|&;<>()$`\\*?~]|^\s*[A-Za-z_][A-Za-z0-9_]*=")
_PORT_FLAGS = (
    re.compile(r"(?:^|\s)(?:--port|-p)[=\s]+(\d{2,5})\b"),
    re.compile(r"\bPORT=(\d{2,5})\b"),
    re.compile(r"(?:--bind|-b|--listen|-l)[=\s]+(?:\S*:)?(\d{2,5})\b(?![.:])"),
    re.compile(r"\b(?:runserver|http\.server)\s+(?:\S+:)?(\d{2,5})\b(?![.:])"),
)
# (what the command names, its default port, the framework as a person names it)
_DEFAULTS = (
    (r"\bvite\s+preview\b", 4173, "Vite's preview"), (r"\bvite\b(?!\s+build)", 5173, "Vite's"),
    (r"\bnext\b", 3000, "Next.js's"), (r"\breact-scripts\s+start\b", 3000, "Create React App's"),
    (r"\bng\s+serve\b", 4200, "Angular's"), (r"\bastro\b", 4321, "Astro's"), (r"\bnuxi?\b", 3000, "Nuxt's"),
    (r"\bremix\b", 3000, "Remix's"), (r"\bgatsby\s+develop\b", 8000, "Gatsby's"),
    (r"\bwebpack(?:-dev-server|\s+serve)\b", 8080, "webpack-dev-server's"),
    (r"\bhttp-server\b", 8080, "http-server's"), (r"\bparcel\b", 1234, "Parcel's"),
    (r"\brunserver\b", 8000, "Django's"), (r"\bflask\b", 5000, "Flask's"),
    (r"\buvicorn\b", 8000, "uvicorn's"),
    (r"\bgunicorn\b", 8000, "gunicorn's"), (r"\bhttp\.server\b", 8000, "http.server's"),
    (r"\brails\s+s(?:erver)?\b", 3000, "Rails'"), (r"\bserve\b", 3000, "serve's"),
)


def _argv(line: str) -> tuple[str, ...]:
    """A command line as argv: split when it is a plain command, through ``sh -c`` when it uses the shell."""
    if _SHELL.search(line):
        return ("sh", "-c", line)
    try:
        return tuple(shlex.split(line))
    except ValueError:
        return ("sh", "-c", line)


def _port(command: str) -> tuple[int | None, bool, str]:
    """(port, written in the command, why) for a start command."""
    for regex in _PORT_FLAGS:
        m = regex.search(command)
        if m:
            return int(m.group(1)), True, f"port {m.group(1)} from the command"
    for pattern, port, who in _DEFAULTS:
        if re.search(pattern, command):
            return port, False, f"port {port} is {who} default, not written in the project's files"
    return None, False, "no port found in the command or the project's files"


def _braced(text: str, start: int) -> str:
    """The ``{...}`` that opens at or after ``start`` (inside a ``[`` too), strings skipped; "" if none."""
    begin = text.find("{", start)
    if begin < 0 or text[start:begin].strip() not in ("", "["):
        return ""
    depth, quote, i = 0, "", begin
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"`":
            quote = c
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[begin:i + 1]
        i += 1
    return ""


def _js_string(block: str, key: str) -> str | None:
    m = re.search(rf"\b{key}\s*:\s*(['\"`])((?:\\.|(?!\1).)*)\1", block, re.DOTALL)
    return m.group(2) if m else None


def _service_name(root: Path, folder: str) -> str:
    name = read_json(root / folder / "package.json").get("name")
    if isinstance(name, str):
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", name.split("/")[-1]).strip("-._")[:64]
        if name and name[0].isalnum():
            return name
    return "app"


def _webserver(root: Path, config: str) -> App | None:
    text = strip_js_comments(read(root / config) or "")
    m = re.search(r"\bwebServer\s*:\s*", text)
    block = _braced(text, m.end()) if m else ""
    command = _js_string(block, "command")
    if not command:
        return None
    folder = rel(root, (root / config).parent)
    sub = _js_string(block, "cwd")
    if sub and "${" not in sub:
        folder = os.path.normpath(join(folder, sub)).replace(os.sep, "/")
    url = _js_string(block, "url")
    port = re.search(r"\bport\s*:\s*(\d{2,5})\b", block)
    source = f"the webServer block of {config}"
    if url and "${" not in url and url.startswith(("http://", "https://")):
        health, sure, why = url, "${" not in command, "the url Playwright waits for"
    elif port:
        health, sure, why = f"http://127.0.0.1:{port.group(1)}/", "${" not in command, \
            f"port {port.group(1)}, which Playwright waits for"
    else:
        guess, _, why = _port(command)
        health, sure = f"http://127.0.0.1:{guess or 3000}/", False
    return App(_service_name(root, folder), _argv(command), folder, health, sure, source, why)


def _vite_port(root: Path, folder: str) -> int | None:
    for ext in JS_EXTS:
        text = read(root / folder / f"vite.config.{ext}")
        m = re.search(r"\bserver\s*:\s*\{[^}]*?\bport\s*:\s*(\d{2,5})", strip_js_comments(text or ""))
        if m:
            return int(m.group(1))
    return None


_BASE_URL = re.compile(r"\bbase(?:Url|URL)\s*:\s*['\"`]https?://(?:127\.0\.0\.1|localhost):(\d{2,5})")


def _base_url_port(root: Path, folder: str) -> tuple[int, str] | None:
    """The port of a local ``baseUrl`` (Cypress) or ``baseURL`` (Playwright) the suite's config
    points its tests at: where the app must answer."""
    for name in ("cypress.config", "playwright.config"):
        for ext in JS_EXTS:
            text = strip_js_comments(read(root / folder / f"{name}.{ext}") or "")
            m = _BASE_URL.search(text)
            if m:
                return int(m.group(1)), join(folder, f"{name}.{ext}")
    return None


def _script(root: Path, cwd: str) -> App | None:
    for folder in chain(cwd):
        scripts = read_json(root / folder / "package.json").get("scripts")
        if not isinstance(scripts, dict):
            continue
        for name in SCRIPTS:
            line = scripts.get(name)
            if not isinstance(line, str) or not line.strip():
                continue
            manager, _ = package_manager(root, folder)
            port, sure, why = _port(line)
            vite = _vite_port(root, folder) if re.search(r"\bvite\b(?!\s+(build|preview))", line) else None
            if not sure and vite:
                port, sure, why = vite, True, f"port {vite} from server.port in vite.config"
            base = None if sure else _base_url_port(root, folder)
            if base is not None:
                port, sure, why = base[0], True, f"port {base[0]} from the baseUrl in {base[1]}"
            source = f'script "{name}" ({line}) in {join(folder, "package.json")}'
            return App(_service_name(root, folder), (manager, "run", name), folder,
                       f"http://127.0.0.1:{port or 3000}/", sure, source, why)
    return None


def _project_program(root: Path, folder: str, argv: tuple[str, ...], python: str | None) -> tuple[str, ...]:
    """``python ...`` or a venv's console script (gunicorn, uvicorn, flask) run with the project's own."""
    if not python or not argv or argv[0] == "sh" or "/" in argv[0]:
        return argv
    exe = root / python if not Path(python).is_absolute() else Path(python)
    program = exe if argv[0] in ("python", "python3") else exe.parent / argv[0]
    if not program.is_file():
        return argv
    return (Path(os.path.relpath(program, root / folder)).as_posix(), *argv[1:])


def _procfile(root: Path, cwd: str, python: str | None) -> App | None:
    for folder in chain(cwd):
        m = re.search(r"^web:\s*(.+?)\s*$", read(root / folder / "Procfile") or "", re.MULTILINE)
        if not m:
            continue
        line = m.group(1)
        port, sure, why = _port(line)
        env: tuple[tuple[str, str], ...] = ()
        if not sure and re.search(r"\$\{?PORT\b", line):
            port = port or 5000
            env, why = (("PORT", str(port)),), f"the Procfile reads $PORT; {port} is a guess, set here"
        argv = _project_program(root, folder, _argv(line), python)
        return App("app", argv, folder, f"http://127.0.0.1:{port or 5000}/", sure,
                   f"the web: line of {join(folder, 'Procfile')}", why, env)
    return None


def _manage_py(root: Path, cwd: str, python: str | None) -> App | None:
    near = chain(cwd)
    for folder in [*near, *(f for f in (rel(root, d) for d in subdirs(root)) if f not in near)]:
        if skip(folder.split("/")[-1]) and folder != ".":
            continue
        if (root / folder / "manage.py").is_file():
            command = ("python", "manage.py", "runserver", "127.0.0.1:8000")
            argv = _project_program(root, folder, command, python)
            return App("app", argv, folder, "http://127.0.0.1:8000/", False, join(folder, "manage.py"),
                       "port 8000 is Django's default, not written in the project's files; "
                       "/ must answer 2xx for the health check")
    return None


def _compose_services(text: str) -> list[tuple[str, str, list[str]]]:
    """(service, image, published ports) from a compose file, read line by line (simple YAML only)."""
    services: list[tuple[str, str, list[str]]] = []
    inside, indent, in_ports = False, None, False
    name, image, ports = "", "", []
    for raw in text.splitlines():
        line = raw.split(" #")[0].rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        depth = len(line) - len(line.lstrip())
        body = line.strip()
        if depth == 0:
            inside = body == "services:"
            continue
        if not inside:
            continue
        if indent is None:
            indent = depth
        if depth == indent and body.endswith(":"):
            if name:
                services.append((name, image, ports))
            name, image, ports, in_ports = body[:-1].strip("'\""), "", [], False
        elif body.startswith("image:"):
            image = body[6:].strip().strip("'\"")
        elif body.startswith("ports:"):
            rest = body[6:].strip()
            in_ports = not rest
            ports += [p.strip().strip("'\"") for p in rest.strip("[]").split(",") if p.strip()]
        elif in_ports:
            item = body[2:].strip() if body.startswith("- ") else body
            if item.startswith("published:"):        # the long syntax: target, published, protocol
                ports.append(item[10:].strip().strip("'\"") + ":")
            elif re.match(r"(target|protocol|mode|host_ip|name|app_protocol):", item):
                pass
            elif body.startswith("- "):
                ports.append(item.strip("'\""))
            else:
                in_ports = False
    if name:
        services.append((name, image, ports))
    return services


def _host_port(spec: str) -> tuple[int | None, bool]:
    """The host port of a compose ``ports`` entry and whether it is literal (not ${VAR:-default})."""
    literal = "${" not in spec
    spec = re.sub(r"\$\{[^}:]*:?-([^}]*)\}", r"\1", spec).split("/")[0]
    parts = spec.split(":")
    if len(parts) < 2:
        return None, literal   # only the container's port: Docker picks the host's
    host = parts[-2].split("-")[0]
    return (int(host), literal) if host.isdigit() else (None, literal)


def _compose(root: Path, cwd: str) -> App | None:
    for folder in chain(cwd):
        for filename in COMPOSE_FILES:
            text = read(root / folder / filename)
            if not text:
                continue
            for name, image, ports in _compose_services(text):
                if _NOT_AN_APP.search(name) or _NOT_AN_APP.search(image):
                    continue
                for spec in ports:
                    port, literal = _host_port(spec)
                    if port:
                        why = f"port {port} from {join(folder, filename)}" if literal else \
                            f"port {port} is the default of a variable in {join(folder, filename)}"
                        return App(name if re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", name) else "app",
                                   ("docker", "compose", "up", name), folder, f"http://127.0.0.1:{port}/",
                                   literal, f'service "{name}" of {join(folder, filename)}', why)
            break     # Docker reads the first of these names it finds
    return None


def find_apps(root: Path, cwd: str, playwright_configs: list[str], python: str | None) -> list[App]:
    """Start commands found, best first: the suite's own webServer (what its runner starts), then one
    whose port is written in the project over a guess, then package.json, Procfile, manage.py, compose."""
    found = [a for c in playwright_configs if (a := _webserver(root, c))][:1]
    rest = (_script(root, cwd), _procfile(root, cwd, python), _manage_py(root, cwd, python),
            _compose(root, cwd))
    found += sorted((a for a in rest if a), key=lambda a: not a.sure)
    return found
