"""``rivetr previews list|approve|delete`` against a real ``rivetr serve``, driven by a signed fork PR webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import httpx
from click.testing import CliRunner

from rivetr_core.cli.main import cli
from tests.support.server import start_server

FIXTURES = Path(__file__).resolve().parents[1] / "plugins/git-github/tests/fixtures"
SECRET = "cli-preview-secret"


def test_previews_list_approve_delete(tmp_path: Path) -> None:
    server = start_server(
        tmp_path / "data",
        {"RIVETR_WEBHOOKS__GITHUB_SECRET": SECRET, "RIVETR_PROXY__PREVIEW_DOMAIN": "preview.test"},
    )
    try:
        env = {
            "RIVETR_URL": server.url,
            "RIVETR_TOKEN": server.token,
            "RIVETR_LOGIN_FILE": str(tmp_path / "l"),
        }
        with server.client() as client:
            response = client.post(
                "/api/apps",
                json={"name": "site", "git_url": "https://github.com/acme/site.git", "port": 8000},
            )
            assert response.status_code == 201, response.text
        raw = (FIXTURES / "github_pull_request_fork_opened.json").read_bytes()
        signature = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        response = httpx.post(
            f"{server.url}/webhooks/github",
            content=raw,
            headers={
                "X-GitHub-Event": "pull_request",
                "X-GitHub-Delivery": "cli-1",
                "X-Hub-Signature-256": signature,
                "Content-Type": "application/json",
            },
            timeout=30,
        )
        assert response.status_code == 200 and response.json()["status"] == "awaiting_approval", response.text

        runner = CliRunner()
        result = runner.invoke(cli, ["previews", "list", "site"], env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        header, row = result.stdout.splitlines()
        assert header.split()[:4] == ["PR", "STATUS", "FROM", "HEAD"]
        assert row.split()[:4] == ["#8", "awaiting_approval", "fork", "ec26c3e57ca3"]

        result = runner.invoke(cli, ["previews", "approve", "site", "8"], env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "approved ec26c3e57ca3 of site PR #8: deployment " in result.stdout
        listed = json.loads(runner.invoke(cli, ["previews", "list", "site", "--json"], env=env).stdout)
        assert listed[0]["approved_sha"] == "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
        assert listed[0]["status"] != "awaiting_approval" and listed[0]["preview_app_id"]

        result = runner.invoke(cli, ["previews", "approve", "site", "8"], env=env)
        assert result.exit_code == 2 and "not awaiting approval" in result.stderr
        result = runner.invoke(cli, ["previews", "approve", "site", "9"], env=env)
        assert result.exit_code == 2 and "no preview of PR #9" in result.stderr

        result = runner.invoke(cli, ["previews", "delete", "site", "8"], env=env, catch_exceptions=False)
        assert result.exit_code == 0 and "deleted the preview of site PR #8" in result.stdout
        result = runner.invoke(cli, ["previews", "list", "site"], env=env, catch_exceptions=False)
        assert result.stdout.strip() == "site has no previews"
    finally:
        server.stop()
