"""Registers the built-in proxy backend (``[proxy] backend = "builtin"``)."""

from rivetr_core import hookimpl
from rivetr_core.types import PluginContext, ProxyBackend, ProxyBackendRegistration


def _factory(ctx: PluginContext) -> ProxyBackend:
    # Imported lazily: registering the plugin must stay cheap for processes that never use the proxy.
    from .backend import BuiltinProxy

    return BuiltinProxy.from_context(ctx)


@hookimpl
def rivetr_proxy_backends() -> list[ProxyBackendRegistration]:
    return [
        ProxyBackendRegistration(
            name="builtin",
            factory=_factory,
            description="Rivetr's own reverse proxy (asyncio + httptools + uvloop, separate process).",
        )
    ]
