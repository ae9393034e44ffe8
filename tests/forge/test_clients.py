"""The forge clients against a fake forge speaking GitHub's and GitLab's REST calls over real HTTP: one
contract, run for each forge: a pull request is opened once however often it is asked for, the token
goes in the forge's header, and every refusal is a sentence naming what to fix."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from healloop import forge
from healloop.errors import ConfigError, ForgeError, HealloopError, Unavailable
from healloop.forge import ForgeSettings
from tests.forge.fake import GITHUB_REPO, GITLAB_PROJECT, FakeForge
from tests.node.conftest import free_port

TOKEN_ENV = "SHOP_FORGE_TOKEN"


@pytest.fixture
def fake() -> Iterator[FakeForge]:
    with FakeForge() as f:
        yield f


def settings(fake: FakeForge, kind: str, **over: str) -> ForgeSettings:
    base = {"github": (fake.github_api, GITHUB_REPO), "gitlab": (fake.gitlab_api, GITLAB_PROJECT)}[kind]
    return ForgeSettings(**{"kind": kind, "api_url": base[0], "repository": base[1], "token_env": TOKEN_ENV,
                            **over})


@pytest.mark.parametrize("kind", ["github", "gitlab"])
class TestForgeContract:
    def test_open_makes_one_pull_request_and_returns_it_when_asked_again(self, fake: FakeForge,
                                                                         kind: str) -> None:
        client = forge.client(settings(fake, kind), {TOKEN_ENV: fake.token})
        pr = client.open_pull_request("healloop/evt_1", "main", "healloop: selector fix", "what failed")
        assert (pr.forge, pr.number, pr.head, pr.base) == (kind, 1, "healloop/evt_1", "main")
        assert pr.existing is False
        assert pr.url.startswith("https://") and pr.state in ("open", "opened")
        again = client.open_pull_request("healloop/evt_1", "main", "healloop: selector fix", "what failed")
        assert (again.number, again.url, again.existing) == (1, pr.url, True)
        assert len(fake.posts()) == 1 and len(fake.pulls[kind]) == 1
        body = fake.posts()[0].body
        if kind == "github":
            assert body == {"title": "healloop: selector fix", "head": "healloop/evt_1", "base": "main",
                            "body": "what failed"}
        else:
            assert (body["source_branch"], body["target_branch"], body["description"]) == (
                "healloop/evt_1", "main", "what failed")
        other = client.open_pull_request("healloop/evt_2", "main", "t", "b")
        assert other.number == 2 and not other.existing

    def test_the_token_is_sent_in_the_forges_header(self, fake: FakeForge, kind: str) -> None:
        forge.client(settings(fake, kind), {TOKEN_ENV: fake.token}).open_pull_request("healloop/e", "main",
                                                                                      "t", "b")
        headers = fake.requests[-1].headers
        if kind == "github":
            assert headers["authorization"] == f"Bearer {fake.token}"
            assert headers["accept"] == "application/vnd.github+json"
        else:
            assert headers["private-token"] == fake.token

    def test_a_wrong_token_is_a_sentence_naming_its_variable(self, fake: FakeForge, kind: str) -> None:
        client = forge.client(settings(fake, kind), {TOKEN_ENV: "wrong"})
        with pytest.raises(ForgeError) as err:
            client.open_pull_request("healloop/e", "main", "t", "b")
        assert f"{kind} refused the token in ${TOKEN_ENV} (401" in err.value.message
        assert "wrong" not in err.value.message and fake.posts() == []

    def test_a_missing_token_unknown_repository_and_unreachable_forge_are_named(self, fake: FakeForge,
                                                                                kind: str) -> None:
        with pytest.raises(ConfigError) as err:
            forge.client(settings(fake, kind), {})
        assert f"${TOKEN_ENV} is not set" in err.value.message
        assert forge.check(settings(fake, kind), {})[0] is False
        assert forge.check(settings(fake, kind), {TOKEN_ENV: "x"})[0] is True
        unknown = forge.client(settings(fake, kind, repository="acme/nope"), {TOKEN_ENV: fake.token})
        with pytest.raises(ForgeError) as err:
            unknown.open_pull_request("healloop/e", "main", "t", "b")
        assert "404" in err.value.message and "repository" in err.value.message
        down = forge.client(settings(fake, kind, api_url=f"http://127.0.0.1:{free_port()}"),
                            {TOKEN_ENV: fake.token})
        with pytest.raises(Unavailable) as unreachable:
            down.open_pull_request("healloop/e", "main", "t", "b")
        assert f"cannot reach {kind} at http://127.0.0.1:" in unreachable.value.message

    def test_a_branch_the_forge_does_not_have_is_refused_in_the_forges_words(
        self, tmp_path: Path, fake: FakeForge, kind: str
    ) -> None:
        fake.remote = tmp_path / "remote.git"
        subprocess.run(["git", "init", "-q", "--bare", str(fake.remote)], check=True)
        client = forge.client(settings(fake, kind), {TOKEN_ENV: fake.token})
        with pytest.raises(HealloopError) as err:
            client.open_pull_request("healloop/never-pushed", "main", "t", "b")
        assert f"{kind} refused to open a" in err.value.message
        assert "healloop/never-pushed" in err.value.message
        assert fake.pulls[kind] == []
