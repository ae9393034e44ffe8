"""deploy/: no Docker engine runs on these machines, so the files are checked statically: the
compose file parses, every service's command is a real healloop command with real flags, and
volumes and ports agree with the defaults."""

from __future__ import annotations

import copy
import functools
import re
import tomllib
from pathlib import Path

import click
import kubernetes_validate
import pytest
import yaml

from healloop.cli.main import _add_commands, cli
from tests.support import ROOT

COMPOSE = ROOT / "deploy" / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"


def _defaults(value, env: dict[str, str] | None = None):
    """Compose's ``${VAR:-default}`` with only ``env`` set (none: how the file runs on one machine)."""
    env = env or {}
    if isinstance(value, str):
        return re.sub(r"\$\{([A-Z_]+):-([^}]*)\}", lambda m: env.get(m.group(1)) or m.group(2), value)
    if isinstance(value, list):
        return [_defaults(v, env) for v in value]
    if isinstance(value, dict):
        return {k: _defaults(v, env) for k, v in value.items()}
    return value


def _services(env: dict[str, str] | None = None) -> dict:
    return _defaults(yaml.safe_load(COMPOSE.read_text())["services"], env)


def _parse(argv: list[str]) -> click.Context:
    """Resolve argv to a healloop command and parse its options, as the CLI would."""
    _add_commands()
    ctx = cli.make_context("healloop", list(argv))
    cmd: click.Command = cli
    args = list(argv)
    while isinstance(cmd, click.Group):
        name, sub, args = cmd.resolve_command(ctx, args)
        assert sub is not None, f"unknown command {name!r} in {argv}"
        cmd = sub
        ctx = cmd.make_context(name, list(args), parent=ctx)
    return ctx


@pytest.mark.parametrize("name", ["queue", "node", "agent"])
def test_every_service_command_is_a_real_healloop_command(name: str) -> None:
    svc = _services()[name]
    ctx = _parse(svc["command"])
    assert ctx.command.name in {"serve", "agent"}


def test_queue_volume_port_and_image_defaults_agree() -> None:
    services = _services()
    queue = services["queue"]
    ctx = _parse(queue["command"])
    db = str(ctx.params["db"])
    mount = queue["volumes"][0].split(":")[1]
    assert db.startswith(mount + "/"), "the database must live on the queue's volume"
    assert f"{ctx.params['port']}:{ctx.params['port']}" in queue["ports"]
    assert ctx.params["port"] == 8787 and ctx.params["host"] == "0.0.0.0"
    node = _parse(services["node"]["command"])
    assert node.params["queue"] == "http://queue:8787" and node.params["public_url"] == "http://node:8788/mcp"
    assert node.params["port"] == 8788 and "8788:8788" in services["node"]["ports"]
    agent = _parse(services["agent"]["command"])
    assert agent.params["queue_url"] == "http://queue:8787"
    text = DOCKERFILE.read_text()
    assert 'VOLUME ["/data"]' in text and "EXPOSE 8787 8788" in text
    cmd = re.search(r"^CMD (\[.*\])$", text, re.MULTILINE)
    assert cmd is not None
    assert yaml.safe_load(cmd.group(1)) == queue["command"]


def test_every_service_sets_the_tokens() -> None:
    services = _services()
    for name in ("queue", "node", "agent"):
        assert "HEALLOOP_TOKEN" in services[name]["environment"]
    assert services["node"]["environment"]["HEALLOOP_NODE_TOKEN"] == "${HEALLOOP_TOKEN}"
    assert services["agent"]["environment"]["HEALLOOP_AGENT_NODE_TOKEN"] == "${HEALLOOP_TOKEN}"


def test_the_queue_answers_to_the_name_the_services_use_and_the_agents_trust_the_node() -> None:
    """The queue refuses Host names it was not told, and agents send the node token to no host they
    were not told: in compose the services reach each other by service name."""
    from urllib.parse import urlsplit

    services = _services()
    node = _parse(services["node"]["command"])
    allowed = services["queue"]["environment"]["HEALLOOP_ALLOWED_HOSTS"].split()
    assert urlsplit(node.params["queue"]).hostname in allowed
    assert urlsplit(_parse(services["agent"]["command"]).params["queue_url"]).hostname in allowed
    trusted = services["agent"]["environment"]["HEALLOOP_AGENT_NODE_HOSTS"].split()
    assert urlsplit(node.params["public_url"]).hostname in trusted


