"""PostgreSQL as the control-plane database: the Alembic chain from empty, an app served on it, and
``rivetr db copy`` moving a populated SQLite install there (a real private PostgreSQL cluster: postgres_server)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from rivetr_core.cli.main import cli
from rivetr_core.config import ConfigError, load_config
from rivetr_core.db import Database
from rivetr_core.dbfile import DB_FILE, SCHEMA_HEADS
from tests.support.postgres import PostgresServer
from tests.support.server import ApiClient, make_config

pytestmark = pytest.mark.fresh_schema  # real migrations on both databases


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


async def test_migrations_run_on_postgres_from_empty(postgres_server: PostgresServer, tmp_path: Path):
    name = postgres_server.create_database()
    db = Database(postgres_server.url(name))
    try:
        await db.startup()
        assert await db.applied_revisions() == SCHEMA_HEADS
        await db.migrate()  # at every head: nothing to do, no error
    finally:
        await db.close()
    sqlite_db = Database.for_data_dir(tmp_path)
    await sqlite_db.startup()
    await sqlite_db.close()
    on_postgres = set(
        postgres_server.sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema='public'", name
        )
        .strip()
        .splitlines()
    )
    assert on_postgres == _tables(tmp_path / DB_FILE) - {"sqlite_sequence"}


def test_database_url_must_be_postgres_and_is_never_echoed():
    with pytest.raises(ConfigError) as caught:
        load_config(None, database={"url": "mysql://root:hunter2@db/rivetr"})
    assert "database.url" in str(caught.value) and "'mysql'" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    url = load_config(None, database={"url": "postgresql://u:p@h/db"}).database.url
    assert url is not None and url.get_secret_value() == "postgresql+asyncpg://u:p@h/db"
    assert load_config(None, database={"url": ""}).database.url is None  # empty: the embedded SQLite


async def _populate(api: ApiClient) -> str:
    """Two apps with domains in a project, and a secret env var of one; that app's id."""
    code, project = await api.post("/api/projects", json={"name": "shop"})
    assert code == 201, project
    ids = {}
    for name, domain in (("web", "web.example.com"), ("api", "api.example.com")):
        code, body = await api.post(
            "/api/apps",
            json={
                "name": name,
                "git_url": f"https://git.example.com/acme/{name}.git",
                "port": 8000,
                "project_id": project["id"],
                "domains": [domain],
            },
        )
        assert code == 201, body
        ids[name] = body["id"]
    code, body = await api.post(
        f"/api/apps/{ids['web']}/env-vars", json={"key": "SECRET_KEY", "value": "s3cret", "is_secret": True}
    )
    assert code == 201, body
    return ids["web"]


async def _listing(api: ApiClient) -> list[tuple[str, str, list[str]]]:
    code, body = await api.get("/api/apps")
    assert code == 200, body
    return sorted((a["name"], a["project_id"], a["domains"]) for a in body["items"])


async def test_db_copy_moves_a_populated_sqlite_install(postgres_server: PostgresServer, tmp_path: Path):
    from rivetr_core.app import create_app

    data_dir = tmp_path / "data"
    app = create_app(make_config(data_dir, database={"url": ""}))
    async with app.test_app():
        api = ApiClient(app)
        web = await _populate(api)
        before = await _listing(api)
        _, env_before = await api.get(f"/api/apps/{web}/env-vars/SECRET_KEY")
    assert [name for name, _, _ in before] == ["api", "web"]

    target = postgres_server.url(postgres_server.create_database())
    source = f"sqlite:///{data_dir / DB_FILE}"
    # In a thread: the command runs its own event loop, as from a shell.
    result = await asyncio.to_thread(
        CliRunner().invoke, cli, ["db", "copy", "--from", source, "--to", target]
    )
    assert result.exit_code == 0, result.output
    assert "apps: 2" in result.output and "app_domains: 2" in result.output

    # The same data dir (its encryption key) on PostgreSQL: the same apps, domains and secrets.
    app = create_app(make_config(data_dir, database={"url": target}))
    async with app.test_app():
        api = ApiClient(app)
        assert app.extensions["rivetr_ctx"].db.dialect == "postgresql"
        assert await _listing(api) == before
        assert (await api.get(f"/api/apps/{web}/env-vars/SECRET_KEY"))[1] == env_before
        code, body = await api.post(
            "/api/apps", json={"name": "worker", "git_url": "https://git.example.com/w.git", "port": 1}
        )
        assert code == 201, body  # new rows after the copy: keys and sequences do not collide

    again = await asyncio.to_thread(
        CliRunner().invoke, cli, ["db", "copy", "--from", source], env={"RIVETR_DB_COPY_TO": target}
    )
    assert again.exit_code != 0 and "already holds a Rivetr schema" in again.output

    # And back: PostgreSQL into a new SQLite file, the new app included.
    back = tmp_path / "back" / DB_FILE
    back.parent.mkdir()
    result = await asyncio.to_thread(
        CliRunner().invoke, cli, ["db", "copy", "--from", target, "--to", f"sqlite:///{back}"]
    )
    assert result.exit_code == 0, result.output
    with sqlite3.connect(back) as conn:
        names = sorted(r[0] for r in conn.execute("SELECT name FROM apps"))
        domains = sorted(r[0] for r in conn.execute("SELECT domain FROM app_domains"))
    assert names == ["api", "web", "worker"]
    assert domains == ["api.example.com", "web.example.com"]


