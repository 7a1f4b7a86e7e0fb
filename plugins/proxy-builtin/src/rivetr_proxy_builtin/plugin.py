"""Registers the built-in proxy backend (placeholder: being built in issue 4)."""

from rivetr_core import hookimpl
from rivetr_core.types import PluginContext, ProxyBackendRegistration


def _not_built(ctx: PluginContext):  # type: ignore[no-untyped-def]
    raise NotImplementedError("the built-in proxy is not built yet (issue 4)")


@hookimpl
def rivetr_proxy_backends() -> list[ProxyBackendRegistration]:
    return [ProxyBackendRegistration(name="builtin", factory=_not_built)]