def test_the_postgres_profile_points_the_queue_at_its_database() -> None:
    """The header's command (HEALLOOP_DB and --profile postgres) gives a queue whose --db is the
    profile's database, with its user, password, name and port."""
    from urllib.parse import urlsplit

    header = re.search(r"HEALLOOP_DB=(\S+) \\\n#\s+docker compose (.*)\n", COMPOSE.read_text())
    assert header is not None, "the header shows how to run the postgres profile"
    assert "--profile postgres up" in header.group(2)
    services = _services({"HEALLOOP_DB": header.group(1)})
    queue, pg = services["queue"], services["postgres"]
    db = queue["command"][queue["command"].index("--db") + 1]
    assert _parse(queue["command"]).command_path == "healloop serve"
    url = urlsplit(db)
    assert url.scheme == "postgresql" and url.hostname == "postgres" and url.port == 5432
    env = pg["environment"]
    assert (url.username, url.password, url.path) == (
        env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], "/" + env["POSTGRES_DB"]
    )
    # Only the profile starts PostgreSQL; the queue waits for it to be ready when it runs, and runs
    # without it (SQLite on its volume) when it does not.
    assert pg["profiles"] == ["postgres"]
    assert all("profiles" not in services[name] for name in ("queue", "node", "agent"))
    assert queue["depends_on"]["postgres"] == {"condition": "service_healthy", "required": False}
    assert pg["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    volume, mount = pg["volumes"][0].split(":")
    assert mount == "/var/lib/postgresql/data"
    assert volume in yaml.safe_load(COMPOSE.read_text())["volumes"]


# -- deploy/k8s: schema-valid offline, and consistent with the CLI and with itself ---------------------

K8S = ROOT / "deploy" / "k8s"
K8S_VERSIONS = ("1.30", kubernetes_validate.latest_version())  # the oldest supported release, the newest


def _k8s_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


@functools.cache
def _k8s_docs() -> list[tuple[str, dict]]:
    """Read once per run; callers must not change what they get (deep-copy to alter)."""
    return [(p.name, doc) for p in _k8s_files() for doc in yaml.safe_load_all(p.read_text()) if doc]


def _kind(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for _, doc in _k8s_docs() if doc["kind"] == kind}


def _pods() -> dict[str, dict]:
    return {name: d["spec"]["template"]["spec"] for name, d in _kind("Deployment").items()}


def _containers(pod: dict) -> list[dict]:
    return pod.get("initContainers", []) + pod["containers"]


def _container(deployment: str, name: str) -> dict:
    return next(c for c in _containers(_pods()[deployment]) if c["name"] == name)


def _secret_value(ref: dict) -> str:
    secret = _kind("Secret")[ref["name"]]
    return {**secret.get("stringData", {}), **secret.get("data", {})}[ref["key"]]


def _env(container: dict) -> dict[str, str]:
    """The container's environment with Secret values filled in, as the kubelet would."""
    out = {}
    for var in container.get("env", []):
        ref = var.get("valueFrom", {}).get("secretKeyRef")
        out[var["name"]] = _secret_value(ref) if ref else var["value"]
    return out


def _secret_keys(container: dict) -> dict[str, str]:
    """Variable name -> the healloop-tokens key it is set from."""
    return {
        v["name"]: v["valueFrom"]["secretKeyRef"]["key"]
        for v in container.get("env", [])
        if v.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == "healloop-tokens"
    }


def _argv(container: dict) -> list[str]:
    """command + args with ``$(VAR)`` expanded. Kubernetes leaves a reference to an undefined variable
    as written, so every one must be defined in the container's env."""
    env = _env(container)
    out = []
    for arg in container.get("command", []) + container.get("args", []):
        for var in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", arg):
            assert var in env, f"{container['name']}: $({var}) is not in its env, so it stays literal"
        out.append(re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env[m.group(1)], arg))
    return out


def _healloop(deployment: str, name: str) -> click.Context:
    return _parse(_argv(_container(deployment, name)))


def _port(container: dict, port: int | str) -> int:
    ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    assert port in ports or port in ports.values(), f"{container['name']}: no container port {port!r}"
    return ports.get(port, port)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_manifest_validates_against_the_kubernetes_schema(version: str) -> None:
    docs = _k8s_docs()
    assert {d["kind"] for _, d in docs} >= {"Deployment", "Service", "Secret", "ConfigMap"}
    for name, doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{name}: {doc['kind']}/{doc['metadata']['name']} at {path}: {exc.message}")


