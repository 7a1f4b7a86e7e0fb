"""Readable names for the audit log's actions and actors.

An entry's action is the endpoint that answered (``apps_api.update_app``) or a login step (``auth.login``): exact
and stable for filters and the API, but not what a person reads. Known ones get a sentence; any other (a new
endpoint, a plugin's) falls back to its words ("rotate_credentials" → "Rotate credentials"), so nothing shows
blank or wrong when the API grows.
"""

from __future__ import annotations

ACTIONS = {
    "auth.login": "Signed in",
    "auth.login.challenge": "Password accepted, second factor asked",
    "auth.login.2fa": "Signed in with a two-factor code",
    "auth.login.passkey": "Signed in with a passkey",
    "auth.setup": "Set up the server",
    "auth.invite.accept": "Accepted an invitation",
    "auth.reset": "Reset their password by link",
    "auth_api.setup": "Set up the server",
    "auth_api.login": "Signed in",
    "auth_api.logout": "Signed out",
    "auth_api.change_password": "Changed their password",
    "auth_api.revoke_session": "Ended a session",
    "auth_api.revoke_other_sessions": "Ended their other sessions",
    "acting_team_api.set_acting_team": "Switched team",
    "apps_api.create_app": "Created an app",
    "apps_api.update_app": "Changed app settings",
    "apps_api.delete_app": "Deleted an app",
    "deployments_api.deploy": "Deployed an app",
    "deployments_api.cancel": "Cancelled a deployment",
    "deployments_api.rollback": "Rolled back a deployment",
    "deployments.repo_config": "Changed app settings from the repository's rivetr.toml",
    "env_vars_api.create_env_var": "Added an environment variable",
    "env_vars_api.update_env_var": "Changed an environment variable",
    "env_vars_api.delete_env_var": "Removed an environment variable",
    "projects_api.create_project": "Created a project",
    "projects_api.update_project": "Changed a project",
    "projects_api.delete_project": "Deleted a project",
    "services_api.create_service": "Created a service",
    "services_api.update_service": "Changed service settings",
    "services_api.delete_service": "Deleted a service",
    "stacks_api.create_stack": "Created a stack",
    "stacks_api.update_stack": "Changed a stack",
    "stacks_api.delete_stack": "Deleted a stack",
    "stacks_api.deploy_stack": "Deployed a stack",
    "teams_api.create_team": "Created a team",
    "teams_api.update_team": "Changed a team",
    "teams_api.delete_team": "Deleted a team",
    "teams_api.add_member": "Added a team member",
    "teams_api.set_member_role": "Changed a member's role",
    "teams_api.remove_member": "Removed a team member",
    "tokens_api.create_token": "Created an API token",
    "tokens_api.revoke_token": "Revoked an API token",
    "users_api.update_user": "Changed a user",
    "users_api.delete_user": "Deleted a user",
    "users_api.update_me": "Changed their profile",
    "users_api.delete_me": "Deleted their account",
    "invitations_api.create_invitation": "Created an invitation link",
    "invitations_api.revoke_invitation": "Revoked an invitation link",
    "two_factor_api.two_factor_confirm": "Turned on two-factor login",
    "two_factor_api.two_factor_disable": "Turned off two-factor login",
    "two_factor_api.reset_user_two_factor": "Reset a user's two-factor login",
    "webhooks_api.receive_webhook": "Received a git webhook",
    "system_api.run_cleanup": "Ran a cleanup",
    "cleanup_settings_api.put_cleanup_settings": "Changed cleanup settings",
    "cleanup_settings_api.reset_cleanup_settings": "Put every cleanup setting back to the config file",
    "cleanup_settings_api.reset_cleanup_setting": "Put a cleanup setting back to the config file",
}

#: Leading words read better as a past-tense sentence ("create_app" → "Created app").
_VERBS = {
    "create": "Created",
    "update": "Changed",
    "delete": "Deleted",
    "remove": "Removed",
    "add": "Added",
    "set": "Set",
    "start": "Started",
    "stop": "Stopped",
    "restart": "Restarted",
    "deploy": "Deployed",
    "revoke": "Revoked",
    "rename": "Renamed",
    "test": "Tested",
    "restore": "Restored",
    "rotate": "Rotated",
    "register": "Registered",
    "upload": "Uploaded",
    "renew": "Renewed",
    "approve": "Approved",
    "cancel": "Cancelled",
}


def action_label(action: str) -> str:
    """A sentence for ``action``: the known ones' wording, else its endpoint's words."""
    known = ACTIONS.get(action)
    if known:
        return known
    if ":" in action:  # no endpoint matched ("post:/api/..."): the method and path say it best
        return action
    words = action.rsplit(".", 1)[-1].replace("-", "_").split("_")
    words = [w for w in words if w]
    if not words:
        return action
    first = _VERBS.get(words[0], words[0].capitalize())
    return " ".join([first, *words[1:]])


def actor_label(actor: str) -> str:
    """``user:alice`` → ``alice``; ``token:alice/ci`` → ``token "ci" of alice``; anything else as is."""
    kind, _, rest = actor.partition(":")
    if kind == "user" and rest:
        return rest
    if kind == "token" and "/" in rest:
        owner, _, name = rest.partition("/")
        return f'token "{name}" of {owner}'
    return actor
