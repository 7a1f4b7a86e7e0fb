"""The configuration-as-code models and files (rivetr_core.iac.model, .files): the API's own rules, errors that
name the key with its line and column, the published JSON Schemas, TOML written and read back."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from rivetr_core.contract.errors import ValidationFailed
from rivetr_core.iac.files import dump_toml, key_positions, load, parse_toml, validate
from rivetr_core.iac.model import APP_KEYS, AppFile, ProjectFile, json_schema

DOCS = Path(__file__).resolve().parents[1] / "docs"

APP = """# rivetr.toml
port = 8000
builder = "auto"
health_check = { kind = "http", path = "/healthz" }
secrets = ["DATABASE_PASSWORD"]
memory_limit = "512m"

[env]
LOG_LEVEL = "info"

[[volumes]]
name = "uploads"
mount_path = "/app/uploads"
"""


def errors(model: type, text: str) -> list[dict[str, object]]:
    with pytest.raises(ValidationFailed) as caught:
        load(model, text)
    assert caught.value.status == 422
    return list(caught.value.details)


def test_the_issue_s_minimal_file_loads_with_the_api_s_normalisation() -> None:
    app = load(AppFile, APP)
    settings = app.model_dump(exclude_unset=True)  # the settings' fields come from AppUpdate (create_model)
    assert (
        settings["port"] == 8000 and settings["memory_limit"] == 512 * 1024**2
    )  # "512m" as the apps API reads it
    assert settings["health_check"] == {"kind": "http", "path": "/healthz"}
    assert app.env == {"LOG_LEVEL": "info"} and app.secrets == ["DATABASE_PASSWORD"]
    assert [(v.name, v.mount_path, v.kind) for v in app.volumes] == [("uploads", "/app/uploads", "volume")]
    assert app.model_fields_set >= {"port", "builder", "health_check", "memory_limit"}


def test_a_value_the_api_refuses_is_refused_with_the_api_s_message_at_its_line() -> None:
    from pydantic import ValidationError

    from rivetr_core.api.appschema import AppUpdate

    with pytest.raises(ValidationError) as api_error:
        AppUpdate.model_validate({"memory_limit": "3m"})
    api_message = api_error.value.errors()[0]["msg"].removeprefix("Value error, ")
    found = errors(AppFile, APP.replace('"512m"', '"3m"'))
    assert found == [{"field": "memory_limit", "message": api_message, "line": 6, "column": 1}]
    assert api_message == "must be at least 4m (0: unlimited)"


def test_errors_in_arrays_of_tables_and_nested_tables_name_their_own_line() -> None:
    text = """[project]
name = "shop"

[[services]]
name = "db"
type = "postgres"

[[apps]]
name = "web"
  port = 8000

[[apps]]
name = "api"
port = 70000

[apps.env]
"1BAD" = "x"

[[apps.volumes]]
name = "data"
mount_path = "/data"

[[apps.volumes]]
name = "cache"
bogus = true
"""
    found = {d["field"]: (d["line"], d["column"], d["message"]) for d in errors(ProjectFile, text)}
    assert found["apps[1].port"] == (14, 1, "Input should be less than or equal to 65535")
    assert found["apps[1].env.1BAD"] == (17, 1, "must be letters, digits and '_' and not start with a digit")
    assert found["apps[1].volumes[1].bogus"] == (25, 1, "Extra inputs are not permitted")
    # A required key that is missing: the line of the table that lacks it.
    assert found["apps[1].volumes[1].mount_path"] == (23, 1, "Field required")
    assert key_positions(text)[("apps", 0, "port")] == (10, 3)


def test_syntax_errors_name_line_and_column() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_toml('port = 8000\nbuilder = "auto\n')
    assert caught.value.code == "invalid_toml"
    detail = caught.value.details[0]
    assert detail["line"] == 2 and detail["column"] >= 1 and detail["field"] is None
    with pytest.raises(ValidationFailed) as caught:
        parse_toml("port = 8000\nbuilder =")
    assert (caught.value.details[0]["line"], caught.value.details[0]["column"]) == (2, 10)


def test_file_rules_secrets_are_names_names_are_unique() -> None:
    found = errors(AppFile, 'secrets = ["LOG_LEVEL"]\n[env]\nLOG_LEVEL = "x"\n')
    assert found[0]["message"] == "LOG_LEVEL: a secret has no value in the file (remove it from env)"
    found = errors(AppFile, 'secrets = ["PORT"]\n')
    assert "PORT is set by Rivetr" in str(found[0]["message"]) and found[0]["line"] == 1
    text = '[project]\nname = "p"\n[[services]]\nname = "x"\ntype = "redis"\n[[apps]]\nname = "x"\n'
    assert "unique across the project's apps, services and stacks" in str(
        errors(ProjectFile, text)[0]["message"]
    )
    with pytest.raises(ValidationFailed) as caught:  # JSON documents: the key without a line
        validate(ProjectFile, {"project": {"name": "Not DNS"}})
    assert caught.value.details[0]["field"] == "project.name" and "line" not in caught.value.details[0]


def test_schemas_take_the_api_s_field_rules_without_null() -> None:
    from rivetr_core.api.appschema import AppUpdate

    schema = json_schema("rivetr.toml")
    for key in APP_KEYS:
        assert key in schema["properties"], key
        assert AppUpdate.model_fields[key].description == schema["properties"][key].get("description"), key
    assert schema["properties"]["port"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 65535,
        "description": AppUpdate.model_fields["port"].description,
        "title": "Port",
    }
    assert '"null"' not in str(schema).replace("'", '"')  # TOML has no null: absent means not managed
    project = json_schema("project.toml")
    assert set(project["properties"]) == {"project", "services", "apps", "stacks", "notifications"}
    assert "name" in project["$defs"]["ProjectApp"]["required"]


def test_dump_then_load_gives_the_same_document() -> None:
    document = load(
        ProjectFile, dump_toml({"project": {"name": "shop"}, "apps": [{"name": "web", **parse_toml(APP)}]})
    )
    assert document.apps[0].model_dump()["port"] == 8000 and document.apps[0].env == {"LOG_LEVEL": "info"}
    assert dump_toml({"a": None, "b": {"c": None, "d": 1}}) == "[b]\nd = 1\n"


def test_the_key_reference_in_the_docs_is_current() -> None:
    generator = runpy.run_path(str(DOCS / "gen_iac.py"))
    assert (DOCS / "config-as-code.md").read_text() == generator["render"](), "run python docs/gen_iac.py"
