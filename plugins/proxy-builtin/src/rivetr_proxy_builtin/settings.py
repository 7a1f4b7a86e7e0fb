"""Proxy settings as the data plane sees them: a plain dataclass, JSON in and out.

The worker and master processes must stay free of the control plane's libraries (pydantic, quart, …), so they
never see :class:`rivetr_core.config.ProxyConfig`; the backend copies core's ``[proxy]`` keys and its own
``[plugins.proxy-builtin]`` ones into this class and passes it to the proxy process as JSON on its command line.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class ProxySettings:
    host: str = "0.0.0.0"
    port: int = 80
    https_port: int | None = 443  # None: no HTTPS listener
    workers: int = 1
    max_header_size: int = 16384
    max_body_size: int = 1024**3  # 0 = unlimited
    header_timeout: float = 10.0
    upstream_connect_timeout: float = 5.0
    upstream_read_timeout: float = 60.0
    idle_timeout: float = 60.0
    drain_timeout: float = 30.0
    health_interval: float = 5.0
    health_timeout: float = 2.0
    health_threshold: int = 3
    health_path: str = "/"
    #: Load balancers in front of the proxy (addresses or CIDRs) whose X-Forwarded-For/-Proto/-Host are kept.
    trusted_proxies: list[str] = field(default_factory=list)
    #: Offer HTTP/2 by ALPN on the TLS listener (see :mod:`.h2conn`); off: HTTP/1.1 only.
    http2: bool = True
    #: Open streams an HTTP/2 client may have at once (SETTINGS_MAX_CONCURRENT_STREAMS).
    http2_max_concurrent_streams: int = 100
    #: Access log (see :mod:`.accesslog`): one line per request to access-<worker>.log in access_log_dir
    #: (default: the state dir), json|common|combined, rotated past access_log_max_bytes keeping
    #: access_log_keep old files, a share access_log_sample of the successful requests (errors always), query
    #: strings only with access_log_query.
    access_log: bool = False
    #: Response compression (``[proxy] compression*``, see :mod:`.compress`); an empty type list means the
    #: built-in one (``compress.DEFAULT_TYPES``).
    compression: bool = True
    compression_level: int = 5
    compression_min_size: int = 1024
    compression_types: list[str] = field(default_factory=list)
    access_log_format: str = "json"
    access_log_dir: str = ""
    access_log_max_bytes: int = 100 * 1024 * 1024
    access_log_keep: int = 5
    access_log_sample: float = 1.0
    access_log_query: bool = False
    #: Passive health (see :mod:`.outlier`): this many consecutive failures (refused/reset connections, timeouts,
    #: 502/503/504 answers) eject an upstream from a worker's rotation; 0 turns ejection off.
    outlier_consecutive_failures: int = 5
    #: Seconds of the first ejection; an upstream ejected again soon after returning gets twice the last time…
    outlier_base_ejection: float = 10.0
    #: …up to this many seconds.
    outlier_max_ejection: float = 300.0
    #: Retry a request once on another upstream of its route when that is safe (see :mod:`.outlier`).
    retry_once: bool = True

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> ProxySettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_json(cls, text: str) -> ProxySettings:
        return cls.from_mapping(json.loads(text))

    @classmethod
    def from_config(cls, config: Any, own: Any = None) -> ProxySettings:
        """Build from a ``rivetr_core.config.RivetrConfig`` and the plugin's ``[plugins.proxy-builtin]``
        settings (duck-typed: this module imports nothing); ``own`` defaults to that section of ``config``."""
        if own is None:
            from .plugin import BuiltinProxyConfig

            own = BuiltinProxyConfig.model_validate(config.plugin_section("proxy-builtin"))
        from .accesslog import access_log_settings

        p, s = config.proxy, config.server
        return cls(
            # [proxy] host, else the deprecated [server] host that used to bind both the API and the proxy.
            host=getattr(p, "host", None) or s.host or "0.0.0.0",
            port=s.proxy_port,
            https_port=s.proxy_https_port,
            workers=own.workers,
            max_header_size=own.max_header_size,
            max_body_size=own.max_body_size,
            header_timeout=own.header_timeout,
            upstream_connect_timeout=own.upstream_connect_timeout,
            upstream_read_timeout=own.upstream_read_timeout,
            idle_timeout=own.idle_timeout,
            drain_timeout=p.drain_timeout,
            health_interval=own.health_interval,
            health_timeout=own.health_timeout,
            health_threshold=own.health_threshold,
            health_path=own.health_path,
            trusted_proxies=list(p.trusted_proxies),
            http2=own.http2,
            http2_max_concurrent_streams=own.http2_max_concurrent_streams,
            **access_log_settings(p, own),
            compression=p.compression,
            compression_level=p.compression_level,
            compression_min_size=p.compression_min_size,
            compression_types=list(p.compression_types),
            outlier_consecutive_failures=own.outlier_consecutive_failures,
            outlier_base_ejection=own.outlier_base_ejection,
            outlier_max_ejection=own.outlier_max_ejection,
            retry_once=own.retry_once,
        )
