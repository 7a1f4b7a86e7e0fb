"""Connected git accounts (OAuth 2 with PKCE) and the repository browser, generic over git providers.

* :mod:`.accounts` — :class:`~.accounts.GitAccountService` (``ctx.services["git_accounts"]``): the OAuth
  connect flow (state + PKCE S256, single-use states that expire), encrypted tokens refreshed when they expire,
  repositories/branches of an account, PR comments, and clone credentials for apps linked to an account.
* :mod:`.hostapi` — helpers provider plugins use to talk to their host's REST API.

Core reaches providers only through the plugin manager; a provider offers OAuth when its object implements
:class:`~rivetr_core.contract.GitHostApi` and ``[oauth.<name>]`` is configured.
"""
