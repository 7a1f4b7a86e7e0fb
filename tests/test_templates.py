"""The template catalogue: every built-in template loads and renders; broken ones (bad TOML, a missing key, an
unknown substitution, a name taken) are reported with their source and never stop the rest; generated secrets;
link variables; a plugin adds templates through a real plugin manager; ``GET /api/templates`` and ``rivetr
templates list|show`` against a real ``rivetr serve``; nothing of it loads at server start."""

from __future__ import annotations

import json
import re
import string
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from rivetr_core import hookimpl
from rivetr_core.contract import TemplateRegistration, ValidationFailed
from rivetr_core.managed.catalog import BUILTIN_DIR, Catalog, builtin_sources, catalog_for
from rivetr_core.managed.template import TemplateInvalid, UnknownSubstitution, parse_template
from rivetr_core.plugins import RivetrPluginManager
from tests.support.cli import cli_env, module_server
from tests.support.server import ApiClient, ServerProcess, make_config
from tests.test_cli import run

ROOT = Path(__file__).resolve().parent.parent
DATABASES = {"postgres", "mysql", "mariadb", "redis"}
URL_SAFE = set(string.ascii_letters + string.digits + "-_")

MINIMAL = """
title = "Echo"
category = "app"
description = "An echo server."
docs_url = "https://example.test/echo"
image = "example/echo"
versions = ["2", "1"]
port = 8080

[backup]
method = "volume"
"""


def builtin() -> Catalog:
    return Catalog(builtin_sources())


# ----------------------------------------------------------------------------------------------- built-ins
def test_every_builtin_template_loads_and_renders() -> None:
    catalog = builtin()
    assert catalog.errors == []
    names = {p.stem for p in BUILTIN_DIR.glob("*.toml")}
    assert set(catalog.names()) == names
    assert DATABASES <= names and len(names - DATABASES) >= 6
    for name in names:
        template = catalog.get(name)
        creds = template.generate_credentials()
        env, command = template.render(f"svc-{name}", creds, {})
        leftover = [v for v in [*env.values(), *(command or [])] if re.search(r"\$\{[^}]*\}", v)]
        assert not leftover, (name, leftover)
        assert template.image_ref() == f"{template.image}:{template.versions[0]}"
        if template.category == "database":
            health = template.health_command(creds, env=env)
            assert health and not any("${" in part for part in health), name
            assert template.link is not None and template.rotate is not None, name
            rotate = template.rotate_command(creds, "N3wPassw0rd", env=env)
            assert rotate and any("N3wPassw0rd" in part for part in rotate), name
        else:
            assert template.backup_method == "volume", name


def test_database_contracts() -> None:
    catalog = builtin()
    pg = catalog.get("postgres")
    assert (pg.versions, pg.port, pg.backup_method) == (("16", "15"), 5432, "pg_dumpall")
    creds = {"user": "app", "database": "app", "password": "p" * 32}
    env, command = pg.render("db", creds, {})
    assert env == {
        "POSTGRES_USER": "app",
        "POSTGRES_PASSWORD": "p" * 32,
        "POSTGRES_DB": "app",
        "PGDATA": "/var/lib/postgresql/data",
    }
    assert command is None
    assert pg.health_command(creds) == [
        "pg_isready",
        "-q",
        "-h",
        "127.0.0.1",
        "-p",
        "5432",
        "-U",
        "app",
        "-d",
        "app",
    ]

    mysql = catalog.get("mysql")
    creds = mysql.generate_credentials()
    assert set(creds) == {"user", "database", "password", "MYSQL_ROOT_PASSWORD"}
    env, _ = mysql.render("db", creds, {})
    assert env["MYSQL_ROOT_PASSWORD"] == creds["MYSQL_ROOT_PASSWORD"] != creds["password"]
    assert env["MYSQL_PASSWORD"] == creds["password"]
    assert f"-p{creds['MYSQL_ROOT_PASSWORD']}" in (mysql.health_command(creds) or [])
    assert catalog.get("mariadb").health_command(creds)[0] == "mariadb-admin"  # type: ignore[index]

    redis = catalog.get("redis")
    creds = redis.generate_credentials()
    assert set(creds) == {"password"}
    env, command = redis.render("cache", creds, {})
    assert command is not None and command[:3] == ["redis-server", "--requirepass", creds["password"]]
    # The answer is checked, not redis-cli's exit status (0 even for an error reply).
    health = redis.health_command(creds) or []
    assert health[:2] == ["sh", "-c"] and health[2].endswith("ping | grep -qx PONG")


