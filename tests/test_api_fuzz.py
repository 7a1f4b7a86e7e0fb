"""The API holds to its OpenAPI document under fuzzing (schemathesis), and the document describes the API only.

The fuzz test runs schemathesis (all phases: examples, coverage, fuzzing, stateful) with the admin token against a
real ``rivetr serve`` with a fixed seed and a bounded example count, and asserts no response >= 500 and no failure
of any check: undocumented status codes, content types, headers or bodies; operations that ignore the declared
auth; schema-valid requests rejected (but where JSON Schema cannot say what is valid, see
``SEMANTIC_EXCLUSIONS``); ``Allow`` headers. ``bench/fuzz_api.py`` is the long run.

The server runs with the rate limiter off (it would answer 429 to most of a fuzzer's burst: documented, but it
would starve every other check) and the container runtime it detects (deploys of fuzzed apps fail at the clone:
their git URLs lead nowhere).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.fuzz import run_fuzz
from tests.support.server import ApiClient

# Its server never deploys, but the fuzzer turns on and runs cleanups, whose build-cache prune empties the
# engine's whole build cache: it runs with the Docker engine tests, never beside them (tests/support/workers.py).

PUBLIC_OPERATIONS = {
    ("post", "/api/auth/login"),
    ("post", "/api/auth/login/2fa"),  # the second step of a two-factor login: its challenge is the credential
    ("post", "/api/auth/login/2fa/passkey/options"),  # a passkey's options for that step: the same credential
    ("post", "/api/auth/setup"),
    ("get", "/api/auth/status"),
    # One-time links: the token in the path is the credential (docs/users.md).
    ("get", "/api/invitations/{invitation}"),
    ("post", "/api/invitations/{invitation}/accept"),
    ("post", "/api/auth/reset/{token}"),
    ("post", "/webhooks/{provider}"),
}
#: Anyone may call it; a credential adds details.
OPTIONAL_AUTH_OPERATIONS = {("get", "/health")}


async def _spec(api: ApiClient) -> dict[str, Any]:
    status, spec = await api.get("/openapi.json")
    assert status == 200
    return spec


async def test_document_describes_the_api_only(api: ApiClient) -> None:
    paths = set((await _spec(api))["paths"])
    pages = {rule.rule for rule in api.app.url_map.iter_rules() if rule.endpoint.startswith("ui.")}
    assert pages, "expected the dashboard blueprint to be installed"
    assert not {p for p in paths if not p.startswith(("/api/", "/webhooks/", "/health", "/metrics"))}
    assert "/api/apps" in paths and "/health" in paths and "/webhooks/{provider}" in paths


async def test_every_operation_declares_its_auth_and_errors(api: ApiClient) -> None:
    spec = await _spec(api)
    assert spec["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert error["properties"]["error"]["required"] == ["code", "message", "details"]
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            where = f"{method.upper()} {path}"
            public = (method, path) in PUBLIC_OPERATIONS or (method, path) in OPTIONAL_AUTH_OPERATIONS
            if (method, path) in OPTIONAL_AUTH_OPERATIONS:
                assert op["security"] == [{}, {"bearer": []}], where
            else:
                assert op["security"] == ([] if public else [{"bearer": []}]), where
            responses = op["responses"]
            assert any(code.startswith("2") for code in responses), where
            if not public:
                assert "401" in responses, where
            if "{" in path:
                assert {"404", "422"} <= set(responses), where
            if "application/json" in op.get("requestBody", {}).get("content", {}):
                assert {"400", "415", "422"} <= set(responses), where
            for code, response in responses.items():
                if code[0] in "45" and path != "/health":  # /health's 503 is its own body (degraded)
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, f"{where} {code}"


async def test_rate_limited_operations_declare_429(config_factory: Callable[..., Any]) -> None:
    from rivetr_core.app import create_app

    app = create_app(config_factory(rate_limit={"enabled": True}))
    async with app.test_app():
        spec = await _spec(ApiClient(app))
    assert "429" in spec["paths"]["/api/apps"]["get"]["responses"]
    assert "429" in spec["paths"]["/webhooks/{provider}"]["post"]["responses"]
    assert "429" not in spec["paths"]["/health"]["get"]["responses"]


async def test_metrics_security_follows_the_config(config_factory: Callable[..., Any]) -> None:
    from rivetr_core.app import create_app

    for public, security in ((False, [{"bearer": []}]), (True, [])):
        app = create_app(config_factory(metrics={"public": public}))
        async with app.test_app():
            spec = await _spec(ApiClient(app))
        assert spec["paths"]["/metrics"]["get"]["security"] == security


async def test_a_missing_reference_is_a_declared_404(api: ApiClient) -> None:
    # A well-formed body naming a project that does not exist: 404 naming the field, and documented (the fuzzer
    # found it undeclared on POST /api/apps, which has no path parameter to imply a 404).
    body = {"name": "ref", "git_url": "https://example.com/a/b.git", "project_id": "nope"}
    status, answer = await api.post("/api/apps", json=body)
    assert status == 404 and answer["error"]["details"][0]["field"] == "project_id"
    assert "404" in (await _spec(api))["paths"]["/api/apps"]["post"]["responses"]


async def test_a_body_that_is_not_utf8_is_a_400(api: ApiClient) -> None:
    # Quart decoded it with a bare .decode(): UnicodeDecodeError, a 500 (found by the fuzzer).
    for path in ("/api/projects", "/api/apps/x/deploy"):
        status, body = await api.post(path, data=b"\xff\xfe{", headers={"Content-Type": "application/json"})
        assert status == 400, (path, status, body)
        assert body["error"]["code"] == "invalid_encoding"


async def test_a_cursor_key_beyond_sqlite_integers_is_a_422(api: ApiClient) -> None:
    # SQLite integers stop at 2**63: a larger key reached the query and failed there (a 500). The audit log's
    # cursor holds an integer id.
    from rivetr_core.pagination import encode_cursor

    for key in ((datetime.now(UTC), 2**64), (datetime.now(UTC), -(2**63) - 1)):
        status, body = await api.get(f"/api/audit?cursor={encode_cursor(key)}")
        assert status == 422, (key, status, body)
        assert body["error"]["details"][0]["field"] == "cursor"


@pytest.mark.slow
# 160 s in CI with the rest part beside the engine tests; regex-shaped fields (placement constraints) make
# generation costlier, and a loaded machine doubles it: the suite-wide 300 s would cut a run that is not stuck.
@pytest.mark.timeout(600)
def test_schemathesis_finds_no_server_error_and_no_contradiction(rivetr_server: Callable[..., Any]) -> None:
    server = rivetr_server(env={"RIVETR_RATE_LIMIT__ENABLED": "false"})
    # negative_data_rejection is left out: the server accepts more than the document promises (pydantic's lax
    # mode takes 0/1 for a boolean; some documented patterns are a strict subset of the check, e.g. git URLs).
    # That is leniency towards clients, never a response that contradicts the document; bench/fuzz_api.py
    # counts them.
    # GET /api/apps/{app_id}/build-plan is left out: it clones the app's repository while the request waits, so
    # a fuzzed git_url makes it an outbound network call as long as the clone's timeout (tests talk to loopback
    # only); tests/test_build_plan_api.py covers its answers against a real git daemon. POST /api/git/check too
    # (git ls-remote of the fuzzed URL): tests/test_git_check.py.
    report = run_fuzz(
        server.url,
        server.token,
        max_examples=10,
        seed=20261205,
        exclude_checks=["negative_data_rejection"],
        extra=["--exclude-path", "/api/apps/{app_id}/build-plan", "--exclude-path", "/api/git/check"],
    )
    assert report.cases >= 1000, report.describe()
    assert not report.errors, report.describe()
    assert not report.server_errors, report.describe()
    assert not report.failures, report.describe()
