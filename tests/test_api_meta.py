"""Meta-tests over the whole route map: every /api route needs the token; every route is in the OpenAPI doc."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.server import ApiClient

ROOT = Path(__file__).resolve().parents[1]


def _api_rules(app) -> list:  # type: ignore[no-untyped-def]
    return [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")]


async def test_every_api_route_requires_a_token(api: ApiClient) -> None:
    from rivetr_core.auth import PUBLIC_API_PATHS

    rules = _api_rules(api.app)
    assert len(rules) >= 3
    for rule in rules:
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"x\1", rule.rule)
        if path in PUBLIC_API_PATHS:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            status, body = await api.request(method, path, auth=False)
            assert status == 401, f"{method} {rule.rule} answered {status} without a token"
            assert body["error"]["code"] == "unauthorized"


async def test_every_api_route_is_documented(api: ApiClient) -> None:
    status, spec = await api.get("/openapi.json")
    assert status == 200
    documented = set(spec["paths"])
    for rule in _api_rules(api.app):
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        if rule.websocket:
            continue
        assert path in documented, f"{rule.rule} is missing from /openapi.json"


async def test_rate_limit_per_client(config_factory) -> None:  # type: ignore[no-untyped-def]
    from rivetr_core.app import create_app

    app = create_app(config_factory(rate_limit={"enabled": True, "requests_per_minute": 60, "burst": 3}))
    async with app.test_app():
        client = ApiClient(app)
        statuses = [(await client.get("/api/plugins"))[0] for _ in range(5)]
        assert statuses[:3] == [200, 200, 200]
        assert statuses[3] == 429
        _status, body = await client.get("/api/plugins")
        assert body["error"]["code"] == "rate_limited" and body["error"]["details"]["retry_after"] >= 1


async def test_every_api_websocket_requires_a_token(api: ApiClient) -> None:
    from quart.testing import WebsocketResponseError

    rules = [r for r in api.app.url_map.iter_rules() if r.websocket and r.rule.startswith("/api/")]
    assert rules, "expected the log-stream WebSockets"
    for rule in rules:
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"x\1", rule.rule)
        for query in ("", "?token=wrong"):
            try:
                async with api.client.websocket(path + query) as ws:
                    await ws.receive()
            except WebsocketResponseError as exc:
                assert exc.response.status_code == 401, f"{rule.rule} answered {exc.response.status_code}"
            else:
                raise AssertionError(f"{rule.rule} accepted a WebSocket without a valid token")


def test_an_endpoints_models_are_built_once_by_its_first_request(tmp_path: Path) -> None:
    """Deferred models (rivetr_core.apimodel) are built by the first request that validates with them (a fresh
    interpreter, so no other test built them first): quart-schema validates through a new TypeAdapter per request,
    which regenerated an unbuilt model's whole schema every time."""
    import subprocess
    import sys

    code = (
        "import asyncio\n"
        "from pathlib import Path\n"
        "from tests.support.server import make_config, ADMIN_TOKEN\n"
        "from rivetr_core.app import create_app\n"
        "from rivetr_core.api.audit import AuditQuery\n"
        "async def main():\n"
        f"    app = create_app(make_config(Path({str(tmp_path)!r})))\n"
        "    async with app.test_app():\n"
        "        before = AuditQuery.__pydantic_complete__\n"
        "        r = await app.test_client().get('/api/audit?limit=5', headers={'Authorization': 'Bearer ' + ADMIN_TOKEN})\n"
        "        print(before, r.status_code, AuditQuery.__pydantic_complete__)\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "200", "True"], out.stdout + out.stderr


def test_the_lazy_api_manifest_is_current() -> None:
    """rivetr_core/api/manifest.py lists every core API route, registered at start-up before its module loads
    (rivetr_core.api.lazy): a route added, removed or changed without regenerating it would not be served."""
    from rivetr_core.api.lazy import FIX
    from rivetr_core.api.manifest_build import stale

    differences = stale()
    assert not differences, "the API manifest is stale:\n" + "\n".join(differences) + f"\n{FIX}"
