"""Certificates for the certificate screen and CLI tests: a self-signed PEM pair made with ``cryptography``, and the
row an ACME certificate leaves in a server's database once ACME has been switched off.

``acme_row_left_behind`` writes straight into a running server's database (its SQLite file in WAL mode, beside the
server's own connections, or its PostgreSQL database under ``RIVETR_TEST_DATABASE=postgres``: tests/support/at_rest.py):
a server started with ACME off cannot obtain one, and the state it stands for is real: a certificate issued while
``[proxy] acme_enabled`` was on, kept after it was turned off (the manager removes only placeholders without a
certificate at start).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support import at_rest


def self_signed(
    domain: str,
    *,
    days: float = 90,
    names: list[str] | None = None,
    org: str = "Rivetr Test",
    ca: bool = False,
) -> tuple[str, str]:
    """A self-signed EC P-256 certificate for ``domain`` (DNS SAN, or ``names``) valid from five minutes ago for
    ``days``, and its unencrypted PKCS#8 key: (certificate PEM, key PEM). The API shows its issuer as ``org``.
    ``ca``: marked a CA as well, for clients that take the certificate as their trusted root (grpcio)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, domain), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]
    )
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names or [domain]]), critical=False
        )
    )
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    cert = builder.sign(key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def acme_row_left_behind(
    data_dir: Path, domain: str, *, days: float = 60, last_error: str | None = None
) -> None:
    """Store an ACME-issued certificate row for ``domain`` (issuer "Test ACME CA", ``days`` left) in the database
    of the server whose data dir is ``data_dir``, optionally with the error of a failed renewal."""
    cert, _key = self_signed(domain, days=days)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    at_rest.execute(
        data_dir,
        "INSERT INTO certificates (domain, source, cert_pem, issuer, names, not_before, not_after, "
        "fingerprint, last_error, last_error_at, failures, issued_at, created_at, updated_at) "
        "VALUES (?, 'acme', ?, 'Test ACME CA', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        domain,
        cert,
        domain,
        now - dt.timedelta(days=1),
        now + dt.timedelta(days=days),
        "00" * 32,
        last_error,
        now if last_error else None,
        1 if last_error else 0,
        now - dt.timedelta(days=1),
        now,
        now,
    )
