"""Which tests share a test process (scripts/test.sh runs the suite as two pytest processes at once, then one).

Most of a run's time is waiting: for container engines, builds, health checks, a browser. Two processes overlap that
waiting on a 2-core machine. What decides the split (markers added at collection):

* ``engine_restart``: the tests that stop or restart an engine daemon under everyone's feet; scripts/test.sh runs
  them last, alone (``-m engine_restart``);
* ``engines``: every other test that drives a real container engine, all in ONE process, in order: they share the
  engines' images, networks and address pools, and some count them. That is what tests/support/engines.py marks
  ``docker``/``podman`` (an engine fixture or the ``runtime`` parameter), everything under ``tests/e2e`` and the
  runtime and builder plugins' tests, and the modules of ``tests/`` that start a real ``rivetr serve`` (it deploys
  on whichever engine it detects);
* everything else (unit and API tests, and the browser tests, whose few deployments are small) runs in the other
  process (``-m "not engines and not engine_restart"``).

Why not pytest-xdist's ``--dist loadgroup``: with pytest 9 it ignores the groups (xdist 3.8 renames node ids
through ``item._nodeid``, which pytest 9 no longer reads), so engine tests ran on both workers at once. Two plain
processes selected by marker need no scheduler at all. Without scripts/test.sh the markers are inert.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

ENGINES_MARK = "engines"
_ENGINE_DIRS = ("tests/e2e/", "plugins/runtime-", "plugins/builder-")
#: How a module of tests/ starts a real server (tests/support/server.py); such a server deploys on a real engine.
_SERVER_STARTERS = ("start_server(", "rivetr_server")


@cache
def _starts_a_server(path: Path) -> bool:
    text = path.read_text(encoding="utf-8", errors="replace")
    return any(starter in text for starter in _SERVER_STARTERS)


def _uses_engines(item: pytest.Item) -> bool:
    nodepath = item.nodeid.split("::", 1)[0]
    if (
        item.get_closest_marker("docker")
        or item.get_closest_marker("podman")
        or nodepath.startswith(_ENGINE_DIRS)
    ):
        return True
    # What tests/support/engines.py marks docker/podman in this same hook round: an engine fixture, or the
    # runtime parameter.
    names = set(getattr(item, "fixturenames", ()))
    if "engine_env" in names or any(name.startswith(("docker_", "podman_")) for name in names):
        return True
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("runtime") in ("docker", "podman"):
        return True
    if item.get_closest_marker("engine_free"):  # starts a server but never deploys: it may run beside them
        return False
    return nodepath.startswith("tests/") and _starts_a_server(Path(item.path))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "engine_restart: stops or restarts an engine daemon (run alone, after the other tests)"
    )
    config.addinivalue_line(
        "markers", f"{ENGINES_MARK}: drives a real container engine (one process runs them all)"
    )
    config.addinivalue_line(
        "markers",
        "engine_free: a module that starts a real server but never deploys (not with the engine tests)",
    )


# tryfirst: the markers must be on the items before ``-m`` deselects (pytest's own hook of the same name).
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _uses_engines(item):
            item.add_marker(getattr(pytest.mark, ENGINES_MARK))
