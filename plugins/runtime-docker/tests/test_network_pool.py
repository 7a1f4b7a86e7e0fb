"""``[plugins.runtime-docker] network_pool``: the networks Rivetr creates take /24s of its own pool instead of
dockerd's ~30 default ones, skipping what the engine's networks and the host's routes use; on the real dockerd."""

from __future__ import annotations

import contextlib
import ipaddress
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError
from rivetr_runtime_docker.plugin import DockerSettings
from rivetr_runtime_docker.runtime import DockerRuntime
from rivetr_runtime_docker.subnets import free_subnets, host_routes, parse_pool, used_subnets

from rivetr_core.contract import RivetrError
from tests.support.engines import EngineEnv

net = ipaddress.IPv4Network


def test_free_subnets_skip_what_is_used_and_what_was_tried() -> None:
    pool = net("10.213.0.0/22")
    used = [net("10.213.0.0/24"), net("10.213.2.0/23")]  # the first /24, and the last two
    assert list(free_subnets(pool, used)) == ["10.213.1.0/24"]
    assert list(free_subnets(pool, used, skip=["10.213.1.0/24"])) == []
    assert list(free_subnets(net("10.213.7.0/26"), [])) == ["10.213.7.0/26"]  # a pool smaller than a /24


def test_used_subnets_read_the_engines_networks_and_the_hosts_routes(tmp_path: Path) -> None:
    routes = tmp_path / "route"
    routes.write_text(
        "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n"
        "eth0\t00000000\t0102A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"  # default route: not a subnet
        "eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n",  # 192.168.0.0/24
        encoding="ascii",
    )
    assert list(host_routes(str(routes))) == [net("192.168.0.0/24")]
    networks = [
        {"IPAM": {"Config": [{"Subnet": "172.18.0.0/16"}, {"Subnet": "fd00::/64"}]}},
        {"IPAM": {"Config": None}},
        {"IPAM": None},
    ]
    assert net("172.18.0.0/16") in used_subnets(networks)
    assert not any(s.version == 6 for s in used_subnets(networks))


def test_the_setting_is_an_ipv4_network_or_empty() -> None:
    assert DockerSettings().network_pool == "10.213.0.0/16"
    assert parse_pool(DockerSettings(network_pool="").network_pool) is None
    for bad in ("10.213.0.1/16", "fd00::/64", "nonsense"):
        with pytest.raises(ValidationError, match="network_pool"):
            DockerSettings(network_pool=bad)


@pytest.mark.docker
async def test_networks_take_their_subnets_from_the_pool_then_fall_back(engine_env: EngineEnv) -> None:
    # A pool of its own per run (two /24s), away from the default one the servers of other tests use.
    base = 240 + uuid.uuid4().int % 7 * 2
    pool = net(f"10.213.{base}.0/23")
    runtime = DockerRuntime(engine_env.docker_socket, project_firewall=False, network_pool=pool)
    names = [f"rivetr-pooltest-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    try:
        subnets = []
        for name in names:
            await runtime.ensure_network(name, {"rivetr.test": "network-pool"})
            data = await runtime._call(lambda n=name: runtime._api().inspect_network(n))
            subnets.append(net(data["IPAM"]["Config"][0]["Subnet"]))
        # Two distinct /24s of the pool, then (the pool full) one of the engine's own pools.
        assert subnets[0] != subnets[1] and all(s.subnet_of(pool) for s in subnets[:2]), subnets
        assert all(s.prefixlen == 24 for s in subnets[:2]), subnets
        assert not subnets[2].overlaps(pool), subnets
    finally:
        for name in names:
            with contextlib.suppress(RivetrError):
                await runtime.remove_network(name)
        await runtime.close()
