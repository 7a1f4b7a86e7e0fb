"""``/apps/<id>/terminal``: xterm.js in the page, bridged over a WebSocket to the runtime's interactive exec
(a TTY running ``/bin/sh`` in the app's current container). Admins only.

Protocol: the browser sends JSON text frames ``{"type": "input", "data": "..."}`` and
``{"type": "resize", "rows": n, "cols": n}``; the server sends terminal output as text frames (UTF-8 decoded
incrementally, so a multi-byte character split across reads is not mangled) and closes with 1000 when the
shell exits.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import logging

from quart import abort, g, websocket

from rivetr_core.types import RivetrError

from .. import queries
from ..blueprint import bp, ctx, render, websocket_session

log = logging.getLogger("rivetr.ui")
SHELL = ["/bin/sh"]


def _clamp(value: object, low: int, high: int, default: int) -> int:
    try:
        return max(low, min(high, int(value)))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return default


@bp.get("/apps/<app_id>/terminal")
async def terminal(app_id: str) -> tuple[str, int]:
    if g.ui_session.user.role != "admin":
        abort(403, "the terminal is for administrators only")
    app = await queries.get_app(ctx(), app_id)
    if app is None:
        abort(404, f"app {app_id!r} not found")
    return await render("terminal.html", nav="apps", app=app)


@bp.websocket("/apps/<app_id>/terminal/ws")
async def terminal_ws(app_id: str) -> None:
    session = await websocket_session()
    if session is None:
        await websocket.close(4401, "not logged in")
        return
    if session.user.role != "admin":
        await websocket.close(4403, "the terminal is for administrators only")
        return
    c = ctx()
    app = await queries.get_app(c, app_id)
    dep = (
        await queries.get_deployment(c, app.current_deployment_id)
        if app and app.current_deployment_id
        else None
    )
    if app is None:
        await websocket.close(4404, "app not found")
        return
    if dep is None or not dep.container_id:
        await websocket.close(4409, "the app has no running container: deploy it first")
        return
    rows = _clamp(websocket.args.get("rows"), 5, 300, 24)
    cols = _clamp(websocket.args.get("cols"), 10, 500, 80)
    try:
        runtime = await c.runtime()
        shell = await runtime.exec_interactive(dep.container_id, SHELL, rows=rows, cols=cols)
    except RivetrError as exc:
        await websocket.close(4500, str(exc)[:120])
        return
    await websocket.accept()
    log.info("terminal opened on %s by %s", app.name, session.user.username)

    async def pump_output() -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while True:
            chunk = await shell.read()
            if not chunk:
                break
            text = decoder.decode(chunk)
            if text:
                await websocket.send(text)

    async def pump_input() -> None:
        while True:
            message = await websocket.receive()
            try:
                event = json.loads(message)
            except (TypeError, ValueError):
                continue
            if event.get("type") == "input" and isinstance(event.get("data"), str):
                await shell.write(event["data"].encode())
            elif event.get("type") == "resize":
                await shell.resize(
                    _clamp(event.get("rows"), 5, 300, rows), _clamp(event.get("cols"), 10, 500, cols)
                )

    output = asyncio.ensure_future(pump_output())
    reader = asyncio.ensure_future(pump_input())
    try:
        await asyncio.wait({output, reader}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (output, reader):
            task.cancel()
        for task in (output, reader):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await shell.close()
        log.info("terminal closed on %s", app.name)
    with contextlib.suppress(Exception):
        await websocket.close(1000, "shell exited")
