"""A real PostgreSQL server for tests: a private cluster in a temp dir on a free loopback port.

* ``postgres_server`` fixture (session-scoped) → a running :class:`PostgresServer`; the test is skipped, with the
  reason, only when the PostgreSQL binaries are absent (Debian's ``postgresql`` package).
* ``RIVETR_TEST_DATABASE=postgres`` switches the in-process test apps (``tests.support.server.make_config``) to a
  database of its own on the process's server (:func:`database_url_for`), started on first use and stopped at exit.
* Under the switch, every real ``rivetr serve`` a test starts (tests/support/server.py ``start_server``) gets a
  database of its own too, a copy of the same migrated template, through ``RIVETR_DATABASE__URL``
  (:func:`serve_database_url`); tests reach either kind through tests/support/at_rest.py.
* :meth:`PostgresServer.create_database` with ``template=`` clones a migrated database: PostgreSQL copies it at
  the file level, which is how the schema template (tests/support/schema_template.py) avoids migrating each time.

The server runs as the ``postgres`` user when the tests run as root (PostgreSQL refuses to run as root), with
``fsync`` off: the data is thrown away, only speed matters.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

#: ``RIVETR_TEST_DATABASE=postgres``: in-process test apps use PostgreSQL instead of SQLite.
SWITCH = "RIVETR_TEST_DATABASE"


def enabled() -> bool:
    return os.environ.get(SWITCH, "").strip().lower() in ("postgres", "postgresql")


def bin_dir() -> Path | None:
    """The directory of ``initdb``/``pg_ctl``/``postgres``: on PATH, else Debian's versioned directory."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "pg_ctl").exists() and (candidate / "initdb").exists():
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One private cluster: ``url(name)`` of a database on it, ``create_database``/``drop_database``."""

    def __init__(self, root: Path, binaries: Path, *, port: int | None = None) -> None:
        self.root = root
        self.bin = binaries
        self.data = root / "data"
        self.port = port or _free_port()
        self.user = "postgres"
        self._names = itertools.count()
        # PostgreSQL refuses to run as root: hand the directory to the postgres user and run as it.
        self._as: list[str] = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")  # (a no-op for a parent's server: already its owner)
            os.chown(root, pw.pw_uid, pw.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*self._as, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {result.stdout}{result.stderr}")
        return result

    def start(self) -> None:
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", self.user, "--auth=trust", "-E", "UTF8",
            "--no-sync", "--locale=C",
        )  # fmt: skip
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"),
            "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop_when_gone(self, pid: int) -> None:
        """Stop the cluster and remove its directory once process ``pid`` has ended, however it ended: ``atexit``
        does not run when a test run is killed (a CI timeout's SIGTERM, SIGKILL), and an orphaned cluster would keep
        its memory and port until the machine restarts."""
        stop = " ".join(
            [*self._as, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"]
        )
        script = (
            f"while kill -0 {pid} 2>/dev/null; do sleep 2; done; {stop} >/dev/null 2>&1; rm -rf {self.root}"
        )
        subprocess.Popen(
            ["sh", "-c", script],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # out of the test run's process group: a Ctrl-C there must not skip the stop
        )  # fmt: skip

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{self.user}@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run one statement with psql over the cluster's socket; its unaligned output."""
        return self._run(
            str(self.bin / "psql"), "-h", str(self.root), "-p", str(self.port), "-U", self.user, "-d", database,
            "-v", "ON_ERROR_STOP=1", "-At", "-c", statement,
        ).stdout  # fmt: skip

    def create_database(self, name: str | None = None, *, template: str | None = None) -> str:
        """A new database (empty, or a copy of ``template``, which nobody may be connected to); its name."""
        name = name or self.new_name()
        self.sql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return name

    def drop_database(self, name: str) -> None:
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def new_name(self) -> str:
        return f"t{os.getpid()}_{next(self._names)}_{uuid.uuid4().hex[:6]}"

    async def acreate_database(self, name: str, *, template: str | None = None) -> None:
        """:meth:`create_database` from async code, over one asyncpg connection (no psql process: a test app's
        start-up pays this once per test)."""
        import asyncpg

        conn = await asyncpg.connect(host=str(self.root), port=self.port, user=self.user, database="postgres")
        try:
            await conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        finally:
            await conn.close()


def start_server() -> PostgresServer:
    binaries = bin_dir()
    if binaries is None:
        raise FileNotFoundError(
            "PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install -y postgresql"
        )
    server = PostgresServer(Path(tempfile.mkdtemp(prefix="rivetr-pg-")), binaries)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server


_shared: PostgresServer | None = None


#: ``<socket dir>:<port>`` of the server a test process started, for the processes it starts (they use it
#: rather than start their own).
SERVER_ENV = "RIVETR_TEST_POSTGRES_SERVER"


def shared_server() -> PostgresServer:
    """This test process's server: its parent's (:data:`SERVER_ENV`), or started on first use and stopped when
    the process exits."""
    global _shared
    if _shared is None:
        inherited = os.environ.get(SERVER_ENV, "")
        binaries = bin_dir()
        if inherited and binaries is not None:
            root, _, port = inherited.rpartition(":")
            _shared = PostgresServer(Path(root), binaries, port=int(port))
        else:
            _shared = start_server()
            atexit.register(_shared.stop)
            _shared.stop_when_gone(os.getpid())
            os.environ[SERVER_ENV] = f"{_shared.root}:{_shared.port}"
    return _shared


#: Databases named by :func:`database_url_for` and not created yet: the test app's start-up creates each, as a
#: copy of the migrated template (tests/support/schema_template.py), or empty for ``fresh_schema`` tests.
pending: set[str] = set()
#: True while the schema template fixture (tests/support/schema_template.py) is there to create them.
created_at_startup = False
_by_data_dir: dict[Path, str] = {}


def database_url_for(data_dir: Path) -> str:
    """The database of a test app's data dir: a new one on this process's server the first time (created when
    the app starts: :func:`create_pending`), the same one again for the same data dir (a test restarting its app
    on that dir finds its data, as with SQLite)."""
    key = Path(data_dir).resolve()
    if key not in _by_data_dir:
        server = shared_server()
        if created_at_startup:
            name = server.new_name()
            pending.add(name)
        else:  # a process without the schema template fixture (a probe subprocess): created now, empty
            name = server.create_database()
        _by_data_dir[key] = server.url(name)
    return _by_data_dir[key]


#: The migrated template database of this process (created once, by the first test app or ``rivetr serve``
#: that needs a database: tests/support/schema_template.py, :func:`serve_database_url`).
template: str | None = None


def run_apart(make: Callable[[], Coroutine[Any, Any, Any]]) -> None:
    """Run ``make()`` to the end on an event loop of its own in a thread of its own (sync callers may be inside a
    running loop, where ``asyncio.run`` is refused); its exception is raised here."""
    import asyncio
    import threading

    failure: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(make())
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def _migrated_template() -> str:
    """:data:`template`, created and migrated now if no test app made it yet (from sync code: in a thread of its
    own, as the caller's event loop may be running)."""
    global template
    if template is None:
        from rivetr_core.db import Database

        server = shared_server()
        name = server.create_database()

        async def migrate() -> None:
            db = Database(server.url(name))
            try:
                await db.startup()
            finally:
                await db.close()  # CREATE DATABASE ... TEMPLATE needs it unused

        run_apart(migrate)
        template = name
    return template


def serve_database_url(data_dir: Path) -> str:
    """The database of a real ``rivetr serve`` on ``data_dir`` (tests/support/server.py): a copy of the migrated
    template, created now (the subprocess migrates nothing), the same one again for the same data dir (a test that
    restarts its server finds its data, as with SQLite)."""
    key = Path(data_dir).resolve()
    if key in _by_data_dir:
        url = _by_data_dir[key]
        name = url.rsplit("/", 1)[-1]
        if name in pending:  # named for an in-process app on the same dir that never started
            pending.discard(name)
            shared_server().create_database(name, template=_migrated_template())
        return url
    server = shared_server()
    name = server.create_database(template=_migrated_template())
    _by_data_dir[key] = server.url(name)
    return _by_data_dir[key]


def known_url(data_dir: Path) -> str | None:
    """The PostgreSQL database given to the app or server on ``data_dir`` under the switch, if any."""
    return _by_data_dir.get(Path(data_dir).resolve())


async def create_pending(name: str | None, *, template: str | None = None) -> None:
    """Create the database ``name`` if :func:`database_url_for` named it and nothing created it yet."""
    if name in pending:
        assert name is not None
        pending.discard(name)
        await shared_server().acreate_database(name, template=template)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A running PostgreSQL server (this process's shared one); skipped only when PostgreSQL is not installed."""
    if bin_dir() is None:
        pytest.skip("PostgreSQL is not installed (initdb/pg_ctl not found): apt-get install -y postgresql")
    yield shared_server()
