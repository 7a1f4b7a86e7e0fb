"""SSH host-key pinning for git clones: trust on first use, per git host (``host``, ``port``), kept in the DB.

How a clone uses it (see :mod:`rivetr_core.engine.gitsource`): the pinned keys of the URL's host are written
to a known_hosts file of the clone's own, and ssh runs with ``StrictHostKeyChecking=yes`` against it (and
nothing else: no global or user known_hosts). A host with no pinned key is cloned with ``accept-new`` into
an empty file; what ssh accepted is then pinned (:meth:`KnownHostsStore.pin`). A host that later offers
another key fails the clone with :class:`HostKeyMismatch`, naming the host and both fingerprints, until an
operator deletes the pinned key (``DELETE /api/ssh-known-hosts/{id}``), after which the next clone pins again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field

from rivetr_core.apimodel import ApiModel

if TYPE_CHECKING:
    from rivetr_core.db import Database
    from rivetr_core.models.ssh import SshKnownHost

_SCP_LIKE = re.compile(r"^(?:[^@/\s]+@)?(?P<host>\[[^\]]+\]|[A-Za-z0-9.-]+):(?!//)")
_OFFERED = re.compile(
    r"fingerprint for the (?P<type>\S+) key sent by the remote host is\s+(?P<fp>SHA256:\S+?)\.?\s"
)


@dataclass(frozen=True)
class HostKey:
    """One host key: its type (``ssh-ed25519``) and base64 blob, as a known_hosts line carries them."""

    key_type: str
    public_key: str

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)


def fingerprint(public_key_b64: str) -> str:
    """``SHA256:<base64, no padding>`` of a key blob: the form ``ssh-keygen -l`` and ssh's warnings print."""
    digest = hashlib.sha256(base64.b64decode(public_key_b64)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def ssh_target(url: str) -> tuple[str, int] | None:
    """``(host, port)`` an SSH git URL connects to (``ssh://[user@]host[:port]/path`` or scp-like
    ``user@host:path``); None for other URLs. Hosts are lower case, IPv6 addresses without brackets."""
    text = url.strip()
    if text.lower().startswith("ssh://"):
        parts = urlsplit(text)
        try:
            port = parts.port or 22
        except ValueError:
            return None
        host = parts.hostname
        return (host.lower(), port) if host else None
    if "://" in text:
        return None
    match = _SCP_LIKE.match(text)
    if not match:
        return None
    return match.group("host").strip("[]").lower(), 22


def host_pattern(host: str, port: int) -> str:
    """The host column of a known_hosts line: ``host`` on port 22, else ``[host]:port``."""
    return host if port == 22 else f"[{host}]:{port}"


def known_hosts_text(host: str, port: int, keys: Sequence[HostKey]) -> str:
    pattern = host_pattern(host, port)
    return "".join(f"{pattern} {key.key_type} {key.public_key}\n" for key in keys)


def parse_known_hosts(text: str) -> list[HostKey]:
    """The keys of known_hosts lines (any host column; comments, markers and bad lines skipped)."""
    keys: list[HostKey] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 3 or fields[0].startswith(("#", "@")):
            continue
        try:
            base64.b64decode(fields[2], validate=True)
        except (binascii.Error, ValueError):
            continue
        key = HostKey(fields[1], fields[2])
        if key not in keys:
            keys.append(key)
    return keys


def offered_fingerprints(stderr: str) -> list[tuple[str, str]]:
    """``(key type, fingerprint)`` ssh printed for the key a host offered when it did not match ("The
    fingerprint for the ED25519 key sent by the remote host is SHA256:…")."""
    return [(m.group("type"), m.group("fp").rstrip(".")) for m in _OFFERED.finditer(stderr + "\n")]


def scan_fingerprints(host: str, port: int, timeout: float = 5) -> list[tuple[str, str]]:
    """``(key type, fingerprint)`` of every key ``host`` offers now (``ssh-keyscan``): the other half of a
    mismatch report when ssh did not print the offered key (it offered a type with no pinned key)."""
    try:
        out = subprocess.run(
            ["ssh-keyscan", "-T", str(int(timeout)), "-p", str(port), host],
            capture_output=True,
            text=True,
            timeout=timeout * 3,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [(key.key_type, key.fingerprint) for key in parse_known_hosts(out)]


class HostKeyMismatch(Exception):
    """The host offered a key that is not the pinned one. ``str()`` is the message shown to the user."""

    def __init__(self, host: str, port: int, pinned: Sequence[HostKey], offered: Sequence[tuple[str, str]]):
        self.host, self.port = host, port
        self.pinned = [(k.key_type, k.fingerprint) for k in pinned]
        self.offered = list(offered)
        shown = ", ".join(f"{fp} ({kind})" for kind, fp in self.pinned) or "none"
        seen = (
            ", ".join(f"{fp} ({kind})" for kind, fp in self.offered)
            or "unknown (the host did not answer a scan)"
        )
        super().__init__(
            f"SSH host key of {host_pattern(host, port)} changed: pinned {shown}, the host now offers {seen}. "
            "This can be a man-in-the-middle attack. If the host's key was changed on purpose, delete the pinned "
            "key (Settings → SSH known hosts, `rivetr ssh-known-hosts delete`, or "
            "DELETE /api/ssh-known-hosts/{id}) and deploy again to pin the new one."
        )


class KnownHostOut(ApiModel):
    """A pinned host key as the API and the dashboard show it."""

    id: str
    host: str = Field(description="Host name or address, lower case (IPv6 without brackets).")
    port: int
    host_pattern: str = Field(description="The host as a known_hosts line names it: host, or [host]:port.")
    key_type: str = Field(description="ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa, ...")
    public_key: str = Field(description="The key as a known_hosts line carries it: '<type> <base64>'.")
    fingerprint: str = Field(description="SHA256:<base64>, as `ssh-keygen -l` prints it.")
    source: Literal["first_use", "preloaded"] = Field(
        description="first_use: pinned by the first clone from the host; preloaded: the host's published key."
    )
    created_at: str
    last_used_at: str | None = Field(description="Last clone that checked this host's keys.")


def known_host_json(row: SshKnownHost) -> dict[str, Any]:
    from rivetr_core.db import isoformat

    return KnownHostOut.model_validate(
        {
            "id": row.id,
            "host": row.host,
            "port": row.port,
            "host_pattern": host_pattern(row.host, row.port),
            "key_type": row.key_type,
            "public_key": f"{row.key_type} {row.public_key}",
            "fingerprint": row.fingerprint,
            "source": row.source,
            "created_at": isoformat(row.created_at),
            "last_used_at": isoformat(row.last_used_at) if row.last_used_at else None,
        }
    ).model_dump(mode="json")


class KnownHostsStore:
    """The ``ssh_known_hosts`` table: keys of one host, pinning, listing, deleting."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def keys(self, host: str, port: int) -> list[HostKey]:
        from sqlmodel import col, select

        from rivetr_core.models.ssh import SshKnownHost

        async with self.db.session() as session:
            rows = (
                await session.exec(
                    select(SshKnownHost)
                    .where(SshKnownHost.host == host.lower(), SshKnownHost.port == port)
                    .order_by(col(SshKnownHost.created_at))
                )
            ).all()
        return [HostKey(row.key_type, row.public_key) for row in rows]

    async def pin(self, host: str, port: int, keys: Sequence[HostKey]) -> list[SshKnownHost]:
        """Store ``keys`` for the host (first use); a key type already pinned (a concurrent clone) is kept."""
        from sqlalchemy.exc import IntegrityError

        from rivetr_core.models.ssh import SshKnownHost

        added: list[SshKnownHost] = []
        for key in keys:
            row = SshKnownHost(
                host=host.lower(),
                port=port,
                key_type=key.key_type,
                public_key=key.public_key,
                fingerprint=key.fingerprint,
                source="first_use",
            )
            try:
                async with self.db.session() as session:
                    session.add(row)
                    await session.commit()
                added.append(row)
            except IntegrityError:
                continue
        return added

    async def touch(self, host: str, port: int) -> None:
        from sqlalchemy import update

        from rivetr_core.db import utcnow
        from rivetr_core.models.ssh import SshKnownHost

        async with self.db.session() as session:
            await session.exec(
                update(SshKnownHost)  # type: ignore[call-overload]
                .where(SshKnownHost.host == host.lower(), SshKnownHost.port == port)  # type: ignore[arg-type]
                .values(last_used_at=utcnow())
            )
            await session.commit()

    async def list(self, host: str | None = None) -> list[SshKnownHost]:
        from sqlmodel import col, select

        from rivetr_core.models.ssh import SshKnownHost

        query = select(SshKnownHost).order_by(
            col(SshKnownHost.host), col(SshKnownHost.port), col(SshKnownHost.key_type)
        )
        if host:
            query = query.where(SshKnownHost.host == host.lower())
        async with self.db.session() as session:
            return list((await session.exec(query)).all())

    async def delete(self, key_id: str) -> SshKnownHost:
        """Forget a pinned key (``NotFound`` when there is none): the host's next clone pins what it offers."""
        from rivetr_core.contract.errors import NotFound
        from rivetr_core.models.ssh import SshKnownHost

        async with self.db.session() as session:
            row = await session.get(SshKnownHost, key_id)
            if row is None:
                raise NotFound.of("SSH known host", key_id)
            await session.delete(row)
            await session.commit()
        return row
