"""The plugin registration and the backend's fidelity to core's ProxyBackend Protocol (no proxy started)."""

from __future__ import annotations

from rivetr_proxy_builtin import plugin
from rivetr_proxy_builtin.backend import BuiltinProxy

from rivetr_core.config import load_config
from rivetr_core.contract import PluginContext, ProxyBackend
from tests.support.proxy import exited


def test_registration_builds_a_proxy_backend_from_config(tmp_path):
    (reg,) = plugin.rivetr_proxy_backends()
    assert reg.name == "builtin"
    config = load_config(
        server={"data_dir": str(tmp_path), "proxy_port": 8081, "proxy_https_port": 8443, "host": "127.0.0.1"},
        proxy={"workers": 2, "max_body_size": "10m", "drain_timeout": 7, "health_path": "/healthz"},
        plugins={"proxy-builtin": {"access_log": True}},
    )
    ctx = PluginContext(config=config, data_dir=tmp_path, plugin_settings=config.plugins)
    backend = reg.factory(ctx)
    assert isinstance(backend, BuiltinProxy) and isinstance(backend, ProxyBackend)
    s = backend.settings
    assert (s.host, s.port, s.https_port, s.workers) == ("127.0.0.1", 8081, 8443, 2)
    assert (s.max_body_size, s.drain_timeout, s.health_path, s.access_log) == (
        10 * 1024**2,
        7,
        "/healthz",
        True,
    )
    assert backend.state_dir == tmp_path / "proxy"


async def test_status_without_a_running_proxy_reports_not_ok(tmp_path):
    from rivetr_proxy_builtin.settings import ProxySettings

    backend = BuiltinProxy(ProxySettings(port=0), tmp_path / "proxy")
    st = await backend.status()
    assert st["ok"] is False and st["workers"] == 0 and st["pid"] is None
    assert not (tmp_path / "proxy" / "proxy.pid").exists()  # status() never starts a proxy


def test_keep_running_false_makes_stop_shut_the_proxy_down(tmp_path):
    import asyncio

    from rivetr_proxy_builtin.settings import ProxySettings

    async def scenario() -> int:
        backend = BuiltinProxy(
            ProxySettings(host="127.0.0.1", port=0, https_port=None), tmp_path / "proxy", keep_running=False
        )
        await backend.start()
        pid = backend.pid
        assert pid and (await backend.status())["ok"]
        await backend.stop()
        return pid

    assert exited(asyncio.run(scenario()))


def test_proxy_exits_when_its_state_dir_is_deleted(tmp_path):
    import shutil

    from tests.support.proxy import SyncProxy, wait_until

    p = SyncProxy(tmp_path / "proxy")
    try:
        pid = p.status()["pid"]
        assert pid and not exited(pid)
        shutil.rmtree(tmp_path / "proxy")
        wait_until(lambda: exited(pid), timeout=10)  # the master process itself ends, not just its socket
        assert not p.status()["ok"]
    finally:
        p.close()
