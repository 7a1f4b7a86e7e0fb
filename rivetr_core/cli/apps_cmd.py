"""``rivetr apps list``, ``apps show <name|id>``, ``apps create <name> --git URL``, ``apps update <name|id>``
(release phase), ``apps stop|start|restart <name|id>``, ``apps limits <name|id>``,
``apps builder <name|id> [NAME]``, ``apps health-check <name|id> [--kind ...]``, ``apps tag|untag <name|id> TAG...``
and ``apps delete <name|id>``."""

from __future__ import annotations

import json
import shlex
from typing import Any

import click

from .app_pages_cmd import apps_error_page, apps_maintenance
from .auto_domain_cmd import apps_auto_domain, default_domain_text, with_default_domain
from .balancer_cmd import apps_load_balancer
from .client import Connection, complete_app, connection_options, json_option, show_or_set
from .inputs import git_token_fields, project_id_of
from .links_cmd import apps_link, apps_links, apps_unlink
from .output import fields, print_json, resources_line, short_time, table
from .placement_cmd import placement_body, placement_option, placement_text
from .scale_cmd import apps_replicas, apps_scale, replicas_body, replicas_option, rollout_text
from .tags_cmd import add_tag_commands, tag_option, tag_params, tags_text


@click.group()
def apps() -> None:
    """List, inspect, create and delete apps."""


@apps.command("list")
@tag_option("Only apps with this tag (repeatable: with all of them).")
@connection_options
@json_option
def apps_list(tags: tuple[str, ...], conn: Connection, as_json: bool) -> None:
    """Every app with its status and domains, by name."""
    with conn.client() as client:
        rows = sorted(client.list_all("/api/apps", tag_params(tags)), key=lambda a: a["name"])
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no apps with these tags" if tags else "no apps yet")
        return
    table(
        [
            (
                a["name"],
                a["status"],
                a["domains"],
                a.get("environment"),
                a.get("current_deployment_id"),
                short_time(a.get("updated_at")),
                tags_text(a),
            )
            for a in rows
        ],
        ["name", "status", "domains", "environment", "deployment", "updated", "tags"],
    )


@apps.command("show")
@click.argument("app", shell_complete=complete_app)
@connection_options
@json_option
def apps_show(app: str, conn: Connection, as_json: bool) -> None:
    """One app (by name or id) with its latest deployments, and the settings its repository's rivetr.toml
    manages."""
    from .managed_by_file import managed_line, with_managed

    with conn.client() as client:
        found = with_managed(client, with_default_domain(client, client.resolve_app(app)))
        # The first page, newest first: the latest five are all this shows.
        deployments = client.get(f"/api/apps/{found['id']}/deployments", params={"limit": 5})["items"]
        usage = client.get(
            f"/api/apps/{found['id']}/metrics", params={"range": "15m", "points": 2}, ok=(404,)
        )
    latest = usage.get("latest") if isinstance(usage, dict) else None
    if as_json:
        print_json({**found, "deployments": deployments, "resources": latest})
        return
    fields(
        [
            ("name", found["name"]),
            ("id", found["id"]),
            ("status", found["status"]),
            ("domains", found.get("domains")),
            ("default domain", default_domain_text(found)),
            *(
                [("image", found.get("image"))]
                if found.get("source_kind") == "image"
                else [
                    ("git", f"{found.get('git_url')} ({found.get('branch')})"),
                    ("dockerfile", f"{found.get('build_context')}/{found.get('dockerfile')}"),
                ]
            ),
            ("port", found.get("port") or "(detected at the first deployment)"),
            ("replicas", rollout_text(found)),
            ("placement", placement_text(found)),
            ("builder", found.get("builder", "auto")),
            ("config file", _config_path_text(found)),
            ("health check", _health_summary(found.get("health_check") or {})),
            ("environment", found.get("environment")),
            ("tags", tags_text(found)),
            ("limits", _limits_summary(found.get("effective_limits") or {})),
            *(
                _release_rows(found)
                if found.get("release_command") or found.get("post_deploy_command")
                else []
            ),
            ("deployment", found.get("current_deployment_id")),
            ("resources", resources_line(latest)),
            ("created", short_time(found.get("created_at"))),
        ]
    )
    managed = managed_line(found.get("managed_by_file"))
    if managed:  # changed in the repository's file, not through the API (which refuses them)
        click.echo(managed)
    if deployments:
        click.echo()
        # Several control planes (PostgreSQL): which one runs each (``rivetr system control-planes``).
        planes = any(d.get("plane_id") for d in deployments)
        table(
            [
                (
                    d["id"],
                    d["status"],
                    (d.get("commit_sha") or "")[:10],
                    d.get("trigger"),
                    d.get("started_by") or "",
                    short_time(d.get("created_at")),
                    *([(d.get("plane_id") or "-")[:8]] if planes else []),
                    d.get("error") or "",
                )
                for d in deployments
            ],
            [
                "deployment",
                "status",
                "commit",
                "trigger",
                "by",
                "created",
                *(["plane"] if planes else []),
                "error",
            ],
        )


