"""Resource history: a sampler that records container and host metrics into SQLite, with retention.

* :mod:`.sampler` — :class:`~.sampler.MetricsSampler` (``ctx.services["sampler"]``): every
  ``[metrics] sample_interval`` seconds, one ``runtime.stats_many`` call for all running app containers (the
  engines answer in parallel), host CPU/memory/disk/network from psutil, proxy per-route counters and certificate
  expiry; writes ``metric_samples`` rows and refreshes the values ``/metrics`` renders. Hourly, raw samples
  older than ``[metrics] raw_retention_days`` are folded into hourly averages, kept
  ``[metrics] hourly_retention_days``.
* :mod:`.query` — reading a time range back as evenly spaced points for graphs.
"""

from .sampler import MetricsSampler, start

__all__ = ["MetricsSampler", "start"]
