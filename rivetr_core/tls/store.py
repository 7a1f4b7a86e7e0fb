"""Certificate and ACME-account persistence. Private keys are encrypted with the instance's SecretBox before
they reach the database and decrypted only to hand them to the proxy or the ACME client."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlmodel import select

from rivetr_core.db import Database
from rivetr_core.db.engine import utcnow
from rivetr_core.models.tls import AcmeAccount, Certificate
from rivetr_core.secrets import SecretBox

if TYPE_CHECKING:
    from .pem import CertificateInfo


class CertificateStore:
    def __init__(self, db: Database, secrets: SecretBox) -> None:
        self.db = db
        self.secrets = secrets

    # ------------------------------------------------------------------------------------------ certificates
    async def list(self) -> list[Certificate]:
        async with self.db.session() as session:
            return list((await session.exec(select(Certificate).order_by(Certificate.domain))).all())

    async def get(self, domain: str) -> Certificate | None:
        async with self.db.session() as session:
            return await session.get(Certificate, domain)

    async def ensure_acme(self, domain: str) -> tuple[Certificate, bool]:
        """The row for ``domain``, creating a pending ACME one when there is none. Returns (row, created)."""
        async with self.db.session() as session:
            row = await session.get(Certificate, domain)
            if row is not None:
                return row, False
            row = Certificate(domain=domain, source="acme", next_attempt_at=utcnow())
            session.add(row)
            await session.commit()
            return row, True

    async def save(
        self, domain: str, source: str, chain_pem: str, key_pem: str, info: CertificateInfo
    ) -> Certificate:
        """Store a certificate (replacing any previous one for the domain) and clear the failure state."""
        now = utcnow()
        async with self.db.session() as session:
            row = await session.get(Certificate, domain)
            if row is None:
                row = Certificate(domain=domain, source=source, created_at=now)
            row.source = source
            row.cert_pem = chain_pem
            row.key_encrypted = self.secrets.encrypt(key_pem)
            row.issuer = info.issuer[:255]
            row.names = ",".join(info.names)
            row.not_before, row.not_after = info.not_before, info.not_after
            row.fingerprint = info.fingerprint_sha256
            row.last_error = row.last_error_at = None
            row.failures = 0
            row.next_attempt_at = None
            row.issued_at = row.updated_at = now
            session.add(row)
            await session.commit()
            return row

    async def record_failure(
        self, domain: str, error: str, next_attempt_at: dt.datetime
    ) -> Certificate | None:
        """Count a failed attempt. Returns None when the row disappeared meanwhile (domain deleted)."""
        async with self.db.session() as session:
            row = await session.get(Certificate, domain)
            if row is None:
                return None
            row.failures += 1
            row.last_error = error[:2000]
            row.last_error_at = row.updated_at = utcnow()
            row.next_attempt_at = next_attempt_at
            session.add(row)
            await session.commit()
            return row

    async def schedule(self, domain: str, when: dt.datetime) -> Certificate | None:
        async with self.db.session() as session:
            row = await session.get(Certificate, domain)
            if row is None:
                return None
            row.next_attempt_at = when
            session.add(row)
            await session.commit()
            return row

    async def delete(self, domain: str) -> bool:
        return await self.db.delete(Certificate, domain)

    def key_pem(self, row: Certificate) -> str:
        """Decrypt a row's private key (raises :class:`~rivetr_core.secrets.SecretError` on a wrong key)."""
        if row.key_encrypted is None:
            raise ValueError(f"certificate {row.domain!r} has no key")
        return self.secrets.decrypt(row.key_encrypted)

    # ------------------------------------------------------------------------------------------ accounts
    async def account(self, directory_url: str) -> tuple[str, str | None] | None:
        """(account key PEM, account URL) for a directory, or None when no account was made there yet."""
        async with self.db.session() as session:
            row = await session.get(AcmeAccount, directory_url)
        if row is None:
            return None
        return self.secrets.decrypt(row.key_encrypted), row.account_url

    async def save_account(
        self, directory_url: str, key_pem: str, account_url: str | None, email: str | None
    ) -> None:
        async with self.db.session() as session:
            row = await session.get(AcmeAccount, directory_url)
            if row is None:
                row = AcmeAccount(directory_url=directory_url, key_encrypted=self.secrets.encrypt(key_pem))
            row.account_url, row.email = account_url, email
            session.add(row)
            await session.commit()
