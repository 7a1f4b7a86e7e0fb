"""The ACME client against a real Pebble: issuance over http-01, authorization re-use, and the failures a user
must be able to read (unreachable CA, untrusted CA, challenge not served)."""

from __future__ import annotations

import ssl

import pytest
from cryptography import x509

from rivetr_core.tls.acme_client import AcmeClient, AcmeError
from rivetr_core.tls.pem import generate_key_pem, info_from_pem, validate_pair
from tests.support.pebble import ChallengeProxy, Pebble
from tests.support.proxy import free_port


@pytest.fixture
async def challenge_proxy(pebble: Pebble):  # type: ignore[no-untyped-def]
    proxy = ChallengeProxy(pebble.http_port)
    await proxy.start()
    yield proxy
    await proxy.stop()


def _client(pebble: Pebble, **kw) -> AcmeClient:  # type: ignore[no-untyped-def]
    return AcmeClient(
        pebble.directory_url,
        account_key_pem=generate_key_pem(),
        email="ops@example.com",
        ca_bundle=pebble.ca_bundle,
        **kw,
    )


def _verify_against_root(chain_pem: str, root_pem: str, domain: str) -> None:
    """Verify the chain the way a TLS client would (cryptography's X.509 path validation)."""
    from cryptography.x509.verification import PolicyBuilder, Store

    certs = x509.load_pem_x509_certificates(chain_pem.encode())
    store = Store(x509.load_pem_x509_certificates(root_pem.encode()))
    verifier = PolicyBuilder().store(store).build_server_verifier(x509.DNSName(domain))
    verifier.verify(certs[0], certs[1:])


async def test_issue_certificate_over_http01(pebble: Pebble, challenge_proxy: ChallengeProxy) -> None:
    client = _client(pebble)
    account_url = await client.connect()
    assert account_url.startswith("https://127.0.0.1")
    key = generate_key_pem()
    chain = await client.issue("shop.example.test", key, challenge_proxy)

    info = info_from_pem(chain)
    assert info.names == ("shop.example.test",)
    assert info.issuer.startswith("Pebble Intermediate CA")
    validate_pair("shop.example.test", chain, key)  # the key we generated is the one certified
    _verify_against_root(chain, pebble.issuing_root_pem(), "shop.example.test")
    # Pebble validated over our real listener (three times per challenge), and the answer was withdrawn.
    assert challenge_proxy.hits and all(n >= 1 for n in challenge_proxy.hits.values())
    assert challenge_proxy.challenges == {}


async def test_repeated_orders_tolerate_reused_authorizations(
    pebble: Pebble, challenge_proxy: ChallengeProxy
) -> None:
    # Pebble re-uses a valid authorization about half the time: then there is no challenge to answer.
    client = _client(pebble)
    serials = set()
    for _ in range(4):
        serials.add(
            info_from_pem(
                await client.issue("reuse.example.test", generate_key_pem(), challenge_proxy)
            ).serial
        )
    assert len(serials) == 4


async def test_known_account_is_reused(pebble: Pebble, challenge_proxy: ChallengeProxy) -> None:
    key = generate_key_pem()
    first = AcmeClient(pebble.directory_url, account_key_pem=key, ca_bundle=pebble.ca_bundle)
    url = await first.connect()
    # Same key, no stored URL: Pebble answers "already registered" and the client adopts that account.
    again = AcmeClient(pebble.directory_url, account_key_pem=key, ca_bundle=pebble.ca_bundle)
    assert await again.connect() == url
    # Stored URL: no registration call at all, and orders work.
    stored = AcmeClient(
        pebble.directory_url, account_key_pem=key, account_url=url, ca_bundle=pebble.ca_bundle
    )
    assert info_from_pem(await stored.issue("acct.example.test", generate_key_pem(), challenge_proxy)).names


async def test_challenge_not_served_fails_with_the_ca_reason(pebble: Pebble) -> None:
    class Silent:  # publishes nowhere: nothing listens on Pebble's http port
        async def set_acme_challenge(self, token: str, key_authorization: str) -> None: ...
        async def remove_acme_challenge(self, token: str) -> None: ...

    client = _client(pebble)
    with pytest.raises(AcmeError) as err:
        for _ in range(6):  # an authorization re-used from an earlier test would not be validated again
            await client.issue("nochallenge.example.test", generate_key_pem(), Silent())
    assert "http-01 validation of nochallenge.example.test failed" in err.value.message
    assert "connection" in err.value.message.lower() or "refused" in err.value.message.lower()


async def test_wrong_answer_fails(pebble: Pebble, challenge_proxy: ChallengeProxy) -> None:
    class Liar:  # serves a wrong key authorization through the real listener
        async def set_acme_challenge(self, token: str, key_authorization: str) -> None:
            await challenge_proxy.set_acme_challenge(token, key_authorization + "x")

        async def remove_acme_challenge(self, token: str) -> None:
            await challenge_proxy.remove_acme_challenge(token)

    client = _client(pebble)
    with pytest.raises(AcmeError, match=r"http-01 validation of liar.example.test failed") as err:
        await client.issue("liar.example.test", generate_key_pem(), Liar())
    assert "key authorization" in err.value.message.lower() or "unauthorized" in err.value.message
    assert challenge_proxy.challenges == {}  # withdrawn after the failure too


async def test_unreachable_directory(pebble: Pebble) -> None:
    client = AcmeClient(
        f"https://127.0.0.1:{free_port()}/dir", account_key_pem=generate_key_pem(), ca_bundle=pebble.ca_bundle
    )
    with pytest.raises(AcmeError, match=r"cannot reach the ACME server https://127.0.0.1:"):
        await client.connect()


async def test_untrusted_directory_says_so(pebble: Pebble) -> None:
    client = AcmeClient(pebble.directory_url, account_key_pem=generate_key_pem())  # system roots only
    with pytest.raises(AcmeError, match=r"TLS verification of the ACME server .* failed"):
        await client.connect()
    # and the same directory works once trusted, proving it was the trust that failed
    assert ssl.create_default_context(cafile=str(pebble.ca_bundle))
    await _client(pebble).connect()


async def test_proxy_refusing_the_challenge_is_reported(pebble: Pebble) -> None:
    class ProxyDown:
        async def set_acme_challenge(self, token: str, key_authorization: str) -> None:
            raise ConnectionRefusedError("control socket gone")

        async def remove_acme_challenge(self, token: str) -> None: ...

    client = _client(pebble)
    with pytest.raises(
        AcmeError, match=r"the proxy could not publish the http-01 answer for down\.example\.test"
    ):
        for _ in range(6):  # skip past re-used authorizations, which need no publishing
            await client.issue("down.example.test", generate_key_pem(), ProxyDown())


async def test_account_forgotten_by_the_ca_is_registered_again(
    pebble: Pebble, challenge_proxy: ChallengeProxy
) -> None:
    # A stored account URL the CA does not know (a reset CA): the order fails once with the CA's reason,
    # then the client registers the key again and the next order succeeds.
    base = pebble.directory_url.rsplit("/", 1)[0]
    client = _client(pebble, account_url=f"{base}/my-account/404")
    with pytest.raises(AcmeError, match="refused"):
        await client.issue("forgot.example.test", generate_key_pem(), challenge_proxy)
    assert client.account_url is None
    assert info_from_pem(await client.issue("forgot.example.test", generate_key_pem(), challenge_proxy)).names
    assert client.account_url and client.account_url.startswith(base)
    assert not client.account_url.endswith("/404")
