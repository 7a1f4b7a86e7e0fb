"""docs/plugins.md's examples are code an author copies: every Python block compiles, each capability's example
runs and satisfies its Protocol, and the guide's own unit test of the health check passes."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.contract import (
    Builder,
    GitProvider,
    HealthCheck,
    Notifier,
    ProxyBackend,
    RivetrEvent,
    Route,
)

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"


def _blocks() -> list[str]:
    return [textwrap.dedent(b) for b in re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S)]


def _defining(name: str) -> dict[str, Any]:
    """Run the guide's block that defines ``name`` (with its hook) and return its namespace."""
    for block in _blocks():
        if re.search(rf"^class {name}\b", block, re.M) and "@hookimpl" in block:
            namespace: dict[str, Any] = {"__name__": "guide_example"}
            exec(compile(block, str(GUIDE), "exec"), namespace)
            return namespace
    raise AssertionError(f"docs/plugins.md has no example defining {name}")


def test_every_python_block_compiles() -> None:
    blocks = _blocks()
    assert len(blocks) >= 9
    for block in blocks:
        compile(block, str(GUIDE), "exec")


@pytest.mark.parametrize(
    ("name", "protocol"),
    [
        ("JsonLinesNotifier", Notifier),
        ("FileExistsCheck", HealthCheck),
        ("StaticSiteBuilder", Builder),
        ("ForgeProvider", GitProvider),
        ("TableProxy", ProxyBackend),
    ],
)
def test_each_capability_example_implements_its_protocol(name: str, protocol: type) -> None:
    assert isinstance(_defining(name)[name](), protocol)


async def test_the_notifier_example_appends_a_line(tmp_path: Path) -> None:
    notifier = _defining("JsonLinesNotifier")["JsonLinesNotifier"]()
    target = tmp_path / "events.jsonl"
    assert notifier.validate("slack://x") and notifier.validate(f"jsonl://{target}") is None
    await notifier.send(f"jsonl://{target}", RivetrEvent(type="deployment_succeeded", app_name="web"))
    assert json.loads(target.read_text())["type"] == "deployment_succeeded"


def test_the_git_provider_example_verifies_and_parses() -> None:
    provider = _defining("ForgeProvider")["ForgeProvider"]()
    body = json.dumps(
        {
            "ref": "refs/heads/main",
            "after": "a" * 40,
            "repository": {"clone_url": "https://forge.test/o/r.git"},
        }
    ).encode()
    headers = {
        "x-forge-signature": "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest(),
        "X-Forge-Event": "push",
    }
    assert provider.verify_webhook(headers, body, "s3cret")
    assert not provider.verify_webhook(headers, body, "other")
    event = provider.parse_webhook(headers, body)
    assert (event.kind, event.ref, event.repo_urls) == ("push", "main", ["https://forge.test/o/r.git"])


async def test_the_proxy_example_keeps_its_table() -> None:
    proxy = _defining("TableProxy")["TableProxy"]()
    await proxy.replace_routes([Route("a.test", ["127.0.0.1:1"]), Route("b.test", ["127.0.0.1:2"])])
    await proxy.remove_route("a.test")
    assert [r.domain for r in await proxy.routes()] == ["b.test"]


async def test_the_guides_unit_test_of_the_health_check_passes(tmp_path: Path) -> None:
    namespace = next(
        {"__name__": "guide_test", **_defining("FileExistsCheck")}
        for block in _blocks()
        if "async def test_file_exists_check" in block
    )
    block = next(b for b in _blocks() if "async def test_file_exists_check" in b)
    exec(compile(block, str(GUIDE), "exec"), namespace)
    await namespace["test_file_exists_check"](tmp_path)
