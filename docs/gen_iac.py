"""Write docs/config-as-code.md from rivetr_core/iac/model.py: every key of rivetr.toml and project.toml with its
type, its rule's description (the API's own) and an example, so the page can never drift from the model.

Run: .venv/bin/python docs/gen_iac.py   (tests/test_iac_model.py fails when the file is stale)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from rivetr_core.iac.model import APP_KEYS, ServiceSpec, json_schema

OUT = Path(__file__).with_name("config-as-code.md")

#: One TOML example per key (a key without one stops the generator: a new field gets its example here).
EXAMPLES: dict[str, str] = {
    "source": 'source = { kind = "image", image = "registry.example.com/team/api:1.4" }',
    "git_url": 'git_url = "https://github.com/you/shop.git"',
    "branch": 'branch = "main"',
    "git_token_user": 'git_token_user = "oauth2"',
    "builder": 'builder = "auto"',
    "dockerfile": 'dockerfile = "docker/Dockerfile.prod"',
    "build_context": 'build_context = "services/api"',
    "install_command": 'install_command = "npm ci"',
    "build_command": 'build_command = "npm run build"',
    "start_command": 'start_command = "node dist/server.js"',
    "base_image": 'base_image = "localhost/stand-in/node:20"',
    "port": "port = 8000",
    "replicas": "replicas = 3",
    "max_surge": "max_surge = 1",
    "max_unavailable": "max_unavailable = 0",
    "load_balancer": 'load_balancer = "least_conn"',
    "placement": 'placement = ["node.labels.tier == web"]',
    "environment": 'environment = "production"',
    "cpu_limit": "cpu_limit = 0.5",
    "memory_limit": 'memory_limit = "512m"',
    "pids_limit": "pids_limit = 512",
    "log_max_size": 'log_max_size = "50m"',
    "log_max_files": "log_max_files = 5",
    "deploy_strategy": 'deploy_strategy = "recreate"',
    "release_command": 'release_command = "python manage.py migrate --noinput"',
    "release_timeout": "release_timeout = 900",
    "post_deploy_command": 'post_deploy_command = "./bin/warm-cache"',
    "backup_consistency": 'backup_consistency = "command"',
    "pre_backup_command": "pre_backup_command = \"sqlite3 /data/app.db '.backup /data/app.bak'\"",
    "health_check": 'health_check = { kind = "http", path = "/healthz", retries = 60 }',
    "domains": 'domains = ["shop.example.com", "example.com/api"]',
    "https_redirect": "https_redirect = false",
    "hsts": "hsts = true",
    "auto_domain": "auto_domain = false",
    "tags": 'tags = ["team:payments"]',
    "env": '[env]\nLOG_LEVEL = "info"',
    "build_env": '[build_env]\nNODE_ENV = "production"',
    "secrets": 'secrets = ["DATABASE_PASSWORD", "STRIPE_KEY"]',
    "volumes": '[[volumes]]\nname = "uploads"\nmount_path = "/app/uploads"',
    "tasks": '[[tasks]]\nname = "cleanup"\ncommand = "python manage.py clearsessions"\nschedule = "0 3 * * *"',
    "links": '[[links]]\nservice = "db"\nenv_prefix = "DATABASE"',
    "git_settings": "[git_settings]\npreviews_enabled = false",
    "backups": '[[backups]]\ndestination = "nightly"\ncron = "0 2 * * *"\nkeep_daily = 7',
    "backups.destination": 'destination = "nightly"',
    "backups.cron": 'cron = "0 2 * * *"',
    "backups.timezone": 'timezone = "Europe/Berlin"',
    "backups.keep_last": "keep_last = 10",
    "backups.keep_daily": "keep_daily = 7",
    "backups.keep_weekly": "keep_weekly = 4",
    "backups.enabled": "enabled = false",
    "route_settings": '[route_settings."shop.example.com"]\nredirect_www = "to-apex"',
    "route_settings.strip_prefix": "strip_prefix = true",
    "route_settings.redirect_www": 'redirect_www = "to-apex"',
    "route_settings.redirects": 'redirects = [{ from = "/old", to = "/new", status = 308 }]',
    "route_settings.compression": "compression = false",
    "route_settings.upstream_protocol": 'upstream_protocol = "h2c"',
    "route_settings.basic_auth": 'basic_auth = { realm = "Staff", users = ["alice", "bob"] }',
    "basic_auth.realm": 'realm = "Staff"',
    "basic_auth.users": 'users = ["alice", "bob"]',
    "services.backups": '[[services.backups]]\ndestination = "nightly"\ncron = "30 1 * * *"\nkeep_last = 14',
    "git_settings.auto_deploy": "auto_deploy = false",
    "git_settings.follow_tags": "follow_tags = true",
    "git_settings.tag_pattern": 'tag_pattern = "v*"',
    "git_settings.previews_enabled": "previews_enabled = false",
    "git_settings.preview_secrets": "preview_secrets = true",
    "volumes.name": 'name = "uploads"',
    "volumes.mount_path": 'mount_path = "/app/uploads"',
    "volumes.kind": 'kind = "bind"',
    "volumes.host_path": 'host_path = "/srv/shop/media"',
    "volumes.read_only": "read_only = true",
    "tasks.name": 'name = "cleanup"',
    "tasks.command": 'command = "python manage.py clearsessions"',
    "tasks.schedule": 'schedule = "0 3 * * *"',
    "tasks.timezone": 'timezone = "Europe/Paris"',
    "tasks.timeout": "timeout = 600",
    "tasks.enabled": "enabled = false",
    "links.service": 'service = "db"',
    "links.env_prefix": 'env_prefix = "DATABASE"',
    "project.name": 'name = "shop"',
    "project.description": 'description = "The shop and its database"',
    "services.name": 'name = "db"',
    "services.type": 'type = "postgres"',
    "services.version": 'version = "16"',
    "services.memory_limit": 'memory_limit = "256m"',
    "services.cpu_limit": "cpu_limit = 1",
    "services.public_port": "public_port = 15432",
    "services.tags": 'tags = ["data"]',
    "apps.name": 'name = "web"',
    "stacks.name": 'name = "monitoring"',
    "stacks.compose": 'compose = """\nservices:\n  grafana:\n    image: grafana/grafana:11\n"""',
    "stacks.repo_url": 'repo_url = "https://github.com/you/monitoring.git"',
    "stacks.branch": 'branch = "release"',
    "stacks.compose_path": 'compose_path = "deploy/compose.yaml"',
    "stacks.git_token_user": 'git_token_user = "oauth2"',
    "stacks.profiles": 'profiles = ["debug"]',
    "stacks.previews": "previews = true",
    "stacks.domains": 'domains = [{ domain = "grafana.example.com", service = "grafana", port = 3000 }]',
    "stacks.tags": 'tags = ["ops"]',
    "notifications.channel": 'channel = "shop-alerts"',
    "notifications.apps": 'apps = ["web", "db"]',
    "notifications.events": 'events = ["deployment_failed", "backup_failed"]',
}

#: Meanings for the fields whose API model has no description (the create model's, else these).
MEANINGS: dict[str, str] = {
    "branch": "Branch deployed (and watched by webhooks).",
    "environment": "The app's environment label (development, staging, production): filters and colours.",
    "domains": "Host names routed to the app, each optionally with a path prefix (example.com/api); unique.",
    "volumes.read_only": "Mounted read-only in the container.",
    "tasks.enabled": "false: the task keeps its schedule but does not run.",
    "backups.enabled": "false: the schedule is kept, paused.",
    "route_settings.strip_prefix": "/v1/x reaches the app as /x (with X-Forwarded-Prefix: /v1); prefix routes only.",
    "route_settings.redirect_www": "On the domain's / route: to-apex (set on the apex) or to-www (set on www.).",
    "project.description": "Free text shown with the project.",
    "stacks.branch": "Branch of the repository (repo_url).",
    "stacks.domains": "Routes to the stack's services: domain (with an optional path prefix), service, port.",
}


INTRO = """\
# Configuration as code: `project.toml`, `rivetr apply` and `rivetr export`

