"""Apps and their env vars as the API shows them.

``app_json`` and ``env_var_json`` build every answer through :class:`AppOut` / :class:`EnvVarOut`, the models
``/openapi.json`` documents, so the two cannot drift apart. The app list renders the same object from the
read-model (:mod:`rivetr_core.readmodels`, cached bytes); its page is documented with :class:`AppOut` too, and
``extra="forbid"`` puts ``additionalProperties: false`` in the document, so the fuzz test's schema check fails
on a key one side has and the other lacks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, Field

from rivetr_core.apimodel import ApiModel
from rivetr_core.db import isoformat
from rivetr_core.engine.gitsource import redact
from rivetr_core.engine.limits import effective_limits
from rivetr_core.engine.selection import health_check_json
from rivetr_core.secrets import mask

if TYPE_CHECKING:
    from rivetr_core.config import RuntimeConfig
    from rivetr_core.models.apps import App, EnvVar
    from rivetr_core.secrets import SecretBox


class _Out(ApiModel):
    model_config = ConfigDict(extra="forbid")


class EffectiveLimitsOut(_Out):
    """What the app's next container gets: its own limits, else ``[runtime]``'s; null: unlimited."""

    cpu: float | None = Field(description="CPUs.")
    memory: int | None = Field(description="Bytes.")
    pids: int | None
    log_max_size: int | None = Field(description="Bytes per log file.")
    log_max_files: int | None
    oom_score_adj: int | None = Field(description="The kernel's OOM score adjustment of the container.")


class DefaultDomainOut(_Out):
    """The app's generated domain (rivetr_core.autodomains; docs/proxy-auto-domains.md)."""

    domain: str | None = Field(description="<app>.<project>.<base_domain> or <app>-<project>.<ip>.sslip.io.")
    kind: str = Field(description='"base" ([proxy] base_domain) or "sslip".')
    active: bool = Field(description="Routed to the app (from its next deploy when it has none running).")
    skipped: str | None = Field(description="Why it is not routed (turned off, taken by another owner...).")
    url: str | None = Field(description="A link to it.")


class ManagedByFileOut(_Out):
    """The settings the app's repository manages (rivetr_core.iac.managed; docs/config-as-code.md): the keys
    its current deployment applied from its rivetr.toml. The API refuses changing them (409 managed_by_file)."""

    path: str = Field(description="The file, relative to the repository's root.")
    commit: str | None = Field(description="The commit whose file it is.")
    deployment_id: str = Field(description="The deployment that applied it.")
    keys: list[str] = Field(description="The file's top-level keys (port, health_check, env...).")
    env: list[str] = Field(description="Names of the variables its env and build_env tables set.")


class AppOut(_Out):
    id: str
    name: str
    project_id: str | None
    environment: str = Field(description="development, staging or production.")
    git_url: str = Field(description="The repository URL, credentials redacted.")
    source_kind: str = Field(description='"git" (clone and build) or "image" (pull a pre-built image).')
    image: str | None = Field(description="An image app's image reference; null for a git app.")
    install_command: str | None = Field(
        description="Zero-config builds: overrides the detected install step."
    )
    build_command: str | None = Field(description="Zero-config builds: overrides the detected build step.")
    start_command: str | None = Field(description="Zero-config builds: overrides the detected start command.")
    base_image: str | None = Field(description="Zero-config builds: overrides the detected base image.")
    branch: str
    dockerfile: str
    build_context: str
    port: int | None = Field(
        description="Port the app listens on inside its container; null until the first deployment records the "
        "port its builder detected (an app created without one)."
    )
    domains: list[str]
    healthcheck_path: str
    healthcheck_status: int | None
    healthcheck_timeout: float
    healthcheck_retries: int
    healthcheck_interval: float
    builder: str = Field(description='"auto" or the name of an installed builder.')
    health_check: dict[str, Any] = Field(
        description='{"kind", its options..., "timeout", "retries", "interval"} (http: "path", "status").'
    )
    cpu_limit: float | None = Field(description="The app's own value; null: the server default.")
    memory_limit: int | None = Field(description="Bytes; 0: unlimited; null: the server default.")
    pids_limit: int | None
    log_max_size: int | None
    log_max_files: int | None
    effective_limits: EffectiveLimitsOut
    ssh_key_id: str | None
    has_git_token: bool = Field(description="A token for a private repository is set (never returned).")
    git_token_user: str | None
    https_redirect: bool
    hsts: bool
    auto_domain: bool = Field(True, description="Route the generated default_domain too.")
    default_domain: DefaultDomainOut | None = Field(
        None, description="The generated domain; null when the server generates none ([proxy] auto_domains)."
    )
    deploy_strategy: str = Field(description="rolling or recreate.")
    replicas: int = Field(1, description="Containers of the app behind the proxy (docs/scaling.md).")
    load_balancer: str = Field("round_robin", description="round_robin or least_conn, over the replicas.")
    max_surge: int = Field(1, description="New replicas a rolling update starts at a time beyond replicas.")
    max_unavailable: int = Field(0, description="Replicas a rolling update may take out of service at once.")
    backup_consistency: str = Field(description="pause, command or none.")
    pre_backup_command: str | None
    release_command: str | None = Field(
        description="Run in a one-off container before the new version serves."
    )
    release_timeout: float = Field(description="Seconds the release (and post-deploy) command may run.")
    post_deploy_command: str | None = Field(description="Run in the new container after the switch.")
    config_path: str | None = Field(
        "rivetr.toml",
        description="The repository's rivetr.toml for this app (null: off; docs/config-as-code.md).",
    )
    tags: list[str] = Field(default_factory=list, description="Labels, sorted (docs/tags.md).")
    placement: list[str] = Field(
        default_factory=list, description="Swarm placement constraints (docs/scaling.md); [] for none."
    )
    status: str = Field(description="The app's state (running, stopped, deploying, deleting...).")
    current_deployment_id: str | None = Field(description="The deployment serving the app.")
    managed_by_file: ManagedByFileOut | None = Field(
        None,
        description="Settings set by the repository's rivetr.toml at the current deployment (read-only here: "
        "change the file, or remove a key from it to hand it back); null: none. Answered by GET and PUT "
        "/api/apps/{id} (other answers: null; lists leave it out).",
    )
    created_at: str | None
    updated_at: str | None


