"""The certificate manager: keeps the proxy supplied with a certificate for every domain that should have one.

* At start-up every stored certificate is pushed to the proxy (``ProxyBackend.set_certificate``).
* With ``[proxy] acme_enabled``, every non-wildcard route domain gets an ACME certificate in the background
  (a pending row appears at once; the app stays on plain HTTP until the certificate is installed — the proxy
  redirects to HTTPS only for domains it holds a certificate for).
* Renewal: certificates with fewer than ``acme_renew_days`` left are renewed; the check runs every
  ``acme_check_interval`` seconds, and at once on ``POST /api/certificates/<domain>/renew``.
* Failures are logged, stored on the row (``last_error``, ``failures``, ``next_attempt_at``), retried with
  exponential back-off (``acme_retry_initial`` doubling up to ``acme_retry_max``) and raise a
  ``certificate_failed`` event; successes raise ``certificate_issued``.
* Custom certificates (uploaded) are never touched by ACME; deleting one lets ACME take the domain over again.
  Once inside the renewal window (or expired) they raise a ``certificate_failed`` warning once a day.

Registered in ``CORE_SERVICES`` as :func:`start`; the instance lives in ``ctx.services["certificates"]``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rivetr_core.contract import RivetrEvent
from rivetr_core.db.engine import aware, isoformat, utcnow

from .acme_client import AcmeClient, AcmeError
from .store import CertificateStore

# .pem (cryptography, ~7 MB of RSS for its Rust extension) is imported where a certificate is actually handled,
# so a control plane that has none to issue stays small (issue 2's idle-memory target).
if TYPE_CHECKING:
    from quart import Quart

    from rivetr_core.context import RivetrContext
    from rivetr_core.models.core import ProxyRoute
    from rivetr_core.models.tls import Certificate
    from rivetr_core.routing import RouteService

    from .pem import ValidatedCertificate

log = logging.getLogger("rivetr.tls")

#: ACME orders running at once. One: the acme library's ClientNetwork (a requests session and its nonce pool)
#: must not be shared between threads, and a healthy CA completes an order in well under a second (~0.2 s
#: against Pebble). Queued orders re-read their row when their turn comes.
MAX_PARALLEL_ORDERS = 1


def backoff_seconds(failures: int, initial: float, maximum: float) -> float:
    """Delay before attempt ``failures + 1``: ``initial`` after the first failure, doubling, capped."""
    return float(min(maximum, initial * 2 ** max(0, failures - 1)))


def renewal_window(row: Certificate, renew_days: int) -> dt.timedelta:
    """How long before expiry a certificate is renewed: ``renew_days``, but never more than a third of its
    lifetime — a CA issuing short-lived certificates (days, not months) must not be asked again at every
    check."""
    window = dt.timedelta(days=renew_days)
    not_before, not_after = aware(row.not_before), aware(row.not_after)
    if not_before is not None and not_after is not None:
        window = min(window, (not_after - not_before) / 3)
    return window


def certificate_status(row: Certificate, renew_days: int, now: dt.datetime | None = None) -> str:
    """``pending`` (being obtained), ``failed`` (none yet, last attempt failed), ``valid``, ``expiring``
    (inside the renewal window, see :func:`renewal_window`) or ``expired``."""
    now = now or utcnow()
    not_after = aware(row.not_after)
    if not row.cert_pem or not_after is None:
        return "failed" if row.last_error else "pending"
    if not_after <= now:
        return "expired"
    if not_after - now < renewal_window(row, renew_days):
        return "expiring"
    return "valid"


def acme_eligible(domain: str, *, sslip: bool = True) -> bool:
    """http-01 cannot prove wildcard names, and CAs refuse bare ``localhost``. ``sslip`` False: no orders for
    ``*.sslip.io`` names (``[proxy] acme_sslip``: the CA's rate limits for sslip.io are shared by all its users)."""
    if not sslip and domain.endswith(".sslip.io"):
        return False
    return not domain.startswith("*.") and "." in domain


def covered_by_upload(domain: str, rows: dict[str, Certificate]) -> bool:
    """An uploaded wildcard certificate serves ``domain`` (one label deep): ACME starts no order for it. The
    operator chose that certificate for these names, and an ACME one would win over it (exact beats wildcard).
    A domain that already holds an ACME certificate keeps it renewed: an expired exact certificate would still
    be the one served."""
    from .wildcard import covering_wildcard

    wild = covering_wildcard(domain)
    row = rows.get(wild) if wild else None
    return row is not None and row.source == "custom" and bool(row.cert_pem)


class CertificateManager:
    def __init__(self, ctx: RivetrContext, routes: RouteService) -> None:
        self.ctx = ctx
        self.routes = routes
        self.store = CertificateStore(ctx.db, ctx.secrets)
        self.config = ctx.config.proxy
        self._wake = asyncio.Event()
        self._forced: set[str] = set()
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._orders = asyncio.Semaphore(MAX_PARALLEL_ORDERS)
        self._client: AcmeClient | None = None
        self._client_lock = asyncio.Lock()
        self._account_url: str | None = None
        self._warned: dict[str, dt.date] = {}  # domain -> day of the last expiry warning for an upload

    @property
    def acme_active(self) -> bool:
        """ACME runs only with the proxy: it is what answers the http-01 challenges."""
        return self.config.acme_enabled and self.ctx.proxy is not None

    # ------------------------------------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        rows = await self.store.list()  # read once for both the clean-up and the push
        if not self.acme_active:
            # Placeholders of orders that can no longer run would read "pending" forever.
            for row in rows:
                if row.source == "acme" and not row.cert_pem:
                    await self.store.delete(row.domain)
        pushed = await self.push_all(rows)  # placeholders have no certificate: push_all skips them
        if pushed:
            log.info("pushed %d stored certificates to the proxy", pushed)
        self.routes.add_listener(self._on_route)
        if self.config.acme_enabled and self.ctx.proxy is None:
            log.warning(
                "ACME is enabled but the proxy is off: nothing can answer http-01 challenges, "
                "so no certificate will be requested"
            )
        # Also without ACME: uploaded certificates running out must not go unnoticed.
        self.ctx.spawn(self._run(), "certificates")

    async def push_all(self, rows: list[Certificate] | None = None) -> int:
        """Install every stored certificate in the proxy (start-up, or after the proxy restarted), and withdraw
        certificates the proxy still holds for routed domains that the database no longer has (deleted while
        the proxy could not be told). Returns how many were installed. ``rows``: the stored certificates when
        the caller has just read them."""
        if self.ctx.proxy is None:
            return 0
        if rows is None:
            rows = await self.store.list()
        count = 0
        for row in rows:
            if row.cert_pem and await self._push(row):
                count += 1
        stored = {row.domain for row in rows if row.cert_pem}
        try:
            statuses = await self.ctx.proxy.routes()
        except Exception as exc:
            log.warning("could not compare the proxy's certificates with the database: %s", exc)
            return count
        for status in statuses:
            if status.has_certificate and status.domain not in stored:
                log.info("withdrawing the certificate for %s from the proxy: it was deleted", status.domain)
                try:
                    await self.ctx.proxy.remove_certificate(status.domain)
                except Exception as exc:
                    log.warning("the proxy did not drop the certificate for %s: %s", status.domain, exc)
        return count

    async def _push(self, row: Certificate) -> bool:
        assert self.ctx.proxy is not None
        try:
            key = self.store.key_pem(row)
        except Exception as exc:  # wrong encryption key: say so instead of serving nothing silently
            log.error("cannot decrypt the key of the certificate for %s: %s", row.domain, exc)
            return False
        try:
            await self.ctx.proxy.set_certificate(row.domain, row.cert_pem or "", key)
            return True
        except Exception as exc:
            log.warning("the proxy refused the certificate for %s: %s", row.domain, exc)
            return False

    # ------------------------------------------------------------------------------------------- API side
    async def install_custom(self, domain: str, validated: ValidatedCertificate) -> Certificate:
        """Store an uploaded (already validated) certificate and serve it; it replaces an ACME one."""
        if self.ctx.proxy is not None:
            # Proxy first: if it refuses, the upload fails as a whole and nothing half-installed is stored.
            await self.ctx.proxy.set_certificate(domain, validated.chain_pem, validated.key_pem)
        row = await self.store.save(domain, "custom", validated.chain_pem, validated.key_pem, validated.info)
        self._forced.discard(domain)
        self._warned.pop(domain, None)
        self.wake()  # an upload that is already close to expiry is reported now, not at the next check
        return row

    async def delete(self, domain: str) -> bool:
        """Forget a certificate and withdraw it from the proxy. With ACME on and a route for the domain, a new
        ACME certificate is requested (every routed domain gets one)."""
        task = self._inflight.get(domain)
        if task is not None:
            task.cancel()
        deleted = await self.store.delete(domain)
        if deleted and self.ctx.proxy is not None:
            try:
                await self.ctx.proxy.remove_certificate(domain)
            except Exception as exc:
                log.warning("the proxy did not drop the certificate for %s: %s", domain, exc)
        if (
            deleted
            and self.acme_active
            and acme_eligible(domain, sslip=self.config.acme_sslip)
            and await self.routes.get(domain) is not None
            and not await self._covered(domain)
        ):
            await self.store.ensure_acme(domain)
            self.wake()
        if deleted and domain.startswith("*."):
            self.wake()  # the routed names it served get ACME certificates at the next sweep
        return deleted

    async def renew(self, domain: str) -> Certificate | None:
        """Renew an ACME certificate now, whatever its expiry (the back-off is skipped too)."""
        row = await self.store.schedule(domain, utcnow())
        if row is not None:
            self._forced.add(domain)
            self.wake()
        return row

    def status(self, row: Certificate) -> str:
        return certificate_status(row, self.config.acme_renew_days)

    def wake(self) -> None:
        self._wake.set()

    async def _on_route(self, domain: str, row: ProxyRoute | None) -> None:
        if not self.acme_active or not acme_eligible(domain, sslip=self.config.acme_sslip):
            return
        if row is None:
            # Stop chasing a certificate for a domain that is gone; a valid one is kept (the route may return).
            existing = await self.store.get(domain)
            if existing is not None and existing.source == "acme" and not existing.cert_pem:
                await self.store.delete(domain)
            return
        if await self._covered(domain):
            return
        _, created = await self.store.ensure_acme(domain)
        if created:
            self.wake()

    async def _covered(self, domain: str) -> bool:
        from .wildcard import covering_wildcard

        wild = covering_wildcard(domain)
        row = await self.store.get(wild) if wild else None
        return row is not None and covered_by_upload(domain, {row.domain: row})

    # ------------------------------------------------------------------------------------------- worker
    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                timeout = await self.sweep()
            except Exception:
                log.exception("certificate sweep failed")
                timeout = self.config.acme_retry_initial
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass

    async def sweep(self) -> float:
        """Warn about expiring uploads and start an ACME order for every domain that is due; returns seconds
        until the next thing is due."""
        now = utcnow()
        rows = {row.domain: row for row in await self.store.list()}
        self._warn_expiring_uploads(rows.values(), now)
        if not self.acme_active:
            return self.config.acme_check_interval
        # A route's key is its domain plus its path prefix (example.com/v1); certificates are per domain.
        sslip = self.config.acme_sslip
        routed = {
            d
            for d in {r.domain.partition("/")[0] for r in await self.routes.list()}
            if acme_eligible(d, sslip=sslip)
        }
        for domain in routed - rows.keys():  # routes that existed before ACME was switched on
            if not covered_by_upload(domain, rows):
                rows[domain], _ = await self.store.ensure_acme(domain)
        wait = self.config.acme_check_interval
        for domain, row in rows.items():
            if row.source != "acme" or domain in self._inflight:
                continue
            forced = domain in self._forced
            if not row.cert_pem and not forced and covered_by_upload(domain, rows):
                await self.store.delete(domain)  # a wildcard was uploaded while this order waited
                continue
            if domain not in routed and not forced:
                if not row.cert_pem:  # its route went away while we were not listening: stop chasing it
                    await self.store.delete(domain)
                continue  # keep, but do not renew, certificates of domains no longer routed
            next_at = aware(row.next_attempt_at)
            if not forced and next_at is not None and next_at > now:
                wait = min(wait, (next_at - now).total_seconds())
                continue
            not_after = aware(row.not_after)
            window = renewal_window(row, self.config.acme_renew_days)
            if forced or not row.cert_pem or not_after is None or not_after - now < window:
                self._inflight[domain] = self.ctx.spawn(self._obtain(domain), f"acme:{domain}")
        return max(wait, 0.01)

    def _warn_expiring_uploads(self, rows: Iterable[Certificate], now: dt.datetime) -> None:
        """A ``certificate_failed`` warning, once a day per domain, for uploaded certificates inside the
        renewal window or expired: nobody renews those but the user."""
        for row in rows:
            if row.source != "custom" or not row.cert_pem:
                continue
            status = certificate_status(row, self.config.acme_renew_days, now)
            if status not in ("expiring", "expired") or self._warned.get(row.domain) == now.date():
                continue
            self._warned[row.domain] = now.date()
            not_after = aware(row.not_after)
            when = not_after.isoformat() if not_after else "?"
            verb = "expired on" if status == "expired" else "expires on"
            error = f"the uploaded certificate for {row.domain} {verb} {when}; upload a renewed one"
            log.warning("%s", error)
            self.ctx.emit(
                RivetrEvent(
                    type="certificate_failed",
                    level="warning",
                    message=error,
                    data={"domain": row.domain, "error": error, "not_after": when, "source": "custom"},
                )
            )

    async def _acme(self) -> AcmeClient:
        async with self._client_lock:
            if self._client is None:
                from .pem import generate_key_pem

                directory = self.config.effective_acme_directory
                account = await self.store.account(directory)
                key_pem, account_url = account if account else (generate_key_pem(), None)
                client = AcmeClient(
                    directory,
                    account_key_pem=key_pem,
                    email=self.config.acme_email,
                    account_url=account_url,
                    ca_bundle=self._ca_bundle(),
                )
                await client.connect()
                await self.store.save_account(directory, key_pem, client.account_url, self.config.acme_email)
                self._account_url = client.account_url
                self._client = client
            return self._client

    def _ca_bundle(self) -> Path | None:
        """The CA file requests verifies the directory with: the system's roots plus ``acme_ca_bundle``."""
        extra = self.config.acme_ca_bundle
        if extra is None:
            return None
        try:
            import certifi

            combined = Path(self.ctx.config.server.data_dir) / "certs" / "acme-ca-bundle.pem"
            combined.parent.mkdir(parents=True, exist_ok=True)
            combined.write_text(Path(certifi.where()).read_text() + "\n" + Path(extra).read_text())
            return combined
        except (ImportError, OSError):
            return Path(extra)

    async def _obtain(self, domain: str) -> None:
        from .pem import generate_key_pem, info_from_pem

        forced = domain in self._forced
        try:
            async with self._orders:
                existing = await self.store.get(domain)
                if existing is None or existing.source != "acme":
                    return  # deleted or replaced by an upload while queued
                renewal = bool(existing.cert_pem)
                assert self.ctx.proxy is not None
                client = await self._acme()
                key_pem = generate_key_pem()
                chain_pem = await client.issue(domain, key_pem, self.ctx.proxy)
                info = info_from_pem(chain_pem)
                if not info.covers(domain):
                    raise AcmeError(f"the CA issued a certificate for {', '.join(info.names)}, not {domain}")
                current = await self.store.get(domain)
                if current is None or current.source != "acme":
                    return  # deleted, or replaced by an upload, while the order ran
                # Proxy first, so that "valid" in the API means the proxy already serves it (and redirects).
                # A refusal is logged; the certificate is still kept and pushed again at the next start.
                try:
                    await self.ctx.proxy.set_certificate(domain, chain_pem, key_pem)
                except Exception as exc:
                    log.warning("the proxy refused the new certificate for %s: %s", domain, exc)
                await self.store.save(domain, "acme", chain_pem, key_pem, info)
                if client.account_url != self._account_url:  # re-registered after the CA forgot the account
                    await self.store.save_account(
                        client.directory_url,
                        client.account_key_pem,
                        client.account_url,
                        self.config.acme_email,
                    )
                    self._account_url = client.account_url
                self._forced.discard(domain)
            log.info(
                "certificate for %s %s by %s, valid until %s",
                domain,
                "renewed" if renewal else "issued",
                info.issuer,
                info.not_after.isoformat(),
            )
            self.ctx.emit(
                RivetrEvent(
                    type="certificate_issued",
                    level="success",
                    message=f"certificate for {domain} {'renewed' if renewal else 'issued'} (valid until "
                    f"{info.not_after.date().isoformat()})",
                    data={
                        "domain": domain,
                        "issuer": info.issuer,
                        "not_after": info.not_after.isoformat(),
                        "renewal": renewal,
                        "source": "acme",
                    },
                )
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._failed(domain, exc, forced)
        finally:
            self._inflight.pop(domain, None)
            self.wake()  # recompute when the worker must look again

    async def _failed(self, domain: str, exc: Exception, forced: bool) -> None:
        from .pem import PemError

        if isinstance(exc, AcmeError | PemError):
            error = str(exc)
        else:
            log.error("unexpected error while obtaining a certificate for %s", domain, exc_info=exc)
            error = f"internal error: {type(exc).__name__}: {exc}"
        self._forced.discard(domain)
        current = await self.store.get(domain)
        failures = (current.failures if current else 0) + 1
        delay = backoff_seconds(failures, self.config.acme_retry_initial, self.config.acme_retry_max)
        next_at = utcnow() + dt.timedelta(seconds=delay)
        row = await self.store.record_failure(domain, error, next_at)
        if row is None:
            return
        log.warning(
            "certificate for %s failed (attempt %d, next in %.1fs): %s", domain, failures, delay, error
        )
        self.ctx.emit(
            RivetrEvent(
                type="certificate_failed",
                level="failure",
                message=f"certificate for {domain} failed: {error}",
                data={
                    "domain": domain,
                    "error": error,
                    "failures": failures,
                    "next_attempt_at": next_at.isoformat(),
                    "retry_in_seconds": delay,
                    "has_valid_certificate": bool(row.cert_pem),
                    "forced": forced,
                    "source": "acme",
                },
            )
        )


def certificate_json(row: Certificate, status: str) -> dict[str, Any]:
    """API form of a certificate row (never the key)."""
    return {
        "domain": row.domain,
        "source": row.source,
        "status": status,
        "issuer": row.issuer,
        "names": row.names.split(",") if row.names else [],
        "not_before": isoformat(row.not_before),
        "not_after": isoformat(row.not_after),
        "fingerprint_sha256": row.fingerprint,
        "last_error": row.last_error,
        "last_error_at": isoformat(row.last_error_at),
        "failures": row.failures,
        "next_attempt_at": isoformat(row.next_attempt_at),
        "issued_at": isoformat(row.issued_at),
    }


async def start(app: Quart, ctx: RivetrContext) -> None:
    """CORE_SERVICES entry: build the manager, push stored certificates, start the ACME worker."""
    manager = CertificateManager(ctx, ctx.services["routes"])
    ctx.services["certificates"] = manager
    await manager.start()
