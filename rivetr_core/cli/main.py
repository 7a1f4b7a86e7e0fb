"""The ``rivetr`` command. Sub-commands import what they need lazily so ``rivetr --help`` stays instant."""

from __future__ import annotations

import json
import sys

import click

from rivetr_core import __version__


def _load(config_path: str | None, exit_code: int = 2, check_plugins=None):  # type: ignore[no-untyped-def]
    from rivetr_core.config import ConfigError, load_config

    try:
        return load_config(config_path, check_plugins=check_plugins)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exit_code)


#: The operator commands that talk to a server over the REST API, as "module:attribute": imported only when
#: run (or listed by --help), so ``rivetr serve`` never loads them: each is memory the server would carry.
LAZY_COMMANDS = {
    "login": "session_cmd:login",
    "status": "session_cmd:status",
    "apps": "apps_cmd:apps",
    "env": "env_cmd:env",
    "volumes": "volumes_cmd:volumes",
    "tasks": "tasks_cmd:tasks",
    "services": "services_cmd:services",
    "templates": "templates_cmd:templates",
    "stacks": "stacks_cmd:stacks",
    "projects": "projects_cmd:projects",
    "deploy": "deploy_cmd:deploy",
    "rollback": "deploy_cmd:rollback",
    "deployments": "deployments_cmd:deployments",
    "logs": "logs_cmd:logs",
    "webhooks": "webhooks_cmd:webhooks",
    "git-providers": "git_providers_cmd:git_providers",
    "auto-deploy": "git_providers_cmd:auto_deploy",
    "previews": "previews_cmd:previews",
    "ssh-known-hosts": "known_hosts_cmd:ssh_known_hosts",
    "registries": "registries_cmd:registries",
    "certs": "certs_cmd:certs",
    "routes": "routes_cmd:routes",
    "teams": "teams_cmd:teams",
    "tags": "tags_cmd:tags",
    "audit": "audit_cmd:audit",
    "notifications": "notifications_cmd:notifications",
    "tokens": "tokens_cmd:tokens",
    "account": "account_cmd:account",
    "users": "users_cmd:users",
    "invitations": "users_cmd:invitations",
    "backup": "backup_cmd:backup",
    "schedules": "backup_cmd:schedules",
    "system": "system_cmd:system",
    "nodes": "nodes_cmd:nodes",
    "proxy": "proxy_cmd:proxy",
    "build": "build_cmd:build",
    "repo": "repo_cmd:repo",
    "db": "db_cmd:db",
    "export": "iac_cmd:export",
    "apply": "iac_cmd:apply",
}


class LazyGroup(click.Group):
    """A group whose :data:`LAZY_COMMANDS` are imported on first use (click's documented lazy-loading
    pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = LAZY_COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        import importlib

        module, _, attr = target.partition(":")
        command: click.Command = getattr(importlib.import_module(f"rivetr_core.cli.{module}"), attr)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rivetr")
def cli() -> None:
    """Rivetr: a light, fast, self-hosted PaaS."""


@cli.command()
@click.option(
    "--config",
    "config_path",
    envvar="RIVETR_CONFIG",
    type=click.Path(dir_okay=False),
    help="TOML config file (default: $RIVETR_CONFIG, else built-in defaults).",
)
def serve(config_path: str | None) -> None:
    """Run the control plane (API + dashboard) and the proxy."""
    from rivetr_core.server import serve as run

    sys.exit(run(_load(config_path)))


@cli.group()
def config() -> None:
    """Inspect the configuration."""


@config.command("check")
@click.option(
    "--config",
    "config_path",
    envvar="RIVETR_CONFIG",
    type=click.Path(dir_okay=False),
    help="TOML config file to validate.",
)
def config_check(config_path: str | None) -> None:
    """Validate the config file and environment overrides (plugins' sections too); exit non-zero listing
    every problem."""
    from rivetr_core.config import ConfigError
    from rivetr_core.plugins import PluginError

    def check_plugins(cfg):  # type: ignore[no-untyped-def]
        return _manager(cfg).configure(cfg)

    cfg = _load(config_path, exit_code=1, check_plugins=check_plugins)
    source = config_path or "defaults"
    for warning in cfg.deprecations():
        click.echo(f"warning: {warning}", err=True)
    try:
        manager = _manager(cfg)
        for warning in manager.configure(cfg):
            click.echo(f"warning: {warning}", err=True)
        for info in manager.failed():
            click.echo(f"warning: plugin {info.name} ({info.distribution}) {info.error}", err=True)
        manager.check_selected(cfg)
    except (ConfigError, PluginError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(
        f"configuration OK ({source}); data dir {cfg.server.data_dir}, API on "
        f"{cfg.server.effective_api_host}:{cfg.server.api_port}, proxy on {cfg.proxy_host} ports "
        f"{cfg.server.proxy_port}/{cfg.server.proxy_https_port}, runtime {cfg.runtime.runtime_type}"
        + (f", dashboard at https://{cfg.server.dashboard_domain}" if cfg.server.dashboard_domain else "")
    )


@cli.group()
def plugins() -> None:
    """Inspect installed plugins."""


def _manager(cfg):  # type: ignore[no-untyped-def]
    from rivetr_core.plugins import RivetrPluginManager, disabled_from_env

    return RivetrPluginManager(disabled=disabled_from_env() | set(cfg.plugins.disable))


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the items of GET /api/plugins).")
@click.option(
    "--config",
    "config_path",
    envvar="RIVETR_CONFIG",
    type=click.Path(dir_okay=False),
    help="TOML config file (its [plugins] disable list applies).",
)
def plugins_list(as_json: bool, config_path: str | None) -> None:
    """Plugins found (core built-ins and the ``rivetr`` entry-point group): the names that select what each
    provides, version, distribution and state. Exits 1 when a plugin failed to load."""
    from rivetr_core.plugins import PluginError

    cfg = _load(config_path)
    try:
        infos = _manager(cfg).plugin_infos()
    except PluginError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    failed = any(i.status == "failed" for i in infos)
    if as_json:
        click.echo(json.dumps([i.as_dict() for i in infos], indent=2))
        sys.exit(1 if failed else 0)

    def provides(info) -> str:  # type: ignore[no-untyped-def]
        return "; ".join(f"{kind} {', '.join(names)}" for kind, names in info.provides.items()) or "-"

    rows = [(i.name, i.version, i.distribution, i.status, provides(i)) for i in infos]
    heads = ("NAME", "VERSION", "DISTRIBUTION", "STATUS", "PROVIDES")
    widths = [max(len(h), *(len(r[n]) for r in rows)) for n, h in enumerate(heads[:-1])]
    for row in [heads, *rows]:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1])
    for info in infos:
        for what, reason in info.unavailable.items():
            click.echo(f"note: {what} ({info.name}) is unavailable: {reason}")
        if info.status == "failed":
            click.echo(f"error: plugin {info.name} ({info.distribution}) {info.error}", err=True)
    sys.exit(1 if failed else 0)


def main() -> None:  # pragma: no cover
    cli()


if __name__ == "__main__":  # pragma: no cover - `python -m rivetr_core.cli.main` in tests
    cli()
