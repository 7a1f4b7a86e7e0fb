"""Prometheus metrics for ``GET /metrics`` (one ``CollectorRegistry`` per app, no module globals).

* :mod:`.registry` — :class:`~.registry.RivetrMetrics`: every metric family, the request timer, the
  deployment-status sink and a collector that renders the sampler's cached values.
* :func:`start` — ``CORE_SERVICES`` entry: registers the sink on the app's plugin manager.

The scrape path never calls the container engine, the proxy or the ACME code: container, proxy and
certificate figures come from what the periodic sampler (:mod:`rivetr_core.history`) cached last.
"""

from .registry import RivetrMetrics, start

__all__ = ["RivetrMetrics", "start"]
