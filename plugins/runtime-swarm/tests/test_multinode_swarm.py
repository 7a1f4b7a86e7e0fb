"""A two-node swarm on this machine (second_node.py: a second dockerd in its own network namespace, joined as a
worker through a veth pair) under a real ``rivetr serve``: an app with 2 replicas spreads over both nodes, the
built-in proxy answers from both (the worker's task through the veth, at that node's address), a drain of the
worker moves its replica to the manager with the routes following it, and a task swarm replaces by itself
(``docker service update --force``: same service, new host port) is followed by the routes too."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rivetr_runtime_swarm import runtime as swarm_runtime
from rivetr_runtime_swarm.runtime import SwarmRuntime, TaskOnAnotherNode
from rivetr_runtime_swarm.servicespec import registry_reference

from rivetr_core.contract import RivetrError, RunSpec
from rivetr_core.contract.nodes import NodeInfo
from rivetr_core.testing.helpers import HTTPD_PORT, unique_name
from tests.e2e.conftest import E2E_ENV, Rivetr, shutdown_proxy, start_rivetr
from tests.support.auth_registry import start_auth_registry
from tests.support.engines import EngineEnv
from tests.support.pebble import cert_pem, key_pem, make_ca, make_leaf
from tests.support.proxy import http_get

# pytest imports this directory's modules by path (it is not a package): its helper module too.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import second_node

pytestmark = [pytest.mark.slow, pytest.mark.docker]


def _docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"docker {' '.join(args)}: {done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def two_nodes(engine_env: EngineEnv) -> Iterator[second_node.SecondNode]:
    if (why := second_node.missing()) is not None:
        pytest.skip(why)
    with second_node.swarm_over_veth() as node:
        yield node


@pytest.fixture
def rivetr(two_nodes: second_node.SecondNode, engine_env: EngineEnv, tmp_path: Path) -> Iterator[Rivetr]:
    assert engine_env.registry, "scripts/engines.sh runs the local registry the nodes pull from"
    env = {
        **E2E_ENV,
        "RIVETR_RUNTIME__RUNTIME_TYPE": "swarm",
        "RIVETR_PLUGINS__RUNTIME_SWARM__SOCKET": engine_env.docker_socket,
        # Every node pulls what the manager built from here (the worker through its namespace's forwarder).
        "RIVETR_PLUGINS__RUNTIME_SWARM__REGISTRY": engine_env.registry,
    }
    server = start_rivetr("docker", tmp_path / "rivetr", **env)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        label = f"rivetr.instance={server.instance_id()}"
        server.server.stop(timeout=15)
        services = _docker("service", "ls", "-q", "--filter", f"label={label}").split()
        if services:
            subprocess.run(["docker", "service", "rm", *services], capture_output=True, timeout=60)
            for _ in range(100):
                if not server.containers():
                    break
                time.sleep(0.1)
        server.cleanup()
        shutdown_proxy(server.server.data_dir)


def _running_tasks(service: str) -> list[dict[str, Any]]:
    """The service's tasks whose container runs ("starting" while the container's health check has not passed
    yet: the app's health check is the service's)."""
    ids = _docker("service", "ps", "-q", "--filter", "desired-state=running", service).split()
    tasks = json.loads(_docker("inspect", *ids)) if ids else []
    return [t for t in tasks if t["Status"]["State"] in ("starting", "running")]


def _replicas(rivetr: Rivetr, app_id: str) -> list[dict[str, Any]]:
    response = rivetr.api.get(f"/api/apps/{app_id}/replicas")
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def _route_upstreams(rivetr: Rivetr, host: str) -> set[str]:
    response = rivetr.api.get("/api/routes")
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    [route] = [r for r in items if r["domain"] == host]
    return {u["address"] for u in route["upstreams"]}


def _wait(what: str, check: Callable[[], Any], timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"{what}: still not so after {timeout:.0f} s (last: {last!r})")


def _hostname(port: int, host: str) -> str:
    """The HOSTNAME of the replica that answered (the test app's /cgi-bin/env prints its environment): a swarm
    task's container has its short container id as its host name."""
    status, _, body = http_get(port, host, "/cgi-bin/env", timeout=10)
    assert status == 200, (status, body[:200])
    [line] = [x for x in body.decode().splitlines() if x.startswith("HOSTNAME=")]
    return line.split("=", 1)[1]


class RequestLoop:
    """GET / in a loop on one thread, counting answers and failures, while something happens to the nodes."""

    def __init__(self, port: int, host: str, expected: str) -> None:
        self.ok = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._args = (port, host, expected)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        port, host, expected = self._args
        while not self._stop.is_set():
            try:
                status, _, body = http_get(port, host, "/", timeout=10)
                if status == 200 and body.decode(errors="replace") == expected:
                    self.ok += 1
                else:
                    self.failures.append(f"{status} {body[:80]!r}")
            except OSError as exc:
                self.failures.append(repr(exc))

    def __enter__(self) -> RequestLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(20)


async def _exec(socket: str, service: str) -> None:
    runtime = SwarmRuntime(socket)
    try:
        await runtime.exec(service, ["true"])
    finally:
        await runtime.close()


def test_replicas_spread_over_two_nodes_and_survive_draining_one(
    rivetr: Rivetr, two_nodes: second_node.SecondNode, engine_env: EngineEnv, git_server: Any
) -> None:
    worker = two_nodes.node_id
    manager = _docker("info", "--format", "{{.Swarm.NodeID}}").strip()
    name = "spread"
    host = f"{name}.e2e.test"
    content = "served by a swarm\n"
    repo = git_server.create_repo(name, message="v1")
    repo.write("www/index.html", content)
    repo.commit("content")
    project = rivetr.api.post("/api/projects", json={"name": "multinode-e2e"})
    assert project.status_code == 201, project.text
    app = rivetr.create_app(repo, name, project_id=project.json()["id"], replicas=2)
    dep = rivetr.deploy_and_wait(app["id"])
    rivetr.wait_content(host, content)

    # Two services of one task each (one per replica), one task on each node.
    replicas = _replicas(rivetr, app["id"])
    assert len(replicas) == 2, replicas
    services = [r["container_id"] for r in replicas]
    nodes = {s: {t["NodeID"] for t in _running_tasks(s)} for s in services}
    history = {s: _docker("service", "ps", "--no-trunc", s) for s in services}
    assert sorted(n for ns in nodes.values() for n in ns) == sorted([manager, worker]), (nodes, history)
    # The proxy reaches the manager's task on loopback and the worker's at the worker's address.
    upstreams = {r["upstream"] for r in replicas}
    assert {u.rpartition(":")[0] for u in upstreams} == {"127.0.0.1", second_node.NODE_ADDR}, upstreams
    assert _route_upstreams(rivetr, host) == upstreams

    # Requests through the proxy are answered by both tasks.
    on_worker = set(
        two_nodes.docker("ps", "-q", "--filter", f"label=rivetr.deployment={dep['id']}").stdout.split()
    )
    on_manager = set(_docker("ps", "-q", "--filter", f"label=rivetr.deployment={dep['id']}").split())
    assert len(on_worker) == 1 and len(on_manager) == 1, (on_worker, on_manager)
    seen = {_hostname(rivetr.proxy_port, host) for _ in range(20)}
    assert seen == on_worker | on_manager, (seen, on_worker, on_manager)

    # The worker's replica's log comes through the swarm (httpd -v logs the requests it answered); exec says
    # where the task is instead of failing on a missing container.
    [remote] = [r for r in replicas if not r["upstream"].startswith("127.0.0.1:")]
    logs = rivetr.api.get(f"/api/apps/{app['id']}/logs", params={"replica": remote["index"], "tail": 200})
    assert logs.status_code == 200, logs.text
    # Requests from the manager, through the veth: this node's log, not the manager's replica's.
    assert any(second_node.HOST_ADDR in entry["line"] for entry in logs.json()), logs.json()[-5:]
    with pytest.raises(TaskOnAnotherNode, match="runs on another node"):
        asyncio.run(_exec(engine_env.docker_socket, remote["container_id"]))

    # Drain the worker under a request loop: its replica comes back on the manager, the routes follow.
    with RequestLoop(rivetr.proxy_port, host, content) as loop:
        time.sleep(0.5)
        _docker("node", "update", "--availability", "drain", worker)

        def all_on_manager() -> list[dict[str, Any]] | None:
            now = _replicas(rivetr, app["id"])
            ups = {r["upstream"] for r in now}
            hosts = {u.rpartition(":")[0] for u in ups if u}
            if (
                len(now) == 2
                and hosts == {"127.0.0.1"}
                and len(ups) == 2
                and _route_upstreams(rivetr, host) == ups
            ):
                return now
            return None

        replicas = _wait("both replicas on the manager and routed", all_on_manager)
        for service in (r["container_id"] for r in replicas):
            tasks = _running_tasks(service)
            assert {t["NodeID"] for t in tasks} == {manager}, _docker("service", "ps", "--no-trunc", service)
        ok_before = loop.ok
        _wait("requests answered after the drain", lambda: loop.ok > ok_before + 20)
    assert two_nodes.docker("ps", "-q").stdout.split() == []  # nothing runs on the drained node
    print(
        f"drain of the worker under load: {loop.ok} requests answered, {len(loop.failures)} failed "
        f"({loop.failures[:3]})"
    )
    assert loop.ok > 0

    # Swarm replaces a task by itself (same service, a new task on a new host port): the routes follow it.
    service = replicas[1]["container_id"]
    before = replicas[1]["upstream"]
    with RequestLoop(rivetr.proxy_port, host, content) as loop:
        _docker("service", "update", "--force", "--detach", service)

        def moved() -> str | None:
            now = {r["container_id"]: r["upstream"] for r in _replicas(rivetr, app["id"])}
            upstream = now.get(service)
            return upstream if upstream != before and upstream in _route_upstreams(rivetr, host) else None

        after = _wait("the routes follow the replaced task", moved)
        ok_before = loop.ok
        _wait("requests answered after the replacement", lambda: loop.ok > ok_before + 20)
    assert before not in _route_upstreams(rivetr, host)
    print(f"task replaced by swarm ({before} -> {after}): {loop.ok} answered, {len(loop.failures)} failed")


def _containers_of(node: second_node.SecondNode, service: str) -> list[str]:
    return node.docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.id={service}").stdout.split()


def _worker_active(node: second_node.SecondNode) -> None:
    """The worker takes tasks (a test before may have left it drained)."""
    _docker("node", "update", "--availability", "active", node.node_id)


def _remove_services(label: str) -> None:
    services = _docker("service", "ls", "-q", "--filter", f"label={label}").split()
    if services:
        subprocess.run(["docker", "service", "rm", *services], capture_output=True, timeout=60)


class TlsFront:
    """``tcp://127.0.0.1:<port>`` with TLS requiring a client certificate of ``ca``, forwarding to a unix socket:
    the worker's engine as ``dockerd --tlsverify`` serves it to another server."""

    def __init__(self, unix_path: str, ca: Path, cert: Path, key: Path) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca))
        context.load_cert_chain(cert, key)
        context.verify_mode = ssl.CERT_REQUIRED
        self.unix_path = unix_path
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        started = asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=context)
        self.server = asyncio.run_coroutine_threadsafe(started, self.loop).result(10)
        self.port = int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_unix_connection(self.unix_path)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ssl.SSLError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            with contextlib.suppress(OSError, ssl.SSLError, RuntimeError):
                sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def _tls_files(directory: Path) -> dict[str, Path]:
    """A test CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files."""
    ca_key, ca_cert = make_ca("rivetr test node engines CA")
    files: dict[str, Path] = {"ca": directory / "ca.pem"}
    files["ca"].write_text(cert_pem(ca_cert))
    for name, (key, cert) in {
        "server": make_leaf(ca_key, ca_cert, [], ips=["127.0.0.1"]),
        "client": make_leaf(ca_key, ca_cert, ["rivetr"]),
    }.items():
        files[f"{name}_cert"], files[f"{name}_key"] = directory / f"{name}.pem", directory / f"{name}-key.pem"
        files[f"{name}_cert"].write_text(cert_pem(cert))
        files[f"{name}_key"].write_text(key_pem(key))
    return files