def _no_credentials(_ctx: click.Context, _param: click.Parameter, url: str | None) -> str | None:
    """A token inside the URL (``https://<token>@host/...``) would sit in argv, readable by every local user and
    kept in shell history: refuse it and point at ``--git-token-stdin``."""
    from urllib.parse import urlsplit

    if url and "://" in url:
        parts = urlsplit(url)
        if parts.password or (parts.username and parts.scheme.lower() in ("http", "https")):
            raise click.BadParameter(
                "the URL carries credentials; give the URL without them and pass the token with "
                "--git-token-stdin (command-line arguments are visible to every user of this machine)"
            )
    return url


def release_options(command: Any) -> Any:
    """``--release-command``, ``--release-timeout`` and ``--post-deploy-command`` (``apps create`` / ``update``)."""
    for decorator in reversed(
        (
            click.option(
                "--release-command",
                help="Run (sh -c) in a one-off container of the new image before it takes traffic, e.g. "
                "'python manage.py migrate'; a failure stops the deploy ('' clears it).",
            ),
            click.option(
                "--release-timeout",
                type=click.FloatRange(1, 86400),
                help="Seconds the release (and post-deploy) command may run (default 600).",
            ),
            click.option(
                "--post-deploy-command",
                help="Run (sh -c) in the new container after the switch; a failure is reported, not rolled "
                "back ('' clears it).",
            ),
        )
    ):
        command = decorator(command)
    return command


def release_body(options: dict[str, Any]) -> dict[str, Any]:
    """The API fields of the release options given; an empty command clears it (null)."""
    body: dict[str, Any] = {}
    for key in ("release_command", "post_deploy_command"):
        if options.get(key) is not None:
            body[key] = options[key] or None
    if options.get("release_timeout") is not None:
        body["release_timeout"] = options["release_timeout"]
    return body


#: Zero-config build overrides (builder-auto, docs/builds.md): option name → what it replaces.
BUILD_OVERRIDES = {
    "install_command": "the detected install command",
    "build_command": "the detected build command",
    "start_command": "the detected start command",
    "base_image": "the detected base image",
}


def build_options(command: Any) -> Any:
    """``--install-command``, ``--build-command``, ``--start-command``, ``--base-image`` and ``--build-context``
    (``apps create`` / ``update``)."""
    for key, what in reversed(BUILD_OVERRIDES.items()):
        flag = "--" + key.replace("_", "-")
        command = click.option(flag, key, help=f"Zero-config builds: replaces {what} ('' clears it).")(
            command
        )
    command = click.option(
        "--config-path",
        help="Path of the app's rivetr.toml in its repository (default rivetr.toml, e.g. deploy/web.toml; '' "
        "turns it off: deployments ignore the file).",
    )(command)
    return click.option("--build-context", help="Directory of the repository to build (default .).")(command)


def build_body(options: dict[str, Any]) -> dict[str, Any]:
    """The API fields of the build options given; an empty override clears it (null: detected again)."""
    body: dict[str, Any] = {
        key: options[key] or None for key in BUILD_OVERRIDES if options.get(key) is not None
    }
    if options.get("build_context"):
        body["build_context"] = options["build_context"]
    if options.get("config_path") is not None:
        body["config_path"] = options["config_path"] or None
    return body


