"""Rules that moved from the API's handlers into the services, through the API (in-process app, real SQLite).

Manual routes against app and dashboard routes, a scheduler job that cannot run now, an app's git settings,
a backup schedule's null field and an ACME renewal without ACME: each answer keeps the status, code and field
it had when the handler held the rule.
"""

from __future__ import annotations

from rivetr_core.contract.errors import Conflict
from rivetr_core.routing import RouteService, dashboard_route
from tests.support.server import ApiClient

APP = {"name": "web", "git_url": "https://git.example.com/acme/web.git", "port": 8000}


def _error(body: dict) -> tuple[str, str | None]:
    details = body["error"]["details"]
    field = details[0]["field"] if isinstance(details, list) and details else None
    return body["error"]["code"], field


async def test_manual_routes_leave_app_routes_alone(api: ApiClient) -> None:
    routes = api.ctx.services.routes
    await routes.set("app.example.com", ["127.0.0.1:9"], app_id="someapp")
    status, body = await api.post(
        "/api/routes", json={"domain": "app.example.com", "upstreams": ["127.0.0.1:1"]}
    )
    assert status == 409 and body["error"]["details"] == {"app_id": "someapp"}, body
    status, body = await api.delete("/api/routes/app.example.com")
    assert status == 409 and "remove it from the app" in body["error"]["message"], body
    assert (await routes.get("app.example.com")).upstreams == ["127.0.0.1:9"]  # untouched

    status, body = await api.post(
        "/api/routes", json={"domain": "Manual.Example.com", "upstreams": ["127.0.0.1:1"]}
    )
    assert status == 201 and body["domain"] == "manual.example.com" and body["app_id"] is None, body
    status, _ = await api.delete("/api/routes/MANUAL.example.com")
    assert status == 204 and await routes.get("manual.example.com") is None
    status, body = await api.delete("/api/routes/manual.example.com")
    assert status == 404 and body["error"]["code"] == "not_found"


async def test_the_dashboard_route_cannot_be_removed_as_a_manual_one(api: ApiClient) -> None:
    service = RouteService(api.ctx.db, None, dashboard=dashboard_route("dash.example.com", "127.0.0.1:8080"))
    try:
        await service.remove_manual("dash.example.com")
    except Conflict as exc:
        assert exc.code == "dashboard_domain" and exc.status == 409
    else:
        raise AssertionError("the dashboard's route was removed")


async def test_a_disabled_job_does_not_run_now(api: ApiClient) -> None:
    job = await api.ctx.services.scheduler.ensure_job("test-off", "state_backup", "0 3 * * *", enabled=False)
    status, body = await api.post(f"/api/schedules/{job.id}/run")
    assert status == 409 and body["error"]["code"] == "conflict" and "disabled" in body["error"]["message"]
    status, body = await api.get(f"/api/schedules/{job.id}/runs")
    assert status == 200 and body == {"items": [], "next": None}


async def test_git_settings_rules(api: ApiClient) -> None:
    status, body = await api.get("/api/apps/nope/git-settings")
    assert status == 404 and body["error"]["code"] == "not_found"
    status, app = await api.post("/api/apps", json=APP)
    assert status == 201, app
    path = f"/api/apps/{app['id']}/git-settings"
    status, body = await api.put(path, json={"follow_tags": None})
    assert status == 422 and _error(body) == ("validation_error", "follow_tags"), body
    status, body = await api.put(path, json={"account_id": "nope"})
    assert status == 422 and _error(body) == ("validation_error", "account_id"), body
    status, body = await api.put(
        path, json={"webhook_secret": "s3cret-value", "tag_pattern": "", "repo_full_name": "/acme/web/"}
    )
    assert status == 200, body
    assert body["has_webhook_secret"] is True and body["tag_pattern"] is None
    assert body["repo_full_name"] == "acme/web" and "webhook_secret" not in body
    status, body = await api.put(path, json={"webhook_secret": "", "follow_tags": True})
    assert status == 200 and body["has_webhook_secret"] is False and body["follow_tags"] is True, body
    status, again = await api.get(path)
    assert status == 200 and again == body


async def test_a_backup_schedule_field_cannot_be_set_to_null(api: ApiClient) -> None:
    status, body = await api.put("/api/backup-schedules/nope", json={"cron": None})
    assert status == 422 and _error(body) == ("validation_error", "cron"), body
    status, body = await api.put("/api/backup-schedules/nope", json={"cron": "0 4 * * *"})
    assert status == 404, body


async def test_renewing_needs_acme(api: ApiClient) -> None:
    await api.ctx.services.certificates.store.ensure_acme("acme.example.com")
    status, body = await api.post("/api/certificates/acme.example.com/renew")
    assert status == 409 and body["error"]["code"] == "acme_disabled", body
    status, body = await api.post("/api/certificates/not a host/renew")
    assert status == 404 and body["error"]["code"] == "not_found", body


async def test_a_volume_field_cannot_be_set_to_null(api: ApiClient) -> None:
    # Found by the fuzzer: a null mount path reached the path checks and answered 500.
    status, app = await api.post("/api/apps", json=APP)
    assert status == 201, app
    status, volume = await api.post(
        f"/api/apps/{app['id']}/volumes", json={"name": "data", "mount_path": "/data"}
    )
    assert status == 201, volume
    for field in ("mount_path", "name", "read_only"):
        status, body = await api.put(f"/api/apps/{app['id']}/volumes/{volume['id']}", json={field: None})
        assert status == 422 and _error(body) == ("validation_error", field), body
    status, same = await api.get(f"/api/apps/{app['id']}/volumes/{volume['id']}")
    assert status == 200 and same["mount_path"] == "/data" and same["read_only"] is False


async def test_a_whole_float_is_a_whole_number_in_a_health_check(api: ApiClient) -> None:
    # JSON Schema's integer (the document's) takes 3.0; the health-check parser refused it (found by the fuzzer).
    status, app = await api.post("/api/apps", json={**APP, "health_check": {"kind": "tcp", "retries": 3.0}})
    assert status == 201 and app["health_check"]["retries"] == 3, app
    assert type(app["health_check"]["retries"]) is int  # stored as the whole number
    status, body = await api.put(
        f"/api/apps/{app['id']}", json={"health_check": {"kind": "tcp", "retries": 2.5}}
    )
    assert status == 422, body
