"""The pure parts of swarm stacks, secrets, configs, registry credentials and the published-port firewall (no
engine)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from rivetr_runtime_swarm import configs, firewall, registryauth, secrets, stackspec
from rivetr_runtime_swarm import servicespec as ss

from rivetr_core.contract import Mount, RunSpec

STACK_LABELS = {"rivetr.stack": "abc123", "rivetr.stack.name": "shop", "rivetr.instance": "inst1"}


def _spec(**kw: Any) -> RunSpec:
    return RunSpec(image="localhost/rivetr/stack-shop-web:1", name="rivetr-stk-shop-web-1-deadbeef", **kw)


def test_stack_service_carries_the_stack_namespace_everywhere() -> None:
    spec = _spec(
        labels=STACK_LABELS,
        mounts=[Mount(source="rivetr-stk-abc123-data", target="/data", labels=dict(STACK_LABELS))],
    )
    body = stackspec.apply(ss.service_spec(spec, "sha256:0123", 1), spec.image)
    assert body["Labels"][stackspec.NAMESPACE_LABEL] == "shop"
    assert body["Labels"][stackspec.STACK_IMAGE_LABEL] == spec.image
    container = body["TaskTemplate"]["ContainerSpec"]
    assert container["Labels"][stackspec.NAMESPACE_LABEL] == "shop"
    assert container["Mounts"][0]["VolumeOptions"]["Labels"][stackspec.NAMESPACE_LABEL] == "shop"
    assert stackspec.with_namespace(STACK_LABELS)[stackspec.NAMESPACE_LABEL] == "shop"


def test_an_app_service_is_not_part_of_a_stack() -> None:
    spec = _spec(labels={"rivetr.app": "x"})
    body = ss.service_spec(spec, "sha256:0123", 1)
    before = json.dumps(body, sort_keys=True)
    assert json.dumps(stackspec.apply(body, spec.image), sort_keys=True) == before
    assert stackspec.with_namespace({"rivetr.app": "x"}) == {"rivetr.app": "x"}


def test_secret_names_are_content_addressed_and_valid() -> None:
    digest = hashlib.sha256(b"v1").hexdigest()[:12]
    assert secrets.secret_name("shop", "api_token", b"v1") == f"shop_api_token_{digest}"
    assert secrets.secret_name("shop", "api_token", b"v2") != secrets.secret_name("shop", "api_token", b"v1")
    long = secrets.secret_name("s" * 60, "weird name/with:chars", b"v1")
    assert len(long) <= secrets.MAX_NAME and long.endswith(digest)
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*[A-Za-z0-9]", long), long


class FakeSecretsApi:
    """The few secret/service calls :mod:`.secrets` makes, on dicts; records what was created."""

    def __init__(self) -> None:
        self.store: dict[str, dict[str, Any]] = {}
        self.service_list: list[dict[str, Any]] = []

    def secrets(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        out = list(self.store.values())
        if "name" in filters:
            out = [s for s in out if s["Spec"]["Name"].startswith(filters["name"])]
        for wanted in filters.get("label", []):
            key, _, value = wanted.partition("=")
            out = [
                s
                for s in out
                if key in s["Spec"]["Labels"] and (not value or s["Spec"]["Labels"][key] == value)
            ]
        return out

    def create_secret(self, name: str, data: bytes, labels: dict[str, str]) -> dict[str, str]:
        secret_id = f"id{len(self.store)}"
        self.store[secret_id] = {"ID": secret_id, "Spec": {"Name": name, "Labels": labels}, "data": data}
        return {"ID": secret_id}

    def remove_secret(self, secret_id: str) -> None:
        del self.store[secret_id]

    def services(self) -> list[dict[str, Any]]:
        return self.service_list


class FakeConfigsApi(FakeSecretsApi):
    """The same calls for configs (``configs``/``create_config``/``remove_config``); no secret calls."""

    configs = FakeSecretsApi.secrets
    create_config = FakeSecretsApi.create_secret
    remove_config = FakeSecretsApi.remove_secret
    secrets = create_secret = remove_secret = None  # type: ignore[assignment]


def test_secret_mounts_become_swarm_secret_references(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("v1\n")
    other = tmp_path / "site.txt"
    other.write_text("config\n")
    spec = _spec(
        labels=STACK_LABELS,
        mounts=[
            Mount(
                source=str(token),
                target="/run/secrets/api_token",
                kind="bind",
                read_only=True,
                secret="api_token",
            ),
            Mount(
                source=str(other), target="/site.txt", kind="bind", read_only=True
            ),  # an ordinary bind: stays a bind
        ],
    )
    api = FakeSecretsApi()
    body = secrets.attach(api, ss.service_spec(spec, "sha256:0123", 1), spec.mounts)
    container = body["TaskTemplate"]["ContainerSpec"]
    assert [m["Target"] for m in container["Mounts"]] == ["/site.txt"]
    [ref] = container["Secrets"]
    [stored] = api.store.values()
    assert ref["SecretID"] == stored["ID"] and ref["SecretName"] == secrets.secret_name(
        "shop", "api_token", b"v1\n"
    )
    assert ref["File"] == {"Name": "/run/secrets/api_token", "UID": "0", "GID": "0", "Mode": 0o444}
    assert stored["data"] == b"v1\n"
    assert stored["Spec"]["Labels"] == {
        **STACK_LABELS,
        secrets.SECRET_LABEL: "api_token",
        stackspec.NAMESPACE_LABEL: "shop",
    }
    # The same content again: the same secret; unused ones of this instance are removed, used ones kept.
    again = secrets.attach(api, ss.service_spec(spec, "sha256:0123", 1), spec.mounts)
    assert (
        len(api.store) == 1
        and again["TaskTemplate"]["ContainerSpec"]["Secrets"][0]["SecretID"] == ref["SecretID"]
    )
    api.service_list = [{"Spec": body}]
    assert secrets.remove_unused(api, "inst1") == [] and len(api.store) == 1
    assert secrets.remove_unused(api, "other-instance") == []
    api.service_list = []
    assert secrets.remove_unused(api, "other-instance") == [] and len(api.store) == 1  # not ours to remove
    assert secrets.remove_unused(api, "inst1") == [ref["SecretName"]] and api.store == {}


def test_config_mounts_become_swarm_configs_with_owner_and_mode(tmp_path: Path) -> None:
    site = tmp_path / "site.conf"
    site.write_text("listen 80;\n")
    token = tmp_path / "token"
    token.write_text("v1\n")
    mounts = [
        Mount(source=str(site), target="/etc/site.conf", kind="bind", read_only=True, config="site"),
        Mount(
            source=str(site),
            target="/etc/copy.conf",
            kind="bind",
            read_only=True,
            config="site",
            file_uid="101",
            file_gid="102",
            file_mode=0o440,
        ),
        Mount(source=str(token), target="/run/secrets/t", kind="bind", read_only=True, secret="t"),
    ]
    spec = _spec(labels=STACK_LABELS, mounts=mounts)
    api = FakeConfigsApi()
    body = configs.attach(api, ss.service_spec(spec, "sha256:0123", 1), spec.mounts)
    container = body["TaskTemplate"]["ContainerSpec"]
    # The configs' binds are gone, the secret's is left for secrets.attach; one config for one content.
    assert [m["Target"] for m in container["Mounts"]] == ["/run/secrets/t"]
    [stored] = api.store.values()
    name = secrets.secret_name("shop", "site", b"listen 80;\n")
    assert stored["Spec"] == {
        "Name": name,
        "Labels": {**STACK_LABELS, configs.CONFIG_LABEL: "site", stackspec.NAMESPACE_LABEL: "shop"},
    }
    assert container["Configs"] == [
        {
            "File": {"Name": "/etc/site.conf", "UID": "0", "GID": "0", "Mode": 0o444},
            "ConfigID": stored["ID"],
            "ConfigName": name,
        },
        {
            "File": {"Name": "/etc/copy.conf", "UID": "101", "GID": "102", "Mode": 0o440},
            "ConfigID": stored["ID"],
            "ConfigName": name,
        },
    ]
    assert "Secrets" not in container
    # Removed once no service references it; a secret of the same instance is no config.
    api.service_list = [{"Spec": body}]
    assert configs.remove_unused(api, "inst1") == []
    api.service_list = []
    assert configs.remove_unused(api, "inst1") == [name] and api.store == {}


def test_a_secrets_owner_and_mode_reach_its_reference(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("v1\n")
    mount = Mount(
        source=str(token),
        target="/run/secrets/t",
        kind="bind",
        read_only=True,
        secret="t",
        file_uid="1000",
        file_mode=0o400,
    )
    spec = _spec(labels=STACK_LABELS, mounts=[mount])
    body = secrets.attach(FakeSecretsApi(), ss.service_spec(spec, "sha256:0123", 1), spec.mounts)
    [ref] = body["TaskTemplate"]["ContainerSpec"]["Secrets"]
    assert ref["File"] == {"Name": "/run/secrets/t", "UID": "1000", "GID": "0", "Mode": 0o400}


def test_registry_credentials_lookup_and_header() -> None:
    asked: list[str] = []

    async def store(server: str) -> dict[str, str] | None:
        asked.append(server)
        return {"username": "u", "password": "p", "serveraddress": server} if server == "reg:5000" else None

    import asyncio

    assert asyncio.run(registryauth.lookup(store, "https://reg:5000/")) == {
        "username": "u",
        "password": "p",
        "serveraddress": "reg:5000",
    }
    assert asyncio.run(registryauth.lookup(store, "other:5000")) is None
    assert asyncio.run(registryauth.lookup(None, "reg:5000")) is None
    assert asyncio.run(registryauth.lookup(store, None)) is None
    assert asked == ["reg:5000", "other:5000"]
    header = registryauth.header({"username": "u", "password": "p", "serveraddress": "reg:5000"})
    assert json.loads(base64.urlsafe_b64decode(header["X-Registry-Auth"])) == {
        "username": "u",
        "password": "p",
        "serveraddress": "reg:5000",
    }
    assert registryauth.header(None) == {}


def test_firewall_rules_allow_loopback_and_the_nodes_only() -> None:
    nodes = [
        {"Status": {"Addr": "10.0.0.2"}, "ManagerStatus": {"Addr": "10.0.0.2:2377"}},
        {"Status": {"Addr": "10.0.0.3"}},
        {"Status": {"Addr": "0.0.0.0"}},  # a node still joining
        {"Status": {"Addr": "fd00::4"}},  # IPv6: iptables (v4) does not see it
    ]
    sources = firewall.node_addresses(nodes)
    assert sources == ["10.0.0.2/32", "10.0.0.3/32"]
    assert firewall.rules(sources) == [
        ["-A", firewall.CHAIN, "-s", "127.0.0.0/8", "-j", "RETURN"],
        ["-A", firewall.CHAIN, "-s", "10.0.0.2/32", "-j", "RETURN"],
        ["-A", firewall.CHAIN, "-s", "10.0.0.3/32", "-j", "RETURN"],
        ["-A", firewall.CHAIN, "-j", "DROP"],
    ]
    assert firewall.JUMP[:2] == ["-o", "docker_gwbridge"] and "NEW" in firewall.JUMP
