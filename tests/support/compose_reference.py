"""The compose reference tools (Debian's ``docker-compose`` 1.29, ``podman-compose`` 1.0.3) next to Rivetr stacks.

:class:`ReferenceProject` runs a compose directory with the reference tool of an engine under a unique project
name (``up -d`` / ``down -v``) and finds its containers by the ``com.docker.compose.project`` /
``com.docker.compose.service`` labels both tools set. :func:`inspect` reads containers through the engine's own
CLI, so both sides of a comparison are read by the same tool. :func:`effective` reduces one ``inspect`` document
to the configuration compose controls, in a form comparable across tools and engines; :func:`differences` lists
the fields where two of them disagree as ``(field, expected, got)``.

Why the normalisation exists, field by field:

* ``env``: engines add ``PATH``, ``HOSTNAME``, ``HOME`` (podman also ``TERM``, ``container``); those are not
  compose's doing. Variables that come from the image are kept: both sides start the same image, so they match.
* ``entrypoint``: podman's libpod inspect reports a string (``""`` for none), docker a list or ``null``.
* ``working_dir``: podman reports ``/`` where docker reports ``""`` (the image's default).
* ``ports``: every container port the service offers (exposed by the image or the file, or published).
  ``published`` lists the fixed host publications (port/proto, host ip, host port); ``published_random`` the
  port/proto of those on a random host port (compose ``"8080"``), whose host port differs at every run.
* ``mounts``: ``(target, type, read_only)``; tmpfs mounts appear in ``HostConfig.Tmpfs`` or in ``Mounts``
  depending on how they were asked for. Volume names differ by design (project prefixes).
* ``networks``: compose network key -> aliases, without the container's id/hostname aliases the engines add.
  The caller maps engine network names back to keys (``<project>_<key>``, ``rivetr-stk-<stack>-<key>``).
* ``cpus``: ``NanoCpus`` or ``CpuQuota/CpuPeriod`` (podman may report either).
* ``stop_signal``/``stop_timeout``: docker leaves them out when unset, podman reports its defaults, as a number
  for the signal (``15``): both become the signal's name and seconds, defaults filled in (``SIGTERM``, 10).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: the reference tool for each engine
TOOLS = {"docker": "docker-compose", "podman": "podman-compose"}
#: labels the tools (and Rivetr) put on containers for their own bookkeeping
INTERNAL_LABEL_PREFIXES = ("com.docker.compose.", "io.podman.compose.", "rivetr.")
#: variables the engine sets, not the compose file
ENGINE_ENV = frozenset({"PATH", "HOSTNAME", "HOME", "TERM", "container"})

FIELDS = (
    "image",
    "cmd",
    "entrypoint",
    "env",
    "working_dir",
    "user",
    "healthcheck.test",
    "healthcheck.interval",
    "healthcheck.timeout",
    "healthcheck.retries",
    "healthcheck.start_period",
    "restart",
    "init",
    "stop_signal",
    "stop_timeout",
    "labels",
    "mounts",
    "ports",
    "published",
    "published_random",
    "memory",
    "cpus",
    "networks",
)


def tool_env(engine: str) -> dict[str, str]:
    """The environment the reference tool runs in: podman-compose shells out to the podman CLI, which needs the
    session's containers.conf (runc, ulimits) and registries.conf (the local mirror of official images)."""
    env = dict(os.environ)
    if engine == "docker":
        env.setdefault("DOCKER_HOST", "unix:///var/run/docker.sock")
    return env


