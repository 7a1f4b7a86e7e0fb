"""``rivetr stacks ...`` (compose stacks, see docs/compose.md); ``rivetr projects`` is in projects_cmd.

A stack is found by name or id. Its variables print masked unless ``--reveal`` is given (the server decides who
may see them). ``--env KEY=VALUE`` is for plain values; secret ones go in ``--env-file`` (the command line is
readable by every local user). A private repository's HTTPS token and the stack's webhook secret are read from
stdin (``--git-token-stdin``, ``--webhook-secret-stdin``: one line each, the token first when both are given). Deployments are followed exactly like an app's (``rivetr deploy --follow``): the
same renderer, exit codes and ``--json`` lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import click

from .client import EXIT_FAILED, CliError, Connection, RivetrClient, connection_options, json_option
from .deploy_cmd import finish_deployment
from .inputs import env_pairs_of, git_token_fields, project_id_of
from .output import fields, print_json, short_time, table
from .stack_backups_cmd import add_backup_commands
from .tags_cmd import add_tag_commands, tag_option, tag_params, tags_text

MASK = "********"


def resolve_stack(client: RivetrClient, ref: str, *, reveal: bool = False) -> dict[str, Any]:
    """A stack by id or name (the server takes both); a clear error listing the names when neither matches."""
    params = {"reveal": "true"} if reveal else None
    found = client.request("GET", f"/api/stacks/{quote(ref, safe='')}", params=params, ok=(404,))
    if isinstance(found, dict) and "id" in found:
        return found
    names = ", ".join(sorted(r["name"] for r in client.list_all("/api/stacks"))) or "none yet"
    raise CliError(f"unknown stack {ref!r} (stacks: {names})")


def _read_compose(path: str) -> str:
    """The compose file's text (``-`` = stdin), read here: the server never sees the client's paths."""
    import sys

    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise CliError(f"cannot read {path}: {reason}") from None


def _domains(values: tuple[str, ...]) -> list[dict[str, Any]]:
    """``--domain shop.example.com=web:8080`` → ``{"domain", "service", "port"}``."""
    out = []
    for value in values:
        domain, _, target = value.partition("=")
        service, _, port = target.rpartition(":")
        if not domain or not service or not port.isdigit():
            raise CliError(
                f"--domain takes DOMAIN=SERVICE:PORT (e.g. shop.example.com=web:8080), got {value!r}"
            )
        out.append({"domain": domain.strip(), "service": service.strip(), "port": int(port)})
    return out


def _source(file: str | None, repo: str | None) -> dict[str, Any]:
    if file and repo:
        raise CliError("give --file (a compose file) or --repo (a repository with one), not both")
    if file:
        return {"compose": _read_compose(file)}
    if repo:
        return {"repo_url": repo}
    return {}


def _ssh_key_id(client: RivetrClient, ref: str) -> str:
    """An SSH key the server holds, by id or name."""
    keys = client.list_all("/api/ssh-keys")
    for key in keys:
        if ref in (key["id"], key["name"]):
            return str(key["id"])
    names = (
        ", ".join(sorted(k["name"] for k in keys))
        or "none yet: add one with POST /api/ssh-keys or Settings → SSH keys"
    )
    raise CliError(f"unknown SSH key {ref!r} (keys: {names})")


def _webhook_secret_stdin() -> str:
    import sys

    secret = sys.stdin.readline().strip()
    if not secret:
        raise click.UsageError("--webhook-secret-stdin: no secret on stdin")
    return secret


def _git_options(func: Any) -> Any:
    """The repository credential and webhook options ``create`` and ``update`` share."""
    options = [
        click.option(
            "--ssh-key-id",
            "ssh_key",
            metavar="KEY",
            help="Deploy key (id or name, `POST /api/ssh-keys`) that clones the repository; SSH URLs need one.",
        ),
        click.option(
            "--git-token-stdin",
            is_flag=True,
            help="Read an HTTPS token for a private repository from stdin (kept out of shell history).",
        ),
        click.option(
            "--git-token-user",
            help="User name sent with the token (GitLab: oauth2, Bitbucket: x-token-auth).",
        ),
        click.option(
            "--webhook-secret-stdin",
            is_flag=True,
            help="Read the stack's own webhook secret from stdin: pushes signed with it deploy the stack.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _git_body(
    client: RivetrClient,
    ssh_key: str | None,
    git_token_stdin: bool,
    git_token_user: str | None,
    webhook_secret_stdin: bool,
) -> dict[str, Any]:
    body: dict[str, Any] = dict(git_token_fields(git_token_stdin, git_token_user))
    if webhook_secret_stdin:
        body["webhook_secret"] = _webhook_secret_stdin()
    if ssh_key:
        body["ssh_key_id"] = _ssh_key_id(client, ssh_key)
    return body


def _replicas(service: dict[str, Any]) -> str:
    """``running/wanted``: a replica that stopped shows at a glance."""
    running = sum(1 for c in service.get("containers") or [] if c.get("status") == "running")
    return f"{running}/{service.get('replicas', 0)}"


def _previews_line(stack: dict[str, Any]) -> str:
    if stack.get("preview_of"):
        return (
            f"this is the preview of pull request #{stack.get('pr_number')} (of stack {stack['preview_of']})"
        )
    return "on: each pull request gets a preview stack" if stack.get("previews") else "off"


def _credentials_line(stack: dict[str, Any]) -> str:
    parts = []
    if stack.get("ssh_key_id"):
        parts.append(f"SSH key {stack['ssh_key_id']}")
    if stack.get("has_git_token"):
        parts.append(f"HTTPS token (user {stack.get('git_token_user') or 'x-access-token'})")
    return ", ".join(parts) or "none (public repository)"


def _show(stack: dict[str, Any]) -> None:
    source = (
        f"git {stack['repo_url']} ({stack['branch']}{', ' + stack['compose_path'] if stack['compose_path'] else ''})"
        if stack["source"] == "git"
        else "pasted compose file"
    )
    fields(
        [
            ("name", stack["name"]),
            ("status", stack["status"] + (f" ({stack['error']})" if stack.get("error") else "")),
            ("source", source),
            ("credentials", _credentials_line(stack)),
            (
                "webhook secret",
                "set (pushes signed with it deploy)" if stack.get("has_webhook_secret") else "none",
            ),
            ("project", stack.get("project_id") or "default"),
            ("network", stack.get("network")),
            ("tags", tags_text(stack)),
            ("profiles", stack.get("profiles") or "none"),
            ("previews", _previews_line(stack)),
            ("domains", [f"{d['domain']} -> {d['service']}:{d['port']}" for d in stack.get("domains") or []]),
            ("variables", [f"{k}={v}" for k, v in (stack.get("env") or {}).items()]),
            ("deployment", stack.get("current_deployment_id")),
            ("updated", short_time(stack.get("updated_at"))),
        ]
    )
    services = stack.get("services") or []
    if not services:
        click.echo(f"\nno services running yet: rivetr stacks deploy {stack['name']} --follow")
        return
    click.echo()
    table(
        [(s["name"], s["status"], _replicas(s), s.get("internal_names"), s.get("domains")) for s in services],
        ["service", "status", "replicas", "internal names", "domains"],
    )


@click.group()
def stacks() -> None:
    """Compose stacks: several services from one compose file (pasted or in a repository), deployed together."""


@stacks.command("list")
@click.option("--project", help="Only this project's stacks (name or id).")
@tag_option("Only stacks with this tag (repeatable: with all of them).")
@connection_options
@json_option
def stacks_list(project: str | None, tags: tuple[str, ...], conn: Connection, as_json: bool) -> None:
    """Every stack with its status and services."""
    with conn.client() as client:
        pid = project_id_of(client, project)
        rows = client.list_all("/api/stacks", {**({"project_id": pid} if pid else {}), **tag_params(tags)})
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no stacks yet: rivetr stacks create NAME --file compose.yaml --deploy --follow")
        return
    table(
        [
            (
                r["name"],
                r["status"],
                [s["name"] for s in r.get("services") or []],
                r["source"],
                r["network"],
                tags_text(r),
            )
            for r in rows
        ],
        ["name", "status", "services", "source", "network", "tags"],
    )


@stacks.command("create")
@click.argument("name")
@click.option("--file", "file", metavar="PATH", help="A compose file to paste ('-' = stdin).")
@click.option(
    "--repo",
    metavar="URL",
    help="A repository (https://, git://, or SSH with --ssh-key-id) holding the file.",
)
@click.option("--branch", default="main", show_default=True, help="The repository's branch.")
@click.option(
    "--path", "compose_path", metavar="P", help="The file in the repository (default: compose.yaml…)."
)
@_git_options
@click.option("--project", help="Project (name or id): its apps reach the services as NAME-SERVICE.")
@click.option(
    "--domain", "domains", multiple=True, metavar="DOMAIN=SERVICE:PORT", help="Route a domain (repeatable)."
)
@click.option(
    "--env", "env_pairs", multiple=True, metavar="KEY=VALUE", help="A variable of the file (repeatable)."
)
@click.option("--env-file", type=click.Path(dir_okay=False), help="KEY=VALUE lines (for secret values).")
@click.option("--profile", "profiles", multiple=True, help="Enable a compose profile (repeatable).")
@click.option(
    "--previews/--no-previews",
    default=False,
    help="With --repo: a preview stack per pull request (needs [proxy] preview_domain on the server).",
)
@tag_option("A tag to organise and filter by (repeatable).")
@click.option("--deploy", "deploy_it", is_flag=True, help="Deploy it right away.")
@click.option("-f", "--follow", "follow_it", is_flag=True, help="With --deploy: follow the deployment.")
@connection_options
@json_option
def stacks_create(
    name: str,
    file: str | None,
    repo: str | None,
    branch: str,
    compose_path: str | None,
    ssh_key: str | None,
    git_token_stdin: bool,
    git_token_user: str | None,
    webhook_secret_stdin: bool,
    project: str | None,
    domains: tuple[str, ...],
    env_pairs: tuple[str, ...],
    env_file: str | None,
    profiles: tuple[str, ...],
    previews: bool,
    tags: tuple[str, ...],
    deploy_it: bool,
    follow_it: bool,
    conn: Connection,
    as_json: bool,
) -> None:
    """Create a stack from a compose file (``--file``) or a repository (``--repo``)."""
    if not file and not repo:
        raise CliError("give --file PATH (a compose file) or --repo URL (a repository with one)")
    if follow_it and not deploy_it:
        raise CliError("--follow follows the deployment of --deploy: give both")
    if not repo and (ssh_key or git_token_stdin or git_token_user or webhook_secret_stdin):
        raise CliError("--ssh-key-id, --git-token-* and --webhook-secret-stdin go with --repo")
    body: dict[str, Any] = {"name": name, **_source(file, repo), "domains": _domains(domains)}
    if repo:
        body["branch"] = branch
        if compose_path:
            body["compose_path"] = compose_path
    body["env"] = env_pairs_of(env_pairs, env_file) or {}
    body["profiles"] = list(profiles)
    body["previews"] = previews
    body["tags"] = list(tags)
    with conn.client() as client:
        body["project_id"] = project_id_of(client, project)
        body.update(_git_body(client, ssh_key, git_token_stdin, git_token_user, webhook_secret_stdin))
        stack = client.post("/api/stacks", body)
        if not deploy_it:
            if as_json:
                print_json(stack)
            else:
                click.echo(f"created stack {stack['name']}: rivetr stacks deploy {stack['name']} --follow")
            return
        _deploy(client, stack, follow_it=follow_it, as_json=as_json)


def _deploy(client: RivetrClient, stack: dict[str, Any], *, follow_it: bool, as_json: bool) -> None:
    dep = client.post(f"/api/stacks/{stack['id']}/deploy")
    if not as_json and follow_it:
        click.echo(f"deploying stack {stack['name']} (deployment {dep['id']})")
    finish_deployment(client, dep, follow_it=follow_it, as_json=as_json, what="stack deployment")


@stacks.command("show")
@click.argument("stack")
@click.option("--reveal", is_flag=True, help="Print the variables' values in clear (admins).")
@connection_options
@json_option
def stacks_show(stack: str, reveal: bool, conn: Connection, as_json: bool) -> None:
    """A stack's source, domains, variables and services (status, replicas, the names they are reached by)."""
    with conn.client() as client:
        found = resolve_stack(client, stack, reveal=reveal)
    if as_json:
        print_json(found)
        return
    _show(found)


