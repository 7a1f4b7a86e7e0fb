"""Image references of managed services: the official name a template gives, fully qualified, then mapped.

Core always hands the runtime a fully qualified reference (``docker.io/library/postgres:16``): both engines pull
and run it unchanged (podman would otherwise ask its ``unqualified-search-registries``). ``[runtime] image_map``
lets an operator with an internal registry point an official name at a mirror; it is matched on the canonical
name or on the short name the template uses, with or without the tag.
"""

from __future__ import annotations

from collections.abc import Mapping

DOCKER_HUB = "docker.io"


def _has_registry(first: str) -> bool:
    """Docker's rule: the first path component is a registry host when it has a dot or a port, or is
    ``localhost``."""
    return "." in first or ":" in first or first == "localhost"


def split_tag(ref: str) -> tuple[str, str | None]:
    """``(name, tag)``; a digest (``@sha256:...``) stays part of the name, a port is never a tag."""
    if "@" in ref:
        return ref, None
    name, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return ref, None
    return name, tag


def canonical_image(ref: str) -> str:
    """``postgres:16`` → ``docker.io/library/postgres:16``; ``user/repo:tag`` → ``docker.io/user/repo:tag``;
    a reference with a registry host is left as it is. A missing tag stays missing (the engine's ``latest``)."""
    ref = ref.strip()
    first, sep, _rest = ref.partition("/")
    if sep and _has_registry(first):
        return ref
    if not sep:
        return f"{DOCKER_HUB}/library/{ref}"
    return f"{DOCKER_HUB}/{ref}"


def _short(canonical: str) -> str:
    """The name a template would write: ``docker.io/library/postgres:16`` → ``postgres:16``."""
    for prefix in (f"{DOCKER_HUB}/library/", f"{DOCKER_HUB}/"):
        if canonical.startswith(prefix):
            return canonical[len(prefix) :]
    return canonical


def resolve_image(ref: str, image_map: Mapping[str, str] | None = None) -> str:
    """The reference to pull and run for ``ref``: canonical, then ``image_map`` applied.

    A map key naming a tag (``postgres:16``) maps that tag only; a key without one (``postgres``) maps every
    tag, which is kept (``postgres`` → ``registry.local/pg`` makes ``postgres:16`` ``registry.local/pg:16``).
    Keys and values may be short or canonical names; the result is canonical."""
    canonical = canonical_image(ref)
    if not image_map:
        return canonical
    mapping = {canonical_image(key): value for key, value in image_map.items()}
    if canonical in mapping:
        return canonical_image(mapping[canonical])
    name, tag = split_tag(canonical)
    if tag is not None and name in mapping:
        target_name, target_tag = split_tag(canonical_image(mapping[name]))
        return f"{target_name}:{target_tag or tag}"
    return canonical


__all__ = ["canonical_image", "resolve_image", "split_tag"]
