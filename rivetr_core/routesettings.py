"""Route settings (prefix stripping, ``www`` redirect, redirect rules, basic auth) as the API reads and changes
them; :class:`rivetr_core.routing.RouteService` stores them and pushes them with the route."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from .contract.errors import ValidationFailed
from .routepaths import REDIRECT_WWW, check_redirects, hash_password, is_password_hash, split_key

if TYPE_CHECKING:
    from .models.core import RouteSettings
    from .secrets import SecretBox

MAX_USERS = 100
#: How the proxy may talk to a route's upstreams: HTTP/1.1, or HTTP/2 cleartext with prior knowledge (gRPC).
UPSTREAM_PROTOCOLS = ("http1", "h2c")


def settings_out(key: str, row: RouteSettings | None, user_names: list[str]) -> dict[str, Any]:
    domain, prefix = split_key(key)
    auth = (
        {"realm": (row.auth_realm or "Restricted") if row is not None else "Restricted", "users": user_names}
        if user_names
        else None
    )
    return {
        "key": key,
        "domain": domain,
        "path_prefix": prefix,
        "strip_prefix": bool(row and row.strip_prefix and prefix != "/"),
        "redirect_www": row.redirect_www if row is not None and prefix == "/" else None,
        "redirects": list(row.redirects or []) if row is not None else [],
        "basic_auth": auth,
        "compression": row.compression if row is not None else True,
        "upstream_protocol": (row.upstream_protocol or "http1") if row is not None else "http1",
    }


def apply_changes(
    row: RouteSettings, changes: dict[str, Any], key: str, users: dict[str, str], secrets: SecretBox | None
) -> None:
    """Apply the fields present in ``changes`` to ``row`` (``ValidationFailed`` naming the field).

    ``basic_auth``: null turns it off; ``{"realm", "users": [{"name", "password"} | {"name", "hash"} |
    {"name"}]}`` replaces the user list, where a user given by name alone keeps its current hash (so one
    password can change without retyping the others). A password is hashed with bcrypt here; a hash is taken
    as it is if it is bcrypt or argon2."""
    domain, prefix = split_key(key)
    if "upstream_protocol" in changes:
        proto = changes["upstream_protocol"] or "http1"
        if proto not in UPSTREAM_PROTOCOLS:
            raise ValidationFailed.on("upstream_protocol", "http1 or h2c")
        row.upstream_protocol = proto
    if "compression" in changes:
        if not isinstance(changes["compression"], bool):
            raise ValidationFailed.on("compression", "true or false")
        row.compression = changes["compression"]
    if "strip_prefix" in changes:
        # Nothing to strip on a / route: accepted and without effect (the document cannot say it depends on
        # the key, so a client following it is not refused).
        row.strip_prefix = bool(changes["strip_prefix"]) and prefix != "/"
    if "redirect_www" in changes:
        mode = changes["redirect_www"] or None
        if mode is not None and mode not in REDIRECT_WWW:
            raise ValidationFailed.on("redirect_www", "to-apex, to-www or null")
        if mode is not None and prefix != "/":
            raise ValidationFailed.on("redirect_www", "set it on the domain's / route")
        if mode == "to-www" and not domain.startswith("www."):
            raise ValidationFailed.on(
                "redirect_www", "to-www is set on the www. name (the apex redirects to it)"
            )
        if mode == "to-apex" and (domain.startswith(("www.", "*.")) or "." not in domain):
            raise ValidationFailed.on(
                "redirect_www", "to-apex is set on the apex name (www. redirects to it)"
            )
        row.redirect_www = mode
    if "redirects" in changes:
        try:
            row.redirects = check_redirects(list(changes["redirects"] or []))
        except (ValueError, TypeError) as exc:
            raise ValidationFailed.on("redirects", str(exc)) from None
    if "basic_auth" in changes:
        auth = changes["basic_auth"]
        if auth is None:
            row.auth_realm, row.auth_users_enc = None, None
            return
        if secrets is None:
            raise ValidationFailed.on("basic_auth", "not available on this server")
        realm = str(auth.get("realm") or "Restricted").strip()
        if len(realm) > 200 or any(ord(c) < 32 for c in realm):
            raise ValidationFailed.on("basic_auth.realm", "at most 200 printable characters")
        new: dict[str, str] = {}
        given = list(auth.get("users") or [])
        if not given or len(given) > MAX_USERS:
            raise ValidationFailed.on(
                "basic_auth.users", f"1 to {MAX_USERS} users (null turns basic auth off)"
            )
        for i, user in enumerate(given):
            name = str(user.get("name") or "")
            if not name or ":" in name or len(name) > 100 or re.search(r"\s", name):
                raise ValidationFailed.on(
                    f"basic_auth.users[{i}].name", "1-100 characters, no colon or space"
                )
            if name in new:
                raise ValidationFailed.on(f"basic_auth.users[{i}].name", f"{name!r} is listed twice")
            password, hashed = user.get("password"), user.get("hash")
            if password is not None and hashed is not None:
                raise ValidationFailed.on(f"basic_auth.users[{i}]", "give a password or a hash, not both")
            if password is not None:
                if not str(password):
                    raise ValidationFailed.on(f"basic_auth.users[{i}].password", "must not be empty")
                try:
                    new[name] = hash_password(str(password))
                except ValueError as exc:
                    raise ValidationFailed.on(f"basic_auth.users[{i}].password", str(exc)) from None
            elif hashed is not None:
                if not is_password_hash(str(hashed)):
                    raise ValidationFailed.on(
                        f"basic_auth.users[{i}].hash", "a bcrypt ($2b$…) or argon2 hash"
                    )
                new[name] = str(hashed)
            elif name in users:
                new[name] = users[name]
            else:
                raise ValidationFailed.on(
                    f"basic_auth.users[{i}].password", f"required for the new user {name!r}"
                )
        row.auth_realm = realm
        row.auth_users_enc = secrets.encrypt(json.dumps(new))
