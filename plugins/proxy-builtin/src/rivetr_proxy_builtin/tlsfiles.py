"""Certificate files in the state dir, and the self-signed fallback certificate.

``certs/<domain>.crt`` + ``certs/<domain>.key`` (``*`` spelled ``_wildcard_``), written 0600 by the master.
``certs/_fallback.crt|.key`` is a self-signed certificate served to clients whose SNI names no known
domain (or who send none), so the TLS listener always has something to present.
"""

from __future__ import annotations

import datetime
import os
import sys
from collections.abc import Mapping
from pathlib import Path

FALLBACK = "_fallback"


def cert_basename(domain: str) -> str:
    return domain.replace("*", "_wildcard_")


def domain_of(basename: str) -> str:
    return basename.replace("_wildcard_", "*")


def covering_cert(host: str, certs: Mapping[str, object]) -> str | None:
    """The certificate name that serves ``host``: its own, else the wildcard one label up (``*.example.com``
    covers ``a.example.com`` but neither ``example.com`` nor ``x.a.example.com``, as TLS clients check), else
    None. An exact certificate always wins over a wildcard. ``host``: lower-case, no trailing dot."""
    if host in certs:
        return host
    rest = host.partition(".")[2]
    if not rest or host.startswith("*."):  # a wildcard route is served by its own wildcard certificate only
        return None
    wild = "*." + rest
    return wild if wild in certs else None


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by the owner only."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def ensure_fallback_cert(certs_dir: Path) -> tuple[Path, Path]:
    """Create the self-signed fallback certificate if it is missing. Imports ``cryptography`` only then
    (the control plane has it; the proxy processes never need it once the files exist)."""
    crt, key = certs_dir / f"{FALLBACK}.crt", certs_dir / f"{FALLBACK}.key"
    if fallback_exists(certs_dir):
        return crt, key
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    certs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    pkey = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rivetr-fallback")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(pkey.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("rivetr.invalid")]), critical=False)
        .sign(pkey, hashes.SHA256())
    )
    write_private(
        key,
        pkey.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
    )
    write_private(crt, cert.public_bytes(serialization.Encoding.PEM).decode())
    return crt, key


def fallback_exists(certs_dir: Path) -> bool:
    return all((certs_dir / f"{FALLBACK}.{ext}").exists() for ext in ("crt", "key"))


if __name__ == "__main__":  # python -m rivetr_proxy_builtin.tlsfiles CERTS_DIR (see BuiltinProxy._spawn)
    ensure_fallback_cert(Path(sys.argv[1]))
