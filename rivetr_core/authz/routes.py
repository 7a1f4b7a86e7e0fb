"""Core's route table: the permission each core ``/api/*`` route and WebSocket needs, keyed by Quart endpoint.

One line per endpoint so a review sees every route's rights at once: core routes declare here and only here
(:func:`rivetr_core.contract.requires` is for plugins; tests/test_authz_routes.py refuses it on a core route). A
core endpoint declared nowhere is refused (403 ``permission_undeclared``) and the same test names it. Rules of
thumb used below:

* a GET is ``read``; changing a resource is ``write``; operating it without changing it is ``deploy``;
* resources that belong to no team today and affect every team (proxy routes, certificates, notification
  channels, backup destinations, registries, the host's known SSH keys, the whole-state backup, cleanup) are
  ``server`` to change; they move to ``write`` when they gain a team;
* secret values: the route is ``read`` and the handler masks unless the principal holds ``secrets.reveal``.
"""

from __future__ import annotations

from .permissions import ACCOUNT, AUDIT, DEPLOY, MEMBERS, PUBLIC, READ, SERVER, TEAM_DELETE, WRITE

CORE_ROUTES: dict[str, str] = {
    # apps
    "apps_api.list_apps": READ,
    "apps_api.get_app": READ,
    "apps_api.create_app": WRITE,
    "apps_api.update_app": WRITE,
    "apps_api.delete_app": WRITE,
    "app_lifecycle_api.stop_app": DEPLOY,
    "app_lifecycle_api.start_app": DEPLOY,
    "app_lifecycle_api.restart_app": DEPLOY,
    "app_scale_api.scale_app": DEPLOY,
    "app_scale_api.list_replicas": READ,
    "app_pages_api.get_app_pages": READ,
    "app_pages_api.set_app_maintenance": WRITE,
    "app_pages_api.put_app_error_page": WRITE,
    "app_pages_api.delete_app_error_page": WRITE,
    "build_plan_api.build_plan": READ,
    "git_check_api.check_repository": WRITE,  # asks a remote host: for those who may make apps
    "env_vars_api.list_env_vars": READ,
    "env_vars_api.get_env_var": READ,
    "env_vars_api.create_env_var": WRITE,
    "env_vars_api.update_env_var": WRITE,
    "env_vars_api.delete_env_var": WRITE,
    "env_vars_api.bulk_env_vars": WRITE,
    "env_vars_api.preview_bulk_env_vars": WRITE,  # answers keys only, never values
    "links_api.list_links": READ,
    "links_api.create_link": WRITE,
    "links_api.delete_link": WRITE,
    "volumes_api.list_volumes": READ,
    "volumes_api.get_volume": READ,
    "volumes_api.create_volume": WRITE,
    "volumes_api.update_volume": WRITE,
    "volumes_api.delete_volume": WRITE,
    "system_api.app_logs": READ,
    "system_api.app_metrics": READ,
    "deployments_api.stream_app_logs": READ,  # WebSocket
    "webhooks_api.get_git_settings": READ,
    "webhooks_api.put_git_settings": WRITE,
    "webhooks_api.get_app_webhook": READ,
    "webhooks_api.reveal_webhook_secret": READ,  # the handler asks for secrets.reveal
    "webhooks_api.regenerate_webhook_secret": WRITE,
    "webhooks_api.list_webhook_events": READ,
    "previews_api.list_previews": READ,
    "previews_api.approve_preview": DEPLOY,
    "previews_api.delete_preview": WRITE,
    # deployments
    "deployments_api.deploy": DEPLOY,
    "deployments_api.list_deployments": READ,
    "deployments_api.get_deployment": READ,
    "deployments_api.get_logs": READ,
    "deployments_api.cancel": DEPLOY,
    "deployments_api.rollback": DEPLOY,
    "deployments_api.stream_build_log": READ,  # WebSocket
    # projects
    "projects_api.list_projects": READ,
    "projects_api.get_project": READ,
    "projects_api.create_project": WRITE,
    "projects_api.update_project": WRITE,
    "projects_api.delete_project": WRITE,
    "projects_iac_api.rivetr_toml_schema": READ,
    "projects_iac_api.project_toml_schema": READ,
    "projects_iac_api.export_project": READ,  # secrets as names only
    "projects_iac_api.apply_project": WRITE,  # through the services: each change checked as the API does
    "stacks_api.project_network": READ,
    # teams (docs/teams.md: members for team owners and admins, deleting a team for its owners, creating one for
    # the server's owners and admins)
    "teams_api.list_teams": READ,
    "teams_api.get_team": READ,
    "teams_api.create_team": SERVER,
    "teams_api.update_team": MEMBERS,
    "teams_api.delete_team": TEAM_DELETE,
    "teams_api.list_members": READ,
    "teams_api.get_member": READ,
    "teams_api.add_member": MEMBERS,
    "teams_api.set_member_role": MEMBERS,
    "teams_api.remove_member": MEMBERS,
    # services (databases)
    "services_api.list_services": READ,
    "tags_api.list_tags": READ,  # counts only what the request's team filter lets it see
    "services_api.get_service": READ,
    "services_api.create_service": WRITE,
    "services_api.update_service": WRITE,
    "services_api.delete_service": WRITE,
    "services_api.rotate_credentials": WRITE,
    "services_api.restart_service": DEPLOY,
    "services_api.start_service": DEPLOY,
    "services_api.stop_service": DEPLOY,
    "services_api.service_logs": READ,
    "services_api.service_metrics": READ,
    "services_api.stream_service_logs": READ,  # WebSocket
    "templates_api.list_templates": READ,
    "templates_api.get_template": READ,
    # stacks
    "stacks_api.list_stacks": READ,
    "stacks_api.get_stack": READ,
    "stacks_api.create_stack": WRITE,
    "stacks_api.update_stack": WRITE,
    "stacks_api.delete_stack": WRITE,
    "stacks_api.deploy_stack": DEPLOY,
    "stacks_api.rollback_stack": DEPLOY,
    "stacks_api.list_stack_deployments": READ,
    "stacks_api.stack_metrics": READ,
    "stacks_api.stack_service_logs": READ,
    "stacks_api.stream_stack_service_logs": READ,  # WebSocket
    "stacks_api.validate_stack": READ,  # checks a compose file, changes nothing
    # schedules
    "tasks_api.list_tasks": READ,
    "tasks_api.get_task": READ,
    "tasks_api.create_task": DEPLOY,
    "tasks_api.update_task": DEPLOY,
    "tasks_api.delete_task": DEPLOY,
    "tasks_api.run_task": DEPLOY,
    "tasks_api.list_task_runs": READ,
    "tasks_api.get_task_run": READ,
    "tasks_api.list_scheduled_deployments": READ,
    "tasks_api.get_scheduled_deployment": READ,
    "tasks_api.create_scheduled_deployment": DEPLOY,
    "tasks_api.delete_scheduled_deployment": DEPLOY,
    "schedules_api.list_schedules": READ,
    "schedules_api.list_runs": READ,
    "schedules_api.run_now": DEPLOY,
    # backups
    "backups_api.backup_app": DEPLOY,
    "backups_api.list_app_backups": READ,
    "backups_api.list_backups": READ,
    "backups_api.get_backup": READ,
    "backups_api.delete_backup": WRITE,
    "backups_api.restore_backup": WRITE,
    "backups_api.list_restores": READ,
    "backups_api.get_restore": READ,
    "backups_api.backup_state": SERVER,  # the control plane's own database: every team's data
    "backups_api.list_destinations": READ,
    "backups_api.get_destination": READ,
    "backups_api.create_destination": SERVER,
    "backups_api.delete_destination": SERVER,
    "backups_api.test_destination": SERVER,
    "backups_api.list_schedules": READ,
    "backups_api.get_schedule": READ,
    "backups_api.create_schedule": WRITE,
    "backups_api.update_schedule": WRITE,
    "backups_api.delete_schedule": WRITE,
    "service_backups_api.backup_service": DEPLOY,
    "service_backups_api.list_service_backups": READ,
    "service_backups_api.restore_service": WRITE,
    "service_backup_import_api.import_service_backup": WRITE,  # records an archive; the restore is separate
    "service_backup_import_api.import_app_backup": WRITE,
    "service_backup_import_api.import_stack_backup": WRITE,
    "stack_backups_api.list_stack_volumes": READ,
    "stack_backups_api.get_stack_volume": READ,
    "stack_backups_api.backup_stack": DEPLOY,
    "stack_backups_api.backup_stack_volume": DEPLOY,
    "stack_backups_api.list_stack_backups": READ,
    "stack_backups_api.restore_stack": WRITE,
    # git
    "git_providers_api.available_providers": READ,
    "git_providers_api.list_accounts": READ,
    "git_providers_api.get_account": READ,
    "git_providers_api.list_repos": READ,
    "git_providers_api.list_branches": READ,
    "git_providers_api.authorize": WRITE,
    "git_providers_api.delete_account": WRITE,
    "git_providers_api.get_provider_settings": READ,  # the client secret is never returned
    "git_providers_api.put_provider_settings": SERVER,
    "git_providers_api.delete_provider_settings": SERVER,
    "ssh_keys_api.list_keys": READ,
    "ssh_keys_api.create_key": WRITE,
    "ssh_keys_api.delete_key": WRITE,
    "ssh_known_hosts_api.list_known_hosts": READ,
    "ssh_known_hosts_api.delete_known_host": SERVER,  # the host's trust store, shared by every app
    "registries_api.list_registries": READ,
    "registries_api.get_registry": READ,
    "registries_api.create_registry": SERVER,
    "registries_api.delete_registry": SERVER,
    # server-wide
    "plugins_api.list_plugins": READ,  # the new-app form lists the installed builders
    "routes_api.list_routes": SERVER,
    "proxy_access_log_api.get_access_log": SERVER,  # every app's requests, client addresses included
    "routes_api.create_route": SERVER,
    "routes_api.delete_route": SERVER,
    "routes_api.get_route_settings": SERVER,
    "routes_api.put_route_settings": SERVER,
    "certificates_api.list_certificates": READ,
    "certificates_api.get_certificate": READ,
    "certificates_api.upload_certificate": SERVER,
    "certificates_api.delete_certificate": SERVER,
    "certificates_api.renew_certificate": SERVER,
    "notifications_api.list_channels": READ,
    "notifications_api.get_channel": READ,
    "notifications_api.list_deliveries": READ,
    "notifications_api.create_channel": SERVER,
    "notifications_api.update_channel": SERVER,
    "notifications_api.delete_channel": SERVER,
    "notifications_api.test_channel": SERVER,
    "notification_routes_api.list_routes": READ,
    "notification_routes_api.put_route": WRITE,  # a project's events to a channel an admin made
    "notification_routes_api.delete_route": WRITE,
    "system_api.system_metrics": READ,
    "system_api.last_cleanup": READ,
    "system_api.system_status": READ,
    "system_api.disk_usage": READ,  # per app of the caller's team (the visibility filter)
    "system_api.run_cleanup": SERVER,
    "proxy_api.get_proxy": READ,
    "proxy_api.restart": SERVER,  # the proxy is the server's: every team's traffic
    "cleanup_settings_api.get_cleanup_settings": READ,
    "control_planes_api.list_control_planes": SERVER,  # hosts and pids of the install's processes
    "nodes_api.list_nodes": SERVER,  # the cluster's hosts and addresses
    "nodes_api.get_node": SERVER,
    "nodes_api.update_node": SERVER,  # a drain moves every team's containers
    "cleanup_settings_api.put_cleanup_settings": SERVER,
    "cleanup_settings_api.reset_cleanup_settings": SERVER,
    "cleanup_settings_api.reset_cleanup_setting": SERVER,
    "audit_api.list_audit": AUDIT,
    # accounts
    "auth_api.login": PUBLIC,
    "auth_api.setup": PUBLIC,
    "auth_api.status": PUBLIC,
    "auth_api.logout": ACCOUNT,
    "auth_api.change_password": ACCOUNT,
    "auth_api.list_sessions": ACCOUNT,
    "auth_api.revoke_session": ACCOUNT,
    "auth_api.revoke_other_sessions": ACCOUNT,
    # two-factor login (rivetr_core/api/two_factor.py): one's own 2FA; the login's second step is public like login;
    # resetting someone else's is for the server's owners and admins
    "two_factor_api.two_factor_status": ACCOUNT,
    "two_factor_api.two_factor_setup": ACCOUNT,
    "two_factor_api.two_factor_confirm": ACCOUNT,
    "two_factor_api.two_factor_recovery_codes": ACCOUNT,
    "two_factor_api.two_factor_disable": ACCOUNT,
    "two_factor_api.login_second_step": PUBLIC,
    "two_factor_api.reset_user_two_factor": SERVER,
    # passkeys (rivetr_core/api/passkeys.py): one's own keys; a login's passkey options are public like login
    "passkeys_api.list_passkeys": ACCOUNT,
    "passkeys_api.passkey_registration_options": ACCOUNT,
    "passkeys_api.register_passkey": ACCOUNT,
    "passkeys_api.rename_passkey": ACCOUNT,
    "passkeys_api.remove_passkey": ACCOUNT,
    "passkeys_api.passkey_login_options": PUBLIC,
    "tokens_api.list_tokens": ACCOUNT,
    "tokens_api.create_token": ACCOUNT,
    "tokens_api.revoke_token": ACCOUNT,
    "acting_team_api.get_acting_team": ACCOUNT,
    "acting_team_api.set_acting_team": ACCOUNT,
    # users and one-time links (docs/users.md): team admins look users up and invite; changing users is the
    # server's; the links' own routes are public (the token in the path is the credential)
    "users_api.list_users": MEMBERS,
    "users_api.get_user": MEMBERS,
    "users_api.update_user": SERVER,
    "users_api.delete_user": SERVER,
    "users_api.create_password_reset": SERVER,
    "users_api.revoke_user_sessions": SERVER,
    "users_api.get_me": ACCOUNT,
    "users_api.update_me": ACCOUNT,
    "users_api.delete_me": ACCOUNT,
    "invitations_api.create_invitation": MEMBERS,
    "invitations_api.list_invitations": MEMBERS,
    "invitations_api.revoke_invitation": MEMBERS,
    "invitations_api.get_invitation": PUBLIC,
    "invitations_api.accept_invitation": PUBLIC,
    "invitations_api.reset_password": PUBLIC,
}
