"""Node: ``package.json`` with ``package-lock.json`` (npm ci), ``pnpm-lock.yaml`` (pnpm) or ``yarn.lock`` (yarn).

A server (a ``start`` script, Next.js, or a ``main``/``server.js``/``index.js`` entry) runs in the Node image. A
project with a ``build`` script and nothing to start (Vite, Create React App, any static-site generator) is
built in the Node image and its output (``dist/``, or ``build/`` for react-scripts) served by busybox httpd.
"""

from __future__ import annotations

import re
from typing import Any

from rivetr_core.contract import BuildFailed

from ..plan import STATIC_IMAGE, AppStage, Plan, Settings, cmd_line, copy_line, header, port_lines
from ..repo import Repo

NAME = "node"
LOOKS_FOR = "package.json (Node)"
BASE_IMAGE = "node:22-slim"
DEFAULT_PORT = "3000"
#: Lock file → (package manager, install command). The first present wins.
LOCKS = (
    ("package-lock.json", "npm", "npm ci"),
    ("pnpm-lock.yaml", "pnpm", "corepack enable && pnpm install --frozen-lockfile"),
    ("yarn.lock", "yarn", "corepack enable && yarn install --frozen-lockfile"),
)
#: Package-manager configuration the install reads, copied with the manifests when present.
CONFIG_FILES = (".npmrc", ".yarnrc.yml", ".yarnrc", "pnpm-workspace.yaml")
ENTRY_FILES = ("server.js", "index.js", "app.js", "main.js")
_SHELL = re.compile(r"[;&|<>()`$\n]")


def matches(repo: Repo) -> bool:
    return repo.is_file("package.json")


def _package_manager(repo: Repo, package: dict[str, Any]) -> tuple[str, str | None, str]:
    """(manager, lock file or None, install command)."""
    for lock, manager, install in LOCKS:
        if repo.is_file(lock):
            if manager == "yarn" and not str(package.get("packageManager") or "yarn@1").startswith("yarn@1"):
                install = "corepack enable && yarn install --immutable"  # yarn berry renamed the flag
            return manager, lock, install
    return "npm", None, "npm install"


def _run(manager: str, script: str) -> str:
    return f"npm run {script}" if manager == "npm" else f"{manager} run {script}"


def _static_output(deps: dict[str, Any], build_script: str) -> str:
    if "react-scripts" in deps:
        return "build"
    for flag in ("--outDir ", "--out-dir ", "-o "):
        if flag in build_script:
            return build_script.split(flag, 1)[1].split()[0].strip("./") or "dist"
    return "dist"


def plan(repo: Repo, settings: Settings) -> Plan:
    package = repo.json("package.json")
    if package is None:
        raise BuildFailed("package.json is not a readable JSON object: fix it or add a Dockerfile")
    scripts = {k: v for k, v in (package.get("scripts") or {}).items() if isinstance(v, str)}
    deps = {**(package.get("devDependencies") or {}), **(package.get("dependencies") or {})}
    manager, lock, install = _package_manager(repo, package)
    manifests = ["package.json", *([lock] if lock else []), *[f for f in CONFIG_FILES if repo.is_file(f)]]
    facts: dict[str, Any] = {
        "package_manager": manager,
        "lock_file": lock,
        "manifests": manifests,
        "scripts": sorted(scripts),
        "node_version": (package.get("engines") or {}).get("node"),
    }
    build = settings.build_command or (_run(manager, "build") if "build" in scripts else None)
    framework: str | None = None
    static_dir: str | None = None
    start = settings.start_command
    if "next" in deps:
        framework = "next"
        start = start or (_run(manager, "start") if "start" in scripts else "npx next start -p $PORT")
    elif "start" in scripts:
        framework = "vite" if "vite" in deps and "vite" in scripts["start"] else None
        start = start or _start_script(manager, scripts["start"])
    elif (
        start is None
        and "build" in scripts
        and ("vite" in deps or "react-scripts" in deps or not _entry(repo, package))
    ):
        framework = (
            "vite" if "vite" in deps else "react-scripts" if "react-scripts" in deps else "static-build"
        )
        static_dir = _static_output(deps, scripts["build"])
        facts["static_output"] = f"{static_dir}/"
    elif start is None:
        entry = _entry(repo, package)
        if entry is None:
            raise BuildFailed(
                "the autodetect builder found package.json but no way to start it (no start or build script, "
                f"no main entry, none of {', '.join(ENTRY_FILES)}): set the app's start_command or add a Dockerfile"
            )
        start = f"node {entry}"
    if framework is None and "express" in deps:
        framework = "express"
    base = settings.base_image or BASE_IMAGE
    install = settings.install_command or install
    port = settings.port or (DEFAULT_PORT if static_dir is None else "8080")
    if static_dir is not None:
        # The served files alone, in a small HTTP server image: no Node runtime or node_modules at run time.
        start = "httpd -f -v -p $PORT -h /www"
        facts["runtime_image"] = STATIC_IMAGE
    assert start is not None
    meta = [*port_lines(port), cmd_line(start)]
    single = static_dir is None and not settings.secret_arg_names  # the build stage is the image
    stage = AppStage(
        base,
        "/app",
        manifests,
        install,
        build,
        settings.build_arg_names,
        name=None if single else "build",
        meta=meta if single else [],
    )
    lines = [header(NAME, "node", framework), *stage.lines()]
    if static_dir is not None:
        lines += [f"FROM {STATIC_IMAGE}", *meta, copy_line([f"/app/{static_dir}"], "/www", stage="build")]
    elif settings.secret_arg_names:
        lines += [*stage.secret_free_lines(), *meta]
    if static_dir is None:
        # Set after the build (a build script may want development settings), before the image is run.
        lines.append("ENV NODE_ENV=production")
    return Plan(
        detector=NAME,
        language="node",
        framework=framework,
        facts=facts,
        base_image=base,
        install_command=install,
        build_command=build,
        start_command=start,
        port=port,
        dockerfile="\n".join(lines) + "\n",
    )


def _entry(repo: Repo, package: dict[str, Any]) -> str | None:
    main = package.get("main")
    if isinstance(main, str) and repo.is_file(main):
        return main
    return next((f for f in ENTRY_FILES if repo.is_file(f)), None)


def _start_script(manager: str, script: str) -> str:
    """A ``start`` script that is a plain ``node <file>`` runs as is: node is then PID 1 and gets the engine's
    SIGTERM (npm does not pass it on). Anything else runs through the package manager."""
    words = script.split()
    if len(words) >= 2 and words[0] == "node" and not _SHELL.search(script):
        return script
    return _run(manager, "start")
