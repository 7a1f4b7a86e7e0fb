"""Routes follow a container that the engine moved.

A runtime can move a running container without Rivetr asking: a swarm reschedules a task when its node is
drained or goes down, or replaces it on ``docker service update --force``. The container (for swarm: the
service) keeps its id and is running, but its :attr:`~rivetr_core.contract.ContainerInfo.upstream` is now
another host port, or another node's address. The crash watcher (engine/recovery.py) sees this in the listing
it makes every round anyway (comparing each running replica's upstream with the one recorded) and calls
:func:`follow`, which records the new upstreams and points the app's routes at them. Containers that stopped are
the crash watcher's restart path, not this one; a deployment being switched is left to its switch.

A container the engine took off its node and placed nowhere (status ``evicted``: a swarm task on a node drained
outside Rivetr, or one that went down, with restart condition ``none``) is not a crash either: the crash watcher
calls :func:`start_evicted`, which starts it again (elsewhere) and follows it.

A drain through Rivetr (``PUT /api/nodes/{id}`` with ``drain``) does not wait for a watcher round: a cluster
runtime that moves the node's tasks itself (the swarm's ``drain_node``) starts each one elsewhere, then calls
:func:`follow_all` so the routes go to the new tasks before the node's old ones stop.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

from sqlmodel import col, select

from rivetr_core.contract import ContainerNotFound
from rivetr_core.models.apps import App, Deployment

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext

    from .service import DeploymentService

log = logging.getLogger("rivetr.engine.moved")

#: How the event's message says it.
WHY = {
    "drain": "moved off a node drained through Rivetr",
    "evicted": "left its node (drained or down) and was started elsewhere",
    "moved": "moved by the engine",
}
#: Why a container runs elsewhere now, in the ``container_moved`` event: a drain through Rivetr (``follow_all``),
#: an evicted container Rivetr started again (``start_evicted``), or a move the engine made on its own.
MoveReason = Literal["drain", "evicted", "moved"]


async def _serving(svc: DeploymentService, deployment_id: str, app_id: str) -> tuple[App, Deployment] | None:
    """The app and its deployment while that deployment is the one serving the running app, else None."""
    async with svc.db.session() as session:
        app = await session.get(App, app_id)
    dep = await svc.get_deployment(deployment_id)
    if (
        app is None
        or app.status != "running"
        or app.current_deployment_id != dep.id
        or dep.status != "running"
    ):
        return None
    return app, dep


async def follow(
    svc: DeploymentService, deployment_id: str, app_id: str, reason: MoveReason = "moved"
) -> list[str]:
    """Under the app's switch lock, look at every replica of the app's running deployment again, record the
    upstream of each one that runs somewhere else now, and route the app's domains to the new set; then one
    ``container_moved`` event per replica moved (old and new upstream, ``reason``). Returns the new upstreams
    recorded (empty when nothing moved, or the deployment no longer serves)."""
    from .replicas import extra_rows, record, route_to, upstreams_of

    async with svc.switch_lock(app_id):
        serving = await _serving(svc, deployment_id, app_id)
        if serving is None:
            return []
        app, dep = serving
        runtime = await svc.ctx.runtime()
        moved: list[str] = []
        moves: list[tuple[int, str | None, str]] = []  # (replica index, old upstream, new upstream)

        async def now(container_id: str | None, recorded: str | None) -> str | None:
            """The container's upstream when it runs and that changed, else None."""
            if not container_id:
                return None
            try:
                info = await runtime.inspect(container_id)
            except ContainerNotFound:
                return None  # gone: the crash watcher's restart
            upstream = info.upstream
            return upstream if info.running and upstream and upstream != recorded else None

        if upstream := await now(dep.container_id, dep.upstream):
            moves.append((0, dep.upstream, upstream))
            dep = await svc.update_deployment(dep.id, upstream=upstream)
            moved.append(upstream)
        for row in await extra_rows(svc.db, dep.id):
            if upstream := await now(row["container_id"], row["upstream"]):
                await record(
                    svc.db,
                    dep.id,
                    row["index"],
                    row["container_id"],
                    row["container_name"] or "",
                    upstream,
                    restart_count=row["restart_count"],
                )
                moves.append((row["index"], row["upstream"], upstream))
                moved.append(upstream)
        if moved:
            await route_to(svc, app, await upstreams_of(svc.db, dep))
            log.warning("app %s: the engine moved its container(s); routes now go to %s", app.name, moved)
        for replica, old, new in moves:
            svc.emit(
                "container_moved",
                dep,
                app.name,
                f"{app.name}: container {WHY[reason]}; now at {new} (was {old})",
                data={"reason": reason, "replica": replica, "from": old, "to": new},
            )
        return moved


async def follow_all(ctx: RivetrContext) -> list[str]:
    """:func:`follow` for every running app (its current deployment), and the stacks' twin of it for every routed
    stack: the routes of each app or stack service whose containers run elsewhere now go there. Returns the new
    upstreams recorded (the apps')."""
    from rivetr_core.stacks.watch import check_once as follow_stacks

    try:
        await follow_stacks(ctx)
    except Exception:  # a stack's routes follow at the stack watcher's next round anyway
        log.warning("following the stacks' moved services failed", exc_info=True)
    svc: DeploymentService | None = ctx.services.get("deployments")
    if svc is None:
        return []
    async with svc.db.session() as session:
        rows = (
            await session.exec(
                select(App.id, App.current_deployment_id).where(
                    App.status == "running", col(App.current_deployment_id).is_not(None)
                )
            )
        ).all()
    moved: list[str] = []
    for app_id, deployment_id in rows:
        moved += await follow(svc, str(deployment_id), app_id, "drain")
    return moved


async def start_evicted(
    svc: DeploymentService, deployment_id: str, app_id: str, container_id: str
) -> list[str]:
    """The crash watcher's move of a container whose engine took it off its node and placed it nowhere (runtime
    status ``evicted``: a swarm task on a node drained outside Rivetr, or one that went down): under the app's
    switch lock, while the deployment still serves, ``start`` it again (swarm: a new task on another node), then
    :func:`follow` it. Not a crash: no ``container_crashed`` event, the restart budget is left alone. A start that
    fails (no other node takes it) is logged; the next round tries again. Returns the new upstreams."""
    async with svc.switch_lock(app_id):
        serving = await _serving(svc, deployment_id, app_id)
        if serving is None:
            return []
        app, _dep = serving
        runtime = await svc.ctx.runtime()
        try:
            await runtime.start(container_id)
        except Exception as exc:
            log.warning(
                "app %s: its container left its node and could not start elsewhere yet: %s", app.name, exc
            )
            return []
    moved = await follow(svc, deployment_id, app_id, "evicted")
    log.warning(
        "app %s: its container left its node (drained or down); started elsewhere: %s", app.name, moved
    )
    return moved