def test_the_schema_check_refuses_a_broken_manifest() -> None:
    """The check has teeth: a wrong type and a misspelt field (strict) are both refused, offline."""
    good = _kind("Deployment")["healloop-queue"]
    wrong_type = copy.deepcopy(good)
    wrong_type["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8787"
    misspelt = copy.deepcopy(good)
    misspelt["spec"]["replica"] = misspelt["spec"].pop("replicas")
    for bad in (wrong_type, misspelt):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(bad, K8S_VERSIONS[0], strict=True)


def test_kustomization_lists_every_manifest_once() -> None:
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kust["kind"] == "Kustomization"
    assert len(kust["resources"]) == len(set(kust["resources"]))
    assert sorted(kust["resources"]) == [p.name for p in _k8s_files()]
    assert list(_kind("Namespace")) == [kust["namespace"]]


def test_every_healloop_container_runs_a_real_command() -> None:
    """The image's entrypoint is `healloop`: a container that keeps it runs its args as a command."""
    roles = {}
    for deployment, pod in _pods().items():
        for c in _containers(pod):
            argv = _argv(c)  # also: every $(VAR) is defined
            if c["image"].split(":")[0] == "healloop" and "command" not in c:
                roles[(deployment, c["name"])] = _parse(argv).command_path
    assert roles == {
        ("healloop-queue", "queue"): "healloop serve",
        ("healloop-agent", "agent"): "healloop agent",
        ("healloop-node-shop-1", "node"): "healloop mcp serve",
    }


def test_the_queue_is_replicated_on_postgresql() -> None:
    queue = _kind("Deployment")["healloop-queue"]
    assert queue["spec"]["replicas"] > 1
    assert _container("healloop-queue", "queue")["args"][1:3] == ["--db", "$(HEALLOOP_DB)"]
    assert _healloop("healloop-queue", "queue").params["host"] == "0.0.0.0"
    assert _env(_container("healloop-queue", "queue"))["HEALLOOP_DB"].startswith("postgresql://")
    assert _kind("Deployment")["healloop-agent"]["spec"]["replicas"] >= 1
    # Dashboard sessions are signed with a per-replica key: a browser must stay on one replica.
    assert _kind("Service")["healloop-queue"]["spec"]["sessionAffinity"] == "ClientIP"
    # Shared by every replica, so it must be mountable by many pods at once.
    assert _kind("PersistentVolumeClaim")["healloop-artifacts"]["spec"]["accessModes"] == ["ReadWriteMany"]


def test_probes_hit_their_endpoint_on_the_served_port() -> None:
    queue = _container("healloop-queue", "queue")
    node = _container("healloop-node-shop-1", "node")
    served = {
        "queue": (_healloop("healloop-queue", "queue").params["port"], "/healthz"),
        "node": (_healloop("healloop-node-shop-1", "node").params["port"], "/metrics"),
    }
    for c in (queue, node):
        port, path = served[c["name"]]
        for probe in ("readinessProbe", "livenessProbe"):
            get = c[probe]["httpGet"]
            assert get["path"] == path and _port(c, get["port"]) == port, (c["name"], probe)
    app = _container("healloop-node-shop-1", "app")
    argv = _argv(app)
    assert _port(app, app["livenessProbe"]["httpGet"]["port"]) == int(argv[argv.index("--port") + 1])


def test_referenced_secrets_config_maps_and_claims_exist() -> None:
    secrets, maps, claims = _kind("Secret"), _kind("ConfigMap"), _kind("PersistentVolumeClaim")
    used = set()
    for deployment, pod in _pods().items():
        for c in _containers(pod):
            for var in c.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] in secrets, f"{deployment}/{c['name']}: no Secret {ref['name']}"
                    _secret_value(ref)  # KeyError names a missing key
                    used.add(ref["name"])
        for volume in pod.get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in maps
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims
    assert used == set(secrets), "a Secret nothing reads"


