"""Plugin manager: discovery through entry points, duplicate names, disabled plugins, hook documentation."""

from __future__ import annotations

import importlib.metadata as md
import inspect
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest

from rivetr_core import hookimpl, hookspecs
from rivetr_core.contract import HealthCheckRegistration, NotifierRegistration
from rivetr_core.plugins import PluginError, RivetrPluginManager

ROOT = Path(__file__).resolve().parents[1]


def _in_repo_plugins() -> dict[str, str]:
    """entry-point name → distribution name for every plugins/* directory."""
    found = {}
    for pyproject in sorted(ROOT.glob("plugins/*/pyproject.toml")):
        meta = tomllib.loads(pyproject.read_text())["project"]
        for ep_name in meta["entry-points"]["rivetr"]:
            found[ep_name] = meta["name"]
    return found


def test_every_in_repo_plugin_is_discovered_through_entry_points() -> None:
    expected = _in_repo_plugins()
    assert {"runtime-docker", "runtime-podman", "git-github", "git-gitlab", "proxy-builtin"} <= set(expected)
    infos = {p.name: p for p in RivetrPluginManager().plugin_infos()}
    for ep_name, dist in expected.items():
        assert ep_name in infos, f"{ep_name} ({dist}) is not installed/discoverable"
        assert infos[ep_name].distribution.replace("_", "-") == dist
        assert infos[ep_name].hooks, f"{ep_name} implements no hook"


def test_plugin_naming_chain() -> None:
    for pyproject in sorted(ROOT.glob("plugins/*/pyproject.toml")):
        directory = pyproject.parent.name
        meta = tomllib.loads(pyproject.read_text())["project"]
        assert meta["name"] == f"rivetr-{directory}"
        package = "rivetr_" + directory.replace("-", "_")
        assert meta["entry-points"]["rivetr"] == {directory: f"{package}.plugin"}
        assert (pyproject.parent / "src" / package / "plugin.py").is_file()
        assert (pyproject.parent / "README.md").is_file()
        assert (pyproject.parent / "tests").is_dir()


def test_builtins_register_like_plugins() -> None:
    pm = RivetrPluginManager(load_entrypoints=False)
    assert "http" in pm.health_checks()
    assert "dockerfile" in pm.builders()
    assert pm.container_runtimes() == {}


class _NotifierA:
    __rivetr_name__ = "notifier-a"

    @staticmethod
    @hookimpl
    def rivetr_notifiers():  # type: ignore[no-untyped-def]
        return [NotifierRegistration(name="slack", factory=lambda ctx: None)]  # type: ignore[arg-type,return-value]


class _NotifierB:
    __rivetr_name__ = "notifier-b"

    @staticmethod
    @hookimpl
    def rivetr_notifiers():  # type: ignore[no-untyped-def]
        return [NotifierRegistration(name="slack", factory=lambda ctx: None)]  # type: ignore[arg-type,return-value]


def test_duplicate_capability_names_fail_naming_both() -> None:
    with pytest.raises(
        PluginError, match=r"notifier 'slack' is registered by both .*notifier-a.* and .*notifier-b"
    ):
        RivetrPluginManager(load_entrypoints=False, plugins=[_NotifierA, _NotifierB])