@stacks.command("update")
@click.argument("stack")
@click.option("--file", "file", metavar="PATH", help="A new compose file to paste ('-' = stdin).")
@click.option("--repo", metavar="URL", help="Take the file from this repository instead.")
@click.option("--branch", help="The repository's branch.")
@click.option("--path", "compose_path", metavar="P", help="The file in the repository.")
@_git_options
@click.option("--no-ssh-key", is_flag=True, help="Clone without a deploy key.")
@click.option("--no-git-token", is_flag=True, help="Remove the HTTPS token.")
@click.option("--no-webhook-secret", is_flag=True, help="Remove the stack's own webhook secret.")
@click.option(
    "--domain", "domains", multiple=True, metavar="DOMAIN=SERVICE:PORT", help="Replace the domains."
)
@click.option("--no-domains", is_flag=True, help="Remove every domain.")
@click.option("--env", "env_pairs", multiple=True, metavar="KEY=VALUE", help="Replace the variables.")
@click.option("--env-file", type=click.Path(dir_okay=False), help="KEY=VALUE lines (for secret values).")
@click.option("--profile", "profiles", multiple=True, help="Replace the enabled profiles.")
@click.option("--no-profiles", is_flag=True, help="Enable no profile.")
@click.option("--previews/--no-previews", default=None, help="Turn pull-request previews on or off.")
@connection_options
@json_option
def stacks_update(
    stack: str,
    file: str | None,
    repo: str | None,
    branch: str | None,
    compose_path: str | None,
    ssh_key: str | None,
    git_token_stdin: bool,
    git_token_user: str | None,
    webhook_secret_stdin: bool,
    no_ssh_key: bool,
    no_git_token: bool,
    no_webhook_secret: bool,
    domains: tuple[str, ...],
    no_domains: bool,
    env_pairs: tuple[str, ...],
    env_file: str | None,
    profiles: tuple[str, ...],
    no_profiles: bool,
    previews: bool | None,
    conn: Connection,
    as_json: bool,
) -> None:
    """Change the file, repository (and its credentials), domains, variables or profiles: they apply at the next
    deploy."""
    if domains and no_domains:
        raise CliError("give --domain or --no-domains, not both")
    if profiles and no_profiles:
        raise CliError("give --profile or --no-profiles, not both")
    for given, removed, what in (
        (ssh_key, no_ssh_key, "--ssh-key-id or --no-ssh-key"),
        (git_token_stdin, no_git_token, "--git-token-stdin or --no-git-token"),
        (webhook_secret_stdin, no_webhook_secret, "--webhook-secret-stdin or --no-webhook-secret"),
    ):
        if given and removed:
            raise CliError(f"give {what}, not both")
    body: dict[str, Any] = _source(file, repo)
    if no_ssh_key:
        body["ssh_key_id"] = None
    if no_git_token:
        body["git_token"] = None
    if no_webhook_secret:
        body["webhook_secret"] = None
    if branch:
        body["branch"] = branch
    if compose_path is not None:
        body["compose_path"] = compose_path or None
    if domains or no_domains:
        body["domains"] = _domains(domains)
    environment = env_pairs_of(env_pairs, env_file)
    if environment is not None:
        body["env"] = environment
    if profiles or no_profiles:
        body["profiles"] = list(profiles)
    if previews is not None:
        body["previews"] = previews
    git_given = ssh_key or git_token_stdin or git_token_user or webhook_secret_stdin
    if not body and not git_given:
        raise CliError("nothing to change (see --help)")
    with conn.client() as client:
        found = resolve_stack(client, stack)
        body.update(_git_body(client, ssh_key, git_token_stdin, git_token_user, webhook_secret_stdin))
        updated = client.put(f"/api/stacks/{found['id']}", body)
    if as_json:
        print_json(updated)
        return
    click.echo(
        f"updated stack {updated['name']}; applies at the next deploy: rivetr stacks deploy {updated['name']}"
    )