def engines(nodes: list[NodeInfo]) -> dict[str, tuple[str | None, str | None]]:
    """Role -> (engine_status, engine_endpoint) of a two-node listing."""
    return {n.role: (n.engine_status, n.engine_endpoint) for n in nodes}


def _no_log_broker(*args: Any, **kw: Any) -> Any:
    raise AssertionError("the log came through the swarm's log broker, not the node's engine")


async def _terminal_output(runtime: SwarmRuntime, service: str, cmd: list[str]) -> str:
    """What the dashboard's terminal shows for ``cmd`` (an exec with a TTY), until it exits."""
    session = await runtime.exec_interactive(service, cmd)
    out = b""
    try:
        while chunk := await session.read():
            out += chunk
    finally:
        await session.close()
    return out.decode(errors="replace")


async def test_node_engines_reach_a_task_on_the_worker(
    two_nodes: second_node.SecondNode,
    engine_env: EngineEnv,
    docker_httpd_image: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """[plugins.runtime-swarm] node_engines: exec, stats and pause of a task on the worker go to the worker's
    engine (its dockerd socket, on this machine); without the setting they stay a 409 saying how to set it, and
    the nodes listing says which node's engine is reachable."""
    _worker_active(two_nodes)
    tag = f"nodeengine-{uuid.uuid4().hex[:8]}"
    spec = RunSpec(
        image=docker_httpd_image,
        name=unique_name("onworker"),
        labels={"rivetr.test": tag},
        container_port=HTTPD_PORT,
        placement=["node.role==worker"],
    )
    common: dict[str, Any] = {"registry": engine_env.registry, "project_firewall": False}
    without = SwarmRuntime(engine_env.docker_socket, **common)
    runtime = SwarmRuntime(
        engine_env.docker_socket, node_engines={second_node.HOSTNAME: two_nodes.docker_host}, **common
    )
    unreachable = SwarmRuntime(
        engine_env.docker_socket,
        node_engines={two_nodes.node_id: "unix:///nonexistent/docker.sock"},
        **common,
    )
    try:
        info = await runtime.run(spec)
        [container] = _containers_of(two_nodes, info.id)  # the worker's engine runs it, not the manager's

        with pytest.raises(TaskOnAnotherNode, match="node_engines") as refused:
            await without.exec(info.id, ["hostname"])
        assert refused.value.status == 409 and second_node.HOSTNAME in refused.value.message
        assert await without.stats_many([info.id]) == {}

        # A swarm task's container has its short id as its host name: the worker's container answered.
        result = await runtime.exec(info.id, ["hostname"])
        assert (result.exit_code, result.output.strip()) == (0, container)
        stats = await runtime.stats(info.id)
        assert stats.container_id == info.id and stats.memory_used > 0
        paused = ["inspect", "--format", "{{.State.Paused}}", container]
        await runtime.pause(info.id)
        assert two_nodes.docker(*paused).stdout.strip() == "true"
        await runtime.unpause(info.id)
        assert two_nodes.docker(*paused).stdout.strip() == "false"
        # Its log from the worker's engine: the swarm's log broker is out of the way here; without the setting
        # the broker answers with the same line.
        await runtime.exec(info.id, ["sh", "-c", f"echo {tag} > /proc/1/fd/1"])
        with monkeypatch.context() as patched:
            patched.setattr(swarm_runtime, "task_logs", _no_log_broker)
            assert tag in [x.line.strip() async for x in runtime.logs(info.id, tail=20)]
        assert tag in [x.line.strip() async for x in without.logs(info.id, tail=20)]
        assert (await _terminal_output(runtime, info.id, ["hostname"])).strip() == container
        with pytest.raises(RivetrError, match="does not answer"):
            await unreachable.exec(info.id, ["hostname"])

        # The same engine behind TLS with client certificates (tcp://, as `dockerd --tlsverify` serves it).
        tls = _tls_files(tmp_path)
        front = TlsFront(
            two_nodes.docker_host.removeprefix("unix://"), tls["ca"], tls["server_cert"], tls["server_key"]
        )
        address = {"url": f"tcp://127.0.0.1:{front.port}", "ca_cert": str(tls["ca"])}
        with_cert = {**address, "client_cert": str(tls["client_cert"]), "client_key": str(tls["client_key"])}
        over_tls = SwarmRuntime(
            engine_env.docker_socket, node_engines={second_node.HOSTNAME: with_cert}, **common
        )
        no_cert = SwarmRuntime(
            engine_env.docker_socket, node_engines={second_node.HOSTNAME: address}, **common
        )
        try:
            result = await over_tls.exec(info.id, ["hostname"])
            assert (result.exit_code, result.output.strip()) == (0, container)
            assert (await _terminal_output(over_tls, info.id, ["hostname"])).strip() == container
            assert engines(await over_tls.nodes())["worker"] == ("reachable", with_cert["url"])
            [worker] = [n for n in await no_cert.nodes() if n.role == "worker"]
            assert worker.engine_status == "unreachable", worker  # the engine asks for a client certificate
            assert str(tls["client_key"]) not in repr(await over_tls.nodes())
        finally:
            await over_tls.close()
            await no_cert.close()
            front.close()

        assert engines(await runtime.nodes()) == {
            "manager": ("local", engine_env.docker_socket),
            "worker": ("reachable", two_nodes.docker_host),
        }
        assert engines(await without.nodes())["worker"] == ("not_configured", None)
        [worker] = [n for n in await unreachable.nodes() if n.role == "worker"]
        assert worker.engine_status == "unreachable" and "nonexistent" in (worker.engine_error or "")
    finally:
        _remove_services(f"rivetr.test={tag}")
        for rt in (runtime, without, unreachable):
            await rt.close()


async def test_the_worker_pulls_with_the_stored_credentials(
    two_nodes: second_node.SecondNode, engine_env: EngineEnv, docker_httpd_image: str
) -> None:
    """A service whose image is in a registry with htpasswd authentication, placed on the WORKER: created with the
    credentials Rivetr stores (X-Registry-Auth, as --with-registry-auth) it runs there; the same image created
    without them (`docker service create` by hand) is refused by the registry on the worker's pull."""
    registry = start_auth_registry()
    port = int(registry.server.rpartition(":")[2])
    # The worker reaches the host's loopback registry through its namespace's forwarder (see second_node.py).
    forwarder = second_node.LoopbackForwarder(second_node.NETNS, port)
    credentials = {
        "username": registry.username,
        "password": registry.password,
        "serveraddress": registry.server,
    }

    async def stored(server: str) -> dict[str, str] | None:
        return credentials if server == registry.server else None

    _worker_active(two_nodes)
    tag = f"nodepull-{uuid.uuid4().hex[:8]}"
    runtime = SwarmRuntime(
        engine_env.docker_socket, registry=registry.server, registry_auth=stored, project_firewall=False
    )
    spec = RunSpec(
        image=docker_httpd_image,
        name=unique_name("authpull"),
        labels={"rivetr.test": tag},
        container_port=HTTPD_PORT,
        placement=["node.role==worker"],
    )
    try:
        reference = await runtime._call(runtime._push, docker_httpd_image, credentials)
        by_hand = unique_name("noauth")
        _docker(
            "service", "create", "--detach", "--name", by_hand, "--label", f"rivetr.test={tag}",
            "--constraint", "node.role==worker", "--restart-condition", "none", reference,
        )  # fmt: skip

        def refused() -> str:
            errors = _docker("service", "ps", "--no-trunc", "--format", "{{.Error}}", by_hand)
            return errors.strip()

        error = _wait("the worker's pull without credentials is refused", refused, timeout=60)
        # The task's error is the run's ("No such image"); the worker's agent logged why its pull failed.
        assert "No such image" in error, error
        service_id = _docker("service", "inspect", "-f", "{{.ID}}", by_hand).strip()
        pulls = [line for line in two_nodes.log_tail(500).splitlines() if f"service.id={service_id}" in line]
        assert any("pulling image failed" in x and "no basic auth credentials" in x for x in pulls), pulls
        assert _containers_of(two_nodes, service_id) == []

        info = await runtime.run(spec)
        assert info.running and info.node_address == second_node.NODE_ADDR
        assert len(_containers_of(two_nodes, info.id)) == 1  # pulled and started on the worker
    finally:
        _remove_services(f"rivetr.test={tag}")
        forwarder.close()
        registry.stop()
        # The tag the push left on the manager's engine (the registry went with its files).
        repository, image_tag = registry_reference(docker_httpd_image, registry.server)
        with contextlib.suppress(RivetrError):
            await runtime._call(runtime._api().remove_image, f"{repository}:{image_tag}")
        await runtime.close()


def test_a_drain_moves_a_single_replica_app_start_first_without_a_crash(
    rivetr: Rivetr, two_nodes: second_node.SecondNode, engine_env: EngineEnv, git_server: Any
) -> None:
    """A drain through Rivetr (``PUT /api/nodes/{id}``) of the node running a single-replica app's only task: the
    task starts on the manager before the worker's stops and the routes follow it in between, so a request
    loop sees no failure; it is a move, not a crash (same service, no restart counted). Then a service with
    restart policy ``no`` whose process exits stays exited (swarm condition ``none``: never restarted)."""
    worker = two_nodes.node_id
    manager = _docker("info", "--format", "{{.Swarm.NodeID}}").strip()
    name = "mover"
    host = f"{name}.e2e.test"
    content = "moved, not crashed\n"
    repo = git_server.create_repo(name, message="v1")
    repo.write("www/index.html", content)
    repo.commit("content")
    # The earlier test left the worker drained: the app's one task goes on the worker (the manager paused).
    _docker("node", "update", "--availability", "active", worker)
    _docker("node", "update", "--availability", "pause", manager)
    try:
        # A project of its own: the default project's network may be a bridge of the docker runtime's tests.
        project = rivetr.api.post("/api/projects", json={"name": "drain-e2e"})
        assert project.status_code == 201, project.text
        app = rivetr.create_app(repo, name, project_id=project.json()["id"])
        dep = rivetr.deploy_and_wait(app["id"])
    finally:
        _docker("node", "update", "--availability", "active", manager)
    rivetr.wait_content(host, content)
    [replica] = _replicas(rivetr, app["id"])
    service = replica["container_id"]
    assert {t["NodeID"] for t in _running_tasks(service)} == {worker}
    assert replica["upstream"].startswith(f"{second_node.NODE_ADDR}:"), replica

    with RequestLoop(rivetr.proxy_port, host, content) as loop:
        ok_before = _wait("requests answered before the drain", lambda: loop.ok > 10 and loop.ok)
        drained = rivetr.api.put(f"/api/nodes/{worker}", json={"availability": "drain"})
        assert drained.status_code == 200, drained.text
        assert drained.json()["availability"] == "drain"

        def on_manager() -> dict[str, Any] | None:
            [now] = _replicas(rivetr, app["id"])
            routed = now["upstream"].startswith("127.0.0.1:") and _route_upstreams(rivetr, host) == {
                now["upstream"]
            }
            return now if routed else None

        after = _wait("the app's task on the manager and routed", on_manager)
        ok_drain = loop.ok
        _wait("requests answered after the drain", lambda: loop.ok > ok_drain + 20)
    print(
        f"single-replica drain: {loop.ok} requests answered ({ok_before} before it), {len(loop.failures)} failed"
    )
    assert loop.failures == [], loop.failures[:5]
    # The same service (a crash restart would have made a new one), one task again, on the manager, routed.
    assert after["container_id"] == service, after
    assert [t["NodeID"] for t in _running_tasks(service)] == [manager]
    spec = json.loads(_docker("service", "inspect", service))[0]["Spec"]
    assert spec["Mode"]["Replicated"]["Replicas"] == 1 and "rivetr.swarm.leaving" not in spec["Labels"]
    assert rivetr.api.get(f"/api/deployments/{dep['id']}").json()["restart_count"] == 0
    assert rivetr.api.get(f"/api/apps/{app['id']}").json()["status"] == "running"
    _docker("node", "update", "--availability", "active", worker)

    # A drain Rivetr does not make (the docker CLI) cannot be start-first: swarm stops the task first and, with
    # restart condition none, starts none. The crash watcher sees it "evicted" and starts it on the other node:
    # still a move (the same service, no restart counted), the routes follow.
    _docker("node", "update", "--availability", "drain", manager)
    try:

        def on_worker() -> dict[str, Any] | None:
            [now] = _replicas(rivetr, app["id"])
            upstream = now["upstream"] or ""
            routed = upstream.startswith(f"{second_node.NODE_ADDR}:") and _route_upstreams(rivetr, host) == {
                upstream
            }
            return now if routed else None

        elsewhere = _wait("the app's task on the worker and routed", on_worker)
        rivetr.wait_content(host, content)
    finally:
        _docker("node", "update", "--availability", "active", manager)
    assert elsewhere["container_id"] == service, elsewhere
    assert rivetr.api.get(f"/api/deployments/{dep['id']}").json()["restart_count"] == 0
    assert rivetr.api.get(f"/api/apps/{app['id']}").json()["status"] == "running"

    # Restart policy "no": the process's own exit is never restarted by swarm (Rivetr's crash watcher decides).
    from rivetr_core.contract import RunSpec

    runtime = SwarmRuntime(engine_env.docker_socket)
    spec_no = RunSpec(
        image="localhost/rivetr-test/busybox:latest",
        name=f"exits-{time.time_ns()}",
        labels={"rivetr.instance": rivetr.instance_id()},
        command=["sh", "-c", "exit 3"],
        restart_policy="no",
        placement=[f"node.id=={manager}"],
    )

    async def run() -> str:
        try:
            return (await runtime.run(spec_no)).id
        finally:
            await runtime.close()

    exited = asyncio.run(run())

    def failed() -> list[dict[str, Any]]:
        tasks = json.loads(_docker("inspect", *_docker("service", "ps", "-q", exited).split()))
        return [t for t in tasks if t["Status"]["State"] == "failed"]

    [task] = _wait("the task failed", failed, timeout=30)
    assert task["Status"]["ContainerStatus"]["ExitCode"] == 3, task["Status"]
    # Swarm would create the replacement task as it sees the failure and start it after the 1 s restart delay.
    time.sleep(1.5)
    assert len(_docker("service", "ps", "-q", exited).split()) == 1, _docker("service", "ps", exited)
