"""``healloop token create|list|revoke`` on the file of a running queue, and the operator commands
with role tokens."""

from __future__ import annotations

import hashlib
import json
import tomllib

from tests.cli.test_events_cli import healloop
from tests.support import QueueServer, failure, wait_until


def test_create_list_revoke_against_a_running_queue(server: QueueServer) -> None:
    db = str(server.db)
    made = healloop("token", "create", "--role", "operator", "--name", "alice", "--db", db)
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("hlt_") and len(secret) > 40 and "\n" not in secret
    assert "created operator token 'alice'" in made.stderr and "shown only now" in made.stderr
    env = {"HEALLOOP_TOKEN": secret}
    ok = wait_until(lambda: (r := healloop("events", "list", "--queue", server.url, env=env)).returncode == 0
                    and r, what="the new token to count")
    assert "no events" in ok.stdout
    listed = healloop("token", "list", "--db", db, "--json")
    rows = json.loads(listed.stdout)
    assert [(t["name"], t["role"], t["revoked_at"]) for t in rows] == [("alice", "operator", None)]
    assert secret not in listed.stdout and secret not in healloop("token", "list", "--db", db).stdout
    assert secret not in server.db.read_bytes().decode("latin-1")
    again = healloop("token", "create", "--role", "agent", "--name", "alice", "--db", db)
    assert again.returncode == 1 and "a token named 'alice' exists" in again.stderr
    assert "--replace" in again.stderr
    gone = healloop("token", "revoke", "alice", "--db", db)
    assert gone.returncode == 0 and "revoked operator token 'alice'" in gone.stdout
    refused = wait_until(lambda: (r := healloop("events", "list", "--queue", server.url, env=env))
                         .returncode == 1 and r, what="the revocation to count")
    assert "'alice' was revoked at" in refused.stderr
    twice = healloop("token", "revoke", "alice", "--db", db)
    assert twice.returncode == 1 and "already revoked" in twice.stderr
    assert "no token named 'bob'" in healloop("token", "revoke", "bob", "--db", db).stderr


def test_replace_rotates_a_token(server: QueueServer) -> None:
    db = str(server.db)
    old = healloop("token", "create", "--role", "reporter", "--name", "ci", "--db", db).stdout.strip()
    new = healloop("token", "create", "--role", "reporter", "--name", "ci", "--replace", "--db", db)
    assert new.returncode == 0 and "replaced reporter token 'ci'" in new.stderr
    with server.client(token=new.stdout.strip()) as c:
        wait_until(lambda: c.post("/v1/events", json=failure(1)).status_code == 201, what="the new secret")
    with server.client(token=old) as c:
        assert c.post("/v1/events", json=failure(2)).status_code == 401


def test_toml_prints_a_table_with_the_hash_and_stores_nothing(tmp_path) -> None:
    out = healloop("token", "create", "--role", "node", "--name", "ci-1", "--toml", "--db",
                   str(tmp_path / "e.db"))
    assert out.returncode == 0, out.stderr
    secret = out.stdout.split("shown only now): ")[1].split()[0]
    table = tomllib.loads(out.stdout)["queue"]["tokens"]["ci-1"]
    assert table == {"role": "node", "sha256": hashlib.sha256(secret.encode()).hexdigest()}
    assert not (tmp_path / "e.db").exists()


def test_list_shows_the_tokens_declared_in_healloop_toml_too(tmp_path) -> None:
    db = str(tmp_path / "e.db")
    assert healloop("token", "create", "--role", "agent", "--name", "agents", "--db", db).returncode == 0
    config = tmp_path / "healloop.toml"
    config.write_text(f'[queue.tokens.ci-suite]\nrole = "reporter"\nsha256 = "{"a" * 64}"\n'
                      '[queue.tokens.ci-1]\nrole = "node"\nenv = "CI1_QUEUE_TOKEN"\n')
    # The variable need not be set where the list is read: only `serve` reads the secret.
    listed = healloop("token", "list", "--db", db, "--config", str(config), "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {t["name"]: (t["role"], t["kept"]) for t in json.loads(listed.stdout)}
    assert rows == {"agents": ("agent", db), "ci-suite": ("reporter", f"{config} (sha256)"),
                    "ci-1": ("node", f"{config} (env $CI1_QUEUE_TOKEN)")}
    table = healloop("token", "list", "--db", db, env={"HEALLOOP_CONFIG": str(config)}).stdout
    assert "ci-suite" in table and "not recorded" in table and "agents" in table
    # Declared only, with no queue file yet: listed all the same.
    only = healloop("token", "list", "--db", str(tmp_path / "none.db"), "--config", str(config), "--json")
    assert only.returncode == 0 and len(json.loads(only.stdout)) == 2
    config.write_text('[queue.tokens.x]\nrole = "god"\nsha256 = "00"\n')
    bad = healloop("token", "list", "--db", db, "--config", str(config))
    assert bad.returncode == 1 and "queue.tokens.x.role" in bad.stderr


def test_bad_input_is_a_sentence(tmp_path) -> None:
    missing = healloop("token", "list", "--db", str(tmp_path / "nope.db"))
    assert missing.returncode == 1 and "nope.db does not exist" in missing.stderr
    db = str(tmp_path / "e.db")
    bad = healloop("token", "create", "--role", "agent", "--name", "has space", "--db", db)
    assert bad.returncode == 1 and "`name` must be 1 to 128 letters" in bad.stderr
    role = healloop("token", "create", "--role", "root", "--name", "x", "--db", db)
    assert role.returncode == 2 and "'root' is not one of" in role.stderr


def test_operator_commands_send_their_token_and_a_wrong_role_is_told_which(server: QueueServer) -> None:
    db = str(server.db)
    ops = healloop("token", "create", "--role", "operator", "--name", "ops", "--db", db).stdout.strip()
    rep = healloop("token", "create", "--role", "reporter", "--name", "ci", "--db", db).stdout.strip()
    agent = healloop("token", "create", "--role", "agent", "--name", "a1", "--db", db).stdout.strip()
    with server.client(token=rep) as c:
        eid = wait_until(lambda: (r := c.post("/v1/events", json=failure(1))).status_code == 201 and r,
                         what="the tokens to count").json()["id"]
    with server.client(token=agent) as c:
        lease = c.post("/v1/events/next", json={"worker": "w"}).json()["lease"]["token"]
        c.post(f"/v1/events/{eid}/transition", json={"token": lease, "to": "escalated"})
    no = healloop("events", "requeue", eid, "--queue", server.url, env={"HEALLOOP_TOKEN": rep})
    assert no.returncode == 1
    assert "needs a token of role operator or admin; this token ('ci') has role reporter" in no.stderr
    yes = healloop("events", "requeue", eid, "--queue", server.url, "--token", ops)
    assert yes.returncode == 0 and f"{eid} is now queued" in yes.stdout
