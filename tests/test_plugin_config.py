"""Plugins own their config (``[plugins.<name>]`` validated by the plugin's model, env overrides, each plugin sees
only its own section, the old core keys still work with a warning) and the failure policy (a broken plugin
leaves a real ``rivetr serve`` up and visible as failed, ``[plugins] disable``, a broken plugin that may provide
the selected runtime stops start-up)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from rivetr_core import hookimpl
from rivetr_core.app import create_app
from rivetr_core.config import ConfigError, load_config
from rivetr_core.contract import NotifierRegistration, PluginContext
from rivetr_core.plugins import PluginError, RivetrPluginManager
from tests.support.server import AUTH, ServerProcess, make_config, start_server

# Its server never deploys: it runs beside the engine tests (tests/support/workers.py).
pytestmark = pytest.mark.engine_free

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rivetr_core.cli.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
        timeout=60,
    )


def install_dist(site: Path, dist: str, entry_point: str, module: str, source: str) -> None:
    """A tiny installed distribution: ``<module>.py`` and a dist-info with a ``rivetr`` entry point, in ``site``
    (on sys.path or PYTHONPATH it is found by importlib.metadata exactly like a pip-installed plugin)."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(source)
    info = site / f"{dist.replace('-', '_')}-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text(f"[rivetr]\n{entry_point} = {module}\n")


BROKEN_IMPORT = "raise ImportError(\"No module named 'acme_sdk' (pip install acme-sdk)\")\n"
BAD_HOOK = """from rivetr_core import hookimpl


@hookimpl
def rivetr_on_app_created(app_id, name, colour):
    pass
"""


# --------------------------------------------------------------------------------------- config ownership
def test_unknown_key_in_a_plugin_section_is_a_config_error_naming_it() -> None:
    pm = RivetrPluginManager()
    config = load_config(
        plugins={"runtime-docker": {"sokcet": "unix:///x.sock"}, "proxy-builtin": {"workers": 0}}
    )
    with pytest.raises(ConfigError) as info:
        pm.configure(config)
    assert "plugins.runtime-docker.sokcet: unknown key" in info.value.problems
    assert any(
        p.startswith("plugins.proxy-builtin.workers: Input should be greater") for p in info.value.problems
    )


