"""What ``/openapi.json`` says: the API only, with the statuses, error shape and auth every operation really has.

quart-schema documents what a handler declares (its request, query and response models). What every handler
shares is declared here once, so a new route is documented correctly without repeating it:

* only API paths (:data:`rivetr_core.errors.API_PATH_PREFIXES`); the dashboard's pages are not operations;
* ``security``: the bearer token wherever :func:`rivetr_core.auth.token_required` asks for one, none elsewhere
  (a handler may declare its own with quart-schema's ``security_scheme``);
* the error responses, all in the ``Error`` shape ``{"error": {"code", "message", "details"}}``: 401 where a
  token is required, 429 where the rate limiter applies, 404 and 422 where there are path parameters or a query
  model, 400/413/415/422 where there is a JSON body, 409 on every change under /api/ (a taken name, a resource
  in use, a deployment past the point of no return); anything else a handler answers is named with
  :func:`responds` (a 401 from a public operation, 502 from a git host, 503 without a container engine ...);
* a ``2XX`` success for handlers that declare no success model (their body is not described, their status is
  one of the 2xx).

``tests/test_api_fuzz.py`` holds the document to what the server answers (schemathesis).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from quart_schema import OpenAPIProvider
from werkzeug.routing.rules import Rule

from .errors import _CODES, is_api_path

F = TypeVar("F", bound=Callable[..., Any])

#: Error statuses a handler declared with :func:`responds`.
RESPONDS_ATTRIBUTE = "_rivetr_responds"
#: Set by :func:`optional_body` on handlers that also work without a request body.
OPTIONAL_BODY_ATTRIBUTE = "_rivetr_optional_body"
#: Set by :func:`security` on handlers outside /api/ that check a credential themselves.
SECURITY_ATTRIBUTE = "_rivetr_security"
ALSO_RETURNS_ATTRIBUTE = "_rivetr_also_returns"

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "description": "Every API error: a stable machine code, a message for people and optional details "
    "(the offending fields of a validation error, for instance).",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "examples": ["not_found"]},
                "message": {"type": "string"},
                "details": {"description": "Anything that helps: a list of field errors, an id ..."},
            },
        }
    },
}

_DESCRIPTIONS = {
    400: "Malformed request (a body that is not valid JSON, a bad parameter).",
    401: "Missing or invalid credentials.",
    403: "Authenticated, but not allowed.",
    404: "No such resource.",
    409: "Conflicts with the current state (a duplicate name, a deployment already running ...).",
    413: "Request body too large.",
    415: "The body is not JSON (send Content-Type: application/json).",
    422: "Invalid input; ``details`` names each offending field.",
    429: "Too many requests; retry after ``Retry-After`` seconds.",
    502: "An upstream (git host, ACME server, proxy) failed.",
    503: "A component the operation needs (container engine, proxy) is unavailable.",
}

_HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}}},
    429: {"Retry-After": {"schema": {"type": "string"}}},
}


def responds(*statuses: int) -> Callable[[F], F]:
    """Declare error statuses a handler answers beyond those every operation of its kind gets (see module
    doc), e.g. ``@responds(409)`` where a name must be unique."""

    def decorate(func: F) -> F:
        declared = set(getattr(func, RESPONDS_ATTRIBUTE, ())) | set(statuses)
        setattr(func, RESPONDS_ATTRIBUTE, frozenset(declared))
        return func

    return decorate


def security(
    requirement: list[dict[str, list[str]]] | Callable[[Any], list[dict[str, list[str]]]],
) -> Callable[[F], F]:
    """Declare the security of a handler that checks credentials itself (outside the /api/ guard): an OpenAPI
    security list, or a function of the server's config returning one. ``[{}, {"bearer": []}]`` is optional
    auth (more with a token); ``[]`` is public."""

    def decorate(func: F) -> F:
        setattr(func, SECURITY_ATTRIBUTE, requirement)
        return func

    return decorate


def also_returns(content_type: str, description: str) -> Callable[[F], F]:
    """Declare a second media type of the success response (``?download=1`` answering a text file)."""

    def decorate(func: F) -> F:
        setattr(
            func,
            ALSO_RETURNS_ATTRIBUTE,
            {**getattr(func, ALSO_RETURNS_ATTRIBUTE, {}), content_type: description},
        )
        return func

    return decorate


def optional_body(func: F) -> F:
    """The documented request body may be left out (quart-schema's ``validate_request`` needs one)."""
    setattr(func, OPTIONAL_BODY_ATTRIBUTE, True)
    return func


def error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _DESCRIPTIONS.get(status, _CODES.get(status, "error").replace("_", " ")),
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if status in _HEADERS:
        response["headers"] = copy.deepcopy(_HEADERS[status])
    return response


#: What :func:`_installed_names` returns for a branch that must go (``None`` is JSON's null: a ``default`` may be it).
_NOTHING = object()


def _installed_names(node: Any, plugins: Any) -> Any:
    """A copy of ``node`` where ``{"x-rivetr-names": "builders"}`` (or ``"plugin_health_checks"``) becomes an
    ``enum`` of what this server has installed, so the document accepts exactly the names the API does; a
    ``oneOf`` branch left with no name to take is dropped."""
    if isinstance(node, list):
        filled = [_installed_names(item, plugins) for item in node]
        return [item for item in filled if item is not _NOTHING]
    if not isinstance(node, dict):
        return node
    if "x-rivetr-names" in node:
        from .engine.selection import AUTO_BUILDER, BUILTIN_KINDS

        which = node["x-rivetr-names"]
        if which == "builders":  # never empty: "auto" is always valid
            from .contract import unavailable_reason

            # An unavailable builder (its CLI missing) is refused by the API, so the document leaves it out.
            installed = plugins.builders() if plugins is not None else {}
            names = [AUTO_BUILDER, *sorted(n for n, reg in installed.items() if not unavailable_reason(reg))]
        elif plugins is None:
            names = []
        else:
            names = sorted(set(plugins.health_checks()) - set(BUILTIN_KINDS))
        if not names:
            return _NOTHING
        return {**{k: v for k, v in node.items() if k != "x-rivetr-names"}, "enum": names}
    out: dict[str, Any] = {}
    for key, value in node.items():
        filled = _installed_names(value, plugins)
        if filled is _NOTHING:  # a property with nothing to take: its whole object branch goes
            return _NOTHING
        out[key] = filled
    return out


class RivetrOpenAPI(OpenAPIProvider):
    """quart-schema's generator, completed as the module doc says."""

    def generate_rules(self) -> Iterable[Rule]:
        from .api.lazy import load_all_views

        load_all_views(self._app)  # the views' schema attributes are read next: import what is still lazy
        return (rule for rule in super().generate_rules() if is_api_path(rule.rule))

    def build_querystring_parameters(self, model: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        # quart-schema drops the model's "required" list: a parameter the handler cannot do without must say so.
        from quart_schema.conversion import model_schema

        parameters, definitions = super().build_querystring_parameters(model)
        schema = model_schema(model, preference=self._app.config["QUART_SCHEMA_CONVERSION_PREFERENCE"])
        required = set(schema.get("required", ()))
        for parameter in parameters:
            if parameter["name"] in required:
                parameter["required"] = True
        return parameters, definitions

    def build_paths(self, rule: Rule) -> tuple[dict, dict]:
        paths, components = super().build_paths(rule)
        func = self._app.view_functions[rule.endpoint]
        for path, operations in paths.items():
            for method, operation in operations.items():
                # quart-schema shares one responses dict between a rule's methods: complete a copy per method.
                operations[method] = self._complete(path, method, {**operation}, func)
        components["Error"] = ERROR_SCHEMA
        # Request bodies are inlined in ``paths``; referenced models are in ``components``.
        plugins = self._app.extensions.get("rivetr")
        return _installed_names(paths, plugins), _installed_names(components, plugins)

    def _complete(
        self, path: str, method: str, operation: dict[str, Any], func: Callable[..., Any]
    ) -> dict[str, Any]:
        from .auth import token_required
        from .ratelimit import rate_limited_path

        # quart-schema keys responses by int; JSON turns keys into strings anyway, and "2XX" is one.
        responses = {str(code): copy.deepcopy(r) for code, r in (operation.get("responses") or {}).items()}
        config = self._app.config["RIVETR"]
        declared = getattr(func, SECURITY_ATTRIBUTE, None)
        if declared is not None:
            operation["security"] = declared(config) if callable(declared) else declared
        elif "security" not in operation:
            operation["security"] = [{"bearer": []}] if token_required(path) else []
        statuses: set[int] = set(getattr(func, RESPONDS_ATTRIBUTE, ()))
        if operation["security"] and {} not in operation["security"]:
            statuses.add(401)
        if config.rate_limit.enabled and rate_limited_path(path):
            statuses.add(429)
        if path.startswith("/api/") and method in ("post", "put", "patch", "delete"):
            # Changes meet the current state: a taken name, a resource still in use, a deployment that
            # already switched ... (see each operation's description).
            statuses.add(409)
        parameters = operation.get("parameters") or []
        if any(p.get("in") == "path" for p in parameters):
            statuses |= {404, 422}
        if any(p.get("in") in ("query", "header") for p in parameters):
            statuses.add(422)
        if "requestBody" in operation:
            operation["requestBody"] = {
                **operation["requestBody"],
                "required": not getattr(func, OPTIONAL_BODY_ATTRIBUTE, False),
            }
        body = (operation.get("requestBody") or {}).get("content", {})
        if "application/json" in body:
            statuses |= {400, 413, 415, 422}
        elif body:
            statuses |= {413, 422}
        for content_type, text in getattr(func, ALSO_RETURNS_ATTRIBUTE, {}).items():
            content = responses.get("200", {}).setdefault("content", {})
            content[content_type] = {"schema": {"type": "string", "description": text}}
        for status in sorted(statuses):
            responses.setdefault(str(status), error_response(status))
        if not any(code.startswith("2") for code in responses):
            responses["2XX"] = {"description": "Success."}
        operation["responses"] = dict(sorted(responses.items()))
        return operation