class EnvVarOut(_Out):
    key: str
    value: str = Field(description="Masked for a secret unless ?reveal=true.")
    is_secret: bool
    scope: str = Field(description="runtime, build or both.")
    created_at: str | None
    updated_at: str | None


def app_json(app: App, domains: list[str], runtime: RuntimeConfig) -> dict[str, Any]:
    """An app as the API shows it (git credentials redacted, the token only as ``has_git_token``)."""
    return AppOut(
        id=app.id,
        name=app.name,
        project_id=app.project_id,
        environment=app.environment,
        git_url=redact(app.git_url),
        source_kind=app.source_kind,
        image=app.image,
        install_command=app.install_command,
        build_command=app.build_command,
        start_command=app.start_command,
        base_image=app.base_image,
        branch=app.branch,
        dockerfile=app.dockerfile,
        build_context=app.build_context,
        port=app.port or None,  # 0: not chosen yet (rivetr_core.engine.ports.PORT_DETECT)
        domains=domains,
        healthcheck_path=app.healthcheck_path,
        healthcheck_status=app.healthcheck_status,
        healthcheck_timeout=app.healthcheck_timeout,
        healthcheck_retries=app.healthcheck_retries,
        healthcheck_interval=app.healthcheck_interval,
        builder=app.builder,
        health_check=health_check_json(app),
        cpu_limit=app.cpu_limit,
        memory_limit=app.memory_limit,
        pids_limit=app.pids_limit,
        log_max_size=app.log_max_size,
        log_max_files=app.log_max_files,
        effective_limits=EffectiveLimitsOut(**effective_limits(app, runtime).as_json()),
        ssh_key_id=app.ssh_key_id,
        has_git_token=app.git_token_enc is not None,
        git_token_user=app.git_token_user,
        https_redirect=app.https_redirect,
        hsts=app.hsts,
        auto_domain=app.auto_domain,
        deploy_strategy=app.deploy_strategy,
        replicas=app.replicas,
        load_balancer=app.load_balancer,
        max_surge=app.max_surge,
        max_unavailable=app.max_unavailable,
        backup_consistency=app.backup_consistency,
        pre_backup_command=app.pre_backup_command,
        release_command=app.release_command,
        release_timeout=app.release_timeout,
        post_deploy_command=app.post_deploy_command,
        config_path=app.config_path,
        tags=list(app.tags or ()),
        placement=list(app.placement or ()),
        status=app.status,
        current_deployment_id=app.current_deployment_id,
        created_at=isoformat(app.created_at),
        updated_at=isoformat(app.updated_at),
    ).model_dump(mode="json")


def env_var_json(box: SecretBox, row: EnvVar, *, reveal: bool) -> dict[str, Any]:
    """An env var as the API shows it: a secret's value masked unless ``reveal``."""
    return EnvVarOut(
        key=row.key,
        value=box.decrypt(row.value_enc) if reveal or not row.is_secret else mask("x"),
        is_secret=row.is_secret,
        scope=row.scope,
        created_at=isoformat(row.created_at),
        updated_at=isoformat(row.updated_at),
    ).model_dump(mode="json")
