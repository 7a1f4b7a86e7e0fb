"""The proxy as a process tree: import hygiene, surviving the control plane, persistence, multi-worker,
health-based rotation."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.support.proxy import SyncProxy, exited, free_port, http_get, wait_until

HEAVY = [
    "quart",
    "cryptography",
    "hypercorn",
    "sqlalchemy",
    "sqlmodel",
    "pydantic",
    "alembic",
    "httpx",
    "docker",
    "rivetr_core",
]


def test_worker_and_master_import_no_control_plane_libraries():
    code = (
        "import sys, rivetr_proxy_builtin.worker, rivetr_proxy_builtin.server;"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def proc_status(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_worker_is_small(proxy_factory):
    p = proxy_factory()
    (pid,) = p.worker_pids()
    assert proc_status(pid, "VmRSS") < 40_000  # kB


CONTROL_PLANE = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from rivetr_core.contract import Route
    from rivetr_proxy_builtin.backend import BuiltinProxy
    from rivetr_proxy_builtin.settings import ProxySettings

    async def main():
        p = BuiltinProxy(ProxySettings(host="127.0.0.1", port=int(sys.argv[2])), Path(sys.argv[1]))
        await p.start()
        await p.set_route(Route("cp.test", [sys.argv[3]]))
        print(p.port, p.pid, flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


def test_routes_survive_kill_9_of_the_control_plane(tmp_path, backend_factory):
    a, b = backend_factory("a"), backend_factory("b")
    state = tmp_path / "proxy"
    port = free_port()
    with subprocess.Popen(
        [sys.executable, "-c", CONTROL_PLANE, str(state), str(port), a.address],
        stdout=subprocess.PIPE,
        text=True,
    ) as cp:
        _kill_9_scenario(cp, state, port, a, b)


def _kill_9_scenario(cp, state, port, a, b):
    try:
        line = cp.stdout.readline()
        assert line, "control plane did not start the proxy"
        proxy_port, proxy_pid = map(int, line.split())
        assert proxy_port == port
        assert http_get(port, "cp.test")[2] == b"a"
        cp.send_signal(signal.SIGKILL)
        cp.wait()
        # The data plane keeps serving the last routes.
        for _ in range(10):
            assert http_get(port, "cp.test")[2] == b"a"
        # A new control plane reconnects to the same proxy (no second one) and updates routes.
        p2 = SyncProxy(state, port=port)
        try:
            assert p2.status()["pid"] == proxy_pid
            assert http_get(port, "cp.test")[2] == b"a"  # start() alone does not blank the table
            from rivetr_core.contract import Route

            p2.call("replace_routes", [Route("cp.test", [b.address]), Route("new.test", [a.address])])
            assert http_get(port, "cp.test")[2] == b"b"
            assert http_get(port, "new.test")[2] == b"a"
        finally:
            p2.close()
        wait_until(lambda: exited(proxy_pid))
    finally:
        if cp.poll() is None:
            cp.kill()


def test_restarted_proxy_serves_persisted_routes_and_backend_recovers(tmp_path, backend_factory):
    a = backend_factory("a")
    port = free_port()
    p = SyncProxy(tmp_path / "proxy", port=port)
    try:
        p.set_route("persist.test", a.address)
        # kill -9 the whole proxy: the next command restarts it, and it serves the persisted table at once.
        old_pid = p.status()["pid"]
        pids = [old_pid, *p.worker_pids()]
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: all(exited(pid) for pid in pids))
        assert p.status()["ok"] is False  # status() reports, it does not restart
        p.call("start")
        assert p.status()["pid"] != old_pid
        assert http_get(port, "persist.test")[2] == b"a"
        # A fresh control plane that knows no routes yet: the restarted proxy still has them from disk.
        p.call("shutdown")
        p3 = SyncProxy(tmp_path / "proxy", port=port)
        try:
            assert http_get(port, "persist.test")[2] == b"a"
        finally:
            p3.close()
    finally:
        p.close()


def test_two_workers_both_serve_and_both_see_route_changes(proxy_factory, backend_factory):
    a, b = backend_factory("a"), backend_factory("b")
    p = proxy_factory(workers=2)
    st = p.status()
    assert st["workers"] == 2 and st["workers_ready"] == 2
    pids = p.worker_pids()
    assert len(set(pids)) == 2
    p.set_route("mw.test", a.address)
    before = [cpu_ticks(pid) for pid in pids]
    after = before
    # Fresh connections: SO_REUSEPORT spreads them over both workers. CPU time moves in 10 ms ticks, which a
    # worker's share of a few hundred requests may not fill on a fast machine: send until both moved (a worker
    # that never serves never moves, so this still fails within the bound).
    for sent in range(1, 3001):
        assert http_get(p.port, "mw.test")[2] == b"a"
        if sent % 100 == 0:
            after = [cpu_ticks(pid) for pid in pids]
            if all(y > x for x, y in zip(before, after, strict=True)):
                break
    assert all(y > x for x, y in zip(before, after, strict=True)), (before, after)
    p.set_route("mw.test", b.address)
    assert all(http_get(p.port, "mw.test")[2] == b"b" for _ in range(60))  # 2^-59 chance of one worker only
    p.call("remove_route", "mw.test")
    assert all(http_get(p.port, "mw.test")[0] == 404 for _ in range(60))
    # A crashed worker is replaced and gets the current table.
    os.kill(pids[0], signal.SIGKILL)
    wait_until(lambda: p.status()["workers_ready"] == 2 and pids[0] not in p.worker_pids(), timeout=15)
    p.set_route("mw.test", a.address)
    assert all(http_get(p.port, "mw.test")[2] == b"a" for _ in range(40))


def test_health_probes_take_upstreams_out_and_back(proxy_factory, backend_factory):
    good, flaky = backend_factory("good"), backend_factory("flaky")
    p = proxy_factory(health_interval=0.2, health_timeout=1, health_threshold=2, health_path="/health")
    p.set_route("hc.test", good.address, flaky.address)
    assert {http_get(p.port, "hc.test")[2] for _ in range(8)} == {b"good", b"flaky"}

    def health() -> dict[str, bool]:
        return {u.address: u.healthy for u in p.call("routes")[0].upstreams}

    flaky.healthy = False
    wait_until(lambda: not health()[flaky.address], timeout=10)
    assert "503" in next(u.detail for u in p.call("routes")[0].upstreams if u.address == flaky.address)
    assert {http_get(p.port, "hc.test")[2] for _ in range(10)} == {b"good"}
    flaky.healthy = True
    wait_until(lambda: health()[flaky.address], timeout=10)
    assert {http_get(p.port, "hc.test")[2] for _ in range(10)} == {b"good", b"flaky"}
    # Nothing listening counts as down too; with no healthy upstream left the answer is 503.
    p.set_route("down.test", f"127.0.0.1:{free_port()}")
    wait_until(lambda: not p.call("routes")[1].upstreams[0].healthy, timeout=10)
    assert http_get(p.port, "down.test")[0] == 503


def test_an_address_new_to_a_route_starts_healthy_though_down_under_another(proxy_factory, backend_factory):
    """An engine hands a stopped container's IP to the next one: a route a deploy just switched to it must not
    inherit the verdict on the dead container another route still names (a 503 for threshold times interval)."""
    p = proxy_factory(health_interval=0.3, health_timeout=1, health_threshold=2, health_path="/health")
    new = backend_factory("new")
    new.healthy = False  # what the dead container of the stale route answered from this address
    p.set_route("stale.test", new.address)
    wait_until(lambda: not p.call("routes")[0].upstreams[0].healthy, timeout=10)
    assert http_get(p.port, "stale.test")[0] == 503
    new.healthy = True  # the address now belongs to a container a deploy has just health-checked
    p.set_route("fresh.test", new.address)
    status, _, body = http_get(p.port, "fresh.test")
    assert (status, body) == (200, b"new")
    # Re-publishing a route with the same upstreams keeps what the probes found (only new addresses reset).
    new.healthy = False
    wait_until(lambda: not p.call("routes")[1].upstreams[0].healthy, timeout=10)
    p.set_route("fresh.test", new.address)
    assert http_get(p.port, "fresh.test")[0] == 503


def test_a_second_proxy_on_a_busy_port_refuses_to_start_instead_of_sharing_it(proxy_factory, backend_factory):
    """Workers bind with SO_REUSEPORT, which lets another listener of the same user join a busy port and have the
    kernel split its connections between the two. A proxy must fail on a port another proxy serves (found when
    two test servers both took :80 and half of one's requests got the other's 404)."""
    first = proxy_factory(workers=2)
    first.set_route("mine.test", backend_factory("first").address)
    with pytest.raises(Exception, match="Address already in use"):
        proxy_factory(port=first.port, https_port=None)
    assert {http_get(first.port, "mine.test")[2] for _ in range(40)} == {b"first"}


@pytest.mark.slow
def test_control_channel_survives_many_route_changes(proxy_factory, backend_factory):
    a = backend_factory("a")
    p = proxy_factory(workers=2)
    for i in range(200):
        p.set_route(f"r{i}.test", a.address)
    assert len(p.call("routes")) == 200
    assert http_get(p.port, "r199.test")[2] == b"a"
    t = time.monotonic()
    p.call("status")
    assert time.monotonic() - t < 1


def test_a_stale_pid_file_never_names_another_process(tmp_path):
    """A master killed with ``kill -9`` leaves ``proxy.pid`` behind and the kernel reuses its pid: shutdown() of
    that state dir must neither wait for nor kill whatever process holds the pid now."""
    from rivetr_proxy_builtin.backend import master_pid

    state = tmp_path / "proxy"
    p = SyncProxy(state, port=free_port())
    try:
        assert master_pid(state) == p.status()["pid"]  # a live master of this state dir is found
        assert master_pid(tmp_path / "elsewhere") is None
    finally:
        p.close()
    assert master_pid(state) is None  # a clean stop removed the file

    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as bystander:
        try:
            (state / "proxy.pid").write_text(f"{bystander.pid}\n")
            assert master_pid(state) is None
            from rivetr_proxy_builtin.backend import BuiltinProxy

            started = time.monotonic()  # a backend of the same dir that never started a proxy itself
            asyncio.run(BuiltinProxy(p.settings, state).shutdown(timeout=3))
            assert time.monotonic() - started < 2, "shutdown waited for a process that is not its proxy"
            assert bystander.poll() is None, "shutdown killed a process that is not its proxy"
        finally:
            bystander.kill()
