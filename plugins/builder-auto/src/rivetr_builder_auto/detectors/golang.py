"""Go: ``go.mod``. A multi-stage build: modules downloaded from ``go.mod``/``go.sum`` first, a static binary
(``CGO_ENABLED=0``) built from the main package (the root, or the only ``cmd/<name>``), run from a small image with
the build image's CA certificates."""

from __future__ import annotations

import re
from typing import Any

from rivetr_core.contract import BuildFailed

from ..plan import STATIC_IMAGE, AppStage, Plan, Settings, cmd_line, copy_line, header, port_lines
from ..repo import Repo

NAME = "go"
LOOKS_FOR = "go.mod (Go)"
BASE_IMAGE = "golang:1.22"
DEFAULT_PORT = "8080"
#: Where the build command leaves the binary (an overriding build_command must write it there too).
BINARY = "/out/app"
_GO_DIRECTIVE = re.compile(r"^go\s+(\d+)\.(\d+)", re.M)
_MODULE = re.compile(r"^module\s+(\S+)", re.M)
_MAIN = re.compile(r"^package\s+main\b", re.M)


def matches(repo: Repo) -> bool:
    return repo.is_file("go.mod")


def _main_package(repo: Repo) -> str | None:
    if any(_MAIN.search(repo.text(p) or "") for p in repo.files(".go") if "/" not in p):
        return "."
    commands = sorted(
        {p.split("/")[1] for p in repo.files(".go") if p.startswith("cmd/") and p.count("/") == 2}
    )
    mains = [
        c
        for c in commands
        if any(_MAIN.search(repo.text(p) or "") for p in repo.files(".go") if p.startswith(f"cmd/{c}/"))
    ]
    return f"./cmd/{mains[0]}" if len(mains) == 1 else None


def plan(repo: Repo, settings: Settings) -> Plan:
    gomod = repo.text("go.mod") or ""
    version = _GO_DIRECTIVE.search(gomod)
    module = _MODULE.search(gomod)
    package = _main_package(repo)
    facts: dict[str, Any] = {
        "module": module.group(1) if module else None,
        "go_version": f"{version.group(1)}.{version.group(2)}" if version else None,
        "main_package": package,
        "manifests": ["go.mod", *(["go.sum"] if repo.is_file("go.sum") else [])],
        "runtime_image": STATIC_IMAGE,
    }
    if package is None and not settings.build_command:
        raise BuildFailed(
            "the autodetect builder found go.mod but no main package (package main at the root, or in exactly "
            "one cmd/<name>/): set the app's build_command (writing the binary to /out/app) or add a Dockerfile"
        )
    base = settings.base_image or BASE_IMAGE
    if settings.base_image is None and version and (int(version.group(1)), int(version.group(2))) > (1, 22):
        base = f"golang:{version.group(1)}.{version.group(2)}"  # go.mod asks for a newer toolchain
    install = settings.install_command or "go mod download"
    build = settings.build_command or f'go build -trimpath -ldflags="-s -w" -o {BINARY} {package}'
    start = settings.start_command or "/app/app"
    port = settings.port or DEFAULT_PORT
    stage = AppStage(
        base, "/src", facts["manifests"], install, build, settings.build_arg_names, ["CGO_ENABLED=0"], "build"
    )
    lines = [
        header(NAME, "go", None),
        *stage.lines(),
        # A static binary needs no libc: a small image, plus the CA bundle for outbound TLS.
        f"FROM {STATIC_IMAGE}",
        copy_line(["/etc/ssl/certs/ca-certificates.crt"], "/etc/ssl/certs/", stage="build"),
        copy_line([BINARY], "/app/app", stage="build"),
        "WORKDIR /app",
        *port_lines(port),
        cmd_line(start),
    ]
    return Plan(
        detector=NAME,
        language="go",
        framework=None,
        facts=facts,
        base_image=base,
        install_command=install,
        build_command=build,
        start_command=start,
        port=port,
        dockerfile="\n".join(lines) + "\n",
    )
