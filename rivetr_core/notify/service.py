"""Channels, the event sink and the delivery worker.

Flow: ``ctx.emit(event)`` → pluggy ``rivetr_on_event`` → :class:`_EventSink` puts the event on an in-memory
queue (synchronous, O(1), never raises) → the dispatcher task matches it against the cached enabled channels
and writes one ``pending`` delivery row per channel → one task per delivery calls the channel's notifier,
retrying with backoff. The emitting code (a deployment) never waits for any of it, and a channel that keeps
failing only records ``last_error`` / ``failures`` on itself.

The sink is a per-app object registered on the app's own plugin manager at start-up rather than a module-level
hook: a module cannot know which app (which database, which channels) an event belongs to when several apps
live in one process (the tests do exactly that).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from rivetr_core import hookimpl
from rivetr_core.contract import Notifier, RivetrEvent
from rivetr_core.contract.errors import Conflict, NotFound, ValidationFailed
from rivetr_core.db.engine import utcnow
from rivetr_core.models.ops import NotificationChannel, NotificationDelivery

from .events import TEST_EVENT
from .responses import channel_json, delivery_json, mask_url
from .routes import ProjectOf, wanted

if TYPE_CHECKING:
    from quart import Quart

    from rivetr_core.context import RivetrContext
    from rivetr_core.pagination import PageQuery

log = logging.getLogger("rivetr.notify")

#: Seconds to wait before the 2nd, 3rd and 4th attempt of a delivery.
DEFAULT_RETRY_DELAYS: tuple[float, ...] = (2.0, 10.0, 60.0)
SEND_TIMEOUT = 30.0


def _name_taken(name: str) -> Conflict:
    # details is {"field"} (not a list of fields) as this API has always answered it.
    return Conflict(f"a notification channel named {name!r} exists", details={"field": "name"})


def _scrub(message: str, url: str) -> str:
    """Never let a notifier's error text leak the secret URL into the DB or the API."""
    if url and url in message:
        message = message.replace(url, mask_url(url))
    return message[:1000]


class _EventSink:
    def __init__(self, service: NotificationService) -> None:
        self.service = service

    @hookimpl
    def rivetr_on_event(self, event: RivetrEvent) -> None:
        self.service.enqueue(event)


