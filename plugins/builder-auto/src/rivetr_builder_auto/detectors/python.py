"""Python: ``requirements.txt``, ``pyproject.toml`` (with ``uv.lock``, ``poetry.lock`` or plain pip) or ``Pipfile``.

The start command comes from the framework found: Django (``manage.py`` and a ``<project>/wsgi.py``), FastAPI (a
module assigning ``FastAPI(``), Flask (``Flask(__name__)``); else ``python main.py`` or ``python app.py``.
"""

from __future__ import annotations

import re
from typing import Any

from rivetr_core.contract import BuildFailed

from ..plan import AppStage, Plan, Settings, cmd_line, header, port_lines, quoted
from ..repo import Repo

NAME = "python"
LOOKS_FOR = "requirements.txt, pyproject.toml or Pipfile (Python)"
BASE_IMAGE = "python:3.12-slim"
DEFAULT_PORT = "8000"
ENV = ["PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1"]

_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_APP_VAR = {
    "fastapi": re.compile(r"^(\w+)\s*(?::[^=]+)?=\s*FastAPI\(", re.M),
    "flask": re.compile(r"^(\w+)\s*(?::[^=]+)?=\s*Flask\(\s*__name__", re.M),
}


def matches(repo: Repo) -> bool:
    return any(repo.is_file(name) for name in ("requirements.txt", "pyproject.toml", "Pipfile"))


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(lines: list[str]) -> set[str]:
    names = set()
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        found = _REQ_NAME.match(line)
        if found:
            names.add(_norm(found.group(1)))
    return names


def _manager(repo: Repo) -> tuple[str, list[str], str | None, set[str]]:
    """(package manager, manifests to copy, install command or None for "needs the source", dependency names)."""
    if repo.is_file("requirements.txt"):
        deps = _requirement_names((repo.text("requirements.txt") or "").splitlines())
        return "pip", ["requirements.txt"], "pip install -r requirements.txt", deps
    if repo.is_file("pyproject.toml"):
        data = repo.toml("pyproject.toml") or {}
        project = data.get("project") or {}
        poetry = (data.get("tool") or {}).get("poetry") or {}
        declared = [d for d in project.get("dependencies") or [] if isinstance(d, str)]
        deps = _requirement_names(declared) | {
            _norm(n) for n in poetry.get("dependencies") or {} if n != "python"
        }
        if repo.is_file("uv.lock"):
            install = "pip install uv && uv sync --frozen --no-dev --no-install-project"
            return "uv", ["pyproject.toml", "uv.lock"], install, deps
        if repo.is_file("poetry.lock"):
            install = "pip install poetry && poetry config virtualenvs.create false && poetry install --no-root --only main"
            return "poetry", ["pyproject.toml", "poetry.lock"], install, deps
        if declared:
            # The declared dependencies alone, from the manifest: the layer survives source changes.
            return "pip", ["pyproject.toml"], f"pip install {quoted(declared)}", deps
        return (
            "pip",
            [],
            "pip install .",
            deps,
        )  # dependencies not declared statically: the build backend decides
    data = repo.toml("Pipfile") or {}
    deps = {_norm(n) for n in data.get("packages") or {}}
    if repo.is_file("Pipfile.lock"):
        return (
            "pipenv",
            ["Pipfile", "Pipfile.lock"],
            "pip install pipenv && pipenv install --system --deploy",
            deps,
        )
    return "pipenv", ["Pipfile"], "pip install pipenv && pipenv install --system --skip-lock", deps


def _module(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".").removesuffix(".__init__")


def _find_app(repo: Repo, framework: str) -> tuple[str, str] | None:
    """(module, variable) of the first file assigning the framework's app object."""
    pattern = _APP_VAR[framework]
    for path in repo.files(".py"):
        found = pattern.search(repo.text(path) or "")
        if found:
            return _module(path), found.group(1)
    return None


def _django_project(repo: Repo) -> str | None:
    if not repo.is_file("manage.py"):
        return None
    for path in repo.files("wsgi.py"):
        if path.count("/") == 1 and path.endswith("/wsgi.py"):
            return path.split("/")[0]
    return None


def _start(repo: Repo, deps: set[str], facts: dict[str, Any]) -> tuple[str | None, str | None]:
    """(framework, start command)."""
    gunicorn = "gunicorn" in deps
    project = _django_project(repo)
    if project is not None:
        facts["wsgi_module"] = f"{project}.wsgi"
        if gunicorn:
            return "django", f"gunicorn --bind 0.0.0.0:$PORT {project}.wsgi:application"
        return "django", "python manage.py runserver 0.0.0.0:$PORT"
    app = _find_app(repo, "fastapi")
    if app is not None:
        facts["app"] = f"{app[0]}:{app[1]}"
        return "fastapi", f"uvicorn {app[0]}:{app[1]} --host 0.0.0.0 --port $PORT"
    app = _find_app(repo, "flask")
    if app is not None:
        facts["app"] = f"{app[0]}:{app[1]}"
        if gunicorn:
            return "flask", f"gunicorn --bind 0.0.0.0:$PORT {app[0]}:{app[1]}"
        return "flask", f"flask --app {app[0]}:{app[1]} run --host 0.0.0.0 --port $PORT"
    for script in ("main.py", "app.py"):
        if repo.is_file(script):
            return None, f"python {script}"
    return None, None


def plan(repo: Repo, settings: Settings) -> Plan:
    manager, manifests, install, deps = _manager(repo)
    facts: dict[str, Any] = {
        "package_manager": manager,
        "manifests": manifests or ["pyproject.toml"],
        "dependencies": sorted(deps),
        "gunicorn": "gunicorn" in deps,
    }
    framework, start = _start(repo, deps, facts)
    start = settings.start_command or start
    if start is None:
        raise BuildFailed(
            "the autodetect builder found a Python project but no way to start it (no Django manage.py with a "
            "wsgi.py, no FastAPI( or Flask(__name__) app, no main.py or app.py): set the app's start_command "
            "or add a Dockerfile"
        )
    base = settings.base_image or BASE_IMAGE
    port = settings.port or DEFAULT_PORT
    install = settings.install_command or install
    env = [*ENV, 'PATH="/app/.venv/bin:$PATH"'] if manager == "uv" else list(ENV)
    secret = bool(settings.secret_arg_names)
    stage = AppStage(
        base,
        "/app",
        manifests,
        install,
        settings.build_command,
        settings.build_arg_names,
        env,
        name="build" if secret else None,
        meta=[] if secret else [*port_lines(port), cmd_line(start)],
    )
    lines = [header(NAME, "python", framework), *stage.lines()]
    if secret:
        lines += [*stage.secret_free_lines(), *port_lines(port), cmd_line(start)]
    return Plan(
        detector=NAME,
        language="python",
        framework=framework,
        facts=facts,
        base_image=base,
        install_command=install,
        build_command=settings.build_command,
        start_command=start,
        port=port,
        dockerfile="\n".join(lines) + "\n",
    )
