"""``rivetr services ...``: managed databases and one-click services (see docs/services.md).

A service is found by name or id. Credentials print masked unless ``--reveal`` is given (the server decides
who may see them); nothing secret is ever read from the command line: ``--env KEY=VALUE`` is for plain
settings, ``--env-file`` for the rest.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

import click

from .client import EXIT_FAILED, CliError, Connection, RivetrClient, connection_options, json_option
from .inputs import env_pairs_of, project_id_of
from .output import fields, human_size, print_json, resources_line, short_time, table
from .tags_cmd import add_tag_commands, tag_option, tag_params, tags_text

#: How long ``create``/``update``/``start``/``restart`` wait for the service to be ready by default.
READY_WAIT = 300.0
#: Seconds between two looks at a starting service (a GET is ~2 ms on the server; readiness is seconds).
POLL = 0.2


F = TypeVar("F", bound=Callable[..., Any])


def ready_options(func: F) -> F:
    """``--no-wait`` and ``--timeout`` of the commands that (re)start a service, passed on as one ``wait``
    argument: the seconds to wait until it is ready, or None to return at once."""

    @click.option("--no-wait", is_flag=True, help="Return at once instead of waiting until it is ready.")
    @click.option(
        "--timeout",
        type=float,
        default=READY_WAIT,
        show_default=True,
        help="Seconds to wait for it to be ready.",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, no_wait: bool, timeout: float, **kwargs: Any) -> Any:
        return func(*args, wait=None if no_wait else timeout, **kwargs)

    return wrapper  # type: ignore[return-value]


def resolve_service(client: RivetrClient, ref: str) -> dict[str, Any]:
    """A service by id or by name; a clear error listing the names when neither matches."""
    from urllib.parse import quote

    found = client.request("GET", f"/api/services/{quote(ref, safe='')}", ok=(404,))
    if isinstance(found, dict) and "id" in found:
        return found
    rows = client.list_all("/api/services")
    for row in rows:
        if row.get("name") == ref:
            return client.get(f"/api/services/{row['id']}")  # type: ignore[no-any-return]
    names = ", ".join(sorted(r["name"] for r in rows)) or "none yet"
    raise CliError(f"unknown service {ref!r} (services: {names})")


def _wait_ready(client: RivetrClient, service: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Poll until the service is ``running`` (exit 0) or ``failed``/``stopped`` (exit 1 with its error)."""
    deadline = time.monotonic() + timeout
    shown = service["status"]
    click.echo(f"{service['name']}: {shown}", err=True)
    while service["status"] in ("created", "starting"):
        if time.monotonic() > deadline:
            click.echo(f"error: {service['name']} is not ready after {timeout:.0f} s", err=True)
            raise SystemExit(EXIT_FAILED)
        time.sleep(POLL)
        service = client.get(f"/api/services/{service['id']}")
        if service["status"] != shown:
            shown = service["status"]
            click.echo(f"{service['name']}: {shown}", err=True)
    if service["status"] != "running":
        click.echo(f"error: {service['name']} {service['status']}: {service.get('error') or ''}", err=True)
        raise SystemExit(EXIT_FAILED)
    return service


def _limits(memory: str | None, cpu: str | None) -> dict[str, Any]:
    from rivetr_core.contract.units import parse_cpus, parse_size

    body: dict[str, Any] = {}
    try:
        if memory is not None:
            body["memory_limit"] = None if memory == "default" else parse_size(memory)
        if cpu is not None:
            body["cpu_limit"] = None if cpu == "default" else parse_cpus(cpu)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    return body


def _tunnel(service: dict[str, Any]) -> str:
    """Where an SSH tunnel from a laptop ends (the server cannot resolve the service's name)."""
    address, port = service.get("host_address"), service.get("internal_port")
    if not address:
        return "unknown (not running?)"
    return f"{address}:{port} (ssh -N -L {port}:{address}:{port} you@server)"


def _show(service: dict[str, Any]) -> None:
    creds = service.get("credentials") or {}
    links = service.get("linked_apps") or []
    fields(
        [
            ("name", service["name"]),
            ("type", f"{service['type']} {service['version']}"),
            ("image", service.get("image")),
            ("status", service["status"] + (f" ({service['error']})" if service.get("error") else "")),
            ("internal", f"{service.get('internal_host')}:{service.get('internal_port')}"),
            ("host address", _tunnel(service)),
            ("network", service.get("network")),
            ("tags", tags_text(service)),
            ("public port", service.get("public_port") or "closed"),
            ("user", creds.get("user")),
            ("password", creds.get("password")),
            ("database", creds.get("database")),
            ("url", service.get("connection_url")),
            ("memory", human_size(service.get("memory_limit")) if service.get("memory_limit") else "default"),
            ("cpu", service.get("cpu_limit") or "default"),
            (
                "volumes",
                ", ".join(f"{v['name']} {v['path']}" for v in service.get("volumes") or []) or "none",
            ),
            ("linked apps", ", ".join(f"{a['app_name']} ({a['env_prefix']})" for a in links) or "none"),
            ("resources", resources_line(service.get("resources"))),
            ("created", short_time(service.get("created_at"))),
        ]
    )


