"""Rivetr core: a small Quart control plane that plugins extend.

Map for plugin authors
----------------------
* docs/plugins.md — the plugin author's guide.
* :mod:`rivetr_core.hookspecs` — every hook you can implement (one docstring each).
* :mod:`rivetr_core.contract` — the plugin contract, all a plugin imports from core: the registration objects
  hooks return, the Protocols (``ContainerRuntime``, ``Builder``, ``GitProvider``, ``HealthCheck``,
  ``Notifier``, ``ProxyBackend``) your objects implement, the value, event and error types they exchange,
  and helpers (webhook signing, git-host API, safe repository files, units).
* :mod:`rivetr_core.plugins` — the plugin manager (discovery through the ``rivetr`` entry-point group).
* ``hookimpl`` (exported here) — decorate your hook implementations with it.

A plugin is a distribution with an entry point in the ``rivetr`` group, e.g.::

    [project.entry-points.rivetr]
    runtime-docker = "rivetr_runtime_docker.plugin"

and ``plugin.py`` holds only ``@hookimpl`` functions returning registrations.
"""

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("rivetr")

__all__ = ["__version__", "hookimpl"]
