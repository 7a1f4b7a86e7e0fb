"""A restore cut short by a stop of the server (``kill -9`` mid-swap) is settled at the next start: the app's
volume ends holding one whole tree (the restored one when the swap was decided, the old one otherwise), no
staging or old data is left behind, and the restore is recorded failed saying which. Fake runtime (volumes are
temp directories), the real backup worker, a real second start of the app on the same database."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.backup import swap
from rivetr_core.models.volumes import engine_volume_name
from tests.support.server import ApiClient, make_config
from tests.test_backup_swap import Crash, tree


def crash_swap(target: swap.Paths, *, after_commit: bool) -> None:
    """Run the swap and "kill" it just before (or just after) its commit rename."""
    real = os.rename

    def rename(src: Any, dst: Any) -> None:
        if str(dst).endswith(".done") and not after_commit:
            raise Crash("killed before the commit")
        real(src, dst)
        if str(dst).endswith(".done"):
            raise Crash("killed right after the commit")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "rename", rename)
        with pytest.raises(Crash):
            swap.swap([target])


@pytest.mark.parametrize("decided", [False, True], ids=["before-commit", "after-commit"])
async def test_an_interrupted_restore_is_settled_at_the_next_start(tmp_path, fake_runtime, decided):
    from rivetr_core.app import create_app
    from rivetr_core.models.backups import Backup, BackupRestore

    config = make_config(tmp_path / "data")
    first = create_app(config)
    first.extensions["rivetr_ctx"]._runtime = fake_runtime
    async with first.test_app():
        api = ApiClient(first)
        code, app = await api.post("/api/apps", json={"name": "web", "git_url": "https://g.example/a.git"})
        assert code == 201, app
        code, _ = await api.post(f"/api/apps/{app['id']}/volumes", json={"name": "data", "mount_path": "/d"})
        assert code == 201
        live = Path(str(await fake_runtime.volume_path(engine_volume_name(app["id"], "data"), create=True)))
        (live / "old.txt").write_text("old")
        old, new = tree(live), {"new.txt": "new"}
        staged = live / (swap.STAGE_PREFIX + "0123456789abcdef")
        staged.mkdir()
        (staged / "new.txt").write_text("new")
        crash_swap(swap.Paths("data", str(live), "0123456789abcdef"), after_commit=decided)
        ctx = first.extensions["rivetr_ctx"]
        async with ctx.db.session() as session:
            backup = Backup(what="volumes", app_id=app["id"], app_name="web", status="succeeded")
            session.add(backup)
            await session.flush()
            restore = BackupRestore(
                backup_id=backup.id,
                app_id=app["id"],
                status="running",
                volumes=[{"name": "data", "mount_path": "/d", "kind": "volume"}],
            )
            session.add(restore)
            await session.commit()
            restore_id = restore.id

    second = create_app(config)  # the restart
    second.extensions["rivetr_ctx"]._runtime = fake_runtime
    async with second.test_app():
        api = ApiClient(second)
        deadline = asyncio.get_running_loop().time() + 20
        while True:
            code, row = await api.get(f"/api/restores/{restore_id}")
            assert code == 200, row
            if row["status"] != "running":
                break
            assert asyncio.get_running_loop().time() < deadline, row
            await asyncio.sleep(0.05)
    assert row["status"] == "failed" and row["error"].startswith("interrupted by a server restart; ")
    if decided:
        assert "restored data is in place" in row["error"], row
        assert tree(live) == new
    else:
        assert "as it was before the restore" in row["error"], row
        assert tree(live) == old
