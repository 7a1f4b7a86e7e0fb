"""``rivetr ssh-known-hosts list|delete``: the SSH host keys git clones accept, pinned per host (``host:port``)."""

from __future__ import annotations

from urllib.parse import quote

import click

from .client import CliError, Connection, connection_options, json_option
from .output import print_json, short_time, table


@click.group("ssh-known-hosts")
def ssh_known_hosts() -> None:
    """SSH host keys pinned per git host. The first clone from a host pins its key; a clone from a host that
    offers another key fails until the pinned key is deleted here (after a planned key rotation)."""


@ssh_known_hosts.command("list")
@click.option("--host", help="Only this host's keys (name or address, without the port).")
@connection_options
@json_option
def known_hosts_list(host: str | None, conn: Connection, as_json: bool) -> None:
    """Pinned keys with their SHA256 fingerprints (the published keys of github.com, gitlab.com and
    bitbucket.org are preloaded)."""
    with conn.client() as client:
        body = client.get("/api/ssh-known-hosts", params={"host": host} if host else None)
    rows = body["items"]
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no pinned SSH host keys" + (f" for {host}" if host else ""))
        return
    table(
        [
            (
                r["id"],
                r["host_pattern"],
                r["key_type"],
                r["fingerprint"],
                r["source"],
                short_time(r["last_used_at"]),
            )
            for r in rows
        ],
        ["id", "host", "type", "fingerprint", "source", "last used"],
    )


def _host_port(ref: str) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[host]:port`` (IPv6) → (host, port)."""
    text = ref.strip().lower()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":") or "22"
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, "22"
    if not host or not port.isdigit():
        raise CliError(f"expected a key id, HOST, HOST:PORT or [HOST]:PORT, got {ref!r}")
    return host, int(port)


@ssh_known_hosts.command("delete")
@click.argument("ref", metavar="ID|HOST[:PORT]")
@connection_options
def known_hosts_delete(ref: str, conn: Connection) -> None:
    """Forget a pinned key by id, or every key of a host (``git.example.com``, ``10.0.0.5:2222``): the next
    clone from that host pins the key it then offers."""
    with conn.client() as client:
        rows = client.get("/api/ssh-known-hosts")["items"]
        chosen = [r for r in rows if r["id"] == ref]
        if not chosen:
            host, port = _host_port(ref)
            chosen = [r for r in rows if r["host"] == host and r["port"] == port]
        if not chosen:
            raise CliError(f"no pinned SSH host key matches {ref!r} (see `rivetr ssh-known-hosts list`)")
        for row in chosen:
            client.delete(f"/api/ssh-known-hosts/{quote(row['id'], safe='')}")
            click.echo(f"deleted {row['host_pattern']} {row['key_type']} {row['fingerprint']}")
