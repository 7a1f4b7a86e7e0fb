"""Cleanup on real engines (Docker and Podman): exactly ``keep`` images per app survive, never one a running
container uses; unreferenced images of the app go; other apps' and other instances' images are untouched."""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta
from pathlib import Path

import pytest

from rivetr_core.contract import BuildFailed, BuildSpec, RunSpec
from rivetr_core.db.engine import new_id, utcnow
from rivetr_core.models.apps import App, Deployment
from tests.support.engines import HTTPD_PORT, SESSION_ID, build_httpd_app, unique_name


async def test_cleanup_keeps_exactly_n_images(
    api, runtime, test_labels: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "rivetr.cleanup")
    cleanup = api.ctx.services["cleanup"]
    instance = await cleanup.instance_id()  # written by the deployment service at start-up
    assert instance
    app = App(name=f"cleanup-{new_id()[:8]}", git_url="git://127.0.0.1:9/x.git", port=HTTPD_PORT)
    owned = {"rivetr.managed": "true", "rivetr.instance": instance, "rivetr.app": app.id}
    repo = f"localhost/rivetr/{unique_name('cleanup')}"
    tags = [f"{repo}:d{i}" for i in range(5)]
    orphan, foreign = f"{repo}:orphan", f"{repo}:other-instance"
    for i, tag in enumerate([*tags, orphan]):
        await build_httpd_app(
            runtime,
            tag,
            tmp_path / f"ctx{i}",
            labels={**test_labels, **owned},
            extra_lines=[f"LABEL version={i}"],
        )
    await build_httpd_app(
        runtime,
        foreign,
        tmp_path / "foreign",
        labels={**test_labels, **owned, "rivetr.instance": "someone-else"},
        extra_lines=["LABEL version=foreign"],
    )
    now = utcnow()
    deployments = [
        Deployment(
            app_id=app.id,
            status="running" if i == 4 else "replaced",
            image=tag,
            created_at=now - timedelta(minutes=10 - i),
        )
        for i, tag in enumerate(tags)
    ]
    app.current_deployment_id = deployments[-1].id
    # A deployment whose build has just tagged its image and has not yet recorded it (it does at start).
    building = Deployment(app_id=app.id, status="building", created_at=now)
    flying = f"{repo}:{building.id}"
    await build_httpd_app(
        runtime,
        flying,
        tmp_path / "flying",
        labels={**test_labels, **owned},
        extra_lines=["LABEL version=new"],
    )
    async with api.ctx.db.session() as session:
        session.add(app)
        await session.commit()
        session.add_all([*deployments, building])
        await session.commit()
    # An old image still used by a running container (e.g. a preview, or a switch in progress).
    container = await runtime.run(
        RunSpec(
            image=tags[1],
            name=unique_name("inuse"),
            container_port=HTTPD_PORT,
            labels={**test_labels, **owned},
        )
    )

    removed = await cleanup.prune_app_images(app.id, keep=2, runtime=runtime)
    assert sorted(removed) == sorted([orphan, tags[0], tags[2]]), caplog.text
    assert sorted(await runtime.list_images(labels=owned)) == sorted([tags[1], tags[3], tags[4], flying])

    await runtime.remove(container.id, force=True)
    removed = await cleanup.prune_app_images(app.id, keep=2, runtime=runtime)
    assert removed == [tags[1]]
    assert sorted(await runtime.list_images(labels=owned)) == sorted(
        [tags[3], tags[4], flying]
    )  # N + in flight
    assert await runtime.image_exists(foreign)  # another Rivetr instance's image: not ours to delete
    assert await cleanup.prune_app_images(app.id, keep=2, runtime=runtime) == []

    async with api.ctx.db.session() as session:
        flags = {d.image: (await session.get(Deployment, d.id)).image_removed for d in deployments}
    assert flags == {tags[0]: True, tags[1]: True, tags[2]: True, tags[3]: False, tags[4]: False}
    assert SESSION_ID  # everything above carries the session label: the fixture removes leftovers