@stacks.command("deploy")
@click.argument("stack")
@click.option(
    "-f",
    "--follow",
    "follow_it",
    is_flag=True,
    help="Show the steps and log live; exit 0 once running, 1 if it fails.",
)
@connection_options
@json_option
def stacks_deploy(stack: str, follow_it: bool, conn: Connection, as_json: bool) -> None:
    """Deploy the stack: only services whose configuration changed are replaced."""
    with conn.client() as client:
        _deploy(client, resolve_stack(client, stack), follow_it=follow_it, as_json=as_json)


@stacks.command("rollback")
@click.argument("stack")
@click.argument("deployment_id", required=False)
@click.option(
    "-f",
    "--follow",
    "follow_it",
    is_flag=True,
    help="Show the steps live; exit 0 once running, 1 if it fails.",
)
@connection_options
@json_option
def stacks_rollback(
    stack: str, deployment_id: str | None, follow_it: bool, conn: Connection, as_json: bool
) -> None:
    """Run an earlier deployment's file and images again (default: the one before the current; no rebuild)."""
    with conn.client() as client:
        found = resolve_stack(client, stack)
        dep = client.post(
            f"/api/stacks/{found['id']}/rollback", {"deployment_id": deployment_id} if deployment_id else {}
        )
        if not as_json and follow_it:
            click.echo(
                f"rolling back stack {found['name']} to {dep.get('rollback_of')} (deployment {dep['id']})"
            )
        finish_deployment(client, dep, follow_it=follow_it, as_json=as_json, what="rollback deployment")


