"""How the suite splits over test workers (``pytest -n 2 --dist loadgroup``, as scripts/test.sh runs it).

Most of a run's time is waiting: for container engines, builds, health checks, a browser. Two workers overlap that
waiting on a 2-core machine. What decides the split (an ``xdist_group`` per test):

* every test that touches a real container engine (marked ``docker``/``podman`` by tests/support/engines.py, and
  everything under ``tests/e2e`` and the runtime and builder plugins' tests) is in ONE group, run in order on one
  worker: they share the engines' images, networks and address pools, and some prune or count them;
* every other module is a group of its own, so its module-scoped fixtures (a shared ``rivetr serve``, a browser)
  start once, on one worker.

Engine tests are collected first, so their worker starts on the longest group at once and the other worker takes
module after module. Without xdist (``pytest tests/test_x.py``) the groups are inert markers.
"""

from __future__ import annotations

import pytest

ENGINE_GROUP = "engines"
_ENGINE_DIRS = ("tests/e2e/", "plugins/runtime-", "plugins/builder-")


def _uses_engines(item: pytest.Item) -> bool:
    path = item.nodeid.split("::", 1)[0]
    return (
        item.get_closest_marker("docker") is not None
        or item.get_closest_marker("podman") is not None
        or path.startswith(_ENGINE_DIRS)
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