@click.group()
def services() -> None:
    """Manage databases and one-click services (PostgreSQL, MySQL, MariaDB, Redis and the template catalogue)."""


@services.command("list")
@click.option("--project", help="Only this project's services (name or id).")
@click.option("--type", "type_", help="Only services of this type.")
@tag_option("Only services with this tag (repeatable: with all of them).")
@connection_options
@json_option
def services_list(
    project: str | None, type_: str | None, tags: tuple[str, ...], conn: Connection, as_json: bool
) -> None:
    """Every service with its type, version and status."""
    with conn.client() as client:
        params = {k: v for k, v in {"project_id": project_id_of(client, project), "type": type_}.items() if v}
        rows = client.list_all("/api/services", {**params, **tag_params(tags)})
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no services yet: rivetr services create NAME --type postgres")
        return
    table(
        [
            (r["name"], r["type"], r["version"], r["status"], r.get("public_port") or "-", tags_text(r))
            for r in rows
        ],
        ["name", "type", "version", "status", "public port", "tags"],
    )


@services.command("create")
@click.argument("name")
@click.option("--type", "type_", required=True, help="postgres, mysql, mariadb, redis or a template's name.")
@click.option("--version", help="One of the template's versions (default: its first).")
@click.option("--project", help="Project (name or id): its apps can link to the service.")
@click.option("--memory", help="Memory limit, e.g. 512m or 1g.")
@click.option("--cpu", help="CPU limit, e.g. 0.5 or 500m.")
@click.option(
    "--public-port", type=click.IntRange(1024, 65535), help="Open this TCP port on every interface."
)
@click.option(
    "--env", "env_pairs", multiple=True, metavar="KEY=VALUE", help="Extra environment (repeatable)."
)
@click.option("--env-file", type=click.Path(dir_okay=False), help="KEY=VALUE lines (for secret values).")
@tag_option("A tag to organise and filter by (repeatable).")
@ready_options
@connection_options
@json_option
def services_create(
    name: str,
    type_: str,
    version: str | None,
    project: str | None,
    memory: str | None,
    cpu: str | None,
    public_port: int | None,
    env_pairs: tuple[str, ...],
    env_file: str | None,
    tags: tuple[str, ...],
    wait: float | None,
    conn: Connection,
    as_json: bool,
) -> None:
    """Create a service and wait until it is ready: ``rivetr services create db --type postgres``."""
    body: dict[str, Any] = {"name": name, "type": type_, **_limits(memory, cpu), "tags": list(tags)}
    if version:
        body["version"] = version
    if public_port:
        body["public_port"] = public_port
    environment = env_pairs_of(env_pairs, env_file)
    if environment:
        body["environment"] = environment
    with conn.client() as client:
        body["project_id"] = project_id_of(client, project)
        service = client.post("/api/services", body)
        if public_port:
            click.echo(f"warning: {name} is reachable from other hosts on port {public_port}", err=True)
        if wait is not None:
            service = _wait_ready(client, service, wait)
    if as_json:
        print_json(service)
        return
    click.echo(f"{service['name']} ({service['type']} {service['version']}): {service['status']}")
    if wait is not None:
        click.echo(f"link it to an app: rivetr apps link APP {service['name']}")


@services.command("show")
@click.argument("service")
@click.option("--reveal", is_flag=True, help="Print the password and connection URL in clear (admins).")
@connection_options
@json_option
def services_show(service: str, reveal: bool, conn: Connection, as_json: bool) -> None:
    """A service's status, connection settings, volumes and linked apps."""
    with conn.client() as client:
        found = resolve_service(client, service)
        if reveal:
            found = client.get(f"/api/services/{found['id']}", params={"reveal": "true"})
        usage = client.get(f"/api/services/{found['id']}/metrics", params={"range": "15m", "points": 2})
    found = {**found, "resources": usage.get("latest")}
    if as_json:
        print_json(found)
        return
    _show(found)


