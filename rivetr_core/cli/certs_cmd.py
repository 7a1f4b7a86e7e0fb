"""``rivetr certs list|show|upload|renew|remove``: the TLS certificate of each domain (``/api/certificates``).

The private key of an upload is read from a file (``--key FILE``, ``-`` = stdin), never taken as an argument value:
argv is readable by every local user and stays in shell history.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click

from .client import EXIT_FAILED, CliError, Connection, RivetrClient, connection_options, json_option
from .output import fields, print_json, short_time, table

#: Fewer days left than this and ``list``/``show`` flag the expiry (as the dashboard does).
WARN_DAYS = 14
#: How long ``renew --wait`` watches for the CA's answer, and how often it asks.
WAIT_SECONDS = 120.0
POLL_SECONDS = 1.0


@click.group("certs")
def certs() -> None:
    """TLS certificates per domain: obtained and renewed by ACME (`[proxy] acme_enabled`) or uploaded. Changing
    them needs the server role (owner or admin); listing them, any team role."""


def _path(domain: str) -> str:
    return f"/api/certificates/{quote(domain, safe='')}"


def _days_left(cert: dict[str, Any]) -> int | None:
    if not cert.get("not_after"):
        return None
    not_after = datetime.fromisoformat(cert["not_after"].replace("Z", "+00:00"))
    return (not_after - datetime.now(UTC)).days


def _expiry(cert: dict[str, Any]) -> str:
    days = _days_left(cert)
    if days is None:
        return "-"
    when = short_time(cert["not_after"])[:16]
    if days < 0:
        return f"{when} (expired {-days} d ago)"
    flag = " !" if days < WARN_DAYS else ""
    return f"{when} ({days} d left{flag})"


def _kind(cert: dict[str, Any]) -> str:
    return "ACME" if cert["source"] == "acme" else "custom"


@certs.command("list")
@connection_options
@json_option
def certs_list(conn: Connection, as_json: bool) -> None:
    """Every domain's certificate: status, kind, issuer, expiry (with days left, `!` under 14) and last error."""
    with conn.client() as client:
        rows = client.list_all("/api/certificates")
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo(
            "no certificates (with [proxy] acme_enabled each app domain gets one; or `rivetr certs upload DOMAIN "
            "--cert FILE --key FILE`)"
        )
        return
    table(
        [
            (_listed_domain(c), c["status"], _kind(c), c["issuer"], _expiry(c), _one_line(c["last_error"]))
            for c in rows
        ],
        ["domain", "status", "kind", "issuer", "expires", "last error"],
    )


def _listed_domain(cert: dict[str, Any]) -> str:
    # A wildcard says how many routed names it serves (`certs show` names them).
    serves = cert.get("serves") or []
    return f"{cert['domain']} (serves {len(serves)})" if serves else str(cert["domain"])


def _one_line(text: str | None, width: int = 80) -> str | None:
    if not text:
        return None
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _show(cert: dict[str, Any]) -> None:
    fields(
        [
            ("domain", cert["domain"]),
            # GET /api/certificates/{name} answers the wildcard that serves a name without its own certificate.
            *(
                [("serves", f"{cert['covered_domain']} (by this wildcard)")]
                if cert.get("covered_domain")
                else []
            ),
            ("status", cert["status"]),
            ("kind", _kind(cert)),
            ("issuer", cert["issuer"]),
            ("names", cert["names"]),
            *([("serves", ", ".join(cert["serves"]))] if cert.get("serves") else []),
            ("valid from", short_time(cert["not_before"])),
            ("expires", _expiry(cert)),
            ("issued", short_time(cert["issued_at"])),
            ("sha256", cert["fingerprint_sha256"]),
            ("last error", cert["last_error"]),
            ("last error at", short_time(cert["last_error_at"])),
            ("failures", cert["failures"]),
            ("next attempt", short_time(cert["next_attempt_at"])),
        ]
    )


