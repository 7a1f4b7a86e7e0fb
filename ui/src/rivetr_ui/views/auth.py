"""``/setup`` (first run), ``/login`` (with a second page for the code of a user with two-factor login) and
``/logout``: classic forms, so they work before any script loads. A passkey on the second page is the exception:
WebAuthn is a browser API, so ``passkeys.js`` runs it and posts the assertion to ``POST /api/auth/login/2fa``,
which sets the same session cookie.

``/setup`` asks for the admin token as proof of the server (see :mod:`rivetr_core.accounts.setup`).
"""

from __future__ import annotations

from typing import Any

from quart import Response, current_app, g, redirect, request, url_for

from rivetr_core.accounts.service import AccountError, second_factor_challenge
from rivetr_core.accounts.setup import SETUP_TOKEN_FIELD, setup_proof_valid, setup_token_file
from rivetr_core.accounts.web import SESSION_COOKIE, clear_session_cookie, set_session_cookie
from rivetr_core.contract.errors import sentence
from rivetr_core.ratelimit import current_client

from ..blueprint import accounts, bp, ctx, render, safe_next


def _logged_in(target: str, session_id: str) -> Response:
    response = redirect(target)
    set_session_cookie(current_app, response, session_id)  # type: ignore[arg-type]
    return response  # type: ignore[return-value]


async def signed_in(user: Any, target: str) -> Response:
    """A new dashboard session of ``user`` in place of the browser's pre-login one, and the redirect to ``target``
    that sets its cookie."""
    result = await accounts().open_session(
        user,
        previous_session_id=request.cookies.get(SESSION_COOKIE),
        ip=current_client(current_app),  # type: ignore[arg-type]
        user_agent=request.headers.get("User-Agent"),
    )
    return _logged_in(target, result.session_id)


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
        errors={field: sentence(text) for field, text in errors.items()},  # the API's one style
        username=username,
        setup_token=proven_token,
        # None when the token comes from the configuration rather than the generated file.
        token_file=setup_token_file(ctx().config),
        min_length=service.min_password_length,
    )


@bp.route("/login", methods=["GET", "POST"])
async def login() -> Response | tuple[str, int]:
    """The password step, then for a user with two-factor login a second page asking for a code (or a recovery
    code), posted here again with the challenge: the same service calls as ``POST /api/auth/login(/2fa)``."""
    service = accounts()
    if await service.setup_required():
        return redirect(url_for("ui.setup"))  # type: ignore[return-value]
    target = safe_next(request.args.get("next"))
    if request.method == "GET" and g.ui_session is not None:
        return redirect(target)  # type: ignore[return-value]
    error, username, challenge, methods = None, "", None, None
    if request.method == "POST":
        form = await request.form
        if form.get("challenge"):
            return await _second_step(form, target)
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
            pending = second_factor_challenge(exc)
            if pending is None:
                error = exc.reason
            else:
                request.rivetr_login_action = "auth.login.challenge"  # type: ignore[attr-defined]  # no session yet
                challenge, methods = pending.token, pending.methods
        else:
            return _logged_in(target, result.session_id)
    return await _login_page(error=error, username=username, challenge=challenge, methods=methods)


async def _login_page(
    *,
    error: str | None = None,
    username: str = "",
    challenge: str | None = None,
    recovery: bool = False,
    methods: list[str] | None = None,
) -> tuple[str, int]:
    return await render(
        "login.html",
        status=401 if error else 200,
        error=sentence(error) if error else None,  # the API's one style: these are its refusals' reasons
        username=username,
        challenge=challenge,
        recovery=recovery,
        # The second factors to offer (see two_factor.login_methods); a code when unknown.
        methods=methods if methods is not None else ["totp", "recovery_code"],
        next=request.args.get("next", ""),
        next_target=safe_next(request.args.get("next")),
    )


async def _second_step(form: Any, target: str) -> Response | tuple[str, int]:
    """A code (or recovery code) for the challenge of the password step. A wrong one shows the code page again;
    an expired or killed challenge sends back to the password step."""
    from rivetr_core.accounts.two_factor import TwoFactorService, login_methods

    request.rivetr_login_action = "auth.login.2fa"  # type: ignore[attr-defined]
    raw = form.get("challenge", "")
    code, recovery_code = form.get("code", "").strip(), form.get("recovery_code", "").strip()
    two_factor = TwoFactorService(ctx().db, ctx().secrets)
    try:
        pending = await two_factor.pending_login(raw)
    except AccountError as exc:
        return await _login_page(error=exc.reason)
    request.rivetr_login_user = pending.user.username  # type: ignore[attr-defined]  # audit's actor
    try:
        if not code and not recovery_code:
            raise AccountError(401, "enter the code from your authenticator app", code="invalid_code")
        user = await two_factor.complete_login(
            pending, code=code or None, recovery_code=recovery_code or None
        )
    except AccountError as exc:
        killed = isinstance(exc.details, dict) and exc.details.get("attempts_left") == 0
        return await _login_page(
            error=exc.reason,
            challenge=None if killed else raw,
            recovery=bool(recovery_code),
            methods=await login_methods(ctx().db, pending.user.id),
        )
    return await signed_in(user, target)


@bp.post("/logout")
async def logout() -> Response:
    await accounts().logout(request.cookies.get(SESSION_COOKIE))
    response = redirect(url_for("ui.login"))
    clear_session_cookie(current_app, response)  # type: ignore[arg-type]
    return response  # type: ignore[return-value]
