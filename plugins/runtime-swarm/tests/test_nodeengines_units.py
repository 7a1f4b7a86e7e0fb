"""``[plugins.runtime-swarm] node_engines`` without a swarm: the setting's forms (an address, a TLS table, JSON text
from the environment), which node an entry names (id first, then hostname), and the status a listing shows for
an engine that is not configured, does not answer, or cannot be reached as configured (an ssh:// address without
paramiko, TLS paths that do not exist), never showing a password or a key path. The engines reached for real:
test_multinode_swarm.py."""

from __future__ import annotations

import importlib.util
import socket

import pytest
from pydantic import ValidationError
from rivetr_runtime_swarm.nodeengines import NOT_CONFIGURED, UNREACHABLE, EngineAddress, NodeEngines
from rivetr_runtime_swarm.plugin import NodeEngineSetting, SwarmSettings


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_setting_takes_addresses_tables_and_json_text() -> None:
    tls = {
        "url": "tcp://10.0.0.3:2376",
        "ca_cert": "/c/ca.pem",
        "client_cert": "/c/cert.pem",
        "client_key": "/c/key.pem",
    }
    settings = SwarmSettings(node_engines={"node-2": "unix:///run/node2.sock", "node-3": tls})  # type: ignore[arg-type]
    assert settings.node_engines["node-2"] == "unix:///run/node2.sock"
    assert settings.node_engines["node-3"] == NodeEngineSetting(**tls)
    # RIVETR_PLUGINS__RUNTIME_SWARM__NODE_ENGINES arrives as text.
    from_env = SwarmSettings(node_engines='{"node-2": "tcp://10.0.0.2:2376"}')  # type: ignore[arg-type]
    assert from_env.node_engines == {"node-2": "tcp://10.0.0.2:2376"}
    assert SwarmSettings().node_engines == {}
    with pytest.raises(ValidationError, match="client_keyfile"):
        SwarmSettings(node_engines={"node-3": {"url": "tcp://h:2376", "client_keyfile": "/k"}})  # type: ignore[dict-item]


def test_an_entry_names_a_node_by_id_or_hostname() -> None:
    engines = NodeEngines({"node-2": "unix:///a.sock", "abc123": "unix:///b.sock"})
    assert engines.address_of("abc123", "node-2") == ("abc123", EngineAddress("unix:///b.sock"))  # id first
    assert engines.address_of("zzz", "node-2") == ("node-2", EngineAddress("unix:///a.sock"))
    assert engines.address_of("zzz", "node-9") is None and engines.engine("zzz", None) is None
    engine = engines.engine("zzz", "node-2")
    assert engine is not None and engine is engines.engine("other-id", "node-2")  # made once, kept
    assert EngineAddress("ssh://ops:secret@h:22").shown() == "ssh://ops@h:22"


async def test_the_status_of_each_node_engine() -> None:
    port = _closed_port()
    engines = NodeEngines(
        {
            "down": f"tcp://127.0.0.1:{port}",
            "badtls": {"url": f"tcp://127.0.0.1:{port}", "client_cert": "/nonexistent/cert.pem",
                       "client_key": "/nonexistent/secret-key.pem"},
            "ssh": "ssh://ops@127.0.0.1:1",
        }
    )  # fmt: skip
    try:
        found = engines.statuses([("n0", "none"), ("n1", "down"), ("n2", "badtls"), ("n3", "ssh")])
        assert found["n0"] == (None, NOT_CONFIGURED, None)
        endpoint, status, error = found["n1"]
        assert (endpoint, status) == (f"tcp://127.0.0.1:{port}", UNREACHABLE) and "does not answer" in (
            error or ""
        )
        endpoint, status, error = found["n2"]
        assert status == UNREACHABLE and "certificate" in (error or "") and "secret-key" not in (error or "")
        endpoint, status, error = found["n3"]
        assert status == UNREACHABLE and error
        if importlib.util.find_spec("paramiko") is None:
            assert "paramiko" in error
    finally:
        await engines.close()