@services.command("update")
@click.argument("service")
@click.option("--version", help="Upgrade (or change) to this version; the data volume is kept.")
@click.option("--memory", help='Memory limit, e.g. 1g ("default": none).')
@click.option("--cpu", help='CPU limit, e.g. 1.5 ("default": none).')
@click.option(
    "--public-port", type=click.IntRange(1024, 65535), help="Open this TCP port on every interface."
)
@click.option("--close-public-port", is_flag=True, help="Keep the service on its private network only.")
@click.option("--env", "env_pairs", multiple=True, metavar="KEY=VALUE", help="Replace the extra environment.")
@click.option("--env-file", type=click.Path(dir_okay=False), help="KEY=VALUE lines (for secret values).")
@ready_options
@connection_options
@json_option
def services_update(
    service: str,
    version: str | None,
    memory: str | None,
    cpu: str | None,
    public_port: int | None,
    close_public_port: bool,
    env_pairs: tuple[str, ...],
    env_file: str | None,
    wait: float | None,
    conn: Connection,
    as_json: bool,
) -> None:
    """Change version, limits, public port or environment: the container is recreated on the same volumes."""
    if public_port and close_public_port:
        raise CliError("give --public-port or --close-public-port, not both")
    body: dict[str, Any] = _limits(memory, cpu)
    if version:
        body["version"] = version
    if public_port:
        body["public_port"] = public_port
    if close_public_port:
        body["public_port"] = None
    environment = env_pairs_of(env_pairs, env_file)
    if environment is not None:
        body["environment"] = environment
    if not body:
        raise CliError("nothing to change (see --help)")
    with conn.client() as client:
        found = resolve_service(client, service)
        updated = client.put(f"/api/services/{found['id']}", body)
        if wait is not None:
            updated = _wait_ready(client, updated, wait)
    if as_json:
        print_json(updated)
        return
    click.echo(f"{updated['name']} ({updated['type']} {updated['version']}): {updated['status']}")


@services.command("rm")
@click.argument("service")
@click.option("--keep-volumes", is_flag=True, help="Keep the data volumes in the engine.")
@click.option("--force", is_flag=True, help="Also when apps are linked to it (their links are removed).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@connection_options
def services_rm(service: str, keep_volumes: bool, force: bool, yes: bool, conn: Connection) -> None:
    """Delete a service (and, unless --keep-volumes, its data)."""
    with conn.client() as client:
        found = resolve_service(client, service)
        if not yes:
            what = "" if keep_volumes else " and its data"
            click.confirm(f"delete service {found['name']}{what}?", abort=True)
        params = {"keep_volumes": str(keep_volumes).lower(), "force": str(force).lower()}
        client.delete(f"/api/services/{found['id']}", params=params)
    click.echo(f"deleted {found['name']}" + (" (volumes kept)" if keep_volumes else ""))


def _action(service: str, action: str, conn: Connection, wait: float | None) -> None:
    with conn.client() as client:
        found = resolve_service(client, service)
        result = client.post(f"/api/services/{found['id']}/{action}")
        if wait is not None:
            result = _wait_ready(client, result, wait)
    click.echo(f"{result['name']}: {result['status']}")


@services.command("start")
@click.argument("service")
@ready_options
@connection_options
def services_start(service: str, wait: float | None, conn: Connection) -> None:
    """Start a stopped service and wait until it is ready."""
    _action(service, "start", conn, wait)


@services.command("stop")
@click.argument("service")
@connection_options
def services_stop(service: str, conn: Connection) -> None:
    """Stop a service (its data stays; linked apps lose it until it starts again)."""
    _action(service, "stop", conn, None)


@services.command("restart")
@click.argument("service")
@ready_options
@connection_options
def services_restart(service: str, wait: float | None, conn: Connection) -> None:
    """Restart a service and wait until it is ready again."""
    _action(service, "restart", conn, wait)


@services.command("rotate-credentials")
@click.argument("service")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--no-redeploy",
    is_flag=True,
    help="Do not redeploy the linked apps: they keep the old password until their next deployment.",
)
@ready_options
@connection_options
@json_option
def services_rotate(
    service: str, yes: bool, no_redeploy: bool, wait: float | None, conn: Connection, as_json: bool
) -> None:
    """Generate a new password, apply it in the service, and redeploy the linked apps that run so they get it
    (prints their deployments, and the linked apps left alone with why)."""
    with conn.client() as client:
        found = resolve_service(client, service)
        if not yes:
            then = "" if no_redeploy else " and redeploy its linked apps"
            click.confirm(f"rotate the credentials of {found['name']}{then}?", abort=True)
        result = client.post(
            f"/api/services/{found['id']}/rotate-credentials", {"redeploy_apps": not no_redeploy}
        )
        if wait is not None:  # a template that takes the password at start (Redis) is recreated: wait for it
            _wait_ready(client, client.get(f"/api/services/{found['id']}"), wait)
    if as_json:
        print_json(result)
        return
    click.echo(f"rotated the credentials of {found['name']}")
    for app in result.get("redeployed") or []:
        click.echo(f"redeploying {app['app_name']}: deployment {app['deployment_id']}")
    stale = {app["app_id"] for app in result.get("apps_to_redeploy") or []}
    for app in result.get("not_redeployed") or []:
        line = f"not redeployed {app['app_name']}: {app['reason']}"
        if app["app_id"] in stale:
            line += f"; to give it the new password: rivetr deploy {app['app_name']}"
        click.echo(line)


