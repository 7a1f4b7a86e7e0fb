"""PEM parsing and validation of uploaded certificates (pure logic: certificates made with ``cryptography``)."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from rivetr_core.tls.manager import backoff_seconds, certificate_status, renewal_window
from rivetr_core.tls.pem import PemError, info_from_pem, name_covers, validate_pair
from tests.support.pebble import cert_pem, key_pem, make_ca, make_leaf

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def ca():  # type: ignore[no-untyped-def]
    return make_ca("Test Root")


def _pair(ca, names, **kw):  # type: ignore[no-untyped-def]
    key, cert = make_leaf(*ca, names, **kw)
    return cert_pem(cert) + cert_pem(ca[1]), key_pem(key)


@pytest.mark.parametrize(
    ("pattern", "domain", "covered"),
    [
        ("app.example.com", "app.example.com", True),
        ("APP.example.com", "app.example.com.", True),
        ("*.example.com", "app.example.com", True),
        ("*.example.com", "a.b.example.com", False),  # a wildcard covers exactly one label
        ("*.example.com", "example.com", False),
        ("*.example.com", "*.example.com", True),
        ("app.example.com", "*.example.com", False),  # a wildcard route needs a wildcard certificate
        ("other.example.com", "app.example.com", False),
    ],
)
def test_name_matching(pattern: str, domain: str, covered: bool) -> None:
    assert name_covers(pattern, domain) is covered


def test_good_pair_is_normalised_and_described(ca) -> None:  # type: ignore[no-untyped-def]
    issued_at = dt.datetime.now(dt.UTC)  # not the module's NOW: collection may be minutes before this runs
    chain, key = _pair(ca, ["app.example.com", "www.example.com"])
    valid = validate_pair("www.example.com", "\n\n" + chain + "\n", key)
    assert valid.chain_pem.count("BEGIN CERTIFICATE") == 2
    assert valid.chain_pem.startswith("-----BEGIN CERTIFICATE-----")
    assert "BEGIN PRIVATE KEY" in valid.key_pem
    assert valid.info.names == ("app.example.com", "www.example.com")
    assert valid.info.issuer == "Test Root"
    assert abs((valid.info.not_after - (issued_at + dt.timedelta(days=1))).total_seconds()) < 120
    assert len(valid.info.fingerprint_sha256) == 64


def test_wildcard_certificate_covers_subdomain(ca) -> None:  # type: ignore[no-untyped-def]
    chain, key = _pair(ca, ["*.apps.example.com"])
    assert validate_pair("shop.apps.example.com", chain, key).info.covers("shop.apps.example.com")
    with pytest.raises(PemError) as err:
        validate_pair("deep.shop.apps.example.com", chain, key)
    assert err.value.field == "certificate"


def test_rsa_and_pkcs1_keys_are_accepted(ca) -> None:  # type: ignore[no-untyped-def]
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_key, ca_cert = ca
    # make_leaf signs whatever public key it is given
    _, cert = make_leaf(ca_key, ca_cert, ["rsa.example.com"], key=rsa_key)  # type: ignore[arg-type]
    pkcs1 = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    assert "BEGIN RSA PRIVATE KEY" in pkcs1
    valid = validate_pair("rsa.example.com", cert_pem(cert), pkcs1)
    assert "BEGIN PRIVATE KEY" in valid.key_pem  # normalised to PKCS#8


def test_key_mismatch_names_private_key(ca) -> None:  # type: ignore[no-untyped-def]
    chain, _ = _pair(ca, ["app.example.com"])
    _, other_key = _pair(ca, ["app.example.com"])
    with pytest.raises(PemError) as err:
        validate_pair("app.example.com", chain, other_key)
    assert err.value.field == "private_key"
    assert "does not match" in err.value.message


def test_domain_not_covered_names_certificate(ca) -> None:  # type: ignore[no-untyped-def]
    chain, key = _pair(ca, ["app.example.com"])
    with pytest.raises(PemError) as err:
        validate_pair("shop.example.com", chain, key)
    assert err.value.field == "certificate"
    assert "does not cover 'shop.example.com'" in err.value.message
    assert "app.example.com" in err.value.message


def test_expired_and_not_yet_valid(ca) -> None:  # type: ignore[no-untyped-def]
    chain, key = _pair(
        ca, ["app.example.com"], not_before=NOW - dt.timedelta(days=10), not_after=NOW - dt.timedelta(days=1)
    )
    with pytest.raises(PemError, match="expired on") as err:
        validate_pair("app.example.com", chain, key)
    assert err.value.field == "certificate"
    chain, key = _pair(
        ca, ["app.example.com"], not_before=NOW + dt.timedelta(days=1), not_after=NOW + dt.timedelta(days=10)
    )
    with pytest.raises(PemError, match="not valid before"):
        validate_pair("app.example.com", chain, key)


def test_chain_out_of_order_is_refused(ca) -> None:  # type: ignore[no-untyped-def]
    key, leaf = make_leaf(*ca, ["app.example.com"])
    other_ca = make_ca("Other Root")
    with pytest.raises(PemError, match="did not issue"):
        validate_pair("app.example.com", cert_pem(leaf) + cert_pem(other_ca[1]), key_pem(key))


@pytest.mark.parametrize(
    ("cert_text", "key_text", "field", "message"),
    [
        ("", None, "certificate", "must be a PEM certificate chain"),
        ("hello", None, "certificate", "must be a PEM certificate chain"),
        (
            "-----BEGIN CERTIFICATE-----\nnot base64!!\n-----END CERTIFICATE-----\n",
            None,
            "certificate",
            "not a valid PEM",
        ),
        (None, "", "private_key", "must be a PEM private key"),
        (
            None,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "private_key",
            "not a valid PEM private key",
        ),
    ],
)
def test_garbage_is_refused_with_the_field(ca, cert_text, key_text, field, message) -> None:  # type: ignore[no-untyped-def]
    chain, key = _pair(ca, ["app.example.com"])
    with pytest.raises(PemError) as err:
        validate_pair(
            "app.example.com",
            chain if cert_text is None else cert_text,
            key if key_text is None else key_text,
        )
    assert err.value.field == field
    assert message in err.value.message


def test_encrypted_key_is_refused(ca) -> None:  # type: ignore[no-untyped-def]
    key, leaf = make_leaf(*ca, ["app.example.com"])
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    ).decode()
    with pytest.raises(PemError, match="encrypted") as err:
        validate_pair("app.example.com", cert_pem(leaf), encrypted)
    assert err.value.field == "private_key"


def test_info_from_pem_describes_the_leaf(ca) -> None:  # type: ignore[no-untyped-def]
    chain, _ = _pair(ca, ["a.example.com"])
    info = info_from_pem(chain)
    assert info.names == ("a.example.com",) and info.covers("a.example.com")
    assert 0.9 < info.days_left() < 1.1


def test_backoff_doubles_and_caps() -> None:
    assert [backoff_seconds(n, 60, 600) for n in (1, 2, 3, 4, 5, 9)] == [60, 120, 240, 480, 600, 600]


def test_status_words() -> None:
    from rivetr_core.models.tls import Certificate

    row = Certificate(domain="a.example.com", source="acme")
    assert certificate_status(row, 30) == "pending"
    row.last_error = "boom"
    assert certificate_status(row, 30) == "failed"
    row.cert_pem = "x"
    row.not_after = NOW + dt.timedelta(days=60)
    assert certificate_status(row, 30) == "valid"
    row.not_after = (NOW + dt.timedelta(days=10)).replace(tzinfo=None)  # SQLite hands back naive UTC
    assert certificate_status(row, 30) == "expiring"
    row.not_after = NOW - dt.timedelta(seconds=1)
    assert certificate_status(row, 30) == "expired"


def test_ec_key_of_another_curve_does_not_match(ca) -> None:  # type: ignore[no-untyped-def]
    chain, _ = _pair(ca, ["app.example.com"])
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(PemError) as err:
        validate_pair("app.example.com", chain, key_pem(p384))  # type: ignore[arg-type]
    assert err.value.field == "private_key"


def test_renewal_window_is_capped_at_a_third_of_the_lifetime() -> None:
    from rivetr_core.models.tls import Certificate

    def row(lifetime: float) -> Certificate:
        return Certificate(
            domain="a.example.com", source="acme", not_before=NOW, not_after=NOW + dt.timedelta(days=lifetime)
        )

    assert renewal_window(row(90), 30) == dt.timedelta(days=30)
    assert renewal_window(row(365), 30) == dt.timedelta(days=30)
    assert renewal_window(row(6), 30) == dt.timedelta(days=2)
    assert renewal_window(Certificate(domain="a.example.com", source="acme"), 30) == dt.timedelta(days=30)
