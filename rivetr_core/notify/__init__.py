"""Notification channels: where lifecycle events go, and the asynchronous delivery that gets them there.

* :mod:`.events` — the event types a channel may subscribe to.
* :mod:`.service` — :class:`~.service.NotificationService` (``ctx.services["notifications"]``): channel CRUD
  with URLs sealed by ``ctx.secrets``, an event sink on ``rivetr_on_event``, a delivery worker with retries,
  backoff and per-channel failure records. Delivery never blocks or fails the code that emitted the event.
* :func:`start` — the ``CORE_SERVICES`` entry that builds and starts the service.
"""

from .service import NotificationService, start

__all__ = ["NotificationService", "start"]
