"""Which container port an app's deployment uses, and why (docs/builds.md, "The port").

An app created without a ``port`` stores :data:`PORT_DETECT` (0, never a valid port) until its first deployment
chooses one: the port the selected builder's plan names (the autodetect builder's detector: python 8000, node
3000, go and static 8080), else the first ``EXPOSE`` of the Dockerfile's last stage (a Dockerfile build), else
:data:`DEFAULT_PORT`. That deployment records it on the app, so every later
deployment, restart and rollback uses the same port whatever the source becomes; an app's explicit ``port``
(given at creation or by an update) always wins. An image app created without one gets :data:`DEFAULT_PORT`
at once (there is nothing to detect it from).

Pure and cheap: the apps service imports it at start-up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

#: The port of an app whose builder detects none (and of an image app created without one).
DEFAULT_PORT = 3000
#: Stored in ``apps.port`` while the first deployment has not chosen the port yet (the API shows ``null``).
PORT_DETECT = 0

PortSource = Literal["app", "detected", "default"]


def chosen_port(app_port: int, plan: Mapping[str, Any] | None) -> tuple[int, PortSource]:
    """``(port, source)`` a deployment of an app whose ``port`` column is ``app_port`` uses, given the selected
    builder's plan (None: a builder without ``plan()``): the app's own port (``app``), the plan's (``detected``)
    or :data:`DEFAULT_PORT` (``default``)."""
    if app_port != PORT_DETECT:
        return app_port, "app"
    detected = (plan or {}).get("port")
    try:
        port = int(detected) if detected is not None else 0
    except (TypeError, ValueError):
        port = 0
    if 1 <= port <= 65535:
        return port, "detected"
    return DEFAULT_PORT, "default"


_FROM = re.compile(r"^\s*FROM\s", re.I | re.M)
_EXPOSE = re.compile(r"^\s*EXPOSE\s+(\d{1,5})(?:/tcp)?(?:\s|$)", re.I | re.M)


def exposed_port(dockerfile: str) -> int | None:
    """The first TCP port the last stage of ``dockerfile`` EXPOSEs (the image that runs), or None."""
    last_stage = _FROM.split(dockerfile)[-1]
    found = _EXPOSE.search(last_stage)
    port = int(found.group(1)) if found else 0
    return port if 1 <= port <= 65535 else None


def detected_plan(
    plan: Mapping[str, Any], source_dir: Path, build_context: str, dockerfile: str
) -> dict[str, Any]:
    """``plan`` with the Dockerfile's ``EXPOSE`` as its ``port`` when the builder named none (the Dockerfile
    builder has no plan of its own). Blocking: reads the Dockerfile (confined to the checkout, size-capped)."""
    result = dict(plan)
    if result.get("port"):
        return result
    from rivetr_core.contract.repofiles import read_repo_text

    from .untrusted import find_dockerfile

    path = find_dockerfile(source_dir, build_context, dockerfile)
    if path is None:
        return result
    try:
        text = read_repo_text(source_dir.resolve(), path.relative_to(source_dir.resolve()), missing_ok=True)
    except Exception:  # an unreadable Dockerfile: the build reports it, detection just finds nothing
        return result
    port = exposed_port(text or "")
    if port is not None:
        result.update(port=str(port), port_detected_from=f"EXPOSE {port} in {dockerfile}")
    return result


def port_reason(source: PortSource, plan: Mapping[str, Any] | None = None) -> str:
    """One human line saying why (build plans and the deployment log)."""
    if source == "app":
        return "the app's port"
    if source == "detected":
        plan = plan or {}
        what = (
            plan.get("port_detected_from")
            or plan.get("framework")
            or plan.get("language")
            or plan.get("detector")
            or "the source"
        )
        return (
            f"detected by the {plan.get('builder', 'selected')} builder ({what}); recorded on the app at its "
            "first deployment (set the app's port to change it)"
        )
    return (
        f"the default ({DEFAULT_PORT}): the builder detected no port; recorded on the app at its first "
        "deployment (set the app's port to change it)"
    )
