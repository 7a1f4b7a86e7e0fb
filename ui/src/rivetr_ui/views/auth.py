"""``/setup`` (first run), ``/login`` and ``/logout``: classic forms, so they work before any script loads.

``/setup`` asks for the admin token as proof of the server (see :mod:`rivetr_core.accounts.setup`).
"""

from __future__ import annotations

from quart import Response, current_app, g, redirect, request, url_for

from rivetr_core.accounts.service import AccountError
from rivetr_core.accounts.setup import SETUP_TOKEN_FIELD, setup_proof_valid, setup_token_file
from rivetr_core.accounts.web import SESSION_COOKIE, clear_session_cookie, set_session_cookie
from rivetr_core.ratelimit import current_client

from ..blueprint import accounts, bp, ctx, render, safe_next


def _logged_in(target: str, session_id: str) -> Response:
    response = redirect(target)
    set_session_cookie(current_app, response, session_id)  # type: ignore[arg-type]
    return response  # type: ignore[return-value]


@bp.route("/setup", methods=["GET", "POST"])
async def setup() -> Response | tuple[str, int]:
    service = accounts()
    if not await service.setup_required():
        return redirect(url_for("ui.login"))  # type: ignore[return-value]
    errors: dict[str, str] = {}
    username = proven_token = ""
    if request.method == "POST":
        form = await request.form
        username = form.get("username", "").strip()
        password = form.get("password", "")
        given = form.get(SETUP_TOKEN_FIELD, "").strip()
        if setup_proof_valid(ctx(), given):
            proven_token = given  # refilled, so a password typo does not mean fetching the token again
        else:
            errors[SETUP_TOKEN_FIELD] = (
                "wrong setup token: copy the admin token from the server"
                if given
                else "the setup token is required"
            )
        if password != form.get("password_confirm", ""):
            errors["password_confirm"] = "the two passwords differ"
        elif not errors:
            try:
                user = await service.create_first_user(username, password)
            except AccountError as exc:
                if exc.status == 409:
                    return redirect(url_for("ui.login"))  # type: ignore[return-value]
                errors[exc.field or "form"] = exc.reason
            else:
                result = await service.open_session(
                    user,
                    ip=current_client(current_app),  # type: ignore[arg-type]
                    user_agent=request.headers.get("User-Agent"),
                )
                return _logged_in(url_for("ui.dashboard"), result.session_id)
    return await render(
        "setup.html",
        status=(401 if SETUP_TOKEN_FIELD in errors else 422) if errors else 200,
        errors=errors,
        username=username,
        setup_token=proven_token,
        # None when the token comes from the configuration rather than the generated file.
        token_file=setup_token_file(ctx().config),
        min_length=service.min_password_length,
    )


@bp.route("/login", methods=["GET", "POST"])
async def login() -> Response | tuple[str, int]:
    service = accounts()
    if await service.setup_required():
        return redirect(url_for("ui.setup"))  # type: ignore[return-value]
    target = safe_next(request.args.get("next"))
    if request.method == "GET" and g.ui_session is not None:
        return redirect(target)  # type: ignore[return-value]
    error, username = None, ""
    if request.method == "POST":
        form = await request.form
        username = form.get("username", "").strip()
        try:
            result = await service.login(
                username,
                form.get("password", ""),
                previous_session_id=request.cookies.get(SESSION_COOKIE),
                ip=current_client(current_app),  # type: ignore[arg-type]
                user_agent=request.headers.get("User-Agent"),
            )
        except AccountError as exc:
            error = exc.reason
        else:
            return _logged_in(target, result.session_id)
    return await render(
        "login.html",
        status=401 if error else 200,
        error=error,
        username=username,
        next=request.args.get("next", ""),
    )


@bp.post("/logout")
async def logout() -> Response:
    await accounts().logout(request.cookies.get(SESSION_COOKIE))
    response = redirect(url_for("ui.login"))
    clear_session_cookie(current_app, response)  # type: ignore[arg-type]
    return response  # type: ignore[return-value]
