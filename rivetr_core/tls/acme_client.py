"""RFC 8555 client (http-01 only) on top of the ``acme`` library, usable from asyncio.

The ``acme`` library is synchronous (``requests``): every network call runs in a worker thread with
:func:`asyncio.to_thread`, while waiting between polls happens on the event loop. Challenge answers are handed
to a :class:`ChallengePublisher` (the proxy backend in production: it answers
``/.well-known/acme-challenge/<token>`` on the HTTP port before any app route).

One :class:`AcmeClient` per directory and account key. Usage::

    client = AcmeClient(directory_url, account_key_pem=key, email="ops@example.com", ca_bundle=None)
    chain_pem = await client.issue("app.example.com", cert_key_pem, publisher)
    client.account_url  # persist it with the key: the next start skips registration

Every failure is an :class:`AcmeError` whose message says what failed in words a user can act on (directory
unreachable, validation failed with the CA's own detail, timeout) and never contains key material.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

log = logging.getLogger("rivetr.tls.acme")

T = TypeVar("T")

#: Seconds one order may take from creation to downloaded chain.
ORDER_TIMEOUT = 120.0
#: Seconds each HTTP request to the ACME server may take.
NETWORK_TIMEOUT = 20


class AcmeError(Exception):
    """An ACME order failed. ``message`` is meant for humans (it ends up in ``GET /api/certificates``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ChallengePublisher(Protocol):
    """Where http-01 key authorizations are served (``ProxyBackend`` satisfies this)."""

    async def set_acme_challenge(self, token: str, key_authorization: str) -> None: ...
    async def remove_acme_challenge(self, token: str) -> None: ...


def _describe(exc: BaseException, directory_url: str) -> str:
    """Turn library/network exceptions into one readable line."""
    import requests
    from acme import errors, messages

    if isinstance(exc, AcmeError):
        return exc.message
    if isinstance(exc, requests.exceptions.SSLError):
        return (
            f"TLS verification of the ACME server {directory_url} failed (set [proxy] acme_ca_bundle?): {exc}"
        )
    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return f"cannot reach the ACME server {directory_url}: {type(exc).__name__}"
    if isinstance(exc, messages.Error):
        return f"the ACME server refused the request: {exc.typ or ''} {exc.detail or exc.title or ''}".strip()
    if isinstance(exc, errors.Error):
        return f"ACME protocol error: {type(exc).__name__}: {exc}"
    return f"{type(exc).__name__}: {exc}"


class AcmeClient:
    """An ACME account at one directory. Not thread-safe: the manager runs one order per client at a time."""

    def __init__(
        self,
        directory_url: str,
        *,
        account_key_pem: str,
        email: str | None = None,
        account_url: str | None = None,
        ca_bundle: Path | str | None = None,
        order_timeout: float = ORDER_TIMEOUT,
    ) -> None:
        self.directory_url = directory_url
        self.email = email
        self.account_url = account_url
        self.ca_bundle = str(ca_bundle) if ca_bundle else None
        self.order_timeout = order_timeout
        self.account_key_pem = account_key_pem
        self._client: Any = None
        self._jwk: Any = None
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------------------------------------- blocking
    def _connect_blocking(self) -> None:
        import josepy as jose
        from acme import client, errors, messages
        from cryptography.hazmat.primitives import serialization

        key = serialization.load_pem_private_key(self.account_key_pem.encode(), password=None)
        self._jwk = jose.JWKEC(key=key)
        # verify_ssl is handed to requests as ``verify``: a CA bundle path works as well as True.
        net = client.ClientNetwork(
            self._jwk,
            alg=jose.ES256,
            verify_ssl=self.ca_bundle or True,  # type: ignore[arg-type]
            user_agent="rivetr",
            timeout=NETWORK_TIMEOUT,
        )
        directory = client.ClientV2.get_directory(self.directory_url, net)
        acme = client.ClientV2(directory, net)
        if self.account_url:
            net.account = messages.RegistrationResource(uri=self.account_url, body=messages.Registration())
        else:
            contact = (f"mailto:{self.email}",) if self.email else ()
            registration = messages.NewRegistration.from_data(terms_of_service_agreed=True)
            if contact:
                registration = registration.update(contact=contact)
            try:
                self.account_url = acme.new_account(registration).uri
            except errors.ConflictError as exc:  # the key is already registered: re-use that account
                self.account_url = exc.location
                net.account = messages.RegistrationResource(uri=exc.location, body=messages.Registration())
        self._client = acme

    def _post_as_get(self, url: str) -> Any:
        return self._client.net.post(url, None, new_nonce_url=self._client.directory["newNonce"])

    # ------------------------------------------------------------------------------------------- async API
    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    async def connect(self) -> str:
        """Fetch the directory and register (or re-use) the account. Returns the account URL."""
        try:
            await self._call(self._connect_blocking)
        except Exception as exc:
            self._client = None
            raise AcmeError(_describe(exc, self.directory_url)) from exc
        assert self.account_url is not None
        return self.account_url

    async def issue(self, domain: str, key_pem: str, publisher: ChallengePublisher) -> str:
        """Order a certificate for ``domain`` with the private key ``key_pem``; returns the PEM full chain.

        Raises :class:`AcmeError`. Published challenge answers are always withdrawn, success or not.
        """
        async with self._lock:
            try:
                return await asyncio.wait_for(self._issue(domain, key_pem, publisher), self.order_timeout)
            except TimeoutError:
                raise AcmeError(
                    f"the ACME order for {domain} did not complete within {self.order_timeout:.0f}s"
                ) from None
            except AcmeError:
                raise
            except Exception as exc:
                if _is_stale_account(exc):
                    # The CA forgot the account (a reset staging/test CA): register again next time.
                    self.account_url = None
                    self._client = None
                raise AcmeError(_describe(exc, self.directory_url)) from exc

    async def _issue(self, domain: str, key_pem: str, publisher: ChallengePublisher) -> str:
        from acme import challenges, crypto_util, messages

        if self._client is None:
            await self.connect()
        acme = self._client
        csr_pem = crypto_util.make_csr(key_pem.encode(), [domain])
        order = await self._call(acme.new_order, csr_pem)
        published: list[str] = []
        try:
            pending = []
            for authz in order.authorizations:
                if authz.body.status == messages.STATUS_VALID:
                    continue  # the CA re-uses a recent validation: nothing to prove
                challb = next(
                    (c for c in authz.body.challenges if isinstance(c.chall, challenges.HTTP01)), None
                )
                if challb is None:
                    raise AcmeError(f"the ACME server offers no http-01 challenge for {domain}")
                response, validation = challb.response_and_validation(self._jwk)
                token = challb.chall.encode("token")
                try:
                    await publisher.set_acme_challenge(token, validation)
                except Exception as exc:
                    raise AcmeError(
                        f"the proxy could not publish the http-01 answer for {domain}: {exc}"
                    ) from exc
                published.append(token)
                pending.append((authz, challb, response))
            for _authz, challb, response in pending:
                await self._call(acme.answer_challenge, challb, response)
            for authz, _challb, _response in pending:
                await self._wait_authorization(domain, authz)
        finally:
            for token in published:
                try:
                    await publisher.remove_acme_challenge(token)
                except Exception:
                    log.warning("could not withdraw the ACME challenge for %s", domain, exc_info=True)
        return await self._finalize(domain, order)

    async def _wait_authorization(self, domain: str, authz: Any) -> None:
        from acme import messages

        delay = 0.05
        while True:
            updated, _ = await self._call(self._client.poll, authz)
            status = updated.body.status
            if status == messages.STATUS_VALID:
                return
            if status not in (messages.STATUS_PENDING, messages.STATUS_PROCESSING):
                details = [c.error for c in updated.body.challenges if c.error is not None]
                detail = "; ".join(f"{e.typ}: {e.detail}" for e in details) or f"authorization is {status}"
                raise AcmeError(f"http-01 validation of {domain} failed: {detail}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _finalize(self, domain: str, order: Any) -> str:
        from acme import messages

        acme = self._client
        try:
            order = await self._call(acme.begin_finalization, order)
        except messages.Error as exc:
            if exc.code != "orderNotReady":
                raise
        delay = 0.05
        deadline = time.monotonic() + self.order_timeout
        while time.monotonic() < deadline:
            body = order.body
            if body.status == messages.STATUS_VALID and body.certificate:
                response = await self._call(self._post_as_get, body.certificate)
                return str(response.text)
            if body.status == messages.STATUS_INVALID:
                detail = body.error.detail if body.error is not None else "no reason given"
                raise AcmeError(f"the ACME server refused to issue for {domain}: {detail}")
            if body.status == messages.STATUS_READY:
                order = await self._call(acme.begin_finalization, order)
                continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
            response = await self._call(self._post_as_get, order.uri)
            order = order.update(body=messages.Order.from_json(response.json()))
        raise AcmeError(f"the ACME order for {domain} was not finalized in time")


def _is_stale_account(exc: BaseException) -> bool:
    from acme import messages

    return isinstance(exc, messages.Error) and (exc.code or "") in ("accountDoesNotExist", "unauthorized")
