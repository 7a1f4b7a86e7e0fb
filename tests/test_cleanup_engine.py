"""Cleanup on real engines (Docker and Podman): exactly ``keep`` images per app survive, never one a running
container uses; unreferenced images of the app go; other apps' and other instances' images are untouched."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from rivetr_core.db.engine import new_id, utcnow
from rivetr_core.models.apps import App, Deployment
from rivetr_core.types import RunSpec
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
    async with api.ctx.db.session() as session:
        session.add(app)
        await session.commit()
        session.add_all(deployments)
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
    assert sorted(await runtime.list_images(labels=owned)) == sorted([tags[1], tags[3], tags[4]])

    await runtime.remove(container.id, force=True)
    removed = await cleanup.prune_app_images(app.id, keep=2, runtime=runtime)
    assert removed == [tags[1]]
    assert sorted(await runtime.list_images(labels=owned)) == [tags[3], tags[4]]  # exactly N
    assert await runtime.image_exists(foreign)  # another Rivetr instance's image: not ours to delete
    assert await cleanup.prune_app_images(app.id, keep=2, runtime=runtime) == []

    async with api.ctx.db.session() as session:
        flags = {d.image: (await session.get(Deployment, d.id)).image_removed for d in deployments}
    assert flags == {tags[0]: True, tags[1]: True, tags[2]: True, tags[3]: False, tags[4]: False}
    assert SESSION_ID  # everything above carries the session label: the fixture removes leftovers
