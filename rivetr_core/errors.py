"""One error shape for every API response: ``{"error": {"code", "message", "details"}}``.

Services raise domain errors (:mod:`rivetr_core.contract.errors`: ``NotFound``, ``Conflict``,
``ValidationFailed``..., each with its ``status`` and ``code``); handlers may raise :class:`ApiError` for what only
HTTP knows (a body that is not JSON, a rate limit). The handlers installed by :func:`install_error_handlers` are
the one mapping from both, schema validation failures and HTTP errors to that JSON.
"""

from __future__ import annotations

import logging
from typing import Any

from quart import Quart, Request, Response, jsonify, request
from quart_schema import RequestSchemaValidationError
from werkzeug.exceptions import HTTPException

from .contract import RivetrError
from .contract.errors import sentence

log = logging.getLogger("rivetr.api")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "unavailable",
    507: "insufficient_storage",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _CODES.get(status, "error")
        self.message = message
        self.details = details
        self.headers = headers or {}


def not_found(what: str, ident: str) -> ApiError:
    return ApiError(404, f"{what} {ident!r} not found", details={"id": ident})


def validation_error(field: str, message: str) -> ApiError:
    """A 422 naming the offending field, in the same shape as schema validation errors."""
    message = sentence(message)
    return ApiError(422, f"{field}: {message}", details=[{"field": field, "message": message}])


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> Response:
    """Every error answer goes through here, so this is where the one style is applied (issue 21): the
    top-level message in sentence case, whoever wrote it (a service's ``NotFound.of``, a plugin's error, an
    HTTP error, a handler's ``ApiError``); a message that starts with a field, a quoted value, a path or a URL
    keeps it as spelled (see :func:`sentence`)."""
    if isinstance(details, list):  # field details: [{"field", "message"}], in the same style
        details = [
            {**d, "message": sentence(d["message"])}
            if isinstance(d, dict) and isinstance(d.get("message"), str)
            else d
            for d in details
        ]
    response = jsonify({"error": {"code": code, "message": sentence(message), "details": details}})
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _pydantic_details(exc: Exception) -> list[dict[str, Any]]:
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return [{"field": None, "message": str(exc)}]
    out = []
    for err in errors():
        field = ".".join(str(p) for p in err.get("loc", ())) or None
        # Our validators' ValueError texts are lower-case, pydantic's own messages sentence case: one style.
        message = str(err.get("msg", "")).removeprefix("Value error, ")
        out.append({"field": field, "message": sentence(message)})
    return out


#: Where the API lives: these paths always answer JSON errors and are what /openapi.json documents; everything
#: else (the dashboard's pages) is not part of the API.
API_PATH_PREFIXES = ("/api/", "/webhooks/", "/health", "/metrics")


def is_api_path(path: str) -> bool:
    return path.startswith(API_PATH_PREFIXES)


def wants_json() -> bool:
    """API-ish paths always get JSON errors; pages (the dashboard) may render their own."""
    return is_api_path(request.path) or request.accept_mimetypes.best == "application/json"


class ClearJsonRequest(Request):
    """Says what is wrong with a body that is not JSON (werkzeug's default is a generic 400 text)."""

    def on_json_loading_failed(self, error: Exception | None) -> Any:
        raise ApiError(400, f"the request body is not valid JSON: {error}", code="invalid_json")

    async def get_data(  # type: ignore[override]
        self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False
    ) -> str | bytes:
        # Quart decodes text with a bare .decode(): a body that is not UTF-8 escaped as a 500.
        try:
            return await super().get_data(cache, as_text, parse_form_data)
        except UnicodeDecodeError as error:
            raise ApiError(
                400, f"the request body is not valid UTF-8: {error}", code="invalid_encoding"
            ) from None

    async def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        try:
            return await super().get_json(force=force, silent=silent, cache=cache)
        except ApiError:
            if silent:
                return None
            raise


def _missing_json_body(exc: RequestSchemaValidationError) -> ApiError | None:
    """Schema validation of a body that was not sent as JSON fails on "Input should be a valid dictionary";
    name the actual problem instead (body schemas only: query strings and headers have their own subclasses;
    form posts are validated as forms)."""
    form = request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data")
    if type(exc) is not RequestSchemaValidationError or request.is_json or form:
        return None
    if request.content_length or request.mimetype:
        return ApiError(
            415,
            f"send the body as JSON with Content-Type: application/json (got {request.mimetype or 'no type'})",
        )
    return ApiError(422, "a JSON request body is required", details=[{"field": None, "message": "required"}])


def out_of_space(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a full disk: ``ENOSPC`` from the OS or SQLite's "database or disk
    is full" (SQLAlchemy wraps it; the driver's error is in the chain)."""
    import errno

    seen: BaseException | None = exc
    for _ in range(8):  # causes are short chains; the bound guards against cycles
        if seen is None:
            return False
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "database or disk is full" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def install_error_handlers(app: Quart) -> None:
    app.request_class = ClearJsonRequest

    @app.errorhandler(ApiError)
    async def _api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.errorhandler(RivetrError)
    async def _rivetr_error(exc: RivetrError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(RequestSchemaValidationError)
    async def _schema_error(exc: RequestSchemaValidationError) -> Response:
        missing = _missing_json_body(exc)
        if missing is not None:
            return error_response(missing.status, missing.code, missing.message, missing.details)
        details = _pydantic_details(exc.validation_error)
        first = details[0] if details else {"field": None, "message": "invalid request body"}
        message = f"{first['field']}: {first['message']}" if first.get("field") else str(first["message"])
        return error_response(422, "validation_error", message, details)

    @app.errorhandler(HTTPException)
    async def _http_error(exc: HTTPException) -> Response | HTTPException:
        status = exc.code or 500
        if not wants_json() and status == 404:
            return exc
        headers = {}
        valid_methods = getattr(exc, "valid_methods", None)
        if status == 405 and valid_methods:
            headers["Allow"] = ", ".join(valid_methods)
        return error_response(
            status, _CODES.get(status, "error"), str(exc.description or exc.name or "error"), None, headers
        )

    @app.errorhandler(Exception)
    async def _unexpected(exc: Exception) -> Response:
        if out_of_space(exc):
            # Not a bug of ours: the operator must free space. The transaction was rolled back, nothing is
            # half-written, and the server carries on once there is room again.
            log.error("no space left on the data dir's disk (%s %s)", request.method, request.path)
            return error_response(
                507,
                "insufficient_storage",
                "no space left on the server's disk; free some space and try again",
            )
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "internal server error (see the server log)")
