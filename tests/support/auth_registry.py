"""A real private container registry for tests: Debian's ``docker-registry`` (distribution 2.8) with htpasswd
authentication and TLS from a throw-away test CA, on ``127.0.0.1:<free port>``.

* :func:`start_auth_registry` → a running :class:`AuthRegistry` (``server`` is ``127.0.0.1:<port>``, the name
  images use; ``username``/``password`` are the one htpasswd account). Its CA is written where the engines and
  Rivetr's login check look for a registry's CA: ``/etc/docker/certs.d/<server>/ca.crt`` (dockerd) and
  ``/etc/containers/certs.d/<server>/ca.crt`` (podman); :meth:`AuthRegistry.stop` removes them again.
* :func:`running_auth_registry` is the body of a module-scoped fixture; skipped with the reason when the
  binary is missing.
* :meth:`AuthRegistry.push` logs an engine CLI in, tags an image as ``<server>/<repo>:<tag>`` and pushes it.

bcrypt for htpasswd comes from libxcrypt through the stdlib ``crypt`` module (no bcrypt wheel needed).
Network rule: the registry binds 127.0.0.1 only.
"""

from __future__ import annotations

import secrets
import shutil
import ssl
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support.pebble import cert_pem, key_pem, make_ca, make_leaf
from tests.support.proxy import free_port, stop_process

#: Where each engine (and Rivetr's registry login check) reads a registry's CA.
CERT_ROOTS = (Path("/etc/docker/certs.d"), Path("/etc/containers/certs.d"))


def bcrypt_hash(password: str) -> str:
    """An htpasswd bcrypt hash (``$2y$``, as ``htpasswd -B`` writes it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

        hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))
    return "$2y$" + hashed[4:]


@dataclass
class AuthRegistry:
    server: str
    username: str
    password: str
    ca_pem: str
    workdir: Path
    process: subprocess.Popen[bytes] | None = None
    trusted: list[Path] = field(default_factory=list)

    @property
    def ca_file(self) -> Path:
        return self.workdir / "ca.crt"

    def push(
        self, engine_cli: str, source: str, repo: str, tag: str, *, env: dict[str, str] | None = None
    ) -> str:
        """Tag ``source`` as ``<server>/<repo>:<tag>`` with ``engine_cli`` (``docker``/``podman``), log in and
        push; returns the pushed reference. The engine's own login state is left logged out afterwards."""
        target = f"{self.server}/{repo}:{tag}"
        run = lambda *args, **kw: subprocess.run(  # noqa: E731
            [engine_cli, *args], check=True, capture_output=True, env=env, timeout=120, **kw
        )
        run("tag", source, target)
        run("login", "-u", self.username, "--password-stdin", self.server, input=self.password.encode())
        try:
            run("push", target)
        finally:
            subprocess.run([engine_cli, "logout", self.server], capture_output=True, env=env, timeout=30)
        return target

    def stop(self) -> None:
        stop_process(self.process)
        for path in self.trusted:
            shutil.rmtree(path, ignore_errors=True)
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_auth_registry(username: str = "rivetr", password: str | None = None) -> AuthRegistry:
    """Start the registry and wait until ``/v2/`` asks for credentials (401)."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip("Debian's docker-registry is not installed (apt-get install -y docker-registry)")
    password = password or secrets.token_urlsafe(12)
    port = free_port()
    server = f"127.0.0.1:{port}"
    workdir = Path(tempfile.mkdtemp(prefix="rivetr-authreg-"))
    ca_key, ca_cert = make_ca("rivetr test registry CA")
    leaf_key, leaf_cert = make_leaf(ca_key, ca_cert, ["localhost"], ips=["127.0.0.1"])
    (workdir / "ca.crt").write_text(cert_pem(ca_cert))
    (workdir / "tls.crt").write_text(cert_pem(leaf_cert))
    (workdir / "tls.key").write_text(key_pem(leaf_key))
    (workdir / "htpasswd").write_text(f"{username}:{bcrypt_hash(password)}\n")
    (workdir / "config.yml").write_text(
        f"""version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {workdir / "data"}
  delete:
    enabled: true
http:
  addr: {server}
  tls:
    certificate: {workdir / "tls.crt"}
    key: {workdir / "tls.key"}
auth:
  htpasswd:
    realm: rivetr-test
    path: {workdir / "htpasswd"}
"""
    )
    registry = AuthRegistry(server, username, password, cert_pem(ca_cert), workdir)
    for root in CERT_ROOTS:
        target = root / server
        target.mkdir(parents=True, exist_ok=True)
        (target / "ca.crt").write_text(registry.ca_pem)
        registry.trusted.append(target)
    log = (workdir / "registry.log").open("wb")
    registry.process = subprocess.Popen(
        [binary, "serve", str(workdir / "config.yml")], stdout=log, stderr=log
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            answer = httpx.get(
                f"https://{server}/v2/",
                verify=ssl.create_default_context(cafile=str(registry.ca_file)),
                timeout=2,
            )
            if answer.status_code == 401:
                return registry
        except httpx.TransportError:
            pass
        if registry.process.poll() is not None or time.monotonic() > deadline:
            output = (workdir / "registry.log").read_text(errors="replace")[-2000:]
            registry.stop()
            raise RuntimeError(f"docker-registry did not start: {output}")
        time.sleep(0.1)


def running_auth_registry() -> Iterator[AuthRegistry]:
    """Body of a test module's ``auth_registry`` fixture: the registry, stopped (CA files removed) after."""
    registry = start_auth_registry()
    try:
        yield registry
    finally:
        registry.stop()
