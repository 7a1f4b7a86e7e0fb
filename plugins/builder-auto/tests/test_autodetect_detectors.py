"""Every detector on the sample repositories (tests/fixtures/apps) and on variants written per test: the plan's
facts and commands, and the generated Dockerfile's structure (manifests installed before the source is copied)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from rivetr_builder_auto.builder import AutoBuilder

from rivetr_core.contract import BuildFailed, BuildRequest

APPS = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "apps"


def plan(source: Path, **settings: str | None) -> dict[str, Any]:
    request = BuildRequest(
        source_dir=source,
        tag="localhost/rivetr/t:1",
        build_args={"SOURCE_COMMIT": "0123abc", "API_KEY": "s3cret-value"},
        settings={"port": "8000", **settings},
    )
    assert AutoBuilder().detect(source, request)
    return AutoBuilder().plan(source, request)


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def lines(result: dict[str, Any]) -> list[str]:
    return [ln for ln in result["dockerfile"].splitlines() if ln and not ln.startswith("#")]


def index(result: dict[str, Any], prefix: str) -> int:
    found = [n for n, ln in enumerate(lines(result)) if ln.startswith(prefix)]
    assert found, f"no line starting {prefix!r} in:\n{result['dockerfile']}"
    return found[0]


def assert_cache_friendly(result: dict[str, Any], manifests: list[str]) -> None:
    """Manifests copied, then installed, then the source copied; SOURCE_COMMIT declared after the install (it
    changes every commit); build variables by name only."""
    manifest_copy = index(result, f"COPY {json.dumps([*manifests, './'])}")
    install = index(result, f"RUN {result['install_command']}")
    source_copy = index(result, 'COPY [".", "."]')
    assert manifest_copy < install < source_copy < index(result, "ARG SOURCE_COMMIT")
    assert index(result, "ARG API_KEY") < install
    assert "s3cret-value" not in result["dockerfile"] and "0123abc" not in result["dockerfile"]
    assert f"ENV PORT={result['port']}" in lines(result)


def assert_cmd(result: dict[str, Any], command: str) -> None:
    """The image's one CMD, in the last stage (metadata sits before the source copy: see AppStage.meta)."""
    final = lines(result)[max(n for n, ln in enumerate(lines(result)) if ln.startswith("FROM ")) :]
    assert [ln for ln in final if ln.startswith("CMD ")] == ["CMD " + json.dumps(["sh", "-c", command])]


def test_flask_requirements() -> None:
    result = plan(APPS / "flask-requirements")
    assert (result["builder"], result["detector"], result["language"], result["framework"]) == (
        "autodetect",
        "python",
        "python",
        "flask",
    )
    assert result["facts"]["package_manager"] == "pip"
    assert result["facts"]["app"] == "app:app"
    assert result["facts"]["gunicorn"] is True
    assert result["base_image"] == "python:3.12-slim"
    assert lines(result)[0] == "FROM python:3.12-slim"
    assert result["install_command"] == "pip install -r requirements.txt"
    assert result["start_command"] == "gunicorn --bind 0.0.0.0:$PORT app:app"
    assert_cache_friendly(result, ["requirements.txt"])
    assert_cmd(result, "exec gunicorn --bind 0.0.0.0:$PORT app:app")


def test_fastapi_pyproject() -> None:
    result = plan(APPS / "fastapi-pyproject")
    assert (result["detector"], result["framework"]) == ("python", "fastapi")
    assert result["facts"]["app"] == "app.main:api"  # the variable's own name, in a package
    assert result["facts"]["dependencies"] == ["fastapi", "uvicorn"]
    # The declared dependencies are installed from pyproject.toml alone, before the source arrives.
    assert result["install_command"] == "pip install 'fastapi>=0.110' 'uvicorn[standard]>=0.29'"
    assert result["start_command"] == "uvicorn app.main:api --host 0.0.0.0 --port $PORT"
    assert_cache_friendly(result, ["pyproject.toml"])


def test_node_express() -> None:
    result = plan(APPS / "node-express")
    assert (result["detector"], result["language"], result["framework"]) == ("node", "node", "express")
    assert result["facts"]["lock_file"] == "package-lock.json"
    assert result["facts"]["node_version"] == ">=20"
    assert result["base_image"] == "node:22-slim"
    assert result["install_command"] == "npm ci"
    assert result["build_command"] is None
    # A plain `node server.js` start script runs directly: node is PID 1 and gets SIGTERM.
    assert result["start_command"] == "node server.js"
    assert_cache_friendly(result, ["package.json", "package-lock.json"])
    assert index(result, 'COPY [".", "."]') < index(result, "ENV NODE_ENV=production")


