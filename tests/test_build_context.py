"""A build context is confined to the checkout (BuildRequest.resolve_context), for every builder that uses it."""

from __future__ import annotations

from pathlib import Path

import pytest

from rivetr_core.builtin.dockerfile_builder import DockerfileBuilder
from rivetr_core.contract import BuildFailed, BuildRequest


def _repo(tmp_path: Path) -> Path:
    source = tmp_path / "repo"
    (source / "web").mkdir(parents=True)
    (source / "web" / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "outside").mkdir()
    (source / "out").symlink_to(tmp_path / "outside")
    return source


def test_the_context_inside_the_checkout(tmp_path: Path) -> None:
    source = _repo(tmp_path)
    request = BuildRequest(source_dir=source, tag="t", build_context="web")
    assert request.resolve_context() == (source / "web").resolve()
    assert BuildRequest(source_dir=source, tag="t").resolve_context() == source.resolve()
    # detect() and plan() are handed the source directory beside the request.
    other = tmp_path / "copy"
    (other / "web").mkdir(parents=True)
    assert request.resolve_context(other) == (other / "web").resolve()


@pytest.mark.parametrize("context", ["..", "web/../..", "out", "/etc"])
def test_a_context_leaving_the_checkout_is_refused(tmp_path: Path, context: str) -> None:
    request = BuildRequest(source_dir=_repo(tmp_path), tag="t", build_context=context)
    with pytest.raises(BuildFailed, match=f"build context {context!r} leaves the repository"):
        request.resolve_context()


async def test_the_dockerfile_builder_refuses_it_before_the_engine_is_asked(tmp_path: Path) -> None:
    request = BuildRequest(source_dir=_repo(tmp_path), tag="t", build_context="out")
    with pytest.raises(BuildFailed, match="leaves the repository"):
        async for _ in DockerfileBuilder().build(request, object()):  # type: ignore[arg-type]
            pass


def test_the_autodetect_builder_neither_detects_nor_plans_it(tmp_path: Path) -> None:
    from rivetr_builder_auto.builder import AutoBuilder

    source = _repo(tmp_path)
    (tmp_path / "outside" / "index.html").write_text("<p>hi</p>")
    request = BuildRequest(source_dir=source, tag="t", build_context="out")
    assert AutoBuilder().detect(source, request) is False
    with pytest.raises(BuildFailed, match="leaves the repository"):
        AutoBuilder().plan(source, request)
