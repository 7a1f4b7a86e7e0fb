"""``RegistryService`` (``ctx.services.registries``): container registry credentials.

A registry is ``{name, server, username, password}``: ``server`` is the host (and port) image references name
(``registry.example.com``, ``127.0.0.1:5443``, ``docker.io``). Creating one logs in first (``GET /v2/`` with
basic auth, or the bearer-token flow a ``WWW-Authenticate: Bearer`` challenge asks for) and refuses credentials
the registry rejects with a 422 naming ``password``. The password is stored encrypted with the server's secret
box and never returned (answers carry ``"password": "********"``). Image app pulls take the credentials of the
image's registry (:meth:`RegistryService.auth_for`).

TLS: the login trusts the system CAs plus the CA files the engines trust for that registry
(``/etc/docker/certs.d/<server>/*.crt``, ``/etc/containers/certs.d/<server>/*.crt``), so a registry with a
private CA is checked against the same trust that the pull will use.

Feature code: built on first use (``ctx.services.lazy``); the model and httpx load then, never at start-up.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from rivetr_core.apimodel import ApiModel
from rivetr_core.contract.errors import Conflict, NotFound, ValidationFailed

if TYPE_CHECKING:
    import ssl

    from rivetr_core.context import RivetrContext
    from rivetr_core.models.registries import Registry
    from rivetr_core.pagination import PageQuery

MASK = "********"
#: Where dockerd and podman read a registry's CA (``<root>/<server>/*.crt``); the login check trusts them too.
CERT_ROOTS = (Path("/etc/docker/certs.d"), Path("/etc/containers/certs.d"))
#: Docker Hub's API host: images say ``docker.io``, the registry answers at ``registry-1.docker.io``.
HUB_API = "registry-1.docker.io"
SERVER = re.compile(
    r"^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]{1,5})?$"
)
LOGIN_TIMEOUT = 10.0


class RegistryOut(ApiModel):
    id: str
    name: str = Field(description="Unique among registries.")
    server: str = Field(description="Registry host[:port] as image references name it (unique).")
    username: str
    password: str = Field(description=f"Always {MASK!r}: the password is write-only.")
    created_at: str


def registry_json(row: Registry) -> dict[str, Any]:
    """A registry as every face shows it: the password masked."""
    from rivetr_core.db import isoformat

    return RegistryOut.model_validate(
        {
            "id": row.id,
            "name": row.name,
            "server": row.server,
            "username": row.username,
            "password": MASK,
            "created_at": isoformat(row.created_at),
        }
    ).model_dump(mode="json")


def check_server(value: str) -> str:
    """``host[:port]`` (a scheme or trailing slash given by habit is dropped); ValueError otherwise."""
    server = value.strip().removeprefix("https://").removeprefix("http://").rstrip("/")
    if server in ("index.docker.io", HUB_API):
        server = "docker.io"
    if not SERVER.match(server) or len(server) > 253:
        raise ValueError("must be a registry host such as registry.example.com or 127.0.0.1:5443 (no path)")
    return server


def trust_for(server: str) -> ssl.SSLContext:
    """System CAs plus the CA files the engines trust for ``server``."""
    import ssl

    context = ssl.create_default_context()
    for root in CERT_ROOTS:
        folder = root / server
        if folder.is_dir():
            for ca in sorted(folder.glob("*.crt")):
                context.load_verify_locations(cafile=str(ca))
    return context


async def _trust(server: str) -> ssl.SSLContext:
    """:func:`trust_for` off the event loop (loading the system CA bundle takes tens of milliseconds)."""
    import asyncio

    return await asyncio.to_thread(trust_for, server)


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="…",service="…"`` → ("bearer", {realm, service, …})."""
    scheme, _, rest = header.partition(" ")
    params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    return scheme.lower(), params


async def check_login(server: str, username: str, password: str) -> None:
    """Log in to ``server``'s ``/v2/``; ``ValidationFailed`` (422) saying why when it does not accept the
    credentials or cannot be reached."""
    import httpx

    host = HUB_API if server == "docker.io" else server
    url = f"https://{host}/v2/"
    try:
        async with httpx.AsyncClient(verify=await _trust(server), timeout=LOGIN_TIMEOUT) as client:
            first = await client.get(url)
            if first.status_code == 200:
                return  # an open registry: nothing to check the credentials against
            if first.status_code != 401:
                raise ValidationFailed.on(
                    "server", f"{url} answered {first.status_code}, not a registry's 401"
                )
            scheme, params = _challenge(first.headers.get("www-authenticate", ""))
            if scheme == "bearer" and params.get("realm"):
                query = {k: v for k, v in params.items() if k in ("service", "scope")}
                token_answer = await client.get(params["realm"], params=query, auth=(username, password))
                if token_answer.status_code in (401, 403):
                    raise _refused(server, token_answer.status_code)
                if token_answer.status_code != 200:
                    raise ValidationFailed.on(
                        "server", f"the token service of {server} answered {token_answer.status_code}"
                    )
                body = token_answer.json()
                token = body.get("token") or body.get("access_token")
                answer = await client.get(url, headers={"Authorization": f"Bearer {token}"})
            else:
                answer = await client.get(url, auth=(username, password))
            if answer.status_code in (401, 403):
                raise _refused(server, answer.status_code)
            if answer.status_code != 200:
                raise ValidationFailed.on("server", f"{url} answered {answer.status_code} after the login")
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        raise ValidationFailed.on(
            "server",
            f"could not reach {url}: {reason} (a private CA goes in /etc/docker/certs.d/{server}/ca.crt "
            f"and /etc/containers/certs.d/{server}/ca.crt)",
        ) from None