def test_vite_static() -> None:
    result = plan(APPS / "vite-static")
    assert (result["detector"], result["framework"]) == ("node", "vite")
    assert result["facts"]["static_output"] == "dist/"
    assert result["facts"]["runtime_image"] == "busybox:stable"
    assert result["build_command"] == "npm run build"
    assert_cache_friendly(result, ["package.json", "package-lock.json"])
    body = lines(result)
    assert body[0] == "FROM node:22-slim AS build"
    # The build's output alone is served, by busybox httpd on $PORT: no node_modules in the image.
    assert index(result, "RUN npm run build") < body.index("FROM busybox:stable")
    assert 'COPY --from=build ["/app/dist", "/www"]' in body
    assert_cmd(result, "exec httpd -f -v -p $PORT -h /www")


def test_go_http() -> None:
    result = plan(APPS / "go-http")
    assert (result["detector"], result["language"]) == ("go", "go")
    assert result["facts"]["module"] == "example.com/go-http"
    assert result["facts"]["go_version"] == "1.22"
    assert result["facts"]["main_package"] == "."
    assert result["base_image"] == "golang:1.22"
    assert result["install_command"] == "go mod download"
    assert result["build_command"] == 'go build -trimpath -ldflags="-s -w" -o /out/app .'
    assert_cache_friendly(result, ["go.mod"])
    body = lines(result)
    assert body[0] == "FROM golang:1.22 AS build"
    assert "ENV CGO_ENABLED=0" in body  # a static binary: the runtime stage has no libc
    runtime = body.index("FROM busybox:stable")
    assert index(result, "RUN go build") < runtime
    assert body[runtime + 1 :][:2] == [
        'COPY --from=build ["/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/"]',
        'COPY --from=build ["/out/app", "/app/app"]',
    ]
    assert_cmd(result, "exec /app/app")


def test_static_site() -> None:
    result = plan(APPS / "static-site")
    assert (result["detector"], result["language"]) == ("static", "static")
    assert result["facts"]["site_root"] == "./"
    assert result["base_image"] == "busybox:stable"
    body = lines(result)
    # One stage, the metadata before the copy (a changed page re-runs the copy alone); .git never reaches the
    # image because the builder leaves it out of the context (test_autodetect_builder checks the BuildSpec).
    assert body[:6] == [
        "FROM busybox:stable",
        "WORKDIR /www",
        "ENV PORT=8000",
        "EXPOSE 8000",
        'CMD ["sh", "-c", "exec httpd -f -v -p $PORT -h /www"]',
        "ARG API_KEY",
    ]
    assert body[6] == 'COPY ["."' + ', "/www"]'
    assert_cmd(result, "exec httpd -f -v -p $PORT -h /www")


def test_static_site_in_public(tmp_path: Path) -> None:
    result = plan(write(tmp_path, {"public/index.html": "<h1>hi</h1>", "README.md": "x"}))
    assert result["facts"]["site_root"] == "public/"
    assert 'COPY ["public", "/www"]' in lines(result)


# ------------------------------------------------------------------------------------------------- Python
@pytest.mark.parametrize(
    ("files", "manager", "manifests", "install"),
    [
        (
            {"uv.lock": "version = 1\n"},
            "uv",
            ["pyproject.toml", "uv.lock"],
            "pip install uv && uv sync --frozen --no-dev --no-install-project",
        ),
        (
            {"poetry.lock": "# poetry\n"},
            "poetry",
            ["pyproject.toml", "poetry.lock"],
            "pip install poetry && poetry config virtualenvs.create false && poetry install --no-root --only main",
        ),
    ],
)
def test_pyproject_lock_files(
    tmp_path: Path, files: dict[str, str], manager: str, manifests: list[str], install: str
) -> None:
    pyproject = '[project]\nname = "x"\nversion = "1"\ndependencies = ["flask", "gunicorn>=21"]\n'
    result = plan(
        write(tmp_path, {"pyproject.toml": pyproject, "app.py": "app = Flask(__name__)\n", **files})
    )
    assert result["facts"]["package_manager"] == manager
    assert result["install_command"] == install
    assert_cache_friendly(result, manifests)
    assert result["start_command"] == "gunicorn --bind 0.0.0.0:$PORT app:app"
    if manager == "uv":
        assert 'ENV PATH="/app/.venv/bin:$PATH"' in lines(result)


