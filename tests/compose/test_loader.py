"""load_compose on well-formed files: the fixtures, profiles, environment precedence, order and hashes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rivetr_core.compose import (
    BuildSpecC,
    DependsOn,
    FileMountSpec,
    HealthSpec,
    MountSpec,
    PortSpec,
    load_compose,
    referenced_variables,
)
from rivetr_core.compose.model import ComposeProject, ServiceSpec

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "compose"
BUSYBOX = "localhost/rivetr-test/busybox:latest"


def load(text: str, **kwargs) -> ComposeProject:
    kwargs.setdefault("env", {})
    return load_compose(textwrap.dedent(text), **kwargs)


def fixture(name: str, **kwargs) -> ComposeProject:
    base = FIXTURES / name
    kwargs.setdefault("env", {})
    return load_compose((base / "compose.yaml").read_text(), base_dir=base, **kwargs)


def test_web_worker_db_fixture() -> None:
    project = fixture("web-worker-db", env={"DB_PASSWORD": "s3cret"})
    assert sorted(project.services) == ["db", "redis", "web", "worker"]
    assert project.start_order() == [["db", "redis"], ["web", "worker"]]
    web, db, redis = project.services["web"], project.services["db"], project.services["redis"]
    assert web.ports == [PortSpec(8080, 0)]
    assert web.environment["DATABASE_URL"] == "postgres://app:s3cret@db:5432/app"
    assert web.depends_on == [DependsOn("db", "service_healthy"), DependsOn("redis", "service_started")]
    assert web.healthcheck is not None and web.healthcheck.test[0] == "CMD-SHELL"
    assert (web.healthcheck.interval, web.healthcheck.timeout, web.healthcheck.retries) == (2, 3, 15)
    assert web.restart == "unless-stopped"
    assert db.environment["POSTGRES_PASSWORD"] == "s3cret"
    assert db.mounts == [MountSpec("volume", "pgdata", "/var/lib/postgresql/data")]
    assert db.memory_limit == 512 * 1024**2
    assert db.healthcheck == HealthSpec(["CMD", "pg_isready", "-U", "app", "-d", "app"], 2, 5, 30, 5)
    assert redis.command == ["redis-server", "--appendonly", "no", "--save", ""]
    assert redis.expose == [6379]
    assert project.volumes == {"pgdata": {}}
    assert project.networks == {"default": {}}
    assert project.dependents("redis") == {"web", "worker"}
    assert project.dependents("web") == set()
    assert project.warnings == []


def test_build_health_fixture() -> None:
    project = fixture("build-health", env={"APP_VERSION": "2.1"})
    app, migrate = project.services["app"], project.services["migrate"]
    assert app.image is None
    assert app.build == BuildSpecC("app", "Dockerfile", {"APP_VERSION": "2.1"}, "runtime")
    assert migrate.build == app.build
    assert app.depends_on == [DependsOn("migrate", "service_completed_successfully")]
    assert app.entrypoint == ["/srv/start.sh"]
    assert app.working_dir == "/srv"
    assert app.ports == [PortSpec(8000, 0)]
    assert app.mounts == [MountSpec("volume", "state", "/state", True), MountSpec("tmpfs", "", "/tmp/cache")]
    assert (app.cpu_limit, app.memory_limit) == (0.5, 128 * 1024**2)
    assert project.start_order() == [["migrate"], ["app"]]


def test_build_args_bare_key_comes_from_the_env() -> None:
    project = fixture("build-health", env={"GREETING": "hi"})
    assert project.services["app"].build.args == {"APP_VERSION": "1.0.0", "GREETING": "hi"}  # type: ignore[union-attr]


def test_profiles_env_fixture_without_profiles() -> None:
    project = fixture("profiles-env")
    assert sorted(project.services) == ["api", "cache"]
    assert project.disabled_services == ["debugger", "toolbox"]
    api, cache = project.services["api"], project.services["cache"]
    # env_file first, then `environment` (which wins); `${VAR-default}`, `${VAR:-}`, `$$`
    assert api.environment == {
        "COMMON_GREETING": "hello from common.env",
        "LOG_LEVEL": "info",
        "EMPTY_VALUE": "",
        "API_TITLE": "Rivetr demo",
        "FEATURE_FLAGS": "",
        "PRICE_TAG": "costs $5",
    }
    assert cache.environment["LOG_LEVEL"] == "overridden-by-environment"
    assert api.labels == {"com.example.stack": "profiles-env"}  # merged from the x-common anchor
    assert api.restart == "on-failure"
    assert api.networks == {"default": [], "backend": ["api-internal"]}
    assert cache.networks == {"backend": []}
    assert project.networks == {"default": {}, "backend": {}}


def test_profiles_enable_services() -> None:
    project = fixture("profiles-env", profiles=["debug"], env={"LOG_LEVEL": "debug", "API_TITLE": ""})
    assert sorted(project.services) == ["api", "cache", "debugger", "toolbox"]
    assert project.disabled_services == []
    assert project.services["api"].environment["LOG_LEVEL"] == "debug"
    assert project.services["api"].environment["API_TITLE"] == ""  # `-` keeps a set-but-empty value
    assert project.start_order() == [["api", "cache", "toolbox"], ["debugger"]]
    only_tools = fixture("profiles-env", profiles=["tools"])
    assert sorted(only_tools.services) == ["api", "cache", "toolbox"]


def test_environment_forms_and_bare_keys() -> None:
    project = load(
        """
        services:
          a:
            image: x
            environment: [ "A=1", "B=", "FROM_ENV", "NOT_IN_ENV", "C=x=y" ]
          b:
            image: x
            environment: { N: 3, F: 1.5, FROM_ENV: , NOT_IN_ENV: }
        """,
        env={"FROM_ENV": "yes"},
    )
    assert project.services["a"].environment == {"A": "1", "B": "", "FROM_ENV": "yes", "C": "x=y"}
    assert project.services["b"].environment == {"N": "3", "F": "1.5", "FROM_ENV": "yes"}


def test_unset_variables_warn_once() -> None:
    project = load("services:\n  a:\n    image: x\n    command: echo $NOPE ${NOPE} ${ALSO}\n")
    assert project.services["a"].command == ["echo"]
    assert project.warnings == [
        "variable NOPE is not set; defaulting to a blank string",
        "variable ALSO is not set; defaulting to a blank string",
    ]


def test_keys_are_not_interpolated_and_top_level_extensions_are_not_either() -> None:
    project = load(
        """
        x-unused: ${REQUIRED:?not needed here}
        services:
          a:
            image: x
            labels:
              $KEY: ${VALUE}
        """,
        env={"VALUE": "v"},
    )
    assert project.services["a"].labels == {"$KEY": "v"}


def test_command_and_entrypoint_forms() -> None:
    project = load(
        """
        services:
          a:
            image: x
            command: sh -c 'echo "hello world"'
            entrypoint: ["/bin/tini", "--"]
            user: "1000:1000"
        """
    )
    a = project.services["a"]
    assert a.command == ["sh", "-c", 'echo "hello world"']
    assert a.entrypoint == ["/bin/tini", "--"]
    assert a.user == "1000:1000"


def test_healthcheck_forms() -> None:
    project = load(
        """
        services:
          a: {image: x, healthcheck: {test: "curl -f localhost", interval: 1m30s, start_period: 500ms}}
          b: {image: x, healthcheck: {disable: true}}
          c: {image: x, healthcheck: {test: ["NONE"]}}
          d: {image: x}
        """
    )
    assert project.services["a"].healthcheck == HealthSpec(["CMD-SHELL", "curl -f localhost"], 90, 30, 3, 0.5)
    assert project.services["b"].healthcheck == HealthSpec(["NONE"])
    assert project.services["c"].healthcheck == HealthSpec(["NONE"])
    assert project.services["d"].healthcheck is None


def test_limits_replicas_and_shorthands() -> None:
    project = load(
        """
        services:
          a:
            image: x
            ports: ["8080"]
            deploy: {replicas: 3, resources: {limits: {cpus: "1.5", memory: 1g}}}
          b: {image: x, cpus: 0.25, mem_limit: 64m}
        """
    )
    a, b = project.services["a"], project.services["b"]
    assert (a.replicas, a.cpu_limit, a.memory_limit) == (3, 1.5, 1024**3)
    assert (b.replicas, b.cpu_limit, b.memory_limit) == (1, 0.25, 64 * 1024**2)


def test_mounts_binds_configs_and_secrets(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "conf").mkdir(parents=True)
    (repo / "conf" / "nginx.conf").write_text("events {}\n")
    (repo / "db_password.txt").write_text("pw\n")
    project = load(
        """
        services:
          a:
            image: x
            volumes:
              - data:/data
              - /var/log/app
              - ./conf:/etc/app:ro
              - /srv/shared/../shared/files:/files
              - type: bind
                source: ./conf
                target: /conf2
                read_only: true
            tmpfs: /run/cache
            configs:
              - nginx
              - source: nginx
                target: /etc/nginx/nginx.conf
            secrets:
              - db_password
              - source: db_password
                target: pw
        volumes:
          data: {labels: {backup: "yes"}}
        configs:
          nginx: {file: ./conf/nginx.conf}
        secrets:
          db_password: {file: db_password.txt}
        """,
        base_dir=repo,
        allowed_bind_roots=[str(tmp_path), "/srv/shared/"],
    )
    a = project.services["a"]
    assert a.mounts == [
        MountSpec("volume", "data", "/data"),
        MountSpec("volume", "", "/var/log/app"),
        MountSpec("bind", str(repo / "conf"), "/etc/app", True),
        MountSpec("bind", "/srv/shared/files", "/files"),
        MountSpec("bind", str(repo / "conf"), "/conf2", True),
        MountSpec("tmpfs", "", "/run/cache"),
    ]
    conf, secret = str(repo / "conf" / "nginx.conf"), str(repo / "db_password.txt")
    assert a.files == [
        FileMountSpec("config", "nginx", conf, "/nginx"),
        FileMountSpec("config", "nginx", conf, "/etc/nginx/nginx.conf"),
        FileMountSpec("secret", "db_password", secret, "/run/secrets/db_password"),
        FileMountSpec("secret", "db_password", secret, "/run/secrets/pw"),
    ]
    assert project.volumes == {"data": {"labels": {"backup": "yes"}}}


def test_start_order_levels_and_dependents() -> None:
    project = load(
        """
        services:
          web: {image: x, depends_on: [api, cache]}
          api: {image: x, depends_on: {db: {condition: service_healthy}, migrate: {condition: service_completed_successfully}}}
          migrate: {image: x, depends_on: [db]}
          db: {image: x}
          cache: {image: x}
          lonely: {image: x}
        """
    )
    assert project.start_order() == [["cache", "db", "lonely"], ["migrate"], ["api"], ["web"]]
    assert project.dependents("db") == {"migrate", "api", "web"}
    assert project.dependents("cache") == {"web"}
    assert project.dependents("lonely") == set()


def test_version_and_name_are_accepted() -> None:
    project = load('version: "3.9"\nname: shop\nservices:\n  a: {image: x}\n')
    assert project.name == "shop"
    assert list(project.services) == ["a"]


def test_config_hash_is_stable_and_sensitive() -> None:
    text = (FIXTURES / "web-worker-db" / "compose.yaml").read_text()
    first = load_compose(text, env={"DB_PASSWORD": "a"}).services["db"]
    again = load_compose(text, env={"DB_PASSWORD": "a"}).services["db"]
    changed = load_compose(text, env={"DB_PASSWORD": "b"}).services["db"]
    assert first.config_hash() == again.config_hash()
    assert len(first.config_hash()) == 64
    assert first.config_hash() != changed.config_hash()
    assert first.config_hash("sha256:1") != first.config_hash("sha256:2")
    # services untouched by the env change keep their hash: a redeploy can leave them running
    redis_a = load_compose(text, env={"DB_PASSWORD": "a"}).services["redis"]
    redis_b = load_compose(text, env={"DB_PASSWORD": "b"}).services["redis"]
    assert redis_a.config_hash() == redis_b.config_hash()
    assert ServiceSpec("x", image="i").config_hash() == ServiceSpec("x", image="i").config_hash()
    assert ServiceSpec("x", image="i").config_hash() != ServiceSpec("x", image="i", replicas=2).config_hash()


def test_referenced_variables() -> None:
    text = (FIXTURES / "web-worker-db" / "compose.yaml").read_text()
    assert referenced_variables(text) == ["DB_PASSWORD"]
    assert referenced_variables((FIXTURES / "profiles-env" / "compose.yaml").read_text()) == [
        "LOG_LEVEL",
        "API_TITLE",
        "FEATURE_FLAGS",
    ]
    assert referenced_variables(
        "x-a: $IGNORED\nservices:\n  a:\n    image: ${REG:-${MIRROR}}/app:$$TAG\n"
    ) == [
        "REG",
        "MIRROR",
    ]


@pytest.mark.parametrize("module", ["yaml", "jsonschema"])
def test_importing_the_package_does_not_import_heavy_libraries(module: str) -> None:
    code = f"import sys, rivetr_core.compose, rivetr_core.compose.loader\nprint({module!r} in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    # and loading a file does import it (the check above is not vacuous)
    code = (
        "import sys\nfrom rivetr_core.compose import load_compose\n"
        "load_compose('services: {a: {image: x}}', env={})\n"
        f"print({module!r} in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