@stacks.command("deployments")
@click.argument("stack")
@connection_options
@json_option
def stacks_deployments(stack: str, conn: Connection, as_json: bool) -> None:
    """The stack's deployments, newest first (the ids ``rollback`` takes)."""
    with conn.client() as client:
        found = resolve_stack(client, stack)
        rows = client.list_all(f"/api/stacks/{found['id']}/deployments")
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo(f"{found['name']} has no deployments yet: rivetr stacks deploy {found['name']} --follow")
        return
    current = found.get("current_deployment_id")
    # Several control planes (PostgreSQL): which one runs each (``rivetr system control-planes``).
    planes = any(r.get("plane_id") for r in rows)
    table(
        [
            (
                r["id"] + (" *" if r["id"] == current else ""),
                r["status"],
                r["trigger"] + (f" of {r['rollback_of']}" if r.get("rollback_of") else ""),
                short_time(r["created_at"]),
                f"{r['duration_ms'] / 1000:.1f}s" if r.get("duration_ms") is not None else None,
                *([(r.get("plane_id") or "-")[:8]] if planes else []),
                r.get("error"),
            )
            for r in rows
        ],
        ["deployment", "status", "trigger", "created", "took", *(["plane"] if planes else []), "error"],
    )


@stacks.command("logs")
@click.argument("stack")
@click.argument("service")
@click.option("-f", "--follow", "follow_it", is_flag=True, help="Keep printing new lines (Ctrl-C to stop).")
@click.option("-n", "--tail", type=click.IntRange(0, 100_000), default=100, show_default=True)
@click.option(
    "--replica", type=click.IntRange(1), default=1, show_default=True, help="With -f: which replica."
)
@connection_options
@json_option
def stacks_logs(
    stack: str, service: str, follow_it: bool, tail: int, replica: int, conn: Connection, as_json: bool
) -> None:
    """Print a service's container output (every replica's, each line prefixed with its container when there
    are several; ``-f`` follows one replica)."""
    from .logs_cmd import follow_stream, print_entry

    with conn.client() as client:
        found = resolve_stack(client, stack)
        names = [s["name"] for s in found.get("services") or []]
        if service not in names:
            known = ", ".join(names) or f"none running: rivetr stacks deploy {found['name']}"
            raise CliError(f"stack {found['name']} has no service {service!r} (services: {known})")
        base = f"/api/stacks/{found['id']}/services/{quote(service, safe='')}/logs"
        if follow_it:
            follow_stream(client, f"{base}/stream?tail={tail}&replica={replica}", as_json)
            return
        items = client.get(base, params={"tail": tail})["items"]
    several = len({i.get("container") for i in items}) > 1
    for entry in items:
        if several and not as_json:
            entry = {**entry, "line": f"[{entry['container']}] {entry['line']}"}
        print_entry(entry, as_json)


