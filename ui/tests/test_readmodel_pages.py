"""The dashboard's pages over core's read-model (no browser): apps, projects, counts and the activity feed show
what the tables hold, secret values never reach a page, and PR preview apps stay out of lists and counts."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from rivetr_core import readmodels
from rivetr_core.app import create_app
from rivetr_core.db import utcnow
from rivetr_core.models.apps import App, Deployment, Project
from rivetr_core.models.git import Preview

from .test_pages import do_setup


@pytest.fixture
async def served(config_factory: Any) -> AsyncIterator[tuple[Any, Any]]:
    app = create_app(config_factory())
    async with app.test_app():
        client = app.test_client()
        await do_setup(client)
        yield client, app.extensions["rivetr_ctx"]


async def _page(client: Any, path: str) -> str:
    response = await client.get(path)
    assert response.status_code == 200, path
    text: str = await response.get_data(as_text=True)
    return text


async def _seed(ctx: Any) -> dict[str, str]:
    """Two projects; in "shop" a running app with a failed deployment 1 h ago and an older succeeded one, a
    stopped app, and the preview app of a PR (which lists and counts leave out)."""
    async with ctx.db.session() as s:
        shop, empty = Project(name="shop"), Project(name="empty", description="nothing here")
        s.add_all([shop, empty])
        await s.flush()
        web = App(name="web", project_id=shop.id, git_url="https://example.com/web.git", status="running")
        worker = App(name="worker", project_id=shop.id, git_url="https://example.com/w.git", status="stopped")
        preview = App(
            name="web-pr-7", project_id=shop.id, git_url="https://example.com/web.git", status="running"
        )
        s.add_all([web, worker, preview])
        await s.flush()
        s.add(
            Preview(
                app_id=web.id, preview_app_id=preview.id, provider="github", pr_number=7, domain="pr7.test"
            )
        )
        s.add(
            Deployment(
                app_id=web.id,
                status="succeeded",
                commit_sha="a" * 40,
                created_at=utcnow() - timedelta(days=2),
            )
        )
        s.add(
            Deployment(
                app_id=web.id,
                status="failed",
                commit_sha="b" * 40,
                error="the health check never answered",
                created_at=utcnow() - timedelta(hours=1),
            )
        )
        await s.commit()
        return {"shop": shop.id, "empty": empty.id, "web": web.id, "preview": preview.id}


async def test_counts_projects_and_activity_come_from_the_tables(served: tuple[Any, Any]) -> None:
    client, ctx = served
    ids = await _seed(ctx)
    stats = await _page(client, "/partials/stats")
    shown = dict(re.findall(r'data-stat="(apps|running|failed)">(\d+)<', stats))
    assert shown == {"apps": "2", "running": "1", "failed": "1"}  # the preview app is neither
    assert "in 2 projects" in stats

    projects = await _page(client, "/projects")
    cards = re.findall(
        r'/projects/(\w+)">\s*<div class="label">[^<]*</div>\s*<div class="value">(\d+)</div>'
        r'\s*<div class="sub">services? · (\d+) running',
        projects,
    )
    assert set(cards) == {
        (ids["shop"], "2", "1"),
        (ids["empty"], "0", "0"),
    }
    assert "nothing here" in projects
    shop = await _page(client, f"/projects/{ids['shop']}")
    assert "worker" in shop and ">web<" in shop and "web-pr-7" not in shop
    assert (await client.get("/projects/nope")).status_code == 404

    feed = await _page(client, "/partials/activity")
    items = re.findall(r'<li data-kind="deployment"[^>]*>.*?</li>', feed, re.S)
    assert len(items) == 2
    assert "failed" in items[0] and "the health check never answered" in items[0] and "bbbbbbbb" in items[0]
    assert f"/apps/{ids['web']}" in items[0] and ">web</a>" in items[0]
    assert "succeeded" in items[1] and "aaaaaaaa" in items[1]
    # The apps list of the home, apart from the deployments: each app with its status (the preview app is not one).
    apps = dict(re.findall(r'<li data-app="([\w-]+)">\s*<span class="badge (\w+)"', feed))
    assert apps == {"web": "running", "worker": "stopped"}, apps


async def test_app_page_by_id_or_name_with_secrets_masked(served: tuple[Any, Any]) -> None:
    client, ctx = served
    ids = await _seed(ctx)
    await ctx.services.apps.update(
        ids["web"], {"git_token": "tok-never-shown", "deploy_strategy": "recreate"}
    )
    await ctx.services.apps.add_env_var(ids["web"], "GREETING", "hello-plain", is_secret=False)
    await ctx.services.apps.add_env_var(ids["web"], "API_KEY", "s3cret-value", is_secret=True)

    by_id = await _page(client, f"/apps/{ids['web']}")
    by_name = await _page(client, "/apps/web")
    assert f'data-app-id="{ids["web"]}"' in by_id and f'data-app-id="{ids["web"]}"' in by_name
    env_tab = await _page(client, f"/apps/{ids['web']}/env")
    for page in (env_tab, await _page(client, f"/apps/{ids['web']}/partials/env")):
        assert "hello-plain" in page and 'data-env-key="API_KEY"' in page
        assert "s3cret-value" not in page
    # Not only the template's mask: a secret value never leaves the read-model.
    assert [
        (v.key, v.is_secret, v.value) for v in await readmodels.env_vars(ctx.db, ctx.secrets, ids["web"])
    ] == [
        ("API_KEY", True, None),
        ("GREETING", False, "hello-plain"),
    ]
    settings = await _page(client, f"/apps/{ids['web']}/settings")
    assert "tok-never-shown" not in settings
    assert "stored, leave empty to keep it" in settings  # the page knows a token is stored, not what it is
    assert re.search(r'<option value="recreate" selected>', settings)
    # The app's timeline: newest first, with the failed deployment's reason.
    timeline = await _page(client, f"/apps/{ids['web']}/partials/deployments")
    assert timeline.index("bbbbbbbb") < timeline.index("aaaaaaaa")
    # A preview app has its page (links from the base app's previews), though lists leave it out.
    assert 'data-app-name="web-pr-7"' in await _page(client, f"/apps/{ids['preview']}")
    assert "web-pr-7" not in await _page(client, "/apps")
    assert (await client.get("/apps/nope/partials/env")).status_code == 404
