"""The tag filter of the services and stacks pages, in process (the apps list's is in test_browser_tags.py):
``?tag=`` narrows the table (every tag given), the chips link to it, the active filter is shown with a clear
control, and the table's polling URL keeps the filter."""

from __future__ import annotations

import re
from typing import Any

from rivetr_core.app import create_app
from tests.support.services import stored_service
from ui.tests.test_pages import do_setup

COMPOSE = "services:\n  web:\n    image: docker.io/library/nginx:1\n"


def _rows(page: str, kind: str) -> list[str]:
    return re.findall(rf'<tr data-{kind}="([^"]+)"', page)


async def test_services_and_stacks_pages_filter_by_tag(config_factory: Any) -> None:
    app = create_app(config_factory())
    ctx = app.extensions["rivetr_ctx"]
    async with app.test_app():
        client = app.test_client()
        csrf = await do_setup(client)
        for name, tags in (("db1", ["data", "prod"]), ("db2", ["data"]), ("q", [])):
            await stored_service(ctx, name, tags=tags)
        for name, tags in (("st1", ["edge"]), ("st2", [])):
            response = await client.post(
                "/api/stacks",
                json={"name": name, "compose": COMPOSE, "tags": tags},
                headers={"X-CSRF-Token": csrf},
            )
            assert response.status_code == 201, await response.get_data(as_text=True)

        page = await (await client.get("/services")).get_data(as_text=True)
        assert _rows(page, "service") == ["db1", "db2", "q"] and 'id="tag-filter"' not in page
        assert 'href="/services?tag=prod"' in page  # a chip links to the filtered list
        page = await (await client.get("/services?tag=data&tag=PROD")).get_data(as_text=True)
        assert _rows(page, "service") == ["db1"]
        assert 'id="tag-filter"' in page and 'href="/services"' in page  # the clear control
        assert 'hx-get="/services?tag=data&amp;tag=prod"' in page  # polling keeps the filter
        page = await (await client.get("/services?tag=nothing")).get_data(as_text=True)
        assert _rows(page, "service") == [] and "No services tagged nothing" in page

        page = await (await client.get("/stacks?tag=edge")).get_data(as_text=True)
        assert _rows(page, "stack") == ["st1"] and 'hx-get="/stacks?tag=edge"' in page
        page = await (await client.get("/stacks")).get_data(as_text=True)
        assert _rows(page, "stack") == ["st1", "st2"] and 'href="/stacks?tag=edge"' in page
