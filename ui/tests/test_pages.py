"""Dashboard pages in-process (no browser): login guard, CSRF on every form, security headers, assets."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from rivetr_core.app import create_app
from tests.support.server import ADMIN_TOKEN, websocket_outcome

PASSWORD = "correct horse battery"


def csrf_in(body: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', body)
    assert match, "page has no CSRF meta tag"
    return match.group(1)


@pytest.fixture
async def client(config_factory: Any) -> AsyncIterator[Any]:
    app = create_app(config_factory())
    async with app.test_app():
        yield app.test_client()


async def do_setup(client: Any) -> str:
    body = await (await client.get("/setup")).get_data(as_text=True)
    response = await client.post(
        "/setup",
        form={
            "username": "alice",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
            "setup_token": ADMIN_TOKEN,
            "csrf_token": csrf_in(body),
        },
    )
    assert response.status_code == 302
    return csrf_in(await (await client.get("/")).get_data(as_text=True))


async def test_setup_page_needs_the_admin_token(config_factory: Any) -> None:
    """The page asks for the token, says which file holds it, and creates nobody without it."""
    app = create_app(config_factory(auth={"admin_token": None}))
    async with app.test_app():
        client = app.test_client()
        token_file = app.config["RIVETR"].server.data_dir / "admin.token"
        body = await (await client.get("/setup")).get_data(as_text=True)
        assert 'name="setup_token"' in body and str(token_file) in body
        form = {"username": "alice", "password": PASSWORD, "password_confirm": PASSWORD}
        for given, message in (("", "The setup token is required"), ("nope", "Wrong setup token")):
            response = await client.post(
                "/setup", form={**form, "setup_token": given, "csrf_token": csrf_in(body)}
            )
            page = await response.get_data(as_text=True)
            assert response.status_code == 401 and message in page
            assert 'value="nope"' not in page  # a wrong token is not echoed back
            assert await app.extensions["rivetr_ctx"].services["accounts"].setup_required()
        token = token_file.read_text().strip()
        response = await client.post(
            "/setup", form={**form, "setup_token": token, "csrf_token": csrf_in(body)}
        )
        assert response.status_code == 302 and response.headers["Location"] == "/"
        assert not await app.extensions["rivetr_ctx"].services["accounts"].setup_required()


async def test_first_visit_goes_to_setup_then_login(client: Any) -> None:
    response = await client.get("/apps")
    assert response.status_code == 302 and response.headers["Location"] == "/setup"
    await do_setup(client)
    client.cookie_jar.clear()
    response = await client.get("/apps?environment=production")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/apps?environment%3Dproduction"
    assert (await client.get("/setup")).status_code == 302  # setup is gone once a user exists


async def test_htmx_requests_get_a_redirect_header_instead_of_a_page(client: Any) -> None:
    await do_setup(client)
    client.cookie_jar.clear()
    response = await client.get("/partials/stats", headers={"HX-Request": "true"})
    assert response.status_code == 204 and response.headers["HX-Redirect"] == "/login"
    response = await client.get(
        "/partials/stats",
        headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/apps?environment=staging"},
    )
    assert response.headers["HX-Redirect"] == "/login?next=/apps?environment%3Dstaging"


async def test_security_headers_on_pages(client: Any) -> None:
    response = await client.get("/setup")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.get_data(as_text=True)
    assert "<script>" not in body and "onclick=" not in body  # no inline script at all


async def test_forms_without_csrf_are_rejected(client: Any) -> None:
    body = await (await client.get("/setup")).get_data(as_text=True)
    token = csrf_in(body)
    form = {"username": "alice", "password": PASSWORD, "password_confirm": PASSWORD}
    response = await client.post("/setup", form=form)
    assert response.status_code == 403
    assert "CSRF" in await response.get_data(as_text=True)
    response = await client.post("/setup", form={**form, "csrf_token": "x" * 43})
    assert response.status_code == 403
    csrf = await do_setup(client) if token else ""
    assert (await client.post("/logout", form={})).status_code == 403
    assert (await client.get("/")).status_code == 200  # still logged in
    assert (await client.post("/logout", form={"csrf_token": csrf})).status_code == 302
    assert (await client.get("/")).status_code == 302


async def test_wrong_password_shows_an_error(client: Any) -> None:
    await do_setup(client)
    client.cookie_jar.clear()
    body = await (await client.get("/login")).get_data(as_text=True)
    response = await client.post(
        "/login", form={"username": "alice", "password": "nope-nope-nope", "csrf_token": csrf_in(body)}
    )
    assert response.status_code == 401
    assert "Wrong username or password" in await response.get_data(as_text=True)


async def test_login_redirects_only_to_local_paths(client: Any) -> None:
    await do_setup(client)
    client.cookie_jar.clear()
    cases = (
        ("/settings", "/settings"),
        ("https://evil.example/", "/"),
        ("//evil", "/"),
        ("/\\evil.example", "/"),
    )
    for target, expected in cases:
        body = await (await client.get("/login")).get_data(as_text=True)
        response = await client.post(
            f"/login?next={target}",
            form={"username": "alice", "password": PASSWORD, "csrf_token": csrf_in(body)},
        )
        assert response.headers["Location"] == expected
        client.cookie_jar.clear()


async def test_pages_render_for_a_logged_in_user(client: Any) -> None:
    await do_setup(client)
    for path in ("/", "/projects", "/apps", "/apps?environment=staging", "/apps/new", "/settings"):
        response = await client.get(path)
        assert response.status_code == 200, path
    assert (await client.get("/apps/nope")).status_code == 404


async def test_vendor_files_are_allow_listed(client: Any) -> None:
    response = await client.get("/static/vendor/htmx.js")
    assert response.status_code == 200
    assert "htmx" in (await response.get_data(as_text=True))[:2000]
    for name in ("package.json", "..%2Fpackage.json", "htmx.org%2Fdist%2Fhtmx.js"):
        assert (await client.get(f"/static/vendor/{name}")).status_code == 404


async def test_dashboard_websockets_need_session_csrf_and_same_origin(client: Any) -> None:
    csrf = await do_setup(client)
    cookie = next(c for c in client.cookie_jar if c.name == "rivetr_session")
    headers = {"Cookie": f"rivetr_session={cookie.value}", "Host": "localhost", "Origin": "http://localhost"}
    offer = {"subprotocols": ["rivetr.v1", f"rivetr.csrf.{csrf}"]}  # the test client takes them in the scope
    ok = await websocket_outcome(client, "/ws/events", headers=headers, scope_base=offer)
    assert ok == "accepted"
    in_url = await websocket_outcome(client, "/ws/events", headers=headers, query_string={"csrf": csrf})
    assert in_url != "accepted", in_url
    no_csrf = await websocket_outcome(client, "/ws/events", headers=headers)
    assert no_csrf != "accepted", no_csrf
    other_site = {**headers, "Origin": "https://evil.example"}
    assert await websocket_outcome(client, "/ws/events", headers=other_site, scope_base=offer) != "accepted"
    # The core's API WebSockets take the same session credentials through the registered verifier.
    client.cookie_jar.clear()
    no_cookie = {"Host": "localhost", "Origin": "http://localhost"}
    assert await websocket_outcome(client, "/ws/events", headers=no_cookie, scope_base=offer) != "accepted"


async def test_login_form_is_rate_limited_with_a_readable_page(config_factory: Any) -> None:
    app = create_app(config_factory(rate_limit={"enabled": True, "login_per_minute": 2}))
    async with app.test_app():
        client = app.test_client()
        await do_setup(client)
        client.cookie_jar.clear()
        statuses = []
        for _ in range(4):
            body = await (await client.get("/login")).get_data(as_text=True)
            response = await client.post(
                "/login",
                form={"username": "alice", "password": "wrong-password!", "csrf_token": csrf_in(body)},
            )
            statuses.append(response.status_code)
        assert statuses[-1] == 429 and 401 in statuses
        page = await response.get_data(as_text=True)
        assert response.headers["Retry-After"] and "Too many requests" in page and "<html" in page


async def test_server_page_lists_plugins_with_a_failed_one_and_why(
    config_factory: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_plugin_config import BROKEN_IMPORT, install_dist

    install_dist(tmp_path / "site", "rivetr-acme", "acme-notifier", "rivetr_acme_broken", BROKEN_IMPORT)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    app = create_app(config_factory(plugins={"disable": ["git-gitlab"]}))
    async with app.test_app():
        client = app.test_client()
        await do_setup(client)
        page = await (await client.get("/server")).get_data(as_text=True)
    row = re.search(r'<tr data-plugin="acme-notifier">(.*?)</tr>', page, re.S)
    assert row, "the failed plugin is not listed"
    assert '<span class="badge failed">failed</span>' in row.group(1)
    assert "No module named &#39;acme_sdk&#39;" in row.group(1)
    docker = re.search(r'<tr data-plugin="runtime-docker">(.*?)</tr>', page, re.S)
    assert docker and "runtime <code>docker</code>" in docker.group(1)
    assert '<span class="badge warn">disabled</span>' in page


async def test_service_pages_render_and_the_app_page_has_links_and_release_fields(client: Any) -> None:
    """Managed services' pages: the New menu and nav entry, the catalogue's cards, an empty list, a 404 for an
    unknown service; the app page's Links panel (loaded by htmx) and release-phase fields."""
    csrf = await do_setup(client)
    home = await (await client.get("/")).get_data(as_text=True)
    assert 'href="/services/new"' in home and 'href="/services"' in home
    page = await (await client.get("/services/new")).get_data(as_text=True)
    for name in ("postgres", "mysql", "mariadb", "redis"):
        assert f'data-template="{name}"' in page, name
    assert "exposes this service on <em>every</em> network interface" in page
    listing = await (await client.get("/services")).get_data(as_text=True)
    assert "No services yet" in listing
    assert (await client.get("/services/nope")).status_code == 404
    response = await client.post(
        "/api/apps",
        json={"name": "pages-web", "git_url": "git://127.0.0.1:9/x.git", "port": 8000},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status_code == 201, await response.get_data(as_text=True)
    app_id = (await response.get_json())["id"]
    settings = await (await client.get(f"/apps/{app_id}/settings")).get_data(as_text=True)
    for field in ("release_command", "release_timeout", "post_deploy_command"):
        assert f'name="{field}"' in settings, field
    links_tab = await (await client.get(f"/apps/{app_id}/links")).get_data(as_text=True)
    assert f'hx-get="/apps/{app_id}/partials/links"' in links_tab
    links = await (await client.get(f"/apps/{app_id}/partials/links")).get_data(as_text=True)
    assert "No linked services" in links


async def _json(client: Any, path: str, csrf: str) -> dict[str, Any]:
    response = await client.get(path, headers={"X-CSRF-Token": csrf})
    body: dict[str, Any] = await response.get_json()
    assert response.status_code == 200, body
    return body


async def test_project_page_and_palette_list_services_once_one_exists(
    config_factory: Any, fake_runtime: Any
) -> None:
    """A project page lists its managed services (name to the service page, type, version, status) next to its
    apps and offers to create one in the project; the palette's list names every service. Until a service
    exists neither loads the services feature (idle memory), so the service layer must still be unbuilt.
    A service's page has the app page's CPU/memory graphs, fed from the service's metrics history."""
    from tests.test_services_api import _teach

    _teach(fake_runtime)  # networks and pulls for the fake engine
    app = create_app(config_factory())
    ctx = app.extensions["rivetr_ctx"]
    ctx._runtime = fake_runtime
    async with app.test_app():
        client = app.test_client()
        csrf = await do_setup(client)
        headers = {"X-CSRF-Token": csrf}

        async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = await client.post(path, json=body, headers=headers)
            assert response.status_code == 201, await response.get_data(as_text=True)
            created: dict[str, Any] = await response.get_json()
            return created

        project = await post("/api/projects", {"name": "shop"})
        page = await (await client.get(f"/projects/{project['id']}")).get_data(as_text=True)
        assert "No services in this project" in page and "0 services" in page
        assert f'href="/services/new?project_id={project["id"]}"' in page
        assert await (await client.get("/services/palette.json")).get_json() == {"items": []}
        assert "managed" not in ctx.services.__dict__, "the services feature loaded with no service"

        db = await post("/api/services", {"name": "shopdb", "type": "postgres", "project_id": project["id"]})
        cache = await post("/api/services", {"name": "loose-cache", "type": "redis"})  # in no project
        assert "managed" in ctx.services.__dict__  # what the check above would see had the pages loaded it
        for created in (db, cache):
            deadline = asyncio.get_running_loop().time() + 10
            while (await _json(client, f"/api/services/{created['id']}", csrf))["status"] != "running":
                assert asyncio.get_running_loop().time() < deadline, f"{created['name']} never ran"
                await asyncio.sleep(0.02)

        page = await (await client.get(f"/projects/{project['id']}")).get_data(as_text=True)
        row = re.search(r'<tr data-service="shopdb">(.*?)</tr>', page, re.S)
        assert row, page
        assert f'<a href="/services/{db["id"]}">shopdb</a>' in row.group(1)
        assert "<td>postgres</td>" in row.group(1) and '<td class="mono">16</td>' in row.group(1)
        assert '<span class="badge running" data-service-status>running</span>' in row.group(1)
        assert "loose-cache" not in page and "1 service" in page
        palette = await (await client.get("/services/palette.json")).get_json()
        assert {(s["name"], s["type"], s["status"]) for s in palette["items"]} == {
            ("shopdb", "postgres", "running"),
            ("loose-cache", "redis", "running"),
        }
        # The project's New database / service link preselects it in the create form.
        form = await (await client.get(f"/services/new?project_id={project['id']}")).get_data(as_text=True)
        assert f'<option value="{project["id"]}" selected>shop</option>' in form

        # The service page draws CPU and memory like the app page (the shared panel and script), fed from the
        # service's own metrics history, which answers with the sampler's points.
        service_page = await (await client.get(f"/services/{db['id']}")).get_data(as_text=True)
        history = f"/api/services/{db['id']}/metrics?range=1h"
        panel = re.search(r'<section id="metrics"[^>]*>', service_page)
        assert panel and f'data-metrics-history="{history}"' in panel.group(0), panel
        # No fresh-sample route for a service: its page re-reads the history.
        assert "data-metrics-live" not in panel.group(0)
        for part in (
            'id="cpu-chart"',
            'id="mem-chart"',
            'id="net-chart"',
            "js/metrics_charts.js",
            "uplot.js",
        ):
            assert part in service_page, part
        from rivetr_core.history.sampler import MetricsSampler

        await (ctx.services.get("sampler") or MetricsSampler(ctx)).sample_once()
        metrics = await _json(client, history, csrf)
        assert metrics["app_id"] == db["id"] and metrics["points"], metrics
        # 1 MiB: what the fake reports for a running container.
        assert metrics["points"][-1]["memory_used"] == metrics["latest"]["memory_used"] == 1024 * 1024
        web = await post(
            "/api/apps", {"name": "shop-web", "git_url": "git://127.0.0.1:9/x.git", "port": 8000}
        )
        app_page = await (await client.get(f"/apps/{web['id']}")).get_data(as_text=True)
        assert re.search(r'<section id="metrics"[^>]*data-metrics-live="/apps/\w+/stats.json"', app_page)
        assert app_page.count("js/metrics_charts.js") == 1


async def test_every_page_names_a_favicon_that_is_served(client: Any) -> None:
    """Browsers ask for /favicon.ico unless the page names an icon: without one every page load logged a 404."""
    body = await (await client.get("/setup")).get_data(as_text=True)
    icons = re.findall(r'<link rel="icon" type="image/svg\+xml" href="([^"]+)">', body)
    assert len(icons) == 1, body[:600]
    response = await client.get(icons[0])
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert (await response.get_data(as_text=True)).startswith("<svg")


async def test_a_failing_page_is_a_styled_500_without_the_exception_text(
    client: Any, monkeypatch: Any
) -> None:
    """A bug behind a page shows the dashboard's error page (with the nav, status 500), never a bare error or the
    exception's own text; an API route keeps its JSON error."""
    from rivetr_ui import queries

    await do_setup(client)

    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("secret internals: /var/lib/rivetr/db password=hunter2")

    monkeypatch.setattr(queries, "list_projects", broken)
    response = await client.get("/projects")
    body = await response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong" in body and 'class="nav"' in body
    assert "hunter2" not in body and "RuntimeError" not in body
    # An unknown page is still the 404 page, not a 500.
    assert (await client.get("/apps/nope")).status_code == 404