def test_config_check_lists_plugin_problems_with_core_ones(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[server]\napi_port = "x"\n[plugins.runtime-podman]\nautostrat = true\n')
    result = cli("config", "check", "--config", str(bad))
    assert result.returncode == 1
    assert "server.api_port" in result.stderr
    assert "plugins.runtime-podman.autostrat: unknown key" in result.stderr
    good = tmp_path / "good.toml"
    good.write_text(
        '[plugins.runtime-podman]\nautostart = false\n[plugins.proxy-builtin]\nmax_body_size = "5m"\n'
    )
    assert cli("config", "check", "--config", str(good)).returncode == 0


def test_env_overrides_a_plugin_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Environment variable names cannot hold the dash of runtime-docker: it is written as an underscore.
    monkeypatch.setenv("RIVETR_PLUGINS__RUNTIME_DOCKER__SOCKET", "unix:///run/elsewhere/docker.sock")
    monkeypatch.setenv("RIVETR_PLUGINS__PROXY_BUILTIN__WORKERS", "3")
    config = make_config(tmp_path, plugins={"proxy-builtin": {"workers": 2, "max_body_size": "5m"}})
    app = create_app(config)
    ctx = app.extensions["rivetr_ctx"]
    runtime = ctx.plugins.container_runtimes()["docker"].factory(ctx.plugin_context())
    assert runtime.base_url == "unix:///run/elsewhere/docker.sock"
    proxy = ctx.plugins.proxy_backends()["builtin"].factory(ctx.plugin_context())
    assert (proxy.settings.workers, proxy.settings.max_body_size) == (
        3,
        5 * 1024**2,
    )  # env wins over the file
    monkeypatch.setenv("RIVETR_PLUGINS__PROXY_BUILTIN__WORKERS", "many")
    with pytest.raises(
        ConfigError, match=r"plugins\.proxy-builtin\.workers: Input should be a valid integer"
    ):
        create_app(make_config(tmp_path))


class AcmeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(description="Where to send.")
    retries: int = Field(2, ge=0, description="Attempts.")


class OtherSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: SecretStr


def _plugins(seen: dict[str, PluginContext]) -> list[Any]:
    from rivetr_core.contract import ConfigModelRegistration

    class Acme:
        __rivetr_name__ = "acme-notifier"

        @staticmethod
        @hookimpl
        def rivetr_notifiers():  # type: ignore[no-untyped-def]
            return [NotifierRegistration(name="acme", factory=lambda ctx: seen.setdefault("acme", ctx))]

        @staticmethod
        @hookimpl
        def rivetr_config_models():  # type: ignore[no-untyped-def]
            return [ConfigModelRegistration(name="acme-notifier", model=AcmeSettings)]

    class Other:
        __rivetr_name__ = "other"

        @staticmethod
        @hookimpl
        def rivetr_notifiers():  # type: ignore[no-untyped-def]
            return [NotifierRegistration(name="other", factory=lambda ctx: seen.setdefault("other", ctx))]

        @staticmethod
        @hookimpl
        def rivetr_config_models():  # type: ignore[no-untyped-def]
            return [ConfigModelRegistration(name="other", model=OtherSettings)]

    return [Acme, Other]


def test_each_plugin_receives_only_its_own_validated_section(tmp_path: Path) -> None:
    seen: dict[str, PluginContext] = {}
    config = make_config(
        tmp_path,
        plugins={"acme-notifier": {"url": "https://hooks.example/x"}, "other": {"token": "0ther-s3cret"}},
    )
    app = create_app(config, plugins=_plugins(seen), load_entrypoints=False)
    ctx = app.extensions["rivetr_ctx"]
    ctx.plugins.notifiers()["acme"].factory(ctx.plugin_context())
    acme = seen["acme"]
    assert isinstance(acme.settings, AcmeSettings)
    assert (acme.settings.url, acme.settings.retries) == ("https://hooks.example/x", 2)  # default filled in
    assert acme.config.plugins.sections() == {"acme-notifier": {"url": "https://hooks.example/x"}}
    assert "0ther-s3cret" not in json.dumps(acme.config.plugins.model_dump()) + repr(acme.plugin_settings)
    assert "0ther-s3cret" not in repr(config)  # the tables may hold secrets: reprs (and logs) never show them
    ctx.plugins.notifiers()["other"].factory(ctx.plugin_context())
    assert seen["other"].settings.token.get_secret_value() == "0ther-s3cret"
    assert "acme-notifier" not in seen["other"].config.plugins.sections()

    bad = make_config(tmp_path, plugins={"acme-notifier": {"url": "u", "retries": -1, "colour": "red"}})
    with pytest.raises(ConfigError) as info:
        create_app(bad, plugins=_plugins({}), load_entrypoints=False)
    assert "plugins.acme-notifier.colour: unknown key" in info.value.problems
    assert any(p.startswith("plugins.acme-notifier.retries:") for p in info.value.problems)
    with pytest.raises(ConfigError, match=r"plugins\.other\.token: required key is missing"):
        create_app(make_config(tmp_path), plugins=_plugins({}), load_entrypoints=False)


def test_deprecated_core_keys_still_work_and_warn(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        runtime={
            "docker_socket": "unix:///run/old/docker.sock",
            "podman_socket": "unix:///run/old/podman.sock",
        },
        webhooks={"github_secret": "gh-old-secret", "gitlab_token": "gl-old-token"},
        proxy={"workers": 2, "health_path": "/healthz"},
        plugins={"git-gitlab": {"webhook_token": "gl-new-token"}},  # the new key wins over the old one
    )
    warnings = "\n".join(config.deprecations())
    for old, new in [
        ("[runtime] docker_socket", "[plugins.runtime-docker] socket"),
        ("[runtime] podman_socket", "[plugins.runtime-podman] socket"),
        ("[webhooks] github_secret", "[plugins.git-github] github_webhook_secret"),
        ("[proxy] workers", "[plugins.proxy-builtin] workers"),
    ]:
        assert f"{old} is deprecated" in warnings and new in warnings
    assert "gh-old-secret" not in warnings
    app = create_app(config)
    ctx = app.extensions["rivetr_ctx"]
    plugin_ctx = ctx.plugin_context()
    assert (
        ctx.plugins.container_runtimes()["docker"].factory(plugin_ctx).base_url
        == "unix:///run/old/docker.sock"
    )
    assert (
        ctx.plugins.container_runtimes()["podman"].factory(plugin_ctx).base_url
        == "unix:///run/old/podman.sock"
    )
    proxy = ctx.plugins.proxy_backends()["builtin"].factory(plugin_ctx)
    assert (proxy.settings.workers, proxy.settings.health_path) == (2, "/healthz")
    from rivetr_core.webhooks.service import WebhookService

    hooks = WebhookService(ctx)
    assert hooks.configured_secret("github") == "gh-old-secret"
    assert hooks.configured_secret("gitlab") == "gl-new-token"
    assert hooks.configured_secret("bitbucket") is None


def test_deprecated_env_key_warns_in_config_check() -> None:
    result = cli("config", "check", env={"RIVETR_RUNTIME__DOCKER_SOCKET": "unix:///run/old/docker.sock"})
    assert result.returncode == 0, result.stderr
    assert "warning: [runtime] docker_socket is deprecated" in result.stderr
    assert "RIVETR_PLUGINS__RUNTIME_DOCKER__SOCKET" in result.stderr


# --------------------------------------------------------------------------------------------- failures
def test_disable_turns_a_plugin_off_without_uninstalling_it(tmp_path: Path) -> None:
    app = create_app(make_config(tmp_path, plugins={"disable": ["git-gitlab", "runtime-podman"]}))
    pm = app.extensions["rivetr"]
    assert "gitlab" not in pm.git_providers() and "podman" not in pm.container_runtimes()
    assert "github" in pm.git_providers()
    states = {i.name: i.status for i in pm.plugin_infos()}
    assert states["git-gitlab"] == states["runtime-podman"] == "disabled"
    # A disabled plugin's section is not validated (it is not loaded).
    create_app(make_config(tmp_path, plugins={"disable": ["git-gitlab"], "git-gitlab": {"old": 1}}))


def test_broken_entry_points_are_failed_not_fatal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    install_dist(site, "rivetr-acme", "acme-notifier", "rivetr_acme_broken", BROKEN_IMPORT)
    install_dist(site, "rivetr-badhook", "bad-hook", "rivetr_badhook", BAD_HOOK)
    monkeypatch.syspath_prepend(str(site))
    pm = RivetrPluginManager()
    infos = {i.name: i for i in pm.plugin_infos()}
    acme, bad = infos["acme-notifier"], infos["bad-hook"]
    assert (acme.status, acme.distribution, acme.version) == ("failed", "rivetr-acme", "0.3")
    assert "failed to import rivetr_acme_broken: ImportError: No module named 'acme_sdk'" in (
        acme.error or ""
    )
    assert bad.status == "failed" and (bad.error or "").startswith("failed to register:")
    assert "colour" in (bad.error or "") and "\n" not in (bad.error or "")  # one line, like the others
    assert infos["runtime-docker"].status == "ok" and "docker" in pm.container_runtimes()


@pytest.fixture
def broken_site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    install_dist(site, "rivetr-acme", "acme-notifier", "rivetr_acme_broken", BROKEN_IMPORT)
    install_dist(site, "rivetr-badhook", "bad-hook", "rivetr_badhook", BAD_HOOK)
    return site


def _pythonpath(site: Path) -> dict[str, str]:
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}


