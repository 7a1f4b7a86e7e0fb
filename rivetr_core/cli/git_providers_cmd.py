"""``rivetr git-providers list|show|configure|reset`` (OAuth apps of GitHub, GitLab, Gitea, Bitbucket...) and
``rivetr auto-deploy show|set|regenerate-secret`` (an app's webhook URL, secret, branch and previews).

OAuth settings configured here are stored encrypted in the server's database and override ``[oauth.<name>]`` of
the config file field by field; ``reset`` returns to the file. The client secret is read from stdin or a hidden
prompt, never from argv (visible to every local user)."""

from __future__ import annotations

import sys
from typing import Any

import click

from .client import Connection, complete_app, connection_options, json_option
from .output import print_json, table


@click.group("git-providers")
def git_providers() -> None:
    """Git providers: webhook URLs and the OAuth app that lets accounts connect (client id, secret, server URL)."""


@git_providers.command("list")
@connection_options
@json_option
def providers_list(conn: Connection, as_json: bool) -> None:
    """Installed git providers: whether OAuth is configured and where their webhooks go."""
    with conn.client() as client:
        rows = client.list_all("/api/git-providers/available")
    if as_json:
        print_json(rows)
        return
    table(
        [
            (
                r["provider"],
                "yes" if r["oauth_configured"] else "no",
                "yes" if r["webhook_secret_configured"] else "no",
                r["webhook_url"],
            )
            for r in rows
        ],
        ["provider", "oauth", "webhook secret", "webhook url"],
    )


def _print_settings(s: dict[str, Any]) -> None:
    sources = s.get("sources") or {}

    def line(label: str, field: str, value: Any) -> None:
        where = f"  ({'stored on the server' if sources.get(field) == 'database' else 'config file'})"
        click.echo(f"{label:<14}{value if value else '-'}{where if field in sources else ''}")

    click.echo(f"provider      {s['provider']}")
    if not s["oauth_supported"]:
        click.echo("oauth         not supported by this provider's plugin")
        return
    click.echo(f"configured    {'yes' if s['configured'] else 'no'}")
    line("client id", "client_id", s.get("client_id"))
    line("client secret", "client_secret", "(set)" if s["client_secret_set"] else None)
    line("server url", "base_url", s.get("base_url"))
    line("api url", "api_url", s.get("api_url"))
    line("redirect uri", "redirect_uri", s.get("redirect_uri"))
    click.echo(f"callback url  {s.get('callback_url') or '- (set [server] external_url or --redirect-uri)'}")


@git_providers.command("show")
@click.argument("name")
@connection_options
@json_option
def providers_show(name: str, conn: Connection, as_json: bool) -> None:
    """A provider's OAuth app settings and where each value comes from (never the secret)."""
    with conn.client() as client:
        settings = client.get(f"/api/git-providers/{name}/settings")
    if as_json:
        print_json(settings)
        return
    _print_settings(settings)


@git_providers.command("configure")
@click.argument("name")
@click.option("--client-id", help="OAuth application client id.")
@click.option(
    "--client-secret-stdin",
    is_flag=True,
    help="Read the client secret from stdin (one line). Without it the secret is asked for unless one is "
    "already set; never an argument.",
)
@click.option("--base-url", help="Server URL: self-managed GitLab, GitHub Enterprise, Gitea (https://...).")
@click.option("--api-url", help="API base URL, when not derived from the server URL.")
@click.option("--redirect-uri", help="Callback URL (default <[server] external_url>/oauth/NAME/callback).")
@connection_options
@json_option
def providers_configure(
    name: str,
    client_id: str | None,
    client_secret_stdin: bool,
    base_url: str | None,
    api_url: str | None,
    redirect_uri: str | None,
    conn: Connection,
    as_json: bool,
) -> None:
    """Store the OAuth app of provider NAME on the server (encrypted); options left out keep their value, an
    empty value ("") drops it so the config file's applies."""
    body: dict[str, Any] = {
        k: v
        for k, v in {
            "client_id": client_id,
            "base_url": base_url,
            "api_url": api_url,
            "redirect_uri": redirect_uri,
        }.items()
        if v is not None
    }
    with conn.client() as client:
        current = client.get(f"/api/git-providers/{name}/settings")
        if client_secret_stdin:
            secret = sys.stdin.readline().rstrip("\n")
            if not secret:
                raise click.UsageError("--client-secret-stdin: no secret on stdin")
            body["client_secret"] = secret
        elif not current.get("client_secret_set"):
            body["client_secret"] = click.prompt("client secret", hide_input=True)
        settings = client.put(f"/api/git-providers/{name}/settings", body)
    if as_json:
        print_json(settings)
        return
    click.echo(f"stored the OAuth app of {name} (it overrides [oauth.{name}] of the config file)")
    _print_settings(settings)


