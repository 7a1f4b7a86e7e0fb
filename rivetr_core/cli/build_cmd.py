"""``rivetr build plan PATH``: what a deployment's build would do with a local directory, without a server.

It asks the installed builders (core's and the plugins', by priority) as the pipeline does and prints the
selected one's plan: for a zero-config builder, the Dockerfile it would write. Nothing is built or run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .output import fields, print_json

OVERRIDES = ("install_command", "build_command", "start_command", "base_image")


@click.group()
def build() -> None:
    """Builds: see what a build would do before deploying."""


@build.command("plan")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (the shape of GET /api/apps/{id}/build-plan)."
)
@click.option(
    "--builder", default="auto", show_default=True, help="The app's builder: auto or a builder name."
)
@click.option("--dockerfile", default="Dockerfile", show_default=True, help="The app's Dockerfile path.")
@click.option("--context", "build_context", default=".", show_default=True, help="The app's build context.")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    help="The app's container port ($PORT); default: what the builder detects (else 3000), as for an app "
    "created without one.",
)
@click.option("--install-command", help="Override of the detected install command.")
@click.option("--build-command", help="Override of the detected build command.")
@click.option("--start-command", help="Override of the detected start command.")
@click.option("--base-image", help="Override of the detected base image.")
@click.option(
    "--config",
    "config_path",
    envvar="RIVETR_CONFIG",
    type=click.Path(dir_okay=False),
    help="TOML config file (its [plugins] disable list applies).",
)
def plan(
    path: Path,
    as_json: bool,
    builder: str,
    dockerfile: str,
    build_context: str,
    port: int | None,
    config_path: str | None,
    **overrides: str | None,
) -> None:
    """Detect and plan the build of the directory PATH with the installed builders. Exits 2 when no builder
    can build it (saying what each looked for), 1 when the selected builder cannot plan it."""
    from rivetr_core.config import ConfigError, load_config
    from rivetr_core.contract import BuildRequest, PluginContext, RivetrError
    from rivetr_core.plugins import PluginError, RivetrPluginManager, disabled_from_env
    from rivetr_core.services.build_plan import plan_local

    try:
        cfg = load_config(config_path)
        manager = RivetrPluginManager(disabled=disabled_from_env() | set(cfg.plugins.disable))
        registrations = manager.builders()
    except (ConfigError, PluginError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    request = BuildRequest(
        source_dir=path.resolve(),
        tag="localhost/rivetr/plan:local",
        dockerfile=dockerfile,
        build_context=build_context,
        build_args={"SOURCE_COMMIT": ""},
        settings={**{key: overrides.get(key) for key in OVERRIDES}, "port": str(port) if port else None},
    )
    context = PluginContext(config=cfg, data_dir=cfg.server.data_dir)
    try:
        result = plan_local(registrations, context, path.resolve(), request, builder)
    except RivetrError as exc:
        if as_json:
            print_json({"error": {"code": exc.code, "message": exc.message, "details": exc.details}})
        else:
            click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)
    if result.plan is None:
        if as_json:
            print_json(
                {
                    "error": {
                        "code": "no_builder",
                        "message": "no builder can build this directory",
                        "details": {"builder": builder, "builders": result.reasons},
                    }
                }
            )
        else:
            click.echo("error: no builder can build this directory", err=True)
            for name, reason in result.reasons.items():
                click.echo(f"  {name}: {reason}", err=True)
        sys.exit(2)
    if as_json:
        print_json(result.plan)
        return
    plan = dict(result.plan)
    text = plan.pop("dockerfile", None)
    facts = plan.pop("facts", None) or {}
    plan.pop("port_source", None)
    reason = plan.pop("port_reason", None)
    if reason:
        plan["port"] = f"{plan.get('port')} ({reason})"
    detected = ", ".join(f"{n} {'yes' if ok else 'no'}" for n, ok in result.detected.items())
    pairs = [("detect()", detected), *((k, v) for k, v in plan.items() if v is not None)]
    pairs += [(f"facts.{k}", ", ".join(map(str, v)) if isinstance(v, list) else v) for k, v in facts.items()]
    fields(pairs)
    if text:
        click.echo("\n# Dockerfile")
        click.echo(text, nl=False)