async def login_refused(server: str, auth: dict[str, str] | None) -> bool:
    """After a failed pull: does ``server`` refuse these credentials (None: anonymous access)? False when it
    accepts them or cannot tell (unreachable: the pull's own error says more)."""
    if auth is None:
        import httpx

        host = HUB_API if server == "docker.io" else server
        try:
            async with httpx.AsyncClient(verify=await _trust(server), timeout=LOGIN_TIMEOUT) as client:
                return (await client.get(f"https://{host}/v2/")).status_code == 401
        except httpx.HTTPError:
            return False
    try:
        await check_login(server, auth["username"], auth["password"])
    except ValidationFailed as exc:
        return bool(exc.details) and exc.details[0].get("field") == "password"
    return False


def _refused(server: str, status: int) -> ValidationFailed:
    return ValidationFailed.on("password", f"{server} refused the login of these credentials ({status})")


class RegistryService:
    def __init__(self, ctx: RivetrContext) -> None:
        self.ctx = ctx

    async def page(self, page: PageQuery) -> tuple[list[Registry], str | None]:
        from sqlmodel import select

        from rivetr_core.models.registries import Registry
        from rivetr_core.pagination import keyset_page

        async with self.ctx.db.session() as session:
            return await keyset_page(session, select(Registry), Registry, page)

    async def listing(self, limit: int = 200) -> list[dict[str, Any]]:
        """The first ``limit`` registries as the API shows them (password masked), for the dashboard, with
        ``created_at`` as a datetime."""
        from rivetr_core.pagination import PageQuery

        rows, _next = await self.page(PageQuery(limit=limit))
        return [{**registry_json(r), "created_at": r.created_at} for r in rows]

    async def get(self, registry_id: str) -> Registry:
        from rivetr_core.models.registries import Registry

        async with self.ctx.db.session() as session:
            row = await session.get(Registry, registry_id)
        if row is None:
            raise NotFound.of("registry", registry_id)
        return row

    async def create(self, name: str, server: str, username: str, password: str) -> Registry:
        """Check the login, then store: ``ValidationFailed`` when the registry refuses it, ``Conflict`` on a
        taken name or server."""
        from sqlalchemy.exc import IntegrityError
        from sqlmodel import select

        from rivetr_core.models.registries import Registry

        async with self.ctx.db.session() as session:
            for field, value in (("name", name), ("server", server)):
                taken = await session.exec(select(Registry).where(getattr(Registry, field) == value))
                if taken.first() is not None:
                    raise Conflict.on(
                        field, "already taken", summary=f"a registry with {field} {value!r} exists"
                    )
        await check_login(server, username, password)
        row = Registry(
            name=name, server=server, username=username, password_enc=self.ctx.secrets.encrypt(password)
        )
        try:
            async with self.ctx.db.session() as session:
                session.add(row)
                await session.commit()
        except IntegrityError:
            raise Conflict.on("name", "already taken", summary=f"a registry named {name!r} exists") from None
        return row

    async def delete(self, registry_id: str) -> None:
        from rivetr_core.models.registries import Registry

        async with self.ctx.db.session() as session:
            row = await session.get(Registry, registry_id)
            if row is None:
                raise NotFound.of("registry", registry_id)
            await session.delete(row)
            await session.commit()

    async def auth_for(self, server: str) -> dict[str, str] | None:
        """The engine auth config (``username``, ``password``, ``serveraddress``) stored for ``server``, or
        None. The password is decrypted here, for the pull only; it is never logged."""
        from sqlmodel import select

        from rivetr_core.models.registries import Registry

        async with self.ctx.db.session() as session:
            row = (await session.exec(select(Registry).where(Registry.server == server))).first()
        if row is None:
            return None
        return {
            "username": row.username,
            "password": self.ctx.secrets.decrypt(row.password_enc),
            "serveraddress": server,
        }
