"""``restart``: a new master takes over the listening sockets, the old one drains and exits. Real processes, real
sockets: no connection is refused or reset while it happens, an in-flight request finishes, the route table and
the certificates carry over, changed settings apply, a failing new master leaves the old one serving."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from tests.support.proxy import SyncProxy, http_get, parse_response
from tests.support.waiting import wait_for

from .test_tls import make_cert, tls_request


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Hammer:
    """Fresh connections in a loop from a thread: every answer and every failure, until stopped."""

    def __init__(self, port: int, host: str) -> None:
        self.port, self.host = port, host
        self.ok = 0
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                status, _, body = http_get(self.port, self.host)
                if status == 200 and body == b"kept":
                    self.ok += 1
                else:
                    self.failures.append(f"{status} {body[:60]!r}")
            except Exception as exc:  # an empty answer (closed unanswered) too, not only socket errors
                self.failures.append(repr(exc))

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(30)


def test_restart_hands_the_ports_over_without_dropping_a_connection(tmp_path, backend_factory):
    b = backend_factory("kept")
    p = SyncProxy(tmp_path / "proxy", workers=2)
    try:
        p.set_route("kept.test", b.address)
        p.call("set_certificate", "*.kept.test", *make_cert("*.kept.test"))
        before = p.status()
        old_pid, old_workers = before["pid"], before["worker_pids"]
        hammer = Hammer(p.port, "kept.test")
        wait_for(lambda: hammer.ok >= 20, what="requests before the restart")
        # A request in flight on the old master's worker while it hands over: it must complete.
        slow: dict[str, object] = {}
        slow_thread = threading.Thread(
            target=lambda: slow.update(r=http_get(p.port, "kept.test", "/sleep?s=1.5")), daemon=True
        )
        slow_thread.start()
        wait_for(lambda: p.status()["route_stats"].get("kept.test", {}).get("requests", 0) > hammer.ok)
        p.backend.settings.max_header_size = 20000  # a changed setting: the restart applies it
        res = p.call("restart")
        assert res["restarted"] and res["previous_pid"] == old_pid and res["pid"] != old_pid
        served_after = hammer.ok
        wait_for(
            lambda: hammer.ok >= served_after + 20,
            what=lambda: (
                f"requests after the restart ({hammer.ok - served_after} answered, failures: "
                f"{hammer.failures[:5]})"
            ),
        )
        wait_for(lambda: not _alive(old_pid), what="the old master to exit")
        slow_thread.join(30)
        hammer.finish()
        assert slow["r"][0] == 200 and slow["r"][2] == b"kept"  # type: ignore[index]
        assert hammer.failures == [], hammer.failures[:5]
        after = p.status()
        assert after["pid"] == res["pid"] and after["port"] == p.port and after["routes"] == 1
        assert after["settings"]["max_header_size"] == 20000
        assert not set(after["worker_pids"]) & set(old_workers)
        assert all(not _alive(w) for w in old_workers)
        assert (p.state_dir / "proxy.pid").read_text().strip() == str(res["pid"])
        # The HTTPS listener was handed over too, and the certificates carried over.
        assert after["https_port"] == before["https_port"]
        assert tls_request(p.https_port, "a.kept.test", "kept.test")[0] == "*.kept.test"
        # The control plane's connection moved over: route changes reach the new master.
        p.set_route("new.test", b.address)
        assert http_get(p.port, "new.test")[0] == 200
    finally:
        p.close()


def test_restart_without_a_running_proxy_starts_one(tmp_path):
    p = SyncProxy(tmp_path / "proxy")
    try:
        p.call("shutdown")
        wait_for(lambda: not (p.state_dir / "proxy.pid").exists())
        res = p.call("restart")
        assert res["restarted"] is False and res["previous_pid"] is None and _alive(res["pid"])
    finally:
        p.close()


def test_a_new_master_that_cannot_start_leaves_the_old_one_serving(tmp_path, backend_factory):
    b = backend_factory("stays")
    p = SyncProxy(tmp_path / "proxy")
    try:
        p.set_route("stays.test", b.address)
        old_pid = p.status()["pid"]
        # A port another process holds without SO_REUSEPORT: the new master's bind fails.
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        p.backend.settings.port = blocker.getsockname()[1]
        try:
            with pytest.raises(Exception, match="did not start"):
                p.call("restart")
        finally:
            blocker.close()
        assert p.status()["pid"] == old_pid and _alive(old_pid)
        assert http_get(p.port, "stays.test")[2] == b"stays"
        p.set_route("more.test", b.address)  # still driven: it did not stop taking commands
        assert http_get(p.port, "more.test")[2] == b"stays"
        # A new control-plane client finds it by its files, as a restarted rivetr serve would.
        from rivetr_proxy_builtin.backend import master_pid

        assert master_pid(p.state_dir) == old_pid
        fresh = SyncProxy(p.state_dir)
        try:
            assert fresh.status()["pid"] == old_pid
        finally:
            fresh.tl.stop()
    finally:
        p.close()


def test_a_connection_the_old_worker_accepted_gets_its_answer_after_the_handover(tmp_path, backend_factory):
    """A client that connected just before a restart and sends its request only once the old worker drains: the
    old worker accepted the connection, so it answers it (and closes it), instead of dropping it unanswered."""
    b = backend_factory("late")
    p = SyncProxy(tmp_path / "proxy")
    conn = socket.create_connection(("127.0.0.1", p.port), 10)
    try:
        p.set_route("late.test", b.address)
        http_get(p.port, "late.test")  # the worker is up and serving: our connection is accepted by it
        time.sleep(0.3)
        res = p.call("restart")
        assert res["restarted"]
        wait_for(lambda: "draining and exiting" in p.log(), what="the old master to start draining")
        time.sleep(0.3)  # its worker has closed its listener and is draining
        conn.sendall(b"GET / HTTP/1.1\r\nHost: late.test\r\n\r\n")  # keep-alive asked
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
        status, headers, body = parse_response(data)
        assert (status, body) == (200, b"late")
        assert headers.get("connection") == "close"  # a draining worker keeps no connection open
    finally:
        conn.close()
        p.close()
