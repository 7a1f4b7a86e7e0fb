"""The data dir and what holds secrets are private to the server's user (issue 14 hole 10): ``data/`` 0700, the
database (and its WAL/SHM files), ``secret.key`` and ``admin.token`` 0600, whatever the umask, and an older,
looser install is tightened at start."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from rivetr_core.app import create_app
from rivetr_core.server import CheckReport, check_data_dir
from tests.support import postgres
from tests.support.server import make_config


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    """A permissive umask, as a careless service manager might set: the modes must not depend on it."""
    old = os.umask(0o002)
    try:
        yield
    finally:
        os.umask(old)


async def test_new_data_dir_and_files_are_private(tmp_path: Path) -> None:
    data = tmp_path / "fresh" / "data"
    config = make_config(data, auth={"admin_token": None})
    app = create_app(config)
    assert mode(data) == 0o700
    async with app.test_app():
        ctx = app.extensions["rivetr_ctx"]
        ctx.secrets.encrypt("touch the key")
        status = await app.test_client().get(
            "/api/apps", headers={"Authorization": f"Bearer {ctx.admin_token}"}
        )
        assert status.status_code == 200
        files = {
            p.name: mode(p) for p in data.iterdir() if p.name.startswith(("rivetr.db", "secret", "admin"))
        }
    if not postgres.enabled():  # RIVETR_TEST_DATABASE=postgres: no database file in the data dir
        assert files.get("rivetr.db") == 0o600, files
    assert files.get("admin.token") == 0o600 and files.get("secret.key") == 0o600, files
    assert all(m == 0o600 for m in files.values()), files  # -wal / -shm too


async def test_an_existing_loose_install_is_tightened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    app = create_app(make_config(data))
    async with app.test_app():
        pass
    os.chmod(data, 0o755)
    sqlite_file = not postgres.enabled()  # RIVETR_TEST_DATABASE=postgres: no database file to loosen
    if sqlite_file:
        os.chmod(data / "rivetr.db", 0o644)
    app = create_app(make_config(data))
    assert mode(data) == 0o700
    async with app.test_app():
        assert not sqlite_file or mode(data / "rivetr.db") == 0o600


def test_serve_check_creates_the_dir_private(tmp_path: Path) -> None:
    report = CheckReport()
    check_data_dir(tmp_path / "a" / "data", report)
    assert not report.errors
    assert mode(tmp_path / "a" / "data") == 0o700
