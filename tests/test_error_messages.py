"""One style of field error (issue 21): every message the validation layer produces for a bad body is in
sentence case, without a closing full stop, and names its field (``details[].field``, and the top-level message
is ``"<field>: <message>"``), whichever check refused it: pydantic's own type checks, our validators'
``ValueError`` texts, a service's ``ValidationFailed``/``Conflict``/``NotFound`` on a field."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from quart import Blueprint

from rivetr_core import hookimpl
from rivetr_core.contract import BlueprintRegistration, requires
from rivetr_core.contract.errors import Conflict, NotFound, ValidationFailed, sentence
from rivetr_core.errors import validation_error
from tests.support.server import ApiClient

GIT = "https://example.com/acme/site.git"


def assert_one_style(body: dict[str, Any], field: str) -> None:
    error = body["error"]
    details = error["details"]
    assert isinstance(details, list) and details, body
    first = details[0]
    assert first["field"] == field, body
    for detail in details:
        message = detail["message"]
        # Sentence case: a capital, or a quoted value ("'nodot' is not a fully qualified host name").
        assert message[:1].isupper() or message[:1] == "'", f"not sentence case: {detail}"
        assert not message.endswith("."), f"closing full stop: {detail}"
    # The top-level message names the field first; a conflict may say more there than its detail does
    # ("name: An app named 'site' already exists" beside "Already taken").
    prefix = f"{first['field']}: "
    assert error["message"].startswith(prefix), body
    summary = error["message"][len(prefix) :]
    assert summary[:1].isupper() or summary[:1] == "'", body
    assert not summary.endswith("."), body


async def test_bad_bodies_get_sentence_case_messages_that_name_the_field(api: ApiClient) -> None:
    project_status, project = await api.post("/api/projects", json={"name": "shop"})
    assert project_status == 201, project
    created_status, app = await api.post("/api/apps", json={"name": "site", "git_url": GIT, "port": 8000})
    assert created_status == 201, app

    cases: list[tuple[str, str, dict[str, Any], int, str]] = [
        # pydantic's own messages ("Field required", "Input should be ...")
        ("POST", "/api/apps", {"git_url": GIT}, 422, "name"),
        ("PUT", f"/api/apps/{app['id']}", {"port": "nope"}, 422, "port"),
        # our validators' ValueError texts, written lower-case in the source
        ("POST", "/api/apps", {"name": "Not A DNS Name", "git_url": GIT}, 422, "name"),
        ("POST", "/api/apps", {"name": "site2", "git_url": GIT, "domains": ["nodot"]}, 422, "domains"),
        # a service's refusals on one field: ValidationFailed, Conflict, NotFound
        ("POST", f"/api/apps/{app['id']}/scheduled-deployments", {"at": "2001-01-01T00:00:00Z"}, 422, "at"),
        ("POST", "/api/apps", {"name": "site", "git_url": GIT}, 409, "name"),
        ("POST", "/api/apps", {"name": "site3", "git_url": GIT, "project_id": "nope"}, 404, "project_id"),
        ("POST", "/api/projects", {"name": "shop"}, 409, "name"),
    ]
    for method, path, body, status, field in cases:
        got_status, answer = await api.request(method, path, json=body)
        assert got_status == status, (method, path, body, answer)
        assert_one_style(answer, field)


def test_the_field_error_builders_share_the_style() -> None:
    """The builders services and handlers raise: the message they were given lower-case comes out in sentence
    case, in the detail and after the field's name."""
    for error in (
        ValidationFailed.on("schedule", "must be five cron fields"),
        Conflict.on("name", "already taken", summary="an app named 'x' already exists"),
        NotFound.on("project_id", "no such project"),
    ):
        assert error.details[0]["message"][:1].isupper(), error.details
        field = error.details[0]["field"]
        assert error.message.startswith(f"{field}: ") and error.message[len(field) + 2].isupper(), (
            error.message
        )
    api_error = validation_error("port", "must be between 1 and 65535")
    assert api_error.message == "port: Must be between 1 and 65535"


def test_sentence_leaves_names_values_and_paths_as_spelled() -> None:
    assert sentence("must be a host name") == "Must be a host name"
    assert sentence("Field required") == "Field required"
    # A field name, a quoted value, a path or a nested field's label are written as they are spelled.
    assert sentence("git_url is not a URL") == "git_url is not a URL"
    assert sentence("'x' is not a host name") == "'x' is not a host name"
    assert sentence("/data: not under an allowed root") == "/data: not under an allowed root"
    assert sentence("retries: must be at least 1") == "retries: must be at least 1"
    assert sentence("app.example.com is the dashboard's") == "app.example.com is the dashboard's"
    assert sentence("") == ""


# --- Every error answer's top-level message, not only field errors (issue 21: "one style of error message") ---

#: A message may start with something spelled as written: a quoted value, a path, a field (``name: ...``), an
#: identifier with ``_``/``.``/digits, a URL. Anything else starts with a capital.
_AS_WRITTEN = re.compile(r"^(?:['\"/\[({<*]|[^\s]*[_.:/0-9])")


