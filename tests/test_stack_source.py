"""Where a repository stack's compose file is found (``rivetr_core.stacks.source.find_compose_file``): compose's
own default names in compose's order, an explicit ``compose_path`` (a missing one is not replaced by a default),
and a path that leaves the checkout (``..``, an absolute path, a symlink out) refused. Plain files on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from rivetr_core.compose.errors import ComposeError
from rivetr_core.stacks.source import DEFAULT_NAMES, find_compose_file


def _checkout(tmp_path: Path, *names: str) -> Path:
    root = tmp_path / "checkout"
    root.mkdir()
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {name}\nservices: {{}}\n")
    return root


def _problem(exc: pytest.ExceptionInfo[ComposeError]) -> str:
    return str(exc.value)


@pytest.mark.parametrize("present", range(len(DEFAULT_NAMES)))
def test_without_a_path_the_first_default_name_present_wins_in_compose_order(
    tmp_path: Path, present: int
) -> None:
    # Every default name from ``present`` on exists: the earliest of them is taken.
    root = _checkout(tmp_path, *DEFAULT_NAMES[present:])
    assert find_compose_file(root, None) == (root / DEFAULT_NAMES[present]).resolve()


def test_the_default_order_is_composes() -> None:
    assert DEFAULT_NAMES == ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")


def test_no_compose_file_names_what_was_looked_for(tmp_path: Path) -> None:
    root = _checkout(tmp_path, "README.md", "deploy/compose.yaml")  # not at the root: not a default
    with pytest.raises(ComposeError) as exc:
        find_compose_file(root, None)
    assert "No compose file in the repository" in _problem(exc)
    assert "compose.yaml / compose.yml / docker-compose.yml / docker-compose.yaml" in _problem(exc)


def test_an_explicit_path_is_used_and_never_replaced_by_a_default(tmp_path: Path) -> None:
    root = _checkout(tmp_path, "compose.yaml", "deploy/prod.yml")
    assert find_compose_file(root, "deploy/prod.yml") == (root / "deploy/prod.yml").resolve()
    assert find_compose_file(root, "./deploy/../deploy/prod.yml") == (root / "deploy/prod.yml").resolve()
    # A leading slash means the repository's root, not the server's.
    assert find_compose_file(root, "/deploy/prod.yml") == (root / "deploy/prod.yml").resolve()
    with pytest.raises(ComposeError) as exc:
        find_compose_file(root, "deploy/missing.yml")  # compose.yaml exists, but was not asked for
    assert "No compose file in the repository (deploy/missing.yml)" in _problem(exc)


@pytest.mark.parametrize(
    "path", ["../outside.yaml", "deploy/../../outside.yaml", "..", "../checkout/compose.yaml"]
)
def test_a_path_leaving_the_repository_is_refused(tmp_path: Path, path: str) -> None:
    root = _checkout(tmp_path, "compose.yaml", "deploy/x.yml")
    (tmp_path / "outside.yaml").write_text("services: {}\n")
    with pytest.raises(ComposeError) as exc:
        find_compose_file(root, path)
    assert "is outside the repository" in _problem(exc), path


def test_a_symlink_out_of_the_repository_is_refused(tmp_path: Path) -> None:
    root = _checkout(tmp_path, "README.md")
    secret = tmp_path / "host-file.yaml"
    secret.write_text("services: {}\n")
    (root / "compose.yaml").symlink_to(secret)  # a default name, pointing out
    (root / "linked").symlink_to(tmp_path)  # a directory link out
    with pytest.raises(ComposeError) as exc:
        find_compose_file(root, None)
    assert "is outside the repository" in _problem(exc)
    with pytest.raises(ComposeError):
        find_compose_file(root, "linked/host-file.yaml")
    # A link that stays inside is fine.
    (root / "real.yaml").write_text("services: {}\n")
    (root / "alias.yaml").symlink_to(root / "real.yaml")
    assert find_compose_file(root, "alias.yaml") == (root / "real.yaml").resolve()
