"""One service template: a TOML file parsed and validated into a frozen :class:`Template` (docs/templates.md).

Substitutions (``${...}``) are checked when the template loads, so a typo is a load error naming the field, not
a broken container later. What each field may reference:

* everywhere: ``${password}`` (generated), ``${user}`` and ``${database}`` (only when ``[credentials]`` sets them),
  ``${name}`` (the service's name), ``${port}`` (the container port) and ``${VAR}`` (another ``env`` entry,
  resolved after the user's overrides, so a value and what refers to it always agree);
* ``env`` values only: ``${password:N}``, the whole value, a separate generated secret of N characters stored in
  the credentials under that env key (``MYSQL_ROOT_PASSWORD = "${password:32}"``);
* ``link.url``: ``${host}`` too (where the linked app reaches the service); ``rotate.command``: ``${new_password}``.

``$${`` is a literal ``${``; any other ``$`` is left alone (``sh -c`` commands may read the container's own
environment). Generated secrets are letters and digits only: URL-safe, and never in need of quoting in a shell
word, a SQL string, a URL or an option value (``-p${password}`` cannot start a new option).
"""

from __future__ import annotations

import re
import secrets
import string
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: What a template's ``category`` may be; the dashboard groups the catalogue by it.
CATEGORIES = ("database", "app")
#: The backup methods the backup worker knows (``volume``: a copy of the service's volumes while it is stopped).
BACKUP_METHODS = ("pg_dumpall", "mysqldump", "redis_rdb", "volume")
#: The parts a link may hand to an app, as ``<PREFIX>_<PART>``.
LINK_PARTS = ("HOST", "PORT", "USER", "PASSWORD", "DATABASE")
#: Length of the generated ``${password}``.
PASSWORD_LENGTH = 32
SECRET_ALPHABET = string.ascii_letters + string.digits

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_VERSION = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: User and database names go into SQL statements, URLs and argv unquoted: keep them identifiers.
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_PREFIX = re.compile(r"^[A-Z][A-Z0-9_]{0,39}$")
_IMAGE = re.compile(r"^(?:[a-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9][a-z0-9._-]*(?:/[a-z0-9][a-z0-9._-]*)*$")
_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_REF = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::([0-9]+))?$")
_SECRET_MIN, _SECRET_MAX = 16, 128

_TOP_KEYS = {
    "name",
    "title",
    "category",
    "description",
    "docs_url",
    "image",
    "versions",
    "port",
    "volumes",
    "env",
    "credentials",
    "command",
    "health",
    "link",
    "backup",
    "rotate",
}


