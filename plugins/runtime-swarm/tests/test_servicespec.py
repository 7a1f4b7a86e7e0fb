"""RunSpec -> swarm service spec, and reading a service's tasks back (no engine)."""

from __future__ import annotations

import pytest
import rivetr_runtime_swarm.servicespec as ss

from rivetr_core.contract import HealthcheckConfig, Mount, PortInUse, PortPublish, RunSpec


def test_service_spec_carries_the_run_spec() -> None:
    spec = RunSpec(
        image="localhost/app:3",
        name="app-web",
        env={"A": "1"},
        labels={"rivetr.app": "web"},
        container_port=8000,
        cpu_limit=0.5,
        memory_limit=64 * 2**20,
        pids_limit=64,
        log_max_size=10_000_000,
        log_max_files=3,
        restart_policy="unless-stopped",
        network="rivetr-net-p",
        network_aliases=["web"],
        extra_networks={"backend": ["api"]},
        command=["httpd", "-f"],
        mounts=[Mount("data", "/data", labels={"rivetr.volume": "data"})],
        tmpfs={"/scratch": "size=64m,mode=1777"},
        healthcheck=HealthcheckConfig(["CMD", "true"], interval=2, timeout=1, retries=2, start_period=3),
    )
    out = ss.service_spec(spec, "sha256:abc", replicas=1)
    task, container = out["TaskTemplate"], out["TaskTemplate"]["ContainerSpec"]
    assert out["Name"] == "app-web" and out["Mode"] == {"Replicated": {"Replicas": 1}}
    assert out["UpdateConfig"]["Order"] == "start-first" and out["RollbackConfig"]["Order"] == "start-first"
    assert out["Labels"]["rivetr.app"] == "web" and out["Labels"][ss.IMAGE_LABEL] == "localhost/app:3"
    assert ss.public_labels(out["Labels"]) == {"rivetr.app": "web"}
    assert container["Image"] == "sha256:abc" and container["Env"] == ["A=1"] and container["Init"] is True
    assert container["Args"] == ["httpd", "-f"] and "Command" not in container
    assert container["Healthcheck"] == {
        "Test": ["CMD", "true"],
        "Retries": 2,
        "Interval": 2_000_000_000,
        "Timeout": 1_000_000_000,
        "StartPeriod": 3_000_000_000,
    }
    assert container["Mounts"] == [
        {
            "Type": "volume",
            "Source": "data",
            "Target": "/data",
            "ReadOnly": False,
            "VolumeOptions": {"Labels": {"rivetr.volume": "data"}},
        },
        {"Type": "tmpfs", "Target": "/scratch", "TmpfsOptions": {"SizeBytes": 64 * 2**20, "Mode": 0o1777}},
    ]
    assert task["Resources"]["Limits"] == {"NanoCPUs": 500_000_000, "MemoryBytes": 64 * 2**20, "Pids": 64}
    assert task["RestartPolicy"]["Condition"] == "any"
    assert task["LogDriver"] == {"Name": "json-file", "Options": {"max-size": "10000000", "max-file": "3"}}
    assert task["Networks"] == [
        {"Target": "rivetr-net-p", "Aliases": ["web"]},
        {"Target": "backend", "Aliases": ["api"]},
    ]
    assert out["EndpointSpec"] == {
        "Mode": "dnsrr",
        "Ports": [{"Protocol": "tcp", "TargetPort": 8000, "PublishMode": "host"}],
    }


def test_restart_policies_map_to_swarm_conditions() -> None:
    got = {
        policy: ss.service_spec(RunSpec(image="i", name="n", restart_policy=policy), "sha256:x", 1)[
            "TaskTemplate"
        ]["RestartPolicy"]["Condition"]
        for policy in ("no", "on-failure", "always", "unless-stopped")
    }
    assert got == {"no": "none", "on-failure": "on-failure", "always": "any", "unless-stopped": "any"}


def test_main_port_published_once_and_found_again() -> None:
    spec = RunSpec(
        image="i",
        name="n",
        container_port=8000,
        ports=[PortPublish(8000, host_port=45000), PortPublish(53, protocol="udp")],
    )
    ports = ss.endpoint_ports(spec)
    # dockerd binds one host port per container port: the explicit one is the main one.
    assert [(p["TargetPort"], p.get("PublishedPort")) for p in ports] == [(8000, 45000), (53, None)]
    service = {"Spec": {"Labels": {ss.MAIN_PORT_LABEL: "8000"}, "EndpointSpec": {"Ports": ports}}}
    bound = [PortPublish(53, host_port=32768, protocol="udp"), PortPublish(8000, host_port=45000)]
    assert ss.main_host_port(service, bound) == 45000
    two = {
        "Spec": {
            "Labels": {ss.MAIN_PORT_LABEL: "8000"},
            "EndpointSpec": {"Ports": [{}, {"PublishedPort": 1}]},
        }
    }
    assert ss.main_host_port(two, [PortPublish(8000, host_port=1), PortPublish(8000, host_port=2)]) == 2
    with pytest.raises(PortInUse):
        ss.fixed_ports(
            RunSpec(image="i", name="n", ports=[PortPublish(1, host_port=9), PortPublish(2, host_port=9)])
        )


def test_current_task_prefers_the_running_one() -> None:
    old = {
        "Slot": 1,
        "CreatedAt": "2026-01-02",
        "Status": {"State": "running", "ContainerStatus": {"ContainerID": "a"}},
    }
    new = {"Slot": 1, "CreatedAt": "2026-01-03", "Status": {"State": "preparing"}}
    assert ss.current_task([new, old]) is old
    failed = {
        "Slot": 1,
        "CreatedAt": "2026-01-01",
        "Status": {"State": "failed", "ContainerStatus": {"ExitCode": 7}},
    }
    assert ss.current_task([failed, new]) is new
    assert ss.task_status(failed) == ("exited", 7) and ss.task_status(new) == ("created", None)
    assert ss.container_id(old) == "a" and ss.current_task([]) is None


def test_registry_reference_keeps_the_path_and_tag() -> None:
    assert ss.registry_reference("localhost/rivetr/app:3", "reg:5000") == ("reg:5000/rivetr/app", "3")
    assert ss.registry_reference("docker.io/library/redis:7", "reg:5000/") == ("reg:5000/library/redis", "7")
    assert ss.registry_reference("app", "reg.example") == ("reg.example/app", "latest")
    assert ss.registry_reference("localhost:5001/a/b@sha256:00", "r") == ("r/a/b", "latest")


def test_stop_signal_and_grace_period_go_to_the_container_spec() -> None:
    spec = RunSpec(image="i", name="n", init=False, stop_signal="SIGQUIT", stop_timeout=2.5)
    container = ss.service_spec(spec, "sha256:abc", replicas=1)["TaskTemplate"]["ContainerSpec"]
    assert (container["Init"], container["StopSignal"], container["StopGracePeriod"]) == (
        False,
        "SIGQUIT",
        2_500_000_000,
    )
    plain = ss.service_spec(RunSpec(image="i", name="n"), "sha256:abc", replicas=1)["TaskTemplate"]
    assert "StopSignal" not in plain["ContainerSpec"] and "StopGracePeriod" not in plain["ContainerSpec"]
