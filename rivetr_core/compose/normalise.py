"""One compose service (already interpolated, schema-checked and inside the supported subset) turned into a
:class:`ServiceSpec`: every syntax variant reduced to one form, every path resolved and checked.

Problems are collected, not raised, so one answer lists everything wrong with the file.
"""

from __future__ import annotations

import os
import posixpath
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rivetr_core.compose.durations import parse_duration
from rivetr_core.compose.errors import problem
from rivetr_core.compose.model import (
    CONTENT_SOURCE,
    ENV_SOURCE,
    BuildSpecC,
    DependsOn,
    FileMountSpec,
    HealthSpec,
    MountSpec,
    PortSpec,
    ServiceSpec,
)
from rivetr_core.compose.paths import Path_, fmt_path
from rivetr_core.compose.ports import parse_expose, parse_port
from rivetr_core.contract.units import parse_cpus, parse_size

NEEDS_REPO = "needs a git repository: a pasted compose file has no build context"
BIND_DISABLED = "bind mounts are disabled on this server ([volumes] allowed_bind_roots is empty)"
BIND_OUTSIDE = "not under an allowed bind root ([volumes] allowed_bind_roots)"
MAX_ENV_FILE = 256 * 1024
MAX_REPLICAS = 100


@dataclass
class Context:
    """What every service of one file is checked against."""

    env: Mapping[str, str]
    base_dir: Path | None
    allow_build: bool
    bind_roots: list[str]
    volumes: Mapping[str, Any]
    networks: Mapping[str, Any]
    configs: Mapping[str, Any]
    secrets: Mapping[str, Any]


class _Problems:
    def __init__(self, out: list[dict[str, Any]], service: str) -> None:
        self.out = out
        self.service = service
        self.count = 0

    def add(self, where: Path_, message: str, **extra: Any) -> None:
        self.count += 1
        self.out.append(problem(fmt_path(where), message, service=self.service, **extra))


#: compose ``deploy.restart_policy.condition`` -> the ``restart:`` policy it means.
RESTART_CONDITIONS = {"none": "no", "on-failure": "on-failure", "any": "always"}


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _split(value: Any) -> list[str] | None:
    """command/entrypoint: a string is split the way a shell would (compose does the same, with shlex)."""
    if value is None:
        return None
    if isinstance(value, str):
        return shlex.split(value)
    return [str(v) for v in value]


