"""One style of field error (issue 21): every message the validation layer produces for a bad body is in
sentence case, without a closing full stop, and names its field (``details[].field``, and the top-level message
is ``"<field>: <message>"``), whichever check refused it: pydantic's own type checks, our validators'
``ValueError`` texts, a service's ``ValidationFailed``/``Conflict``/``NotFound`` on a field."""

from __future__ import annotations

from typing import Any

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
