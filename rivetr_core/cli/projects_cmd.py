"""``rivetr projects list|create|update|move|network``: projects group apps, services and stacks on one private network,
and belong to a team. A PROJECT is named by name or id, a TEAM by name or id."""

from __future__ import annotations

from urllib.parse import quote

import click

from .client import Connection, connection_options, json_option
from .inputs import project_id_of
from .output import print_json, short_time, table
from .teams_cmd import resolve_team


@click.group()
def projects() -> None:
    """Projects: the private network their apps, services and stacks share, owned by a team."""


@projects.command("list")
@connection_options
@json_option
def projects_list(conn: Connection, as_json: bool) -> None:
    """Every project with its team and app count."""
    with conn.client() as client:
        rows = client.list_all("/api/projects")
        teams = {t["id"]: t["name"] for t in client.list_all("/api/teams")} if rows and not as_json else {}
    if as_json:
        print_json(rows)
        return
    table(
        [
            (
                p["id"],
                p["name"],
                teams.get(p["team_id"], p["team_id"]),
                len(p["app_ids"]),
                short_time(p["created_at"]),
            )
            for p in rows
        ],
        ["id", "name", "team", "apps", "created"],
    )


@projects.command("create")
@click.argument("name")
@click.option("--description", default="", help="Free text shown with the project.")
@click.option("--team", "team", default=None, help="The owning team (name or id; default: the default team).")
@connection_options
@json_option
def projects_create(name: str, description: str, team: str | None, conn: Connection, as_json: bool) -> None:
    """Create a project, owned by TEAM or the default team."""
    with conn.client() as client:
        body: dict[str, str] = {"name": name, "description": description}
        if team is not None:
            body["team_id"] = resolve_team(client, team)["id"]
        project = client.post("/api/projects", body)
    if as_json:
        print_json(project)
        return
    click.echo(f"created project {project['name']} ({project['id']}) in team {team or project['team_id']}")


@projects.command("update")
@click.argument("project")
@click.option("--name", default=None, help="A new name (its apps, services and stacks stay in it).")
@click.option("--description", default=None, help="A new description ('' clears it).")
@connection_options
@json_option
def projects_update(
    project: str, name: str | None, description: str | None, conn: Connection, as_json: bool
) -> None:
    """Rename PROJECT or change its description."""
    body = {k: v for k, v in (("name", name), ("description", description)) if v is not None}
    if not body:
        raise click.UsageError("nothing to change: give --name and/or --description")
    with conn.client() as client:
        pid = project_id_of(client, project)
        changed = client.put(f"/api/projects/{quote(pid or '', safe='')}", body)
    if as_json:
        print_json(changed)
        return
    click.echo(f"updated project {changed['name']} ({changed['id']})")


@projects.command("move")
@click.argument("project")
@click.argument("team")
@connection_options
def projects_move(project: str, team: str, conn: Connection) -> None:
    """Give PROJECT (and so its apps, services and stacks) to TEAM."""
    with conn.client() as client:
        pid = project_id_of(client, project)
        target = resolve_team(client, team)
        client.put(f"/api/projects/{quote(pid or '', safe='')}", {"team_id": target["id"]})
    click.echo(f"moved project {project} to team {target['name']}")


@projects.command("network")
@click.argument("project")
@connection_options
@json_option
def projects_network(project: str, conn: Connection, as_json: bool) -> None:
    """Who is on a project's private network (PROJECT: name, id or ``default`` for everything without a
    project) and the host names they reach each other by."""
    with conn.client() as client:
        pid = "default" if project == "default" else project_id_of(client, project)
        data = client.get(f"/api/projects/{quote(pid or 'default', safe='')}/network")
    if as_json:
        print_json(data)
        return
    click.echo(f"network: {data['network']}")
    if not data["members"]:
        click.echo("no members yet")
        return
    table(
        [(m["kind"], m["name"], m["internal_names"]) for m in data["members"]],
        ["kind", "name", "internal names"],
    )