@services.command("logs")
@click.argument("service")
@click.option("-f", "--follow", "follow_it", is_flag=True, help="Keep printing new lines (Ctrl-C to stop).")
@click.option("-n", "--tail", type=click.IntRange(0, 100_000), default=100, show_default=True)
@click.option(
    "--events",
    is_flag=True,
    help="What Rivetr did to the service (image pull progress, starts, readiness, rotations) instead of its output.",
)
@connection_options
@json_option
def services_logs(
    service: str, follow_it: bool, tail: int, events: bool, conn: Connection, as_json: bool
) -> None:
    """Print the service's container output (or, with --events, Rivetr's events for it)."""
    from .logs_cmd import follow_stream, print_entry

    if events and follow_it:
        raise click.UsageError("--events prints the events kept so far; it cannot --follow")
    with conn.client() as client:
        found = resolve_service(client, service)
        if not follow_it:
            params: dict[str, Any] = {"tail": tail, **({"source": "events"} if events else {})}
            for entry in client.get(f"/api/services/{found['id']}/logs", params=params)["items"]:
                print_entry(entry, as_json)
            return
        follow_stream(client, f"/api/services/{found['id']}/logs/stream?tail={tail}", as_json)


@services.command("backup")
@click.argument("service")
@click.option("--to", "destination", required=True, help="Backup destination (name or id).")
@click.option("--codec", type=click.Choice(["zst", "gz"]), default="zst", show_default=True)
@click.option("--no-wait", is_flag=True, help="Return at once instead of waiting for the run to finish.")
@connection_options
@json_option
def services_backup(
    service: str, destination: str, codec: str, no_wait: bool, conn: Connection, as_json: bool
) -> None:
    """Back up the service's data (a logical dump for databases) to a destination."""
    from .backup_destinations_cmd import resolve_destination
    from .backup_runs_cmd import follow, report

    with conn.client() as client:
        found = resolve_service(client, service)
        dest = resolve_destination(client, destination)
        run = client.post(
            f"/api/services/{found['id']}/backups", {"destination_id": dest["id"], "codec": codec}
        )
        if no_wait:
            if as_json:
                print_json(run)
            else:
                click.echo(f"backup {run['id']} of {found['name']} started: rivetr backup show {run['id']}")
            return
        run = follow(client, f"/api/backups/{run['id']}")
    report(run, as_json, "backup")


@services.command("backups")
@click.argument("service")
@connection_options
@json_option
def services_backups(service: str, conn: Connection, as_json: bool) -> None:
    """The service's backups, newest first."""
    with conn.client() as client:
        found = resolve_service(client, service)
        rows = client.list_all(f"/api/services/{found['id']}/backups")
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo(f"{found['name']} has no backups yet: rivetr services backup {found['name']} --to DEST")
        return
    table(
        [(r["id"], short_time(r["started_at"]), r["status"], human_size(r.get("size_bytes"))) for r in rows],
        ["id", "started", "status", "size"],
    )


@services.command("restore")
@click.argument("backup_id")
@click.option("--into", "target", help="Service to restore into (default: the one backed up).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--no-wait", is_flag=True, help="Return at once instead of waiting for the restore.")
@connection_options
@json_option
def services_restore(
    backup_id: str, target: str | None, yes: bool, no_wait: bool, conn: Connection, as_json: bool
) -> None:
    """Restore a service backup into the same service or another of the same type (its data is replaced)."""
    from .backup_runs_cmd import follow, report

    with conn.client() as client:
        body: dict[str, Any] = {}
        if target:
            body["service_id"] = resolve_service(client, target)["id"]
        if not yes:
            click.confirm(
                f"replace the data of {target or 'the backed-up service'} with backup {backup_id}?",
                abort=True,
            )
        run = client.post(f"/api/backups/{backup_id}/restore-service", body)
        if no_wait:
            if as_json:
                print_json(run)
            else:
                click.echo(f"restore {run['id']} started")
            return
        run = follow(client, f"/api/restores/{run['id']}")
    report(run, as_json, "restore")


add_tag_commands(services, "services", resolve_service)

from . import service_backup_import_cmd  # noqa: E402, F401  (registers import-backup on the group)