def _pairs(value: Any, env: Mapping[str, str]) -> dict[str, str]:
    """environment/args/labels in list (``KEY=value``) or mapping form. A bare ``KEY`` (or ``KEY:`` with no
    value) takes its value from the stack env, and is dropped when that has none, as compose does."""
    out: dict[str, str] = {}
    items: list[tuple[str, Any]]
    if isinstance(value, dict):
        items = list(value.items())
    else:
        items = []
        for entry in value or []:
            key, sep, rest = str(entry).partition("=")
            items.append((key, rest if sep else None))
    for key, raw in items:
        if raw is None:
            if key in env:
                out[key] = env[key]
            continue
        out[key] = _scalar(raw)
    return out


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _labels(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {k: "" if v is None else _scalar(v) for k, v in value.items()}
    out = {}
    for entry in value or []:
        key, _, rest = str(entry).partition("=")
        out[key] = rest
    return out


class ServiceNormaliser:
    def __init__(self, ctx: Context, problems: list[dict[str, Any]]) -> None:
        self.ctx = ctx
        self.problems = problems

    def service(self, name: str, raw: dict[str, Any]) -> ServiceSpec:
        p = _Problems(self.problems, name)
        path: Path_ = ("services", name)
        spec = ServiceSpec(name=name, image=raw.get("image"))
        spec.build = self._build(raw.get("build"), (*path, "build"), p)
        if spec.image is None and spec.build is None and "build" not in raw:
            p.add(path, "needs an 'image' or a 'build'")
        spec.command = _split(raw.get("command"))
        spec.entrypoint = _split(raw.get("entrypoint"))
        spec.environment = self._environment(raw, path, p)
        spec.ports = self._ports(raw.get("ports") or [], (*path, "ports"), p)
        for index, entry in enumerate(raw.get("expose") or []):
            try:
                for number in parse_expose(entry):
                    if number not in spec.expose:
                        spec.expose.append(number)
            except ValueError as exc:
                p.add((*path, "expose", index), str(exc))
        spec.mounts = self._mounts(raw, path, p)
        spec.files = self._files(raw, path, p)
        spec.networks = self._networks(raw.get("networks"), (*path, "networks"), p)
        spec.depends_on = self._depends_on(raw.get("depends_on"))
        spec.healthcheck = self._healthcheck(raw.get("healthcheck"), (*path, "healthcheck"), p)
        spec.restart = raw.get("restart") or "no"
        # Swarm's own form (what `docker stack deploy` reads): its condition wins over `restart:`, as there.
        condition = ((raw.get("deploy") or {}).get("restart_policy") or {}).get("condition")
        if condition in RESTART_CONDITIONS:  # another one is refused by the subset check
            spec.restart = RESTART_CONDITIONS[condition]  # type: ignore[assignment]
        self._restart_limits(spec, raw, path, p)
        spec.labels = _labels(raw.get("labels"))
        spec.working_dir = raw.get("working_dir")
        spec.user = raw.get("user")
        self._stopping(spec, raw, path, p)
        self._limits(spec, raw, path, p)
        spec.profiles = list(raw.get("profiles") or [])
        if spec.replicas > 1:
            for index, port in enumerate(spec.ports):
                if port.host_port:
                    p.add(
                        (*path, "ports"),
                        f"port clash: {spec.replicas} replicas cannot all publish host port {port.host_port}"
                        f" (entry {index}); publish on a random host port or use one replica",
                    )
        return spec

    def _restart_limits(self, spec: ServiceSpec, raw: dict[str, Any], path: Path_, p: _Problems) -> None:
        """``deploy.restart_policy`` ``max_attempts`` (a count, 0 or more), ``delay`` and ``window`` (durations
        like ``5s``)."""
        policy = (raw.get("deploy") or {}).get("restart_policy") or {}
        where: Path_ = (*path, "deploy", "restart_policy")
        attempts = policy.get("max_attempts")
        if attempts is not None:
            if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
                p.add((*where, "max_attempts"), "must be a whole number, 0 or more")
            else:
                spec.restart_max_attempts = attempts
        for key in ("delay", "window"):
            if policy.get(key) is None:
                continue
            try:
                seconds = parse_duration(policy[key])
            except ValueError as exc:
                p.add((*where, key), str(exc))
                continue
            setattr(spec, f"restart_{key}", seconds)

    def _stopping(self, spec: ServiceSpec, raw: dict[str, Any], path: Path_, p: _Problems) -> None:
        """``init`` (a boolean), ``stop_signal`` (a signal name or number, kept as ``SIGNAME``) and
        ``stop_grace_period`` (a duration)."""
        spec.init = bool(raw.get("init"))
        if raw.get("stop_signal") is not None:
            try:
                spec.stop_signal = signal_name(raw["stop_signal"])
            except ValueError as exc:
                p.add((*path, "stop_signal"), str(exc))
        if raw.get("stop_grace_period") is not None:
            try:
                spec.stop_grace_period = parse_duration(raw["stop_grace_period"])
            except ValueError as exc:
                p.add((*path, "stop_grace_period"), str(exc))

    # ------------------------------------------------------------------------------------------ build
    def _build(self, raw: Any, path: Path_, p: _Problems) -> BuildSpecC | None:
        if raw is None:
            return None
        if self.ctx.base_dir is None:
            p.add(path, NEEDS_REPO)
            return None
        if not self.ctx.allow_build:
            p.add(path, "building images is not allowed for this stack; use a prebuilt 'image'")
            return None
        conf = {"context": raw} if isinstance(raw, str) else raw
        context = self._inside_repo(
            conf.get("context") or ".", (*path, "context") if isinstance(raw, dict) else path, p
        )
        dockerfile = posixpath.normpath(conf.get("dockerfile") or "Dockerfile")
        if dockerfile.startswith("/") or dockerfile == ".." or dockerfile.startswith("../"):
            p.add((*path, "dockerfile"), "must be a path inside the build context")
        if context is None:
            return None
        return BuildSpecC(
            context=context,
            dockerfile=dockerfile,
            args=_pairs(conf.get("args"), self.ctx.env),
            target=conf.get("target"),
        )

    def _inside_repo(self, raw: str, path: Path_, p: _Problems, *, what: str = "build context") -> str | None:
        """``raw`` relative to base_dir, normalised, refused if it leaves it (lexically or via a symlink)."""
        assert self.ctx.base_dir is not None
        if "://" in raw or raw.startswith("git@"):
            p.add(path, f"a remote {what} is not supported: use a path inside the repository")
            return None
        base = os.path.normpath(str(self.ctx.base_dir))
        full = os.path.normpath(os.path.join(base, raw))
        real_base = os.path.realpath(base)
        if not _inside(full, base) or not _inside(os.path.realpath(full), real_base):
            p.add(path, f"the {what} {raw!r} leaves the repository")
            return None
        return os.path.relpath(full, base)

    # ------------------------------------------------------------------------------------------ env
    def _environment(self, raw: dict[str, Any], path: Path_, p: _Problems) -> dict[str, str]:
        env: dict[str, str] = {}
        files = raw.get("env_file")
        for index, entry in enumerate([files] if isinstance(files, str) else files or []):
            where = (*path, "env_file") if isinstance(files, str) else (*path, "env_file", index)
            if self.ctx.base_dir is None:
                p.add(where, NEEDS_REPO)
                continue
            rel = self._inside_repo(entry, where, p, what="env file")
            if rel is None:
                continue
            env.update(self._read_env_file(self.ctx.base_dir / rel, entry, where, p))
        env.update(_pairs(raw.get("environment"), self.ctx.env))
        return env

    def _read_env_file(self, file: Path, shown: str, where: Path_, p: _Problems) -> dict[str, str]:
        try:
            if file.stat().st_size > MAX_ENV_FILE:
                p.add(where, f"env file {shown!r} is larger than {MAX_ENV_FILE // 1024} KiB")
                return {}
            text = file.read_text("utf-8")
        except FileNotFoundError:
            p.add(where, f"env file {shown!r} not found")
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            p.add(where, f"env file {shown!r} cannot be read: {exc.__class__.__name__}")
            return {}
        out: dict[str, str] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("export "):
                line = line[len("export ") :].lstrip()
            key, sep, value = line.partition("=")
            key = key.strip()
            if not key or any(c.isspace() for c in key):
                p.add(where, f"env file {shown!r} line {number}: expected KEY=value")
                continue
            if not sep:
                if key in self.ctx.env:
                    out[key] = self.ctx.env[key]
                continue
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            out[key] = value
        return out

    # ------------------------------------------------------------------------------------------ ports
    def _ports(self, entries: Sequence[Any], path: Path_, p: _Problems) -> list[PortSpec]:
        out: list[PortSpec] = []
        for index, entry in enumerate(entries):
            try:
                out.extend(parse_port(entry))
            except ValueError as exc:
                p.add((*path, index), str(exc))
        return out

    # ------------------------------------------------------------------------------------------ mounts
    def _mounts(self, raw: dict[str, Any], path: Path_, p: _Problems) -> list[MountSpec]:
        out: list[MountSpec] = []
        for index, entry in enumerate(raw.get("volumes") or []):
            where = (*path, "volumes", index)
            mount = self._mount(entry, where, p)
            if mount is not None:
                out.append(mount)
        tmpfs = raw.get("tmpfs")
        for index, target in enumerate([tmpfs] if isinstance(tmpfs, str) else tmpfs or []):
            where = (*path, "tmpfs") if isinstance(tmpfs, str) else (*path, "tmpfs", index)
            path_part, _, options = str(target).partition(":")
            clean = self._target(path_part, where, p)
            if clean:
                out.append(MountSpec("tmpfs", "", clean, options=options))
        seen: set[str] = set()
        for mount in out:
            if mount.target in seen:
                p.add((*path, "volumes"), f"{mount.target} is mounted twice")
            seen.add(mount.target)
        return out

    def _target(self, target: str, where: Path_, p: _Problems) -> str | None:
        if not target.startswith("/") or "\0" in target:
            p.add(where, f"the container path {target!r} must be absolute")
            return None
        clean = posixpath.normpath(target)
        if clean == "/":
            p.add(where, "cannot mount over the container's root")
            return None
        return clean

    def _mount(self, entry: Any, where: Path_, p: _Problems) -> MountSpec | None:
        if isinstance(entry, dict):
            kind, source, target = entry["type"], entry.get("source") or "", entry.get("target") or ""
            read_only = bool(entry.get("read_only", False))
            if not target:
                p.add(where, "needs a 'target'")
                return None
        else:
            parts = str(entry).split(":")
            if len(parts) > 3:
                p.add(where, f"invalid volume {entry!r}: expected source:target[:ro]")
                return None
            if len(parts) == 1:
                source, target, mode = "", parts[0], ""
            else:
                source, target, mode = parts[0], parts[1], parts[2] if len(parts) == 3 else ""
            modes = set(filter(None, mode.split(",")))
            if modes - {"ro", "rw"}:
                p.add(where, f"volume mode {mode!r} is not supported (ro or rw)")
                return None
            read_only = "ro" in modes
            kind = "bind" if source.startswith(("/", ".", "~")) else "volume"
        clean = self._target(target, where, p)
        if clean is None:
            return None
        if kind == "tmpfs":
            if source:
                p.add(where, "a tmpfs mount has no source")
                return None
            return MountSpec("tmpfs", "", clean, read_only)
        if kind == "volume":
            if source and source not in self.ctx.volumes:
                p.add(where, f"volume {source!r} is not declared in the top-level 'volumes'")
                return None
            return MountSpec("volume", source, clean, read_only)
        host = self._bind_source(source, where, p)
        return MountSpec("bind", host, clean, read_only) if host else None

    def _bind_source(self, source: str, where: Path_, p: _Problems) -> str | None:
        if not source:
            p.add(where, "a bind mount needs a source path")
            return None
        if source.startswith("~"):
            p.add(where, f"{source!r}: '~' has no meaning on the server; use an absolute path")
            return None
        if source.startswith("/"):
            host = posixpath.normpath(source)
        else:
            if self.ctx.base_dir is None:
                p.add(where, f"relative bind {source!r} {NEEDS_REPO}")
                return None
            base = posixpath.normpath(str(self.ctx.base_dir))
            host = posixpath.normpath(posixpath.join(base, source))
            if not _inside(host, base):
                p.add(where, f"relative bind {source!r} leaves the repository")
                return None
        return host if self._under_roots(host, where, p) else None

    def _under_roots(self, host: str, where: Path_, p: _Problems) -> bool:
        if not self.ctx.bind_roots:
            p.add(where, BIND_DISABLED, host_path=host)
            return False
        if not any(_inside(host, root) for root in self.ctx.bind_roots):
            p.add(where, f"{host}: {BIND_OUTSIDE}", host_path=host, allowed=list(self.ctx.bind_roots))
            return False
        return True

    # ------------------------------------------------------------------------------------------ configs/secrets
    def _files(self, raw: dict[str, Any], path: Path_, p: _Problems) -> list[FileMountSpec]:
        out: list[FileMountSpec] = []
        for kind, top in (("config", self.ctx.configs), ("secret", self.ctx.secrets)):
            key = kind + "s"
            for index, entry in enumerate(raw.get(key) or []):
                where = (*path, key, index)
                name = entry if isinstance(entry, str) else entry.get("source")
                if not name or name not in top:
                    p.add(where, f"{kind} {name!r} is not declared in the top-level '{key}'")
                    continue
                source = self._file_source(key, name, top[name], where, p)
                target = None if isinstance(entry, str) else entry.get("target")
                if not target:
                    target = f"/{name}" if kind == "config" else f"/run/secrets/{name}"
                elif not target.startswith("/"):
                    target = f"/{target}" if kind == "config" else f"/run/secrets/{target}"
                clean = self._target(target, (*where, "target"), p)
                owner = {} if isinstance(entry, str) else self._file_owner(entry, where, p)
                if source and clean and owner is not None:
                    out.append(FileMountSpec(kind, name, source, clean, **owner))  # type: ignore[arg-type]
        return out

    @staticmethod
    def _file_owner(entry: dict[str, Any], where: Path_, p: _Problems) -> dict[str, Any] | None:
        """``uid``/``gid`` (numeric, as swarm takes them) and ``mode`` (permission bits: YAML reads ``0440`` as
        that octal number; the schema allows only numbers) of a service's config or secret."""
        out: dict[str, Any] = {}
        for key in ("uid", "gid"):
            value = entry.get(key)
            if value is None:
                continue
            if not str(value).isdigit():
                p.add((*where, key), f"{key} must be a number (a user or group id), not {value!r}")
                return None
            out[key] = str(int(str(value)))
        mode = entry.get("mode")
        if mode is not None:
            bits = mode if isinstance(mode, int) and not isinstance(mode, bool) else -1
            if not 0 <= bits <= 0o777:
                p.add((*where, "mode"), f"mode must be permission bits in octal (0400 to 0777), not {mode!r}")
                return None
            out["mode"] = bits
        return out

    def _file_source(self, key: str, name: str, top: Any, where: Path_, p: _Problems) -> str | None:
        if key == "configs" and "content" in (top or {}) and not (top or {}).get("file"):
            return f"{CONTENT_SOURCE}{top['content']}"  # written to a file by the deployer, like a variable's
        variable = (top or {}).get("environment")
        if variable and not (top or {}).get("file"):
            if str(variable) not in self.ctx.env:
                p.add(
                    where, f"{key}.{name}.environment: the stack's environment has no variable {variable!r}"
                )
                return None
            return f"{ENV_SOURCE}{variable}"
        file = (top or {}).get("file")
        if not file:
            return None  # reported by the subset check
        shown = f"{key}.{name}.file"
        if self.ctx.base_dir is None:
            p.add(where, f"{shown} {NEEDS_REPO}")
            return None
        if file.startswith("/"):
            host = posixpath.normpath(file)
            return host if self._under_roots(host, where, p) else None
        rel = self._inside_repo(file, where, p, what=f"file of {shown}")
        if rel is None:
            return None
        full = self.ctx.base_dir / rel
        if not full.is_file():
            p.add(where, f"{shown}: {file!r} not found in the repository")
            return None
        return os.path.normpath(str(full.absolute()))

    # ------------------------------------------------------------------------------------------ networks, deps
    def _networks(self, raw: Any, path: Path_, p: _Problems) -> dict[str, list[str]]:
        if raw is None:
            return {"default": []}
        items = (
            {key: [] for key in raw}
            if isinstance(raw, list)
            else {key: list((conf or {}).get("aliases") or []) for key, conf in raw.items()}
        )
        for key in items:
            if key != "default" and key not in self.ctx.networks:
                p.add((*path, key), f"network {key!r} is not declared in the top-level 'networks'")
        return items

    @staticmethod
    def _depends_on(raw: Any) -> list[DependsOn]:
        if raw is None:
            return []
        if isinstance(raw, list):
            return [DependsOn(name) for name in raw]
        return [DependsOn(name, conf.get("condition", "service_started")) for name, conf in raw.items()]

    # ------------------------------------------------------------------------------------------ health, limits
    def _healthcheck(self, raw: Any, path: Path_, p: _Problems) -> HealthSpec | None:
        if raw is None:
            return None
        if raw.get("disable"):
            return HealthSpec(test=["NONE"])
        test = raw.get("test")
        if test is None:
            p.add((*path, "test"), "a healthcheck needs a 'test' (Rivetr does not merge with the image's)")
            return None
        if isinstance(test, str):
            test = ["CMD-SHELL", test]
        if not test or test[0] not in ("CMD", "CMD-SHELL", "NONE"):
            p.add((*path, "test"), "must start with CMD, CMD-SHELL or NONE, or be a string")
            return None
        if test[0] != "NONE" and len(test) < 2:
            p.add((*path, "test"), f"{test[0]} needs a command")
            return None
        times: dict[str, float] = {}
        for key in ("interval", "timeout", "start_period"):
            if key in raw:
                try:
                    times[key] = parse_duration(raw[key])
                except ValueError as exc:
                    p.add((*path, key), str(exc))
        retries = raw.get("retries", 3)
        if retries != int(retries) or retries < 0:
            p.add((*path, "retries"), "must be a whole number, 0 or more")
            retries = 3
        return HealthSpec(test=[str(t) for t in test], retries=int(retries), **times)

    def _limits(self, spec: ServiceSpec, raw: dict[str, Any], path: Path_, p: _Problems) -> None:
        deploy = raw.get("deploy") or {}
        limits = (deploy.get("resources") or {}).get("limits") or {}
        for attr, key, short, parse in (
            ("cpu_limit", "cpus", "cpus", parse_cpus),
            ("memory_limit", "memory", "mem_limit", parse_size),
        ):
            where: Path_ = (*path, "deploy", "resources", "limits", key)
            value = limits.get(key)
            if raw.get(short) is not None:
                if value is not None:
                    p.add((*path, short), f"set either '{short}' or deploy.resources.limits.{key}, not both")
                value, where = raw[short], (*path, short)
            try:
                setattr(spec, attr, parse(value))  # type: ignore[operator]
            except ValueError as exc:
                p.add(where, str(exc))
        placement = deploy.get("placement")
        constraints = placement.get("constraints") if isinstance(placement, dict) else None
        if constraints is not None:
            from rivetr_core.placement import check_placement

            try:
                if not isinstance(constraints, list):
                    raise ValueError("must be a list of constraints")
                spec.placement = check_placement(constraints)
            except ValueError as exc:
                p.add((*path, "deploy", "placement", "constraints"), str(exc))
        replicas = deploy.get("replicas", 1)
        if not 1 <= replicas <= MAX_REPLICAS:
            p.add((*path, "deploy", "replicas"), f"must be between 1 and {MAX_REPLICAS}")
        else:
            spec.replicas = replicas


def signal_name(value: str | int) -> str:
    """A compose ``stop_signal`` as the ``SIGNAME`` engines take: ``SIGQUIT``, ``QUIT`` and ``3`` all give
    ``SIGQUIT``. Raises ValueError naming the accepted forms."""
    import signal

    text = str(value).strip().upper()
    try:
        if text.isdigit():
            return signal.Signals(int(text)).name
        return signal.Signals[text if text.startswith("SIG") else "SIG" + text].name
    except (KeyError, ValueError):
        raise ValueError(
            f"unknown signal {value!r}: expected a signal name like SIGTERM, SIGQUIT or SIGINT (or its number)"
        ) from None