def test_broken_plugin_leaves_a_real_server_up_and_visible(tmp_path: Path, broken_site: Path) -> None:
    # An old key set too: start-up warns about it (without its value) and still uses it.
    old_key = {"RIVETR_WEBHOOKS__GITHUB_SECRET": "0ld-gh-s3cret"}
    server: ServerProcess = start_server(tmp_path / "data", {**_pythonpath(broken_site), **old_key})
    try:
        with server.client() as client:
            plugins = {p["name"]: p for p in client.get("/api/plugins").json()["items"]}
            assert plugins["acme-notifier"]["status"] == "failed"
            assert "No module named 'acme_sdk'" in plugins["acme-notifier"]["error"]
            assert (
                plugins["bad-hook"]["status"] == "failed" and "Traceback" not in plugins["bad-hook"]["error"]
            )
            assert plugins["runtime-docker"]["status"] == "ok"
            assert plugins["runtime-docker"]["provides"]["runtime"] == ["docker"]
            details = client.get("/health").json()["details"]
            assert details["plugins"]["acme-notifier"]["status"] == "failed"
            assert "acme_sdk" in details["plugins"]["acme-notifier"]["error"]
            assert details["plugins"]["runtime-docker"] == {"status": "ok"}
            providers = {p["provider"]: p for p in client.get("/api/git-providers/available").json()["items"]}
            assert providers["github"]["webhook_secret_configured"] is True
            assert providers["github"]["webhook_secret_key"] == "[plugins.git-github] github_webhook_secret"
        assert "details" not in httpx.get(server.url + "/health").json()  # strangers: no details
        status = cli(
            "status",
            env={"RIVETR_URL": server.url, "RIVETR_TOKEN": server.token, "RIVETR_LOGIN_FILE": "/nonexistent"},
        )
        assert "plugin acme-notifier: failed to import" in status.stdout, status.stdout + status.stderr
        log = server.log()
        assert log.count("No module named 'acme_sdk'") == 1, log  # logged once
        assert "[webhooks] github_secret is deprecated" in log and "0ld-gh-s3cret" not in log
    finally:
        server.stop()

    listed = cli("plugins", "list", env=_pythonpath(broken_site))
    assert listed.returncode == 1
    row = next(line for line in listed.stdout.splitlines() if line.startswith("acme-notifier "))
    assert row.split()[1:4] == ["0.3", "rivetr-acme", "failed"]
    assert "error: plugin acme-notifier (rivetr-acme) failed to import" in listed.stderr
    as_json = cli("plugins", "list", "--json", env=_pythonpath(broken_site))
    assert as_json.returncode == 1
    assert {p["name"]: p["status"] for p in json.loads(as_json.stdout)}["bad-hook"] == "failed"
    disabled = cli(
        "plugins",
        "list",
        env={**_pythonpath(broken_site), "RIVETR_PLUGINS__DISABLE": '["acme-notifier", "bad-hook"]'},
    )
    assert disabled.returncode == 0, disabled.stderr
    assert "acme-notifier" in disabled.stdout and "disabled" in disabled.stdout


