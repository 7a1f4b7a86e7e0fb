"""The scheduler in core: cron jobs of registered kinds (Rivetr's own backup today; volume backups, scheduled
deployments and tasks later), with time zones, jitter, next/last run and per-job ``catch_up``.

* :mod:`.cron` — cron expressions → next run times, in a child process (croniter never loads in the server).
* :mod:`.kinds` — the job kind registry: ``register_kind("name", run)``; a job row names its kind.
* :mod:`.service` — :class:`~.service.Scheduler` (``ctx.services.scheduler``): the loop, the atomic claim, the
  recovery of runs a ``kill -9`` interrupted.

This package's ``__init__`` imports nothing heavy: ``python -m rivetr_core.scheduler.cron`` starts through it.
"""
