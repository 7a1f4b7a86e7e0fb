"""``/api/certificates``: TLS certificates per domain — ACME-issued ones (with their renewal state and last
error) and custom uploads. Private keys are accepted on upload and never returned."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from quart import Blueprint, Response
from quart_schema import document_response, tag, validate_querystring, validate_request, validate_response

from rivetr_core.context import rivetr
from rivetr_core.errors import ApiError, not_found, validation_error
from rivetr_core.pagination import PageQuery, envelope, list_page, page_model
from rivetr_core.tls.manager import CertificateManager, certificate_json
from rivetr_core.validation import DOMAIN_SCHEMA, check_domain

bp = Blueprint("certificates_api", __name__, url_prefix="/api/certificates")


class CertificateIn(BaseModel):
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


class CertificateOut(BaseModel):
    domain: str
    source: Literal["acme", "custom"]
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


def manager() -> CertificateManager:
    service: CertificateManager = rivetr().services["certificates"]
    return service


def _json(row: Any) -> dict[str, Any]:
    return certificate_json(row, manager().status(row))


def _path_domain(domain: str) -> str:
    # Not a host name, so no certificate can be stored under it: 404 like any other unknown domain.
    try:
        return check_domain(domain)
    except ValueError as exc:
        raise ApiError(404, f"no certificate for {domain!r}: {exc}", details={"id": domain}) from None


@bp.get("")
@tag(["certificates"])
@validate_querystring(PageQuery)
@document_response(page_model(CertificateOut, "CertificatePage"))
async def list_certificates(query_args: PageQuery) -> dict[str, Any]:
    """Every certificate Rivetr holds or is trying to obtain, by domain, with its state and last error, a page
    at a time (``{"items", "next"}``; pass ``next`` back as ``?cursor=``)."""
    rows = await manager().store.list()
    page, next_cursor = list_page(rows, lambda r: (r.domain,), (str,), query_args)
    return envelope([_json(row) for row in page], next_cursor)


@bp.get("/<domain>")
@tag(["certificates"])
@validate_response(CertificateOut)
async def get_certificate(domain: str) -> dict[str, Any]:
    row = await manager().store.get(_path_domain(domain))
    if row is None:
        raise not_found("certificate", domain)
    return _json(row)


@bp.post("")
@tag(["certificates"])
@validate_request(CertificateIn)
@validate_response(CertificateOut, 201)
async def upload_certificate(data: CertificateIn) -> tuple[dict[str, Any], int]:
    """Install a custom certificate. 422 naming the field when the key does not match the leaf, the leaf does
    not cover ``domain`` (wildcard SANs count), it is expired or not yet valid, or the chain is out of order.
    Replaces any certificate of the domain, ACME ones included (ACME then leaves the domain alone)."""
    from rivetr_core.tls.pem import PemError, validate_pair  # cryptography only when a certificate comes in

    try:
        validated = validate_pair(data.domain, data.certificate, data.private_key)
    except PemError as exc:
        raise validation_error(exc.field, exc.message) from None
    row = await manager().install_custom(data.domain, validated)
    return _json(row), 201


@bp.delete("/<domain>")
@tag(["certificates"])
async def delete_certificate(domain: str) -> Response:
    """Remove a certificate; the proxy stops serving it. With ACME on and a route for the domain, a fresh ACME
    certificate is requested."""
    if not await manager().delete(_path_domain(domain)):
        raise not_found("certificate", domain)
    return Response(status=204)


@bp.post("/<domain>/renew")
@tag(["certificates"])
@validate_response(CertificateOut, 202)
async def renew_certificate(domain: str) -> tuple[dict[str, Any], int]:
    """Renew an ACME certificate now (also retries a failed one without waiting for the back-off). Returns at
    once; watch ``GET /api/certificates/<domain>`` for the new ``not_after`` or ``last_error``."""
    service = manager()
    name = _path_domain(domain)
    row = await service.store.get(name)
    if row is None:
        raise not_found("certificate", domain)
    if row.source != "acme":
        raise ApiError(
            409,
            f"the certificate for {name!r} was uploaded; upload a new one to replace it",
            code="custom_certificate",
        )
    if not service.acme_active:
        raise ApiError(
            409,
            "ACME is not active (set [proxy] acme_enabled = true; the proxy must be on)",
            code="acme_disabled",
        )
    row = await service.renew(name)
    if row is None:
        raise not_found("certificate", domain)
    return _json(row), 202