def test_render_overrides_replace_values_and_references_follow() -> None:
    template = parse_template(
        MINIMAL
        + '\n[env]\nBASE = "http://${name}:${port}"\nCALLBACK = "${BASE}/hook"\nLITERAL = "$${HOME} $HOME"\n',
        name="echo",
    )
    env, _ = template.render("web", {"password": "x" * 32}, {})
    assert env == {"BASE": "http://web:8080", "CALLBACK": "http://web:8080/hook", "LITERAL": "${HOME} $HOME"}
    env, _ = template.render("web", {"password": "x" * 32}, {"BASE": "https://a.example", "EXTRA": "${raw}"})
    # An override is verbatim (no substitution) and what refers to it sees it.
    assert env["CALLBACK"] == "https://a.example/hook" and env["EXTRA"] == "${raw}"
    secret = parse_template(MINIMAL + '\n[env]\nKEY = "${password:20}"\n', name="echo")
    with pytest.raises(UnknownSubstitution):
        secret.render("web", {"password": "x" * 32}, {})  # credentials without the generated KEY


def test_generated_passwords_are_distinct_32_url_safe_characters() -> None:
    mysql = builtin().get("mysql")
    seen = set()
    for _ in range(50):
        creds = mysql.generate_credentials()
        for key in ("password", "MYSQL_ROOT_PASSWORD"):
            value = creds[key]
            assert len(value) == 32 and set(value) <= URL_SAFE, value
            seen.add(value)
    assert len(seen) == 100
    n8n = builtin().get("n8n")
    assert len(n8n.generate_credentials()["N8N_ENCRYPTION_KEY"]) == 48


def test_link_env_for_postgres_and_redis() -> None:
    catalog = builtin()
    pg = catalog.get("postgres")
    creds = {"user": "app", "database": "app", "password": "Secret32"}
    assert pg.link_env("DATABASE", "orders-db", None, creds) == {
        "DATABASE_URL": "postgres://app:Secret32@orders-db:5432/app",
        "DATABASE_HOST": "orders-db",
        "DATABASE_PORT": "5432",
        "DATABASE_USER": "app",
        "DATABASE_PASSWORD": "Secret32",
        "DATABASE_DATABASE": "app",
    }
    assert pg.link_env("ANALYTICS", "stats", 6543, creds)["ANALYTICS_URL"] == (
        "postgres://app:Secret32@stats:6543/app"
    )
    redis = catalog.get("redis")
    assert redis.link_env("REDIS", "cache", None, {"password": "Pw"}) == {
        "REDIS_URL": "redis://:Pw@cache:6379/0",
        "REDIS_HOST": "cache",
        "REDIS_PORT": "6379",
        "REDIS_PASSWORD": "Pw",
    }


def test_unknown_type_and_version_list_what_is_available() -> None:
    catalog = builtin()
    with pytest.raises(ValidationFailed) as exc:
        catalog.get("mongodb")
    assert exc.value.details[0]["field"] == "type" and "postgres" in exc.value.details[0]["available"]
    assert catalog.resolve("postgres") == (catalog.get("postgres"), "16")
    assert catalog.resolve("postgres", "15")[1] == "15"
    with pytest.raises(ValidationFailed) as exc:
        catalog.resolve("postgres", "9")
    assert exc.value.details[0] == {
        "field": "version",
        "message": "No version '9' of postgres (available: 16, 15)",
        "available": ["16", "15"],
    }


def test_search_and_category() -> None:
    catalog = builtin()
    assert [t.name for t in catalog.list(category="database")] == ["mariadb", "mysql", "postgres", "redis"]
    assert [t.name for t in catalog.list("GIT")] == ["gitea"]
    assert {t.name for t in catalog.list("s3")} == {"minio"}
    everything = [t.category for t in catalog.list()]
    assert everything == sorted(everything, key=lambda c: c != "database")  # databases first


