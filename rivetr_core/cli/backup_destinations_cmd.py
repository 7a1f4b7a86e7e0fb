"""``rivetr backup destinations list|add|test|rm``: where volume and state backups go (a directory of the server,
or an S3-compatible bucket). See docs/backups.md.

The S3 secret key and an encryption passphrase are secrets, so they never come from the command line (every
local user reads argv through ``ps``, and the shell keeps it): they are read from a file (``--secret-key-file``,
``--passphrase-file``), else from a hidden prompt on a terminal, else one line each from stdin.
"""

from __future__ import annotations

import sys
from typing import Any
from urllib.parse import quote

import click

from .client import CliError, Connection, RefusedSecretOption, RivetrClient, connection_options, json_option
from .output import print_json, table

DESTINATIONS = "/api/backup-destinations"
SECRET_HINT = (
    "secrets are not taken from the command line (other local users see it in ps, and it stays in shell "
    "history); type it at the hidden prompt, pipe it on stdin, or use {file}"
)


def resolve_destination(client: RivetrClient, ref: str) -> dict[str, Any]:
    """A destination by name or id; a clear error listing the names when neither matches."""
    rows = client.list_all(DESTINATIONS)
    for row in rows:
        if ref in (row["id"], row["name"]):
            return row  # type: ignore[no-any-return]
    names = ", ".join(sorted(r["name"] for r in rows)) or "none yet: rivetr backup destinations add"
    raise CliError(f"unknown backup destination {ref!r} (destinations: {names})")


def _read_secret(label: str, path: str | None) -> str:
    """A secret from ``path`` (its first line), a hidden prompt on a terminal, or one line of stdin."""
    if path:
        from .client import read_secret_file

        return read_secret_file(path)
    if sys.stdin.isatty():
        return str(click.prompt(label, hide_input=True, confirmation_prompt=label == "Passphrase"))
    value = sys.stdin.readline().rstrip("\n")
    if not value:
        raise CliError(f"no {label.lower()} on stdin (pipe it in, or run on a terminal to be asked)")
    return value


def _refusal(error: dict[str, Any]) -> str:
    """The server's message, and the worker's code of a failed test write (``bucket_not_found``...)."""
    details = error.get("details")
    problem = details.get("problem") if isinstance(details, dict) else None
    return str(error.get("message") or error.get("code")) + (f" [{problem}]" if problem else "")


@click.group("destinations")
def destinations() -> None:
    """Backup destinations: a directory of the server (local) or an S3-compatible bucket (s3)."""


@destinations.command("list")
@connection_options
@json_option
def destinations_list(conn: Connection, as_json: bool) -> None:
    """Every destination with its kind, where it writes and whether archives are encrypted."""
    with conn.client() as client:
        rows = client.list_all(DESTINATIONS)
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo(
            "no backup destinations (add one: rivetr backup destinations add NAME --kind local --path DIR)"
        )
        return
    table(
        [(r["name"], r["kind"], r["target"], bool(r.get("has_passphrase")), r["id"]) for r in rows],
        ["name", "kind", "target", "encrypted", "id"],
    )