@certs.command("show")
@click.argument("domain")
@connection_options
@json_option
def certs_show(domain: str, conn: Connection, as_json: bool) -> None:
    """One domain's certificate with its names, fingerprint and ACME state (never the key)."""
    with conn.client() as client:
        cert = client.get(_path(domain))
    if as_json:
        print_json(cert)
    else:
        _show(cert)


def _read_pem(path: str, what: str) -> str:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CliError(f"cannot read the {what} from {path}: {reason}") from None
    if not text.strip():
        raise CliError(f"{'stdin' if path == '-' else path} holds no {what}")
    return text


@certs.command("upload")
@click.argument("domain")
@click.option(
    "--cert",
    "cert_file",
    required=True,
    metavar="FILE",
    help="PEM chain file: the certificate first, then its intermediates ('-' = stdin).",
)
@click.option(
    "--key",
    "key_file",
    required=True,
    metavar="FILE",
    help="PEM private key file, without a passphrase ('-' = stdin). A file, never the key itself.",
)
@connection_options
@json_option
def certs_upload(domain: str, cert_file: str, key_file: str, conn: Connection, as_json: bool) -> None:
    """Install a custom certificate for DOMAIN (replacing its current one, an ACME one included). The server
    refuses, naming the field, a key that does not match, a certificate that does not cover DOMAIN, one expired
    or not yet valid, or a chain out of order."""
    if cert_file == "-" and key_file == "-":
        raise click.UsageError("only one of --cert and --key can be read from stdin")
    body = {
        "domain": domain,
        "certificate": _read_pem(cert_file, "certificate"),
        "private_key": _read_pem(key_file, "private key"),
    }
    with conn.client() as client:
        cert = client.post("/api/certificates", body)
    if as_json:
        print_json(cert)
        return
    click.echo(f"uploaded the certificate of {cert['domain']}: {cert['issuer']}, expires {_expiry(cert)}")


@certs.command("renew")
@click.argument("domain")
@click.option(
    "--wait/--no-wait",
    default=False,
    help=f"Wait (up to {WAIT_SECONDS:.0f} s) for the CA's answer; exit 1 when the renewal fails.",
)
@connection_options
@json_option
def certs_renew(domain: str, wait: bool, conn: Connection, as_json: bool) -> None:
    """Renew an ACME certificate now (a failed one is retried without waiting for its back-off). Refused for an
    uploaded certificate and while ACME is off."""
    with conn.client() as client:
        before = client.get(_path(domain))
        cert = client.post(f"{_path(domain)}/renew")
        if wait:
            cert = _wait_renewed(client, domain, before)
    if as_json:
        print_json(cert)
    elif not wait:
        click.echo(f"renewal of {domain} requested (`rivetr certs show {domain}` for the outcome)")
    elif cert["last_error_at"] != before["last_error_at"]:
        click.echo(f"renewing {domain} failed: {cert['last_error']}", err=True)
    else:
        click.echo(f"renewed {domain}: expires {_expiry(cert)}")
    if wait and cert["last_error_at"] != before["last_error_at"]:
        sys.exit(EXIT_FAILED)


def _wait_renewed(client: RivetrClient, domain: str, before: dict[str, Any]) -> dict[str, Any]:
    """The certificate once its issue time or its last error changed (the renewal runs in the background)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        cert: dict[str, Any] = client.get(_path(domain))
        if (cert["issued_at"], cert["last_error_at"]) != (before["issued_at"], before["last_error_at"]):
            return cert
    raise CliError(f"no answer from the CA for {domain} within {WAIT_SECONDS:.0f} s; see `rivetr certs show`")


@certs.command("remove")
@click.argument("domain")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@connection_options
def certs_remove(domain: str, yes: bool, conn: Connection) -> None:
    """Delete a domain's certificate: the proxy stops serving it. With ACME on and the domain routed, a new ACME
    certificate is requested."""
    with conn.client() as client:
        cert = client.get(_path(domain))
        if not yes:
            click.confirm(f"Delete the {_kind(cert)} certificate of {cert['domain']}?", abort=True)
        client.delete(_path(domain))
    click.echo(f"removed the certificate of {cert['domain']}")
