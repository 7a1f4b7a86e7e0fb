"""A real ACME server for tests: Debian's Pebble plus pebble-challtestsrv (its DNS), on loopback.

* ``pebble`` fixture (session scope) → a running :class:`Pebble`: ``directory_url``, ``ca_bundle`` (the CA that
  signed Pebble's own HTTPS listener — what ``[proxy] acme_ca_bundle`` must point at), ``http_port`` (where
  Pebble's validator dials for http-01: the test's challenge server or the proxy's HTTP port must listen there)
  and :meth:`Pebble.issuing_root_pem` (the root that signs issued certificates; it changes at every start).
* Every host name resolves to 127.0.0.1 through challtestsrv (``-defaultIPv6 ""`` so validation never dials
  ``[::1]``), so any test domain validates against the local ``http_port``.
* Pebble is installed with apt when missing and we are root; otherwise tests using it are skipped with the
  reason. Pebble reuses valid authorizations about half the time and validates each challenge three times:
  clients must tolerate both (ours does).

* :class:`ChallengeProxy` — a real HTTP listener answering http-01 on ``pebble.http_port`` that implements the
  ``ProxyBackend`` Protocol, for control-plane tests without the proxy process
  (``create_app(config, plugins=[challenge_proxy_plugin(proxy)])`` with ``proxy.backend = "acme-test"``).
* ``make_ca`` / ``make_leaf`` / ``cert_pem`` / ``key_pem`` — throw-away certificates for upload tests.
* :class:`EventLog` (a plugin recording events) and :func:`wait_for_certificate` (poll
  ``GET /api/certificates/<domain>``) — shared by the control-plane and the e2e certificate tests.

Network rule: everything binds 127.0.0.1; nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from rivetr_core import hookimpl
from rivetr_core.contract import RivetrEvent
from tests.support.proxy import free_port, stop_process


def make_ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A throw-away EC P-256 CA (one day valid) for test listeners."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_leaf(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    names: list[str],
    *,
    ips: Sequence[str] = (),
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A leaf for ``names`` (DNS SANs) and ``ips`` signed by the CA; times default to now-5min .. now+1day."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    sans += [x509.IPAddress(IPv4Address(ip)) for ip in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else ips[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(minutes=5))
        .not_valid_after(not_after or now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@dataclass
class Pebble:
    directory_url: str
    management_url: str
    ca_bundle: Path
    http_port: int
    workdir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def _ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_bundle))

    def issuing_root_pem(self) -> str:
        """The root that signs this Pebble's certificates (fetched live: it changes at every start)."""
        with urllib.request.urlopen(
            self.management_url + "/roots/0", context=self._ssl_context(), timeout=10
        ) as response:
            return response.read().decode()

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-4000:] for p in sorted(self.workdir.glob("*.log")))

    def stop(self) -> None:
        for proc in self.procs:
            stop_process(proc)


def ensure_pebble_installed() -> str | None:
    """None when both binaries are on PATH (installing them with apt if we can), else why not."""
    if shutil.which("pebble") and shutil.which("pebble-challtestsrv"):
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "pebble is not installed (apt-get install -y pebble) and we are not root to install it"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    result = subprocess.run(["apt-get", "install", "-y", "pebble"], env=env, capture_output=True, timeout=600)
    if result.returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=600)
        result = subprocess.run(
            ["apt-get", "install", "-y", "pebble"], env=env, capture_output=True, timeout=600
        )
    if result.returncode != 0 or not shutil.which("pebble"):
        return f"installing pebble failed: {result.stderr.decode(errors='replace')[-500:]}"
    return None


