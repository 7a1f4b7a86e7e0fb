"""How the suite splits over test workers (``pytest -n 2 --dist loadgroup``, as scripts/test.sh runs it).

Most of a run's time is waiting: for container engines, builds, health checks, a browser. Two workers overlap that
waiting on a 2-core machine. What decides the split (an ``xdist_group`` per test):

* tests marked ``engine_restart`` stop or restart an engine daemon under everyone's feet: scripts/test.sh runs
  them in a second, serial pytest run after the parallel one (``-m engine_restart``), never beside anything;
* every test that drives a real container engine is in ONE group, run in order on one worker: they share the
  engines' images, networks and address pools, and some count them. That is what tests/support/engines.py marks
  ``docker``/``podman``, everything under ``tests/e2e`` and the runtime and builder plugins' tests, and the modules
  of ``tests/`` that start a real ``rivetr serve`` (it deploys on whichever engine it detects);
* every other module is a group of its own, so its module-scoped fixtures (a shared ``rivetr serve``, a browser)
  start once, on one worker. Browser modules are among them: their few deployments are small, and putting them
  with the engine tests would leave the other worker idle.

Engine tests are collected first, so their worker starts on the longest group at once and the other worker takes
module after module. Without xdist (``pytest tests/test_x.py``) the groups are inert markers.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

ENGINE_GROUP = "engines"
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
    return nodepath.startswith("tests/") and _starts_a_server(Path(item.path))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "engine_restart: stops or restarts an engine daemon (run alone, after the parallel run)"
    )


@pytest.hookimpl(trylast=True)  # after tests/support/engines.py marked the engine tests
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    engines: list[pytest.Item] = []
    others: list[pytest.Item] = []
    for item in items:
        if _uses_engines(item):
            item.add_marker(pytest.mark.xdist_group(ENGINE_GROUP))
            engines.append(item)
        else:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
            others.append(item)
    items[:] = engines + others