@dataclass
class ReferenceProject:
    """One compose directory run by the engine's reference tool under ``project`` (unique per test)."""

    engine: str
    directory: Path
    project: str
    env: dict[str, str] = field(default_factory=dict)
    profiles: list[str] = field(default_factory=list)
    file: str = "compose.yaml"

    def _run(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        tool = TOOLS[self.engine]
        if shutil.which(tool) is None:
            raise RuntimeError(
                f"{tool} is missing: scripts/engines.sh ensure {self.engine} installs it as root"
            )
        env = {**tool_env(self.engine), **self.env}
        argv = [tool, "-p", self.project, "-f", self.file]
        if self.profiles:
            if self.engine == "podman":  # podman-compose 1.0.3 has no profiles: it starts every service
                raise ValueError("podman-compose 1.0.3 does not support profiles")
            argv += [f"--profile={p}" for p in self.profiles]
        argv += list(args)
        result = subprocess.run(
            argv, cwd=self.directory, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        return result

    def up(self, timeout: float = 600) -> None:
        result = self._run("up", "-d", timeout=timeout)
        # podman-compose 1.0.3 exits 0 when a `podman run` fails; its output says so.
        if self.engine == "podman" and "exit code: 125" in result.stdout + result.stderr:
            raise RuntimeError(f"podman-compose up failed:\n{result.stdout}\n{result.stderr}")

    def down(self) -> None:
        """``down -v``, then whatever the tool missed (podman-compose 1.0.3 leaves one-off state behind)."""
        try:
            self._run("down", "-v", timeout=300, check=False)
        finally:
            cli = [self.engine]
            env = tool_env(self.engine)
            label = f"label=com.docker.compose.project={self.project}"
            ids = _lines([*cli, "ps", "-aq", "--filter", label], env)
            if ids:
                subprocess.run([*cli, "rm", "-f", *ids], env=env, capture_output=True, timeout=120)
            for kind in ("network", "volume"):
                names = _lines([*cli, kind, "ls", "-q", "--filter", label], env)
                if names:
                    subprocess.run([*cli, kind, "rm", *names], env=env, capture_output=True, timeout=120)

    def containers(self, service: str) -> list[str]:
        """Ids of the service's containers (running or exited)."""
        return _lines(
            [
                self.engine,
                "ps",
                "-aq",
                "--no-trunc",
                "--filter",
                f"label=com.docker.compose.project={self.project}",
                "--filter",
                f"label=com.docker.compose.service={service}",
            ],
            tool_env(self.engine),
        )

    def network_key(self, name: str) -> str | None:
        prefix = f"{self.project}_"
        return name[len(prefix) :] if name.startswith(prefix) else None


def _lines(argv: list[str], env: Mapping[str, str]) -> list[str]:
    out = subprocess.run(argv, env=dict(env), capture_output=True, text=True, timeout=60, check=True).stdout
    return [line for line in out.split() if line]


def inspect(engine: str, ids: Iterable[str]) -> list[dict[str, Any]]:
    ids = list(ids)
    if not ids:
        return []
    out = subprocess.run(
        [engine, "inspect", "--type", "container", *ids],
        env=tool_env(engine),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return list(json.loads(out))


def _image(ref: str) -> str:
    for prefix in ("docker.io/library/", "docker.io/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


def _entrypoint(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return value.split()
    return [str(v) for v in value if v != ""] if value != [""] else []


def _env(items: Iterable[str] | None) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in items or []:
        key, _, value = item.partition("=")
        if key not in ENGINE_ENV:
            env[key] = value
    return env


def _cpus(host: Mapping[str, Any]) -> float:
    if host.get("NanoCpus"):
        return round(int(host["NanoCpus"]) / 1e9, 3)
    quota, period = host.get("CpuQuota") or 0, host.get("CpuPeriod") or 0
    return round(quota / period, 3) if quota > 0 and period > 0 else 0.0


def _mounts(doc: Mapping[str, Any]) -> list[tuple[str, str, bool]]:
    host = doc.get("HostConfig") or {}
    found: dict[str, tuple[str, str, bool]] = {}
    for m in doc.get("Mounts") or []:
        found[m["Destination"]] = (m["Destination"], m.get("Type", "volume"), not m.get("RW", True))
    for m in host.get("Mounts") or []:  # long-syntax tmpfs mounts live here on docker
        if m.get("Type") == "tmpfs":
            found[m["Target"]] = (m["Target"], "tmpfs", bool(m.get("ReadOnly")))
    for target, options in (host.get("Tmpfs") or {}).items():
        found[target] = (target, "tmpfs", "ro" in str(options).split(","))
    return sorted(found.values())


def _ports(
    doc: Mapping[str, Any], fixed: set[str]
) -> tuple[list[str], list[tuple[str, str, str]], list[str]]:
    config = doc.get("Config") or {}
    host = doc.get("HostConfig") or {}
    bindings: Mapping[str, Any] = host.get("PortBindings") or {}
    offered = set(config.get("ExposedPorts") or {}) | set(bindings)
    published: list[tuple[str, str, str]] = []
    random: list[str] = []
    for port, binds in bindings.items():
        if not binds:  # podman lists exposed ports here with no binding
            continue
        if port in fixed:
            published += [(port, b.get("HostIp") or "", str(b.get("HostPort") or "")) for b in binds]
        else:
            random.append(port)
    return sorted(offered), sorted(published), sorted(random)


def effective(
    doc: Mapping[str, Any],
    *,
    network_key: Callable[[str], str | None],
    fixed_ports: set[str] | None = None,
) -> dict[str, Any]:
    """The compose-controlled configuration of one container (see the module docstring for each field).

    ``network_key`` maps an engine network name to its compose key (None: not one of the stack's networks);
    ``fixed_ports`` are the ``<port>/<proto>`` the compose file publishes on a fixed host port."""
    config = doc.get("Config") or {}
    host = doc.get("HostConfig") or {}
    health = config.get("Healthcheck") or {}
    short_id = str(doc.get("Id", ""))[:12]
    hostname = config.get("Hostname") or ""
    networks: dict[str, list[str]] = {}
    for name, net in ((doc.get("NetworkSettings") or {}).get("Networks") or {}).items():
        key = network_key(name)
        if key is None:
            continue
        aliases = {a for a in net.get("Aliases") or [] if a not in (short_id, hostname, doc.get("Id"))}
        networks[key] = sorted(aliases)
    ports, published, random = _ports(doc, fixed_ports or set())
    restart = ((host.get("RestartPolicy") or {}).get("Name")) or "no"
    return {
        "image": _image(str(config.get("Image") or "")),
        "cmd": list(config.get("Cmd") or []),
        "entrypoint": _entrypoint(config.get("Entrypoint")),
        "env": _env(config.get("Env")),
        "working_dir": config.get("WorkingDir") or "/",
        "user": config.get("User") or "",
        "healthcheck.test": list(health.get("Test") or []),
        "healthcheck.interval": int(health.get("Interval") or 0),
        "healthcheck.timeout": int(health.get("Timeout") or 0),
        "healthcheck.retries": int(health.get("Retries") or 0),
        "healthcheck.start_period": int(health.get("StartPeriod") or 0),
        "restart": restart,
        "init": bool(host.get("Init")),
        "stop_signal": _signal(config.get("StopSignal")),
        "stop_timeout": int(10 if config.get("StopTimeout") is None else config["StopTimeout"]),
        "labels": {
            k: v for k, v in (config.get("Labels") or {}).items() if not k.startswith(INTERNAL_LABEL_PREFIXES)
        },
        "mounts": _mounts(doc),
        "ports": ports,
        "published": published,
        "published_random": random,
        "memory": int(host.get("Memory") or 0),
        "cpus": _cpus(host),
        "networks": networks,
    }


def _signal(value: Any) -> str:
    """The engine's stop signal by name, as Rivetr keeps a compose ``stop_signal``; unset is SIGTERM."""
    from rivetr_core.compose.normalise import signal_name

    return "SIGTERM" if value in (None, "", 0) else signal_name(value)


def differences(
    expected: Mapping[str, Any], got: Mapping[str, Any], *, skip: Iterable[str] = ()
) -> list[tuple[str, Any, Any]]:
    """``(field, expected, got)`` for every field of :data:`FIELDS` not in ``skip`` where the two disagree."""
    skipped = set(skip)
    return [(f, expected[f], got[f]) for f in FIELDS if f not in skipped and expected[f] != got[f]]


def podman_compose_compatible(path: Path) -> dict[str, dict[str, list[str]]]:
    """Rewrite the compose file at ``path`` (a copy) into the forms podman-compose 1.0.3 can run, with the same
    meaning where it can express it; returns the per-network aliases it had to drop (service -> network ->
    aliases), for the caller to check on the other side instead.

    podman-compose 1.0.3 (``assert_cnt_nets``) only understands a service's ``networks`` as a list of names of
    networks declared at the top level: the implicit ``default`` network fails (``KeyError: 'default'``), and
    the mapping form (needed for ``aliases``) fails (``KeyError: "backend={'aliases': [...]}"``). So ``default``
    is declared (compose treats both alike) and mappings become lists (losing only the aliases). The rewrite
    also resolves anchors and merge keys, which does not change the configuration."""
    import yaml

    doc = yaml.safe_load(path.read_text()) or {}
    dropped: dict[str, dict[str, list[str]]] = {}
    used: set[str] = set()
    for name, svc in (doc.get("services") or {}).items():
        nets = (svc or {}).get("networks")
        if isinstance(nets, dict):
            for net, options in nets.items():
                aliases = list((options or {}).get("aliases") or [])
                if aliases:
                    dropped.setdefault(name, {})[net] = aliases
            svc["networks"] = list(nets)
        used.update(svc.get("networks") or [] if svc else [])
    if "default" in used and "default" not in (doc.get("networks") or {}):
        doc["networks"] = {**(doc.get("networks") or {}), "default": None}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return dropped


def built_services(compose_text: str) -> set[str]:
    """The services the file builds (their image names follow each tool's own convention)."""
    import yaml

    doc = yaml.safe_load(compose_text) or {}
    return {name for name, svc in (doc.get("services") or {}).items() if "build" in (svc or {})}


def fixed_host_ports(compose_text: str) -> dict[str, set[str]]:
    """Service -> the ``<port>/<proto>`` it publishes on a fixed host port (the fixtures' port forms)."""
    import yaml

    doc = yaml.safe_load(compose_text) or {}
    result: dict[str, set[str]] = {}
    for name, svc in (doc.get("services") or {}).items():
        fixed: set[str] = set()
        for port in (svc or {}).get("ports") or []:
            if isinstance(port, dict):
                if port.get("published"):
                    fixed.add(f"{port['target']}/{port.get('protocol', 'tcp')}")
                continue
            text, _, proto = str(port).partition("/")
            parts = text.split(":")
            if len(parts) >= 2 and parts[-2]:
                fixed.add(f"{parts[-1]}/{proto or 'tcp'}")
        result[name] = fixed
    return result


__all__ = [
    "FIELDS",
    "TOOLS",
    "ReferenceProject",
    "built_services",
    "differences",
    "effective",
    "fixed_host_ports",
    "inspect",
    "podman_compose_compatible",
    "tool_env",
]