def test_duplicate_entry_point_names_fail_naming_both_distributions(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_entry_points(group: str):  # type: ignore[no-untyped-def]
        module = "rivetr_core.builtin.http_health"
        return [
            SimpleNamespace(
                name="dup",
                dist=SimpleNamespace(metadata={"Name": "rivetr-foo"}, version="1"),
                load=lambda: SimpleNamespace(__name__=module),
            ),
            SimpleNamespace(
                name="dup",
                dist=SimpleNamespace(metadata={"Name": "rivetr-bar"}, version="2"),
                load=lambda: SimpleNamespace(__name__=module),
            ),
        ]

    monkeypatch.setattr(md, "entry_points", fake_entry_points)
    with pytest.raises(PluginError, match="'dup' is provided by both rivetr-foo and rivetr-bar"):
        RivetrPluginManager()


def test_disabled_plugins_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIVETR_DISABLED_PLUGINS", "runtime-podman, git-gitlab")
    pm = RivetrPluginManager()
    states = {p.name: p.status for p in pm.plugin_infos()}
    assert states["runtime-podman"] == states["git-gitlab"] == "disabled"  # listed, not loaded
    assert states["runtime-docker"] == "ok"
    assert "podman" not in pm.container_runtimes()


def test_selection_by_name_lists_alternatives() -> None:
    pm = RivetrPluginManager()
    with pytest.raises(PluginError, match=r"unknown container runtime 'rkt' \(available: .*docker.*podman"):
        pm.select(pm.container_runtimes(), "rkt", "container runtime")


def test_unknown_hook_in_plugin_is_rejected() -> None:
    class Typo:
        __rivetr_name__ = "typo"

        @staticmethod
        @hookimpl
        def rivetr_helth_checks():  # type: ignore[no-untyped-def]
            return []

    with pytest.raises(PluginError, match="rivetr_helth_checks"):
        RivetrPluginManager(load_entrypoints=False, plugins=[Typo])


def test_event_hook_failures_are_contained(caplog: pytest.LogCaptureFixture) -> None:
    seen = []

    class Broken:
        __rivetr_name__ = "broken"

        @staticmethod
        @hookimpl
        def rivetr_on_app_created(app_id, name):  # type: ignore[no-untyped-def]
            raise RuntimeError("boom")

    class Good:
        __rivetr_name__ = "good"

        @staticmethod
        @hookimpl
        def rivetr_on_app_created(app_id, name):  # type: ignore[no-untyped-def]
            seen.append((app_id, name))

    pm = RivetrPluginManager(load_entrypoints=False, plugins=[Broken, Good])
    pm.notify("rivetr_on_app_created", app_id="a1", name="web")
    assert seen == [("a1", "web")]
    assert "broken failed in rivetr_on_app_created" in caplog.text


def test_custom_health_check_plugin_is_selectable() -> None:
    class Grpc:
        __rivetr_name__ = "grpc-check"

        @staticmethod
        @hookimpl
        def rivetr_health_checks():  # type: ignore[no-untyped-def]
            return [HealthCheckRegistration(name="grpc", factory=lambda ctx: None)]  # type: ignore[arg-type,return-value]

    pm = RivetrPluginManager(load_entrypoints=False, plugins=[Grpc])
    assert set(pm.health_checks()) == {"http", "tcp", "command", "grpc"}  # core's three, then the plugin's


def test_every_hook_spec_is_documented_with_an_example() -> None:
    specs = [getattr(hookspecs, n) for n in dir(hookspecs) if n.startswith("rivetr_")]
    assert len(specs) >= 13
    for spec in specs:
        doc = inspect.getdoc(spec) or ""
        assert len(doc) > 40, f"{spec.__name__} lacks a docstring"
        assert "Example::" in doc and "@hookimpl" in doc, f"{spec.__name__} lacks an example"


async def test_every_hook_spec_is_exercised(tmp_path: Path) -> None:
    """A spy plugin implements every hook; building and starting an app calls the registration and lifecycle
    hooks; the remaining event hooks must at least be fired by core code (their own tests cover them)."""
    from rivetr_core.app import create_app
    from tests.support.server import make_config

    calls: set[str] = set()
    spy = SimpleNamespace(__rivetr_name__="spy")
    for name in (n for n in dir(hookspecs) if n.startswith("rivetr_")):
        params = list(inspect.signature(getattr(hookspecs, name)).parameters)

        def impl(*args, _name=name, **kwargs):  # type: ignore[no-untyped-def]
            calls.add(_name)
            return [] if not _name.startswith("rivetr_on_") else None

        impl.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in params]
        )
        setattr(spy, name, hookimpl(impl))
    app = create_app(make_config(tmp_path), plugins=[spy], load_entrypoints=False)
    async with app.test_app():
        await app.test_client().get("/health")
    lifecycle = {"rivetr_on_startup", "rivetr_on_shutdown"}
    registrations = {n for n in dir(hookspecs) if n.startswith("rivetr_") and not n.startswith("rivetr_on_")}
    assert registrations | lifecycle <= calls, sorted((registrations | lifecycle) - calls)
    core_sources = "\n".join(
        p.read_text() for p in ROOT.glob("rivetr_core/**/*.py") if p.name != "hookspecs.py"
    )
    for name in (n for n in dir(hookspecs) if n.startswith("rivetr_on_")):
        assert name in calls or f'"{name}"' in core_sources or name == "rivetr_on_event", (
            f"core never fires {name}"
        )
    assert "def emit(self, event" in core_sources  # rivetr_on_event is fired through emit()