def test_poetry_dependencies_are_read(tmp_path: Path) -> None:
    pyproject = '[tool.poetry]\nname = "x"\n[tool.poetry.dependencies]\npython = "^3.12"\nDjango = "^5"\n'
    result = plan(write(tmp_path, {"pyproject.toml": pyproject, "poetry.lock": "", "main.py": "print(1)\n"}))
    assert result["facts"]["dependencies"] == ["django"]
    assert result["start_command"] == "python main.py"


def test_pyproject_without_static_dependencies_installs_from_the_source(tmp_path: Path) -> None:
    pyproject = '[project]\nname = "x"\ndynamic = ["version", "dependencies"]\n'
    result = plan(write(tmp_path, {"pyproject.toml": pyproject, "main.py": "print(1)\n"}))
    assert result["install_command"] == "pip install ."
    assert index(result, 'COPY [".", "."]') < index(result, "RUN pip install .")


@pytest.mark.parametrize("locked", [True, False])
def test_pipfile(tmp_path: Path, locked: bool) -> None:
    files = {"Pipfile": '[packages]\nflask = "*"\n', "app.py": "app = Flask(__name__)\n"}
    if locked:
        files["Pipfile.lock"] = "{}"
    result = plan(write(tmp_path, files))
    assert result["facts"]["package_manager"] == "pipenv"
    assert result["install_command"].endswith("--deploy" if locked else "--skip-lock")
    assert_cache_friendly(result, ["Pipfile", "Pipfile.lock"] if locked else ["Pipfile"])
    # Flask without gunicorn: its own server, on $PORT.
    assert result["start_command"] == "flask --app app:app run --host 0.0.0.0 --port $PORT"


@pytest.mark.parametrize(
    ("requirements", "start"),
    [
        ("Django>=5\ngunicorn\n", "gunicorn --bind 0.0.0.0:$PORT shop.wsgi:application"),
        ("django==5.0\n", "python manage.py runserver 0.0.0.0:$PORT"),
    ],
)
def test_django(tmp_path: Path, requirements: str, start: str) -> None:
    files = {
        "requirements.txt": requirements,
        "manage.py": "import django\n",
        "shop/wsgi.py": "application = get_wsgi_application()\n",
        "shop/settings.py": "",
        # An assets toolchain does not make it a Node project: Python is asked first.
        "package.json": '{"scripts": {"build": "tailwindcss"}}',
    }
    result = plan(write(tmp_path, files))
    assert (result["detector"], result["framework"]) == ("python", "django")
    assert result["facts"]["wsgi_module"] == "shop.wsgi"
    assert result["start_command"] == start


def test_python_without_a_start_command_fails_clearly(tmp_path: Path) -> None:
    write(tmp_path, {"requirements.txt": "requests\n", "lib/util.py": "x = 1\n"})
    with pytest.raises(BuildFailed, match=r"no way to start it.*start_command"):
        plan(tmp_path)
    assert plan(tmp_path, start_command="python -m lib.util")["start_command"] == "python -m lib.util"


def test_framework_scan_skips_tests_and_virtualenvs(tmp_path: Path) -> None:
    files = {
        "requirements.txt": "fastapi\n",
        "tests/test_app.py": "app = FastAPI()\n",
        ".venv/lib/x.py": "app = FastAPI()\n",
        "service/api.py": "from fastapi import FastAPI\n\nserver: FastAPI = FastAPI()\n",
    }
    assert plan(write(tmp_path, files))["facts"]["app"] == "service.api:server"


# --------------------------------------------------------------------------------------------------- Node
def package(**fields: Any) -> str:
    return json.dumps({"name": "x", **fields})


@pytest.mark.parametrize(
    ("lock", "extra", "manager", "install"),
    [
        ("pnpm-lock.yaml", {}, "pnpm", "corepack enable && pnpm install --frozen-lockfile"),
        ("yarn.lock", {}, "yarn", "corepack enable && yarn install --frozen-lockfile"),
        (
            "yarn.lock",
            {"packageManager": "yarn@4.1.0"},
            "yarn",
            "corepack enable && yarn install --immutable",
        ),
    ],
)
def test_node_lock_files(
    tmp_path: Path, lock: str, extra: dict[str, str], manager: str, install: str
) -> None:
    files = {"package.json": package(scripts={"start": "node index.js && echo"}, **extra), lock: ""}
    result = plan(write(tmp_path, files))
    assert result["facts"]["package_manager"] == manager
    assert result["install_command"] == install
    assert_cache_friendly(result, ["package.json", lock])
    # A compound start script runs through the package manager (and is not exec-ed as a whole).
    assert result["start_command"] == f"{manager} run start"