@apps.command("create")
@click.argument("name")
@click.option(
    "--git",
    "git_url",
    callback=_no_credentials,
    help="Repository URL (https://, ssh://, git@host:path, git://), without credentials.",
)
@click.option(
    "--image",
    metavar="REF",
    help="A pre-built image instead of --git (registry.example.com/team/api:1.4); credentials of a private "
    "registry: `rivetr registries add`.",
)
@click.option("--branch", default="main", show_default=True)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    help="Port the app listens on; default: the port its builder detects at the first deployment (python "
    "8000, node 3000, go/static 8080, else 3000; an --image app: 3000).",
)
@click.option("--domain", "domains", multiple=True, help="Domain routed to the app (repeatable).")
@click.option("--dockerfile", default="Dockerfile", show_default=True)
@click.option("--builder", default="auto", show_default=True, help="auto, or an installed builder's name.")
@click.option(
    "--health-check",
    "health_kind",
    help="http (default), tcp, command or a plugin's check (see `rivetr plugins list`).",
)
@click.option("--health-path", help="Path the http check requests (default /).")
@click.option("--health-command", help="Shell command the command check runs in the container (sh -c).")
@click.option(
    "--health-option", "health_options", multiple=True, help="KEY=VALUE option of the check (repeatable)."
)
@click.option(
    "--git-token-stdin",
    is_flag=True,
    help="Read an HTTPS token for a private repository from stdin (kept out of shell history).",
)
@click.option(
    "--git-token-user", help="User name sent with the token (GitLab: oauth2, Bitbucket: x-token-auth)."
)
@tag_option("A tag to organise and filter by (repeatable).")
@replicas_option
@placement_option
@build_options
@release_options
@connection_options
@json_option
def apps_create(
    name: str,
    git_url: str | None,
    image: str | None,
    branch: str,
    port: int | None,
    domains: tuple[str, ...],
    dockerfile: str,
    builder: str,
    health_kind: str | None,
    health_path: str | None,
    health_command: str | None,
    health_options: tuple[str, ...],
    git_token_stdin: bool,
    git_token_user: str | None,
    tags: tuple[str, ...],
    conn: Connection,
    as_json: bool,
    **settings: Any,
) -> None:
    """Create an app from a git repository (--git) or a pre-built image (--image); deploy it with
    `rivetr deploy NAME`."""
    if bool(git_url) == bool(image):
        raise click.UsageError("give either --git URL or --image REF")
    source: dict[str, object] = (
        {"source": {"kind": "image", "image": image}} if image else {"git_url": git_url}
    )
    body: dict[str, object] = {
        "name": name,
        **source,
        "branch": branch,
        **({"port": port} if port else {}),
        "domains": list(domains),
        "dockerfile": dockerfile,
        "builder": builder,
        "tags": list(tags),
        **replicas_body(settings),
        **placement_body(settings),
        **build_body(settings),
        **release_body(settings),
    }
    check = _health_check({}, health_kind, health_path, None, health_command, health_options, {})
    if check:
        body["health_check"] = check
    body.update(git_token_fields(git_token_stdin, git_token_user))
    with conn.client() as client:
        created = client.post("/api/apps", body)
    if as_json:
        print_json(created)
        return
    click.echo(
        f"created app {created['name']} ({created['id']}); deploy it with: rivetr deploy {created['name']}"
    )


@apps.command("delete")
@click.argument("app", shell_complete=complete_app)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--keep-volumes", is_flag=True, help="Keep the app's named volumes (their data) in the engine.")
@connection_options
def apps_delete(app: str, yes: bool, keep_volumes: bool, conn: Connection) -> None:
    """Delete an app: its containers, routes, images, deployments and variables, and its named volumes' data
    unless --keep-volumes."""
    with conn.client() as client:
        found = client.resolve_app(app)
        if not yes:
            data = "" if keep_volumes else " (and the data in its volumes)"
            click.confirm(
                f"Delete {found['name']} with its containers, routes, images and deployments{data}?",
                abort=True,
            )
        client.delete(f"/api/apps/{found['id']}", params={"keep_volumes": str(keep_volumes).lower()})
    click.echo(f"deleted app {found['name']}")


#: start and restart answer once the health check passed, which may take as long as the app's own checks allow.
LIFECYCLE_TIMEOUT = 600.0


def _lifecycle(app: str, action: str, conn: Connection, as_json: bool) -> None:
    with conn.client(timeout=LIFECYCLE_TIMEOUT) as client:
        found = client.resolve_app(app)
        result = client.post(f"/api/apps/{found['id']}/{action}")
    if as_json:
        print_json(result)
        return
    click.echo(f"{result['name']}: {result['status']}")


