"""PEM parsing and validation of certificate chains and private keys (pure functions, no I/O).

Used by the custom-certificate API (a bad upload is a 422 naming the field) and by the ACME manager (to read
``not_after`` and the issuer of what it just obtained).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import NameOID

_BEGIN_CERT = "-----BEGIN CERTIFICATE-----"


class PemError(ValueError):
    """An unusable certificate or key. ``field`` names the input at fault (``certificate`` / ``private_key``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class CertificateInfo:
    """What Rivetr shows and decides on about a leaf certificate."""

    subject: str
    issuer: str
    names: tuple[str, ...]  # DNS SANs, lower-case (the CN only when the certificate has no SAN extension)
    not_before: dt.datetime  # tz-aware UTC
    not_after: dt.datetime  # tz-aware UTC
    serial: str  # hex
    fingerprint_sha256: str  # hex of the DER leaf

    def covers(self, domain: str) -> bool:
        return any(name_covers(name, domain) for name in self.names)

    def days_left(self, now: dt.datetime | None = None) -> float:
        return (self.not_after - (now or dt.datetime.now(dt.UTC))).total_seconds() / 86400


def name_covers(pattern: str, domain: str) -> bool:
    """RFC 6125 matching: exact (case-insensitive), or ``*.example.com`` covering exactly one extra label.

    A wildcard domain (a route for ``*.example.com``) is covered only by the same wildcard name.
    """
    pattern, domain = pattern.lower().rstrip("."), domain.lower().rstrip(".")
    if pattern == domain:
        return True
    if pattern.startswith("*.") and not domain.startswith("*."):
        head, _, rest = domain.partition(".")
        return bool(head) and rest == pattern[2:]
    return False


def parse_chain(pem: str, field: str = "certificate") -> list[x509.Certificate]:
    """Every certificate in a PEM bundle, leaf first as given. Raises :class:`PemError` when there is none."""
    if not isinstance(pem, str) or _BEGIN_CERT not in pem:
        raise PemError(field, "must be a PEM certificate chain (-----BEGIN CERTIFICATE----- ...)")
    try:
        certs = x509.load_pem_x509_certificates(pem.encode())
    except ValueError as exc:
        raise PemError(field, f"is not a valid PEM certificate chain ({exc})") from None
    if not certs:
        raise PemError(field, "contains no certificate")
    return certs


def load_private_key(pem: str, field: str = "private_key") -> PrivateKeyTypes:
    """An unencrypted PEM private key (PKCS#8, PKCS#1 or SEC1). Encrypted keys are refused: the proxy has no
    passphrase to give."""
    if not isinstance(pem, str) or "PRIVATE KEY-----" not in pem:
        raise PemError(field, "must be a PEM private key (-----BEGIN PRIVATE KEY----- ...)")
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except TypeError:
        raise PemError(field, "is encrypted; upload the key without a passphrase") from None
    except (ValueError, Exception) as exc:  # cryptography raises ValueError or UnsupportedAlgorithm
        raise PemError(field, f"is not a valid PEM private key ({type(exc).__name__})") from None
    if not isinstance(
        key,
        rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey,
    ):
        raise PemError(field, f"unsupported key type {type(key).__name__}")
    return key


def _names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        return tuple(n.lower() for n in san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        # Modern clients ignore the CN, but showing it explains why such a certificate "covers nothing".
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return tuple(str(a.value).lower() for a in cns)


def _short_name(name: x509.Name) -> str:
    for oid in (NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME):
        attrs = name.get_attributes_for_oid(oid)
        if attrs:
            return str(attrs[0].value)
    return name.rfc4514_string()


def describe(cert: x509.Certificate) -> CertificateInfo:
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=_short_name(cert.issuer),
        names=_names(cert),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        serial=format(cert.serial_number, "x"),
        fingerprint_sha256=hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest(),
    )


def info_from_pem(chain_pem: str) -> CertificateInfo:
    """Describe the leaf (first certificate) of a PEM chain."""
    return describe(parse_chain(chain_pem)[0])


def _same_public_key(cert: x509.Certificate, key: PrivateKeyTypes) -> bool:
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return bool(cert.public_key().public_bytes(*fmt) == key.public_key().public_bytes(*fmt))


@dataclass(frozen=True)
class ValidatedCertificate:
    """A chain and key that passed :func:`validate_pair`, normalised to clean PEM (leaf first)."""

    chain_pem: str
    key_pem: str
    info: CertificateInfo


def validate_pair(
    domain: str,
    chain_pem: str,
    key_pem: str,
    *,
    now: dt.datetime | None = None,
    cert_field: str = "certificate",
    key_field: str = "private_key",
) -> ValidatedCertificate:
    """Check an uploaded certificate for ``domain``: parseable chain and key, the key belongs to the leaf, the
    leaf covers the domain (wildcard SANs included), it is valid now and every chain element is in order.

    Raises :class:`PemError` naming the field at fault, with a message a user can act on.
    """
    now = now or dt.datetime.now(dt.UTC)
    certs = parse_chain(chain_pem, cert_field)
    key = load_private_key(key_pem, key_field)
    leaf = certs[0]
    info = describe(leaf)
    if not _same_public_key(leaf, key):
        raise PemError(
            key_field,
            "does not match the certificate (the first certificate of the chain must be "
            "the one this key signs for)",
        )
    if not info.covers(domain):
        shown = ", ".join(info.names) or "no DNS names"
        raise PemError(cert_field, f"does not cover {domain!r} (it is for {shown})")
    if info.not_after <= now:
        raise PemError(cert_field, f"expired on {info.not_after.isoformat()}")
    if info.not_before > now:
        raise PemError(cert_field, f"is not valid before {info.not_before.isoformat()}")
    for position, cert in enumerate(certs[1:], start=1):
        if cert.not_valid_after_utc <= now:
            raise PemError(
                cert_field,
                f"chain certificate #{position + 1} "
                f"({_short_name(cert.subject)}) expired on {cert.not_valid_after_utc.isoformat()}",
            )
    for position, (child, parent) in enumerate(itertools.pairwise(certs), start=1):
        # A chain in the wrong order makes some clients fail while browsers cope: refuse it with a clear reason.
        try:
            child.verify_directly_issued_by(parent)
        except Exception:  # InvalidSignature, or TypeError for mismatched key types
            raise PemError(
                cert_field,
                f"chain certificate #{position + 1} did not issue certificate #{position}; "
                "order the chain leaf first, then its issuers",
            ) from None
    pem = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)
    clean_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return ValidatedCertificate(chain_pem=pem, key_pem=clean_key, info=info)


def generate_key_pem() -> str:
    """A fresh EC P-256 private key in PKCS#8 PEM (certificate keys and ACME account keys)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
