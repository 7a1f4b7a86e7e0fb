"""Core API modules load on their first request (rivetr_core.api.lazy): the app they build is the eager one."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.api.manifest import MANIFEST
from rivetr_core.errors import ApiError
from tests.support.server import ApiClient

ROOT = Path(__file__).resolve().parents[1]
#: What two fresh servers may answer differently: generated ids (resources, request ids) and the time.
_VARYING = re.compile(r"^(?:[0-9a-f]{16,64}|\d{4}-\d\d-\d\dT[\d:.]+Z?|[\d.]+)$")
_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:e-?\d+)?")
LAZY = {path: entry["rules"] for path, entry in MANIFEST.items() if "rules" in entry}


#: Counts of the engine's own state, which the engine tests running beside this one change between two probes.
_VARYING_KEYS = frozenset({"running_tasks"})


def _comparable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: "<varies>" if key in _VARYING_KEYS else _comparable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    if isinstance(value, str | float) and _VARYING.match(str(value)):
        return "<varies>"
    if isinstance(value, str):  # a text body (/metrics): its counts and timings
        return _NUMBER.sub("N", value)
    return value


def _rules(app: Any) -> list[tuple[Any, ...]]:
    return [
        (
            r.rule,
            r.endpoint,
            sorted(r.methods or ()),
            r.websocket,
            r.defaults,
            r.strict_slashes,
            r.provide_automatic_options,
            r.subdomain,
            r.host,
            r.merge_slashes,
            r.build_only,
            r.redirect_to,
        )
        for r in app.url_map.iter_rules()
    ]


async def _document(app: Any) -> dict[str, Any]:
    async with app.test_app():
        status, document = await ApiClient(app).get("/openapi.json")
    assert status == 200
    return document  # type: ignore[no-any-return]


async def test_the_url_map_and_openapi_document_are_those_of_eager_imports(
    config_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same rules in the same order (url_for, authz's route map and the meta-tests walk them) and the same
    /openapi.json, byte for byte, as when every API module is imported and registered at start-up."""
    from rivetr_core import app as app_module

    assert len(LAZY) > 30
    lazy = app_module.create_app(config_factory())
    lazy_rules = _rules(lazy)
    lazy_views = lazy.extensions["rivetr_lazy_views"]
    assert lazy_views._pending, "expected endpoints still waiting for their module"
    lazy_document = await _document(lazy)
    assert not lazy_views._pending, "the OpenAPI document loads every lazy module"

    monkeypatch.setattr(app_module, "MANIFEST", {})
    eager = app_module.create_app(config_factory())
    assert not eager.extensions["rivetr_lazy_views"]._pending
    assert lazy_rules == _rules(eager)
    assert json.dumps(lazy_document) == json.dumps(await _document(eager))


