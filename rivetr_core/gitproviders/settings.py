"""OAuth app settings of git providers (client id and secret, server URL...) kept in the database, so they can be
set from the dashboard, the API or the CLI instead of only ``[oauth.<name>]`` in the config file.

Stored in the ``meta`` key/value table, one row per provider (``oauth_provider:<name>``, a JSON object), the client
secret encrypted with the context's SecretBox. Each stored field overrides the same field of the config file's
``[oauth.<name>]``; a field not stored falls back to the file, so removing the stored settings returns to the file.

:class:`ProviderSettingsStore` keeps the rows in memory (loaded at start, replaced on every write through it): the
OAuth flow reads its configuration synchronously on every call. The control plane is one process and nothing else
writes these rows while it runs (a state restore needs a stopped server), so the copy cannot go stale.
"""

from __future__ import annotations

import json
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field
from sqlmodel import col, select

from rivetr_core.apimodel import ApiModel
from rivetr_core.config import OAuthProviderConfig
from rivetr_core.contract.errors import ValidationFailed
from rivetr_core.db import isoformat, utcnow
from rivetr_core.models.core import Meta

META_PREFIX = "oauth_provider:"
#: Fields an override may set, in the order forms show them.
FIELDS = ("client_id", "client_secret", "base_url", "api_url", "redirect_uri")
_URL_FIELDS = ("base_url", "api_url", "redirect_uri")


class ProviderSettingsOut(ApiModel):
    """A provider's effective OAuth app settings and where each comes from; the client secret is never shown."""

    provider: str
    oauth_supported: bool = Field(description="The provider plugin can connect accounts (OAuth).")
    configured: bool = Field(description="A client id and secret are set (here or in the config file).")
    client_id: str | None
    client_secret_set: bool = Field(description="A client secret is set (it is never returned).")
    base_url: str | None = Field(description="Web base URL: GitHub Enterprise, self-managed GitLab, Gitea.")
    api_url: str | None = Field(description="API base URL, when not derived from base_url.")
    redirect_uri: str | None = Field(description="Callback URL override; null: the default below.")
    callback_url: str | None = Field(
        description="The callback URL to register with the provider's OAuth app: redirect_uri, else "
        "<[server] external_url>/oauth/<provider>/callback; null when neither is set."
    )
    sources: dict[str, Literal["database", "config"]] = Field(
        description="Where each set field's value comes from: database (Settings, API, CLI) or config "
        "([oauth.<provider>] in the config file). The database wins."
    )
    stored: bool = Field(description="Settings are stored in the database for this provider.")
    updated_at: str | None = Field(description="When the stored settings last changed.")


def _check_url(field: str, value: str) -> str:
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(value) > 500:
        raise ValidationFailed.on(field, "must be an http(s) URL of at most 500 characters")
    return value.rstrip("/") if field != "redirect_uri" else value


class ProviderSettingsStore:
    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self._rows: dict[str, dict[str, Any]] = {}

    async def load(self) -> None:
        async with self.ctx.db.session() as session:
            rows = (await session.exec(select(Meta).where(col(Meta.key).startswith(META_PREFIX)))).all()
        self._rows = {row.key[len(META_PREFIX) :]: json.loads(row.value) for row in rows}

    # ------------------------------------------------------------------------------------------ reading
    def _file(self, provider: str) -> dict[str, Any]:
        section = self.ctx.config.oauth.get(provider)
        if section is None:
            return {}
        values = section.model_dump()
        values["client_secret"] = section.client_secret.get_secret_value()
        return {k: v for k, v in values.items() if v}

    def _stored(self, provider: str) -> dict[str, Any]:
        row = self._rows.get(provider) or {}
        values = {k: row[k] for k in FIELDS if k != "client_secret" and row.get(k)}
        if row.get("client_secret_enc"):
            values["client_secret"] = self.ctx.secrets.decrypt(row["client_secret_enc"])
        return values

    def _merged(self, provider: str) -> tuple[dict[str, Any], dict[str, Literal["database", "config"]]]:
        file, stored = self._file(provider), self._stored(provider)
        sources: dict[str, Literal["database", "config"]] = {k: "config" for k in file}
        sources.update({k: "database" for k in stored})
        return {**file, **stored}, sources

    def effective(self, provider: str) -> OAuthProviderConfig | None:
        """The configuration the OAuth flow uses (stored fields over the file's), None without id and secret."""
        values, _ = self._merged(provider)
        if not values.get("client_id") or not values.get("client_secret"):
            return None
        return OAuthProviderConfig.model_validate(values)

    def names(self) -> list[str]:
        """Providers with some OAuth configuration, in the file or stored."""
        return sorted(set(self.ctx.config.oauth) | set(self._rows))

    def view(self, provider: str, *, oauth_supported: bool) -> dict[str, Any]:
        values, sources = self._merged(provider)
        row = self._rows.get(provider) or {}
        external = self.ctx.config.server.external_url
        callback = values.get("redirect_uri") or (
            f"{str(external).rstrip('/')}/oauth/{provider}/callback" if external else None
        )
        return ProviderSettingsOut(
            provider=provider,
            oauth_supported=oauth_supported,
            configured=bool(values.get("client_id") and values.get("client_secret")),
            client_id=values.get("client_id"),
            client_secret_set=bool(values.get("client_secret")),
            base_url=values.get("base_url"),
            api_url=values.get("api_url"),
            redirect_uri=values.get("redirect_uri"),
            callback_url=callback,
            sources=sources,
            stored=provider in self._rows,
            updated_at=row.get("updated_at"),
        ).model_dump(mode="json")

    # ------------------------------------------------------------------------------------------ writing
    async def update(self, provider: str, fields: dict[str, Any]) -> None:
        """Store the fields given (``None`` or empty: drop that override, the file's value applies again). The
        result must carry a client id and secret (stored or from the file), or nothing changes (422)."""
        row = dict(self._rows.get(provider) or {})
        for key, value in fields.items():
            if key not in FIELDS:
                raise ValidationFailed.on(key, "unknown field")
            value = value.strip() if isinstance(value, str) else value
            stored_key = "client_secret_enc" if key == "client_secret" else key
            if not value:
                row.pop(stored_key, None)
                continue
            if key in _URL_FIELDS:
                value = _check_url(key, value)
            row[stored_key] = self.ctx.secrets.encrypt(value) if key == "client_secret" else value
        merged = {**self._file(provider), **{k: v for k, v in row.items() if k in FIELDS}}
        for key in ("client_id", "client_secret"):
            if not merged.get(key) and not (key == "client_secret" and row.get("client_secret_enc")):
                raise ValidationFailed.on(key, f"required (the config file has no [oauth.{provider}] {key})")
        row["updated_at"] = isoformat(utcnow())
        async with self.ctx.db.session() as session:
            meta = await session.get(Meta, META_PREFIX + provider)
            if meta is None:
                meta = Meta(key=META_PREFIX + provider, value="")
            meta.value = json.dumps(row)
            session.add(meta)
            await session.commit()
        self._rows[provider] = row

    async def delete(self, provider: str) -> bool:
        """Forget the stored settings (the config file's apply again); False when none were stored."""
        async with self.ctx.db.session() as session:
            meta = await session.get(Meta, META_PREFIX + provider)
            if meta is not None:
                await session.delete(meta)
                await session.commit()
        return self._rows.pop(provider, None) is not None or meta is not None


__all__ = ["FIELDS", "ProviderSettingsOut", "ProviderSettingsStore"]
