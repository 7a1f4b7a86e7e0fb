"""Housekeeping: old images, build cache, old build logs, and a disk monitor that warns, then prunes.

* :mod:`.images` — which of an app's images may go (pure logic, unit-tested): keep the images of the app's
  last ``[cleanup] keep_images`` deployments that built one, plus any image a running container, the current
  deployment or an in-flight deployment uses.
* :mod:`.service` — :class:`~.service.CleanupService` (``ctx.services["cleanup"]``): ``await run_once()``
  every ``[cleanup] interval_minutes``; ``await check_disk()`` every minute: above
  ``disk_warning_percent`` it emits a ``disk_warning`` event (at most hourly), above
  ``disk_critical_percent`` it also prunes at once.
"""

from .service import CleanupService, start

__all__ = ["CleanupService", "start"]
