"""The dashboard's Nodes panel (Server page) and an app's placement setting in Chromium, against a real
``rivetr serve`` on the swarm runtime (this machine's dockerd as a single-node swarm manager): the node is listed
as the leading manager; Drain (confirmed in the dialog) and Activate change its availability through
``PUT /api/nodes/{id}``; its labels are edited in place; the app's Settings tab saves placement constraints, and
a bad one shows the API's error at the field. The node's availability and labels are restored in a ``finally``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect
from rivetr_runtime_swarm.runtime import SwarmRuntime

from tests.support.engines import EngineEnv
from ui.tests.browser_helpers import setup_admin
from ui.tests.conftest import browser, page  # noqa: F401  (the browser fixtures, outside ui/tests)
from ui.tests.test_browser_apps import open_tab

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.docker]


def _wait_api(read: Callable[[], Any], want: Any, what: str, pg: Any) -> None:
    for _ in range(100):
        if read() == want:
            return
        pg.wait_for_timeout(100)
    assert read() == want, what


def test_nodes_panel_and_placement_setting(
    swarm_engine: EngineEnv,
    rivetr_server: Callable[..., Any],
    page: Any,  # noqa: F811
) -> None:
    runtime = SwarmRuntime(swarm_engine.docker_socket, project_firewall=False)
    # The blocking halves of the runtime's methods: Playwright's sync API keeps an event loop in this thread.
    node_id = runtime._swarm_state()["NodeID"]
    before = next(n for n in runtime._nodes() if n.id == node_id)
    server = rivetr_server(
        env={
            "RIVETR_RATE_LIMIT__ENABLED": "false",
            "RIVETR_RUNTIME__RUNTIME_TYPE": "swarm",
            "RIVETR_PLUGINS__RUNTIME_SWARM__SOCKET": swarm_engine.docker_socket,
        }
    )
    client = server.client(timeout=60)

    def node() -> dict[str, Any]:
        return client.get(f"/api/nodes/{node_id}").json()  # type: ignore[no-any-return]

    try:
        setup_admin(page, server.url, server.token)
        page.goto(server.url + "/server#nodes")
        row = page.locator(f"#nodes-list tr[data-node='{node_id}']")
        expect(row).to_contain_text(before.hostname)
        expect(row.locator("[data-role]")).to_contain_text("manager")
        expect(row.locator("[data-role]")).to_contain_text("leader")
        expect(row.locator("[data-availability-badge]")).to_have_text("active")
        # Rivetr reaches the manager's engine itself (exec, terminals, stats and pause of its tasks).
        expect(row.locator("[data-engine-status]")).to_have_attribute("data-engine-status", "local")
        expect(row.locator("[data-engine-status]")).to_contain_text(swarm_engine.docker_socket)

        row.locator("[data-node-drain]").click()
        page.wait_for_selector("#confirm-dialog[open]")
        page.click("#confirm-dialog [data-ok]")
        expect(row).to_have_attribute("data-availability", "drain")
        assert node()["availability"] == "drain"
        row.locator("[data-node-activate]").click()
        expect(row).to_have_attribute("data-availability", "active")
        assert node()["availability"] == "active"

        row.locator("details summary").click()
        row.locator("textarea[name=labels]").fill("rivetr-ui=yes\nzone = test-1")
        row.locator("[data-node-labels] button[type=submit]").click()
        expect(row.locator("[data-labels]")).to_contain_text("rivetr-ui=yes")
        labels = node()["labels"]
        assert labels.get("rivetr-ui") == "yes" and labels.get("zone") == "test-1", labels
        row.locator("details summary").click()
        row.locator("textarea[name=labels]").fill("not a pair")
        row.locator("[data-node-labels] button[type=submit]").click()
        expect(row.locator("[data-error-for=labels]")).to_contain_text("is not KEY=VALUE")

        # ---------------------------------------------------------------- an app's placement setting
        created = client.post(
            "/api/apps",
            json={
                "name": "placed",
                "source": {"kind": "image", "image": swarm_engine.base_image},
                "port": 8000,
            },
        ).json()
        app_id = created["id"]
        page.goto(f"{server.url}/apps/{app_id}")
        open_tab(page, "settings")
        page.fill("#set-placement", "node.labels.rivetr-ui == yes\n\nnode.role==manager")
        page.click("#app-settings button[type=submit]")
        want = ["node.labels.rivetr-ui == yes", "node.role == manager"]
        _wait_api(
            lambda: client.get(f"/api/apps/{app_id}").json()["placement"], want, "placement saved", page
        )
        page.reload()
        open_tab(page, "settings")
        expect(page.locator("#set-placement")).to_have_value("\n".join(want))
        page.fill("#set-placement", "node.nope == 1")
        page.click("#app-settings button[type=submit]")
        expect(page.locator("[data-error-for=placement]")).to_contain_text("unknown attribute 'node.nope'")
        assert client.get(f"/api/apps/{app_id}").json()["placement"] == want
        client.delete(f"/api/apps/{app_id}")
    finally:
        runtime._update_node(node_id, before.availability, before.labels)
