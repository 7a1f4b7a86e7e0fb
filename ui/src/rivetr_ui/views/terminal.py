"""``/apps/<id>/terminal`` and ``/stacks/<id>/services/<service>/terminal``: xterm.js in the page, bridged over
a WebSocket to the runtime's interactive exec (a TTY running ``/bin/sh`` in the app's current container, or in a
stack service's container: ``?replica=N``, default the first). Who holds ``terminal`` in the acting team (owners, admins,
developers: docs/permissions.md), whichever container it is.

Protocol: the browser sends JSON text frames ``{"type": "input", "data": "..."}`` and
``{"type": "resize", "rows": n, "cols": n}``; the server sends terminal output as text frames (UTF-8 decoded
incrementally, so a multi-byte character split across reads is not mangled) and closes with 1000 when the
shell exits.

A shell is as strong as the session that opened it, so it lives no longer (issue 14 hole 9): the session is
re-checked every :data:`SESSION_RECHECK` seconds and the shell closes with 4401 once it is gone (logout,
revocation, password change, expiry); 4408 after ``[terminal] idle_timeout`` seconds without input; and a user
holding ``[terminal] max_per_user`` shells gets 4429 for the next one (accepted first, so the browser can show
the reason).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import logging
from typing import Any

from quart import abort, current_app, request, url_for, websocket

from rivetr_core.accounts.service import SessionInfo
from rivetr_core.accounts.web import SESSION_COOKIE
from rivetr_core.authz import TERMINAL
from rivetr_core.contract import RivetrError, requires
from rivetr_core.contract.errors import NotFound, sentence
from rivetr_core.errors import ApiError

from .. import queries
from ..blueprint import accounts, bp, ctx, render, websocket_session
from ..roles import page_principal

log = logging.getLogger("rivetr.ui")
SHELL = ["/bin/sh"]
#: Seconds between checks that the session which opened a shell still exists ("closed within seconds").
SESSION_RECHECK = 2.0


def _open_shells(user_id: str) -> set[object]:
    """The open shells of one user in this process (each a token object), for the per-user cap."""
    shells: dict[str, set[object]] = current_app.extensions.setdefault("rivetr_ui_terminals", {})
    return shells.setdefault(user_id, set())


def _duration(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def _clamp(value: object, low: int, high: int, default: int) -> int:
    try:
        return max(low, min(high, int(value)))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return default


async def _require_terminal() -> None:
    if not (await page_principal()).allows(TERMINAL):
        abort(403, "Your role in this team has no terminal (owners, admins and developers do).")


@bp.get("/apps/<app_id>/terminal")
async def terminal(app_id: str) -> tuple[str, int]:
    await _require_terminal()
    app = await queries.get_app(ctx(), app_id)
    if app is None:
        abort(404, f"App {app_id!r} not found.")
    return await render(
        "terminal.html",
        nav="apps",
        subject=app.name,
        where="the app's running container",
        back_url=url_for("ui.app_detail", app_id=app.id),
        back_label="Back to the app",
        ws_url=url_for("ui.terminal_ws", app_id=app.id),
    )


@bp.get("/stacks/<stack_id>/services/<service>/terminal")
async def stack_terminal(stack_id: str, service: str) -> tuple[str, int]:
    await _require_terminal()
    try:
        stack = await ctx().services.stacks.get(stack_id)
        await ctx().services.stacks.service_container_ids(stack.id, service)
    except NotFound as exc:
        abort(404, exc.message)
    replica = _replica(request.args)
    return await render(
        "terminal.html",
        nav="stacks",
        subject=f"{stack.name}/{service}",
        where=f"replica {replica} of the stack service {service}",
        back_url=url_for("ui.stack_detail", stack_id=stack.id),
        back_label="Back to the stack",
        ws_url=url_for("ui.stack_terminal_ws", stack_id=stack.id, service=service, replica=replica),
    )


def _replica(args: Any) -> int:
    """``?replica=N`` (1-based) of the page or the WebSocket; 1 when absent or not a number."""
    return _clamp(args.get("replica"), 1, 1000, 1)


async def _refuse(code: int, reason: str) -> None:
    """Close with the reason the page shows (its badge and the terminal area). Accepted first: a close before
    the accept is a refusal of the handshake, which a browser sees as code 1006 with no reason at all."""
    await websocket.accept()
    await websocket.close(code, sentence(reason)[:120])  # a close frame's reason holds 123 bytes


async def _admin_websocket() -> SessionInfo | None:
    """The WebSocket's session when its role in the acting team has the terminal; otherwise closed with the
    reason and None."""
    session = await websocket_session()
    if session is None:
        await _refuse(4401, "not logged in")
        return None
    try:
        principal = await accounts().principals.for_session(session.user, session.session, None)
    except ApiError:  # disabled meanwhile
        await _refuse(4401, "account disabled")
        return None
    if not principal.allows(TERMINAL):
        await _refuse(4403, "your role in this team has no terminal")
        return None
    return session


@bp.websocket("/apps/<app_id>/terminal/ws")
@requires("terminal")
async def terminal_ws(app_id: str) -> None:
    session = await _admin_websocket()
    if session is None:
        return
    c = ctx()
    app = await queries.get_app(c, app_id)
    dep = (
        await queries.get_deployment(c, app.current_deployment_id)
        if app and app.current_deployment_id
        else None
    )
    if app is None:
        await _refuse(4404, "app not found")
        return
    if app.status == "stopped":
        await _refuse(4409, "the app is stopped: start it first")
        return
    if dep is None or not dep.container_id:
        await _refuse(4409, "the app has no running container: deploy it first")
        return
    await _capped_shell(session, app.name, dep.container_id)


@bp.websocket("/stacks/<stack_id>/services/<service>/terminal/ws")
@requires("terminal")
async def stack_terminal_ws(stack_id: str, service: str) -> None:
    session = await _admin_websocket()
    if session is None:
        return
    try:
        stack = await ctx().services.stacks.get(stack_id)
        ids = await ctx().services.stacks.service_container_ids(stack.id, service)
    except NotFound as exc:
        await _refuse(4404, exc.message)
        return
    replica = _replica(websocket.args)
    if replica > len(ids):
        await _refuse(4409, f"service {service!r} has no replica {replica}: deploy the stack first")
        return
    await _capped_shell(session, f"{stack.name}/{service}#{replica}", ids[replica - 1])


async def _capped_shell(session: SessionInfo, label: str, container_id: str) -> None:
    """One more shell for the session's user unless they hold ``[terminal] max_per_user`` already."""
    limits = ctx().config.terminal
    shells = _open_shells(session.user.id)
    if len(shells) >= limits.max_per_user:
        await _refuse(
            4429,
            f"too many terminals open ({len(shells)} of {limits.max_per_user} per user): close one first",
        )
        return
    slot = object()
    shells.add(slot)  # taken before the first await, so concurrent opens cannot all slip under the cap
    try:
        await _run_shell(label, container_id, session.user.username, limits.idle_timeout)
    finally:
        shells.discard(slot)


