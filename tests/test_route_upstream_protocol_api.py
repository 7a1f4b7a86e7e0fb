"""``upstream_protocol`` of a route (issue 22, gRPC passthrough) through the API and a real proxy process:
``POST /api/routes`` and ``PUT /api/routes/settings/{key}`` store it, the proxy worker receives it (an HTTP/1.1
request on an h2c route gets the proxy's 505, a plain route's goes to the app), bad values are 422 naming the
field, and the OpenAPI document lists it. The HTTP/2 side is tested in plugins/proxy-builtin/tests/test_h2c_upstream.py."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.support.proxy import HttpBackend, http_get


async def test_upstream_protocol_through_the_api_to_the_proxy(routed: Any) -> None:
    api, port = routed
    backend = HttpBackend("grpc")
    try:
        status, created = await api.post(
            "/api/routes",
            json={"domain": "grpc.example.com", "upstreams": [backend.address], "upstream_protocol": "h2c"},
        )
        assert status == 201, created
        assert created["settings"]["upstream_protocol"] == "h2c"

        def through() -> tuple[int, dict[str, str], bytes]:
            return http_get(port, "grpc.example.com", "/")

        got = await asyncio.to_thread(through)
        assert got[0] == 505 and b"HTTP/2 only" in got[2], got  # the worker has the route as h2c

        status, settings = await api.put(
            "/api/routes/settings/grpc.example.com", json={"upstream_protocol": "http1"}
        )
        assert status == 200 and settings["upstream_protocol"] == "http1", settings
        got = await asyncio.to_thread(through)
        assert got[0] == 200 and got[1]["x-backend"] == "grpc", got
        # Re-posting the route without the field keeps the setting (null keeps, as strip_prefix).
        status, again = await api.post(
            "/api/routes", json={"domain": "grpc.example.com", "upstreams": [backend.address]}
        )
        assert status == 201 and again["settings"]["upstream_protocol"] == "http1"
    finally:
        backend.stop()


async def test_bad_upstream_protocol_is_422_naming_the_field(routed: Any) -> None:
    api, _ = routed
    status, err = await api.post(
        "/api/routes",
        json={"domain": "x.example.com", "upstreams": ["127.0.0.1:9"], "upstream_protocol": "h3"},
    )
    assert status == 422 and "upstream_protocol" in {d["field"] for d in err["error"]["details"]}, err
    status, err = await api.put("/api/routes/settings/x.example.com", json={"upstream_protocol": "grpc"})
    assert status == 422 and "upstream_protocol" in {d["field"] for d in err["error"]["details"]}, err
    status, doc = await api.get("/openapi.json")
    assert status == 200
    for path, method in (("/api/routes", "post"), ("/api/routes/settings/{key}", "put")):
        body = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
        if "$ref" in body:
            body = doc["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
        prop = json.dumps(body["properties"]["upstream_protocol"])
        assert '"h2c"' in prop and '"http1"' in prop, (path, prop)
