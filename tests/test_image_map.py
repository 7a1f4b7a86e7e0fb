"""``[runtime] image_map`` (docs/services.md, "Images"): an operator's internal registry in place of the official
names. Unit tests of ``rivetr_core.managed.images.resolve_image`` (how keys and values match, which tag is kept),
then the value from a TOML config file reaching a service's image: what the API shows, what is pulled and run
(the FAKE runtime), and an upgrade to another version mapped the same way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rivetr_core.config import load_config
from rivetr_core.managed.images import canonical_image, resolve_image, split_tag
from rivetr_core.testing import FakeRuntime
from tests.support.server import ApiClient, make_config
from tests.test_services_api import _teach, container_of, wait_status

MIRROR = "registry.internal:5000/mirror/postgres"


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("postgres:16", "docker.io/library/postgres:16"),
        ("bitnami/redis:7", "docker.io/bitnami/redis:7"),
        ("ghcr.io/org/app:1", "ghcr.io/org/app:1"),
        ("localhost/stand-in/redis:7", "localhost/stand-in/redis:7"),
        ("127.0.0.1:5000/library/redis:7", "127.0.0.1:5000/library/redis:7"),
        ("postgres", "docker.io/library/postgres"),  # no tag stays without one (the engine's latest)
    ],
)
def test_without_a_map_references_are_made_canonical(ref: str, expected: str) -> None:
    assert canonical_image(ref) == expected
    assert resolve_image(ref) == expected
    assert resolve_image(ref, {}) == expected


def test_a_key_with_a_tag_maps_that_tag_only() -> None:
    image_map = {"postgres:16": "registry.internal/pg:16-custom"}
    assert resolve_image("postgres:16", image_map) == "registry.internal/pg:16-custom"
    assert resolve_image("postgres:15", image_map) == "docker.io/library/postgres:15"
    assert resolve_image("redis:7", image_map) == "docker.io/library/redis:7"


def test_a_key_without_a_tag_maps_every_tag_and_keeps_it() -> None:
    image_map = {"postgres": MIRROR}
    assert resolve_image("postgres:16", image_map) == f"{MIRROR}:16"
    assert resolve_image("postgres:15", image_map) == f"{MIRROR}:15"
    # The registry's port is not mistaken for a tag on the way.
    assert split_tag(f"{MIRROR}:15") == (MIRROR, "15")
    assert split_tag(MIRROR) == (MIRROR, None)
    # A target with its own tag wins over the source's.
    assert resolve_image("redis:7", {"redis": "registry.internal/redis:7.2"}) == "registry.internal/redis:7.2"


def test_keys_and_values_may_be_short_or_canonical() -> None:
    canonical_key = {"docker.io/library/mariadb:11": "mirror.local/mariadb:11"}
    assert resolve_image("mariadb:11", canonical_key) == "mirror.local/mariadb:11"
    # A short value is qualified like any reference: the result is always canonical.
    assert resolve_image("redis:7", {"redis:7": "valkey:8"}) == "docker.io/library/valkey:8"
    # The exact tag wins over the name-only key.
    both = {"postgres": MIRROR, "postgres:16": "other.local/pg:16"}
    assert resolve_image("postgres:16", both) == "other.local/pg:16"
    assert resolve_image("postgres:15", both) == f"{MIRROR}:15"


def test_a_digest_is_matched_whole() -> None:
    ref = "postgres@sha256:" + "a" * 64
    assert resolve_image(ref, {"postgres": MIRROR}) == "docker.io/library/" + ref
    assert resolve_image(ref, {ref: "mirror.local/pg:pinned"}) == "mirror.local/pg:pinned"


@pytest.fixture
async def mapped_api(tmp_path: Path, fake_runtime: FakeRuntime) -> AsyncIterator[ApiClient]:
    """The API with ``image_map`` read from a TOML file, as an operator writes it."""
    from rivetr_core.app import create_app

    config_file = tmp_path / "rivetr.toml"
    config_file.write_text(
        f'[runtime.image_map]\npostgres = "{MIRROR}"\n"redis:7" = "mirror.local/redis:7.2"\n'
    )
    file_config = load_config(config_file)
    assert file_config.runtime.image_map == {"postgres": MIRROR, "redis:7": "mirror.local/redis:7.2"}
    config = make_config(tmp_path / "data", runtime={"image_map": file_config.runtime.image_map})
    fake_runtime.seen = _teach(fake_runtime)  # type: ignore[attr-defined]
    app = create_app(config)
    app.extensions["rivetr_ctx"]._runtime = fake_runtime
    async with app.test_app():
        yield ApiClient(app)


async def test_the_configured_map_reaches_the_services_image(
    mapped_api: ApiClient, fake_runtime: FakeRuntime
) -> None:
    code, pg = await mapped_api.post(
        "/api/services", json={"name": "db", "type": "postgres", "version": "15"}
    )
    assert code == 201, pg
    assert pg["image"] == f"{MIRROR}:15"
    await wait_status(mapped_api, pg["id"], "running")
    assert container_of(fake_runtime, pg["id"]).spec.image == f"{MIRROR}:15"
    code, cache = await mapped_api.post("/api/services", json={"name": "cache", "type": "redis"})
    assert code == 201 and cache["image"] == "mirror.local/redis:7.2", cache
    await wait_status(mapped_api, cache["id"], "running")
    assert fake_runtime.seen["pulls"] == [f"{MIRROR}:15", "mirror.local/redis:7.2"]  # type: ignore[attr-defined]

    # An upgrade resolves the new version through the map too.
    code, upgraded = await mapped_api.put(f"/api/services/{pg['id']}", json={"version": "16"})
    assert code == 200 and upgraded["image"] == f"{MIRROR}:16", upgraded
    await wait_status(mapped_api, pg["id"], "running")
    assert container_of(fake_runtime, pg["id"]).spec.image == f"{MIRROR}:16"
