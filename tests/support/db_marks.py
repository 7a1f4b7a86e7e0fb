"""Which tests CI runs a second time on PostgreSQL (``db`` marker; scripts/test.sh's "postgres" part).

Every test runs on SQLite in CI. The ``db`` tests also run with ``RIVETR_TEST_DATABASE=postgres``: the modules whose
tests go through the services' SQL the most (accounts and sessions, teams and permissions, lists with filters and
cursors, audit, schedules and tasks, resources' CRUD, secrets at rest), chosen so the second pass stays short
instead of doubling the suite: 355 tests, 5.5 minutes on the 2-core development machine with other work on it
(load ~4; 8.5-9.5 minutes for 363 tests beside two other test runs). A test elsewhere joins with ``@pytest.mark.db``.
The whole suite runs on PostgreSQL with the same switch, by hand (README, "Test it").
"""

from __future__ import annotations

import pytest

DB_MARK = "db"

#: The modules marked ``db`` as a whole (paths from the repository root).
DB_MODULES = frozenset(
    {
        "tests/test_accounts.py",
        "tests/test_two_factor.py",
        "tests/test_invitations.py",
        "tests/test_sessions_api.py",
        "tests/test_users_api.py",
        "tests/test_teams_api.py",
        "tests/test_team_isolation.py",
        "tests/test_tokens_scoped.py",
        "tests/test_audit.py",
        "tests/test_apps_api.py",
        "tests/test_app_service.py",
        "tests/test_app_logs_env_bulk.py",
        "tests/test_auto_deploy_api.py",
        "tests/test_tags.py",
        "tests/test_list_pagination.py",
        "tests/test_metrics_history.py",
        "tests/test_scheduler.py",
        "tests/test_tasks_api.py",
        "tests/test_stacks_api.py",
        "tests/test_services_api.py",
        "tests/test_resource_services.py",
        "tests/test_deployment_started_by.py",
    }
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{DB_MARK}: goes through the database; CI runs it on SQLite and again on PostgreSQL"
    )


# tryfirst: the marker must be on the items before ``-m`` deselects.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.split("::", 1)[0] in DB_MODULES:
            item.add_marker(getattr(pytest.mark, DB_MARK))
