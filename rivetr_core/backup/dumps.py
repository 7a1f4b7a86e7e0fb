"""How each backup method of a managed service (its template's ``backup.method``) dumps and restores its data.

Pure data, no I/O: the commands the backup service runs in the service's container (``exec_output`` for a dump,
``exec_input`` for a restore), the environment they get (passwords travel there, never in argv, where any
``ps`` in the container would show them), and the SQL wrapped around a restore.

* ``pg_dumpall``: ``pg_dumpall --clean --if-exists`` (roles, every database, its objects). Restored by
  ``psql -d postgres``: the dump drops and recreates each database it holds. Around it: the preamble closes every
  other database to new connections and ends the sessions open there (so ``DROP DATABASE`` is not refused
  because a linked app is connected); the epilogue opens again the databases the preamble closed that the dump
  did not recreate, and sets the service's own password back (the dump carries the source's role with its
  password hash, which would otherwise lock Rivetr and linked apps out of a service restored from another).
* ``mysqldump``: the user databases (not ``mysql``/``sys``/the schemas of the server itself) with
  ``--single-transaction --routines --events --triggers --add-drop-database``, by ``mariadb-dump`` when the image
  has it. The ``mysql`` system schema (accounts and their passwords) is left out on purpose: restored into
  another service, it would replace that service's accounts with the source's, and Rivetr's stored credentials
  would stop working. Restored by the ``mysql``/``mariadb`` client, which stops at the first error.
* ``redis_rdb``: ``BGSAVE``, wait until it completed (``LASTSAVE`` moved past the time it was asked), then
  stream the RDB file. Restore: the file is written next to the live one, automatic saves are turned off (so no
  background save overwrites it), it is renamed over ``dump.rdb`` and the server shut down without saving;
  the service is then started again and loads it.
* ``volume``: the service's volumes as a tar archive (the volume machinery of app backups).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

METHODS = ("pg_dumpall", "mysqldump", "redis_rdb", "volume")

#: The file extension of each method's dump inside the archive key (before the codec's).
EXTENSIONS = {"pg_dumpall": "sql", "mysqldump": "sql", "redis_rdb": "rdb", "volume": "tar"}

#: psql errors a pg_dumpall restore always prints and that are harmless: the dump drops and recreates every
#: role, the connected one included, which PostgreSQL refuses (the role stays, with its attributes set again).
PG_BENIGN_ERRORS = ("current user cannot be dropped", "already exists")

_MYSQL_SYSTEM = ("mysql", "sys", "information_schema", "performance_schema")


@dataclass(frozen=True)
class Command:
    """A command run in the service's container: ``cmd`` (argv) with ``env`` added to its environment."""

    cmd: list[str]
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Login:
    """Who the dump and the restore run as: the service's credentials and, for MySQL/MariaDB, its root
    password when the template generated one apart from the user's."""

    user: str
    password: str
    database: str = ""
    root_password: str | None = None

    @classmethod
    def of(cls, credentials: Mapping[str, str], env: Mapping[str, str] | None = None) -> Login:
        """From a service's decrypted credentials and (optionally) its rendered environment."""
        env = env or {}
        root = (
            env.get("MARIADB_ROOT_PASSWORD")
            or env.get("MYSQL_ROOT_PASSWORD")
            or credentials.get("MARIADB_ROOT_PASSWORD")
            or credentials.get("MYSQL_ROOT_PASSWORD")
        )
        return cls(
            user=str(credentials.get("user") or ""),
            password=str(credentials.get("password") or ""),
            database=str(credentials.get("database") or ""),
            root_password=str(root) if root else None,
        )


def _sh(script: str) -> list[str]:
    return ["sh", "-c", script]


# -- PostgreSQL ------------------------------------------------------------------------------------------------


def _pg_env(login: Login) -> dict[str, str]:
    return {"PGPASSWORD": login.password, "PGUSER": login.user}


def pg_dump(login: Login) -> Command:
    return Command(["pg_dumpall", "-U", login.user, "--clean", "--if-exists"], _pg_env(login))


