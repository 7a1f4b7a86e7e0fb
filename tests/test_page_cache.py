"""The app list's page cache renders a page once for the clients that ask for it together: when an entry
expires under load, a burst of identical queries (one per waiting client) made the tail latency."""

from __future__ import annotations

import asyncio
from typing import Any

from rivetr_core import readmodels


async def test_concurrent_requests_for_one_page_share_one_query(api, monkeypatch) -> None:
    for i in range(3):
        code, _ = await api.post(
            "/api/apps", json={"name": f"cached-{i}", "git_url": "https://example.com/r.git"}
        )
        assert code == 201
    calls = 0
    real = readmodels.app_page

    async def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)  # a slow query: the others arrive while it runs
        return await real(*args, **kwargs)

    monkeypatch.setattr(readmodels, "app_page", counting)
    results = await asyncio.gather(*(api.get("/api/apps?limit=2") for _ in range(20)))
    assert {code for code, _ in results} == {200}
    assert len({str(body) for _, body in results}) == 1
    assert [a["name"] for a in results[0][1]["items"]] == ["cached-0", "cached-1"]
    assert calls == 1
    # A write moves the cache on: the next request renders anew and sees it.
    code, _ = await api.post("/api/apps", json={"name": "cached-3", "git_url": "https://example.com/r.git"})
    assert code == 201
    code, body = await api.get("/api/apps?limit=10")
    assert code == 200 and "cached-3" in [a["name"] for a in body["items"]]
    assert calls == 2
