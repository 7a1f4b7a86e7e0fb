"""The OpenAPI document names each schema once.

quart-schema files every model an operation declares under ``components/schemas`` by its class name and lets a
later one with the same name replace an earlier one silently: two response models both called ``ScheduleOut``
(the scheduler's jobs and the backup schedules) once made ``GET /api/schedules`` documented with the backup
schedule's fields, a contradiction only the fuzz test saw. This finds such a clash at once, naming both
operations.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.server import ApiClient


async def test_no_two_models_share_a_component_name(api: ApiClient) -> None:
    app = api.app
    provider = app.extensions["QUART_SCHEMA"].openapi_provider
    seen: dict[str, tuple[str, Any]] = {}
    clashes: list[str] = []
    rules = list(provider.generate_rules())
    assert len(rules) > 50  # the whole API, not an empty map
    for rule in rules:
        _paths, components = provider.build_paths(rule)
        for name, schema in components.items():
            text = json.dumps(schema, sort_keys=True)
            if name in seen and seen[name][1] != text:
                clashes.append(f"{name}: {seen[name][0]} and {rule.rule}")
            seen.setdefault(name, (rule.rule, text))
    assert not clashes, "two different models under one component name: " + "; ".join(clashes)
