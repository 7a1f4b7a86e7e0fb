"""Placement constraints of apps (issue 23): swarm's ``<attribute> ==|!= <value>`` syntax checked by
rivetr_core.placement (unit tests), ``placement`` on the apps API (create, update, show; a 422 naming the field
and the bad entry), the RunSpec carrying it, the deployment log saying once that a single-host runtime ignores
it, the ``/api/nodes`` answer of a runtime without the cluster capability (one ``standalone`` node; a change is
409 ``not_a_cluster``), and the CLI. The swarm side on a real swarm: plugins/runtime-swarm/tests/test_nodes_swarm.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rivetr_core.placement import CONSTRAINT_PATTERN, check_constraint, check_placement
from rivetr_core.testing import FakeRuntime
from tests.support.cli import cli_on_runtime
from tests.support.server import ApiClient, api_on, make_config

IMAGE = "registry.example.com/team/web:1"


@pytest.mark.parametrize(
    ("entry", "normalised"),
    [
        ("node.labels.tier == web", "node.labels.tier == web"),
        ("node.labels.tier==web", "node.labels.tier == web"),
        ("  node.role  !=  worker ", "node.role != worker"),
        ("node.hostname == host-1.example", "node.hostname == host-1.example"),
        ("node.id == 2ivku8v2gvtg4", "node.id == 2ivku8v2gvtg4"),
        ("node.platform.os == linux", "node.platform.os == linux"),
        ("node.platform.arch != aarch64", "node.platform.arch != aarch64"),
        ("engine.labels.com.example.storage == ssd", "engine.labels.com.example.storage == ssd"),
        ("node.labels.zone == eu west 1", "node.labels.zone == eu west 1"),
    ],
)
def test_valid_constraints_are_normalised(entry: str, normalised: str) -> None:
    assert check_constraint(entry) == normalised


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("", "empty"),
        ("node.labels.tier = web", "not"),
        ("node.labels.tier web", "not"),
        ("node.labels.tier ==", "not"),
        ("== web", "not"),
        ("node.name == web", "unknown attribute 'node.name'"),
        ("labels.tier == web", "unknown attribute"),
        ("node.labels. == web", "label key .. is not a label name"),
        ("node.labels.ti er == web", "not"),
        ("node.role == boss", "manager or worker"),
        ("node.labels.a == b == c", "one operator"),
        ("node.labels.a == b\nnode.role == manager", "one line"),
        ("node.labels.a == " + "x" * 400, "longer than"),
    ],
)
def test_bad_constraints_say_why(entry: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check_constraint(entry)


def test_the_list_names_the_bad_entry_caps_and_dedups() -> None:
    assert check_placement(["node.role==manager", "node.role == manager", "node.labels.a != b"]) == [
        "node.role == manager",
        "node.labels.a != b",
    ]
    with pytest.raises(ValueError, match=r"entry 1 'node\.roles == manager': unknown attribute"):
        check_placement(["node.role == manager", "node.roles == manager"])
    with pytest.raises(ValueError, match="at most 20 constraints, got 21"):
        check_placement([f"node.labels.k{i} == v" for i in range(21)])


@pytest.fixture
async def api(tmp_path: Path, fake_runtime: FakeRuntime) -> AsyncIterator[ApiClient]:
    fake_runtime.publish(IMAGE, body="hello")
    async with api_on(fake_runtime, make_config(tmp_path / "data")) as client:
        yield client


async def _create(api: ApiClient, **fields: Any) -> tuple[int, dict[str, Any]]:
    body = {"name": "web", "source": {"kind": "image", "image": IMAGE}, "port": 8080}
    return await api.post("/api/apps", json={**body, **fields})  # type: ignore[no-any-return]


async def test_placement_on_the_apps_api(api: ApiClient) -> None:
    code, body = await _create(api, placement=["node.labels.tier == web", "node.rol == manager"])
    assert code == 422, body
    assert body["error"]["code"] == "validation_error"
    assert "placement" in str(body["error"]["details"]), body
    assert "placement: Entry 1 'node.rol == manager'" in body["error"]["message"], body
    code, body = await _create(api, placement=[f"node.labels.k{i} == v" for i in range(21)])
    assert code == 422 and "placement" in str(body["error"]["details"]), body

    code, app = await _create(api)
    assert code == 201 and app["placement"] == [], app
    code, app = await api.put(f"/api/apps/{app['id']}", json={"placement": ["node.labels.tier==web"]})
    assert code == 200 and app["placement"] == ["node.labels.tier == web"], app
    code, shown = await api.get(f"/api/apps/{app['id']}")
    assert shown["placement"] == ["node.labels.tier == web"]
    code, same = await api.put(f"/api/apps/{app['id']}", json={"replicas": 2})
    assert same["placement"] == ["node.labels.tier == web"], "absent: unchanged"
    code, body = await api.put(f"/api/apps/{app['id']}", json={"placement": None})
    assert code == 422, body
    code, body = await api.put(f"/api/apps/{app['id']}", json={"placement": ["node.role == x"]})
    assert code == 422 and "manager or worker" in body["error"]["message"], body
    code, cleared = await api.put(f"/api/apps/{app['id']}", json={"placement": []})
    assert cleared["placement"] == []


async def test_a_single_host_runtime_gets_the_placement_and_the_log_says_it_is_ignored(
    api: ApiClient, fake_runtime: FakeRuntime
) -> None:
    code, app = await _create(api, placement=["node.labels.tier == web"])
    assert code == 201, app
    code, dep = await api.post(f"/api/apps/{app['id']}/deploy", json={})
    assert code == 202, dep
    async with asyncio.timeout(15):
        while dep["status"] not in ("running", "failed", "cancelled"):
            await asyncio.sleep(0.02)
            code, dep = await api.get(f"/api/deployments/{dep['id']}")
    assert dep["status"] == "running", dep
    specs = [c.spec for c in fake_runtime.containers.values()]
    assert [s.placement for s in specs] == [["node.labels.tier == web"]]
    code, logs = await api.get(f"/api/deployments/{dep['id']}/logs")
    text = str(logs)
    assert text.count("placement (node.labels.tier == web) ignored") == 1, text


async def test_nodes_of_a_runtime_without_a_cluster(api: ApiClient) -> None:
    code, body = await api.get("/api/nodes")
    assert code == 200, body
    assert body["cluster"] is False and body["next"] is None
    (node,) = body["items"]
    assert node["id"] == "local" and node["role"] == "standalone" and node["leader"] is True
    assert node["availability"] == "active" and node["state"] == "ready"
    assert node["cpus"] and node["memory"] and node["running_tasks"] == 0
    assert node["engine_status"] == "local" and node["engine_error"] is None, node
    code, one = await api.get("/api/nodes/local")
    assert code == 200 and one["hostname"] == node["hostname"]
    code, one = await api.get(f"/api/nodes/{node['hostname']}")
    assert code == 200 and one["id"] == "local"
    code, missing = await api.get("/api/nodes/nope")
    assert code == 404 and missing["error"]["code"] == "not_found", missing
    code, refused = await api.put("/api/nodes/local", json={"availability": "drain"})
    assert code == 409 and refused["error"]["code"] == "not_a_cluster", refused
    assert "not a cluster" in refused["error"]["message"]
    code, bad = await api.put("/api/nodes/local", json={"availability": "sleep"})
    assert code == 422 and "availability" in str(bad["error"]["details"]), bad
    code, bad = await api.put("/api/nodes/local", json={"labels": {"bad key": "x"}})
    assert code == 422 and "bad key" in bad["error"]["message"], bad
    code, missing = await api.put("/api/nodes/nope", json={"availability": "drain"})
    assert code == 404, missing


def test_cli_nodes_and_placement_on_a_single_host_runtime(tmp_path: Path, fake_runtime: FakeRuntime) -> None:
    with cli_on_runtime(tmp_path, fake_runtime) as (_url, run):
        listed = run("nodes", "list")
        assert listed.exit_code == 0, listed.output
        assert "standalone" in listed.output and "runs on one engine" in listed.output
        shown = run("nodes", "show", "local")
        assert shown.exit_code == 0 and "standalone" in shown.output, shown.output
        [engine] = [line for line in shown.output.splitlines() if line.startswith("engine status")]
        assert engine.split()[-1] == "local", shown.output  # exec, stats and pause reach its containers
        drained = run("nodes", "drain", "local")
        assert drained.exit_code != 0 and "not a cluster" in drained.output, drained.output

        created = run(
            "apps", "create", "web", "--image", IMAGE, "--placement", "node.labels.tier == web",
            "--placement", "node.role == manager",
        )  # fmt: skip
        assert created.exit_code == 0, created.output
        shown = run("apps", "show", "web")
        assert "node.labels.tier == web; node.role == manager" in shown.output, shown.output
        bad = run("apps", "update", "web", "--placement", "node.tier == web")
        assert bad.exit_code != 0 and "unknown attribute 'node.tier'" in bad.output, bad.output
        cleared = run("apps", "update", "web", "--no-placement")
        assert cleared.exit_code == 0, cleared.output
        assert "placement:" in cleared.output and "node.role" not in cleared.output, cleared.output


@given(st.from_regex(CONSTRAINT_PATTERN).filter(lambda s: len(s) <= 300))
@settings(max_examples=400, deadline=None)
def test_every_string_the_schema_pattern_allows_is_accepted(entry: str) -> None:
    """The API schema states the pattern; a client (or a fuzzer) that follows it is never refused."""
    normalised = check_constraint(entry)
    assert check_constraint(normalised) == normalised


def test_compose_deploy_placement_constraints() -> None:
    """A stack service's ``deploy.placement.constraints`` are checked the same way and kept on the service (the
    stack's RunSpec carries them); a service without any keeps the config hash it had before the field existed,
    so an upgrade does not redeploy every stack service."""
    import dataclasses
    import hashlib
    import json
    import textwrap

    from rivetr_core.compose import load_compose
    from rivetr_core.contract import ValidationFailed

    project = load_compose(
        textwrap.dedent(
            """
            services:
              db:
                image: x
                deploy: {placement: {constraints: ["node.labels.storage==db", "node.role == manager"]}}
              web: {image: x}
            """
        ),
        env={},
    )
    db, web = project.services["db"], project.services["web"]
    assert db.placement == ["node.labels.storage == db", "node.role == manager"]
    assert web.placement == []
    # The fields added after placement (restart_policy limits, init and the stop settings) are left out unset
    # too (ServiceSpec.config_hash).
    later = {
        "placement",
        "restart_max_attempts",
        "restart_delay",
        "restart_window",
        "init",
        "stop_signal",
        "stop_grace_period",
    }
    before = {k: v for k, v in dataclasses.asdict(web).items() if k not in later}
    canonical = json.dumps(
        {"spec": before, "image_id": "i"}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert web.config_hash("i") == hashlib.sha256(canonical.encode()).hexdigest()
    assert db.config_hash("i") != dataclasses.replace(db, placement=[]).config_hash("i")

    for snippet, field, fragment in (
        (
            '{constraints: ["node.tier == db"]}',
            "services.db.deploy.placement.constraints",
            "unknown attribute",
        ),
        (
            '{constraints: "node.role == manager"}',
            "services.db.deploy.placement.constraints",
            "is not of type 'array'",
        ),
        (
            "{preferences: [{spread: node.labels.zone}]}",
            "services.db.deploy.placement.preferences",
            "not supported",
        ),
    ):
        with pytest.raises(ValidationFailed) as refused:
            load_compose(f"services:\n  db:\n    image: x\n    deploy: {{placement: {snippet}}}\n", env={})
        details = refused.value.details
        assert [d["field"] for d in details] == [field], details
        assert fragment in details[0]["message"], details


async def test_a_stack_services_constraints_reach_its_run_spec(
    tmp_path: Path, fake_runtime: FakeRuntime
) -> None:
    from rivetr_core.app import create_app
    from rivetr_core.testing.fake_runtime import FakeImage

    busybox = "localhost/rivetr-test/busybox:latest"
    fake_runtime.images[busybox] = FakeImage(id="sha256:busybox")
    compose = (
        f"services:\n  db:\n    image: {busybox}\n    command: [sleep, '600']\n"
        "    deploy: {placement: {constraints: ['node.labels.storage == db']}}\n"
        f"  web:\n    image: {busybox}\n    command: [sleep, '600']\n"
    )
    app = create_app(make_config(tmp_path / "data"))
    app.extensions["rivetr_ctx"]._runtime = fake_runtime
    async with app.test_app():
        api = ApiClient(app)
        code, stack = await api.post("/api/stacks", json={"name": "placed", "compose": compose})
        assert code == 201, stack
        code, dep = await api.post(f"/api/stacks/{stack['id']}/deploy")
        assert code == 202, dep
        async with asyncio.timeout(15):
            while dep["status"] not in ("running", "failed", "cancelled"):
                await asyncio.sleep(0.02)
                code, dep = await api.get(f"/api/deployments/{dep['id']}")
        assert dep["status"] == "running", dep
    runs = {spec.labels["rivetr.stack.service"]: spec for spec in fake_runtime.runs}
    assert runs["db"].placement == ["node.labels.storage == db"] and runs["web"].placement == []