@apps.command("stop")
@click.argument("app", shell_complete=complete_app)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@connection_options
@json_option
def apps_stop(app: str, yes: bool, conn: Connection, as_json: bool) -> None:
    """Stop an app's container: its domains answer 503 until `apps start` or a deploy (the container and its
    deployment are kept; it stays stopped across restarts of Rivetr and of the engine)."""
    if not yes:
        click.confirm(f"Stop {app}? Its domains answer 503 until it is started again.", abort=True)
    _lifecycle(app, "stop", conn, as_json)


@apps.command("start")
@click.argument("app", shell_complete=complete_app)
@connection_options
@json_option
def apps_start(app: str, conn: Connection, as_json: bool) -> None:
    """Start a stopped app's container again and wait for its health check."""
    _lifecycle(app, "start", conn, as_json)


@apps.command("restart")
@click.argument("app", shell_complete=complete_app)
@connection_options
@json_option
def apps_restart(app: str, conn: Connection, as_json: bool) -> None:
    """Restart a running app's container in place (same image and settings; not a redeploy), health-checked."""
    _lifecycle(app, "restart", conn, as_json)


@apps.command("update")
@click.argument("app", shell_complete=complete_app)
@click.option("--name", "new_name", help="Rename the app (its id, domains, variables and volumes stay).")
@click.option(
    "--project", help="Move the app to this project (name or id): its private network from the next deploy."
)
@click.option("--dockerfile", help="Path of the Dockerfile, relative to the build context.")
@replicas_option
@placement_option
@build_options
@release_options
@connection_options
@json_option
def apps_update(app: str, conn: Connection, as_json: bool, **settings: Any) -> None:
    """Show or change an app's build settings (Dockerfile, build context, zero-config overrides) and release
    phase (they apply at the next deployment).

    \b
    rivetr apps update web --start-command 'gunicorn -b 0.0.0.0:$PORT app:app' --base-image python:3.11-slim
    rivetr apps update web --start-command ''       # detected again
    rivetr apps update web --dockerfile docker/Dockerfile.prod --build-context services/web
    rivetr apps update web --config-path deploy/web.toml   # where its rivetr.toml is ('' ignores it)
    rivetr apps update web --release-command 'python manage.py migrate --noinput'
    rivetr apps update web --release-timeout 1200 --post-deploy-command './bin/warm-cache'
    rivetr apps update web --release-command ''     # no release phase any more
    rivetr apps update web --name storefront --project shop
    rivetr apps update web --replicas 3             # at the next deploy; `apps scale` applies it now
    rivetr apps update web --max-surge 2 --max-unavailable 1   # how a deploy replaces the replicas
    rivetr apps update web --placement 'node.labels.tier == web'   # swarm: only on nodes labelled so"""
    body = {
        **replicas_body(settings),
        **placement_body(settings),
        **build_body(settings),
        **release_body(settings),
    }
    if settings.get("dockerfile"):
        body["dockerfile"] = settings["dockerfile"]
    if settings.get("new_name"):
        body["name"] = settings["new_name"]
    with conn.client() as client:
        if settings.get("project"):
            body["project_id"] = project_id_of(client, settings["project"])
        found = client.resolve_app(app)
        if body:
            found = client.put(f"/api/apps/{found['id']}", body)
    if as_json:
        print_json(found)
        return
    fields(_build_rows(found) + _release_rows(found) + [("placement", placement_text(found))])
    if body:
        click.echo(f"saved; applies at the next deployment: rivetr deploy {found['name']}")


def _build_rows(found: dict[str, Any]) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = [
        ("dockerfile", found.get("dockerfile", "Dockerfile")),
        ("build context", found.get("build_context", ".")),
    ]
    rows += [(key.replace("_", " "), found.get(key) or "(detected)") for key in BUILD_OVERRIDES]
    return [*rows, ("config file", _config_path_text(found))]


def _config_path_text(found: dict[str, Any]) -> str:
    """Where deployments read the app's rivetr.toml (an API without the field: the root's)."""
    path = found.get("config_path", "rivetr.toml")
    return path or "off (deployments ignore rivetr.toml)"


def _release_rows(found: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        ("release command", found.get("release_command") or "-"),
        ("release timeout", f"{found.get('release_timeout', 600):g} s"),
        ("post-deploy command", found.get("post_deploy_command") or "-"),
    ]


