"""A compose service as the :class:`~rivetr_core.contract.RunSpec` of one of its containers.

Compose's defaults are kept (no init process, no restart, the image's own user and directory), so a stack runs
like ``docker-compose up`` would run it; what Rivetr adds is its labels, log rotation (the host-protection
defaults apps have) and the project network, where the service is ``<stack>-<service>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rivetr_core.contract import HealthcheckConfig, Mount, PortPublish, RunSpec

from . import naming

if TYPE_CHECKING:
    from rivetr_core.compose.model import ServiceSpec


@dataclass
class StackContext:
    """What every container of one deployment of a stack shares."""

    stack_id: str
    stack: str
    deployment_id: str
    instance: str
    project_network: str | None
    #: compose network key -> engine network name
    networks: dict[str, str] = field(default_factory=dict)
    #: compose volume key -> engine volume name
    volumes: dict[str, str] = field(default_factory=dict)
    #: compose volume key -> the file's own labels of that volume (top-level ``volumes.<key>.labels``)
    volume_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    log_max_size: int | None = None
    log_max_files: int | None = None
    oom_score_adj: int | None = None
    pids_limit: int | None = None


def run_spec(
    ctx: StackContext,
    spec: ServiceSpec,
    *,
    image: str,
    replica: int,
    config_hash: str,
    routed_port: int | None,
    files: Mapping[str, str] | None = None,
) -> RunSpec:
    """``files`` maps a config/secret name to the host file holding it (persisted by the deployer)."""
    networks = [(ctx.networks[key], [spec.name, *aliases]) for key, aliases in spec.networks.items()]
    first, first_aliases = networks[0] if networks else (None, [])
    extra = dict(networks[1:])
    if ctx.project_network:
        alias = naming.project_alias(ctx.stack, spec.name)
        if first is None:
            first, first_aliases = ctx.project_network, [alias]
        else:
            extra[ctx.project_network] = [alias]
    mounts: list[Mount] = []
    tmpfs: dict[str, str] = {}
    volume_labels = {
        "rivetr.stack": ctx.stack_id,
        naming.LABEL_STACK_NAME: ctx.stack,
        "rivetr.instance": ctx.instance,
    }
    for m in spec.mounts:
        if m.kind == "tmpfs":
            tmpfs[m.target] = m.options
        elif m.kind == "bind":
            mounts.append(Mount(source=m.source, target=m.target, kind="bind", read_only=m.read_only))
        else:
            source = (
                ctx.volumes[m.source]
                if m.source
                else naming.anonymous_volume_name(ctx.stack_id, spec.name, m.target)
            )
            own = ctx.volume_labels.get(m.source, {}) if m.source else {}
            mounts.append(
                Mount(source=source, target=m.target, read_only=m.read_only, labels={**own, **volume_labels})
            )
    for f in spec.files:
        host = (files or {}).get(f"{f.kind}:{f.name}", f.source_path)
        mounts.append(
            Mount(
                source=host,
                target=f.target,
                kind="bind",
                read_only=True,
                secret=f.name if f.kind == "secret" else "",
                config=f.name if f.kind == "config" else "",
                file_uid=f.uid,
                file_gid=f.gid,
                file_mode=f.mode,
            )
        )
    health = None
    if spec.healthcheck is not None:
        h = spec.healthcheck
        health = HealthcheckConfig(
            test=list(h.test),
            interval=h.interval,
            timeout=h.timeout,
            retries=h.retries,
            start_period=h.start_period,
        )
    ports = [
        PortPublish(
            container_port=p.container_port,
            host_port=p.host_port or 0,
            host_ip=p.host_ip,
            protocol=p.protocol,  # type: ignore[arg-type]
        )
        for p in spec.ports
        if p.host_port is not None
    ]
    expose = sorted({*spec.expose, *(p.container_port for p in spec.ports if p.host_port is None)})
    return RunSpec(
        image=image,
        name=naming.container_name(ctx.stack, spec.name, replica, ctx.deployment_id),
        env=dict(spec.environment),
        labels={
            **spec.labels,
            **naming.labels(ctx.stack_id, spec.name, ctx.deployment_id, config_hash, ctx.instance),
            naming.LABEL_STACK_NAME: ctx.stack,
        },
        container_port=routed_port,
        cpu_limit=spec.cpu_limit,
        memory_limit=spec.memory_limit,
        pids_limit=ctx.pids_limit,
        log_max_size=ctx.log_max_size,
        log_max_files=ctx.log_max_files,
        oom_score_adj=ctx.oom_score_adj,
        restart_policy=spec.restart,  # type: ignore[arg-type]
        restart_max_attempts=spec.restart_max_attempts,
        restart_delay=spec.restart_delay,
        restart_window=spec.restart_window,
        init=spec.init,
        stop_signal=spec.stop_signal,
        stop_timeout=spec.stop_grace_period,
        network=first,
        network_aliases=list(dict.fromkeys(first_aliases)),
        extra_networks=extra,
        command=list(spec.command) if spec.command is not None else None,
        entrypoint=list(spec.entrypoint) if spec.entrypoint is not None else None,
        working_dir=spec.working_dir,
        user=spec.user,
        healthcheck=health,
        ports=ports,
        expose=expose,
        tmpfs=tmpfs,
        publish=False,
        mounts=mounts,
        placement=list(spec.placement),
    )


def label_map(value: Any) -> dict[str, str]:
    """Compose labels in mapping or ``KEY=value`` list form."""
    if isinstance(value, dict):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    out: dict[str, str] = {}
    for item in value or []:
        key, _, val = str(item).partition("=")
        out[key] = val
    return out


def describe(spec: RunSpec) -> dict[str, Any]:
    """The parts of a run spec a deployment log names (never the environment: it may hold secrets)."""
    return {
        "image": spec.image,
        "name": spec.name,
        "network": spec.network,
        "extra": list(spec.extra_networks),
    }