async def _run_shell(label: str, container_id: str, username: str, idle_timeout: float) -> None:
    rows = _clamp(websocket.args.get("rows"), 5, 300, 24)
    cols = _clamp(websocket.args.get("cols"), 10, 500, 80)
    try:
        runtime = await ctx().runtime()
        shell = await runtime.exec_interactive(container_id, SHELL, rows=rows, cols=cols)
    except RivetrError as exc:
        await _refuse(4500, str(exc))
        return
    await websocket.accept()
    log.info("terminal opened on %s by %s", label, username)
    loop = asyncio.get_running_loop()
    last_input = loop.time()
    raw_session = websocket.cookies.get(SESSION_COOKIE)

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
                nonlocal last_input
                last_input = loop.time()
                await shell.write(event["data"].encode())
            elif event.get("type") == "resize":
                await shell.resize(
                    _clamp(event.get("rows"), 5, 300, rows), _clamp(event.get("cols"), 10, 500, cols)
                )

    async def watch() -> tuple[int, str]:
        """Ends the shell when its session is gone or it sat idle too long: (close code, reason)."""
        while True:
            idle_left = idle_timeout - (loop.time() - last_input)
            if idle_left <= 0:
                return 4408, f"closed after {_duration(idle_timeout)} without input (idle timeout)"
            await asyncio.sleep(min(SESSION_RECHECK, idle_left))
            if await accounts().session_for(raw_session) is None:
                return 4401, "your session ended (logout, revocation or password change): log in again"

    output = asyncio.ensure_future(pump_output())
    reader = asyncio.ensure_future(pump_input())
    watcher = asyncio.ensure_future(watch())
    code, reason = 1000, "shell exited"
    try:
        await asyncio.wait({output, reader, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if watcher.done() and not watcher.cancelled():
            if watcher.exception() is None:
                code, reason = watcher.result()
            else:  # the session cannot be checked (database trouble): fail closed, and say so
                log.warning("terminal session check failed", exc_info=watcher.exception())
                code, reason = 4500, "could not check your session: reconnect"
    finally:
        for task in (output, reader, watcher):
            task.cancel()
        for task in (output, reader, watcher):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await shell.close()
        log.info("terminal closed on %s (%s)", label, reason)
    with contextlib.suppress(Exception):
        await websocket.close(code, sentence(reason))