def _size(value: int | None) -> str:
    if not value:
        return "unlimited"
    for unit, factor in (("g", 1024**3), ("m", 1024**2), ("k", 1024)):
        if value % factor == 0:
            return f"{value // factor}{unit}"
    return str(value)


def _limits_summary(limits: dict[str, Any]) -> str:
    """``memory 1g, pids 4096, cpu unlimited, logs 10m x 3, oom score +500`` (what the container gets)."""
    logs = (
        f"{_size(limits.get('log_max_size'))} x {limits.get('log_max_files')}"
        if limits.get("log_max_size")
        else "engine default"
    )
    return (
        f"memory {_size(limits.get('memory'))}, pids {limits.get('pids') or 'unlimited'}, "
        f"cpu {limits.get('cpu') or 'unlimited'}, logs {logs}, oom score +{limits.get('oom_score_adj') or 0}"
    )


#: ``apps limits`` options → API field; "default" clears an override (the server's [runtime] value applies).
_LIMIT_OPTIONS = {
    "cpu": "cpu_limit",
    "memory": "memory_limit",
    "pids": "pids_limit",
    "log_max_size": "log_max_size",
    "log_max_files": "log_max_files",
}


@apps.command("limits")
@click.argument("app", shell_complete=complete_app)
@click.option("--cpu", help='CPUs, e.g. 0.5 or 500m ("default": the server default).')
@click.option(
    "--memory", help='Memory limit, e.g. 512m or 2g; 0 = unlimited ("default": the server default).'
)
@click.option("--pids", help='Max processes; 0 = unlimited ("default": the server default).')
@click.option("--log-max-size", help='Size of one container log file, e.g. 10m ("default").')
@click.option("--log-max-files", help='Log files kept ("default").')
@connection_options
@json_option
def apps_limits(app: str, conn: Connection, as_json: bool, **options: str | None) -> None:
    """Show an app's host limits, or change them (they apply at the next deployment).

    Each limit is the app's own value when set, else the server's [runtime] default."""
    body: dict[str, Any] = {}
    for option, field in _LIMIT_OPTIONS.items():
        value = options.get(option)
        if value is None:
            continue
        if value.strip().lower() == "default":
            body[field] = None
        elif field in ("pids_limit", "log_max_files"):
            try:
                body[field] = int(value)
            except ValueError:
                raise click.BadParameter(
                    f"{value!r} is not a whole number", param_hint=f"--{option}"
                ) from None
        else:
            body[field] = value
    with conn.client() as client:
        found = client.resolve_app(app)
        if body:
            found = client.put(f"/api/apps/{found['id']}", body)
    if as_json:
        print_json({k: found.get(k) for k in (*_LIMIT_OPTIONS.values(), "effective_limits")})
        return
    effective = found.get("effective_limits") or {}
    memory, log_size = found.get("memory_limit"), found.get("log_max_size")
    rows = [
        ("cpu", found.get("cpu_limit"), effective.get("cpu") or "unlimited"),
        ("memory", None if memory is None else _size(memory), _size(effective.get("memory"))),
        ("pids", found.get("pids_limit"), effective.get("pids") or "unlimited"),
        (
            "log file size",
            None if log_size is None else _size(log_size),
            _size(effective.get("log_max_size")),
        ),
        ("log files", found.get("log_max_files"), effective.get("log_max_files") or "-"),
        ("oom score adj", None, effective.get("oom_score_adj") or 0),
    ]
    table(
        [(name, "default" if own is None else own, value) for name, own, value in rows],
        ["limit", "app setting", "effective"],
    )
    if body:
        click.echo(f"saved; applies at the next deployment: rivetr deploy {found['name']}")


def _health_summary(check: dict[str, Any]) -> str:
    """``http GET /health (expects 2xx/3xx), 30 x 5s`` / ``command sh -c 'test -f /ready', ...``."""
    kind = check.get("kind", "http")
    if kind == "http":
        what = f"http GET {check.get('path', '/')} (expects {check.get('status') or '2xx/3xx'})"
    elif kind == "command":
        what = f"command {_command_text(check.get('command') or [])}"
    else:
        extra = {k: v for k, v in check.items() if k not in ("kind", "timeout", "retries", "interval")}
        what = kind + (f" {json.dumps(extra, sort_keys=True)}" if extra else "")
    timing = (
        f"{check.get('retries')} attempts, {check.get('timeout')}s timeout" if check.get("retries") else ""
    )
    return what + (f", {timing}" if timing else "")


