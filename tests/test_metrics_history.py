"""Resource history: host samples stored and served, retention folds raw samples into hourly averages."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from rivetr_core.db.engine import utcnow
from rivetr_core.history.query import parse_range
from rivetr_core.models.ops import MetricSample
from tests.support.server import AUTH


async def test_host_sample_is_stored_and_served(api) -> None:
    sampler = api.ctx.services["sampler"]
    await sampler.sample_once()
    await sampler.sample_once()
    status, body = await api.get("/api/system/metrics?range=15m")
    assert status == 200, body
    assert body["points"], body
    point = body["points"][-1]
    assert 0 <= point["cpu_percent"] <= 100 * 64
    assert point["memory_limit"] > point["memory_used"] > 0
    assert 0 < point["disk_percent"] <= 100
    assert body["latest"]["memory_total_bytes"] > 0
    metrics = await (await api.client.get("/metrics", headers=AUTH)).get_data(as_text=True)
    assert "host_memory_total_bytes" in metrics and "rivetr_last_sample_timestamp_seconds" in metrics


async def test_app_metrics_404_for_unknown_app_and_422_for_bad_range(api) -> None:
    status, body = await api.get("/api/apps/nope/metrics?range=1h")
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body = await api.get("/api/system/metrics?range=forever")
    assert status == 422 and "range" in body["error"]["message"]
    status, body = await api.get("/api/system/metrics?range=400d")
    assert status == 422


async def test_app_series_buckets_stored_samples(api) -> None:
    now = utcnow()
    async with api.ctx.db.session() as session:
        for i in range(120):  # one sample every 30 s over the last hour
            session.add(
                MetricSample(
                    ts=now - timedelta(seconds=30 * i),
                    scope="app",
                    app_id="a1",
                    cpu_percent=10.0 if i % 2 else 30.0,
                    memory_used=1000,
                    memory_limit=4000,
                    containers=1,
                )
            )
        await session.commit()
    sampler = api.ctx.services["sampler"]
    from rivetr_core.history.query import series

    points = await series(api.ctx.db, "app", "a1", parse_range("1h"), max_points=30)
    assert 28 <= len(points) <= 31
    assert all(p["memory_used"] == 1000 for p in points)
    assert abs(sum(p["cpu_percent"] for p in points) / len(points) - 20.0) < 2.5
    assert sampler is not None


async def test_compaction_folds_old_raw_samples_into_hourly_averages(api) -> None:
    sampler = api.ctx.services["sampler"]
    now = utcnow().replace(minute=30, second=0, microsecond=0)
    old_hour = now - timedelta(days=8)
    async with api.ctx.db.session() as session:
        for minute, cpu in ((0, 10.0), (20, 20.0), (40, 60.0)):
            session.add(
                MetricSample(
                    ts=old_hour.replace(minute=minute),
                    scope="app",
                    app_id="a1",
                    cpu_percent=cpu,
                    memory_used=300 * (minute + 1),
                    memory_limit=1000,
                )
            )
        session.add(MetricSample(ts=now - timedelta(days=1), scope="app", app_id="a1", cpu_percent=5.0))
        session.add(MetricSample(ts=now - timedelta(days=200), scope="app", app_id="a1", resolution="1h"))
        await session.commit()
    folded, written = await sampler.compact(now)
    assert (folded, written) == (3, 1)
    async with api.ctx.db.session() as session:
        rows = list(
            (
                await session.exec(
                    select(MetricSample).where(MetricSample.app_id == "a1").order_by(MetricSample.ts)
                )
            ).all()
        )
    assert [(r.resolution, round(r.cpu_percent, 2)) for r in rows] == [("1h", 30.0), ("raw", 5.0)]
    hourly = rows[0]
    assert hourly.ts.minute == 0 and hourly.memory_used == (300 + 6300 + 12300) // 3
    assert await sampler.compact(now) == (0, 0)  # idempotent


def test_parse_range() -> None:
    assert parse_range("1h") == timedelta(hours=1)
    assert parse_range("90m") == timedelta(minutes=90)
    assert parse_range("7d") == timedelta(days=7)
    for bad in ("", "0h", "1w", "h1", "367d"):
        try:
            parse_range(bad)
        except ValueError:
            continue
        raise AssertionError(bad)


async def test_certificate_expiry_comes_from_the_certificates_table(api) -> None:
    from datetime import UTC, datetime

    from rivetr_core.models.tls import Certificate

    expires = datetime(2031, 5, 17, 12, 0, tzinfo=UTC)
    async with api.ctx.db.session() as session:
        session.add(Certificate(domain="shop.example.com", source="custom", not_after=expires))
        session.add(Certificate(domain="pending.example.com", source="acme"))  # not issued yet: no series
        await session.commit()
    await api.ctx.services["sampler"].sample_once()
    text = await (await api.client.get("/metrics", headers=AUTH)).get_data(as_text=True)
    line = next(x for x in text.splitlines() if x.startswith("certificate_expiry_timestamp_seconds{"))
    assert line.startswith('certificate_expiry_timestamp_seconds{domain="shop.example.com"} ')
    assert float(line.rsplit(" ", 1)[1]) == expires.timestamp()
    assert "pending.example.com" not in text


async def test_proxy_route_counters_contract(api) -> None:
    """The contract offered to proxy backends: ``status()["route_stats"] = {domain: {"requests": n,
    "upstream_errors": n}}`` (counters since the proxy started) becomes per-route Prometheus counters."""

    class CountingProxy:  # only status() matters to the sampler
        async def status(self) -> dict:
            return {
                "ok": True,
                "route_stats": {
                    "a.example.com": {"requests": 41, "upstream_errors": 2},
                    "junk": "not a dict",
                },
            }

    api.ctx.proxy = CountingProxy()
    try:
        await api.ctx.services["sampler"].sample_once()
    finally:
        api.ctx.proxy = None
    text = await (await api.client.get("/metrics", headers=AUTH)).get_data(as_text=True)
    assert 'proxy_requests_total{domain="a.example.com"} 41.0' in text
    assert 'proxy_upstream_errors_total{domain="a.example.com"} 2.0' in text
    assert "junk" not in text


async def test_sampler_reads_certificate_expiry_and_app_names(api) -> None:
    from datetime import UTC, datetime

    from rivetr_core.models.apps import App
    from rivetr_core.models.tls import Certificate

    not_after = datetime(2033, 5, 18, 3, 33, 20, tzinfo=UTC)
    async with api.ctx.db.session() as session:
        session.add(Certificate(domain="web.example.com", source="custom", not_after=not_after))
        session.add(Certificate(domain="pending.example.com", source="acme"))
        app = App(name="named-app", port=8000, git_url="https://example.com/a.git")
        session.add(app)
        await session.commit()
        app_id = app.id
    sampler = api.ctx.services["sampler"]
    assert await sampler._cert_expiry() == {"web.example.com": not_after.timestamp()}
    assert await sampler._app_names([app_id, "gone"]) == {app_id: "named-app"}
    assert await sampler._app_names([]) == {}
