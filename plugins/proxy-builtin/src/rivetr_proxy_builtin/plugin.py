"""Registers the built-in proxy backend (``[proxy] backend = "builtin"``) and its ``[plugins.proxy-builtin]``
settings: the knobs only this data plane has (workers, limits, timeouts, upstream health probes). The
backend-agnostic ones (host, ports, ACME, trusted proxies, drain time) stay in core's ``[proxy]``."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rivetr_core import hookimpl
from rivetr_core.contract import (
    ConfigModelRegistration,
    PluginContext,
    ProxyBackend,
    ProxyBackendRegistration,
)


class BuiltinProxyConfig(BaseModel):
    """``[plugins.proxy-builtin]`` (each key replaces the deprecated ``[proxy]`` key of the same name)."""

    model_config = ConfigDict(extra="forbid")

    workers: int = Field(1, ge=1, le=64, description="Proxy worker processes.")
    max_header_size: int = Field(16384, ge=1024, description="Request head limit in bytes (431 above).")
    max_body_size: int = Field(
        1024**3, ge=0, description="Request body limit in bytes, 0 = unlimited (413 above). Accepts 100m."
    )
    header_timeout: float = Field(10.0, gt=0, description="Seconds to receive a request head (408 after).")
    upstream_connect_timeout: float = Field(5.0, gt=0, description="Seconds to connect to an upstream (502).")
    upstream_read_timeout: float = Field(60.0, gt=0, description="Seconds to wait for upstream (504 after).")
    idle_timeout: float = Field(60.0, gt=0, description="Keep-alive idle timeout, both sides.")
    health_interval: float = Field(5.0, gt=0, description="Seconds between upstream health probes.")
    health_timeout: float = Field(2.0, gt=0, description="Probe timeout.")
    health_threshold: int = Field(3, ge=1, description="Consecutive failures (or successes) to flip state.")
    health_path: str = Field("/", description="Path probed on upstreams.")
    http2: bool = Field(True, description="Offer HTTP/2 (ALPN h2) on the HTTPS listener.")
    http2_max_concurrent_streams: int = Field(
        100, ge=1, le=10000, description="Streams an HTTP/2 client may have open at once."
    )
    access_log: bool = Field(
        False,
        description="Deprecated: true turns on [proxy] access_log (the access log files; see its settings).",
    )
    outlier_consecutive_failures: int = Field(
        5,
        ge=0,
        description="Consecutive upstream failures that eject it from rotation (passive health); 0 = off.",
    )
    outlier_base_ejection: float = Field(10.0, gt=0, description="Seconds of an upstream's first ejection.")
    outlier_max_ejection: float = Field(
        300.0, gt=0, description="Cap on an ejection doubled by repeat failures."
    )
    retry_once: bool = Field(True, description="Retry a request once on another upstream when that is safe.")
    keep_running: bool = Field(
        True, description="Leave the proxy process serving while the control plane stops or restarts."
    )

    @field_validator("max_body_size", mode="before")
    @classmethod
    def _body_size(cls, v: Any) -> Any:
        from rivetr_core.contract.units import parse_size

        return 0 if v in (0, "0") else parse_size(v)


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


@hookimpl
def rivetr_config_models() -> list[ConfigModelRegistration]:
    return [ConfigModelRegistration(name="proxy-builtin", model=BuiltinProxyConfig)]
