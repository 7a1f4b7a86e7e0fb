"""``/api/certificates``: TLS certificates per domain — ACME-issued ones (with their renewal state and last
error) and custom uploads. Private keys are accepted on upload and never returned.

Thin handlers over :class:`~rivetr_core.services.certificates.CertificateService` (``ctx.services.tls``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator
from quart import Blueprint, Response
from quart_schema import document_response, tag, validate_querystring, validate_request, validate_response

from rivetr_core.apimodel import ApiModel
from rivetr_core.context import rivetr
from rivetr_core.pagination import PageQuery, envelope, page_model
from rivetr_core.services.certificates import CertificateOut, CertificateService
from rivetr_core.validation import DOMAIN_SCHEMA, check_domain

bp = Blueprint("certificates_api", __name__, url_prefix="/api/certificates")


class CertificateIn(ApiModel):
    domain: str = Field(
        description="Host name the certificate is served for (exact, or *.example.com).",
        json_schema_extra=DOMAIN_SCHEMA,
    )
    certificate: str = Field(
        description="PEM chain: the leaf first, then its intermediates.", max_length=200_000
    )
    private_key: str = Field(description="Unencrypted PEM private key of the leaf.", max_length=50_000)

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str) -> str:
        return check_domain(v)


def tls() -> CertificateService:
    return rivetr().services.tls


@bp.get("")
@tag(["certificates"])
@validate_querystring(PageQuery)
@document_response(page_model(CertificateOut, "CertificatePage"))
async def list_certificates(query_args: PageQuery) -> dict[str, Any]:
    """Every certificate Rivetr holds or is trying to obtain, by domain, with its state and last error, a page
    at a time (``{"items", "next"}``; pass ``next`` back as ``?cursor=``). A wildcard certificate lists in
    ``serves`` the routed domains it answers for."""
    service = tls()
    rows, next_cursor = await service.page(query_args)
    coverage = await service.wildcard_coverage()
    return envelope(
        [service.certificate_json(row, serves=coverage.get(row.domain)) for row in rows], next_cursor
    )


@bp.get("/<domain>")
@tag(["certificates"])
@validate_response(CertificateOut)
async def get_certificate(domain: str) -> dict[str, Any]:
    """The certificate served for ``domain``: its own, else the ``*.`` wildcard one label up that covers it
    (answered with ``covered_domain`` set to ``domain``). 404 when neither exists."""
    service = tls()
    row, covered = await service.serving(domain)
    serves = (await service.wildcard_coverage()).get(row.domain) if row.domain.startswith("*.") else None
    return service.certificate_json(row, covered, serves)


@bp.post("")
@tag(["certificates"])
@validate_request(CertificateIn)
@validate_response(CertificateOut, 201)
async def upload_certificate(data: CertificateIn) -> tuple[dict[str, Any], int]:
    """Install a custom certificate. 422 naming the field when the key does not match the leaf, the leaf does
    not cover ``domain`` (wildcard SANs count), it is expired or not yet valid, or the chain is out of order.
    Replaces any certificate of the domain, ACME ones included (ACME then leaves the domain alone)."""
    service = tls()
    row = await service.upload(data.domain, data.certificate, data.private_key)
    return service.certificate_json(row), 201


@bp.delete("/<domain>")
@tag(["certificates"])
async def delete_certificate(domain: str) -> Response:
    """Remove a certificate; the proxy stops serving it. With ACME on and a route for the domain, a fresh ACME
    certificate is requested."""
    await tls().delete(domain)
    return Response(status=204)


@bp.post("/<domain>/renew")
@tag(["certificates"])
@validate_response(CertificateOut, 202)
async def renew_certificate(domain: str) -> tuple[dict[str, Any], int]:
    """Renew an ACME certificate now (also retries a failed one without waiting for the back-off). Returns at
    once; watch ``GET /api/certificates/<domain>`` for the new ``not_after`` or ``last_error``. 409
    ``custom_certificate`` for an uploaded one, ``acme_disabled`` while ACME is off."""
    service = tls()
    return service.certificate_json(await service.renew(domain)), 202
