"""Wildcard certificates: ``*.example.test`` serves every name one label below it by SNI (as TLS clients check
it), an exact certificate wins, deeper names and the apex are not served by it; the HTTP→HTTPS redirect and the
route listing see a name a wildcard covers. Real handshakes with hostname verification (ssl module) and curl."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from rivetr_proxy_builtin.tlsfiles import covering_cert

from tests.support.proxy import http_get, parse_response

from .test_tls import make_cert


def verified_get(port: int, name: str, ca_pem: str) -> tuple[str, int, bytes]:
    """(served certificate's CN, status, body) of a request whose handshake checks the certificate covers
    ``name`` (an ``ssl.SSLCertVerificationError`` when it does not)."""
    ctx = ssl.create_default_context(cadata=ca_pem)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as s:
            cert = x509.load_der_x509_certificate(s.getpeercert(binary_form=True) or b"")
            cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
            s.sendall(f"GET / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    status, _, body = parse_response(data)
    return str(cn), status, body


def served_cn(port: int, name: str) -> str:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as s:
            cert = x509.load_der_x509_certificate(s.getpeercert(binary_form=True) or b"")
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def test_covering_cert_rules():
    certs = {"*.example.test": 1, "exact.example.test": 2, "*.wild.test": 3}
    assert covering_cert("a.example.test", certs) == "*.example.test"
    assert covering_cert("exact.example.test", certs) == "exact.example.test"
    assert covering_cert("x.y.example.test", certs) is None  # one label deep only
    assert covering_cert("example.test", certs) is None  # the apex is not covered
    assert covering_cert("*.wild.test", certs) == "*.wild.test"  # a wildcard route: its own certificate
    assert covering_cert("*.a.example.test", certs) is None
    assert covering_cert("localhost", certs) is None


def test_wildcard_certificate_serves_one_label_by_sni(proxy_factory, backend_factory, tmp_path: Path):
    b = backend_factory("wild")
    p = proxy_factory()
    for name in (
        "a.example.test",
        "b.example.test",
        "x.y.example.test",
        "exact.example.test",
        "example.test",
    ):
        p.set_route(name, b.address)
    wild_cert, wild_key = make_cert("*.example.test")
    exact_cert, exact_key = make_cert("exact.example.test")
    p.call("set_certificate", "*.example.test", wild_cert, wild_key)
    p.call("set_certificate", "exact.example.test", exact_cert, exact_key)
    # A verifying client accepts the wildcard for a. and b.
    assert verified_get(p.https_port, "a.example.test", wild_cert) == ("*.example.test", 200, b"wild")
    assert verified_get(p.https_port, "b.example.test", wild_cert) == ("*.example.test", 200, b"wild")
    # Two labels deep and the apex: not the wildcard (the fallback, which a verifying client refuses).
    assert served_cn(p.https_port, "x.y.example.test") == "rivetr-fallback"
    assert served_cn(p.https_port, "example.test") == "rivetr-fallback"
    with pytest.raises(ssl.SSLCertVerificationError):
        verified_get(p.https_port, "x.y.example.test", wild_cert)
    # The exact certificate wins over the wildcard that also matches the name.
    assert verified_get(p.https_port, "exact.example.test", exact_cert)[0] == "exact.example.test"
    # curl, resolving the names to the proxy, verifying against the wildcard certificate.
    if shutil.which("curl"):
        ca = tmp_path / "wild.pem"
        ca.write_text(wild_cert)
        for name, ok in (("a.example.test", True), ("x.y.example.test", False)):
            run = subprocess.run(
                [
                    "curl",
                    "-sS",
                    "--cacert",
                    str(ca),
                    "--resolve",
                    f"{name}:{p.https_port}:127.0.0.1",
                    f"https://{name}:{p.https_port}/",
                ],
                capture_output=True,
                timeout=30,
            )
            assert (run.returncode == 0 and run.stdout == b"wild") is ok, run.stderr
    # The route listing says which routes have a certificate, a wildcard's included.
    have = {r.domain: r.has_certificate for r in p.call("routes")}
    assert have == {
        "a.example.test": True,
        "b.example.test": True,
        "exact.example.test": True,
        "x.y.example.test": False,
        "example.test": False,
    }


def test_https_redirect_for_a_name_a_wildcard_covers(proxy_factory, backend_factory):
    b = backend_factory("redir")
    p = proxy_factory()
    p.set_route("app.redir.test", b.address, https_redirect=True, hsts=True)
    p.set_route("x.app.redir.test", b.address, https_redirect=True)
    assert http_get(p.port, "app.redir.test")[0] == 200  # no certificate yet: plain HTTP
    p.call("set_certificate", "*.redir.test", *make_cert("*.redir.test"))
    status, headers, _ = http_get(p.port, "app.redir.test", "/p?q=1")
    assert status == 301 and headers["location"] == f"https://app.redir.test:{p.https_port}/p?q=1"
    assert http_get(p.port, "x.app.redir.test")[0] == 200  # not covered: no redirect to a certificate error
    p.call("remove_certificate", "*.redir.test")
    assert http_get(p.port, "app.redir.test")[0] == 200
