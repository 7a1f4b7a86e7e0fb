"""Ruby: a ``Gemfile`` (with or without ``Gemfile.lock``), a ``config.ru``, or a plain ``app.rb``/``main.rb``.

Runs in the official Ruby image, whose gems live in ``/usr/local/bundle``. With a ``Gemfile``, ``bundle install``
runs from ``Gemfile``/``Gemfile.lock`` alone before the source is copied (without the development and test groups;
frozen to the lock file when there is one). The start command comes from the framework found: Rails (``bin/rails``
and ``config/application.rb``: ``bin/rails server``, port 3000, assets precompiled when ``app/assets`` exists), a
Rack app (``config.ru``: puma when the Gemfile has it, else ``rackup``; port 9292, Sinatra's 4567 when it is a
Sinatra app), a Sinatra script (``ruby app.rb -o 0.0.0.0 -p $PORT``, port 4567), else ``ruby app.rb`` (or
``main.rb``/``server.rb``), through ``bundle exec`` when there is a Gemfile; port 3000.
"""

from __future__ import annotations

import re
from typing import Any

from rivetr_core.contract import BuildFailed

from ..plan import AppStage, Plan, Settings, cmd_line, header, port_lines
from ..repo import Repo

NAME = "ruby"
LOOKS_FOR = "Gemfile, config.ru, or app.rb/main.rb (Ruby)"
BASE_IMAGE = "ruby:3.1-slim"
DEFAULT_PORT = "3000"
RACK_PORT = "9292"
SINATRA_PORT = "4567"
ENTRY_FILES = ("app.rb", "main.rb", "server.rb")
ENV = ['BUNDLE_WITHOUT="development:test"']
_GEM = re.compile(r"""^\s*gem\s*\(?\s*["']([A-Za-z0-9_.-]+)["']""", re.M)
#: A top-level spec of Gemfile.lock (four spaces, then ``name (version)``).
_LOCKED = re.compile(r"^ {4}([A-Za-z0-9_.-]+) \(", re.M)
_SINATRA = re.compile(r"""^\s*require\s*\(?\s*["']sinatra(?:/base)?["']""", re.M)


def matches(repo: Repo) -> bool:
    return any(repo.is_file(name) for name in ("Gemfile", "config.ru", "app.rb", "main.rb"))


def _gems(repo: Repo) -> set[str]:
    return set(_GEM.findall(repo.text("Gemfile") or "")) | set(
        _LOCKED.findall(repo.text("Gemfile.lock") or "")
    )


def _start(repo: Repo, gems: set[str], bundler: str) -> tuple[str | None, str | None, str]:
    """(framework, start command, port)."""
    if repo.is_file("bin/rails") and repo.is_file("config/application.rb"):
        return "rails", "bin/rails server -b 0.0.0.0 -p $PORT", DEFAULT_PORT
    sinatra = "sinatra" in gems
    if repo.is_file("config.ru"):
        port = SINATRA_PORT if sinatra else RACK_PORT
        if "puma" in gems:
            return ("sinatra" if sinatra else "rack"), f"{bundler}puma -b tcp://0.0.0.0:$PORT", port
        return ("sinatra" if sinatra else "rack"), f"{bundler}rackup -o 0.0.0.0 -p $PORT", port
    entries = [f for f in ENTRY_FILES if repo.is_file(f)]
    if sinatra:
        script = next((f for f in entries if _SINATRA.search(repo.text(f) or "")), None)
        if script is not None:
            return "sinatra", f"{bundler}ruby {script} -o 0.0.0.0 -p $PORT", SINATRA_PORT
    if entries:
        return None, f"{bundler}ruby {entries[0]}", DEFAULT_PORT
    return None, None, DEFAULT_PORT


def plan(repo: Repo, settings: Settings) -> Plan:
    has_gemfile = repo.is_file("Gemfile")
    locked = has_gemfile and repo.is_file("Gemfile.lock")
    gems = _gems(repo) if has_gemfile else set()
    manifests = ["Gemfile", *(["Gemfile.lock"] if locked else [])] if has_gemfile else []
    framework, start, port = _start(repo, gems, "bundle exec " if has_gemfile else "")
    facts: dict[str, Any] = {
        "package_manager": "bundler" if has_gemfile else None,
        "manifests": manifests,
        "lock_file": "Gemfile.lock" if locked else None,
        "gems": sorted(gems),
    }
    start = settings.start_command or start
    if start is None:
        raise BuildFailed(
            "the autodetect builder found a Ruby project but no way to start it (no Rails bin/rails with "
            f"config/application.rb, no config.ru, none of {', '.join(ENTRY_FILES)}): set the app's "
            "start_command or add a Dockerfile"
        )
    env = list(ENV)
    if locked:
        env.append("BUNDLE_FROZEN=true")  # the lock file is what gets installed, or the build fails
    build = settings.build_command
    if framework == "rails":
        env.append("RAILS_ENV=production RAILS_LOG_TO_STDOUT=1 RAILS_SERVE_STATIC_FILES=1")
        if build is None and repo.is_dir("app/assets"):
            # Rails 7.1+ accepts a dummy secret for the precompile; the real one is a runtime variable.
            build = "SECRET_KEY_BASE_DUMMY=1 bin/rails assets:precompile"
    install = settings.install_command or ("bundle install" if has_gemfile else None)
    base = settings.base_image or BASE_IMAGE
    port = settings.port or port
    secret = bool(settings.secret_arg_names)
    stage = AppStage(
        base,
        "/app",
        manifests,
        install,
        build,
        settings.build_arg_names,
        env,
        name="build" if secret else None,
        meta=[] if secret else [*port_lines(port), cmd_line(start)],
    )
    lines = [header(NAME, "ruby", framework), *stage.lines()]
    if secret:
        lines += [*stage.secret_free_lines(), *port_lines(port), cmd_line(start)]
    return Plan(
        detector=NAME,
        language="ruby",
        framework=framework,
        facts=facts,
        base_image=base,
        install_command=install,
        build_command=build,
        start_command=start,
        port=port,
        dockerfile="\n".join(lines) + "\n",
    )