def pg_restore(login: Login) -> Command:
    # -q -o /dev/null: only errors and warnings come out (the combined output tail is what a failure reports);
    # no ON_ERROR_STOP: the dump's role statements always fail harmlessly (PG_BENIGN_ERRORS).
    return Command(["psql", "-q", "-o", "/dev/null", "-U", login.user, "-d", "postgres"], _pg_env(login))


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_ident(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def pg_preamble() -> bytes:
    """Close every other database to new connections and end the sessions open in them, remembering which were
    closed in the psql variable ``rivetr_closed`` (psql variables survive the dump's ``\\connect``)."""
    return (
        b"SELECT coalesce(json_agg(datname), '[]') AS rivetr_closed FROM pg_database"
        b" WHERE datallowconn AND NOT datistemplate AND datname <> 'postgres' \\gset\n"
        b"SELECT format('ALTER DATABASE %I ALLOW_CONNECTIONS false', d)"
        b" FROM json_array_elements_text(:'rivetr_closed'::json) AS d \\gexec\n"
        b"SELECT count(pg_terminate_backend(pid)) AS rivetr_ended FROM pg_stat_activity"
        b" WHERE pid <> pg_backend_pid() AND backend_type = 'client backend' \\gset\n"
    )


def pg_epilogue(login: Login) -> bytes:
    """Open again what the preamble closed and still exists (a database the dump recreated is open already),
    and give the service's role its own password back."""
    return (
        "\\connect postgres\n"
        "SELECT format('ALTER DATABASE %I ALLOW_CONNECTIONS true', d)"
        " FROM json_array_elements_text(:'rivetr_closed'::json) AS d"
        " WHERE d IN (SELECT datname FROM pg_database WHERE NOT datallowconn) \\gexec\n"
        f"ALTER ROLE {_sql_ident(login.user)} WITH PASSWORD {_sql_literal(login.password)};\n"
    ).encode()


def pg_errors(output: str) -> list[str]:
    """The ``ERROR:`` lines of a psql restore's output that are not the expected, harmless ones."""
    lines = [line.strip() for line in output.splitlines() if "ERROR:" in line]
    return [line for line in lines if not any(benign in line for benign in PG_BENIGN_ERRORS)]


# -- MySQL / MariaDB -------------------------------------------------------------------------------------------


def _mysql_env(login: Login) -> dict[str, str]:
    # MYSQL_PWD: both clients read it; a password in argv would show in the container's process list.
    return {"MYSQL_PWD": login.root_password or login.password}


def _mysql_user(login: Login) -> str:
    return "root" if login.root_password else login.user


def mysql_dump(login: Login) -> Command:
    system = ",".join(f"'{s}'" for s in _MYSQL_SYSTEM)
    script = (
        "set -e; C=$(command -v mariadb || command -v mysql); D=$(command -v mariadb-dump || command -v mysqldump); "
        f'dbs=$("$C" -u"$RIVETR_DB_USER" -N -B -e "SELECT schema_name FROM information_schema.schemata '
        f'WHERE schema_name NOT IN ({system}) ORDER BY 1"); '
        '[ -n "$dbs" ] || { echo "-- no user databases"; exit 0; }; '
        'exec "$D" -u"$RIVETR_DB_USER" --single-transaction --routines --events --triggers '
        "--add-drop-database --hex-blob --databases $dbs"
    )
    return Command(_sh(script), {**_mysql_env(login), "RIVETR_DB_USER": _mysql_user(login)})


def mysql_restore(login: Login) -> Command:
    script = 'C=$(command -v mariadb || command -v mysql); exec "$C" -u"$RIVETR_DB_USER"'
    return Command(_sh(script), {**_mysql_env(login), "RIVETR_DB_USER": _mysql_user(login)})


# -- Redis -----------------------------------------------------------------------------------------------------

#: Seconds a BGSAVE may take before the dump gives up.
REDIS_SAVE_TIMEOUT = 3600

_REDIS_FILE = (
    "dir=$(redis-cli CONFIG GET dir | sed -n 2p); f=$(redis-cli CONFIG GET dbfilename | sed -n 2p); "
)


def redis_dump(login: Login) -> Command:
    # LASTSAVE has a resolution of one second: wait for the next second before asking, so a save completed
    # at the same second as the previous one is still seen as new. A BGSAVE already running is waited for first.
    script = (
        "set -e; "
        "wait_idle() { n=0; while redis-cli INFO persistence | grep -q '^rdb_bgsave_in_progress:1'; do "
        f"n=$((n+1)); [ $n -lt {REDIS_SAVE_TIMEOUT * 5} ] || {{ echo 'BGSAVE did not finish' >&2; exit 1; }}; "
        "sleep 0.2; done; }; "
        "wait_idle; before=$(redis-cli LASTSAVE); "
        'while [ "$(redis-cli TIME | sed -n 1p)" -le "$before" ]; do sleep 0.1; done; '
        "redis-cli BGSAVE >&2; sleep 0.05; wait_idle; "
        'n=0; while [ "$(redis-cli LASTSAVE)" -le "$before" ]; do n=$((n+1)); '
        "[ $n -lt 100 ] || { echo 'BGSAVE did not complete' >&2; exit 1; }; sleep 0.1; done; "
        "redis-cli INFO persistence | grep -q '^rdb_last_bgsave_status:ok' "
        "|| { echo 'BGSAVE failed' >&2; exit 1; }; " + _REDIS_FILE + 'exec cat "$dir/$f"'
    )
    return Command(_sh(script), _redis_env(login))


def _redis_env(login: Login) -> dict[str, str]:
    # REDISCLI_AUTH: redis-cli's way to take the password without argv.
    return {"REDISCLI_AUTH": login.password} if login.password else {}


REDIS_STAGED = ".rivetr-restore.rdb"


def redis_receive(login: Login) -> Command:
    """Write the RDB from stdin next to the live one (same directory: the later rename is atomic)."""
    return Command(_sh("set -e; " + _REDIS_FILE + f'cat > "$dir/{REDIS_STAGED}"'), _redis_env(login))


def redis_swap(login: Login) -> Command:
    """No automatic save may overwrite the staged file from now on (the setting is in memory only: the next
    start reads the config again), then the staged file replaces the live one. The caller then shuts the server
    down without saving (``SHUTDOWN NOSAVE``, an exec of its own: it ends the container's main process, and
    with it any exec still running there)."""
    script = (
        "set -e; redis-cli CONFIG GET appendonly | sed -n 2p | grep -qx no "
        "|| { echo 'the server keeps an append-only file: it would load that, not the restored RDB' >&2; exit 3; }; "
        "redis-cli CONFIG SET save '' >/dev/null; "
        "while redis-cli INFO persistence | grep -q '^rdb_bgsave_in_progress:1'; do sleep 0.1; done; "
        + _REDIS_FILE
        + f'mv "$dir/{REDIS_STAGED}" "$dir/$f"'
    )
    return Command(_sh(script), _redis_env(login))


def redis_discard(login: Login) -> Command:
    return Command(_sh(_REDIS_FILE + f'rm -f "$dir/{REDIS_STAGED}"'), _redis_env(login))


# -- by method -------------------------------------------------------------------------------------------------


def dump_command(method: str, login: Login) -> Command:
    """The command that writes the method's dump on stdout (not for ``volume``)."""
    if method == "pg_dumpall":
        return pg_dump(login)
    if method == "mysqldump":
        return mysql_dump(login)
    if method == "redis_rdb":
        return redis_dump(login)
    raise ValueError(f"no dump command for backup method {method!r}")


def describe(method: str) -> str:
    """One line for people: what a backup of this method holds."""
    return {
        "pg_dumpall": "a pg_dumpall of every database and role",
        "mysqldump": "a mysqldump of every user database",
        "redis_rdb": "the RDB snapshot of a BGSAVE",
        "volume": "an archive of the service's volumes",
    }.get(method, method)


def restore_entry(service_id: str, name: str, method: str) -> dict[str, str]:
    """What a restore row records in its ``volumes`` about the service it restores into (backup_restores has
    no column of its own for a service)."""
    return {"name": name, "mount_path": method, "kind": "service", "service_id": service_id}


def manifest(method: str, service_type: str, version: str) -> str:
    return json.dumps({"method": method, "type": service_type, "version": version})