# ------------------------------------------------------------------------------------------------- broken
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("title = [", "not valid TOML"),
        (MINIMAL.replace("port = 8080\n", ""), "port: must be the container port"),
        (MINIMAL.replace('versions = ["2", "1"]\n', "versions = []\n"), "versions: must be a non-empty list"),
        (MINIMAL.replace('category = "app"', 'category = "cache"'), "category: must be one of database, app"),
        (
            MINIMAL.replace('image = "example/echo"', 'image = "example/echo:2"'),
            "image: must be an image name",
        ),
        (MINIMAL + '\n[env]\nURL = "${passwrd}"\n', "env.URL: unknown substitution ${passwrd}"),
        (MINIMAL + '\n[env]\nURL = "${user}"\n', "(the template sets no credentials.user)"),
        ('command = ["run", "${password:40}"]\n' + MINIMAL, "only an env value may be ${password:N}"),
        (MINIMAL + '\n[env]\nA = "${B}"\nB = "${A}"\n', "substitutions form a cycle"),
        ('colour = "red"\n' + MINIMAL, "colour: unknown key (a typo?"),
        (MINIMAL.replace('method = "volume"', 'method = "tar"'), "backup.method: must be one of"),
        (MINIMAL + '\n[rotate]\ncommand = ["passwd"]\n', "rotate.command: must use ${new_password}"),
        (MINIMAL.replace('category = "app"', 'category = "database"'), "health: is required"),
        (MINIMAL + '\n[link]\nprefix = "db"\nurl = "x://${host}"\n', "link.prefix: must be upper-case"),
    ],
)
def test_a_broken_template_is_reported_field_by_field(text: str, expected: str) -> None:
    with pytest.raises(TemplateInvalid) as exc:
        parse_template(text, name="echo")
    assert expected in str(exc.value), exc.value.problems


def test_broken_and_duplicate_templates_are_reported_with_their_source(tmp_path: Path) -> None:
    good = tmp_path / "echo.toml"
    good.write_text(MINIMAL)
    missing = tmp_path / "gone.toml"
    catalog = Catalog(
        builtin_sources(),
        [
            ("rivetr-templates-x", TemplateRegistration(name="echo", path=good)),
            ("rivetr-templates-x", TemplateRegistration(name="bad", text='title = "Bad"\n')),
            ("rivetr-templates-x", TemplateRegistration(name="gone", path=missing)),
            ("other-plugin", TemplateRegistration(name="echo", text=MINIMAL)),
            ("other-plugin", TemplateRegistration(name="postgres", text=MINIMAL)),
        ],
    )
    assert "echo" in catalog and catalog.get("echo").source == "rivetr-templates-x"
    assert catalog.get("postgres").source == "builtin"
    problems = {(p.source, p.message.split(";")[0]) for p in catalog.errors}
    assert ("plugin rivetr-templates-x: template 'bad'", "category: is required") in problems
    assert any(s == f"plugin rivetr-templates-x: {missing}" and "cannot read it" in m for s, m in problems)
    assert (
        "plugin other-plugin: template 'echo'",
        f"template name 'echo' is taken by plugin rivetr-templates-x: {good}",
    ) in problems
    assert (
        "plugin other-plugin: template 'postgres'",
        "template name 'postgres' is taken by rivetr_core/templates/postgres.toml",
    ) in problems
    assert len(catalog.errors) == 4 and len(catalog) == len(builtin()) + 1


# ------------------------------------------------------------------------------------------------ plugins
def test_a_plugin_adds_a_template_through_the_plugin_manager(tmp_path: Path) -> None:
    toml = tmp_path / "echo.toml"
    toml.write_text(MINIMAL)

    class EchoTemplates:
        __rivetr_name__ = "templates-echo"

        @staticmethod
        @hookimpl
        def rivetr_templates() -> list[TemplateRegistration]:
            return [TemplateRegistration(name="echo", path=toml)]

    manager = RivetrPluginManager(load_entrypoints=False, plugins=[EchoTemplates])
    catalog = catalog_for(manager)
    assert catalog is catalog_for(manager)  # loaded once
    echo = catalog.get("echo")
    assert (echo.source, echo.versions, echo.port) == ("templates-echo", ("2", "1"), 8080)
    info = next(i for i in manager.plugin_infos() if i.name == "templates-echo")
    assert info.provides == {"template": ["echo"]} and info.hooks == ["rivetr_templates"]


