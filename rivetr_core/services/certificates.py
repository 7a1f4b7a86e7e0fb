"""``CertificateService`` (``ctx.services.tls``): TLS certificates as the API and the dashboard handle them.

The certificate manager (``ctx.services.certificates``, :mod:`rivetr_core.tls.manager`) obtains, renews and
serves certificates; this service holds the rules around it: which domains can have one, what an upload must
prove (checked in :mod:`rivetr_core.tls.pem`, which imports ``cryptography`` only when one comes in), when a
renewal may be asked for. ``certificate_json`` builds every answer through :class:`CertificateOut`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import ConfigDict, Field

from rivetr_core.apimodel import ApiModel
from rivetr_core.contract.errors import Conflict, NotFound, ValidationFailed
from rivetr_core.tls.manager import certificate_json as row_json
from rivetr_core.validation import check_domain

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext
    from rivetr_core.models.tls import Certificate
    from rivetr_core.pagination import PageQuery
    from rivetr_core.tls.manager import CertificateManager


class CertificateOut(ApiModel):
    # A key the manager's serialiser adds but this model lacks fails loudly instead of leaving the document.
    model_config = ConfigDict(extra="forbid")

    domain: str
    source: Literal["acme", "custom"] = Field(
        description="acme: obtained and renewed by Rivetr; custom: uploaded."
    )
    status: Literal["pending", "failed", "valid", "expiring", "expired"] = Field(
        description="pending: being obtained; failed: none yet and the last attempt failed; expiring: inside "
        "the renewal window."
    )
    issuer: str | None
    names: list[str] = Field(description="DNS names the certificate covers.")
    not_before: str | None
    not_after: str | None
    fingerprint_sha256: str | None
    last_error: str | None = Field(description="Why the last ACME attempt failed (kept until one succeeds).")
    last_error_at: str | None
    failures: int = Field(description="Consecutive failed ACME attempts.")
    next_attempt_at: str | None = Field(description="When ACME tries again (back-off after failures).")
    issued_at: str | None
    covered_domain: str | None = Field(
        None,
        description="Only in GET /api/certificates/{domain}: the domain asked for, when it has no certificate "
        "of its own and this wildcard certificate (`domain`) serves it; null otherwise.",
    )
    serves: list[str] = Field(
        default_factory=list,
        description="For a wildcard certificate: the routed domains without a valid certificate of their own "
        "that the proxy serves with it (one label deep, as TLS clients match wildcards); empty otherwise.",
    )


class CertificateService:
    def __init__(self, ctx: RivetrContext) -> None:
        self.ctx = ctx

    @property
    def manager(self) -> CertificateManager:
        return self.ctx.services.certificates

    def certificate_json(
        self, row: Certificate, covered_domain: str | None = None, serves: list[str] | None = None
    ) -> dict[str, Any]:
        """A certificate as the API shows it (never its key); ``covered_domain``: see :meth:`serving`;
        ``serves``: see :meth:`wildcard_coverage`."""
        data = {
            **row_json(row, self.manager.status(row)),
            "covered_domain": covered_domain,
            "serves": serves or [],
        }
        return CertificateOut.model_validate(data).model_dump(mode="json")

    async def wildcard_coverage(self) -> dict[str, list[str]]:
        """``{"*.example.com": ["a.example.com", ...]}``: the routed domains each wildcard certificate serves
        because they have no usable certificate of their own (the rule of :meth:`serving`, for every route), so
        a list of certificates shows which names an uploaded wildcard actually answers for."""
        from rivetr_core.tls.wildcard import covering_wildcard

        held = {row.domain: bool(row.cert_pem) for row in await self.manager.store.list()}
        if not any(domain.startswith("*.") and usable for domain, usable in held.items()):
            return {}
        routes = self.ctx.services.get("routes")
        domains = (
            {row.domain.partition("/")[0] for row in await routes.list()} if routes is not None else set()
        )
        coverage: dict[str, list[str]] = {}
        for domain in sorted(domains):
            wild = covering_wildcard(domain)
            if wild and held.get(wild) and not held.get(domain):
                coverage.setdefault(wild, []).append(domain)
        return coverage

    async def page(self, page: PageQuery) -> tuple[list[Certificate], str | None]:
        """Every certificate held or being obtained, by domain, a page at a time."""
        from rivetr_core.pagination import list_page

        rows = await self.manager.store.list()
        return list_page(rows, lambda r: (r.domain,), (str,), page)

    async def get(self, domain: str) -> Certificate:
        """``NotFound`` for a domain without a certificate (a string that is no host name included)."""
        name = _domain(domain)
        row = await self.manager.store.get(name)
        if row is None:
            raise NotFound.of("certificate", domain)
        return row

    async def serving(self, domain: str) -> tuple[Certificate, str | None]:
        """The certificate the proxy serves for ``domain``: its own, else the wildcard one label up (then also
        the domain, as ``covered_domain``). ``NotFound`` when neither exists."""
        from rivetr_core.tls.wildcard import covering_wildcard

        name = _domain(domain)
        own = await self.manager.store.get(name)
        if own is not None and own.cert_pem:
            return own, None
        # No certificate of its own (or an ACME one still pending): the proxy serves a covering wildcard.
        wild = covering_wildcard(name)
        row = await self.manager.store.get(wild) if wild else None
        if row is not None and row.cert_pem:
            return row, name
        if own is None:
            raise NotFound.of("certificate", domain)
        return own, None

    async def upload(self, domain: str, certificate: str, private_key: str) -> Certificate:
        """Install a custom certificate for ``domain`` (it replaces an ACME one). ``ValidationFailed`` naming
        the field when the key does not match the leaf, the leaf does not cover the domain, it is expired or
        not yet valid, or the chain is out of order."""
        from rivetr_core.tls.pem import (
            PemError,
            validate_pair,
        )  # cryptography only when a certificate comes in

        try:
            validated = validate_pair(domain, certificate, private_key)
        except PemError as exc:
            raise ValidationFailed.on(exc.field, exc.message) from None
        return await self.manager.install_custom(domain, validated)

    async def delete(self, domain: str) -> None:
        """Forget a certificate and withdraw it from the proxy; ``NotFound`` when there is none."""
        if not await self.manager.delete(_domain(domain)):
            raise NotFound.of("certificate", domain)

    async def renew(self, domain: str) -> Certificate:
        """Ask for an ACME renewal now (the back-off is skipped). ``Conflict`` for an uploaded certificate
        (``custom_certificate``) or while ACME is off (``acme_disabled``)."""
        row = await self.get(domain)
        if row.source != "acme":
            raise Conflict(
                f"the certificate for {row.domain!r} was uploaded; upload a new one to replace it",
                code="custom_certificate",
            )
        if not self.manager.acme_active:
            raise Conflict(
                "ACME is not active (set [proxy] acme_enabled = true; the proxy must be on)",
                code="acme_disabled",
            )
        renewed = await self.manager.renew(row.domain)
        if renewed is None:  # deleted meanwhile
            raise NotFound.of("certificate", domain)
        return renewed


def _domain(domain: str) -> str:
    # Not a host name, so no certificate can be stored under it: not found like any other unknown domain.
    try:
        return check_domain(domain)
    except ValueError as exc:
        raise NotFound(f"no certificate for {domain!r}: {exc}", details={"id": domain}) from None