def _command_text(argv: list[str]) -> str:
    """What a user typed for ``--health-command`` (argv ``sh -c TEXT``), else the argv quoted."""
    if len(argv) == 3 and argv[:2] == ["sh", "-c"]:
        return argv[2]
    return shlex.join(argv)


def _option_value(text: str) -> Any:
    """``KEY=VALUE``: VALUE as JSON when it parses (numbers, true, lists), else the plain string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _health_check(
    current: dict[str, Any],
    kind: str | None,
    path: str | None,
    status: int | None,
    command: str | None,
    options: tuple[str, ...],
    timing: dict[str, Any],
) -> dict[str, Any]:
    """The ``health_check`` body from the options given (empty: nothing to change). Without ``--kind`` the
    kind is implied (``--health-command``: command, ``--path``: http) or the app's current one is kept with
    its options; a new kind starts from no options."""
    if kind is None and not (path or status or command or options or timing):
        return {}
    kind = kind or ("command" if command else "http" if path or status else current.get("kind", "http"))
    body: dict[str, Any] = dict(current) if kind == current.get("kind") else {"kind": kind}
    if kind in ("tcp", "command"):
        body.pop("path", None)
        body.pop("status", None)
    if path is not None:
        body["path"] = path
    if status is not None:
        body["status"] = status
    if command is not None:
        body["command"] = ["sh", "-c", command]
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{option!r} is not KEY=VALUE", param_hint="--option")
        body[key] = _option_value(value)
    body.update(timing)
    return body


@apps.command("builder")
@click.argument("app", shell_complete=complete_app)
@click.argument("name", required=False)
@connection_options
def apps_builder(app: str, name: str | None, conn: Connection) -> None:
    """Show the app's builder, or set it: auto (the first that detects the source) or an installed builder's
    name (the only one then asked). Applies at the next deployment."""
    show_or_set(conn, app, "builder", name, "auto", "builder")


@apps.command("health-check")
@click.argument("app", shell_complete=complete_app)
@click.option("--kind", help="http, tcp, command, or a plugin's check (see `rivetr plugins list`).")
@click.option("--path", help="http: the path requested.")
@click.option("--status", type=int, help="http: the status expected (default: any 2xx/3xx).")
@click.option(
    "--command", "command", help="command: shell command run in the container (sh -c), healthy on 0."
)
@click.option("--option", "options", multiple=True, help="KEY=VALUE option, e.g. of a plugin's check.")
@click.option("--timeout", type=float, help="Seconds per attempt.")
@click.option("--retries", type=int, help="Attempts before the deployment fails.")
@click.option("--interval", type=float, help="Longest pause between attempts (seconds).")
@connection_options
@json_option
def apps_health_check(
    app: str,
    kind: str | None,
    path: str | None,
    status: int | None,
    command: str | None,
    options: tuple[str, ...],
    timeout: float | None,
    retries: int | None,
    interval: float | None,
    conn: Connection,
    as_json: bool,
) -> None:
    """Show the app's health check, or change it (applies at the next deployment).

    \b
    rivetr apps health-check web --kind tcp
    rivetr apps health-check web --command 'test -f /tmp/ready'
    rivetr apps health-check web --kind http --path /healthz --retries 60"""
    timing = {
        k: v for k, v in (("timeout", timeout), ("retries", retries), ("interval", interval)) if v is not None
    }
    with conn.client() as client:
        found = client.resolve_app(app)
        body = _health_check(found.get("health_check") or {}, kind, path, status, command, options, timing)
        if body:
            found = client.put(f"/api/apps/{found['id']}", {"health_check": body})
    if as_json:
        print_json(found.get("health_check"))
        return
    click.echo(f"health check: {_health_summary(found.get('health_check') or {})}")
    if body:
        click.echo(f"saved; applies at the next deployment: rivetr deploy {found['name']}")


# ``rivetr apps links|link|unlink`` are written beside the services commands (links_cmd) but belong to apps.
for _command in (
    apps_links,
    apps_link,
    apps_unlink,
    apps_auto_domain,
    apps_maintenance,
    apps_error_page,
    apps_scale,
    apps_replicas,
    apps_load_balancer,
):
    apps.add_command(_command)


add_tag_commands(apps, "apps", lambda client, ref: client.resolve_app(ref))