def test_node_without_lock_file_and_npmrc(tmp_path: Path) -> None:
    files = {"package.json": package(main="src/app.js"), "src/app.js": "", ".npmrc": "engine-strict=true\n"}
    result = plan(write(tmp_path, files))
    assert result["install_command"] == "npm install"
    assert result["facts"]["manifests"] == ["package.json", ".npmrc"]
    assert result["start_command"] == "node src/app.js"
    assert_cache_friendly(result, ["package.json", ".npmrc"])


def test_next(tmp_path: Path) -> None:
    files = {
        "package.json": package(scripts={"build": "next build"}, dependencies={"next": "14", "react": "18"}),
        "package-lock.json": "{}",
    }
    result = plan(write(tmp_path, files))
    assert result["framework"] == "next"
    assert result["build_command"] == "npm run build"
    assert result["start_command"] == "npx next start -p $PORT"
    assert index(result, 'COPY [".", "."]') < index(result, "RUN npm run build")
    assert "FROM busybox:stable" not in lines(result)  # a Node server, not a static export


def test_create_react_app_serves_build(tmp_path: Path) -> None:
    files = {
        "package.json": package(scripts={"build": "react-scripts build"}, dependencies={"react-scripts": "5"})
    }
    result = plan(write(tmp_path, files))
    assert result["framework"] == "react-scripts"
    assert 'COPY --from=build ["/app/build", "/www"]' in lines(result)


def test_node_with_nothing_to_start_fails_clearly(tmp_path: Path) -> None:
    write(tmp_path, {"package.json": package(scripts={"test": "jest"})})
    with pytest.raises(BuildFailed, match="no way to start it"):
        plan(tmp_path)


def test_node_invalid_package_json(tmp_path: Path) -> None:
    write(tmp_path, {"package.json": "{not json"})
    with pytest.raises(BuildFailed, match=r"package\.json is not a readable JSON object"):
        plan(tmp_path)


# ----------------------------------------------------------------------------------------------------- Go
def test_go_cmd_package_and_newer_toolchain(tmp_path: Path) -> None:
    files = {
        "go.mod": "module example.com/x\n\ngo 1.23.1\n",
        "go.sum": "",
        "cmd/server/main.go": "package main\n\nfunc main() {}\n",
        "internal/lib.go": "package internal\n",
    }
    result = plan(write(tmp_path, files))
    assert result["facts"]["main_package"] == "./cmd/server"
    assert result["base_image"] == "golang:1.23"  # go.mod asks for a newer Go than the default
    assert result["build_command"].endswith("-o /out/app ./cmd/server")
    assert_cache_friendly(result, ["go.mod", "go.sum"])


def test_go_without_main_package_fails_clearly(tmp_path: Path) -> None:
    write(tmp_path, {"go.mod": "module x\n", "lib.go": "package lib\n"})
    with pytest.raises(BuildFailed, match="no main package"):
        plan(tmp_path)


# ----------------------------------------------------------------------------------------------- overrides
def test_overrides_win_over_detection() -> None:
    result = plan(
        APPS / "flask-requirements",
        install_command="pip install --no-deps -r requirements.txt",
        build_command="python -m compileall .",
        start_command="python app.py",
        base_image="python:3.11-slim",
        port="9000",
    )
    assert (result["install_command"], result["build_command"], result["start_command"]) == (
        "pip install --no-deps -r requirements.txt",
        "python -m compileall .",
        "python app.py",
    )
    assert (result["base_image"], result["port"]) == ("python:3.11-slim", "9000")
    body = lines(result)
    assert body[0] == "FROM python:3.11-slim"
    assert index(result, 'COPY [".", "."]') < index(result, "RUN python -m compileall .")
    assert "ENV PORT=9000" in body and "EXPOSE 9000" in body
    assert_cache_friendly(result, ["requirements.txt"])
    assert_cmd(result, "exec python app.py")