@stacks.command("validate")
@click.argument("file", metavar="FILE")
@click.option(
    "--env", "env_pairs", multiple=True, metavar="KEY=VALUE", help="A variable of the file (repeatable)."
)
@click.option("--env-file", type=click.Path(dir_okay=False), help="KEY=VALUE lines.")
@click.option("--profile", "profiles", multiple=True, help="Enable a compose profile (repeatable).")
@connection_options
@json_option
def stacks_validate(
    file: str,
    env_pairs: tuple[str, ...],
    env_file: str | None,
    profiles: tuple[str, ...],
    conn: Connection,
    as_json: bool,
) -> None:
    """Check a compose file as the server would deploy it, storing nothing. Exits 1 listing every problem as
    ``FILE:LINE:COLUMN: field: message``."""
    body = {
        "compose": _read_compose(file),
        "env": env_pairs_of(env_pairs, env_file) or {},
        "profiles": list(profiles),
    }
    with conn.client() as client:
        result = client.post("/api/compose/validate", body, ok=(422,))
    if isinstance(result, dict) and isinstance(result.get("error"), dict):
        _print_problems(file, result["error"], as_json)
        raise SystemExit(EXIT_FAILED)
    if as_json:
        print_json(result)
        return
    fields(
        [
            ("services", result["services"]),
            ("disabled", result["disabled_services"] or "none"),
            ("start order", " -> ".join(", ".join(level) for level in result["start_order"])),
            ("networks", result["networks"]),
            ("volumes", result["volumes"] or "none"),
            ("variables", result["variables"] or "none"),
        ]
    )
    for warning in result["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"{file}: OK")


def _print_problems(file: str, error: dict[str, Any], as_json: bool) -> None:
    """Each problem like a compiler's (``compose.yaml:4:5: services.web.privileged: not supported``), so an
    editor jumps to it; the server's one-line message when it gave no details."""
    if as_json:
        print_json({"error": error})
        return
    problems = error.get("details") if isinstance(error.get("details"), list) else []
    if not problems:
        click.echo(f"{file}: {error.get('message')}", err=True)
        return
    for p in problems:
        where = file + "".join(f":{p[k]}" for k in ("line", "column") if p.get(k) is not None)
        what = f"{p['field']}: " if p.get("field") else ""
        click.echo(f"{where}: {what}{p.get('message')}", err=True)
    click.echo(f"{file}: {len(problems)} problem{'s' if len(problems) != 1 else ''}", err=True)


@stacks.command("rm")
@click.argument("stack")
@click.option("--volumes", is_flag=True, help="Also delete the stack's named volumes (its data).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@connection_options
def stacks_rm(stack: str, volumes: bool, yes: bool, conn: Connection) -> None:
    """Delete a stack: its containers, networks, routes and images (and with --volumes its data)."""
    with conn.client() as client:
        found = resolve_stack(client, stack)
        if not yes:
            what = " and its volumes" if volumes else ""
            click.confirm(f"delete stack {found['name']}{what}?", abort=True)
        client.delete(f"/api/stacks/{found['id']}", params={"volumes": str(volumes).lower()})
    click.echo(f"deleted stack {found['name']}" + ("" if volumes else " (volumes kept)"))


add_tag_commands(stacks, "stacks", resolve_stack)
add_backup_commands(stacks, resolve_stack)  # volumes, backup, backups, restore (stack_backups_cmd)
