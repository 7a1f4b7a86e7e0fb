"""Choosing an app's images to remove. Pure: the service feeds it what the DB and the engine say."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

#: Deployment statuses whose image may still be needed right now (in flight).
ACTIVE = frozenset({"queued", "cloning", "building", "starting", "health_checking", "switching"})


@dataclass(frozen=True)
class DeployedImage:
    deployment_id: str
    image: str
    status: str
    created_at: datetime


def images_to_remove(
    app_images: Iterable[str],
    deployments: Iterable[DeployedImage],
    *,
    keep: int,
    current_image: str | None = None,
    in_use: Iterable[str] = (),
    in_flight: Iterable[str] = (),
) -> list[str]:
    """The images of ``app_images`` that may be deleted, oldest deployments' first.

    Kept: the images of the ``keep`` most recent deployments that produced an image (a rollback reuses an
    image, so distinct images count, newest first), the current deployment's, every image in ``in_use``
    (running containers) and those of in-flight deployments. Images the engine has for the app but no
    deployment references (an interrupted build) go too, unless in use. ``in_flight``: ids of in-flight
    deployments; an image tagged with one (``<app>:<deployment id>``) is kept even though no deployment names it
    yet: a deployment records its image only once the build has tagged it, and a cleanup between the two would
    take the image from under the deployment's start.
    """
    protected = set(in_use)
    flying = set(in_flight)
    protected.update(image for image in app_images if image.rpartition(":")[2] in flying)
    if current_image:
        protected.add(current_image)
    ordered = sorted(deployments, key=lambda d: d.created_at, reverse=True)
    protected.update(d.image for d in ordered if d.status in ACTIVE)
    kept: list[str] = []
    for dep in ordered:
        if len(kept) >= keep:
            break
        if dep.image not in kept:
            kept.append(dep.image)
    protected.update(kept)
    age: dict[str, int] = {}  # image → index of its newest deployment (lower = newer)
    for index, dep in enumerate(ordered):
        age.setdefault(dep.image, index)
    doomed = [image for image in dict.fromkeys(app_images) if image not in protected]
    # Unreferenced images (interrupted builds) count as the oldest.
    return sorted(doomed, key=lambda image: -age.get(image, len(ordered)))