@destinations.command("add")
@click.argument("name")
@click.option("--kind", type=click.Choice(["local", "s3"]), required=True)
@click.option("--path", "path", help="local: an existing directory of the server.")
@click.option(
    "--endpoint-url", help="s3: the service's URL (https://s3.eu-west-1.amazonaws.com, a MinIO...)."
)
@click.option("--bucket", help="s3: an existing bucket.")
@click.option("--region", help="s3: the bucket's region (default: the service's).")
@click.option("--prefix", default="", help="s3: key prefix the archives go under (e.g. rivetr/).")
@click.option("--access-key", help="s3: the access key id (the secret key is asked for, never an argument).")
@click.option(
    "--secret-key-file",
    metavar="PATH",
    help="s3: read the secret key from this file's first line ('-' = stdin).",
)
@click.option(
    "--encrypt",
    is_flag=True,
    help="Encrypt archives with a passphrase (asked for, or --passphrase-file). Without the passphrase "
    "nobody, you included, can restore them: keep it somewhere safe.",
)
@click.option("--passphrase-file", metavar="PATH", help="Read the passphrase from this file's first line.")
@click.option("--secret-key", cls=RefusedSecretOption, hint=SECRET_HINT.format(file="--secret-key-file"))
@click.option("--passphrase", cls=RefusedSecretOption, hint=SECRET_HINT.format(file="--passphrase-file"))
@connection_options
@json_option
def destinations_add(
    name: str,
    kind: str,
    path: str | None,
    endpoint_url: str | None,
    bucket: str | None,
    region: str | None,
    prefix: str,
    access_key: str | None,
    secret_key_file: str | None,
    encrypt: bool,
    passphrase_file: str | None,
    conn: Connection,
    as_json: bool,
) -> None:
    """Add a destination; the server writes, reads back and deletes a test file first and refuses one that
    fails (naming the problem: bucket not found, access denied, not writable...).

    \b
    rivetr backup destinations add nightly --kind local --path /srv/backups
    rivetr backup destinations add offsite --kind s3 --endpoint-url https://s3.example.com \\
        --bucket backups --region eu-west-1 --prefix rivetr/ --access-key AKIA... --encrypt
    (the secret key, then the passphrase: hidden prompts, or one line each on stdin)
    """
    body: dict[str, Any] = {"name": name, "kind": kind}
    if kind == "local":
        if not path:
            raise click.UsageError("--kind local needs --path DIR")
        body["path"] = path
    else:
        missing = [
            opt for opt, value in (("--endpoint-url", endpoint_url), ("--bucket", bucket)) if not value
        ]
        missing += ["--access-key"] if not access_key else []
        if missing:
            raise click.UsageError(f"--kind s3 needs {', '.join(missing)}")
        body.update(endpoint_url=endpoint_url, bucket=bucket, prefix=prefix, access_key=access_key)
        if region:
            body["region"] = region
        body["secret_key"] = _read_secret("Secret key", secret_key_file)
    if encrypt or passphrase_file:
        body["passphrase"] = _read_secret("Passphrase", passphrase_file)
    with conn.client(timeout=120.0) as client:  # the test write may take a while on a slow bucket
        row = client.post(DESTINATIONS, body, ok=(422,))
    if "error" in row:
        raise CliError(_refusal(row["error"]) + " (HTTP 422)")
    if as_json:
        print_json(row)
        return
    encrypted = ", archives encrypted" if row.get("has_passphrase") else ""
    click.echo(f"added destination {row['name']} ({row['target']}); test write ok{encrypted}")


@destinations.command("test")
@click.argument("destination")
@connection_options
@json_option
def destinations_test(destination: str, conn: Connection, as_json: bool) -> None:
    """Write, read back and delete a test file at DESTINATION now. Exit 1 when it fails."""
    with conn.client(timeout=120.0) as client:
        row = resolve_destination(client, destination)
        result = client.post(f"{DESTINATIONS}/{quote(row['id'], safe='')}/test", ok=(422,))
    if as_json:
        print_json(result)
    if not (isinstance(result, dict) and result.get("ok")):
        if not as_json:
            error = result.get("error") if isinstance(result, dict) else None
            click.echo(f"error: {row['name']}: {_refusal(error or {'message': 'test failed'})}", err=True)
        sys.exit(1)
    if not as_json:
        click.echo(f"{row['name']}: test write ok ({row['target']})")


@destinations.command("rm")
@click.argument("destination")
@click.option(
    "--force",
    is_flag=True,
    help="Also when schedules use it or backups are recorded there: those schedules and records go too "
    "(the archives themselves stay where they are).",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask.")
@connection_options
def destinations_rm(destination: str, force: bool, yes: bool, conn: Connection) -> None:
    """Remove a destination from Rivetr. Archives already written there are never deleted by this."""
    with conn.client() as client:
        row = resolve_destination(client, destination)
        if not yes:
            click.confirm(f"remove destination {row['name']} ({row['target']})?", abort=True)
        params = {"force": "true"} if force else None
        answer = client.request(
            "DELETE", f"{DESTINATIONS}/{quote(row['id'], safe='')}", params=params, ok=(409,)
        )
    if isinstance(answer, dict) and "error" in answer:
        raise CliError(f"{answer['error'].get('message')} (add --force to remove it anyway)")
    click.echo(f"removed destination {row['name']}")
