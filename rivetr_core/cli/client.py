"""The CLI's connection to a Rivetr server: where it is, which token, and turning HTTP failures into messages.

Resolution order for the server URL: ``--url``, ``RIVETR_URL``, the login file written by ``rivetr login``
(``$RIVETR_LOGIN_FILE`` or ``~/.config/rivetr/login.json``, mode 0600), then ``http://127.0.0.1:8080``. For the
token: ``--token-file PATH``, ``RIVETR_TOKEN``, the login file. The team a command acts in (for a user in several):
``--team NAME`` or ``RIVETR_TEAM``, sent as the ``X-Rivetr-Team`` header; else the server's default (the token's
team, the session's, or the user's only one). Never a ``--token VALUE``: the command line is
readable by every local user (``ps``, ``/proc/<pid>/cmdline``) and stays in shell history, so secrets are only
read from the environment, files, stdin or a hidden prompt (:class:`RefusedSecretOption` explains that to old
scripts still passing one).

Exit codes shared by every command: 0 success, 1 the operation itself failed (a deployment that did not
reach ``running``), 2 the request could not be made (usage error, unreachable server, bad token, unknown
app or deployment, refused input). httpx is imported lazily so ``rivetr --help`` stays instant.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

DEFAULT_URL = "http://127.0.0.1:8080"
EXIT_FAILED = 1
#: Page size the CLI asks for when it lists everything (the server's maximum).
LIST_PAGE = 200
EXIT_ERROR = 2

F = TypeVar("F", bound=Callable[..., Any])


class CliError(click.ClickException):
    """A clear, one-line error; exits with :data:`EXIT_ERROR`."""

    exit_code = EXIT_ERROR

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


#: What to do instead of passing a token on the command line.
TOKEN_HINT = (
    "a token on the command line is readable by every local user (ps) and stays in shell history; "
    "use $RIVETR_TOKEN, --token-file PATH or `rivetr login` instead"
)


class RefusedSecretOption(click.Option):
    """A hidden option kept only to refuse any value with a pointer to the safe way (scripts written for an
    older CLI get a clear error instead of "no such option")."""

    refuses_values = True

    def __init__(self, *args: Any, hint: str, **kwargs: Any) -> None:
        kwargs.setdefault("hidden", True)
        kwargs.setdefault("expose_value", False)
        super().__init__(*args, **kwargs)
        self.hint = hint

    def process_value(self, ctx: click.Context, value: Any) -> Any:
        from click.core import ParameterSource

        if ctx.get_parameter_source(self.name or "") is ParameterSource.COMMANDLINE:
            raise click.UsageError(f"{self.opts[0]} is not accepted: {self.hint}", ctx)
        return super().process_value(ctx, value)


def read_secret_file(path: str) -> str:
    """The first line of ``path`` (``-`` = stdin), stripped; an empty one is an error."""
    import sys

    try:
        text = sys.stdin.readline() if path == "-" else Path(path).read_text().partition("\n")[0]
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not text.strip():
        raise CliError(f"{'stdin' if path == '-' else path} holds no token")
    return text.strip()


token_file_option = click.option(
    "--token-file",
    metavar="PATH",
    help="Read the API token from this file's first line ('-' = stdin).",
)
refused_token_option = click.option("--token", cls=RefusedSecretOption, hint=TOKEN_HINT)


def login_file() -> Path:
    configured = os.environ.get("RIVETR_LOGIN_FILE")
    if configured:
        return Path(configured).expanduser()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "rivetr" / "login.json"


def read_login() -> dict[str, str]:
    try:
        data = json.loads(login_file().read_text())
    except (OSError, ValueError):
        return {}
    return (
        {k: str(v) for k, v in data.items() if k in ("url", "token") and v} if isinstance(data, dict) else {}
    )


def write_login(url: str, token: str) -> Path:
    """Write the login file with mode 0600 from its first byte (the token is a credential)."""
    path = login_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"url": url, "token": token}, fh)
    os.replace(tmp, path)
    return path


@dataclass
class Connection:
    url: str
    token: str | None
    team: str | None = None

    @classmethod
    def resolve(cls, url: str | None, token: str | None, team: str | None = None) -> Connection:
        saved = read_login()
        return cls(
            (url or saved.get("url") or DEFAULT_URL).rstrip("/"), token or saved.get("token"), team or None
        )

    def client(self, timeout: float = 30.0) -> RivetrClient:
        return RivetrClient(self.url, self.token, timeout=timeout, team=self.team)


def connection_options(func: F) -> F:
    """``--url``, ``--token-file`` (token otherwise from ``$RIVETR_TOKEN`` or the login file) and ``--team`` for a
    command; passes ``conn``. A command with a ``--team`` of its own (the team a project, token or invitation
    belongs to, or an audit filter) acts in that same team."""
    import functools
    import inspect

    # A ``team`` of the command's own: an option (--team: the team it acts in too) or an argument (`rivetr teams
    # show NAME` manages teams: it acts in none, whatever $RIVETR_TEAM says). Which one is known once click has
    # built the command (its decorators run after this one).
    own_team = "team" in inspect.signature(func).parameters

    @functools.wraps(func)
    def wrapper(*args: Any, url: str | None, token_file: str | None, **kwargs: Any) -> Any:
        token = read_secret_file(token_file) if token_file else os.environ.get("RIVETR_TOKEN") or None
        team = kwargs.get("team") if own_team else kwargs.pop("team", None)
        if own_team and not _team_is_an_option():
            team = None
        elif not team:
            team = os.environ.get("RIVETR_TEAM") or None
        return func(*args, conn=Connection.resolve(url, token, team), **kwargs)

    options = [
        refused_token_option,
        token_file_option,
        click.option(
            "--url",
            envvar="RIVETR_URL",
            metavar="URL",
            help="Server URL (default: $RIVETR_URL, else the login file, else http://127.0.0.1:8080).",
        ),
    ]
    if not own_team:
        options.append(
            click.option(
                "--team",
                metavar="TEAM",
                help="Team to act in, by name or id, for a user in several (default: $RIVETR_TEAM, else the "
                "token's team or the user's only one; a server admin without one acts in every team).",
            )
        )
    decorated: Any = wrapper
    for option in reversed(options):
        decorated = option(decorated)
    return decorated  # type: ignore[no-any-return]


def _team_is_an_option() -> bool:
    ctx = click.get_current_context(silent=True)
    params = ctx.command.params if ctx is not None else []
    return any(isinstance(p, click.Option) and p.name == "team" for p in params)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(func)


class RivetrClient:
    """A thin httpx wrapper: JSON in, JSON out, every failure a :class:`CliError` a human can act on."""

    def __init__(
        self, url: str, token: str | None, *, timeout: float = 30.0, team: str | None = None
    ) -> None:
        import httpx

        self.url = url
        self.token = token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers["User-Agent"] = "rivetr-cli"
        if team:
            headers["X-Rivetr-Team"] = team
        self.http = httpx.Client(base_url=url, headers=headers, timeout=timeout)

    def __enter__(self) -> RivetrClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        ok: tuple[int, ...] = (),
    ) -> Any:
        """The decoded JSON (None for an empty body). Statuses in ``ok`` are returned, not raised."""
        import httpx

        try:
            response = self.http.request(method, path, json=json_body, params=params)
        except httpx.ConnectError as exc:
            raise CliError(
                f"cannot reach the Rivetr server at {self.url} ({_reason(exc)}); is `rivetr serve` "
                "running? Set --url, $RIVETR_URL or run `rivetr login`"
            ) from None
        except httpx.TimeoutException:
            raise CliError(f"the Rivetr server at {self.url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise CliError(f"request to {self.url} failed: {exc}") from None
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = response.text
        if response.status_code < 400 or response.status_code in ok:
            return body
        message = _error_message(body) or response.reason_phrase
        if response.status_code == 401:
            how = "the token was refused" if self.token else "no token given"
            raise CliError(f"{how} by {self.url} (401): run `rivetr login` or set --token / $RIVETR_TOKEN")
        raise CliError(f"{message} (HTTP {response.status_code})")

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, json_body: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, json_body=json_body, **kw)

    def put(self, path: str, json_body: Any = None, **kw: Any) -> Any:
        return self.request("PUT", path, json_body=json_body, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)

    def list_all(self, path: str, params: dict[str, Any] | None = None, *, ok: tuple[int, ...] = ()) -> Any:
        """Every item of a paginated list (``{"items", "next"}``), following ``next`` page after page at the
        largest page size. A bare JSON list (a server from before the envelope) is returned as it is, and so
        is a status in ``ok`` (its error body)."""
        query = {**(params or {}), "limit": LIST_PAGE}
        items: list[Any] = []
        while True:
            page = self.request("GET", path, params=query, ok=ok)
            if not isinstance(page, dict) or "items" not in page:
                return page
            items.extend(page["items"])
            if not page.get("next"):
                return items
            query["cursor"] = page["next"]

    def ws_url(self, path: str) -> str:
        base = self.url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
        return base + path

    # ------------------------------------------------------------------------------------------ lookups
    def resolve_app(self, ref: str) -> dict[str, Any]:
        """An app by id or by name; a clear error listing close names when neither matches."""
        from urllib.parse import quote

        found = self.request("GET", f"/api/apps/{quote(ref, safe='')}", ok=(404,))
        if isinstance(found, dict) and "id" in found:
            return found
        apps = self.list_all("/api/apps")
        for app in apps:
            if app.get("name") == ref:
                return app  # type: ignore[no-any-return]
        names = ", ".join(sorted(a["name"] for a in apps)) or "none yet"
        raise CliError(f"unknown app {ref!r} (apps: {names})")


def show_or_set(conn: Connection, app: str, field: str, value: str | None, default: str, label: str) -> None:
    """Print one of an app's settings, or set it first (``rivetr apps builder APP [NAME]`` and friends)."""
    with conn.client() as client:
        found = client.resolve_app(app)
        if value is not None:
            found = client.put(f"/api/apps/{found['id']}", {field: value})
    click.echo(f"{label}: {found.get(field, default)}")
    if value is not None:
        click.echo(f"saved; applies at the next deployment: rivetr deploy {found['name']}")


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return "connection refused" if "refused" in text.lower() else text


def _error_message(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message") or body["error"].get("code"))
    return body if isinstance(body, str) and body else None


def complete_app(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion of app names (best effort, 1 s budget, silent on any failure)."""
    from click.shell_completion import CompletionItem

    params = ctx.params
    try:
        conn = Connection.resolve(
            params.get("url") or os.environ.get("RIVETR_URL"),
            params.get("token") or os.environ.get("RIVETR_TOKEN"),
            params.get("team") or os.environ.get("RIVETR_TEAM"),
        )
        with conn.client(timeout=1.0) as client:
            apps = client.list_all("/api/apps")
    except Exception:
        return []
    return [CompletionItem(a["name"], help=a.get("status")) for a in apps if a["name"].startswith(incomplete)]
