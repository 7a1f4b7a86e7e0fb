"""Find the images a Dockerfile builds on, so a missing local-only base image fails before the engine starts.

Both dockerd and podman react to a missing ``localhost/...`` base image by trying to pull it from
``localhost:80``/``:443`` for several seconds and then report a connection error that does not name the
image. Reading the ``FROM`` lines ourselves lets the runtime raise :class:`~rivetr_core.contract.ImageNotFound`
naming the image, at once.

The Dockerfile and ``.dockerignore`` come from an untrusted repository: :func:`read_context_file` and
:func:`read_dockerfile` read them through :func:`rivetr_core.repofiles.read_repo_file` (confined, regular files
only, size-capped). The context tar itself is safe as the SDK builds it: it lists with ``lstat`` and does not
descend into linked directories, so links travel as links and FIFOs/devices as entries, never read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from rivetr_core.contract.repofiles import read_repo_text

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


#: What the Docker API keys Docker Hub's credentials by (``X-Registry-Config``); podman maps it to docker.io.
DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"


def registry_host(image: str) -> str:
    """The registry an image reference names: its first component when that looks like a host (a dot, a port
    or ``localhost``), else Docker Hub (``docker.io``), as the engines resolve it."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def build_auth_configs(
    images: list[str], stored: Mapping[str, Mapping[str, str]]
) -> tuple[dict[str, dict[str, str]], list[str]]:
    """The ``X-Registry-Config`` map (registry key -> auth config) of the stored credentials whose registry one
    of ``images`` names, and the servers chosen. Only those travel: a build never hands the engine credentials
    its Dockerfile does not use."""
    configs: dict[str, dict[str, str]] = {}
    servers: list[str] = []
    for image in images:
        server = registry_host(image)
        auth = stored.get(server)
        if auth is None or server in servers:
            continue
        servers.append(server)
        configs[DOCKER_HUB_AUTH_KEY if server == "docker.io" else server] = dict(auth)
    return configs, servers


def read_context_file(
    context_dir: str | os.PathLike[str], name: str, *, missing_ok: bool = False
) -> str | None:
    """A file of the build context the client reads itself (``.dockerignore``, the Dockerfile), the safe way:
    confined to the context, a regular file (never a link out, a FIFO, a device, a directory), size-capped.
    A bad file raises :class:`~rivetr_core.repofiles.UnsafeRepoFile` (a ``BuildFailed``) naming it."""
    return read_repo_text(context_dir, name, missing_ok=missing_ok)


def read_dockerfile(context_dir: str | os.PathLike[str], dockerfile: str) -> tuple[str, bool]:
    """``(text, inside)`` of the build's Dockerfile: ``inside`` when it lies in the context (the engine finds it
    there); otherwise the text travels in the tarred context. Paths outside the context (the builder's choice,
    already confined to the checkout) are read confined to their own directory."""
    context = Path(context_dir).resolve()
    path = Path(dockerfile) if os.path.isabs(dockerfile) else context / dockerfile
    inside = os.path.abspath(path).startswith(str(context) + os.sep)
    if inside:
        text = read_repo_text(context, os.path.relpath(path, context), label=f"Dockerfile {dockerfile!r}")
    else:
        text = read_repo_text(path.parent, path.name, label=f"Dockerfile {dockerfile!r}")
    return text or "", inside
