"""Every kind of compose file Rivetr refuses: one ComposeError (422, ``invalid_compose``) whose details name
the field, the service and where the file says it."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.compose import ComposeError, load_compose
from rivetr_core.compose.yamlfile import MAX_BYTES
from rivetr_core.contract.errors import ValidationFailed

BAD = Path(__file__).resolve().parents[1] / "fixtures" / "compose" / "bad"
NEEDS_REPO = "needs a git repository: a pasted compose file has no build context"


def refuse(text: str, **kwargs: Any) -> ComposeError:
    kwargs.setdefault("env", {})
    with pytest.raises(ComposeError) as caught:
        load_compose(textwrap.dedent(text), **kwargs)
    error = caught.value
    assert error.status == 422 and error.code == "invalid_compose"
    assert isinstance(error, ValidationFailed)
    json.dumps(error.details)  # the API serialises it as is
    return error


def only(error: ComposeError) -> dict[str, Any]:
    assert len(error.details) == 1, error.details
    return error.details[0]


# file, the one detail expected (subset), a fragment of the message
BAD_FILES = [
    ("invalid-yaml.yaml", {"field": None, "line": 4, "column": 4}, "invalid YAML at line 4, column 4"),
    (
        "cycle.yaml",
        {"field": "services.api.depends_on", "service": "api", "line": 4, "column": 5},
        "depends_on cycle: api -> worker -> queue -> api",
    ),
    (
        "unknown-dependency.yaml",
        {"field": "services.web.depends_on", "service": "web", "message": "unknown service 'dbb'", "line": 4},
        "unknown service 'dbb'",
    ),
    (
        "port-clash.yaml",
        {"field": "services.web.ports", "service": "web", "line": 4, "column": 5},
        "port clash: 127.0.0.1:8080/tcp is published by both api and web",
    ),
    (
        "bind-outside-roots.yaml",
        {"field": "services.web.volumes[0]", "service": "web", "line": 5, "column": 9, "host_path": "/etc"},
        "/etc: not under an allowed bind root ([volumes] allowed_bind_roots)",
    ),
    (
        "unset-required-var.yaml",
        {
            "field": "services.db.environment.POSTGRES_PASSWORD",
            "service": "db",
            "variable": "DB_PASSWORD",
            "line": 5,
            "column": 7,
        },
        "required variable DB_PASSWORD is not set: the database password",
    ),
    (
        "undeclared-volume.yaml",
        {"field": "services.db.volumes[0]", "service": "db", "line": 5},
        "volume 'pgdata' is not declared in the top-level 'volumes'",
    ),
    (
        "no-image.yaml",
        {"field": "services.web", "service": "web", "line": 2},
        "needs an 'image' or a 'build'",
    ),
    (
        "disabled-dependency.yaml",
        {"field": "services.web.depends_on", "service": "web"},
        "depends on 'debug', which is disabled by profiles (enable one of: debug)",
    ),
    (
        "replicas-fixed-port.yaml",
        {"field": "services.web.ports", "service": "web"},
        "3 replicas cannot all publish host port 8080",
    ),
    (
        "external-volume.yaml",
        {"field": "volumes.data.external", "line": 8, "column": 5},
        "external volumes are not supported by Rivetr",
    ),
]


@pytest.mark.parametrize(("name", "expected", "fragment"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_fixture(name: str, expected: dict[str, Any], fragment: str) -> None:
    error = refuse((BAD / name).read_text(), allowed_bind_roots=["/srv/data"])
    detail = only(error)
    assert {k: detail.get(k) for k in expected} == expected
    assert fragment in error.message
    if "service" not in expected:
        assert "service" not in detail


def test_every_bad_fixture_is_covered() -> None:
    assert {p.name for p in BAD.glob("*.yaml")} == {b[0] for b in BAD_FILES} | {"unsupported-key.yaml"}


def test_unsupported_keys_are_each_named() -> None:
    error = refuse((BAD / "unsupported-key.yaml").read_text())
    assert [(d["field"], d["service"], d["line"]) for d in error.details] == [
        ("services.web.container_name", "web", 4),
        ("services.web.privileged", "web", 5),
        ("services.web.network_mode", "web", 6),
    ]
    assert {d["message"] for d in error.details} == {"not supported by Rivetr (see docs/compose.md)"}


@pytest.mark.parametrize(
    ("snippet", "field"),
    [
        ("cap_add: [NET_ADMIN]", "services.a.cap_add"),
        ("devices: ['/dev/fuse:/dev/fuse']", "services.a.devices"),
        ("pid: host", "services.a.pid"),
        ("ipc: host", "services.a.ipc"),
        ("links: [b]", "services.a.links"),
        ("external_links: [c]", "services.a.external_links"),
        ("volumes_from: [b]", "services.a.volumes_from"),
        ("extends: {service: b}", "services.a.extends"),
        ("hostname: a", "services.a.hostname"),
        ("deploy: {update_config: {parallelism: 2}}", "services.a.deploy.update_config"),
        ("deploy: {resources: {reservations: {memory: 1g}}}", "services.a.deploy.resources.reservations"),
        ("build: {context: ., cache_from: [x]}", "services.a.build.cache_from"),
        (
            "volumes: [{type: volume, source: v, target: /v, volume: {nocopy: true}}]",
            "services.a.volumes[0].volume",
        ),
        ("volumes: [{type: npipe, source: x, target: /x}]", "services.a.volumes[0].type"),
        ("networks: {default: {ipv4_address: 10.0.0.5}}", "services.a.networks.default.ipv4_address"),
        ("restart: on-failure:3", "services.a.restart"),
    ],
)
def test_unsupported_service_keys(snippet: str, field: str) -> None:
    text = f"services:\n  a:\n    image: x\n    {snippet}\n  b: {{image: x}}\nvolumes: {{v: }}\nsecrets: {{s: {{file: ./s}}}}\n"
    error = refuse(text)
    assert [d["field"] for d in error.details] == [field]
    assert error.details[0]["service"] == "a"
    assert error.details[0]["line"] == 4


@pytest.mark.parametrize(
    ("top", "field", "fragment"),
    [
        ("networks: {n: {external: true}}", "networks.n.external", "external networks"),
        ("networks: {n: {driver: overlay}}", "networks.n.driver", "only the 'bridge' driver"),
        ("networks: {n: {ipam: {driver: default}}}", "networks.n.ipam", "not supported"),
        ("volumes: {v: {name: shared}}", "volumes.v.name", "not supported"),
        ("volumes: {v: {driver: nfs}}", "volumes.v.driver", "only the 'local' driver"),
        ("configs: {c: {external: true}}", "configs.c.external", "external configs"),
        ("secrets: {s: {external: true}}", "secrets.s.external", "external secrets"),
        ("x-anything: {whatever: [1, 2]}\nfoo: 1", "foo", "unknown key"),
    ],
)
def test_unsupported_top_level(top: str, field: str, fragment: str) -> None:
    error = refuse(f"services:\n  a: {{image: x}}\n{top}\n")
    assert [d["field"] for d in error.details] == [field]
    assert fragment in error.details[0]["message"]


def test_schema_errors_name_the_field() -> None:
    error = refuse(
        """
        services:
          web:
            imag: nginx
            ports: "8080:80"
          Bad.Name!: {image: x}
          db:
            image: x
            depends_on: {web: {condition: service_ready}}
        """
    )
    fields = {d["field"]: d for d in error.details}
    assert fields["services.web.imag"]["message"] == "unknown key (not in the Compose Specification)"
    assert fields["services.web.imag"]["line"] == 4
    assert "is not of type 'array'" in fields["services.web.ports"]["message"]
    assert "invalid name 'Bad.Name!'" in fields["services.Bad.Name!"]["message"]
    assert "service_ready" in fields["services.db.depends_on.web.condition"]["message"]
    assert fields["services.db.depends_on.web.condition"]["service"] == "db"
    assert "(and 1 more)" in error.message


def test_service_names_must_be_dns_labels() -> None:
    detail = only(refuse("services:\n  Web_App: {image: x}\n"))
    assert detail["field"] == "services.Web_App"
    assert "DNS alias" in detail["message"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("- a\n- b\n", "must be a mapping"),
        ("just text\n", "must be a mapping"),
        ("", "is empty"),
        ("# only a comment\n", "is empty"),
        ("services: {}\n", "defines no services"),
        ("services:\n  a: {image: x}\n  ? [complex, key]\n  : 1\n", "keys must be plain strings"),
        ("services:\n  a:\n    image: x\n    labels: {1: one}\n", "key 1 must be a string"),
    ],
)
def test_not_a_compose_mapping(text: str, fragment: str) -> None:
    assert fragment in refuse(text).message


def test_oversize_text_is_refused_before_parsing() -> None:
    text = "services:\n  a: {image: x}\n" + "#" * MAX_BYTES
    assert "larger than 1024 KiB" in refuse(text).message


def test_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    lines.append("services: {s: {image: x, command: *a8}}")
    error = refuse("\n".join(lines) + "\n")
    assert "more than 100000 YAML nodes" in error.message


def test_recursive_alias_is_refused() -> None:
    error = refuse("x-loop: &loop [*loop]\nservices: {a: {image: x}}\n")
    assert "nests deeper than 64 levels (or an alias refers to itself)" in error.message


def test_deep_nesting_is_refused() -> None:
    assert "nests deeper than 64 levels" in refuse("services: " + "[" * 100 + "]" * 100 + "\n").message


def test_python_tags_are_not_constructed() -> None:
    error = refuse("services:\n  a:\n    image: !!python/object/apply:os.system ['true']\n")
    assert error.details[0]["line"] == 3
    assert "could not determine a constructor" in error.message


def test_invalid_interpolation_is_named() -> None:
    detail = only(refuse("services:\n  a:\n    image: x\n    command: echo $ 5\n"))
    assert detail["field"] == "services.a.command"
    assert "invalid interpolation format" in detail["message"]
    assert detail["line"] == 4


def test_pasted_file_cannot_use_the_repository() -> None:
    error = refuse(
        """
        services:
          a:
            build: .
            env_file: .env
            volumes: ["./data:/data"]
            configs: [c]
        configs:
          c: {file: ./c.conf}
        """,
        allowed_bind_roots=["/"],
    )
    details = {d["field"]: d["message"] for d in error.details}
    assert details == {
        "services.a.build": NEEDS_REPO,
        "services.a.env_file": NEEDS_REPO,
        "services.a.volumes[0]": f"relative bind './data' {NEEDS_REPO}",
        "services.a.configs[0]": f"configs.c.file {NEEDS_REPO}",
    }
    assert {d["service"] for d in error.details} == {"a"}


def test_build_can_be_refused(tmp_path: Path) -> None:
    detail = only(refuse("services:\n  a: {build: .}\n", base_dir=tmp_path, allow_build=False))
    assert detail["field"] == "services.a.build"
    assert "not allowed" in detail["message"]


@pytest.mark.parametrize(
    ("build", "field"),
    [
        ("../outside", "services.a.build"),
        ("{context: /etc}", "services.a.build.context"),
        ("{context: sub/../../..}", "services.a.build.context"),
        ("https://github.com/x/y.git", "services.a.build"),
        ("{context: link}", "services.a.build.context"),
        ("{context: ., dockerfile: ../Dockerfile}", "services.a.build.dockerfile"),
    ],
)
def test_build_context_stays_in_the_repository(tmp_path: Path, build: str, field: str) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    os.symlink("/etc", repo / "link")
    detail = only(refuse(f"services:\n  a:\n    build: {build}\n", base_dir=repo))
    assert detail["field"] == field
    assert detail["service"] == "a"


def test_bind_mounts_disabled_without_roots() -> None:
    detail = only(refuse("services:\n  a:\n    image: x\n    volumes: ['/srv/data:/data']\n"))
    assert (
        detail["message"] == "bind mounts are disabled on this server ([volumes] allowed_bind_roots is empty)"
    )
    assert (detail["field"], detail["service"], detail["line"]) == ("services.a.volumes[0]", "a", 4)


def test_relative_binds_need_an_allowed_root_too(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    text = "services:\n  a:\n    image: x\n    volumes: ['./data:/data']\n"
    detail = only(refuse(text, base_dir=repo, allowed_bind_roots=["/srv"]))
    assert detail["message"] == f"{repo}/data: not under an allowed bind root ([volumes] allowed_bind_roots)"
    assert detail["allowed"] == ["/srv"]
    project = load_compose(text, env={}, base_dir=repo, allowed_bind_roots=[str(repo)])
    assert project.services["a"].mounts[0].source == f"{repo}/data"
    escaping = "services:\n  a:\n    image: x\n    volumes: ['../elsewhere:/data']\n"
    assert (
        "leaves the repository" in only(refuse(escaping, base_dir=repo, allowed_bind_roots=["/"]))["message"]
    )


def test_bind_root_prefix_is_not_a_parent() -> None:
    text = "services:\n  a:\n    image: x\n    volumes: ['/srv/data-other:/d', '/srv/data/../etc:/e']\n"
    error = refuse(text, allowed_bind_roots=["/srv/data"])
    assert [d["host_path"] for d in error.details] == ["/srv/data-other", "/srv/etc"]


@pytest.mark.parametrize(
    ("snippet", "field", "fragment"),
    [
        ("volumes: ['~/data:/data']", "services.a.volumes[0]", "'~' has no meaning"),
        ("volumes: ['v:relative']", "services.a.volumes[0]", "must be absolute"),
        ("volumes: ['v:/']", "services.a.volumes[0]", "container's root"),
        ("volumes: ['v:/d:z']", "services.a.volumes[0]", "mode 'z' is not supported"),
        ("volumes: ['v:/d', 'v:/d/']", "services.a.volumes", "/d is mounted twice"),
        ("networks: [backend]", "services.a.networks.backend", "network 'backend' is not declared"),
        ("configs: [missing]", "services.a.configs[0]", "config 'missing' is not declared"),
        (
            "deploy: {resources: {limits: {memory: lots}}}",
            "services.a.deploy.resources.limits.memory",
            "invalid size",
        ),
        (
            "deploy: {resources: {limits: {cpus: '-1'}}}",
            "services.a.deploy.resources.limits.cpus",
            "CPU amount",
        ),
        ("mem_limit: 1x", "services.a.mem_limit", "invalid size"),
        ("{cpus: 1, deploy: {resources: {limits: {cpus: 2}}}}", "services.a.cpus", "not both"),
        ("deploy: {replicas: 0}", "services.a.deploy.replicas", "between 1 and 100"),
        (
            "healthcheck: {test: [CMD, 'true'], interval: soon}",
            "services.a.healthcheck.interval",
            "invalid duration",
        ),
        ("healthcheck: {interval: 5s}", "services.a.healthcheck.test", "needs a 'test'"),
        ("healthcheck: {test: [echo, hi]}", "services.a.healthcheck.test", "must start with CMD"),
        ("healthcheck: {test: [CMD]}", "services.a.healthcheck.test", "CMD needs a command"),
        ("ports: ['8080:80/sctp']", "services.a.ports[0]", "protocol 'sctp'"),
        ("expose: ['http']", "services.a.expose[0]", "not a port number"),
    ],
)
def test_service_values(snippet: str, field: str, fragment: str) -> None:
    if snippet.startswith("{"):
        body = snippet[1:-1]
        text = f"services:\n  a: {{image: x, {body}}}\nvolumes: {{v: }}\n"
    else:
        text = f"services:\n  a:\n    image: x\n    {snippet}\nvolumes: {{v: }}\n"
    detail = only(refuse(text))
    assert detail["field"] == field
    assert fragment in detail["message"]
    assert detail["service"] == "a"


def test_env_file_must_exist_and_stay_in_the_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (tmp_path / "secret.env").write_text("X=1\n")
    error = refuse(
        "services:\n  a:\n    image: x\n    env_file: [missing.env, ../secret.env]\n", base_dir=repo
    )
    assert [(d["field"], d["message"]) for d in error.details] == [
        ("services.a.env_file[0]", "env file 'missing.env' not found"),
        ("services.a.env_file[1]", "the env file '../secret.env' leaves the repository"),
    ]


def test_env_file_syntax(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("# c\n\nexport A=1\nB = \"two words\"\nC='q'\nFROM_ENV\nMISSING\nD=a=b\n")
    project = load_compose(
        "services:\n  a: {image: x, env_file: .env, environment: {A: override}}\n",
        env={"FROM_ENV": "e"},
        base_dir=tmp_path,
    )
    assert project.services["a"].environment == {
        "A": "override",
        "B": "two words",
        "C": "q",
        "FROM_ENV": "e",
        "D": "a=b",
    }
    (tmp_path / "bad.env").write_text("NOT VALID\n")
    detail = only(refuse("services:\n  a: {image: x, env_file: bad.env}\n", base_dir=tmp_path))
    assert detail["message"] == "env file 'bad.env' line 1: expected KEY=value"


def test_config_file_must_exist(tmp_path: Path) -> None:
    detail = only(
        refuse(
            "services:\n  a: {image: x, configs: [c]}\nconfigs:\n  c: {file: nope.conf}\n", base_dir=tmp_path
        )
    )
    assert detail["field"] == "services.a.configs[0]"
    assert "configs.c.file: 'nope.conf' not found" in detail["message"]


def test_ports_do_not_clash_across_addresses_or_protocols() -> None:
    project = load_compose(
        """
