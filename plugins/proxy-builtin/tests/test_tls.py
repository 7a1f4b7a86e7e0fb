"""TLS termination: SNI certificate choice, wildcard certificates, self-signed fallback, TLS 1.2+,
https_redirect and HSTS, certificate validation and replacement."""

from __future__ import annotations

import datetime
import socket
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from rivetr_core.contract import ProxyError
from tests.support.proxy import echoed_headers, http_get, parse_response


def make_cert(*names: str) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def tls_request(port: int, sni: str | None, host: str, path: str = "/", **ctx_opts):
    """(peer certificate CN, TLS version, status, headers, body) of one HTTPS request."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    for k, v in ctx_opts.items():
        setattr(ctx, k, v)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=sni) as s:
            der = s.getpeercert(binary_form=True)
            cn = (
                x509.load_der_x509_certificate(der)
                .subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0]
                .value
            )
            version = s.version()
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    return (cn, version, *parse_response(data))


def test_sni_selects_certificates_with_fallback(proxy_factory, backend_factory):
    b = backend_factory("secure")
    p = proxy_factory()
    assert p.https_port
    p.set_route("tls.test", b.address, hsts=True)
    p.set_route("*.wild.test", b.address)
    p.call("set_certificate", "tls.test", *make_cert("tls.test"))
    p.call("set_certificate", "*.wild.test", *make_cert("*.wild.test"))
    cn, version, status, headers, body = tls_request(p.https_port, "tls.test", "tls.test", "/headers")
    assert cn == "tls.test" and version in ("TLSv1.2", "TLSv1.3") and status == 200
    fwd = echoed_headers(body)
    assert fwd["x-forwarded-proto"] == "https"
    assert headers["strict-transport-security"] == "max-age=31536000"  # hsts on this route
    cn, *_, body = tls_request(p.https_port, "a.wild.test", "a.wild.test")
    assert cn == "*.wild.test" and body == b"secure"
    cn, *_, headers, body = tls_request(p.https_port, "a.wild.test", "a.wild.test")
    assert "strict-transport-security" not in headers
    # Unknown SNI, and no SNI at all: the self-signed fallback, and the request is still routed by Host.
    assert tls_request(p.https_port, "unknown.test", "tls.test")[0] == "rivetr-fallback"
    assert tls_request(p.https_port, None, "nope.test")[:3] == ("rivetr-fallback", version, 404)
    (route,) = [r for r in p.call("routes") if r.domain == "tls.test"]
    assert route.has_certificate and route.hsts


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_tls_below_1_2_is_refused(proxy_factory):
    p = proxy_factory()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("ALL:@SECLEVEL=0")  # let this client really offer TLS 1.1
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    with socket.create_connection(("127.0.0.1", p.https_port), timeout=10) as raw:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            ctx.wrap_socket(raw, server_hostname="x.test")


def test_certificate_replacement_and_removal(proxy_factory, backend_factory):
    b = backend_factory("renew")
    p = proxy_factory()
    p.set_route("renew.test", b.address)
    p.call("set_certificate", "renew.test", *make_cert("renew.test", "old.renew.test"))
    assert tls_request(p.https_port, "renew.test", "renew.test")[0] == "renew.test"
    cert, key = make_cert("renewed.test", "renew.test")  # different CN: the new one is visible
    p.call("set_certificate", "renew.test", cert, key)
    assert tls_request(p.https_port, "renew.test", "renew.test")[0] == "renewed.test"
    crt_file = p.state_dir / "certs" / "renew.test.crt"
    assert crt_file.read_text() == cert and oct(crt_file.stat().st_mode & 0o777) == "0o600"
    p.call("remove_certificate", "renew.test")
    assert tls_request(p.https_port, "renew.test", "renew.test")[0] == "rivetr-fallback"
    assert not crt_file.exists()
    with pytest.raises(ProxyError, match="do not load"):
        p.call("set_certificate", "bad.test", "not a cert", "not a key")
    other_cert, _ = make_cert("x.test")
    with pytest.raises(ProxyError):
        p.call("set_certificate", "bad.test", other_cert, key)  # key does not match
    assert tls_request(p.https_port, "renew.test", "renew.test")[4] == b"renew"


def test_https_redirect_only_with_a_certificate(proxy_factory, backend_factory):
    b = backend_factory("redir")
    p = proxy_factory()
    p.set_route("redir.test", b.address, https_redirect=True)
    assert http_get(p.port, "redir.test")[2] == b"redir"  # no certificate yet: served over HTTP
    p.call("set_certificate", "redir.test", *make_cert("redir.test"))
    status, headers, _ = http_get(p.port, "redir.test", "/a/b?c=d")
    assert status == 301 and headers["location"] == f"https://redir.test:{p.https_port}/a/b?c=d"
    # ACME challenges are still answered over HTTP (before the redirect).
    p.call("set_acme_challenge", "t1", "t1.auth")
    assert http_get(p.port, "redir.test", "/.well-known/acme-challenge/t1")[2] == b"t1.auth"
    assert tls_request(p.https_port, "redir.test", "redir.test")[4] == b"redir"


def test_certificates_survive_a_proxy_restart(tmp_path, backend_factory):
    from tests.support.proxy import SyncProxy

    b = backend_factory("keep")
    p = SyncProxy(tmp_path / "proxy")
    p.set_route("keep.test", b.address)
    p.call("set_certificate", "keep.test", *make_cert("keep.test"))
    p.call("shutdown")
    p.close()
    p2 = SyncProxy(tmp_path / "proxy")
    try:
        assert tls_request(p2.https_port, "keep.test", "keep.test")[0] == "keep.test"
        assert p2.call("routes")[0].has_certificate
    finally:
        p2.close()
