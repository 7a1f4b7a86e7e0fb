"""The PHP and Ruby detectors: the sample repositories (tests/fixtures/apps/php-plain, ruby-plain, deployed for real
by tests/e2e/test_autodetect_apps.py) and framework trees written per test. Laravel, Symfony, Rails, Sinatra and
Rack apps are planned here only: their packages come from Packagist and rubygems.org, which builds cannot reach
on the test machines, so they are detected and their Dockerfiles checked, not deployed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rivetr_builder_auto.builder import AutoBuilder

from rivetr_core.contract import BuildFailed, BuildRequest

APPS = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "apps"
BUILD_ARGS = {"SOURCE_COMMIT": "0123abc", "API_KEY": "s3cret-value"}


def plan(source: Path, **settings: str) -> dict[str, Any]:
    request = BuildRequest(
        source_dir=source, tag="localhost/rivetr/t:1", build_args=BUILD_ARGS, settings=settings
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


def index(result: dict[str, Any], line: str) -> int:
    body = lines(result)
    assert line in body, f"no line {line!r} in:\n{result['dockerfile']}"
    return body.index(line)


def assert_cache_friendly(result: dict[str, Any], manifests: list[str]) -> None:
    """Manifests copied, then installed, then the source; SOURCE_COMMIT after the install; names, no values."""
    manifest_copy = index(result, f"COPY {json.dumps([*manifests, './'])}")
    install = index(result, f"RUN {result['install_command']}")
    source_copy = index(result, 'COPY [".", "."]')
    assert manifest_copy < install < source_copy < index(result, "ARG SOURCE_COMMIT")
    assert index(result, "ARG API_KEY") < install
    assert "s3cret-value" not in result["dockerfile"] and "0123abc" not in result["dockerfile"]
    assert f"ENV PORT={result['port']}" in lines(result) and f"EXPOSE {result['port']}" in lines(result)


def cmd(result: dict[str, Any]) -> list[str]:
    found = [ln for ln in lines(result) if ln.startswith("CMD ")]
    assert len(found) == 1, result["dockerfile"]
    parsed: list[str] = json.loads(found[0].removeprefix("CMD "))
    return parsed


# ------------------------------------------------------------------------------------------------------- PHP
def test_php_plain_sample() -> None:
    result = plan(APPS / "php-plain")
    assert (result["detector"], result["language"], result["framework"]) == ("php", "php", None)
    assert result["facts"] == {
        "package_manager": "composer",
        "manifests": ["composer.json"],
        "dependencies": [],  # "php" is a platform requirement: nothing to download
        "document_root": "./",
    }
    assert (result["base_image"], result["port"]) == ("php:8.2-cli", "8080")
    body = lines(result)
    assert body[:3] == [
        "FROM php:8.2-cli",
        "WORKDIR /app",
        'COPY --from=composer:2 ["/usr/bin/composer", "/usr/bin/composer"]',
    ]
    assert not any("apt-get" in ln for ln in body)  # no packages to unzip
    assert result["install_command"].startswith("composer install --no-dev ")
    assert "--no-scripts --no-autoloader" in result["install_command"]  # the source is not there yet
    assert_cache_friendly(result, ["composer.json"])
    # The autoloader is dumped once the source (its classes) is in.
    assert index(result, 'COPY [".", "."]') < index(result, f"RUN {result['build_command']}")
    assert result["build_command"].startswith("composer dump-autoload --no-dev")
    assert result["start_command"] == "php -S 0.0.0.0:$PORT -t ."
    assert cmd(result) == ["sh", "-c", "exec php -S 0.0.0.0:$PORT -t ."]


def test_php_without_composer_in_public(tmp_path: Path) -> None:
    write(tmp_path, {"public/index.php": "<?php echo 1;", "README.md": "x"})
    result = plan(tmp_path)
    assert result["facts"]["document_root"] == "public/"
    assert result["facts"]["package_manager"] is None
    assert (result["install_command"], result["build_command"]) == (None, None)
    assert not any("composer" in ln for ln in lines(result))
    assert result["start_command"] == "php -S 0.0.0.0:$PORT -t public"


def test_php_with_packages_installs_unzip_and_copies_the_lock(tmp_path: Path) -> None:
    composer = {"require": {"php": "^8.1", "ext-json": "*", "slim/slim": "^4.12", "monolog/monolog": "^3"}}
    write(
        tmp_path,
        {"composer.json": json.dumps(composer), "composer.lock": "{}", "public/index.php": "<?php"},
    )
    result = plan(tmp_path)
    assert result["framework"] == "slim"
    assert result["facts"]["dependencies"] == ["monolog/monolog", "slim/slim"]
    assert_cache_friendly(result, ["composer.json", "composer.lock"])
    # Composer unpacks zips; the official PHP image has neither unzip nor the zip extension.
    unzip = [n for n, ln in enumerate(lines(result)) if ln.startswith("RUN apt-get") and "unzip" in ln]
    assert unzip and unzip[0] < index(result, "COPY " + json.dumps(["composer.json", "composer.lock", "./"]))
    assert result["start_command"] == "php -S 0.0.0.0:$PORT -t public"


def test_laravel(tmp_path: Path) -> None:
    composer = {"require": {"php": "^8.2", "laravel/framework": "^11.0"}}
    write(
        tmp_path,
        {
            "composer.json": json.dumps(composer),
            "composer.lock": "{}",
            "artisan": "#!/usr/bin/env php\n<?php\n",
            "public/index.php": "<?php",
            "package.json": json.dumps(
                {"scripts": {"build": "vite build"}, "devDependencies": {"vite": "^5"}}
            ),
        },
    )
    result = plan(tmp_path)  # PHP before Node: Laravel's package.json is for its assets
    assert (result["detector"], result["framework"], result["port"]) == ("php", "laravel", "8080")
    assert result["start_command"] == "php artisan serve --host=0.0.0.0 --port=$PORT"
    assert result["facts"]["document_root"] == "public/"
    # Package discovery (a post-autoload-dump script) runs with the source in place.
    assert "--no-scripts" not in result["build_command"]
    assert_cache_friendly(result, ["composer.json", "composer.lock"])


def test_symfony_front_controller(tmp_path: Path) -> None:
    composer = {"require": {"symfony/framework-bundle": "^7.0", "symfony/runtime": "^7.0"}}
    write(tmp_path, {"composer.json": json.dumps(composer), "public/index.php": "<?php", "bin/console": "x"})
    result = plan(tmp_path)
    assert (result["framework"], result["start_command"]) == ("symfony", "php -S 0.0.0.0:$PORT -t public")


def test_php_overrides(tmp_path: Path) -> None:
    write(tmp_path, {"composer.json": "{}", "index.php": "<?php"})
    result = plan(
        tmp_path,
        install_command="composer install --no-dev",
        build_command="php bin/warmup.php",
        start_command="php -S 0.0.0.0:$PORT router.php",
        base_image="php:8.3-cli",
        port="9000",
    )
    assert lines(result)[0] == "FROM php:8.3-cli"
    assert (result["install_command"], result["build_command"], result["port"]) == (
        "composer install --no-dev",
        "php bin/warmup.php",
        "9000",
    )
    assert cmd(result) == ["sh", "-c", "exec php -S 0.0.0.0:$PORT router.php"]
    assert_cache_friendly(result, ["composer.json"])


def test_php_secret_build_variables_stay_in_the_build_stage() -> None:
    request = BuildRequest(
        source_dir=APPS / "php-plain",
        tag="t",
        build_args=BUILD_ARGS,
        secret_build_args=["API_KEY"],
    )
    result = AutoBuilder().plan(APPS / "php-plain", request)
    final = lines(result)[max(n for n, ln in enumerate(lines(result)) if ln.startswith("FROM ")) :]
    assert lines(result)[0] == "FROM php:8.2-cli AS build"
    assert final[0] == "FROM php:8.2-cli"
    assert not [ln for ln in final if ln.startswith(("ARG", "RUN"))], final
    assert 'COPY --from=build ["/app", "/app"]' in final  # vendor/ with it


# ------------------------------------------------------------------------------------------------------ Ruby
def test_ruby_plain_sample() -> None:
    result = plan(APPS / "ruby-plain")
    assert (result["detector"], result["language"], result["framework"]) == ("ruby", "ruby", None)
    assert result["facts"] == {
        "package_manager": "bundler",
        "manifests": ["Gemfile", "Gemfile.lock"],
        "lock_file": "Gemfile.lock",
        "gems": [],
    }
    assert (result["base_image"], result["port"]) == ("ruby:3.1-slim", "3000")
    assert result["install_command"] == "bundle install"
    assert 'ENV BUNDLE_WITHOUT="development:test"' in lines(result)
    assert "ENV BUNDLE_FROZEN=true" in lines(result)  # the lock file is what gets installed
    assert_cache_friendly(result, ["Gemfile", "Gemfile.lock"])
    assert cmd(result) == ["sh", "-c", "exec bundle exec ruby app.rb"]


def test_ruby_script_without_gemfile(tmp_path: Path) -> None:
    write(tmp_path, {"main.rb": "puts 1\n"})
    result = plan(tmp_path)
    assert (result["detector"], result["install_command"], result["start_command"]) == (
        "ruby",
        None,
        "ruby main.rb",
    )
    assert not any("BUNDLE_FROZEN" in ln or ln.startswith("RUN") for ln in lines(result))


RAILS = {
    "Gemfile": 'source "https://rubygems.org"\ngem "rails", "~> 7.1"\ngem "puma"\ngem "pg"\n',
    "Gemfile.lock": "GEM\n  specs:\n    rails (7.1.3)\n    puma (6.4.2)\n    pg (1.5.6)\n",
    "bin/rails": "#!/usr/bin/env ruby\n",
    "config/application.rb": "module App; end\n",
    "config.ru": "run Rails.application\n",
    "app/assets/stylesheets/app.css": "",
    "package.json": json.dumps({"scripts": {"build": "esbuild app.js"}}),
}


def test_rails(tmp_path: Path) -> None:
    result = plan(write(tmp_path, RAILS))  # Ruby before Node: a Rails package.json is for assets
    assert (result["detector"], result["framework"], result["port"]) == ("ruby", "rails", "3000")
    assert result["start_command"] == "bin/rails server -b 0.0.0.0 -p $PORT"
    assert result["facts"]["gems"] == ["pg", "puma", "rails"]
    assert "ENV RAILS_ENV=production RAILS_LOG_TO_STDOUT=1 RAILS_SERVE_STATIC_FILES=1" in lines(result)
    assert result["build_command"] == "SECRET_KEY_BASE_DUMMY=1 bin/rails assets:precompile"
    assert_cache_friendly(result, ["Gemfile", "Gemfile.lock"])
    assert index(result, 'COPY [".", "."]') < index(result, f"RUN {result['build_command']}")


def test_rails_without_assets_builds_nothing(tmp_path: Path) -> None:
    files = {k: v for k, v in RAILS.items() if not k.startswith("app/")}
    assert plan(write(tmp_path, files))["build_command"] is None


@pytest.mark.parametrize(
    ("gemfile", "framework", "start", "port"),
    [
        ('gem "rack"\ngem "puma"\n', "rack", "bundle exec puma -b tcp://0.0.0.0:$PORT", "9292"),
        ('gem "rack"\ngem "rackup"\n', "rack", "bundle exec rackup -o 0.0.0.0 -p $PORT", "9292"),
        ("gem 'sinatra'\ngem 'puma'\n", "sinatra", "bundle exec puma -b tcp://0.0.0.0:$PORT", "4567"),
    ],
)
def test_rack_apps(tmp_path: Path, gemfile: str, framework: str, start: str, port: str) -> None:
    write(tmp_path, {"Gemfile": f'source "https://rubygems.org"\n{gemfile}', "config.ru": "run App\n"})
    result = plan(tmp_path)
    assert (result["framework"], result["start_command"], result["port"]) == (framework, start, port)
    assert result["facts"]["lock_file"] is None
    assert not any("BUNDLE_FROZEN" in ln for ln in lines(result))
    assert_cache_friendly(result, ["Gemfile"])


def test_sinatra_script(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "Gemfile": "source 'https://rubygems.org'\ngem 'sinatra'\n",
            "main.rb": "puts 'helper'\n",
            "server.rb": "require 'sinatra'\nget('/') { 'hi' }\n",
        },
    )
    result = plan(tmp_path)
    assert (result["framework"], result["port"]) == ("sinatra", "4567")
    assert result["start_command"] == "bundle exec ruby server.rb -o 0.0.0.0 -p $PORT"


def test_ruby_overrides_and_no_start(tmp_path: Path) -> None:
    write(tmp_path, {"Gemfile": "gem 'nokogiri'\n", "lib/x.rb": ""})
    with pytest.raises(BuildFailed, match="no way to start it"):
        plan(tmp_path)
    result = plan(
        tmp_path, start_command="bundle exec ruby lib/x.rb", base_image="ruby:3.3-slim", port="7000"
    )
    assert (lines(result)[0], result["port"]) == ("FROM ruby:3.3-slim", "7000")
    assert cmd(result) == ["sh", "-c", "exec bundle exec ruby lib/x.rb"]


def test_undetectable_repository_names_php_and_ruby(tmp_path: Path) -> None:
    write(tmp_path, {"README.md": "nothing", "src/index.php": "not at the root", "lib/app.rb": "nor this"})
    request = BuildRequest(source_dir=tmp_path, tag="t")
    assert not AutoBuilder().detect(tmp_path, request)
    with pytest.raises(BuildFailed) as caught:
        AutoBuilder().plan(tmp_path, request)
    for looked_for in ("composer.json", "index.php", "Gemfile", "config.ru", "app.rb"):
        assert looked_for in caught.value.message