def test_broken_plugin_that_may_provide_the_selected_runtime_stops_start_up(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_dist(site, "rivetr-runtime-rkt", "runtime-rkt", "rivetr_runtime_rkt", BROKEN_IMPORT)
    env = {
        **os.environ,
        **_pythonpath(site),
        "RIVETR_SERVER__DATA_DIR": str(tmp_path / "data"),
        "RIVETR_SERVER__API_PORT": "0",
        "RIVETR_SERVER__API_HOST": "127.0.0.1",
        "RIVETR_PROXY__ENABLED": "false",
        "RIVETR_RUNTIME__RUNTIME_TYPE": "rkt",
    }
    result = subprocess.run(
        [sys.executable, "-m", "rivetr_core.cli.main", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "[runtime] runtime_type = 'rkt': no installed plugin provides it" in result.stderr
    assert "runtime-rkt (rivetr-runtime-rkt): failed to import" in result.stderr
    assert "Traceback" not in result.stderr


def test_plugin_failing_in_its_runtime_hook_stops_start_up_when_nothing_else_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    source = (
        "from rivetr_core import hookimpl\n\n\n@hookimpl\ndef rivetr_container_runtimes():\n"
        "    raise RuntimeError('cannot find libkrun')\n"
    )
    install_dist(site, "rivetr-runtime-krun", "runtime-krun", "rivetr_runtime_krun", source)
    monkeypatch.syspath_prepend(str(site))
    config = make_config(tmp_path, plugins={"disable": ["runtime-docker", "runtime-podman", "runtime-swarm"]})
    with pytest.raises(PluginError, match=r"runtime_type = 'auto'.*\n.*runtime-krun .*cannot find libkrun"):
        create_app(config)
    # With an engine left to select, the same failure is only listed.
    app = create_app(make_config(tmp_path, plugins={"disable": ["runtime-podman"]}))
    failed = {i.name: i.error for i in app.extensions["rivetr"].failed()}
    assert (
        "cannot find libkrun" in failed["runtime-krun"]
        and "rivetr_container_runtimes" in failed["runtime-krun"]
    )


async def test_api_plugins_lists_state_and_names(tmp_path: Path) -> None:
    app = create_app(make_config(tmp_path, plugins={"disable": ["git-gitlab"]}))
    async with app.test_app():
        response = await app.test_client().get("/api/plugins", headers=AUTH)
        body = {p["name"]: p for p in (await response.get_json())["items"]}
    assert body["git-github"]["provides"]["git_provider"] == ["gitea", "github"]
    assert body["git-github"]["provides"]["config"] == ["plugins.git-github"]
    assert body["git-gitlab"]["status"] == "disabled" and body["git-gitlab"]["error"] is None