async def _dangling(runtime, labels: dict[str, str]) -> set[str]:  # type: ignore[no-untyped-def]
    """Ids of the engine's dangling images carrying ``labels`` (checked here: podman filters by one)."""
    images = await runtime._call(
        lambda: runtime._api().images(
            filters={"dangling": True, **(runtime.engine_label_filters(labels) or {})}
        )
    )
    return {i["Id"] for i in images if all((i.get("Labels") or {}).get(k) == v for k, v in labels.items())}


async def _build(runtime, tag: str, context: Path, dockerfile: str, labels: dict[str, str]) -> list[str]:  # type: ignore[no-untyped-def]
    context.mkdir(parents=True, exist_ok=True)
    (context / "Dockerfile").write_text(dockerfile)
    return [line async for line in runtime.build(BuildSpec(context_dir=context, tag=tag, labels=labels))]


async def test_cleanup_prunes_only_rivetrs_dangling_images(
    api, runtime, test_labels: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another program's dangling image and build cache survive a cleanup run; this instance's dangling images
    (a superseded tag, a multi-stage build's earlier stage, a failed build's last step) are removed."""
    cleanup = api.ctx.services["cleanup"]
    instance = await cleanup.instance_id()
    assert instance
    word = unique_name("word")
    base = "FROM localhost/rivetr-test/busybox:latest\n"

    # Another program: the same tag built twice from a label-less Dockerfile leaves the first build dangling,
    # and its steps are that program's build cache.
    other = f"localhost/{unique_name('other')}:latest"
    first = f"{base}RUN echo {word} > /a\nRUN echo one > /b\n"
    other_ids: set[str] = set()
    try:
        await _build(runtime, other, tmp_path / "other", first, {})
        first_id = (await runtime._call(lambda: runtime._api().inspect_image(other)))["Id"]
        other_ids.add(first_id)
        await _build(
            runtime, other, tmp_path / "other", f"{base}RUN echo {word} > /a\nRUN echo two > /b\n", {}
        )
        other_ids.add((await runtime._call(lambda: runtime._api().inspect_image(other)))["Id"])
        assert first_id in await _dangling(runtime, {})

        # Rivetr's builds, labelled as the pipeline labels them (plus the test labels, for teardown).
        ours = {**test_labels, "rivetr.instance": instance, "rivetr.app": new_id()}
        tag = f"localhost/rivetr/{unique_name('ours')}"
        for n in (1, 2):
            await _build(
                runtime, f"{tag}:1", tmp_path / f"ours{n}", f"{base}RUN echo {word}-{n} > /a\n", ours
            )
        stages = f"{base.strip()} AS build\nRUN echo {word} > /s\n{base}COPY --from=build /s /s\n"
        await _build(runtime, f"{tag}:stages", tmp_path / "stages", stages, ours)
        with pytest.raises(BuildFailed):
            await _build(
                runtime, f"{tag}:failed", tmp_path / "failed", f"{base}RUN echo {word}\nRUN false\n", ours
            )
        assert len(await _dangling(runtime, ours)) == 3  # superseded tag, earlier stage, failed step

        monkeypatch.setattr(api.ctx, "runtime", lambda: _value(runtime))
        report = await cleanup.run_once()
        assert report["errors"] == [] and report["prune_skipped"] is None
        assert report["pruned_images"] >= 3
        assert await _dangling(runtime, ours) == set()
        assert await runtime.image_exists(f"{tag}:1") and await runtime.image_exists(f"{tag}:stages")
        # The other program's dangling image is still there, and so is its build cache.
        assert await runtime.image_exists(first_id)
        log = await _build(runtime, other, tmp_path / "other", first, {})
        assert sum("Using cache" in line for line in log) == 2, log
    finally:  # the other program's images carry no test label: remove them here
        with contextlib.suppress(Exception):
            other_ids.add((await runtime._call(lambda: runtime._api().inspect_image(other)))["Id"])
        for image in [other, *other_ids]:
            with contextlib.suppress(Exception):
                await runtime.remove_image(image, force=True)


async def _value(value):  # type: ignore[no-untyped-def]
    return value