class TemplateInvalid(Exception):
    """A template that does not load: ``problems`` are ``"field: why"`` lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class UnknownSubstitution(KeyError):
    """A ``${...}`` without a value at render time (credentials missing a key the template needs)."""


@dataclass(frozen=True)
class TemplateVolume:
    """A named engine volume mounted at ``path``; the engine name is ``service_volume_name(id, name)``."""

    name: str
    path: str


@dataclass(frozen=True)
class TemplateHealth:
    """Readiness: ``command`` runs by exec in the container every ``interval`` seconds until it exits 0 (ready)
    or ``timeout`` seconds have passed since the container started (failed). Exit status is all that counts:
    a tool that exits 0 on a bad answer is wrapped (``sh -c "... | grep -q PONG"``)."""

    command: tuple[str, ...]
    timeout: float = 60.0
    interval: float = 1.0


@dataclass(frozen=True)
class TemplateLink:
    """What a linked app receives: ``<prefix>_URL`` (``url`` rendered) and ``<prefix>_<part>`` for each part."""

    prefix: str
    url: str
    parts: tuple[str, ...]


@dataclass(frozen=True)
class TemplateBackup:
    """``method`` is one of :data:`BACKUP_METHODS`. ``dump`` (argv writing the dump to stdout) and ``restore``
    (argv reading it from stdin) run in the container, rendered like ``health``; absent, the method's default
    commands apply (they differ between images: MariaDB 11 ships ``mariadb-dump``, not ``mysqldump``)."""

    method: str
    dump: tuple[str, ...] | None = None
    restore: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Template:
    """A parsed, validated template. Immutable: one instance serves every service of its type.

    ``versions[0]`` is the default. ``credentials`` holds the literal ``user``/``database`` (either may be
    absent, e.g. Redis has neither); the password is always generated. ``source`` is ``"builtin"`` or the name
    of the plugin that shipped it."""

    name: str
    title: str
    category: str
    description: str
    docs_url: str
    image: str
    versions: tuple[str, ...]
    port: int
    volumes: tuple[TemplateVolume, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    credentials: Mapping[str, str] = field(default_factory=dict)
    command: tuple[str, ...] | None = None
    health: TemplateHealth | None = None
    link: TemplateLink | None = None
    backup: TemplateBackup = TemplateBackup("volume")
    rotate: tuple[str, ...] | None = None
    source: str = "builtin"

    # ------------------------------------------------------------------------------------------- properties
    @property
    def default_version(self) -> str:
        return self.versions[0]

    @property
    def backup_method(self) -> str:
        return self.backup.method

    @property
    def link_prefix(self) -> str | None:
        return self.link.prefix if self.link else None

    @property
    def rotatable(self) -> bool:
        return self.rotate is not None

    @property
    def secret_keys(self) -> dict[str, int]:
        """Env keys whose value is a generated secret (``${password:N}``), with N."""
        found = {}
        for key, value in self.env.items():
            m = _TOKEN.fullmatch(value)
            ref = _REF.match(m.group(1)) if m and m.group(1) is not None else None
            if ref and ref.group(1) == "password" and ref.group(2):
                found[key] = int(ref.group(2))
        return found

    def image_ref(self, version: str | None = None) -> str:
        """``image:version`` as templates name it (``postgres:16``); ``managed.images`` qualifies it."""
        return f"{self.image}:{version or self.default_version}"

    def summary(self) -> dict[str, Any]:
        """The catalogue entry (``GET /api/templates``)."""
        return {
            "name": self.name,
            "title": self.title,
            "category": self.category,
            "description": self.description,
            "docs_url": self.docs_url,
            "image": self.image,
            "versions": list(self.versions),
            "default_version": self.default_version,
            "port": self.port,
            "link_prefix": self.link_prefix,
            "backup_method": self.backup_method,
            "source": self.source,
        }

    def detail(self) -> dict[str, Any]:
        """The summary and what a service of it gets (``GET /api/templates/{name}``); no secret values."""
        return {
            **self.summary(),
            "volumes": [{"name": v.name, "path": v.path} for v in self.volumes],
            "env_keys": list(self.env),
            "secret_env_keys": list(self.secret_keys),
            "credentials": {
                "user": self.credentials.get("user"),
                "database": self.credentials.get("database"),
            },
            "link_parts": list(self.link.parts) if self.link else [],
            "rotatable": self.rotatable,
            "has_health_check": self.health is not None,
        }

    # ------------------------------------------------------------------------------------------ credentials
    def generate_credentials(self) -> dict[str, str]:
        """New credentials for a service: ``user``/``database`` from the template, a fresh ``password`` and
        each ``${password:N}`` secret under its env key."""
        creds = dict(self.credentials)
        creds["password"] = generate_secret(PASSWORD_LENGTH)
        for key, length in self.secret_keys.items():
            creds[key] = generate_secret(length)
        return creds

    # ------------------------------------------------------------------------------------------ rendering
    def render(
        self, name: str, credentials: Mapping[str, str], env_overrides: Mapping[str, str] | None = None
    ) -> tuple[dict[str, str], list[str] | None]:
        """The container's environment and command for service ``name``.

        ``env_overrides`` (the user's environment) replace template entries verbatim and add new ones; other
        entries that refer to an overridden one (``${VAR}``) see the override. Raises
        :class:`UnknownSubstitution` when ``credentials`` lack a value the template needs."""
        env = self._resolve_env(name, credentials, env_overrides or {})
        command = None
        if self.command is not None:
            sub = self._substituter(name, credentials, env)
            command = [sub(part) for part in self.command]
        return env, command

    def link_env(
        self, prefix: str, host: str, port: int | None, credentials: Mapping[str, str], name: str = ""
    ) -> dict[str, str]:
        """What a linked app receives: ``<prefix>_URL`` and ``<prefix>_<part>`` for the template's parts.

        ``host``/``port`` are where the app reaches the service (its name and the container port on the
        project network); ``port`` None means the template's port. A template without ``[link]`` gives
        ``<prefix>_HOST`` and ``<prefix>_PORT`` only."""
        port = self.port if port is None else port
        extra = {"host": host, "port": str(port)}
        if self.link is None:
            return {f"{prefix}_HOST": host, f"{prefix}_PORT": str(port)}
        env = self._resolve_env(name, credentials, {})
        sub = self._substituter(name, credentials, env, extra)
        values = {
            "HOST": host,
            "PORT": str(port),
            "USER": credentials.get("user", ""),
            "PASSWORD": credentials.get("password", ""),
            "DATABASE": credentials.get("database", ""),
        }
        out = {f"{prefix}_URL": sub(self.link.url)}
        out.update({f"{prefix}_{part}": values[part] for part in self.link.parts})
        return out

    def health_command(
        self, credentials: Mapping[str, str], env: Mapping[str, str] | None = None, name: str = ""
    ) -> list[str] | None:
        """The readiness command, rendered (None: the template has none; ready once the container runs).
        ``env`` is the container's rendered environment (default: the template's without overrides)."""
        if self.health is None:
            return None
        return self._render_argv(self.health.command, credentials, env, name)

    def rotate_command(
        self,
        credentials: Mapping[str, str],
        new_password: str,
        env: Mapping[str, str] | None = None,
        name: str = "",
    ) -> list[str] | None:
        """The command that changes the password in the running service (None: not rotatable in place)."""
        if self.rotate is None:
            return None
        return self._render_argv(self.rotate, credentials, env, name, {"new_password": new_password})

    def backup_commands(
        self, credentials: Mapping[str, str], env: Mapping[str, str] | None = None, name: str = ""
    ) -> tuple[list[str] | None, list[str] | None]:
        """``(dump, restore)`` argv rendered, each None when the template leaves it to the method's default."""
        dump = self._render_argv(self.backup.dump, credentials, env, name) if self.backup.dump else None
        restore = (
            self._render_argv(self.backup.restore, credentials, env, name) if self.backup.restore else None
        )
        return dump, restore

    # -------------------------------------------------------------------------------------------- internals
    def _render_argv(
        self,
        argv: tuple[str, ...],
        credentials: Mapping[str, str],
        env: Mapping[str, str] | None,
        name: str,
        extra: Mapping[str, str] | None = None,
    ) -> list[str]:
        if env is None:
            env = self._resolve_env(name, credentials, {})
        sub = self._substituter(name, credentials, env, extra)
        return [sub(part) for part in argv]

    def _builtins(self, name: str, credentials: Mapping[str, str]) -> dict[str, str]:
        values = {"name": name, "port": str(self.port)}
        for key in ("user", "password", "database"):
            if key in credentials:
                values[key] = credentials[key]
        return values

    def _substituter(
        self,
        name: str,
        credentials: Mapping[str, str],
        env: Mapping[str, str],
        extra: Mapping[str, str] | None = None,
    ) -> Callable[[str], str]:
        values = {**self._builtins(name, credentials), **(extra or {})}

        def lookup(ref: str, length: str | None) -> str:
            if ref in values:
                return values[ref]
            if ref in env:
                return env[ref]
            raise UnknownSubstitution(f"${{{ref}}} has no value (credentials or env lack it)")

        return lambda text: _substitute(text, lookup)

    def _resolve_env(
        self, name: str, credentials: Mapping[str, str], overrides: Mapping[str, str]
    ) -> dict[str, str]:
        builtins = self._builtins(name, credentials)
        raw = {key: value for key, value in self.env.items() if key not in overrides}
        resolved: dict[str, str] = {key: str(value) for key, value in overrides.items()}
        secret_keys = self.secret_keys

        def resolve(key: str, stack: tuple[str, ...]) -> str:
            if key in resolved:
                return resolved[key]
            if key in secret_keys:
                if key not in credentials:
                    raise UnknownSubstitution(f"env.{key}: the credentials hold no generated secret {key}")
                resolved[key] = credentials[key]
                return resolved[key]

            def lookup(ref: str, length: str | None) -> str:
                if ref in builtins:
                    return builtins[ref]
                if ref in raw or ref in resolved:
                    if ref in stack:  # validated at load; overrides cannot make a cycle
                        raise UnknownSubstitution(f"env.{key}: ${{{ref}}} refers to itself")
                    return resolve(ref, (*stack, ref))
                raise UnknownSubstitution(f"env.{key}: ${{{ref}}} has no value")

            resolved[key] = _substitute(raw[key], lookup)
            return resolved[key]

        out: dict[str, str] = {}
        for key in self.env:
            out[key] = resolve(key, (key,))
        for key in overrides:
            out[key] = resolved[key]
        return out


