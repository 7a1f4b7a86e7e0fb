"""The proxy's per-route latency histograms on ``/metrics``: from a real proxy process serving real requests
through the sampler to ``proxy_request_duration_seconds{route,status_class}`` series, and the contract's shape
checks (a malformed answer exports nothing rather than breaking the scrape)."""

from __future__ import annotations

import asyncio
import re

from tests.support.proxy import http_get
from tests.support.server import AUTH


class _ProxyInThread:
    """The real proxy's status, asked from the test's event loop (the proxy client lives on its own loop)."""

    def __init__(self, proxy) -> None:
        self.proxy = proxy

    async def status(self) -> dict:
        return await asyncio.to_thread(self.proxy.status)


async def _scrape(api) -> str:
    return await (await api.client.get("/metrics", headers=AUTH)).get_data(as_text=True)


async def test_histogram_series_after_requests_through_a_real_proxy(
    api, proxy_factory, backend_factory
) -> None:
    b = backend_factory("web")
    p = await asyncio.to_thread(proxy_factory, workers=1)
    await asyncio.to_thread(p.set_route, "web.test", b.address)

    def traffic() -> None:
        for _ in range(4):
            assert http_get(p.port, "web.test")[0] == 200
        assert http_get(p.port, "web.test", "/status?code=503")[0] == 503
        assert http_get(p.port, "web.test", "/sleep?s=0.2")[0] == 200

    await asyncio.to_thread(traffic)
    api.ctx.proxy = _ProxyInThread(p)
    try:
        await api.ctx.services["sampler"].sample_once()
    finally:
        api.ctx.proxy = None
    text = await _scrape(api)
    ok = 'route="web.test",status_class="2xx"'
    assert f"proxy_request_duration_seconds_count{{{ok}}} 5.0" in text
    assert 'proxy_request_duration_seconds_count{route="web.test",status_class="5xx"} 1.0' in text
    buckets = dict(
        re.findall(rf'proxy_request_duration_seconds_bucket\{{le="([^"]+)",{ok}\}} (\S+)', text)
        or re.findall(rf'proxy_request_duration_seconds_bucket\{{{ok},le="([^"]+)"\}} (\S+)', text)
    )
    assert buckets["0.001"] is not None and buckets["+Inf"] == "5.0"
    assert float(buckets["0.1"]) == 4.0  # the 0.2 s request lies above 100 ms, the others below
    assert float(buckets["0.25"]) == 5.0
    total = float(re.search(rf"proxy_request_duration_seconds_sum\{{{ok}\}} (\S+)", text).group(1))
    assert total >= 0.2
    assert 'status_class="4xx"' not in text  # classes with no request have no series


async def test_malformed_latency_answers_export_nothing(api) -> None:
    class OddProxy:
        def __init__(self, latency) -> None:
            self.latency = latency

        async def status(self) -> dict:
            return {"ok": True, "route_stats": {}, "route_latency": self.latency}

    for latency in (
        "nope",
        {"bounds": [0.1], "routes": {"a.test": {"2xx": {"buckets": [1], "sum": 0.1}}}},  # one bucket short
        {"bounds": [0.1], "routes": {"a.test": {"7xx": {"buckets": [1, 1], "sum": 0.1}}}},
        {"bounds": ["x"], "routes": {}},
    ):
        api.ctx.proxy = OddProxy(latency)
        try:
            await api.ctx.services["sampler"].sample_once()
        finally:
            api.ctx.proxy = None
        assert "proxy_request_duration_seconds_count" not in await _scrape(api), latency