def test_config_files_are_mounted_where_the_commands_read_them(tmp_path: Path) -> None:
    """Each --config names a ConfigMap key through a mount, and the file loads as healloop reads it."""
    from healloop.node.config import load_config
    from healloop.queue.tokenconfig import declared_tokens

    def config_text(deployment: str, name: str) -> str:
        c, pod = _container(deployment, name), _pods()[deployment]
        path = Path(str(_healloop(deployment, name).params["config_path"]))
        mount = next(m for m in c["volumeMounts"] if path.parent == Path(m["mountPath"]))
        volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
        return _kind("ConfigMap")[volume["configMap"]["name"]]["data"][path.name]

    queue_toml = tmp_path / "queue.toml"
    queue_toml.write_text(config_text("healloop-queue", "queue"))
    tokens = declared_tokens(queue_toml, _env(_container("healloop-queue", "queue")))
    assert sorted(t.role for t in tokens) == ["agent", "node", "operator", "reporter"]
    node_toml = tmp_path / "node.toml"
    node_toml.write_text(config_text("healloop-node-shop-1", "node"))
    node = load_config(node_toml, workspace=ROOT)
    assert node.runner.kind == "playwright" and node.runner.cwd == ROOT / "examples" / "shop"


def test_each_part_holds_the_token_of_its_role() -> None:
    """The queue maps each healloop-tokens key to a role (through its healloop.toml); every other part
    sends the key of its own role, and the node's registration token is made for its --node name."""
    queue = _container("healloop-queue", "queue")
    declared = tomllib.loads(_kind("ConfigMap")["healloop-queue-config"]["data"]["healloop.toml"])
    by_key = {
        _secret_keys(queue)[t["env"]]: (name, t["role"]) for name, t in declared["queue"]["tokens"].items()
    }
    agent = _container("healloop-agent", "agent")
    node = _container("healloop-node-shop-1", "node")
    tests = _container("healloop-node-shop-1", "tests")
    assert by_key[_secret_keys(agent)["HEALLOOP_TOKEN"]][1] == "agent"
    node_name = _healloop("healloop-node-shop-1", "node").params["node_name"]
    assert by_key[_secret_keys(node)["HEALLOOP_TOKEN"]] == (node_name, "node")
    assert by_key[_secret_keys(tests)["HEALLOOP_TOKEN"]][1] == "reporter"
    assert _env(tests)["HEALLOOP_NODE"] == node_name
    # One node MCP token: the node requires it, agents and the dashboard send it.
    mcp_key = _secret_keys(node)["HEALLOOP_NODE_TOKEN"]
    assert mcp_key not in by_key
    assert _secret_keys(agent)["HEALLOOP_AGENT_NODE_TOKEN"] == mcp_key
    assert _secret_keys(queue)["HEALLOOP_AGENT_NODE_TOKEN"] == mcp_key


def test_services_route_to_pods_and_every_url_names_a_service() -> None:
    from urllib.parse import urlsplit

    deployments = _kind("Deployment")
    for name, d in deployments.items():
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert d["spec"]["selector"]["matchLabels"].items() <= labels.items(), name
    ports = {}
    for name, svc in _kind("Service").items():
        selector = svc["spec"]["selector"].items()
        targets = [
            d for d in deployments.values() if selector <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(targets) == 1, f"Service {name} selects {len(targets)} Deployments"
        pod = targets[0]["spec"]["template"]["spec"]
        for p in svc["spec"]["ports"]:
            assert any(p["targetPort"] in (q.get("name"), q["containerPort"])
                       for c in pod["containers"] for q in c.get("ports", [])), (name, p)
            ports[(name, p["port"])] = True
    queue_hosts = _env(_container("healloop-queue", "queue"))["HEALLOOP_ALLOWED_HOSTS"].split()
    urls = [
        _healloop("healloop-agent", "agent").params["queue_url"],
        _healloop("healloop-node-shop-1", "node").params["queue"],
        _env(_container("healloop-node-shop-1", "tests"))["HEALLOOP_URL"],
    ]
    for url in urls:
        parts = urlsplit(url)
        assert (parts.hostname, parts.port) in ports, f"{url} names no Service port"
        assert parts.hostname in queue_hosts, f"the queue refuses the Host {parts.hostname!r}"
    public = urlsplit(_healloop("healloop-node-shop-1", "node").params["public_url"])
    assert (public.hostname, public.port) in ports
    assert public.port == _healloop("healloop-node-shop-1", "node").params["port"]
    for deployment, name in (("healloop-agent", "agent"), ("healloop-queue", "queue")):
        trusted = _env(_container(deployment, name))["HEALLOOP_AGENT_NODE_HOSTS"].split()
        assert public.hostname in trusted, f"{deployment} would not send the node token to {public.hostname}"
