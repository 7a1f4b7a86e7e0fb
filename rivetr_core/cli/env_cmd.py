"""``rivetr env list|set|import|unset <app>``: an app's environment variables (applied at the next deployment).

Secret values never come from the command line (readable by every local user through ``ps`` and kept in shell
history): with ``--secret``, ``KEY=VALUE`` is refused and the value is read from a hidden prompt or stdin
(``KEY`` alone) or from a file (``--from-file``). Plain ``KEY=VALUE`` stays for values that are not secret
(``DEBUG=0``, ``PORT_HINT=80``): marking a variable secret is the line the CLI holds.
"""

from __future__ import annotations

import sys
from typing import IO
from urllib.parse import quote

import click

from .client import CliError, Connection, complete_app, connection_options, json_option
from .output import print_json, table


@click.group()
def env() -> None:
    """Manage an app's environment variables (they apply at its next deployment)."""


@env.command("list")
@click.argument("app", shell_complete=complete_app)
@click.option("--reveal", is_flag=True, help="Show secret values instead of masking them.")
@connection_options
@json_option
def env_list(app: str, reveal: bool, conn: Connection, as_json: bool) -> None:
    """The app's variables; secret values are masked unless --reveal."""
    with conn.client() as client:
        found = client.resolve_app(app)
        rows = client.list_all(f"/api/apps/{found['id']}/env-vars", {"reveal": str(reveal).lower()})
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo(f"{found['name']} has no environment variables")
        return
    table(
        [(r["key"], r["value"], r.get("is_secret"), r.get("scope", "runtime")) for r in rows],
        ["key", "value", "secret", "scope"],
    )


@env.command("set")
@click.argument("app", shell_complete=complete_app)
@click.argument("assignments", nargs=-1, metavar="KEY=VALUE|KEY...")
@click.option(
    "--secret",
    is_flag=True,
    help="Mark the variables secret (masked in listings). Their values are then never taken from the command "
    "line: give KEY alone (value from a hidden prompt, or stdin) or use --from-file.",
)
@click.option(
    "--from-file",
    "from_file",
    type=click.File("r"),
    help="Read KEY=VALUE lines from this file ('-' = stdin); blank lines and # comments are skipped.",
)
@click.option(
    "--scope",
    type=click.Choice(["runtime", "build", "both"]),
    help="Where the values go: the container (runtime, the default for new variables), the build's arguments "
    "(build), or both. A secret build value is kept out of the image's history (docs/builds.md).",
)
@connection_options
def env_set(
    app: str,
    assignments: tuple[str, ...],
    secret: bool,
    from_file: IO[str] | None,
    scope: str | None,
    conn: Connection,
) -> None:
    """Set variables: ``rivetr env set web DEBUG=0``; secrets: ``rivetr env set web --secret DATABASE_URL``
    (prompted, or piped on stdin) or ``rivetr env set web --secret --from-file prod.env``."""
    pairs = _read_dotenv(from_file) if from_file is not None else []
    bare = [item for item in assignments if "=" not in item]
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep:
            continue
        if not key:
            raise CliError(f"expected KEY=VALUE or KEY, got {item!r}")
        if secret:
            raise CliError(
                f"--secret {key}=...: secret values are not taken from the command line (other local users "
                f"see it in ps, and it stays in shell history); give {key} alone and type the value at the "
                "prompt or pipe it on stdin, or use --from-file"
            )
        pairs.append((key, value))
    pairs += _read_values(bare)
    if not pairs:
        raise click.UsageError("give KEY=VALUE, KEY (value from stdin or a prompt) or --from-file")
    with conn.client() as client:
        found = client.resolve_app(app)
        base = f"/api/apps/{found['id']}/env-vars"
        for key, value in pairs:
            body: dict[str, object] = {"key": key, "value": value, "is_secret": secret}
            if scope:
                body["scope"] = scope
            created = client.request("POST", base, json_body=body, ok=(409,))
            if (
                isinstance(created, dict) and "error" in created
            ):  # already set: change it (scope kept unless given)
                body.pop("key")
                client.put(f"{base}/{quote(key, safe='')}", body)
                click.echo(f"updated {key}")
            else:
                click.echo(f"set {key}")
    click.echo(f"changes apply at the next deployment: rivetr deploy {found['name']}")