class NotificationService:
    """``ctx.services["notifications"]``. Public for other areas: :meth:`enqueue` (or just ``ctx.emit``)."""

    def __init__(
        self,
        ctx: RivetrContext,
        *,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        concurrency: int = 8,
        max_pending: int = 1000,
    ) -> None:
        self.ctx = ctx
        self.retry_delays = tuple(retry_delays)
        self.max_pending = max_pending
        self._semaphore = asyncio.Semaphore(concurrency)
        self._queue: asyncio.Queue[RivetrEvent] = asyncio.Queue(max_pending)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._channels: list[NotificationChannel] | None = None
        self._notifiers: dict[str, Notifier] = {}
        self._inflight: set[asyncio.Task[Any]] = set()
        self._project_of = ProjectOf(ctx)

    # ------------------------------------------------------------------------------------------- lifecycle
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.ctx.plugins.pm.register(_EventSink(self), name="core-notifications-sink")
        self.ctx.spawn(self._dispatch_forever(), "notifications-dispatcher")

    async def fail_interrupted(self) -> int:
        """Deliveries still ``pending`` from a previous run were cut off by a stop: close them as failed."""
        from sqlalchemy import update

        async with self.ctx.db.session() as session:
            result = await session.exec(  # type: ignore[call-overload]
                update(NotificationDelivery)
                .where(col(NotificationDelivery.status) == "pending")
                .values(
                    status="failed",
                    error="interrupted: the server stopped before delivery",
                    finished_at=utcnow(),
                )
            )
            await session.commit()
        return int(result.rowcount or 0)

    def enqueue(self, event: RivetrEvent) -> None:
        """Queue ``event`` for every subscribed channel. Safe from any thread; never blocks or raises."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._put(event)
        else:
            loop.call_soon_threadsafe(self._put, event)

    def _put(self, event: RivetrEvent) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            log.warning("notification queue full (%d events); dropping %s", self.max_pending, event.type)

    async def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until every queued event has been delivered or given up on (tests, shutdown)."""
        async with asyncio.timeout(timeout):
            await self._queue.join()
            while self._inflight:
                await asyncio.wait(list(self._inflight))

    # ------------------------------------------------------------------------------------------- delivery
    async def _dispatch_forever(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                channels = await self._enabled_channels()
                # Project routes (notify/routes.py) need the event's project: asked only when some channel has
                # routes, so a server without them pays nothing per event.
                project_id = await self._project_of(event) if any(c.routes for c in channels) else None
                for channel in channels:
                    if not wanted(channel, event, project_id):
                        continue
                    delivery = await self._new_delivery(channel.id, event.type)
                    task = self.ctx.spawn(
                        self._deliver(channel.id, delivery.id, event), f"notify-{channel.name}"
                    )
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)
            except Exception:
                log.exception("dispatching %s event failed", event.type)
            finally:
                self._queue.task_done()

    async def _enabled_channels(self) -> list[NotificationChannel]:
        if self._channels is None:
            async with self.ctx.db.session() as session:
                rows = await session.exec(select(NotificationChannel).where(col(NotificationChannel.enabled)))
                self._channels = list(rows.all())
        return self._channels

    async def _new_delivery(self, channel_id: str, event_type: str) -> NotificationDelivery:
        row = NotificationDelivery(channel_id=channel_id, event_type=event_type)
        async with self.ctx.db.session() as session:
            session.add(row)
            await session.commit()
        return row

    def _notifier(self, name: str) -> Notifier:
        if name not in self._notifiers:
            registration = self.ctx.plugins.select(self.ctx.plugins.notifiers(), name, "notifier")
            self._notifiers[name] = registration.factory(self.ctx.plugin_context())
        return self._notifiers[name]

    async def _attempt(self, channel: NotificationChannel, event: RivetrEvent) -> str | None:
        """One send; the error text (scrubbed of the URL) or None on success."""
        url = ""
        try:
            url = self.ctx.secrets.decrypt(channel.url_encrypted)
            notifier = self._notifier(channel.notifier)
            async with self._semaphore:
                await asyncio.wait_for(notifier.send(url, event), SEND_TIMEOUT)
            return None
        except TimeoutError:
            return f"timed out after {SEND_TIMEOUT:g}s"
        except Exception as exc:
            return _scrub(str(exc) or type(exc).__name__, url)

    async def _deliver(self, channel_id: str, delivery_id: str, event: RivetrEvent) -> None:
        error: str | None = None
        attempts = 0
        for delay in (0.0, *self.retry_delays):
            if delay:
                await asyncio.sleep(delay)
            channel = await self._get_row(channel_id)
            if channel is None or not channel.enabled:  # deleted or disabled meanwhile: stop quietly
                error = "channel deleted or disabled"
                break
            attempts += 1
            error = await self._attempt(channel, event)
            if error is None:
                break
            log.info("notification to channel %s failed (attempt %d): %s", channel.name, attempts, error)
            await self._note_attempt(delivery_id, attempts, error)
        await self._record(channel_id, delivery_id, attempts, error)

    async def _note_attempt(self, delivery_id: str, attempts: int, error: str) -> None:
        """Make a retrying delivery visible (still ``pending``, with the attempts so far and the last error)."""
        async with self.ctx.db.session() as session:
            delivery = await session.get(NotificationDelivery, delivery_id)
            if delivery is not None:
                delivery.attempts, delivery.error = attempts, error
                session.add(delivery)
                await session.commit()

    async def _record(self, channel_id: str, delivery_id: str, attempts: int, error: str | None) -> None:
        now = utcnow()
        async with self.ctx.db.session() as session:
            delivery = await session.get(NotificationDelivery, delivery_id)
            if delivery is not None:
                delivery.status, delivery.attempts = ("delivered" if error is None else "failed"), attempts
                delivery.error, delivery.finished_at = error, now
                session.add(delivery)
            channel = await session.get(NotificationChannel, channel_id)
            if channel is not None and attempts:
                if error is None:
                    channel.failures, channel.last_success_at = 0, now
                else:
                    channel.failures += 1
                    channel.total_failures += 1
                    channel.last_error, channel.last_failure_at = error, now
                    log.warning(
                        "notification channel %s failed after %d attempts: %s", channel.name, attempts, error
                    )
                session.add(channel)
            await session.commit()
        self._channels = None
        metrics = self.ctx.services.get("metrics")
        if metrics is not None and attempts:
            metrics.notifications.labels(result="delivered" if error is None else "failed").inc()

    # ------------------------------------------------------------------------------------------- channels
    def forget_channels(self) -> None:
        """Drop the cached enabled channels (and events' projects): read again at the next event."""
        self._channels = None
        self._project_of.cache.clear()

    async def _get_row(self, channel_id: str) -> NotificationChannel | None:
        async with self.ctx.db.session() as session:
            return await session.get(NotificationChannel, channel_id)

    async def get(self, channel_id: str) -> NotificationChannel:
        row = await self._get_row(channel_id)
        if row is None:
            raise NotFound.of("notification channel", channel_id)
        return row

    async def page(self, page: PageQuery) -> tuple[list[NotificationChannel], str | None]:
        """One page of channels in creation order and the next page's cursor."""
        from rivetr_core.pagination import keyset_page

        async with self.ctx.db.session() as session:
            return await keyset_page(session, select(NotificationChannel), NotificationChannel, page)

    async def list_channels(self) -> list[NotificationChannel]:
        async with self.ctx.db.session() as session:
            rows = await session.exec(select(NotificationChannel).order_by(NotificationChannel.name))
            return list(rows.all())

    def _check_url(self, notifier_name: str, url: str) -> None:
        try:
            notifier = self._notifier(notifier_name)
        except Exception as exc:
            raise ValidationFailed.on("notifier", str(exc)) from None
        validate = getattr(
            notifier, "validate", None
        )  # optional: lets a bad URL fail now, not at first event
        problem = validate(url) if callable(validate) else None
        if problem:
            raise ValidationFailed.on("url", problem)

    async def _name_taken(self, name: str, except_id: str | None = None) -> bool:
        async with self.ctx.db.session() as session:
            row = (
                await session.exec(select(NotificationChannel).where(NotificationChannel.name == name))
            ).first()
        return row is not None and row.id != except_id

    async def create(
        self,
        *,
        name: str,
        url: str,
        events: list[str],
        notifier: str = "apprise",
        enabled: bool = True,
        routed_only: bool = False,
    ) -> NotificationChannel:
        self._check_url(notifier, url)
        if await self._name_taken(name):
            raise _name_taken(name)
        row = NotificationChannel(
            name=name,
            notifier=notifier,
            url_encrypted=self.ctx.secrets.encrypt(url),
            events=events,
            enabled=enabled,
            routed_only=routed_only,
        )
        async with self.ctx.db.session() as session:
            session.add(row)
            await session.commit()
        self._channels = None
        return row

    async def update(self, channel_id: str, changes: dict[str, Any]) -> NotificationChannel:
        row = await self.get(channel_id)
        notifier = changes.get("notifier") or row.notifier
        if "url" in changes or "notifier" in changes:
            url = changes.get("url") or self.ctx.secrets.decrypt(row.url_encrypted)
            self._check_url(notifier, url)
            row.url_encrypted, row.notifier = self.ctx.secrets.encrypt(url), notifier
        if "name" in changes and changes["name"] != row.name:
            if await self._name_taken(changes["name"], row.id):
                raise _name_taken(changes["name"])
            row.name = changes["name"]
        if "events" in changes:
            row.events = changes["events"]
        if "enabled" in changes:
            row.enabled = changes["enabled"]
        if "routed_only" in changes:
            row.routed_only = changes["routed_only"]
        row.updated_at = utcnow()
        async with self.ctx.db.session() as session:
            session.add(row)
            await session.commit()
        self._channels = None
        return row

    async def delete(self, channel_id: str) -> None:
        row = await self.get(channel_id)
        async with self.ctx.db.session() as session:
            await session.delete(await session.merge(row))
            await session.commit()
        self._channels = None

    async def test(self, channel_id: str) -> str | None:
        """Send a test event once (no retry, even to a disabled channel); the error or None. Recorded."""
        channel = await self.get(channel_id)
        event = RivetrEvent(
            type=TEST_EVENT, message=f"Test notification for channel {channel.name!r}", level="info"
        )
        delivery = await self._new_delivery(channel.id, TEST_EVENT)
        error = await self._attempt(channel, event)
        await self._record(channel.id, delivery.id, 1, error)
        return error

    async def deliveries(
        self, channel_id: str, page: PageQuery
    ) -> tuple[list[NotificationDelivery], str | None]:
        """One page of the channel's deliveries, newest first, and the next page's cursor. ``NotFound`` for an
        unknown channel."""
        from rivetr_core.pagination import keyset_page

        await self.get(channel_id)
        async with self.ctx.db.session() as session:
            return await keyset_page(
                session,
                select(NotificationDelivery).where(NotificationDelivery.channel_id == channel_id),
                NotificationDelivery,
                page,
                newest_first=True,
            )


__all__ = ["NotificationService", "channel_json", "delivery_json", "mask_url", "start"]


async def start(app: Quart, ctx: RivetrContext) -> None:
    """CORE_SERVICES entry: ``ctx.services["notifications"]``, sink registered, dispatcher running."""
    service = NotificationService(ctx)
    ctx.services["notifications"] = service
    await service.fail_interrupted()
    service.start()
