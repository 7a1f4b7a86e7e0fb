"""``/static/vendor/<name>``: allow-listed front-end library files from node_modules."""

from __future__ import annotations

from quart import Response, abort, current_app, send_file

from ..blueprint import bp
from ..vendor import node_modules_dir, vendor_path


@bp.get("/static/vendor/<name>")
async def vendor(name: str) -> Response:
    root = node_modules_dir(current_app.config["RIVETR"].plugins)
    path = vendor_path(name, root)
    if path is None:
        abort(404)
    response = await send_file(path, conditional=True)
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response
