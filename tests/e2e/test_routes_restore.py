"""Routes through a real `rivetr serve` and its real proxy: they survive a kill -9 of the control plane, and a
restarted control plane makes the proxy's table exactly its database again."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

from tests.support import at_rest
from tests.support.proxy import HttpBackend, free_port, http_get, wait_until
from tests.support.server import ServerProcess


def _proxy_env(proxy_port: int) -> dict[str, str]:
    return {
        "RIVETR_PROXY__ENABLED": "true",
        "RIVETR_SERVER__PROXY_PORT": str(proxy_port),
        "RIVETR_SERVER__PROXY_HTTPS_PORT": str(free_port()),
        "RIVETR_SERVER__HOST": "127.0.0.1",
    }


def test_routes_survive_kill9_and_restore_is_exact(
    rivetr_server: Callable[..., ServerProcess], backend_factory: Callable[..., HttpBackend], tmp_path: Path
) -> None:
    backend = backend_factory("blue")
    proxy_port = free_port()
    data_dir = tmp_path / "data"
    first = rivetr_server(_proxy_env(proxy_port), data_dir=data_dir)
    with first.client() as api:
        for domain in ("keep.test", "stale.test"):
            created = api.post("/api/routes", json={"domain": domain, "upstreams": [backend.address]})
            assert created.status_code == 201, created.text
        listed = {r["domain"]: r for r in api.get("/api/routes").json()["items"]}
        assert set(listed) == {"keep.test", "stale.test"}
    assert http_get(proxy_port, "keep.test")[2] == b"blue"

    first.stop(signal.SIGKILL)
    # The data plane keeps serving the last known routes while the control plane is gone.
    for _ in range(20):
        status, _, body = http_get(proxy_port, "keep.test")
        assert (status, body) == (200, b"blue")
    assert http_get(proxy_port, "nope.test")[0] == 404

    # While it was away the database lost a route (e.g. restored from a backup).
    assert at_rest.execute(first, "DELETE FROM proxy_routes WHERE domain = 'stale.test'") == 1

    second = rivetr_server(_proxy_env(proxy_port), data_dir=data_dir)
    assert wait_until(lambda: http_get(proxy_port, "stale.test")[0] == 404, timeout=10)
    assert http_get(proxy_port, "keep.test")[2] == b"blue"
    with second.client() as api:
        health = api.get("/health").json()
        assert health["proxy"] == "ok" and health["details"]["proxy"]["ok"] is True
        assert api.delete("/api/routes/keep.test").status_code == 204
        assert api.delete("/api/routes/keep.test").status_code == 404
    assert http_get(proxy_port, "keep.test")[0] == 404