def generate_secret(length: int = PASSWORD_LENGTH) -> str:
    """``length`` random letters and digits (``secrets``): 32 of them are ~190 bits."""
    return "".join(secrets.choice(SECRET_ALPHABET) for _ in range(length))


def _substitute(text: str, lookup: Callable[[str, str | None], str]) -> str:
    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$${":
            return "${"
        ref = _REF.match(m.group(1))
        if ref is None:
            raise UnknownSubstitution(f"malformed substitution {m.group(0)!r}")
        return lookup(ref.group(1), ref.group(2))

    return _TOKEN.sub(one, text)


def _references(text: str) -> list[tuple[str, str | None] | str]:
    """The ``${...}`` in ``text``: ``(name, length)`` pairs, or the raw token when it is malformed."""
    found: list[tuple[str, str | None] | str] = []
    for m in _TOKEN.finditer(text):
        if m.group(0) == "$${":
            continue
        ref = _REF.match(m.group(1))
        found.append((ref.group(1), ref.group(2)) if ref else m.group(0))
    return found


# ---------------------------------------------------------------------------------------------------- parsing
def parse_template(text: str, *, name: str | None = None, source: str = "builtin") -> Template:
    """Parse TOML ``text`` into a :class:`Template`; raise :class:`TemplateInvalid` listing every problem.

    ``name``: the name it is registered under (a built-in's file stem, a plugin registration's name); the
    file's own ``name`` key, if any, must agree."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TemplateInvalid([f"not valid TOML: {exc}"]) from None
    return _Parser(data, name, source).parse()


class _Parser:
    def __init__(self, data: dict[str, Any], name: str | None, source: str) -> None:
        self.data = data
        self.name = name
        self.source = source
        self.problems: list[str] = []

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def string(self, table: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str:
        value = table.get(key)
        if value is None:
            if required:
                self.fail(where, "is required")
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            self.fail(where, "must be a non-empty string")
            return ""
        return value

    def argv(self, value: Any, where: str) -> tuple[str, ...] | None:
        if not isinstance(value, list) or not value or not all(isinstance(p, str) and p for p in value):
            self.fail(where, "must be a non-empty list of non-empty strings (an argv, no shell)")
            return None
        return tuple(value)

    def table(self, key: str, allowed: set[str], *, required: bool = False) -> dict[str, Any] | None:
        value = self.data.get(key)
        if value is None:
            if required:
                self.fail(key, "is required")
            return None
        if not isinstance(value, dict):
            self.fail(key, f"must be a table ([{key}])")
            return None
        for extra in sorted(set(value) - allowed):
            self.fail(f"{key}.{extra}", f"unknown key (allowed: {', '.join(sorted(allowed))})")
        return value

    def parse(self) -> Template:
        d = self.data
        for extra in sorted(set(d) - _TOP_KEYS):
            self.fail(extra, "unknown key (a typo? see docs/templates.md)")
        name = self._name()
        title = self.string(d, "title", "title")
        category = self.string(d, "category", "category")
        if category and category not in CATEGORIES:
            self.fail("category", f"must be one of {', '.join(CATEGORIES)}, not {category!r}")
        description = self.string(d, "description", "description")
        docs_url = self.string(d, "docs_url", "docs_url")
        if docs_url and not docs_url.startswith(("https://", "http://")):
            self.fail("docs_url", "must be an http(s) URL")
        image = self.string(d, "image", "image")
        if image and not _IMAGE.match(image):
            self.fail(
                "image",
                f"must be an image name without a tag or digest (postgres, gitea/gitea), not {image!r}",
            )
        versions = self._versions()
        port = d.get("port")
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            self.fail("port", "must be the container port, an integer 1-65535")
            port = 0
        volumes = self._volumes()
        credentials = self._credentials()
        env = self._env()
        command = None
        if d.get("command") is not None:
            command = self.argv(d["command"], "command")
        health = self._health(category)
        link = self._link(credentials)
        backup = self._backup()
        rotate = self._rotate()
        self._check_references(env, credentials, command, health, link, backup, rotate)
        if self.problems:
            raise TemplateInvalid(self.problems)
        return Template(
            name=name,
            title=title,
            category=category,
            description=description,
            docs_url=docs_url,
            image=image,
            versions=versions,
            port=port,
            volumes=volumes,
            env=env,
            credentials=credentials,
            command=command,
            health=health,
            link=link,
            backup=backup,
            rotate=rotate,
            source=self.source,
        )

    def _name(self) -> str:
        own = self.data.get("name")
        if own is not None and not isinstance(own, str):
            self.fail("name", "must be a string")
            own = None
        if own is not None and self.name is not None and own != self.name:
            self.fail("name", f"is {own!r} but the template is registered as {self.name!r}")
        name = self.name or own
        if not name:
            self.fail("name", "is required")
            return ""
        if not _NAME.match(name):
            self.fail("name", f"must be DNS-safe (lower-case letters, digits, hyphens; 1-63), not {name!r}")
        return name

    def _versions(self) -> tuple[str, ...]:
        versions = self.data.get("versions")
        if not isinstance(versions, list) or not versions or not all(isinstance(v, str) for v in versions):
            self.fail("versions", "must be a non-empty list of image tags (strings), the default first")
            return ()
        for v in versions:
            if not _VERSION.match(v):
                self.fail("versions", f"{v!r} is not a valid image tag")
        if len(set(versions)) != len(versions):
            self.fail("versions", "lists a tag twice")
        return tuple(versions)

    def _volumes(self) -> tuple[TemplateVolume, ...]:
        raw = self.data.get("volumes", [])
        if not isinstance(raw, list):
            self.fail("volumes", "must be an array of tables ([[volumes]] name = ..., path = ...)")
            return ()
        out: list[TemplateVolume] = []
        for i, item in enumerate(raw):
            where = f"volumes[{i}]"
            if not isinstance(item, dict):
                self.fail(where, "must be a table with name and path")
                continue
            for extra in sorted(set(item) - {"name", "path"}):
                self.fail(f"{where}.{extra}", "unknown key (allowed: name, path)")
            vname = self.string(item, "name", f"{where}.name")
            path = self.string(item, "path", f"{where}.path")
            if vname and not _NAME.match(vname):
                self.fail(f"{where}.name", f"must be DNS-safe, not {vname!r}")
            if path and (not path.startswith("/") or path == "/"):
                self.fail(f"{where}.path", f"must be an absolute path in the container, not {path!r}")
            if any(v.name == vname for v in out):
                self.fail(f"{where}.name", f"{vname!r} is used twice")
            if any(v.path == path for v in out):
                self.fail(f"{where}.path", f"{path!r} is mounted twice")
            out.append(TemplateVolume(vname, path))
        return tuple(out)

    def _credentials(self) -> dict[str, str]:
        table = self.table("credentials", {"user", "database"}) or {}
        out: dict[str, str] = {}
        for key in ("user", "database"):
            if key in table:
                value = table[key]
                if not isinstance(value, str) or not _IDENT.match(value):
                    self.fail(f"credentials.{key}", "must be an identifier (letters, digits, _; 1-63)")
                    continue
                out[key] = value
        return out

    def _env(self) -> dict[str, str]:
        raw = self.data.get("env", {})
        if not isinstance(raw, dict):
            self.fail("env", 'must be a table of strings ([env] KEY = "value")')
            return {}
        out: dict[str, str] = {}
        for key, value in raw.items():
            if not _ENV_KEY.match(key):
                self.fail(f"env.{key}", "is not a valid environment variable name")
            elif key in ("user", "password", "database", "name", "port", "host", "new_password"):
                self.fail(f"env.{key}", "shadows a built-in substitution; use another name")
            if not isinstance(value, str):
                self.fail(f"env.{key}", 'must be a string (quote numbers: "1")')
                continue
            out[key] = value
        return out

    def _health(self, category: str) -> TemplateHealth | None:
        table = self.table("health", {"command", "timeout", "interval"}, required=category == "database")
        if table is None:
            return None
        command = self.argv(table.get("command"), "health.command")
        timeout = self._seconds(table, "timeout", 60.0, "health")
        interval = self._seconds(table, "interval", 1.0, "health")
        if interval > timeout:
            self.fail("health.interval", "must not exceed health.timeout")
        return TemplateHealth(command or (), timeout, interval)

    def _seconds(self, table: Mapping[str, Any], key: str, default: float, section: str) -> float:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3600:
            self.fail(f"{section}.{key}", "must be a number of seconds, more than 0 and at most 3600")
            return default
        return float(value)

    def _link(self, credentials: Mapping[str, str]) -> TemplateLink | None:
        table = self.table("link", {"prefix", "url", "parts"})
        if table is None:
            return None
        prefix = self.string(table, "prefix", "link.prefix")
        if prefix and not _PREFIX.match(prefix):
            self.fail("link.prefix", f"must be upper-case letters, digits and _ (DATABASE), not {prefix!r}")
        url = self.string(table, "url", "link.url")
        parts = table.get("parts", ["HOST", "PORT"])
        if not isinstance(parts, list) or not all(isinstance(p, str) for p in parts):
            self.fail("link.parts", f"must be a list of {', '.join(LINK_PARTS)}")
            parts = []
        for part in parts:
            if part not in LINK_PARTS:
                self.fail("link.parts", f"{part!r} is not one of {', '.join(LINK_PARTS)}")
            elif part in ("USER", "DATABASE") and part.lower() not in credentials:
                self.fail("link.parts", f"{part} needs credentials.{part.lower()}")
        return TemplateLink(prefix, url, tuple(parts))

    def _backup(self) -> TemplateBackup:
        table = self.table("backup", {"method", "dump", "restore"}, required=True)
        if table is None:
            return TemplateBackup("volume")
        method = self.string(table, "method", "backup.method")
        if method and method not in BACKUP_METHODS:
            self.fail("backup.method", f"must be one of {', '.join(BACKUP_METHODS)}, not {method!r}")
        dump = self.argv(table["dump"], "backup.dump") if "dump" in table else None
        restore = self.argv(table["restore"], "backup.restore") if "restore" in table else None
        return TemplateBackup(method, dump, restore)

    def _rotate(self) -> tuple[str, ...] | None:
        table = self.table("rotate", {"command"})
        if table is None:
            return None
        command = self.argv(table.get("command"), "rotate.command")
        if command and not any("${new_password}" in part for part in command):
            self.fail("rotate.command", "must use ${new_password}")
        return command

    def _check_references(
        self,
        env: Mapping[str, str],
        credentials: Mapping[str, str],
        command: tuple[str, ...] | None,
        health: TemplateHealth | None,
        link: TemplateLink | None,
        backup: TemplateBackup,
        rotate: tuple[str, ...] | None,
    ) -> None:
        base = {"password", "name", "port", *credentials}

        def check(where: str, text: str, extra: frozenset[str] = frozenset(), *, whole: bool = False) -> None:
            for ref in _references(text):
                if isinstance(ref, str):
                    self.fail(where, f"malformed substitution {ref} (write $${{ for a literal ${{)")
                    continue
                key, length = ref
                if length is not None:
                    if key != "password" or not whole:
                        self.fail(
                            where, f"${{{key}:{length}}}: only an env value may be ${{password:N}}, whole"
                        )
                    elif not _SECRET_MIN <= int(length) <= _SECRET_MAX:
                        self.fail(where, f"${{password:{length}}}: N must be {_SECRET_MIN}-{_SECRET_MAX}")
                    elif text != f"${{password:{length}}}":
                        self.fail(where, f"${{password:{length}}} must be the whole value")
                    continue
                if key in base or key in extra or key in env:
                    continue
                hint = ""
                if key in ("user", "database"):
                    hint = f" (the template sets no credentials.{key})"
                known = sorted({*base, *extra, *env})
                self.fail(where, f"unknown substitution ${{{key}}}{hint}; known: {', '.join(known)}")

        for key, value in env.items():
            check(f"env.{key}", value, whole=True)
        self._check_env_cycles(env)
        for i, part in enumerate(command or ()):
            check(f"command[{i}]", part)
        for i, part in enumerate(health.command if health else ()):
            check(f"health.command[{i}]", part)
        if link is not None:
            check("link.url", link.url, frozenset({"host"}))
        for label, argv in (("backup.dump", backup.dump), ("backup.restore", backup.restore)):
            for i, part in enumerate(argv or ()):
                check(f"{label}[{i}]", part)
        for i, part in enumerate(rotate or ()):
            check(f"rotate.command[{i}]", part, frozenset({"new_password"}))

    def _check_env_cycles(self, env: Mapping[str, str]) -> None:
        graph = {
            key: [r[0] for r in _references(value) if isinstance(r, tuple) and r[0] in env]
            for key, value in env.items()
        }
        done: set[str] = set()

        def visit(key: str, path: tuple[str, ...]) -> None:
            if key in path:
                cycle = " -> ".join((*path[path.index(key) :], key))
                self.fail(f"env.{path[0]}", f"substitutions form a cycle: {cycle}")
                return
            if key in done:
                return
            for ref in graph[key]:
                visit(ref, (*path, key))
            done.add(key)

        for key in graph:
            if key not in done:
                visit(key, ())
