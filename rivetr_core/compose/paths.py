"""Field paths in compose data: ``("services", "web", "ports", 0)`` prints as ``services.web.ports[0]``."""

from __future__ import annotations

Path_ = tuple[str | int, ...]


def fmt_path(path: Path_) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def service_of(path: Path_) -> str | None:
    if len(path) >= 2 and path[0] == "services" and isinstance(path[1], str):
        return path[1]
    return None
