"""Apps area tables: projects, apps (and their domains), env vars, SSH keys, deployments and build logs.

Secrets (env values, git tokens, private keys) are stored only as :class:`~rivetr_core.secrets.SecretBox`
ciphertext (``*_enc`` columns). Domains live in their own table whose primary key is the host name, so the
database itself refuses a domain claimed by two apps.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from rivetr_core.db.engine import new_id, utcnow

#: Statuses a deployment passes through, in order; the pipeline moves forward only.
ACTIVE_STATUSES = ("queued", "cloning", "building", "starting", "health_checking", "switching")
#: Statuses a deployment never leaves (``running`` may still become ``replaced``).
TERMINAL_STATUSES = ("failed", "cancelled", "superseded", "replaced")
DEPLOYMENT_STATUSES = (*ACTIVE_STATUSES, "running", *TERMINAL_STATUSES)
#: The team migration 0020 creates; it owns every project created without ``team_id`` and cannot be deleted.
#: A fixed id, not a name (the team can be renamed); here, not in models/teams.py, so that projects never load
#: the teams feature.
DEFAULT_TEAM_ID = "default"
#: Pipeline steps whose start/end/duration are recorded in ``Deployment.steps``.
STEPS = ("clone", "build", "release", "start", "health", "switch", "drain", "post_deploy")


def _fk(target: str, *, ondelete: str) -> Any:
    return Column(String(32), ForeignKey(target, ondelete=ondelete), nullable=True, index=True)


class Project(SQLModel, table=True):
    __tablename__ = "projects"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(max_length=63, unique=True)
    description: str = Field(default="", max_length=1000)
    #: The team that owns the project (models/teams.py). No ORM foreign key: the teams tables load with the
    #: teams feature (idle memory) and a flush must not need them; the database holds the constraint where it
    #: can (migration 0020_teams: PostgreSQL), the project and team services keep it on SQLite.
    team_id: str = Field(default=DEFAULT_TEAM_ID, index=True, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class SshKey(SQLModel, table=True):
    """A deploy key for cloning over SSH. Only the public half is ever returned."""

    __tablename__ = "ssh_keys"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(max_length=63, unique=True)
    public_key: str
    fingerprint: str = Field(max_length=100)
    private_key_enc: str
    created_at: datetime = Field(default_factory=utcnow)


class App(SQLModel, table=True):
    """An application: where its source is, how to build, run, route and health-check it.

    ``status``: ``created`` (never deployed), ``running``, ``failed`` (last deploy failed, nothing runs),
    ``crashed`` (the container kept dying after the restart budget), ``stopped``, ``deleting`` (being removed:
    no deploy, no crash restart).
    """

    __tablename__ = "apps"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(max_length=63, unique=True)
    project_id: str | None = Field(default=None, sa_column=_fk("projects.id", ondelete="RESTRICT"))
    environment: str = Field(default="development", max_length=20, index=True)
    #: ``git`` (clone ``git_url`` and build) or ``image`` (pull and run ``image``; ``git_url`` is then "").
    source_kind: str = Field(default="git", max_length=10)
    #: A pre-built image reference (``registry.example.com/team/api:1.4``) for ``source_kind = "image"``.
    image: str | None = Field(default=None, max_length=500)
    git_url: str = Field(max_length=2000)
    branch: str = Field(default="main", max_length=255)
    dockerfile: str = Field(default="Dockerfile", max_length=500)
    build_context: str = Field(default=".", max_length=500)
    port: int = 3000
    healthcheck_path: str = Field(default="/", max_length=500)
    healthcheck_status: int | None = None
    healthcheck_timeout: float = 5.0
    healthcheck_retries: int = 30
    healthcheck_interval: float = 1.0
    #: ``"auto"`` (detection by priority) or the name of an installed builder, the only one then asked.
    builder: str = Field(default="auto", max_length=100)
    #: Overrides of zero-config builders (``builder-auto``): None = what detection chose.
    install_command: str | None = Field(default=None, max_length=2000)
    build_command: str | None = Field(default=None, max_length=2000)
    start_command: str | None = Field(default=None, max_length=2000)
    base_image: str | None = Field(default=None, max_length=500)
    #: ``{"kind": <health check name>, ...options}`` minus the options kept in the ``healthcheck_*`` columns
    #: above (see rivetr_core.engine.selection).
    health_check: dict[str, Any] = Field(
        default_factory=lambda: {"kind": "http"}, sa_column=Column(JSON, nullable=False)
    )
    #: Host protection overrides (see rivetr_core.engine.limits): None = the [runtime] default, 0 = unlimited
    #: (memory, pids). Log rotation cannot be switched off per app, only sized.
    cpu_limit: float | None = None
    memory_limit: int | None = None
    pids_limit: int | None = None
    log_max_size: int | None = None
    log_max_files: int | None = None
    ssh_key_id: str | None = Field(default=None, sa_column=_fk("ssh_keys.id", ondelete="RESTRICT"))
    git_token_enc: str | None = None
    #: User name sent with ``git_token`` (GitLab ``oauth2``, Bitbucket ``x-token-auth``); None: ``x-access-token``.
    git_token_user: str | None = Field(default=None, max_length=100)
    #: Flags of the app's routes: HTTP→HTTPS redirect (once a certificate exists) and HSTS.
    https_redirect: bool = True
    hsts: bool = False
    #: Route the generated <app>.<project>.<[proxy] base_domain> (or sslip.io) name too (rivetr_core.autodomains).
    auto_domain: bool = True
    #: ``rolling``: start the new container, switch, then stop the old one (zero downtime; both share the
    #: app's named volumes meanwhile). ``recreate``: stop the old one first (a brief 502 while none runs).
    deploy_strategy: str = Field(default="rolling", max_length=20)
    #: Containers of the app behind the proxy on this server (1..20; see rivetr_core.engine.replicas): a
    #: deployment starts this many, ``POST /api/apps/{id}/scale`` changes it without a rebuild.
    replicas: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    #: How the proxy spreads the app's requests over its replicas: ``round_robin`` (in turn) or ``least_conn``
    #: (the replica with the fewest requests in flight); carried on each of the app's routes.
    load_balancer: str = Field(
        default="round_robin", max_length=20, sa_column_kwargs={"server_default": "round_robin"}
    )
    #: Rolling update of the replicas (rivetr_core.engine.rollout): how many new replicas start beyond
    #: ``replicas`` at a time, and how many may be missing meanwhile (0..replicas, not both 0).
    max_surge: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    max_unavailable: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    #: How a volume backup keeps the app's data consistent: ``pause`` its container for the copy, run
    #: ``pre_backup_command`` in it first (``command``), or ``none`` (see rivetr_core.services.backups).
    backup_consistency: str = Field(default="pause", max_length=10)
    pre_backup_command: str | None = Field(default=None, max_length=2000)
    #: Release phase (see rivetr_core.engine.release): run in a one-off container of the new image, with the
    #: app's env and links, before it takes traffic; non-zero exit or ``release_timeout`` seconds fail the deploy.
    release_command: str | None = Field(default=None, max_length=2000)
    release_timeout: float = 600.0
    #: Run in the new container after the switch; a failure is reported, never rolled back.
    post_deploy_command: str | None = Field(default=None, max_length=2000)
    #: Where the repository keeps the app's rivetr.toml (rivetr_core.engine.repo_config); None: off. The type
    #: evaluates None: the ORM otherwise leaves a None out of the INSERT and the server default turns it on.
    config_path: str | None = Field(
        default="rivetr.toml",
        max_length=255,
        sa_type=String(255).evaluates_none(),
        sa_column_kwargs={"server_default": "rivetr.toml"},
    )
    #: Labels to organise and filter by (rivetr_core.tags): lower-case, deduplicated, sorted.
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))
    #: Swarm placement constraints (rivetr_core.placement), checked; carried in the RunSpec, which only a
    #: cluster runtime applies.
    placement: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    status: str = Field(default="created", max_length=20)
    current_deployment_id: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class AppDomain(SQLModel, table=True):
    __tablename__ = "app_domains"

    domain: str = Field(primary_key=True, max_length=253)
    app_id: str = Field(
        sa_column=Column(String(32), ForeignKey("apps.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    position: int = 0


class EnvVar(SQLModel, table=True):
    """One environment variable of an app; the value is always encrypted, ``is_secret`` only masks it."""

    __tablename__ = "env_vars"
    __table_args__ = (UniqueConstraint("app_id", "key", name="uq_env_vars_app_key"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    app_id: str = Field(
        sa_column=Column(String(32), ForeignKey("apps.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    key: str = Field(max_length=255)
    value_enc: str
    is_secret: bool = False
    #: ``runtime`` (the container's environment), ``build`` (a build argument only) or ``both``.
    scope: str = Field(default="runtime", max_length=10)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Deployment(SQLModel, table=True):
    """One attempt to put a version of an app live.

    ``steps`` maps a step name (:data:`STEPS`) to ``{"started_at", "finished_at", "duration_ms"}``.
    ``rollback_of`` names the deployment whose image a rollback reuses (no clone, no build).
    """

    __tablename__ = "deployments"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    app_id: str = Field(
        sa_column=Column(String(32), ForeignKey("apps.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    status: str = Field(default="queued", max_length=20, index=True)
    trigger: str = Field(default="api", max_length=40)
    #: Who asked for it through the API, as the audit log names them (``user:<name>``, ``token:<owner>/<name>``,
    #: ``admin``); null when no one did (a webhook, a schedule, a crash restart: ``trigger`` says which).
    started_by: str | None = Field(default=None, max_length=200)
    requested_commit: str | None = Field(default=None, max_length=64)
    commit_sha: str | None = Field(default=None, max_length=64)
    commit_message: str | None = Field(default=None, max_length=2000)
    rollback_of: str | None = Field(default=None, max_length=32)
    image: str | None = Field(default=None, max_length=500)
    #: The image's digest as the engine resolved it (a pre-built image's deployment: what a rollback runs).
    image_digest: str | None = Field(default=None, max_length=200)
    #: Built without the engine's layer cache (``POST /api/apps/{id}/deploy {"no_cache": true}``).
    no_cache: bool = False
    image_removed: bool = False
    container_id: str | None = Field(default=None, max_length=128)
    container_name: str | None = Field(default=None, max_length=255)
    upstream: str | None = Field(default=None, max_length=300)
    error: str | None = None
    log_tail: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    steps: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    #: What the commit's ``rivetr.toml`` applied (``{"commit", "path", "file", "changes"}``, see
    #: rivetr_core.engine.repo_config); a rollback to this deployment applies ``file`` again. None: no file.
    applied_config: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    restart_count: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    #: PostgreSQL: the control plane (rivetr_core.engine.planes) that queued or claimed it; only that plane's
    #: recovery and crash watcher touch it while it lives. None on SQLite (one process owns the file).
    plane_id: str | None = Field(default=None, max_length=32)


class DeploymentLog(SQLModel, table=True):
    __tablename__ = "deployment_logs"

    id: int | None = Field(default=None, primary_key=True)
    deployment_id: str = Field(
        sa_column=Column(
            String(32), ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    ts: datetime = Field(default_factory=utcnow)
    line: str
