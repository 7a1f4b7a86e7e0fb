"""The role, server-role and scope tables (pure logic): what each role may and may not do (issue 20, "Roles")."""

from __future__ import annotations

import pytest

from rivetr_core.authz.permissions import (
    ACCOUNT,
    AUDIT,
    DEPLOY,
    MEMBERS,
    PERMISSIONS,
    READ,
    SCOPES,
    SECRETS_REVEAL,
    SERVER,
    TEAM_DELETE,
    TEAM_ROLES,
    TERMINAL,
    WRITE,
    Principal,
    grants_for,
)


def test_viewer_reads_only() -> None:
    viewer = Principal("user:v", team_role="viewer", server_role=None)
    assert viewer.grants == {READ, ACCOUNT}
    for denied in (DEPLOY, WRITE, SECRETS_REVEAL, TERMINAL, MEMBERS, SERVER):
        assert not viewer.allows(denied), denied


def test_developer_changes_and_deploys_but_never_reads_secrets_or_manages() -> None:
    dev = Principal("user:d", team_role="developer", server_role=None)
    assert all(dev.allows(p) for p in (READ, DEPLOY, WRITE, TERMINAL, ACCOUNT))
    assert not any(dev.allows(p) for p in (SECRETS_REVEAL, MEMBERS, TEAM_DELETE, SERVER, AUDIT))


def test_admin_is_owner_less_team_deletion_and_neither_has_server_rights() -> None:
    admin = Principal("user:a", team_role="admin", server_role=None)
    owner = Principal("user:o", team_role="owner", server_role=None)
    assert owner.grants - admin.grants == {TEAM_DELETE}
    assert admin.allows(MEMBERS) and admin.allows(SECRETS_REVEAL) and admin.allows(AUDIT)
    assert not owner.allows(SERVER), "server settings need a server role, not a team role"


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_server_roles_grant_server_settings_without_team_rights(role: str) -> None:
    server_only = Principal("user:s", team_role=None, server_role=role)
    assert server_only.grants == {SERVER, AUDIT, ACCOUNT}


def test_todays_principals_hold_every_permission() -> None:
    assert Principal.full("admin").grants == set(PERMISSIONS)
    assert Principal.full("token:alice/ci").grants == set(PERMISSIONS)


@pytest.mark.parametrize(
    ("scopes", "expected"),
    [
        ({"read"}, {READ}),
        ({"deploy"}, {READ, DEPLOY}),
        ({"write"}, {READ, DEPLOY, WRITE}),
        ({"read", "deploy"}, {READ, DEPLOY}),
    ],
)
def test_token_scopes_narrow_an_owner(scopes: set[str], expected: set[str]) -> None:
    assert Principal("token:o/t", scopes=frozenset(scopes)).grants == expected


def test_a_token_never_exceeds_its_users_role() -> None:
    viewer_admin_token = Principal(
        "token:v/t", team_role="viewer", server_role=None, scopes=frozenset({"admin"})
    )
    assert viewer_admin_token.grants == {READ, ACCOUNT}
    dev_write = Principal("token:d/t", team_role="developer", server_role=None, scopes=frozenset({"write"}))
    assert dev_write.grants == {READ, DEPLOY, WRITE}
    assert SCOPES["admin"] == set(PERMISSIONS)


def test_unknown_roles_and_scopes_are_bugs() -> None:
    with pytest.raises(ValueError, match="unknown role 'superuser'"):
        Principal("x", team_role="superuser")
    with pytest.raises(ValueError, match="unknown role 'developer'"):
        grants_for(None, "developer", None)  # not a server role
    with pytest.raises(ValueError, match="unknown token scope 'root'"):
        Principal("x", scopes=frozenset({"root"}))


def test_every_team_permission_belongs_to_some_role_and_the_vocabulary_is_documented() -> None:
    assert set().union(*TEAM_ROLES.values()) == set(PERMISSIONS) - {SERVER, ACCOUNT}
    assert all(description for description in PERMISSIONS.values())


def test_principal_stays_frozen_slotted_and_full_by_default() -> None:
    full = Principal.full("admin")
    assert (full.user_id, full.team_id, full.team_ids, full.app_ids, full.project_ids) == (None,) * 5
    assert not full.needs_two_factor and not hasattr(full, "__dict__")
    with pytest.raises(AttributeError):
        full.team_role = None  # type: ignore[misc]


def test_a_missing_second_factor_is_named_only_for_team_permissions() -> None:
    from rivetr_core.authz.enforce import RoutePermissions
    from rivetr_core.errors import ApiError

    class _App:
        view_functions: dict[str, object] = {}
        extensions: dict[str, object] = {}

    blocked = Principal("user:u", team_role=None, server_role=None, team_id="t1", needs_two_factor=True)
    check = RoutePermissions(_App())
    with pytest.raises(ApiError) as refused:
        check.authorize("apps_api.list_apps", blocked)
    assert (refused.value.status, refused.value.code) == (403, "two_factor_required")
    assert "profile" in refused.value.message and refused.value.details["team_id"] == "t1"
    check.authorize("tokens_api.list_tokens", blocked)  # account routes still work
    with pytest.raises(ApiError) as denied:
        check.authorize("routes_api.list_routes", blocked)  # server: not the team's to withhold
    assert denied.value.code == "permission_denied"