def _wait_https(url: str, context: ssl.SSLContext, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"pebble exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, context=context, timeout=2):
                return
        except OSError as exc:
            last = exc
            time.sleep(0.05)
    raise RuntimeError(f"pebble did not answer {url} within {timeout}s: {last}")


def start_pebble(workdir: Path, *, http_port: int | None = None) -> Pebble:
    """Start challtestsrv + Pebble in ``workdir``; returns once the directory answers over verified HTTPS."""
    workdir.mkdir(parents=True, exist_ok=True)
    ca_key, ca = make_ca("rivetr-test pebble listener CA")
    leaf_key, leaf = make_leaf(ca_key, ca, ["localhost"], ips=["127.0.0.1"])
    (workdir / "listener-ca.pem").write_text(cert_pem(ca))
    (workdir / "listener-cert.pem").write_text(cert_pem(leaf))
    (workdir / "listener-key.pem").write_text(key_pem(leaf_key))

    dns_port, chall_mgmt = free_port(socket.SOCK_DGRAM), free_port()
    acme_port, mgmt_port, tls_port = free_port(), free_port(), free_port()
    http_port = http_port or free_port()
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{acme_port}",
            "managementListenAddress": f"127.0.0.1:{mgmt_port}",
            "certificate": str(workdir / "listener-cert.pem"),
            "privateKey": str(workdir / "listener-key.pem"),
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    (workdir / "pebble.json").write_text(json.dumps(config))

    pebble = Pebble(
        directory_url=f"https://127.0.0.1:{acme_port}/dir",
        management_url=f"https://127.0.0.1:{mgmt_port}",
        ca_bundle=workdir / "listener-ca.pem",
        http_port=http_port,
        workdir=workdir,
    )
    with open(workdir / "challtestsrv.log", "ab") as log:
        pebble.procs.append(
            subprocess.Popen(
                [
                    "pebble-challtestsrv",
                    "-dns01",
                    f"127.0.0.1:{dns_port}",
                    "-http01",
                    "",
                    "-https01",
                    "",
                    "-tlsalpn01",
                    "",
                    "-management",
                    f"127.0.0.1:{chall_mgmt}",
                    "-defaultIPv4",
                    "127.0.0.1",
                    "-defaultIPv6",
                    "",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
            )
        )
    env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}
    with open(workdir / "pebble.log", "ab") as log:
        proc = subprocess.Popen(
            ["pebble", "-config", str(workdir / "pebble.json"), "-dnsserver", f"127.0.0.1:{dns_port}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=env,
        )
    pebble.procs.append(proc)
    try:
        _wait_https(pebble.directory_url, pebble._ssl_context(), proc, timeout=20)
    except RuntimeError as exc:
        pebble.stop()
        raise RuntimeError(f"{exc}\n{pebble.log()}") from None
    return pebble


@pytest.fixture(scope="session")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    """One Pebble for the session (start ~0.3 s). Tests must serve http-01 answers on ``pebble.http_port``."""
    reason = ensure_pebble_installed()
    if reason:
        pytest.skip(reason)
    server = start_pebble(tmp_path_factory.mktemp("pebble"))
    try:
        yield server
    finally:
        server.stop()


class ChallengeProxy:
    """A stand-in for the proxy data plane in control-plane tests: a *real* HTTP listener on 127.0.0.1 that
    answers ``/.well-known/acme-challenge/<token>`` (404 otherwise), and records the certificates and routes
    core pushes. It implements the :class:`~rivetr_core.contract.ProxyBackend` Protocol, so an app started with
    ``proxy.backend = "acme-test"`` (see :func:`challenge_proxy_plugin`) drives it like the real proxy.

    ``hits`` counts validation requests per token (Pebble validates each challenge three times).
    """

    name = "acme-test"

    def __init__(self, port: int) -> None:
        self.port = port
        self.challenges: dict[str, str] = {}
        self.hits: dict[str, int] = {}
        self.certificates: dict[str, tuple[str, str]] = {}
        self.routes_set: dict[str, Any] = {}
        self._server: asyncio.AbstractServer | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            path = head.split(b" ", 2)[1].decode()
            prefix = "/.well-known/acme-challenge/"
            token = path[len(prefix) :] if path.startswith(prefix) else None
            answer = self.challenges.get(token) if token else None
            if token:
                self.hits[token] = self.hits.get(token, 0) + 1
            if answer is None:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            else:
                body = answer.encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
                )
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, TimeoutError, IndexError):
            pass
        finally:
            writer.close()

    async def start(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._handle, "127.0.0.1", self.port, reuse_address=True
            )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def status(self) -> dict[str, Any]:
        return {"ok": self._server is not None}

    async def set_route(self, route: Any) -> None:
        self.routes_set[route.domain] = route

    async def replace_routes(self, routes: list[Any]) -> None:
        self.routes_set = {route.domain: route for route in routes}

    async def remove_route(self, domain: str) -> None:
        self.routes_set.pop(domain, None)

    async def routes(self) -> list[Any]:
        from rivetr_core.contract import RouteStatus

        return [
            RouteStatus(
                domain=d,
                upstreams=[],
                https_redirect=r.https_redirect,
                hsts=r.hsts,
                has_certificate=d in self.certificates,
            )
            for d, r in self.routes_set.items()
        ]

    async def wait_drained(self, upstream: str, timeout: float) -> bool:
        return True

    async def set_certificate(self, domain: str, cert_pem: str, key_pem: str) -> None:
        self.certificates[domain] = (cert_pem, key_pem)

    async def remove_certificate(self, domain: str) -> None:
        self.certificates.pop(domain, None)

    async def set_acme_challenge(self, token: str, key_authorization: str) -> None:
        self.challenges[token] = key_authorization

    async def remove_acme_challenge(self, token: str) -> None:
        self.challenges.pop(token, None)


def challenge_proxy_plugin(proxy: ChallengeProxy) -> object:
    """A plugin object for ``create_app(plugins=[...])`` registering ``proxy`` as backend ``acme-test``."""
    from rivetr_core import hookimpl
    from rivetr_core.contract import ProxyBackendRegistration

    class _Plugin:
        @hookimpl
        def rivetr_proxy_backends(self) -> list[ProxyBackendRegistration]:
            return [ProxyBackendRegistration(name="acme-test", factory=lambda ctx: proxy)]

    return _Plugin()


class EventLog:
    """A plugin object for ``create_app(plugins=[...])`` that records every event core emits."""

    def __init__(self) -> None:
        self.events: list[RivetrEvent] = []

    @hookimpl
    def rivetr_on_event(self, event: RivetrEvent) -> None:
        self.events.append(event)

    def of(self, kind: str, domain: str) -> list[RivetrEvent]:
        return [e for e in self.events if e.type == kind and e.data.get("domain") == domain]


async def wait_for_certificate(
    api: Any, domain: str, predicate: Callable[[dict[str, Any]], bool], timeout: float
) -> dict[str, Any]:
    """Poll ``GET /api/certificates/<domain>`` until ``predicate`` holds for the answer (AssertionError after
    ``timeout`` seconds, with the last answer)."""
    deadline = time.monotonic() + timeout
    body: Any = None
    while time.monotonic() < deadline:
        status, body = await api.get(f"/api/certificates/{domain}")
        if status == 200 and predicate(body):
            return body  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)
    raise AssertionError(f"{domain}: condition not met within {timeout}s; last: {body}")
