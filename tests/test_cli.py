"""The ``rivetr`` client commands against a real ``rivetr serve`` process.

Every command runs through click's runner in-process (fast) except where the exit status of a real process
matters; the server is always a real subprocess on a loopback port.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from rivetr_core.cli.main import cli
from tests.support.cli import cli_env, module_server
from tests.support.proxy import free_port
from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from module_server(tmp_path_factory, "cli")


@pytest.fixture
def env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return cli_env(server, tmp_path)


def run(args: list[str], env: dict[str, str], input: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, args, env=env, input=input, catch_exceptions=False)


def create_app(server: ServerProcess, name: str, **extra: object) -> dict:
    with server.client() as client:
        response = client.post(
            "/api/apps", json={"name": name, "git_url": "git://127.0.0.1:9/x.git", "port": 8000, **extra}
        )
        assert response.status_code == 201, response.text
        return response.json()


# ------------------------------------------------------------------------------------------ login / errors
def test_login_writes_a_private_file_used_by_later_commands(server: ServerProcess, tmp_path: Path) -> None:
    login_path = tmp_path / "conf" / "login.json"
    env = {"RIVETR_LOGIN_FILE": str(login_path)}
    result = run(["login", "--url", server.url], {**env, "RIVETR_TOKEN": server.token})
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(login_path.stat().st_mode) == 0o600
    assert json.loads(login_path.read_text()) == {"url": server.url, "token": server.token}
    result = run(["apps", "list", "--json"], env)  # no --url/--token: taken from the login file
    assert result.exit_code == 0, result.output
    assert isinstance(json.loads(result.stdout), list)


def test_login_prompts_for_a_hidden_token(server: ServerProcess, tmp_path: Path) -> None:
    env = {"RIVETR_LOGIN_FILE": str(tmp_path / "l.json")}
    result = run(["login", "--url", server.url], env, input=server.token + "\n")
    assert result.exit_code == 0, result.output
    assert server.token not in result.output


def test_bad_token_is_a_clear_error(server: ServerProcess, env: dict[str, str]) -> None:
    result = run(["apps", "list"], {**env, "RIVETR_TOKEN": "wrong"})
    assert result.exit_code == 2
    assert "token was refused" in result.stderr and "rivetr login" in result.stderr
    result = run(["login", "--url", server.url], {**env, "RIVETR_TOKEN": "wrong"})
    assert result.exit_code == 2 and not Path(env["RIVETR_LOGIN_FILE"]).exists()


def test_unreachable_server_is_a_clear_error(env: dict[str, str]) -> None:
    result = run(["status"], {**env, "RIVETR_URL": f"http://127.0.0.1:{free_port()}"})
    assert result.exit_code == 2
    assert "cannot reach the Rivetr server" in result.stderr and "connection refused" in result.stderr


def test_unknown_app_is_a_clear_error(server: ServerProcess, env: dict[str, str]) -> None:
    create_app(server, "known-app")
    for args in (["apps", "show", "nope"], ["deploy", "nope"], ["env", "list", "nope"], ["logs", "nope"]):
        result = run(args, env)
        assert result.exit_code == 2, (args, result.output)
        assert "unknown app 'nope'" in result.stderr and "known-app" in result.stderr


# ----------------------------------------------------------------------------------------------- reads
def test_status_table_and_json(server: ServerProcess, env: dict[str, str]) -> None:
    result = run(["status"], env)
    assert result.exit_code == 0, result.output
    assert server.url in result.stdout and "database:" in result.stdout
    result = run(["status", "--json"], env)
    data = json.loads(result.stdout)
    assert data["url"] == server.url and data["health"]["database"] == "ok"


def test_apps_list_and_show(server: ServerProcess, env: dict[str, str]) -> None:
    app = create_app(server, "shown-app", domains=["shown.example.com"])
    result = run(["apps", "list"], env)
    assert result.exit_code == 0, result.output
    header, *lines = result.stdout.splitlines()
    assert header.split()[:3] == ["NAME", "STATUS", "DOMAINS"]
    assert any(line.split()[:3] == ["shown-app", "created", "shown.example.com"] for line in lines)
    listed = json.loads(run(["apps", "list", "--json"], env).stdout)
    assert app["id"] in {a["id"] for a in listed}
    by_name = json.loads(run(["apps", "show", "shown-app", "--json"], env).stdout)
    by_id = json.loads(run(["apps", "show", app["id"], "--json"], env).stdout)
    assert by_name["id"] == by_id["id"] == app["id"] and by_name["deployments"] == []
    assert by_name["resources"] is None  # nothing running, nothing sampled
    result = run(["apps", "show", "shown-app"], env)
    assert "shown.example.com" in result.stdout and app["id"] in result.stdout


def test_env_set_list_unset(server: ServerProcess, env: dict[str, str]) -> None:
    create_app(server, "env-app")
    assert run(["env", "set", "env-app", "A=1", "B=x=y"], env).exit_code == 0
    # Secret values come from stdin (or a prompt), one line per key given alone: never from argv.
    result = run(["env", "set", "env-app", "--secret", "TOKEN", "A"], env, input="s3cret\n2\n")
    assert result.exit_code == 0, result.output
    assert "updated A" in result.stdout and "set TOKEN" in result.stdout
    rows = {r["key"]: r for r in json.loads(run(["env", "list", "env-app", "--json"], env).stdout)}
    assert rows["B"]["value"] == "x=y" and rows["TOKEN"]["value"] != "s3cret" and rows["TOKEN"]["is_secret"]
    assert rows["A"]["is_secret"]  # --secret applied to every pair of that call
    revealed = {
        r["key"]: r["value"]
        for r in json.loads(run(["env", "list", "env-app", "--json", "--reveal"], env).stdout)
    }
    assert revealed == {"A": "2", "B": "x=y", "TOKEN": "s3cret"}
    assert "s3cret" not in run(["env", "list", "env-app"], env).stdout
    assert run(["env", "unset", "env-app", "A", "TOKEN"], env).exit_code == 0
    assert [r["key"] for r in json.loads(run(["env", "list", "env-app", "--json"], env).stdout)] == ["B"]
    result = run(["env", "set", "env-app", "NOEQUALS"], env)  # a key alone, and nothing on stdin
    assert result.exit_code == 2 and "no value for NOEQUALS" in result.stderr
    result = run(["env", "set", "env-app", "PORT=1"], env)  # reserved by Rivetr: the server's 422 is shown
    assert result.exit_code == 2 and "key" in result.stderr


def test_logs_of_an_app_without_container(server: ServerProcess, env: dict[str, str]) -> None:
    create_app(server, "idle-app")
    result = run(["logs", "idle-app"], env)
    assert result.exit_code == 2 and "no running container" in result.stderr


# --------------------------------------------------------------------------------------- real processes
def test_deploy_follow_exit_code_and_json_from_a_real_process(
    server: ServerProcess, env: dict[str, str]
) -> None:
    """A deployment that cannot succeed (its git URL points nowhere) → exit 1 with the reason; --json output
    is one JSON object per line ending with the result."""
    create_app(server, "doomed-app")
    proc = subprocess.run(
        [sys.executable, "-m", "rivetr_core.cli.main", "deploy", "doomed-app", "--follow", "--json"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert events[0]["type"] == "status" and events[-1]["type"] == "result"
    assert events[-1]["deployment"]["status"] == "failed" and events[-1]["deployment"]["error"]
    statuses = [e["status"] for e in events if e["type"] == "status"]
    assert statuses[-1] == "failed"
    proc = subprocess.run(
        [sys.executable, "-m", "rivetr_core.cli.main", "deploy", "doomed-app", "--follow"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "==> failed" in proc.stdout and "failed:" in proc.stderr


RIVETR = str(Path(sys.executable).parent / "rivetr")  # the console script: completion keys on its name


def test_shell_completion_script(env: dict[str, str]) -> None:
    proc = subprocess.run(
        [RIVETR],
        env={**os.environ, **env, "_RIVETR_COMPLETE": "bash_source"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "_RIVETR_COMPLETE=bash_complete" in proc.stdout


def test_app_name_completion(server: ServerProcess, env: dict[str, str]) -> None:
    create_app(server, "complete-me")
    proc = subprocess.run(
        [RIVETR],
        env={
            **os.environ,
            **env,
            "_RIVETR_COMPLETE": "bash_complete",
            "COMP_WORDS": "rivetr deploy compl",
            "COMP_CWORD": "2",
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "complete-me" in proc.stdout


def test_server_is_still_healthy(server: ServerProcess) -> None:
    assert httpx.get(server.url + "/health", timeout=5).json()["database"] == "ok"


def test_login_with_a_dashboard_user_creates_a_cli_token(server: ServerProcess, tmp_path: Path) -> None:
    with server.client() as client:
        assert client.get("/api/auth/status").json()["setup_required"]  # only this test creates users
        response = client.post("/api/auth/setup", json={"username": "carol", "password": "a-long-password-1"})
        assert response.status_code == 201
    env = {"RIVETR_LOGIN_FILE": str(tmp_path / "login.json")}
    result = run(["login", "--url", server.url, "-u", "carol"], env, input="wrong-password-00\n")
    assert result.exit_code == 2 and "login refused for 'carol'" in result.stderr
    result = run(["login", "--url", server.url, "-u", "carol"], env, input="a-long-password-1\n")
    assert result.exit_code == 0, result.output
    assert "a-long-password-1" not in result.output and "as carol" in result.stdout
    saved = json.loads((tmp_path / "login.json").read_text())
    assert saved["token"] and saved["token"] != server.token
    create_app(server, "carol-app")
    assert run(["env", "set", "carol-app", "X=1"], env).exit_code == 0  # with the saved token only
    with server.client() as client:
        entries = client.get("/api/audit", params={"action": "env_vars_api"}).json()["items"]
        tokens = client.get("/api/tokens", params={"all": "true"}).json()["items"]  # carol's too
    assert entries[0]["actor"].startswith("token:carol/rivetr-cli@")
    assert any(t["name"].startswith("rivetr-cli@") for t in tokens)


def test_status_reports_failing_notification_channels(server: ServerProcess, env: dict[str, str]) -> None:
    with server.client() as client:
        channel = client.post(
            "/api/notification-channels",
            json={"name": f"dead-{free_port()}", "url": f"json://127.0.0.1:{free_port()}/x"},
        ).json()
        assert client.post(f"/api/notification-channels/{channel['id']}/test").status_code == 502
    result = run(["status"], env)
    assert "failing" in result.stdout and channel["name"] in result.stdout
    data = json.loads(run(["status", "--json"], env).stdout)
    assert {c["name"]: c["failures"] for c in data["notification_channels"]}[channel["name"]] == 1


def test_progress_line_marks_done_current_and_failed_steps() -> None:
    import click

    from rivetr_core.cli.follow import progress_line

    building = progress_line("building", {"clone": {"duration_ms": 412.0}, "build": {"started_at": "…"}})
    assert click.unstyle(building) == "clone ✓ 0.4s · build ● · start · health · switch"
    failed = progress_line("failed", {"clone": {"duration_ms": 412.0}, "build": {"duration_ms": 900.0}})
    assert click.unstyle(failed) == "clone ✓ 0.4s · build ✗ 0.9s · start · health · switch"


def test_terminal_rendering_shows_the_step_line(
    server: ServerProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    from rivetr_core.cli.client import RivetrClient
    from rivetr_core.cli.follow import follow

    app = create_app(server, "tty-app")
    with RivetrClient(server.url, server.token) as client:
        dep = client.post(f"/api/apps/{app['id']}/deploy", {})
        final = follow(client, dep, tty=True)
    out, err = capsys.readouterr()
    assert final["status"] == "failed"
    assert "==> failed" in out and "clone" in out and "· build ·" in out  # the step line, TTY only
    assert f"deployment {dep['id']} failed:" in err


def test_follow_shows_every_step_that_ran_even_between_two_polls(capsys: pytest.CaptureFixture[str]) -> None:
    """A redeploy can pass clone..switch within one status poll: the headers come from the recorded steps."""
    from rivetr_core.cli.follow import follow

    step = {"started_at": "2026-11-27T10:00:00Z", "finished_at": "2026-11-27T10:00:00Z", "duration_ms": 90}
    states = iter(
        [
            {"id": "d1", "status": "queued", "steps": {}},
            {"id": "d1", "status": "running", "steps": dict.fromkeys(("clone", "build", "start"), step)},
        ]
    )

    class Client:
        token = "t"

        def ws_url(self, path: str) -> str:
            return f"ws://127.0.0.1:{free_port()}{path}"  # nothing listens: logs are polled instead

        def get(self, path: str) -> object:
            return (
                [] if path.endswith("/logs") else next(states, {"id": "d1", "status": "running", "steps": {}})
            )

    assert follow(Client(), {"id": "d1"}, tty=False)["status"] == "running"  # type: ignore[arg-type]
    headers = [line.split()[1] for line in capsys.readouterr().out.splitlines() if line.startswith("==>")]
    assert headers == ["queued", "cloning", "building", "starting", "running"]


def test_apps_create_and_delete(server: ServerProcess, env: dict[str, str]) -> None:
    bad = run(["apps", "create", "cli-made", "--git", "ftp://example.test/x.git"], env)
    assert bad.exit_code != 0 and "git_url" in bad.stderr + bad.stdout
    made = run(
        [
            "apps",
            "create",
            "cli-made",
            "--git",
            "https://git.example.test/acme/cli-made.git",
            "--port",
            "3000",
            "--domain",
            "cli-made.example.test",
            "--git-token-stdin",
            "--git-token-user",
            "oauth2",
            "--json",
        ],
        env,
        input="glpat-from-stdin\n",
    )
    assert made.exit_code == 0, made.output
    created = json.loads(made.stdout)
    assert "glpat-from-stdin" not in made.stdout
    with server.client() as client:
        app = client.get(f"/api/apps/{created['id']}").json()
    assert (app["port"], app["domains"], app["has_git_token"], app["git_token_user"]) == (
        3000,
        ["cli-made.example.test"],
        True,
        "oauth2",
    )
    kept = run(["apps", "delete", "cli-made"], env, input="n\n")
    assert kept.exit_code == 1 and "Aborted" in kept.output
    assert run(["apps", "show", "cli-made"], env).exit_code == 0
    gone = run(["apps", "delete", "cli-made", "--yes"], env)
    assert gone.exit_code == 0 and "deleted app cli-made" in gone.stdout
    missing = run(["apps", "show", "cli-made"], env)
    assert missing.exit_code != 0 and "unknown app" in missing.stderr