def assert_sentence_case(body: Any, where: str) -> None:
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), (where, body)
    message = body["error"]["message"]
    assert isinstance(message, str) and message, (where, body)
    assert message[:1].isupper() or _AS_WRITTEN.match(message), f"{where}: not sentence case: {message!r}"
    details = body["error"]["details"]
    for detail in details if isinstance(details, list) else []:
        text = detail.get("message") if isinstance(detail, dict) else None
        if isinstance(text, str) and text:
            assert text[:1].isupper() or _AS_WRITTEN.match(text), (
                f"{where}: detail not sentence case: {detail}"
            )


class _PluginWithAnError:
    """A third-party plugin's API route raising a domain error written lower-case, as plugin authors do."""

    def __init__(self) -> None:
        bp = Blueprint("error_style_plugin", __name__)

        @bp.get("/api/error-style-plugin/widget")
        @requires("read")
        async def widget() -> dict[str, str]:
            raise Conflict("widget 'w' is locked by another deployment")

        self.bp = bp

    @hookimpl
    def rivetr_blueprints(self) -> list[BlueprintRegistration]:
        return [BlueprintRegistration(name=self.bp.name, blueprint=self.bp)]


@pytest.fixture
async def api_with_plugin(config_factory: Callable[..., Any]) -> AsyncIterator[ApiClient]:
    from rivetr_core.app import create_app

    app = create_app(config_factory(), plugins=[_PluginWithAnError()])
    async with app.test_app():
        yield ApiClient(app)


async def test_every_kind_of_error_answer_is_in_sentence_case(api_with_plugin: ApiClient) -> None:
    """A broad sample through the real app: the 404 of every GET route that names a resource (walked from the
    OpenAPI document, so a new resource kind is covered), 409s, 401/403, bodies that are not JSON, an unknown
    route, a plugin's error."""
    api = api_with_plugin
    status, project = await api.post("/api/projects", json={"name": "shop"})
    assert status == 201, project
    status, app = await api.post("/api/apps", json={"name": "site", "git_url": GIT, "port": 8000})
    assert status == 201, app

    answers: list[tuple[str, int, Any]] = []

    async def call(method: str, path: str, **kwargs: Any) -> None:
        status, body = await api.request(method, path, **kwargs)
        answers.append((f"{method} {path} {kwargs or ''}", status, body))

    status, document = await api.get("/openapi.json")
    assert status == 200
    resource_paths = [p for p, ops in document["paths"].items() if "{" in p and "get" in ops]
    assert len(resource_paths) > 40, resource_paths
    for path in resource_paths:
        await call("GET", re.sub(r"\{[^}]+\}", "nope", path))

    await call("POST", "/api/projects", json={"name": "shop"})  # 409 on a field
    await call("DELETE", f"/api/projects/{project['id']}/nope")  # an unknown route under a real resource
    await call("GET", "/api/apps", auth=False)  # 401: no token
    await call("GET", "/api/apps", auth=False, headers={"Authorization": "Bearer wrong-token"})
    status, reader = await api.post("/api/tokens", json={"name": "reader", "scopes": ["read"]})
    assert status == 201, reader
    read_only = {"auth": False, "headers": {"Authorization": f"Bearer {reader['token']}"}}
    await call("POST", "/api/apps", json={"name": "x", "git_url": GIT}, **read_only)  # 403
    await call("POST", "/api/tokens", json={"name": "more", "scopes": ["write"]}, **read_only)
    json_type = {"Content-Type": "application/json"}
    await call("POST", "/api/apps", data=b'{"name": ', headers=json_type)  # malformed JSON
    await call("POST", "/api/apps", data=b'{"name": "\xff"}', headers=json_type)  # not UTF-8
    await call("POST", "/api/apps", data=b"name=x", headers={"Content-Type": "text/plain"})  # not JSON at all
    await call("POST", "/api/apps")  # no body
    await call("PATCH", f"/api/apps/{app['id']}")  # 405
    await call("GET", "/api/error-style-plugin/widget")  # a plugin's own error

    errors = [(where, status, body) for where, status, body in answers if status >= 400]
    statuses = {status for _where, status, _body in errors}
    assert {400, 401, 403, 404, 405, 409, 415, 422} <= statuses, sorted(statuses)
    plugin = next(body for where, _status, body in errors if "error-style-plugin" in where)
    assert plugin["error"]["message"] == "Widget 'w' is locked by another deployment", plugin
    for where, _status, body in errors:
        assert_sentence_case(body, where)


def test_sentence_leaves_program_names_as_spelled() -> None:
    """A program spelled lower-case stays so first in a message; an ordinary first word does not."""
    assert sentence("iptables is not installed") == "iptables is not installed"
    assert sentence("ssh-keygen failed") == "ssh-keygen failed"
    assert sentence("app 'x' not found") == "App 'x' not found"
    assert (
        sentence("https://example.com/x.git is not reachable") == "https://example.com/x.git is not reachable"
    )
