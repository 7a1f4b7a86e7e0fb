"""The deployment pipeline: git source → image → container → health check → proxy switch → drain → cleanup.

Modules (each small, one concern):

* :mod:`.gitsource` — shallow clone with GitPython off the event loop (branch/commit, SSH key, token).
* :mod:`.logs` — build logs: batched DB writes plus an in-memory pub/sub (replay then follow).
* :mod:`.pipeline` — the steps of one deployment and their timings.
* :mod:`.queue` — per-app single flight, supersede, global cap, cancellation.
* :mod:`.recovery` — start-up recovery and the crash watcher (restart with exponential backoff).
* :mod:`.service` — :class:`~.service.DeploymentService`, the Python API the REST API, webhooks, dashboard
  and CLI call (``ctx.services["deployments"]``); its docstring documents that API.
"""
