"""Git providers' OAuth app settings stored in the database (``/api/git-providers/{name}/settings``): the client
secret encrypted and never returned, each stored field overriding the config file's ``[oauth.<name>]``, an account
connected with settings that exist only in the database (a real local GitHub-speaking server), and the CLI
(``rivetr git-providers configure|show|reset``, ``rivetr auto-deploy``) against a real ``rivetr serve``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from click.testing import CliRunner

from rivetr_core.cli.main import cli
from tests.support import at_rest
from tests.support.cli import cli_env, module_server
from tests.support.fake_git_host import CLIENT_ID, CLIENT_SECRET, FakeGitHost
from tests.support.roles import make_team, member
from tests.support.server import ApiClient, ServerProcess

CALLBACK = "http://rivetr.test/oauth/github/callback"


def _db_bytes(api: ApiClient) -> bytes:
    return at_rest.stored_bytes(api.ctx)


@pytest.fixture
async def api(config_factory: Callable[..., Any]) -> AsyncIterator[ApiClient]:
    from rivetr_core.app import create_app

    # The config file's section: the database overrides it field by field.
    oauth = {
        "gitlab": {"client_id": "file-id", "client_secret": "file-secret", "base_url": "https://gl.file"}
    }
    app = create_app(config_factory(oauth=oauth, server={"external_url": "https://rivetr.example.com"}))
    async with app.test_app():
        yield ApiClient(app)


async def test_database_settings_connect_an_account(api: ApiClient, fake_git_host: FakeGitHost) -> None:
    status, before = await api.get("/api/git-providers/github/settings")
    assert status == 200 and before["configured"] is False and before["oauth_supported"] is True
    assert before["callback_url"] == "https://rivetr.example.com/oauth/github/callback"
    status, body = await api.post("/api/oauth/github/authorize", json={})
    assert status == 404 and body["error"]["code"] == "oauth_not_configured"

    status, saved = await api.put(
        "/api/git-providers/github/settings",
        json={
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "base_url": f"{fake_git_host.url}/github/",
            "redirect_uri": CALLBACK,
        },
    )
    assert status == 200, saved
    assert saved["configured"] and saved["client_secret_set"] and "client_secret" not in saved
    assert saved["base_url"] == f"{fake_git_host.url}/github" and saved["callback_url"] == CALLBACK
    assert set(saved["sources"].values()) == {"database"} and saved["stored"]
    assert CLIENT_SECRET.encode() not in _db_bytes(api), "client secret stored in plaintext"
    status, available = await api.get("/api/git-providers/available")
    github = next(p for p in available["items"] if p["provider"] == "github")
    assert github["oauth_configured"] and github["connect_url"] == "/oauth/github/start"

    # The whole connect flow with settings that exist only in the database.
    status, body = await api.post("/api/oauth/github/authorize", json={})
    assert status == 200, body
    assert parse_qs(urlsplit(body["authorize_url"]).query)["redirect_uri"] == [CALLBACK]
    async with httpx.AsyncClient() as client:
        consent = await client.get(body["authorize_url"])
    assert consent.status_code == 302, consent.text
    back = urlsplit(consent.headers["location"])
    status, account = await api.get(
        f"/oauth/github/callback?{back.query}", auth=False, headers={"Accept": "application/json"}
    )
    assert status == 200 and account["account"]["login"] == "octocat", account
    assert fake_git_host.pkce_verified == 1


async def test_database_overrides_the_config_file_field_by_field(api: ApiClient) -> None:
    status, file_only = await api.get("/api/git-providers/gitlab/settings")
    assert file_only["client_id"] == "file-id" and file_only["base_url"] == "https://gl.file"
    assert file_only["sources"] == {"client_id": "config", "client_secret": "config", "base_url": "config"}
    assert file_only["stored"] is False

    status, saved = await api.put(
        "/api/git-providers/gitlab/settings", json={"base_url": "https://gitlab.internal.example"}
    )
    assert status == 200, saved
    assert saved["base_url"] == "https://gitlab.internal.example" and saved["client_id"] == "file-id"
    assert saved["sources"]["base_url"] == "database" and saved["sources"]["client_id"] == "config"
    accounts = api.ctx.services.git_accounts
    assert accounts.oauth_config("gitlab").base_url == "https://gitlab.internal.example"
    assert accounts.oauth_config("gitlab").client_secret.get_secret_value() == "file-secret"

    # An empty value drops one override; DELETE drops them all.
    status, saved = await api.put(
        "/api/git-providers/gitlab/settings", json={"client_id": "db-id", "base_url": ""}
    )
    assert saved["client_id"] == "db-id" and saved["base_url"] == "https://gl.file"
    status, _ = await api.delete("/api/git-providers/gitlab/settings")
    assert status == 204
    status, back = await api.get("/api/git-providers/gitlab/settings")
    assert back == {**file_only, "updated_at": None}


async def test_bad_input_is_refused_and_changes_nothing(api: ApiClient) -> None:
    status, body = await api.put("/api/git-providers/github/settings", json={"client_id": "only-id"})
    assert status == 422 and body["error"]["details"][0]["field"] == "client_secret", body
    status, body = await api.put(
        "/api/git-providers/github/settings",
        json={"client_id": "x", "client_secret": "y", "base_url": "javascript:alert(1)"},
    )
    assert status == 422 and body["error"]["details"][0]["field"] == "base_url", body
    status, body = await api.put("/api/git-providers/github/settings", json={"client_id": "x", "nope": 1})
    assert status == 422, body
    status, body = await api.get("/api/git-providers/github/settings")
    assert body["stored"] is False and body["configured"] is False
    status, body = await api.get("/api/git-providers/nosuch/settings")
    assert status == 404 and body["error"]["code"] == "not_found"


async def test_only_the_server_changes_provider_settings(api: ApiClient) -> None:
    team = await make_team(api, "devs")
    someone = await member(api, team, "team-admin", "admin")
    status, body = await someone.put(
        "/api/git-providers/github/settings", json={"client_id": "a", "client_secret": "b"}
    )
    assert status == 403 and body["error"]["details"] == {"permission": "server"}, body
    status, body = await someone.get("/api/git-providers/github/settings")
    assert status == 200 and body["stored"] is False


# ------------------------------------------------------------------------------------------ the CLI
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from module_server(
        tmp_path_factory, "cli-git-providers", {"RIVETR_SERVER__EXTERNAL_URL": "https://hooks.example.com"}
    )


def run(args: list[str], env: dict[str, str], input: str | None = None) -> Any:
    return CliRunner().invoke(cli, args, env=env, input=input, catch_exceptions=False)


def test_cli_configure_show_reset(server: ServerProcess, tmp_path: Path) -> None:
    env = cli_env(server, tmp_path)
    configured = run(
        [
            "git-providers",
            "configure",
            "gitlab",
            "--client-id",
            "cli-id",
            "--client-secret-stdin",
            "--base-url",
            "https://gitlab.example.org",
        ],
        env,
        input="cli-secret-value\n",
    )
    assert configured.exit_code == 0, configured.output
    assert "cli-secret-value" not in configured.output
    assert "cli-id" in configured.output and "stored on the server" in configured.output
    assert "https://hooks.example.com/oauth/gitlab/callback" in configured.output
    shown = run(["git-providers", "show", "gitlab", "--json"], env)
    settings = json.loads(shown.stdout)
    assert settings["client_id"] == "cli-id" and settings["base_url"] == "https://gitlab.example.org"
    assert settings["client_secret_set"] and "cli-secret-value" not in shown.output
    listed = run(["git-providers", "list"], env)
    assert listed.exit_code == 0 and "https://hooks.example.com/webhooks/gitlab" in listed.output, (
        listed.output
    )
    reset = run(["git-providers", "reset", "gitlab"], env)
    assert reset.exit_code == 0, reset.output
    assert json.loads(run(["git-providers", "show", "gitlab", "--json"], env).stdout)["configured"] is False


def test_cli_auto_deploy(server: ServerProcess, tmp_path: Path) -> None:
    env = cli_env(server, tmp_path)
    created = server.client().post(
        "/api/apps", json={"name": "cli-hooked", "git_url": "https://gitlab.com/acme/site.git", "port": 8000}
    )
    assert created.status_code == 201, created.text
    shown = run(["auto-deploy", "show", "cli-hooked"], env)
    assert shown.exit_code == 0, shown.output
    assert "https://hooks.example.com/webhooks/gitlab  <- this repository" in shown.output
    assert "auto-deploy   on (branch main)" in shown.output
    changed = run(["auto-deploy", "set", "cli-hooked", "--off", "--branch", "release", "--no-previews"], env)
    assert changed.exit_code == 0, changed.output
    assert "auto-deploy   off (branch release)" in changed.output and "previews      off" in changed.output
    secret = run(["auto-deploy", "regenerate-secret", "cli-hooked", "--yes"], env)
    assert secret.exit_code == 0 and len(secret.output.strip()) >= 32, secret.output
    app_id = created.json()["id"]
    revealed = server.client().get(f"/api/apps/{app_id}/git-settings/webhook-secret").json()
    assert revealed["value"] == secret.output.strip()
