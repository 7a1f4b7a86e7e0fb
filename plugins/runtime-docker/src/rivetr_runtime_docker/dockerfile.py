"""Find the images a Dockerfile builds on, so a missing local-only base image fails before the engine starts.

Both dockerd and podman react to a missing ``localhost/...`` base image by trying to pull it from
``localhost:80``/``:443`` for several seconds and then report a connection error that does not name the
image. Reading the ``FROM`` lines ourselves lets the runtime raise :class:`~rivetr_core.types.ImageNotFound`
naming the image, at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_VAR = re.compile(
    r"\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<colon>:?)(?P<op>[-+])(?P<word>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


def _logical_lines(text: str) -> list[str]:
    """Join backslash continuations and drop comments, as the Dockerfile parser does."""
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # comment lines inside a continuation are ignored by the engines too
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    if current.strip():
        lines.append(current.strip())
    return lines


def _substitute(value: str, args: Mapping[str, str]) -> str:
    """``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:+alt}`` (shell semantics)."""

    def repl(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("bare")
        op = match.group("op")
        present = name in args and (not match.group("colon") or args[name] != "")
        if op == "-":
            return args[name] if present else match.group("word")
        if op == "+":
            return match.group("word") if present else ""
        return args.get(name, "")

    return _VAR.sub(repl, value)


def _parse_args(rest: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for token in rest.split():
        name, sep, default = token.partition("=")
        out[name] = default.strip("\"'") if sep else None
    return out


def base_images(text: str, build_args: Mapping[str, str] | None = None) -> list[str]:
    """Images a Dockerfile reads from: ``FROM`` targets and ``COPY --from=<image>``, in order, deduplicated.

    Stage names (``FROM x AS build`` … ``FROM build``), numeric stage references and ``scratch`` are not
    images. ``ARG``\\ s declared before the first ``FROM`` are substituted (build args override their defaults).
    """
    build_args = dict(build_args or {})
    args: dict[str, str] = {}
    stages: set[str] = set()
    images: list[str] = []
    seen_from = False

    def add(image: str) -> None:
        image = _substitute(image, args).strip()
        if not image or image.lower() in stages or image.lower() == "scratch" or image.isdigit():
            return
        if image not in images:
            images.append(image)

    for line in _logical_lines(text):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not seen_from:
            for name, default in _parse_args(rest).items():
                value = build_args.get(name, default)
                if value is not None:
                    args[name] = value
        elif keyword == "FROM":
            seen_from = True
            tokens = [t for t in rest.split() if not t.startswith("--")]
            if not tokens:
                continue
            add(tokens[0])
            if len(tokens) >= 3 and tokens[1].lower() == "as":
                stages.add(tokens[2].lower())
        elif keyword in ("COPY", "ADD"):
            for token in rest.split():
                if token.startswith("--from="):
                    add(token.split("=", 1)[1])
    return images


def is_local_only(image: str) -> bool:
    """True for ``localhost/...`` references: no registry serves them, so a missing one can never be pulled.

    ``localhost:5000/...`` is a real (local) registry and is left to the engine.
    """
    return image.split("/", 1)[0] == "localhost" and "/" in image