@git_providers.command("reset")
@click.argument("name")
@connection_options
def providers_reset(name: str, conn: Connection) -> None:
    """Forget the stored OAuth settings of NAME: the config file's [oauth.NAME] applies again."""
    with conn.client() as client:
        client.delete(f"/api/git-providers/{name}/settings")
    click.echo(f"removed the stored OAuth settings of {name}")


# ------------------------------------------------------------------------------------------ auto-deploy
@click.group("auto-deploy")
def auto_deploy() -> None:
    """An app's auto-deploy: webhook URL and secret, on/off, branch, tags and pull-request previews."""


def _summary(app: dict[str, Any], settings: dict[str, Any], info: dict[str, Any]) -> None:
    click.echo(f"app           {app['name']}")
    click.echo(f"auto-deploy   {'on' if settings['auto_deploy'] else 'off'} (branch {app['branch']})")
    tags = settings.get("tag_pattern") or "every tag"
    click.echo(f"tags          {tags if settings['follow_tags'] else 'not followed'}")
    previews = "on" if settings["previews_enabled"] else "off"
    click.echo(f"previews      {previews}{' (with secrets)' if settings['preview_secrets'] else ''}")
    click.echo(f"secret        {'set' if settings['has_webhook_secret'] else 'none (instance secret only)'}")
    if info["base_url"] is None:
        click.echo(f"webhook url   - ({info['hint']})")
        return
    for url in info["urls"]:
        mark = "  <- this repository" if url["provider"] == info["provider"] else ""
        click.echo(f"webhook url   {url['url']}{mark}")


@auto_deploy.command("show")
@click.argument("app", shell_complete=complete_app)
@connection_options
@json_option
def auto_deploy_show(app: str, conn: Connection, as_json: bool) -> None:
    """Webhook URLs (from [server] external_url), whether a secret is set, and what pushes do."""
    with conn.client() as client:
        found = client.resolve_app(app)
        settings = client.get(f"/api/apps/{found['id']}/git-settings")
        info = client.get(f"/api/apps/{found['id']}/webhook")
    if as_json:
        print_json({"settings": settings, "webhook": info})
        return
    _summary(found, settings, info)


@auto_deploy.command("set")
@click.argument("app", shell_complete=complete_app)
@click.option("--on/--off", "enabled", default=None, help="Pushes to the branch deploy the app (or not).")
@click.option("--branch", help="Branch whose pushes deploy the app.")
@click.option("--previews/--no-previews", default=None, help="Deploy pull-request previews.")
@click.option(
    "--preview-secrets/--no-preview-secrets", default=None, help="Same-repo PR previews get secrets."
)
@click.option("--follow-tags/--no-follow-tags", default=None, help="Tag pushes deploy the app.")
@click.option("--tag-pattern", help='Glob of the tags followed (v*); "" for every tag.')
@connection_options
@json_option
def auto_deploy_set(
    app: str,
    enabled: bool | None,
    branch: str | None,
    previews: bool | None,
    preview_secrets: bool | None,
    follow_tags: bool | None,
    tag_pattern: str | None,
    conn: Connection,
    as_json: bool,
) -> None:
    """Change what pushes and pull requests do for APP; options left out keep their value."""
    body = {
        k: v
        for k, v in {
            "auto_deploy": enabled,
            "previews_enabled": previews,
            "preview_secrets": preview_secrets,
            "follow_tags": follow_tags,
            "tag_pattern": tag_pattern,
        }.items()
        if v is not None
    }
    if not body and branch is None:
        raise click.UsageError("nothing to change: give --on/--off, --branch, --previews, ...")
    with conn.client() as client:
        found = client.resolve_app(app)
        if branch is not None:
            found = client.put(f"/api/apps/{found['id']}", {"branch": branch})
        settings = client.put(f"/api/apps/{found['id']}/git-settings", body) if body else None
        settings = settings or client.get(f"/api/apps/{found['id']}/git-settings")
        info = client.get(f"/api/apps/{found['id']}/webhook")
    if as_json:
        print_json({"settings": settings, "webhook": info})
        return
    _summary(found, settings, info)


@auto_deploy.command("regenerate-secret")
@click.argument("app", shell_complete=complete_app)
@click.option("--yes", is_flag=True, help="Do not ask: the old secret stops working at once.")
@connection_options
def auto_deploy_regenerate(app: str, yes: bool, conn: Connection) -> None:
    """Give APP a new random webhook secret and print it once (paste it into the git host's webhook)."""
    with conn.client() as client:
        found = client.resolve_app(app)
        if not yes:
            click.confirm(
                f"replace the webhook secret of {found['name']}? the old one stops working", abort=True
            )
        created = client.post(f"/api/apps/{found['id']}/git-settings/webhook-secret")
    click.echo(created["value"])
