"""``POST /api/git/check`` against real git servers on loopback (git daemon, sshd with a deploy key, an HTTP
server wanting a token): branches and the default branch listed, a missing branch or an unreadable repository
answered with git's own message, credentials taken from the request or from an existing app, bad input refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.app import create_app
from tests.support.gitserver import GitHttpServer, GitServer, SshGitServer, _git
from tests.support.server import ApiClient, make_config
from tests.support.team_members import member_token

TOKEN = "ghp_checktoken0123456789"


@pytest.fixture
async def checker(tmp_path: Path) -> AsyncIterator[ApiClient]:
    app = create_app(make_config(tmp_path / "data"))
    async with app.test_app():
        yield ApiClient(app)


async def check(api: ApiClient, **body: Any) -> tuple[int, Any]:
    return await api.post("/api/git/check", json=body)


async def test_branches_default_branch_and_a_missing_branch(
    checker: ApiClient, git_server: GitServer
) -> None:
    repo = git_server.create_repo("web")
    _git("push", "-q", "origin", "HEAD:refs/heads/release/1.0", cwd=repo.work)
    code, body = await check(checker, git_url=repo.url)
    assert code == 200, body
    assert body["ok"] and body["default_branch"] == "main" and body["branches"] == ["main", "release/1.0"]
    assert body["branch_exists"] is None and body["error"] is None
    code, body = await check(checker, git_url=repo.url, branch="release/1.0")
    assert code == 200 and body["ok"] and body["branch_exists"] is True, body
    code, body = await check(checker, git_url=repo.url, branch="develop")
    assert code == 200 and not body["ok"] and body["branch_exists"] is False, body
    assert body["error"] == "the repository has no branch 'develop' (it has: main, release/1.0)"


async def test_an_unreadable_repository_answers_with_gits_message(
    checker: ApiClient, git_server: GitServer
) -> None:
    code, body = await check(checker, git_url=f"git://127.0.0.1:{git_server.port}/nosuch.git", branch="main")
    assert code == 200 and not body["ok"] and body["branches"] == [], body
    assert "git ls-remote of git://127.0.0.1" in body["error"] and "nosuch.git" in body["error"], body
    assert body["branch_exists"] is None


async def test_an_ssh_deploy_key_by_id_and_the_apps_own_key(
    checker: ApiClient, git_server: GitServer, ssh_git_server: SshGitServer
) -> None:
    repo = git_server.create_repo("private")
    url = ssh_git_server.url(repo)
    code, body = await check(checker, git_url=url)
    assert code == 200 and not body["ok"] and "Permission denied" in body["error"], body
    code, key = await checker.post(
        "/api/ssh-keys", json={"name": "deploy", "private_key": ssh_git_server.private_key}
    )
    assert code == 201, key
    code, body = await check(checker, git_url=url, branch="main", ssh_key_id=key["id"])
    assert code == 200 and body["ok"] and body["branches"] == ["main"], body
    code, app = await checker.post(
        "/api/apps", json={"name": "private", "git_url": url, "ssh_key_id": key["id"], "port": 8000}
    )
    assert code == 201, app
    code, body = await check(checker, git_url=url, branch="main", app_id=app["id"])  # the app's stored key
    assert code == 200 and body["ok"], body
    # The host key was not pinned by a check (a deployment's decision).
    assert (await checker.get("/api/ssh-known-hosts", query_string={"host": "127.0.0.1"}))[1]["items"] == []


async def test_an_https_token_is_sent_to_the_server_and_never_echoed(
    checker: ApiClient, git_server: GitServer
) -> None:
    git_server.create_repo("tokened")
    with GitHttpServer(git_server.base, user="x-access-token", token=TOKEN) as server:
        url = server.url("tokened")
        code, body = await check(checker, git_url=url)
        assert code == 200 and not body["ok"], body
        code, body = await check(checker, git_url=url, git_token=TOKEN, git_token_user="x-access-token")
        assert code == 200 and body["ok"] and body["default_branch"] == "main", body
        assert TOKEN not in str(body) and "x-access-token" in server.seen_users


async def test_bad_input_is_refused_naming_the_field(tmp_path: Path, git_server: GitServer) -> None:
    app = create_app(make_config(tmp_path / "data", git={"allow_local": False}))
    async with app.test_app():
        api = ApiClient(app)
        for body, field in (
            ({"git_url": "not a url"}, "git_url"),
            ({"git_url": "https://example.com/a/b.git", "branch": "-bad"}, "branch"),
            ({"git_url": "https://example.com/a/b.git", "surprise": 1}, "surprise"),
            ({"git_url": str(git_server.base / "web.git")}, "git_url"),  # a local path, not allowed here
        ):
            code, answer = await check(api, **body)
            assert code == 422, (body, answer)
            assert [d["field"] for d in answer["error"]["details"]] == [field], answer
        code, answer = await check(api, git_url="https://example.com/a/b.git", ssh_key_id="nope")
        assert code == 404 and answer["error"]["details"][0]["field"] == "ssh_key_id", answer
        code, answer = await check(api, git_url="https://example.com/a/b.git", app_id="nope")
        assert code == 404 and answer["error"]["details"][0]["field"] == "app_id", answer
        viewer = await member_token(api, "vera", "default", "viewer", scopes=("read",))
        code, answer = await api.post(
            "/api/git/check",
            json={"git_url": "https://example.com/a/b.git"},
            auth=False,
            headers={"Authorization": f"Bearer {viewer}"},
        )
        assert code == 403, answer


def test_rivetr_repo_check_lists_branches_and_fails_on_a_missing_one(
    git_server: GitServer, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from rivetr_core.cli.main import cli
    from tests.support.cli import api_in_thread
    from tests.support.server import ADMIN_TOKEN

    async def seed(_accounts: Any) -> None:
        return None

    repo = git_server.create_repo("cli")
    _git("push", "-q", "origin", "HEAD:refs/heads/dev", cwd=repo.work)
    with api_in_thread(tmp_path / "data", seed) as (url, _app):
        env = {"RIVETR_URL": url, "RIVETR_TOKEN": ADMIN_TOKEN, "RIVETR_LOGIN_FILE": str(tmp_path / "login")}
        listed = CliRunner().invoke(cli, ["repo", "check", repo.url], env=env)
        assert listed.exit_code == 0 and listed.stdout.splitlines()[-2:] == ["dev", "main (default)"], (
            listed.output
        )
        found = CliRunner().invoke(cli, ["repo", "check", repo.url, "--branch", "dev"], env=env)
        assert found.exit_code == 0 and "dev ← found" in found.output, found.output
        missing = CliRunner().invoke(cli, ["repo", "check", repo.url, "-b", "nope", "--json"], env=env)
        assert missing.exit_code == 1 and "has no branch 'nope'" in missing.output, missing.output
