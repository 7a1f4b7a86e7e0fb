"""``GET /api/proxy/access-log`` and ``rivetr proxy logs`` against the real API and a real proxy process whose
access log real requests filled: the last lines of one domain, the ``next`` cursor giving only newer lines,
field errors, the server permission, a backend without an access log, and the CLI's table, JSON and follow."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from rivetr_core.cli import proxy_logs_cmd
from rivetr_core.cli.main import cli
from tests.support.cli import api_in_thread
from tests.support.proxy import SyncProxy, backend_factory, http_get, wait_until  # noqa: F401
from tests.support.server import ADMIN_TOKEN


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    async def seed(accounts: Any) -> None:
        return None

    with api_in_thread(tmp_path_factory.mktemp("access-log-api") / "data", seed) as (url, app):
        yield url, app


@pytest.fixture
def logged_proxy(served, tmp_path: Path, backend_factory) -> Iterator[SyncProxy]:  # noqa: F811
    b = backend_factory("web")
    p = SyncProxy(tmp_path / "proxy", host="127.0.0.1", port=0, https_port=0, access_log=True)
    p.set_route("web.test", b.address)
    p.set_route("*.apps.test", b.address)
    ctx = served[1].extensions["rivetr_ctx"]
    before, ctx.proxy = ctx.proxy, p.backend
    try:
        yield p
    finally:
        ctx.proxy = before
        p.close()


def get(url: str, path: str, token: str | None = ADMIN_TOKEN, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(url + path, params=params, headers=headers, timeout=30)


def traffic(p: SyncProxy, host: str, *paths: str) -> None:
    for path in paths:
        http_get(p.port, host, path)
    log = p.state_dir / "access-0.log"
    last = paths[-1].partition("?")[0]
    wait_until(lambda: log.exists() and f'"path":"{last}"' in log.read_text())


def test_tail_of_one_domain_then_only_newer_lines(served, logged_proxy) -> None:
    url, p = served[0], logged_proxy
    traffic(p, "web.test", "/one", "/two?token=x")
    traffic(p, "a.apps.test", "/wild")
    traffic(p, "other.test", "/nobody")
    r = get(url, "/api/proxy/access-log", domain="web.test", tail=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["enabled"] is True and body["format"] == "json"
    assert [(e["host"], e["path"], e["status"]) for e in body["items"]] == [
        ("web.test", "/one", 200),
        ("web.test", "/two", 200),
    ]
    wild = get(url, "/api/proxy/access-log", domain="*.apps.test").json()["items"]
    assert [e["path"] for e in wild] == ["/wild"]
    everything = get(url, "/api/proxy/access-log", tail=2).json()["items"]
    assert [e["path"] for e in everything] == ["/wild", "/nobody"]  # the newest two, oldest first
    traffic(p, "web.test", "/three")
    newer = get(url, "/api/proxy/access-log", domain="web.test", after=body["next"]).json()
    assert [e["path"] for e in newer["items"]] == ["/three"]
    again = get(url, "/api/proxy/access-log", domain="web.test", after=newer["next"]).json()
    assert again["items"] == []


def test_bad_input_permission_and_no_backend(served, logged_proxy) -> None:
    url = served[0]
    r = get(url, "/api/proxy/access-log", domain="not a domain")
    assert r.status_code in (400, 422) and r.json()["error"]["details"], r.text
    r = get(url, "/api/proxy/access-log", tail=5000)
    assert r.status_code in (400, 422) and "tail" in r.text
    r = get(url, "/api/proxy/access-log", after="1:2:x")
    assert r.status_code in (400, 422) and "after" in r.text
    assert get(url, "/api/proxy/access-log", token=None).status_code == 401
    ctx = served[1].extensions["rivetr_ctx"]
    before, ctx.proxy = ctx.proxy, object()  # a backend that keeps no access log
    try:
        r = get(url, "/api/proxy/access-log")
    finally:
        ctx.proxy = before
    assert r.status_code == 409 and r.json()["error"]["code"] == "access_log_unavailable"


def run(url: str, tmp_path: Path, *args: str) -> Any:
    env = {"RIVETR_URL": url, "RIVETR_TOKEN": ADMIN_TOKEN, "RIVETR_LOGIN_FILE": str(tmp_path / "login.json")}
    return CliRunner().invoke(cli, ["proxy", "logs", *args], env=env, catch_exceptions=False)


def test_cli_prints_lines_and_follows(served, logged_proxy, tmp_path: Path, monkeypatch) -> None:
    url, p = served[0], logged_proxy
    traffic(p, "web.test", "/first", "/status?code=404")
    shown = run(url, tmp_path, "--domain", "web.test")
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert len(lines) == 2
    assert "GET web.test/first 200" in lines[0] and "(proxy)" not in lines[0]
    assert "web.test/status 404" in lines[1]
    as_json = run(url, tmp_path, "--domain", "web.test", "--tail", "1", "--json")
    assert [json.loads(x)["path"] for x in as_json.output.splitlines()] == ["/status"]

    polls = []

    def pause() -> None:  # each poll of --follow: new traffic, then stop on the second
        polls.append(1)
        if len(polls) == 1:
            traffic(p, "web.test", "/later")
        else:
            raise KeyboardInterrupt

    monkeypatch.setattr(proxy_logs_cmd, "pause", pause)
    followed = CliRunner().invoke(
        proxy_logs_cmd.logs,
        ["--domain", "web.test", "--tail", "0", "--follow"],
        env={"RIVETR_URL": url, "RIVETR_TOKEN": ADMIN_TOKEN, "RIVETR_LOGIN_FILE": str(tmp_path / "l.json")},
    )
    assert [line.split()[3] for line in followed.output.splitlines() if "web.test" in line] == [
        "web.test/later"
    ]