async def test_a_blueprint_the_manifest_does_not_know_registers_eagerly(
    config_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A core blueprint added without regenerating the manifest still serves (the manifest test flags it)."""
    from rivetr_core import app as app_module

    monkeypatch.setattr(
        app_module, "MANIFEST", {k: v for k, v in MANIFEST.items() if k != "rivetr_core.api.tags:bp"}
    )
    app = app_module.create_app(config_factory())
    assert "tags_api" in app.blueprints
    assert not any(
        p == "rivetr_core.api.tags:bp" for p in app.extensions["rivetr_lazy_views"]._pending.values()
    )
    async with app.test_app():
        status, body = await ApiClient(app).get("/api/tags")
    assert status == 200 and body == {"items": [], "next": None}


def test_a_stub_called_without_a_request_hook_loads_its_view(config_factory: Callable[..., Any]) -> None:
    """Quart dispatches through ``app.view_functions``: a caller that skips the hooks still reaches the real view."""
    from rivetr_core.app import create_app

    app = create_app(config_factory())
    stub = app.view_functions["tags_api.list_tags"]
    assert stub.__name__ == "lazy:tags_api.list_tags"
    app.extensions["rivetr_lazy_views"].load("tags_api.list_tags")
    real = app.view_functions["tags_api.list_tags"]
    assert real is not stub and real.__module__ == "rivetr_core.api.tags"
    assert app.blueprints["tags_api"].name == "tags_api"


_PROBE = """
import asyncio, json, sys, tempfile
from pathlib import Path
from tests.support.server import ApiClient, make_config, websocket_outcome
from rivetr_core import app as app_module

LAZY = json.loads(sys.argv[1])

def request_for(rules):
    for rule, endpoint, methods, options in rules:
        if options.get("websocket"):
            continue
        path = rule
        while "<" in path:
            start = path.index("<")
            path = path[:start] + "x" + path[path.index(">", start) + 1:]
        verbs = [m for m in (methods or ["GET"]) if m not in ("HEAD", "OPTIONS")]
        return ("GET" if "GET" in verbs else verbs[0]), path

async def answers(app):
    out = {}
    async with app.test_app():
        out["idle"] = [m for m in LAZY if m in sys.modules]
        api = ApiClient(app)
        for module, rules in LAZY.items():
            method, path = request_for(rules)
            before = module in sys.modules
            status, body = await api.request(method, path, **({} if method == "GET" else {"json": {}}))
            out[module] = {"before": before, "after": module in sys.modules, "status": status, "body": body}
        out["ws"] = await websocket_outcome(api.client, "/api/deployments/x/logs/stream?token=test-admin-token-0123456789")
        out["ws_loaded"] = "rivetr_core.api.deployments" in sys.modules
    return out

async def main():
    data = Path(tempfile.mkdtemp())
    lazy = await answers(app_module.create_app(make_config(data / "lazy")))
    app_module.MANIFEST = {}
    eager = await answers(app_module.create_app(make_config(data / "eager")))
    eager.pop("idle")
    print(json.dumps({"lazy": lazy, "eager": eager}))

asyncio.run(main())
"""


def test_the_first_request_to_a_blueprint_imports_its_module_and_answers_as_before() -> None:
    """In a new interpreter: one request per lazily registered blueprint (and a log-stream WebSocket) imports
    that module with it, not before, and answers what the eagerly registered app answers."""
    modules = {path.partition(":")[0]: rules for path, rules in LAZY.items()}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(modules)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    lazy, eager = result["lazy"], result["eager"]
    assert lazy.pop("idle") == [], "the started app had imported API modules before any request"
    # Some modules import another's models (services and stacks take system's): those load a little earlier.
    early = sorted(module for module in modules if lazy[module]["before"])
    assert len(early) < len(modules) // 4, early
    for module in modules:
        assert lazy[module]["after"], f"{module} did not load with its first request"
        assert lazy[module]["status"] == eager[module]["status"], module
        assert _comparable(lazy[module]["body"]) == _comparable(eager[module]["body"]), module
    assert lazy["ws"] == eager["ws"] and lazy["ws_loaded"]


async def test_a_stale_manifest_is_logged_with_the_fix_when_the_module_loads(
    config_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A manifest naming a route its module lost, or missing one it has (the manifest test catches both before a
    commit): the module's first load says which and how to fix it; the lost route answers a JSON 404."""
    from rivetr_core import app as app_module

    stale = dict(MANIFEST)
    stale["rivetr_core.api.tags:bp"] = {"rules": [("/api/tags/gone", "tags_api.gone", ("GET",), {})]}
    monkeypatch.setattr(app_module, "MANIFEST", stale)
    app = app_module.create_app(config_factory())
    with caplog.at_level("ERROR", logger="rivetr.api"):
        app.extensions["rivetr_lazy_views"].load("tags_api.gone")
    messages = "\n".join(r.getMessage() for r in caplog.records)
    assert "tags_api.gone is in the manifest but not in rivetr_core.api.tags:bp" in messages
    assert "missing from the manifest (not served): ['tags_api.list_tags']" in messages
    assert "python -m rivetr_core.api.manifest --write" in messages
    gone: Any = app.view_functions["tags_api.gone"]
    with pytest.raises(ApiError) as raised:
        await gone()
    assert raised.value.status == 404 and "--write" in str(raised.value)
