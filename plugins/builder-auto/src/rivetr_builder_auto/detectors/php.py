"""PHP: ``composer.json`` and/or ``index.php`` (at the root or in ``public/``); Laravel by its ``artisan``.

Runs in the official PHP CLI image. Composer is not in that image: it is copied from the official composer image
(``COPY --from=composer:2``), the way both images are meant to be combined. With a ``composer.json`` the
dependencies are installed from ``composer.json``/``composer.lock`` alone (``--no-scripts --no-autoloader``: the
source is not there yet), and after the source is copied the autoloader is dumped (running the project's scripts,
which Laravel's package discovery needs). Packages are downloaded as zip files, and the official PHP image has
neither ``unzip`` nor the zip extension: when ``composer.json`` requires packages (not just ``php``/``ext-*``),
Debian's ``unzip`` is installed first. The app is served by PHP's built-in server from the document root
(``public/`` when it holds the ``index.php``), Laravel by ``php artisan serve``.
"""

from __future__ import annotations

from typing import Any

from ..plan import AppStage, Plan, Settings, cmd_line, copy_line, header, port_lines
from ..repo import Repo

NAME = "php"
LOOKS_FOR = "composer.json, or index.php at the root or in public/ (PHP)"
BASE_IMAGE = "php:8.2-cli"
COMPOSER_IMAGE = "composer:2"
DEFAULT_PORT = "8080"
INSTALL = (
    "composer install --no-dev --no-interaction --no-progress --prefer-dist --no-scripts --no-autoloader"
)
DUMP_AUTOLOAD = "composer dump-autoload --no-dev --optimize --no-interaction"
#: Composer unpacks downloaded packages with unzip; the official image is Debian-based.
UNZIP = "apt-get update && apt-get install -y --no-install-recommends unzip && rm -rf /var/lib/apt/lists/*"
ENV = ["COMPOSER_ALLOW_SUPERUSER=1"]


def matches(repo: Repo) -> bool:
    return any(repo.is_file(name) for name in ("composer.json", "index.php", "public/index.php"))


def _packages(composer: dict[str, Any]) -> list[str]:
    """The required packages that composer downloads (``php`` and extensions are platform requirements)."""
    require = composer.get("require")
    if not isinstance(require, dict):
        return []
    return sorted(
        name for name in require if isinstance(name, str) and name != "php" and not name.startswith("ext-")
    )


def _framework(repo: Repo, packages: list[str]) -> str | None:
    if repo.is_file("artisan") and (not packages or "laravel/framework" in packages):
        return "laravel"
    if "symfony/framework-bundle" in packages:
        return "symfony"
    if "slim/slim" in packages:
        return "slim"
    return None


def plan(repo: Repo, settings: Settings) -> Plan:
    has_composer = repo.is_file("composer.json")
    composer = (repo.json("composer.json") or {}) if has_composer else {}
    packages = _packages(composer)
    framework = _framework(repo, packages)
    docroot = "public" if framework == "laravel" or repo.is_file("public/index.php") else "."
    manifests = ["composer.json", *(["composer.lock"] if repo.is_file("composer.lock") else [])]
    facts: dict[str, Any] = {
        "package_manager": "composer" if has_composer else None,
        "manifests": manifests if has_composer else [],
        "dependencies": packages,
        "document_root": f"{docroot}/" if docroot != "." else "./",
    }
    if framework == "laravel":
        start = "php artisan serve --host=0.0.0.0 --port=$PORT"
    else:
        start = f"php -S 0.0.0.0:$PORT -t {docroot}"
    start = settings.start_command or start
    install = settings.install_command or (INSTALL if has_composer else None)
    build = settings.build_command or (DUMP_AUTOLOAD if has_composer else None)
    base = settings.base_image or BASE_IMAGE
    port = settings.port or DEFAULT_PORT
    secret = bool(settings.secret_arg_names)
    stage = AppStage(
        base,
        "/app",
        manifests if has_composer else [],
        install,
        build,
        settings.build_arg_names,
        list(ENV),
        name="build" if secret else None,
        meta=[] if secret else [*port_lines(port), cmd_line(start)],
    )
    body = stage.lines()
    if has_composer:
        # Tools before the variables and manifests: this layer is shared by every app on the same base.
        tools = [copy_line(["/usr/bin/composer"], "/usr/bin/composer", stage=COMPOSER_IMAGE)]
        if packages and settings.install_command is None:
            tools.insert(0, f"RUN {UNZIP}")
        body[2:2] = tools
    lines = [header(NAME, "php", framework), *body]
    if secret:
        lines += [*stage.secret_free_lines(), *port_lines(port), cmd_line(start)]
    return Plan(
        detector=NAME,
        language="php",
        framework=framework,
        facts=facts,
        base_image=base,
        install_command=install,
        build_command=build,
        start_command=start,
        port=port,
        dockerfile="\n".join(lines) + "\n",
    )
