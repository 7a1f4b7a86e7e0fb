"""Placement through a real ``rivetr serve`` on the swarm runtime: a git app whose placement constraint no node
satisfies fails its deployment at once with an error naming the constraint (swarm alone would leave the task
pending); once the node is labelled through ``PUT /api/nodes/{id}``, the next deployment runs there and serves
through the proxy. The node's labels are restored in a ``finally``."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.conftest import Rivetr

pytestmark = [pytest.mark.slow, pytest.mark.docker]

LABEL = "rivetr-e2e-tier"


def test_a_constraint_no_node_satisfies_fails_the_deploy_then_a_label_lets_it_run(
    swarm_rivetr: Rivetr, git_server: Any
) -> None:
    rivetr = swarm_rivetr
    nodes = rivetr.api.get("/api/nodes").json()
    assert nodes["cluster"] is True, nodes
    node = next(n for n in nodes["items"] if n["leader"])
    try:
        name = "placed-e2e"
        repo = git_server.create_repo(name, message="v1")
        repo.write("www/index.html", "placed\n")
        repo.commit("content")
        project = rivetr.api.post("/api/projects", json={"name": "placement-e2e"})
        assert project.status_code == 201, project.text
        app = rivetr.create_app(
            repo, name, project_id=project.json()["id"], placement=[f"node.labels.{LABEL} == web"]
        )
        assert app["placement"] == [f"node.labels.{LABEL} == web"]

        started = time.monotonic()
        failed = rivetr.wait(rivetr.deploy(app["id"])["id"])
        assert failed["status"] == "failed", failed
        assert "no node of the swarm can run the service" in (failed["error"] or ""), failed
        assert f"node.labels.{LABEL} == web" in failed["error"], failed
        lines = [x["line"] for x in rivetr.api.get(f"/api/deployments/{failed['id']}/logs").json()]
        assert any(f"node.labels.{LABEL} == web" in line for line in lines), lines[-20:]
        print(f"unplaceable deployment failed after {time.monotonic() - started:.1f} s (build included)")

        labelled = rivetr.api.put(
            f"/api/nodes/{node['id']}", json={"labels": {**node["labels"], LABEL: "web"}}
        )
        assert labelled.status_code == 200, labelled.text
        ok = rivetr.deploy_and_wait(app["id"])
        assert ok["status"] == "running", ok
        rivetr.wait_content(f"{name}.e2e.test", "placed\n")
    finally:
        rivetr.api.put(f"/api/nodes/{node['id']}", json={"labels": node["labels"]})