<!-- Generated by docs/gen_iac.py from rivetr_core/iac/model.py: edit the model or the generator, then re-run it. -->

A project (its managed services, its apps and their settings, env defaults, volumes, scheduled tasks and links)
can be written as one TOML file, reviewed in a pull request, applied to a server and exported back. The same idea
as Render's `render.yaml` blueprints, Fly's `fly.toml` and Railway's `railway.json`, for your own server:

```sh
rivetr export shop > project.toml          # the project as it is (secrets as names only)
rivetr apply -f project.toml --dry-run     # the plan, as a diff; nothing changes
rivetr apply -f project.toml               # create or update; a second run changes nothing and says so
rivetr apply -f project.toml --prune       # also delete what the file does not name (asks first; --yes)
```

The dashboard's project page has the same two actions: **Export project.toml**, and **Apply configuration**
(paste a file, read its plan, then **Confirm**). The API: `GET /api/projects/{id}/export` (TOML;
`?format=json` for JSON; the project by id or name) and `POST /api/projects/apply` with
`{"toml": "<the file>", "dry_run": false, "prune": false}` (or `"document"`: the same file as JSON). Editors can
validate the files against the JSON Schemas at `GET /api/schemas/project.toml` and `GET /api/schemas/rivetr.toml`
(a read token; for example with taplo or VS Code's Even Better TOML).

## One schema with the API

Every key below is the API's own field, with its rules and its messages: `port = 0` is refused as
`PUT /api/apps/{id}` refuses it. An invalid file changes nothing; the error names each key with its line and
column:

```text
$ rivetr apply -f project.toml
error: project.toml:14:1: apps[1].port: Input should be less than or equal to 65535
```

A TOML syntax error is reported the same way (code `invalid_toml`). Through the API both are 422 answers whose
`details` hold `{"field", "message", "line", "column"}`.

## What apply does

Apply finds the project by its `name` (creating it when there is none) and compares the file with the server,
resource by resource: the project, each service and app (by name), each app's env variables (by key), secrets,
volumes and tasks (by name) and links (by service). The answer is the plan: each resource is `create`,
`update` (with each field's `old` and `new` value), `unchanged` or `not_in_file`. Then, unless it is a dry run,
it carries the plan out through the same services the API uses, so every check, event and route update is the
one a dashboard edit makes.

- **A key absent from the file is not managed by it**: apply leaves that setting as it is on the server (TOML
  has no null; remove a key to hand the setting back to the dashboard). Export writes only the settings that
  differ from a new app's defaults, so a file stays short.
- **Idempotent**: applying the same file again answers `changed: false` and
  `nothing to change: the server matches the file`.
- **Not in the file**: apps, services, variables, volumes, tasks and links that exist on the server but are not
  named are listed as `not_in_file` and left alone. With `prune` (`--prune`) they are deleted; apps and services
  deleted this way keep their volumes' data in the engine, an app's volume removed from the file is deleted
  with its data.
- **Secrets are names**: `secrets = ["DATABASE_PASSWORD"]` says the app needs them; their values are set on the
  server only (`rivetr env set web DATABASE_PASSWORD --secret`, or the app's Environment tab). A secret the
  server lacks is listed in `missing_secrets` (apply still succeeds; the deployment that needs it fails naming
  it). Export never writes a secret's value, not even encrypted.
- **Checked before changing**: the whole file is validated and planned first (a link to a service that does not
  exist, a service whose `type` differs from the server's, two apps with one name: nothing changes). A change a
  service refuses while applying (a domain another app holds) stops the apply there; the error names the
  resource and lists what was applied before it, and applying the file again carries on.
- Apply creates nothing that runs: apps are deployed as usual (`rivetr deploy`), services start as when they are
  created through the API.

## Moving a project to another server

```sh
rivetr export shop --url https://old.example.com > project.toml
rivetr apply -f project.toml --url https://new.example.com
rivetr env set web DATABASE_PASSWORD --secret --url https://new.example.com   # each secret apply listed
```

Then restore the services' backups on the new server and deploy the apps. A backup is a row of the server that
made it: create the same backup destination on the new server (same bucket and passphrase), import each
service's, app's or stack's archive into the new one, and restore it (docs/backups.md, "A backup made on another server"):

```sh
rivetr services import-backup db --from offsite --key KEY --sha256 SHA256 --url https://new.example.com
rivetr services restore IMPORTED_ID --url https://new.example.com
rivetr deploy web --url https://new.example.com
rivetr backup import web --from offsite --key KEY --sha256 SHA256 --url https://new.example.com   # its volumes
rivetr backup restore-volumes IMPORTED_ID --url https://new.example.com
rivetr stacks import-backup shop --from offsite --key KEY --sha256 SHA256 --url https://new.example.com
rivetr stacks restore IMPORTED_ID --url https://new.example.com   # a compose stack's named volumes
```

tests/e2e/test_project_move_e2e.py does exactly this on both engines (PostgreSQL with an S3 destination, and an
app's named volume): the app on the new server answers with the data written on the old one.

## rivetr.toml in the repository

An app's repository can hold its settings: a `rivetr.toml` at the repository's root, or where the app's
`config_path` says (below; the keys of an app below,
without `name`: the file belongs to the app that deploys it). Each deployment reads the file of the commit it
checked out, after the clone and before the build, and applies it to the app the way `rivetr apply` applies an
app of a project file, so the build and the new container use the file's settings (port, health check, env
defaults, build settings...):

```toml
port = 8080
health_check = { kind = "http", path = "/healthz" }
secrets = ["DATABASE_PASSWORD"]

[env]
LOG_LEVEL = "info"
```

- **The diff is in the deployment log**, one line per change, before the build's lines:
  ```text
  rivetr.toml: port 8000 -> 8080
  rivetr.toml: env LOG_LEVEL value (none) -> info
  ```
  A file the app already matches logs `rivetr.toml at <commit>: settings unchanged`.
- **Only the keys in the file are managed**: a setting the file does not name stays as the dashboard, the API or
  the CLI set it; remove a key from the file to hand the setting back. Variables, volumes, tasks and links the
  file does not name are left alone (a deployment never deletes anything).
- **Managed settings are read-only everywhere else** ("managed by rivetr.toml at <commit>"): the keys the app's
  current deployment (the one serving, else the latest that served) applied from its file. `GET
  /api/apps/{id}` lists them as `managed_by_file` (`{"path", "commit", "deployment_id", "keys", "env"}`, null
  when none); `PUT /api/apps/{id}` with one of them answers 409 `managed_by_file` and applies nothing of the
  request:
  ```json
  {"error": {"code": "managed_by_file", "message": "Managed by rivetr.toml at 1a2b3c4d5e6f: setting port. Change it in the file and deploy, or remove it from the file to edit it here", "details": {"keys": ["port"], "path": "rivetr.toml", "commit": "1a2b3c4d...", "deployment_id": "..."}}}
  ```
  The variables of the file's `env` and `build_env` are refused the same way by the env-vars API (set, delete,
  bulk import); the app's other variables, secrets included, stay editable. So are the file's `git_settings`
  keys (`PUT /api/apps/{id}/git-settings`), its `replicas` (`POST /api/apps/{id}/scale`: the next deployment
  would undo a scale) and the volumes, tasks and links it declares, by name (their `PUT` and `DELETE`; the app's
  other volumes, tasks and links stay editable). The `route_settings` the file sets for a domain are refused by
  `PUT /api/routes/settings/{key}` field by field (`Managed by rivetr.toml at 1a2b3c4d5e6f: route
  web.example.com: setting compression. ...`; the domain's other fields and the app's other domains stay
  editable). A declared `basic_auth` still takes the passwords of the users the file names there (a file never
  holds passwords): the same realm and only those users pass; another realm, another user or turning auth off is
  refused. The `backups` it declares (an app's schedule to that destination at that cron) are refused by `PUT` and
  `DELETE /api/backup-schedules/{id}` (`backup schedule to nightly at 0 2 * * *`); the app's other schedules stay
  editable. The dashboard's Settings tab disables the managed fields of its Settings, Auto-deploy and Domain
  settings forms, each marked "managed by rivetr.toml at <commit>" (linking to the deployments), and saves the
  others; its Variables, Volumes, Tasks and Links tabs and the Backups page's schedules mark the file's
  variables, volumes, tasks, links and schedules instead of offering the buttons that would change them.
  `rivetr apply -f project.toml` (`POST /api/projects/apply`, dry run included) whose plan changes one of them
  answers the same 409 before anything is applied (`Managed by rivetr.toml at 1a2b3c4d5e6f: app web: port, env
  LOG_LEVEL. ...`); a project file that leaves them as they are (an export of this server) applies.
  `rivetr apps show web` prints `managed by rivetr.toml at 1a2b3c4d5e6f: env (LOG_LEVEL), port`, and a refused
  `rivetr apps update` prints the API's message. A deployment whose file no longer has a key hands the setting
  back at once. The refusal belongs to the services that make each change, not to the API's handlers: any other
  caller in the server gets the same 409; only the deployment applying the file, and `rivetr apply` once its plan
  passed the check above, change what the file manages.
- **Audited**: a deployment whose file changed settings writes an audit entry with the actor
  `rivetr.toml at <commit>`, the action `deployments.repo_config`, the app and deployment as its target and the
  log's lines as its `changes` (`GET /api/audit`, `rivetr audit`, the dashboard's Audit log).
- **An invalid file fails the deployment before anything changes**, with the key, line and column in the
  deployment's error and log (`invalid rivetr.toml: port (line 2, column 1): Input should be a valid
  integer...`); nothing is built and the running version keeps serving.
- **A secret the file names that the app has no variable for fails the deployment, naming it**
  (`rivetr.toml: secret DATABASE_PASSWORD is not set on the server...`): set it with
  `rivetr env set web DATABASE_PASSWORD --secret` and deploy again.
- **Recorded on the deployment**: `GET /api/deployments/{id}` has `applied_config`
  (`{"commit", "path", "file", "changes"}`, null when the commit had no file); `rivetr deployments show <id>` and
  the app's deployment list in the dashboard show it as a "rivetr.toml at <commit>" section with the applied
  keys and the changes.
- **A rollback restores the settings that went with the image**: rolling back to a deployment that applied a
  file applies that file again (its diff is logged the same way) before the old image starts.
- **A pull request's preview applies the file of the PR's head** to the preview app, never to the base app,
  within the preview policy (below).

### Where the file is: `config_path`

By default `rivetr.toml` at the repository's root. An app's `config_path` puts it elsewhere, relative to the
root: `deploy/web.toml` for one app of a monorepo, each app its own file. `""` or null turns it off: deployments
ignore the file, even one at the root. At most 255 characters, no leading `/`, no `..` (`./deploy//web.toml` is
saved as `deploy/web.toml`); anything else is a 422 naming `config_path`:

```json
{"error": {"code": "validation_error", "message": "config_path: Must stay inside the repository (no '..')", "details": [{"field": "config_path", "message": "Must stay inside the repository (no '..')"}]}}
```

- API: `"config_path"` in `POST /api/apps` (default `"rivetr.toml"`) and `PUT /api/apps/{id}`; `GET
  /api/apps/{id}` answers it (null: off).
- CLI: `rivetr apps create web --git URL --config-path deploy/web.toml`, `rivetr apps update web --config-path
  ''` (off); `rivetr apps show web` prints it as `config file`.
- Dashboard: the app's Settings tab, Build section, "rivetr.toml path" (empty: off).
- `project.toml`: `config_path = "deploy/web.toml"` in an `[[apps]]` table (`""`: off), applied like the app's
  other keys; `rivetr export` writes it when it is not the default.

`config_path` is not a key of the file itself: the server must know where the file is before it can read it, so
a file cannot move itself (a path named inside the file would only be seen after reading the file from the old
place); only a project file's app takes it. The deployment log keeps the `rivetr.toml:` prefix whatever the path, and `applied_config.path` records where the
file was; a rollback re-applies what its deployment recorded, wherever the file is now.

### Pull-request previews

A PR's preview app (`<app>-pr-<n>`, docs/git.md) clones the PR's head, so its deployment reads the head's file
(at the base app's `config_path`) and applies it to the preview app: the base app's settings never change.
Within the preview policy: a preview is served at its own `pr-<n>` domain, and a fork's code is untrusted, so a
fork's file may not reach outside its preview app nor raise its limits above the base app's. A key the policy
leaves out is logged and the rest applies, so a file written for production still deploys its previews:

```text
rivetr.toml: volumes ignored for a fork's preview (preview policy)
rivetr.toml: memory_limit ignored for a fork's preview (preview policy)
rivetr.toml: port 8000 -> 8080
```

The ignored keys are listed in the deployment's `applied_config.ignored`. A secret the file names that the
preview does not get (a fork's preview never gets secrets; a same-repository one only with `preview_secrets`)
is logged, not fatal. The rules (`rivetr_core/engine/preview_policy.py`; a key not listed applies to both;
`cap`: applied unless it is above the base app's effective value or the fork build cap, else ignored):
"""

OUTRO = """\
## Not yet

- Notification channels and backup destinations hold credentials: a file names them (routing, backup
  schedules), each server has its own; a service's extra `environment` and a stack's `env` may hold secrets:
  none of them is in the file. `domains` takes host names with path prefixes, as the apps API does.
- `git_token`, `ssh_key_id`, the webhook secret and a linked git account are never exported (credentials and
  server-local ids): set them on the new server.
- Apply runs as one request: a very large project is applied in one go, not in the background.
"""


def _type(prop: Any) -> str:
    if prop is False:
        return "absent"
    if "$ref" in prop:
        return "table"
    if "oneOf" in prop or "anyOf" in prop:
        kinds = []
        for branch in prop.get("oneOf") or prop.get("anyOf"):
            name = _type(branch)
            if name not in kinds:
                kinds.append(name)
        return " or ".join(kinds)
    if "enum" in prop:
        return " \\| ".join(f"`{json_value(v)}`" for v in prop["enum"])
    kind = prop.get("type")
    if kind == "array":
        item = prop.get("items", {})
        return "array of tables" if "$ref" in item else f"array of {_type(item)}s"
    if kind == "object":
        return "table"
    return {"integer": "integer", "number": "number", "string": "string", "boolean": "boolean"}.get(
        kind, "any"
    )


def json_value(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value).lower()


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _example(key: str) -> str:
    if key not in EXAMPLES:
        raise SystemExit(f"docs/gen_iac.py: no example for {key!r}: add one to EXAMPLES")
    return EXAMPLES[key]


def _table(schema: dict[str, Any], keys: list[str], prefix: str = "") -> list[str]:
    rows = ["| key | type | example | meaning |", "|---|---|---|---|"]
    required = set(schema.get("required", []))
    for key in keys:
        prop = schema["properties"][key]
        example = _example(prefix + key)
        shown = "`" + example.replace("\n", "` `") + "`" if "\n" in example else f"`{example}`"
        needed = " **Required.**" if key in required else ""
        meaning = prop.get("description") or MEANINGS.get(prefix + key) or _create_description(prefix, key)
        rows.append(f"| `{key}` | {_type(prop)} | {_cell(shown)} | {_cell(meaning)}{needed} |")
    return [*rows, ""]


def _create_description(prefix: str, key: str) -> str:
    """An app setting's description on the create model (AppIn), where the update model has none."""
    from rivetr_core.api.appschema import AppIn

    info = AppIn.model_fields.get(key) if prefix in ("", "apps.") else None
    return (info.description or "") if info is not None else ""


def _def(schema: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    return dict(schema["$defs"][model.__name__])


def _preview_policy() -> str:
    """The preview policy's table, from the code that applies it."""
    from rivetr_core.engine.preview_policy import POLICY

    rows = ["| key | same-repository PR | fork's PR | why |", "|---|---|---|---|"]
    rows += [f"| `{key}` | {same} | {fork} | {why} |" for key, (same, fork, why) in POLICY.items()]
    return "\n".join(rows) + "\n"


def render() -> str:
    app_schema = json_schema("rivetr.toml")
    project_schema = json_schema("project.toml")
    out = [INTRO, _preview_policy()]
    out.append("## The keys of an app\n")
    out.append(
        "An app's own `rivetr.toml` (schema `/api/schemas/rivetr.toml`) and each `[[apps]]` table of `project.toml` "
        "take these keys (in `project.toml` with the app's `name`). Top-level keys are the app's settings, by their "
        "API names; tables group the rest. The minimal file:\n"
    )
    out.append(
        '```toml\nport = 8000\nbuilder = "auto"\nhealth_check = { kind = "http", path = "/healthz" }\n'
        'secrets = ["DATABASE_PASSWORD"]\n\n[env]\nLOG_LEVEL = "info"\n\n[[volumes]]\nname = "uploads"\n'
        'mount_path = "/app/uploads"\n```\n'
    )
    out.append("### Settings\n")
    out += _table(app_schema, list(APP_KEYS))
    out.append("### Variables, secrets, volumes, tasks, links, backups, routes and git settings\n")
    out += _table(
        app_schema,
        [
            "env",
            "build_env",
            "secrets",
            "volumes",
            "tasks",
            "links",
            "backups",
            "route_settings",
            "git_settings",
        ],
    )
    tables = (
        ("VolumeIn", "volumes"),
        ("TaskIn", "tasks"),
        ("LinkSpec", "links"),
        ("BackupSpec", "backups"),
        ("RouteSettingsSpec", "route_settings"),
        ("BasicAuthSpec", "basic_auth"),
        ("GitSettingsSpec", "git_settings"),
    )
    for name, key in tables:
        definition = app_schema["$defs"][name]
        heading = {
            "git_settings": "[git_settings]",
            "route_settings": '[route_settings."<route key>"]',
            "basic_auth": '[route_settings."<route key>".basic_auth]',
        }
        out.append(f"#### `{heading.get(key, f'[[{key}]]')}`\n")
        if key == "basic_auth":
            out.append(
                "A route's basic auth names its users only. A user without a password on the server is reported "
                "in `missing_secrets` (kind `basic_auth`) and left out until its password is set in the route's "
                "settings; a file never turns basic auth off (do it in the dashboard or the API).\n"
            )
        out += _table(definition, list(definition["properties"]), f"{key}.")
    out.append("## `project.toml`\n")
    out.append(
        "A project's file (schema `/api/schemas/project.toml`): `[project]`, then `[[services]]`, `[[apps]]`, "
        "`[[stacks]]` and `[[notifications]]`. Names are unique across a project's apps, services and stacks (host names on its network).\n"
    )
    out.append(
        '```toml\n[project]\nname = "shop"\n\n[[services]]\nname = "db"\ntype = "postgres"\nversion = "16"\n\n'
        '[[apps]]\nname = "web"\ngit_url = "https://github.com/you/shop.git"\nport = 8000\n'
        'secrets = ["SESSION_KEY"]\n\n[[apps.links]]\nservice = "db"\n\n[apps.env]\nLOG_LEVEL = "info"\n```\n'
    )
    out.append("### `[project]`\n")
    project = project_schema["$defs"]["ProjectIn"]
    out += _table(project, list(project["properties"]), "project.")
    out.append("### `[[services]]`\n")
    services = _def(project_schema, ServiceSpec)
    out += _table(services, list(services["properties"]), "services.")
    out.append("### `[[stacks]]`\n")
    out.append(
        "Compose stacks (docs/compose.md): a pasted file (`compose`, a TOML multi-line string) or a repository "
        "(`repo_url`), one of the two. Their variables (`env`) are not in the file: the API masks every value.\n"
    )
    stacks = project_schema["$defs"]["StackSpec"]
    out += _table(stacks, list(stacks["properties"]), "stacks.")
    out.append("### `[[notifications]]`\n")
    out.append(
        'Notification routing (docs/notifications.md, "Routing a project\'s events"): one table per channel, by '
        "the channel's name. The channel itself (its URL and credentials) is created on each server first, as a "
        "backup destination is; a file naming a channel the server lacks is refused before anything changes. "
        "Routes the project has on the server but the file does not name are `not_in_file` (deleted with "
        "`prune`).\n"
    )
    out.append(
        '```toml\n[[notifications]]\nchannel = "shop-alerts"\napps = ["web"]\n'
        'events = ["deployment_failed", "backup_failed"]\n```\n'
    )
    notifications = project_schema["$defs"]["NotificationSpec"]
    out += _table(notifications, list(notifications["properties"]), "notifications.")
    out.append("### `[[apps]]`\n")
    apps = project_schema["$defs"]["ProjectApp"]
    out.append("The keys of an app (above), and:\n")
    out += _table(apps, ["name"], "apps.")
    out.append(OUTRO)
    return "\n".join(out)


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}")