async def test_large_integers_fit_on_postgres(postgres_server: PostgresServer, tmp_path: Path):
    """Model fields typed ``int`` over BIGINT columns (memory sizes, counters) take values above 2**31, in
    single and multi-row inserts, and
    the managed services' memory limit column is BIGINT there (0028_pg_bigint)."""
    from sqlmodel import select

    from rivetr_core.models.ops import MetricSample

    db = Database(postgres_server.url(postgres_server.create_database()))
    try:
        await db.startup()
        async with db.session() as session:
            # Several rows in one flush: one multi-row INSERT (its VALUES list needs typed parameters).
            session.add_all(
                [
                    MetricSample(scope="host", memory_used=3 * 2**30, net_rx=2**40),
                    MetricSample(scope="app", app_id="a", memory_used=1, containers=2),
                ]
            )
            await session.commit()
            rows = (await session.exec(select(MetricSample).where(MetricSample.memory_used > 2**31))).all()
        assert [(r.memory_used, r.net_rx) for r in rows] == [(3 * 2**30, 2**40)]
    finally:
        await db.close()
    kind = postgres_server.sql(
        "SELECT data_type FROM information_schema.columns WHERE table_name='services' AND column_name='memory_limit'",
        db.engine.url.database or "",
    )
    assert kind.strip() == "bigint"


def test_rivetr_serve_runs_on_postgres(postgres_server: PostgresServer, rivetr_server, tmp_path: Path):
    """``rivetr serve`` with ``[database] url``: the migration child gets the URL, creates the schema on the
    server, and the API keeps its data there (no SQLite file appears in the data dir)."""
    import httpx

    from tests.support.server import AUTH

    name = postgres_server.create_database()
    data_dir = tmp_path / "data"
    server = rivetr_server(
        env={"RIVETR_DATABASE__URL": f"postgresql://postgres@127.0.0.1:{postgres_server.port}/{name}"},
        data_dir=data_dir,
        timeout=60,
    )
    created = httpx.post(
        server.url + "/api/apps",
        json={"name": "web", "git_url": "https://git.example.com/acme/web.git", "port": 8000},
        headers=AUTH,
        timeout=30,
    )
    assert created.status_code == 201, created.text
    listed = httpx.get(server.url + "/api/apps", headers=AUTH, timeout=30).json()
    assert [a["name"] for a in listed["items"]] == ["web"]
    assert postgres_server.sql("SELECT name FROM apps", name).split() == ["web"]
    heads = set(postgres_server.sql("SELECT version_num FROM alembic_version", name).split())
    assert heads == SCHEMA_HEADS
    assert not (data_dir / DB_FILE).exists()
    assert "migrating in a child process failed" not in server.log_path.read_text()


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        ("mysql://root:hunter2@db/rivetr", "sqlite:///{tmp}/b.db", "unsupported database URL scheme 'mysql'"),
        ("sqlite:///{tmp}/missing.db", "sqlite:///{tmp}/b.db", "no database at"),
        ("sqlite:///{tmp}/b.db", "sqlite:///{tmp}/b.db", "same database"),
        ("sqlite:///{tmp}/a.db", "postgresql://u:hunter2@127.0.0.1:1/x", "cannot reach the database"),
    ],
)
def test_db_copy_refuses_bad_input_before_writing(tmp_path: Path, source: str, target: str, message: str):
    source, target = source.format(tmp=tmp_path), target.format(tmp=tmp_path)
    sqlite3.connect(tmp_path / "a.db").close()  # an existing (empty) source file
    result = CliRunner().invoke(cli, ["db", "copy", "--from", source, "--to", target])
    assert result.exit_code != 0 and message in result.output, result.output
    assert "hunter2" not in result.output
    assert not (tmp_path / "b.db").exists()


async def test_an_unreachable_server_is_one_clear_error_without_the_password(postgres_server: PostgresServer):
    from rivetr_core.db import DatabaseUnavailable

    db = Database(f"postgresql+asyncpg://postgres:hunter2@127.0.0.1:{postgres_server.port}/no_such_database")
    try:
        with pytest.raises(DatabaseUnavailable) as caught:
            await db.startup()
    finally:
        await db.close()
    assert "no_such_database" in str(caught.value) and "does not exist" in str(caught.value)
    assert "hunter2" not in str(caught.value)
