"""Front-end libraries, served from ``node_modules`` (installed by ``npm ci`` in ``ui/``; never committed).

Only the files in :data:`VENDOR_FILES` are reachable (``/static/vendor/<name>``): no path from the URL ever
touches the file system. The directory is ``$RIVETR_UI_NODE_MODULES``, else ``[plugins.ui] node_modules``,
else ``ui/node_modules`` next to this source tree (the editable install).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger("rivetr.ui")

#: URL name → path inside node_modules (versions pinned by ui/package-lock.json).
VENDOR_FILES: dict[str, str] = {
    "htmx.js": "htmx.org/dist/htmx.min.js",
    "xterm.js": "@xterm/xterm/lib/xterm.js",
    "xterm.css": "@xterm/xterm/css/xterm.css",
    "addon-fit.js": "@xterm/addon-fit/lib/addon-fit.js",
    "uplot.js": "uplot/dist/uPlot.iife.min.js",
    "uplot.css": "uplot/dist/uPlot.min.css",
}

DEFAULT_NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"


def node_modules_dir(plugin_settings: dict[str, dict[str, object]] | None = None) -> Path:
    configured = os.environ.get("RIVETR_UI_NODE_MODULES") or (plugin_settings or {}).get("ui", {}).get(
        "node_modules"
    )
    return Path(str(configured)) if configured else DEFAULT_NODE_MODULES


def vendor_path(name: str, root: Path) -> Path | None:
    """The file for an allow-listed name, or None (unknown name or not installed)."""
    relative = VENDOR_FILES.get(name)
    if relative is None:
        return None
    path = root / relative
    if not path.is_file():
        log.warning("front-end file %s is missing: run `npm ci` in ui/ (looked in %s)", relative, root)
        return None
    return path


def missing_files(root: Path) -> list[str]:
    return [rel for rel in VENDOR_FILES.values() if not (root / rel).is_file()]