services:
  a: {image: x, ports: ["127.0.0.1:8080:80", "53:53/udp", "9000"]}
  b: {image: x, ports: ["127.0.0.2:8080:80", "53:53/tcp", "9000"]}
""",
        env={},
    )
    assert sorted(project.services) == ["a", "b"]
    error = refuse(
        'services:\n  a: {image: x, ports: ["0.0.0.0:53:53/udp"]}\n  b: {image: x, ports: ["53:53/udp"]}\n'
    )
    assert "port clash: 0.0.0.0:53/udp is published by both a and b" in error.message


def test_disabled_services_do_not_clash() -> None:
    text = (
        'services:\n  a: {image: x, ports: ["80:80"]}\n  b: {image: x, ports: ["80:80"], profiles: [alt]}\n'
    )
    assert list(load_compose(text, env={}).services) == ["a"]
    assert "port clash" in refuse(text, profiles=["alt"]).message


def test_self_dependency_is_a_cycle() -> None:
    detail = only(refuse("services:\n  a: {image: x, depends_on: [a]}\n"))
    assert detail["message"] == "depends_on cycle: a -> a"


def test_one_service_publishing_a_port_twice() -> None:
    detail = only(refuse('services:\n  a: {image: x, ports: ["8080:80", "8080:81"]}\n'))
    assert detail["message"] == "port clash: *:8080/tcp is published twice by a"


def test_relative_base_dir_gives_absolute_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path)
    project = load_compose(
        "services:\n  a: {image: x, volumes: ['./d:/d']}\n",
        env={},
        base_dir=Path("repo"),
        allowed_bind_roots=[str(tmp_path)],
    )
    assert project.services["a"].mounts[0].source == f"{tmp_path}/repo/d"