# ----------------------------------------------------------------------------------------------------- API
async def test_api_lists_searches_and_reports_broken_templates(tmp_path: Path) -> None:
    from rivetr_core.app import create_app

    plugin = SimpleNamespace(
        __rivetr_name__="templates-test",
        rivetr_templates=hookimpl(
            lambda: [
                TemplateRegistration(name="echo", text=MINIMAL),
                TemplateRegistration(name="broken", text="title = ["),
            ]
        ),
    )
    app = create_app(make_config(tmp_path), plugins=[plugin], load_entrypoints=False)
    async with app.test_app():
        api = ApiClient(app)
        status, page = await api.get("/api/templates")
        assert status == 200, page
        names = [t["name"] for t in page["items"]]
        assert names[:4] == ["mariadb", "mysql", "postgres", "redis"] and "echo" in names
        assert page["next"] is None
        assert [e["source"] for e in page["errors"]] == ["plugin templates-test: template 'broken'"]
        assert page["errors"][0]["message"].startswith("not valid TOML")
        echo = next(t for t in page["items"] if t["name"] == "echo")
        assert echo == {
            "name": "echo",
            "title": "Echo",
            "category": "app",
            "description": "An echo server.",
            "docs_url": "https://example.test/echo",
            "image": "example/echo",
            "versions": ["2", "1"],
            "default_version": "2",
            "port": 8080,
            "link_prefix": None,
            "backup_method": "volume",
            "source": "templates-test",
        }
        status, page = await api.get("/api/templates?q=redis&category=database")
        assert [t["name"] for t in page["items"]] == ["redis"]
        status, body = await api.get("/api/templates?category=cache")
        assert status == 422 and body["error"]["details"][0]["field"] == "category"
        status, detail = await api.get("/api/templates/mysql")
        assert status == 200
        assert detail["secret_env_keys"] == ["MYSQL_ROOT_PASSWORD"] and detail["rotatable"] is True
        assert detail["volumes"] == [{"name": "data", "path": "/var/lib/mysql"}]
        assert detail["credentials"] == {"user": "app", "database": "app"}
        status, body = await api.get("/api/templates/mongodb")
        assert status == 404 and "postgres" in body["error"]["details"]["available"]
        status, spec = await api.get("/openapi.json")
        assert {"/api/templates", "/api/templates/{name}"} <= set(spec["paths"])


LAZY_PROBE = """
import asyncio, sys, tempfile
from pathlib import Path
from tests.support.server import ApiClient, make_config
from rivetr_core.app import create_app

# (tomllib is not among them: the server's config loader has it loaded already.)
FEATURE = ("rivetr_core.managed.catalog", "rivetr_core.managed.template", "rivetr_core.contract.templates")

async def main():
    app = create_app(make_config(Path(tempfile.mkdtemp())), load_entrypoints=False)
    async with app.test_app():
        print("idle", [m for m in FEATURE if m in sys.modules])
        code, body = await ApiClient(app).get("/api/templates")
        assert code == 200, body
        print("used", [m for m in FEATURE[:2] if m in sys.modules])

asyncio.run(main())
"""


def test_the_catalogue_loads_with_its_first_use_not_at_start() -> None:
    out = subprocess.run(
        [sys.executable, "-c", LAZY_PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "idle []" in out.stdout, out.stdout
    assert "used ['rivetr_core.managed.catalog', 'rivetr_core.managed.template']" in out.stdout, out.stdout


# ----------------------------------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from module_server(tmp_path_factory, "cli-templates")


@pytest.fixture
def env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return cli_env(server, tmp_path)


def test_cli_templates_list_and_show(env: dict[str, str]) -> None:
    result = run(["templates", "list"], env)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["NAME", "TITLE", "CATEGORY"]
    assert [line.split()[0] for line in lines[1:5]] == ["mariadb", "mysql", "postgres", "redis"]
    assert any(line.startswith("uptime-kuma ") for line in lines)
    result = run(["templates", "list", "sql", "--category", "database"], env)
    assert [line.split()[0] for line in result.stdout.splitlines()[1:]] == ["mariadb", "mysql", "postgres"]
    assert run(["templates", "list", "nothing-like-this"], env).stdout.strip() == "no template matches"
    rows: list[dict[str, Any]] = json.loads(run(["templates", "list", "--json"], env).stdout)["items"]
    assert {"postgres", "gitea", "minio"} <= {r["name"] for r in rows}

    result = run(["templates", "show", "postgres"], env)
    assert result.exit_code == 0, result.output
    assert "versions:" in result.stdout and "16, 15 (default 16)" in result.stdout
    assert "DATABASE_URL, DATABASE_HOST, DATABASE_PORT" in result.stdout
    assert "data at /var/lib/postgresql/data" in result.stdout
    result = run(["templates", "show", "mongodb"], env)
    assert result.exit_code != 0 and "Template 'mongodb' not found" in result.stderr
    assert "HTTP 404" in result.stderr