def test_static_base_image_override() -> None:
    result = plan(APPS / "static-site", base_image="nginx:stable", start_command="nginx -g 'daemon off;'")
    assert lines(result)[0] == "FROM nginx:stable"
    assert_cmd(result, "nginx -g 'daemon off;'")  # shell syntax: run as given, not exec-prefixed


# ------------------------------------------------------------------------------------------- bad repositories
def test_undetectable_repository_lists_what_was_looked_for(tmp_path: Path) -> None:
    write(tmp_path, {"README.md": "# nothing to build", "www/index.html": "not at the root"})
    request = BuildRequest(source_dir=tmp_path, tag="t")
    assert not AutoBuilder().detect(tmp_path, request)
    with pytest.raises(BuildFailed) as caught:
        AutoBuilder().plan(tmp_path, request)
    message = caught.value.message
    for looked_for in (
        "go.mod",
        "requirements.txt",
        "pyproject.toml",
        "Pipfile",
        "package.json",
        "index.html",
    ):
        assert looked_for in message
    assert "Add a Dockerfile" in message


def test_manifests_linked_out_of_the_checkout_are_not_detected(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write(outside, {"package.json": package(scripts={"start": "node x"})})
    repo = tmp_path / "repo"
    repo.mkdir()
    os.symlink(outside / "package.json", repo / "package.json")
    os.symlink("/dev/zero", repo / "requirements.txt")
    assert not AutoBuilder().detect(repo, BuildRequest(source_dir=repo, tag="t"))


def test_build_context_is_the_project_directory(tmp_path: Path) -> None:
    write(tmp_path, {"services/web/go.mod": "module w\n", "services/web/main.go": "package main\n"})
    request = BuildRequest(source_dir=tmp_path, tag="t", build_context="services/web")
    assert AutoBuilder().plan(tmp_path, request)["detector"] == "go"
    escaping = BuildRequest(source_dir=tmp_path / "services", tag="t", build_context="../..")
    assert not AutoBuilder().detect(tmp_path / "services", escaping)


# ------------------------------------------------------------------------------------------- secret build variables
def _stages(result: dict[str, Any]) -> list[list[str]]:
    out: list[list[str]] = []
    for line in lines(result):
        if line.startswith("FROM "):
            out.append([])
        out[-1].append(line)
    return out


@pytest.mark.parametrize("sample", ["flask-requirements", "node-express"])
def test_secret_build_variables_stay_in_a_build_stage(sample: str) -> None:
    """With a secret build variable, the single-stage plans (Python, Node servers) split: the install and build
    run in a named build stage declaring the variables; the final stage copies the files and declares none, so
    its history (what `docker history` shows) never holds the value the engine recorded for a RUN."""
    plain = plan(APPS / sample)
    assert len(_stages(plain)) == 1  # without secrets: one stage, as before
    request = BuildRequest(
        source_dir=APPS / sample,
        tag="localhost/rivetr/t:1",
        build_args={"SOURCE_COMMIT": "0123abc", "API_KEY": "s3cret-value"},
        secret_build_args=["API_KEY", "NOT_A_BUILD_ARG"],
        settings={"port": "8000"},
    )
    result = AutoBuilder().plan(APPS / sample, request)
    build, final = _stages(result)
    assert build[0].endswith(" AS build") and "ARG API_KEY" in build
    assert f"RUN {result['install_command']}" in build
    assert not [ln for ln in final if ln.startswith(("ARG", "RUN"))], final
    assert final[0] == f"FROM {result['base_image']}"
    assert 'COPY --from=build ["/usr/local", "/usr/local"]' in final
    assert 'COPY --from=build ["/app", "/app"]' in final
    assert "s3cret-value" not in result["dockerfile"]
    assert_cmd(result, f"exec {result['start_command']}")


def test_secrets_in_an_already_staged_plan_add_no_stage() -> None:
    """Go and static builds copy their output into a small runtime image already: a secret changes nothing."""
    for sample in ("go-http", "vite-static", "static-site"):  # static-site: split only when there are secrets
        request = BuildRequest(
            source_dir=APPS / sample,
            tag="localhost/rivetr/t:1",
            build_args={"API_KEY": "v"},
            secret_build_args=["API_KEY"],
            settings={"port": "8000"},
        )
        result = AutoBuilder().plan(APPS / sample, request)
        final = _stages(result)[-1]
        assert len(_stages(result)) == 2 and not [ln for ln in final if ln.startswith("ARG")], sample
