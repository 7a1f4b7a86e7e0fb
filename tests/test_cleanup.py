"""Cleanup: which images go (pure logic), the disk monitor's thresholds, events and pruning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rivetr_core.cleanup.images import DeployedImage, images_to_remove
from rivetr_core.cleanup.service import CleanupService
from rivetr_core.contract import RivetrEvent
from rivetr_core.testing.fake_runtime import FakeImage, FakeRuntime

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def dep(i: int, image: str | None = None, status: str = "replaced") -> DeployedImage:
    return DeployedImage(f"d{i}", image or f"img:{i}", status, T0 + timedelta(minutes=i))


def test_keeps_the_newest_n_distinct_images() -> None:
    deps = [dep(i) for i in range(6)]
    images = [d.image for d in deps]
    assert images_to_remove(images, deps, keep=3) == ["img:0", "img:1", "img:2"]
    assert images_to_remove(images, deps, keep=10) == []


def test_protects_current_running_and_in_flight_images() -> None:
    deps = [dep(0), dep(1), dep(2), dep(3), dep(4, status="building"), dep(5)]
    images = [d.image for d in deps]
    doomed = images_to_remove(images, deps, keep=2, current_image="img:0", in_use={"img:1"})
    # newest two (img:5, img:4) kept; img:4 is also in flight; img:0 current; img:1 running
    assert doomed == ["img:2", "img:3"]


def test_rollback_reusing_an_image_counts_once_and_orphans_go() -> None:
    deps = [dep(0), dep(1), dep(2), dep(3, image="img:1")]  # d3 rolled back to d1's image
    images = ["img:0", "img:1", "img:2", "localhost/rivetr/app:interrupted"]
    assert images_to_remove(images, deps, keep=2) == ["localhost/rivetr/app:interrupted", "img:0"]


def test_an_image_tagged_for_an_in_flight_deployment_is_kept_before_it_names_it() -> None:
    """A deployment records its image at start, after the build tagged it: a cleanup in between sees an image no
    deployment names. Its tag ends in the in-flight deployment's id, so it stays; a leftover's tag does not."""
    deps = [dep(0), dep(1)]
    images = ["img:0", "img:1", "localhost/rivetr/app:d7", "localhost/rivetr/app:d6"]
    doomed = images_to_remove(images, deps, keep=2, in_flight={"d7"})
    assert doomed == ["localhost/rivetr/app:d6"]
    assert "localhost/rivetr/app:d7" in images_to_remove(images, deps, keep=2)


async def test_disk_monitor_warns_then_prunes(api, monkeypatch) -> None:
    usage = {"value": 50.0}
    service = CleanupService(api.ctx, disk_usage=lambda: usage["value"])
    events: list[RivetrEvent] = []
    monkeypatch.setattr(api.ctx, "emit", events.append)
    runs: list[str] = []

    async def fake_run_once(*, reason: str = "scheduled") -> dict:
        runs.append(reason)
        return {}

    monkeypatch.setattr(service, "run_once", fake_run_once)
    assert await service.check_disk() == "ok" and events == []
    usage["value"] = 90.0  # default warning 85, critical 95
    assert await service.check_disk() == "warning"
    assert await service.check_disk() == "warning"  # not repeated within the hour
    assert [(e.type, e.level, e.data["percent"]) for e in events] == [("disk_warning", "warning", 90.0)]
    assert runs == []
    usage["value"] = 97.0
    assert await service.check_disk() == "critical"
    assert events[-1].level == "failure" and "97%" in events[-1].message
    assert runs == ["disk_critical"]
    usage["value"] = 10.0
    assert await service.check_disk() == "ok"


async def test_run_once_without_engine_reports_and_never_raises(api) -> None:
    service = api.ctx.services["cleanup"]
    report = await service.run_once()
    assert report["images_removed"] == [] and report["reason"] == "scheduled"
    assert isinstance(report["build_logs_removed"], int)


async def test_cleanup_api_runs_now_and_keeps_the_report(api) -> None:
    status, body = await api.get("/api/system/cleanup")
    assert status == 200 and body["report"] is None
    # The [cleanup] settings come with it (the Server page shows them).
    assert body["settings"]["keep_images"] == api.ctx.config.cleanup.keep_images
    status, report = await api.post("/api/system/cleanup")
    assert status == 200 and report["reason"] == "api" and "images_removed" in report
    _, body = await api.get("/api/system/cleanup")
    assert body["report"] == report
    _, audit = await api.get("/api/audit?action=system_api.run_cleanup")
    assert len(audit["items"]) == 1


async def test_audit_entries_past_retention_are_removed(api) -> None:
    from datetime import timedelta

    from rivetr_core.db.engine import utcnow
    from rivetr_core.models.ops import AuditEntry

    old = utcnow() - timedelta(days=api.ctx.config.cleanup.audit_retention_days + 1)
    async with api.ctx.db.session() as session:
        for ts, path in ((old, "/api/old"), (utcnow(), "/api/new")):
            session.add(
                AuditEntry(
                    ts=ts,
                    actor="admin",
                    action="x",
                    method="POST",
                    route=path,
                    path=path,
                    target={},
                    status=200,
                    client="127.0.0.1",
                )
            )
        await session.commit()
    await api.ctx.services["cleanup"].run_once()
    _, body = await api.get("/api/audit?action=x")
    assert [e["path"] for e in body["items"]] == ["/api/new"]


async def test_prune_is_by_instance_label_and_skips_the_build_cache(api, monkeypatch) -> None:
    """Cleanup prunes only this instance's dangling images; the shared build cache only when configured; the
    disk-critical path prunes the same way."""
    runtime = FakeRuntime()

    async def fake_runtime() -> FakeRuntime:
        return runtime

    monkeypatch.setattr(api.ctx, "runtime", fake_runtime)
    service = api.ctx.services["cleanup"]
    instance = await service.instance_id()
    assert instance
    ours = {"rivetr.instance": instance}
    runtime.dangling = {
        "sha256:ours-1": FakeImage("sha256:ours-1", labels=ours),
        "sha256:ours-2": FakeImage("sha256:ours-2", labels={**ours, "rivetr.app": "web"}),
        "sha256:other-program": FakeImage("sha256:other-program"),
    }
    report = await service.run_once()
    assert runtime.calls_to("prune") == [{"labels": ours, "build_cache": False}]
    assert report["pruned_images"] == 2 and list(runtime.dangling) == ["sha256:other-program"]
    critical = CleanupService(api.ctx, disk_usage=lambda: 99.0)
    assert await critical.check_disk() == "critical"
    assert runtime.calls_to("prune")[-1] == {"labels": ours, "build_cache": False}

    monkeypatch.setattr(service, "config", service.config.model_copy(update={"prune_build_cache": True}))
    await service.run_once()
    assert runtime.calls_to("prune")[-1] == {"labels": ours, "build_cache": True}


async def test_prune_waits_while_a_deployment_runs(api, monkeypatch) -> None:
    """A prune deletes a running build's intermediate images: skipped while the pipeline is busy,
    recorded in the report, done on the next round."""
    runtime = FakeRuntime()

    async def fake_runtime() -> FakeRuntime:
        return runtime

    monkeypatch.setattr(api.ctx, "runtime", fake_runtime)
    deployments = api.ctx.services["deployments"]
    busy = {"value": True}
    monkeypatch.setattr(deployments, "busy", lambda: busy["value"])
    service = api.ctx.services["cleanup"]
    labels = {"rivetr.instance": await service.instance_id()}
    runtime.dangling["sha256:left-over"] = FakeImage("sha256:left-over", labels=labels)
    report = await service.run_once()
    assert runtime.calls_to("prune") == [] and report["pruned_images"] == 0
    assert "deployment is running" in report["prune_skipped"]
    assert report["errors"] == [] and "sha256:left-over" in runtime.dangling
    busy["value"] = False
    report = await service.run_once()
    assert len(runtime.calls_to("prune")) == 1 and report["pruned_images"] == 1
    assert report["prune_skipped"] is None and runtime.dangling == {}
