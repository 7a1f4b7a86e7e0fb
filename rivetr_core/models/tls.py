"""TLS tables: certificates (ACME-issued or uploaded) and ACME accounts. Private keys are stored encrypted
with the instance's :class:`~rivetr_core.secrets.SecretBox`, never in clear."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from rivetr_core.db.engine import utcnow


class Certificate(SQLModel, table=True):
    """One certificate per domain. A row exists as soon as a certificate is wanted: ``cert_pem`` stays empty
    while the first ACME order is pending or failing, so failures are visible before anything was issued."""

    __tablename__ = "certificates"

    domain: str = Field(primary_key=True, max_length=253)
    source: str = Field(max_length=16)  # "acme" | "custom"
    cert_pem: str | None = None  # full chain, leaf first
    key_encrypted: str | None = None  # SecretBox ciphertext of the PKCS#8 PEM key
    issuer: str | None = Field(default=None, max_length=255)
    names: str | None = None  # comma-separated DNS SANs of the leaf
    not_before: datetime | None = None
    not_after: datetime | None = None
    fingerprint: str | None = Field(default=None, max_length=64)
    last_error: str | None = None
    last_error_at: datetime | None = None
    failures: int = 0  # consecutive failed ACME attempts (drives the back-off)
    next_attempt_at: datetime | None = None  # when the manager tries again (failure back-off or renewal)
    issued_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class AcmeAccount(SQLModel, table=True):
    """The ACME account registered at one directory (EC P-256 key, signed with ES256)."""

    __tablename__ = "acme_accounts"

    directory_url: str = Field(primary_key=True, max_length=500)
    key_encrypted: str
    account_url: str | None = Field(default=None, max_length=500)
    email: str | None = Field(default=None, max_length=255)
    created_at: datetime = Field(default_factory=utcnow)
