"""What ``rivetr apps show`` says of the settings an app's repository manages (``managed_by_file`` of
``GET /api/apps/{id}``, docs/config-as-code.md): they are changed in the file, not here."""

from __future__ import annotations

from typing import Any


def managed_line(managed: dict[str, Any] | None) -> str | None:
    """``managed by rivetr.toml at 1a2b3c4d5e6f: env (LOG_LEVEL), port``; None when nothing is managed."""
    if not managed:
        return None
    commit = managed.get("commit")
    where = f"{managed['path']} at {commit[:12]}" if commit else managed["path"]
    env = managed.get("env") or []
    keys = [
        f"{key} ({', '.join(env)})" if key in ("env", "build_env") and env else key for key in managed["keys"]
    ]
    return f"managed by {where}: {', '.join(keys)}"


def with_managed(client: Any, found: dict[str, Any]) -> dict[str, Any]:
    """The app with ``managed_by_file``: an app found by name comes from the list, which leaves it out."""
    if "managed_by_file" in found:
        return found
    full = client.get(f"/api/apps/{found['id']}")
    return {**found, "managed_by_file": full.get("managed_by_file")}