@env.command("import")
@click.argument("app", shell_complete=complete_app)
@click.argument("file", type=click.File("r"))
@click.option(
    "--secret/--not-secret",
    "secret",
    default=None,
    help="Mark every imported variable secret, or not; default: new ones are not, existing ones keep their flag.",
)
@click.option(
    "--scope",
    type=click.Choice(["runtime", "build", "both"]),
    help="Scope of every imported variable; default: new ones runtime, existing ones keep theirs.",
)
@click.option("--dry-run", is_flag=True, help="Only print what would be added and changed.")
@connection_options
@json_option
def env_import(
    app: str,
    file: IO[str],
    secret: bool | None,
    scope: str | None,
    dry_run: bool,
    conn: Connection,
    as_json: bool,
) -> None:
    """Set many variables from a .env FILE ('-' = stdin) at once: KEY=value lines, 'export', # comments,
    quoted and multi-line values. New keys are added, set ones changed, others left alone; all or nothing.
    The server parses the file (the dashboard's paste does the same), so a line at fault is named."""
    text = file.read()
    body: dict[str, object] = {"dotenv": text}
    if secret is not None:
        body["is_secret"] = secret
    if scope:
        body["scope"] = scope
    with conn.client() as client:
        found = client.resolve_app(app)
        base = f"/api/apps/{found['id']}/env-vars/bulk"
        result = client.post(f"{base}/preview" if dry_run else base, body)
    if as_json:
        print_json(result)
        return
    verb = ("would add", "would change") if dry_run else ("added", "changed")
    for label, keys in (
        (verb[0], result["added"]),
        (verb[1], result["changed"]),
        ("unchanged", result["unchanged"]),
    ):
        if keys:
            click.echo(f"{label} ({len(keys)}): {', '.join(keys)}")
    if dry_run:
        click.echo("nothing written (--dry-run)")
    elif result["added"] or result["changed"]:
        click.echo(f"changes apply at the next deployment: rivetr deploy {found['name']}")
    else:
        click.echo("nothing to change")


@env.command("unset")
@click.argument("app", shell_complete=complete_app)
@click.argument("keys", nargs=-1, required=True)
@connection_options
def env_unset(app: str, keys: tuple[str, ...], conn: Connection) -> None:
    """Remove variables by key."""
    with conn.client() as client:
        found = client.resolve_app(app)
        for key in keys:
            client.delete(f"/api/apps/{found['id']}/env-vars/{quote(key, safe='')}")
            click.echo(f"unset {key}")


def _read_dotenv(fh: IO[str]) -> list[tuple[str, str]]:
    pairs = []
    for number, line in enumerate(fh, 1):
        line = line.rstrip("\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise CliError(f"{fh.name}:{number}: expected KEY=VALUE")
        pairs.append((key.strip(), value))
    return pairs


def _read_values(keys: list[str]) -> list[tuple[str, str]]:
    """Values for keys given alone: a hidden prompt on a terminal; else stdin (all of it for one key, so a
    multi-line value such as a PEM key fits; one line per key for several)."""
    if not keys:
        return []
    stdin = sys.stdin
    if stdin.isatty():
        return [(key, click.prompt(f"Value of {key}", hide_input=True)) for key in keys]
    if len(keys) == 1:
        text = stdin.read()
        values = [text[:-1] if text.endswith("\n") else text]
    else:
        values = [stdin.readline() for _ in keys]
    pairs = []
    for key, value in zip(keys, values, strict=True):
        if not value:
            raise CliError(f"no value for {key} on stdin (pipe it in, or run on a terminal to be asked)")
        pairs.append((key, value.rstrip("\n") if len(keys) > 1 else value))
    return pairs
