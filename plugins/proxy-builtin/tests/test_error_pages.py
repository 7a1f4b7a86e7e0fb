"""Maintenance mode and an app's own 502/503/504 pages through a real proxy process (issue 22; the pages
travel in the route dict, see error_pages.py)."""

from __future__ import annotations

import subprocess

import pytest
from rivetr_proxy_builtin.error_pages import MAX_PAGE_BYTES
from rivetr_proxy_builtin.routing import RouteTable

from tests.support.proxy import free_port, http_get

PAGE_502 = "<html><body><h1>Shop is restarting</h1></body></html>"
MAINT = "<html><body><h1>Shop is under maintenance</h1></body></html>"


def test_a_route_without_pages_stays_plain():
    t = RouteTable([{"domain": "plain.test", "upstreams": ["127.0.0.1:1"]}])
    entry = t.lookup(b"plain.test")
    assert entry is not None
    assert entry.special is None and entry.pages is None and t.with_pages == []


def test_maintenance_answers_503_with_the_page_and_never_reaches_the_app(proxy_factory, backend_factory):
    app = backend_factory("app")
    proxy = proxy_factory()
    proxy.set_route("shop.test", app.address, maintenance=MAINT)
    for path in ("/", "/cart?x=1"):
        status, headers, body = http_get(proxy.port, "shop.test", path)
        assert status == 503
        assert headers["retry-after"] == "120"
        assert headers["content-type"].startswith("text/html")
        assert body.decode() == MAINT
    assert app.requests == 0
    proxy.set_route("shop.test", app.address)  # off: traffic flows again at once
    status, headers, body = http_get(proxy.port, "shop.test", "/")
    assert (status, body) == (200, b"app")
    assert app.requests == 1


def test_maintenance_of_one_path_route_leaves_the_others(proxy_factory, backend_factory):
    root, v1 = backend_factory("root"), backend_factory("v1")
    proxy = proxy_factory()
    proxy.set_route("api.test", root.address)
    proxy.set_route("api.test", v1.address, path_prefix="/v1", maintenance=MAINT)
    assert http_get(proxy.port, "api.test", "/v1/x")[0] == 503
    assert http_get(proxy.port, "api.test", "/other")[1]["x-backend"] == "root"
    assert v1.requests == 0


def test_custom_502_page_when_the_upstream_refuses(proxy_factory, backend_factory):
    proxy = proxy_factory()
    dead = f"127.0.0.1:{free_port()}"
    proxy.set_route("shop.test", dead, error_pages={"502": PAGE_502})
    proxy.set_route("other.test", dead)
    status, headers, body = http_get(proxy.port, "shop.test", "/")
    assert status == 502
    assert headers["content-type"].startswith("text/html")
    assert body.decode() == PAGE_502
    status, _, body = http_get(proxy.port, "other.test", "/")  # no page: the proxy's own
    assert status == 502 and b"rivetr" in body and b"Shop" not in body


def test_custom_503_page_when_no_instance_is_healthy(proxy_factory, backend_factory):
    proxy = proxy_factory()
    proxy.set_route("shop.test", error_pages={"503": "<p>no instance</p>"})  # no upstream at all
    status, _, body = http_get(proxy.port, "shop.test", "/")
    assert (status, body) == (503, b"<p>no instance</p>")


@pytest.mark.parametrize(
    "flags",
    [
        {"error_pages": {"404": "<p>x</p>"}},
        {"error_pages": {"502": ""}},
        {"error_pages": {"502": "x" * (MAX_PAGE_BYTES + 1)}},
        {"maintenance": "x" * (MAX_PAGE_BYTES + 1)},
    ],
)
def test_bad_pages_are_refused(proxy_factory, flags):
    proxy = proxy_factory()
    with pytest.raises(Exception, match=r"error_pages|maintenance"):
        proxy.set_route("shop.test", "127.0.0.1:1", **flags)


def test_pages_over_h2(proxy_factory):
    """The same pages for an HTTP/2 client (h2conn.py answers through the same helpers)."""
    proxy = proxy_factory()
    assert proxy.https_port
    proxy.set_route("shop.test", f"127.0.0.1:{free_port()}", error_pages={"502": PAGE_502})
    proxy.set_route("down.test", "127.0.0.1:1", maintenance=MAINT)
    for host, status, page in (("shop.test", 502, PAGE_502), ("down.test", 503, MAINT)):
        got = subprocess.run(
            [
                "curl",
                "-sk",
                "--http2",
                "-D",
                "-",
                "--resolve",
                f"{host}:{proxy.https_port}:127.0.0.1",
                "--max-time",
                "30",
                f"https://{host}:{proxy.https_port}/",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert got.stdout.startswith(f"HTTP/2 {status}"), got.stdout
        assert got.stdout.endswith(page), got.stdout
