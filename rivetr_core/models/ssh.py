"""SSH host keys pinned per git host (``host``, ``port``): the known_hosts of every SSH clone, kept in the DB.

A key is pinned on first use (``source = "first_use"``: the key the host offered the first time an app cloned
from it) or preloaded (``source = "preloaded"``: the published keys of github.com, gitlab.com and bitbucket.org,
inserted by the migration). A clone from a host with pinned keys accepts only those keys. Deleting a host's
keys lets the next clone pin again (after a planned key rotation).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from rivetr_core.db.engine import new_id, utcnow


class SshKnownHost(SQLModel, table=True):
    __tablename__ = "ssh_known_hosts"
    __table_args__ = (UniqueConstraint("host", "port", "key_type", name="uq_ssh_known_hosts_host_port_type"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    host: str = Field(max_length=253, index=True)  # lower case; an IPv6 address without brackets
    port: int = 22
    key_type: str = Field(max_length=100)  # ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa, ...
    public_key: str = Field(sa_column=Column(Text, nullable=False))  # base64 blob, as in known_hosts
    fingerprint: str = Field(max_length=100)  # SHA256:<base64 without padding>, as ssh-keygen -l prints
    source: str = Field(default="first_use", max_length=20)  # first_use | preloaded
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
