"""Images: remove, list by label (with their sizes: ``image_usage``), and prune what Rivetr built
(``image_exists`` lives in :mod:`.engine`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from rivetr_core.contract import ImageNotFound, ImageUsage, PruneResult

from .engine import EngineClient, EngineError, has_labels, label_filters


class ImagesMixin(EngineClient):
    """The image part of the runtime Protocol."""

    #: Extension point: whether the engine's image prune requires every ``label`` filter to match. dockerd's
    #: does; podman 4.3's matches any one of them, so with several labels the images are removed one by one.
    PRUNE_ANDS_LABELS = True

    async def remove_image(self, image: str, force: bool = False) -> None:
        """Remove an image; a missing image is not an error (the goal, no such image, holds)."""
        with contextlib.suppress(ImageNotFound):
            await self._call(
                lambda: self._api().remove_image(self.normalize_image(image), force=force), image=image
            )

    async def _labelled_images(self, labels: Mapping[str, str] | None) -> list[dict[str, Any]]:
        """The engine's image list entries carrying every one of ``labels``."""
        filters = self.engine_label_filters(labels)
        for attempt in range(5):
            try:
                images = await self._call(lambda: self._api().images(filters=filters))
                break
            except EngineError as exc:
                # podman fails the whole list when an image is removed while it lists (another build or
                # prune at the same moment); the list is valid a moment later.
                if "image not known" not in exc.message or attempt == 4:
                    raise
                await asyncio.sleep(0.1)
        return [image for image in images if has_labels(image.get("Labels"), labels)]

    async def list_images(self, labels: Mapping[str, str] | None = None) -> list[str]:
        """Tags of the images carrying ``labels`` (untagged images are listed by id)."""
        out: list[str] = []
        for image in await self._labelled_images(labels):
            tags = [t for t in image.get("RepoTags") or [] if t and t != "<none>:<none>"]
            out.extend(tags or [image["Id"]])
        return out

    async def image_usage(self, labels: Mapping[str, str]) -> list[ImageUsage]:
        """The images carrying every one of ``labels`` with their sizes (the optional ``DiskUsageRuntime``):
        the same one listing call as :meth:`list_images`, whose answer already holds ``Size``."""
        if not labels:
            # Every image of the engine is other programs' business (and a slow answer on a busy one).
            raise ValueError("image_usage needs labels: Rivetr reports only the images it made")
        out: list[ImageUsage] = []
        for image in await self._labelled_images(labels):
            created = image.get("Created")
            out.append(
                ImageUsage(
                    id=str(image["Id"]),
                    tags=[t for t in image.get("RepoTags") or [] if t and t != "<none>:<none>"],
                    size=max(int(image.get("Size") or 0), 0),
                    labels=dict(image.get("Labels") or {}),
                    created=datetime.fromtimestamp(created, UTC) if isinstance(created, int) else None,
                )
            )
        return out

    async def prune(self, labels: Mapping[str, str], *, build_cache: bool = False) -> PruneResult:
        """Delete the dangling images carrying every one of ``labels`` (their untagged parent layers go with
        them); ``build_cache``: also the engine's whole build cache (every program's: it has no labels)."""
        if not labels:
            # An unfiltered prune deletes other programs' dangling images, even a running build's.
            raise ValueError("prune needs labels: Rivetr only prunes the images it made")
        if self.PRUNE_ANDS_LABELS or len(labels) == 1:
            filters = {"dangling": True, **(label_filters(labels) or {})}
            result = await self._call(lambda: self._api().prune_images(filters=filters))
            deleted = sum(1 for entry in result.get("ImagesDeleted") or [] if entry.get("Deleted"))
            space = int(result.get("SpaceReclaimed") or 0)
        else:
            deleted, space = await self._prune_one_by_one(labels)
        if build_cache:
            try:
                builds = await self._call(lambda: self._api().prune_builds())
                space += int(builds.get("SpaceReclaimed") or 0)
            except EngineError as exc:  # engines without a build cache endpoint
                self.log.debug("%s: build cache prune unsupported: %s", self.name, exc)
        return PruneResult(images_deleted=deleted, space_reclaimed=space)

    async def _prune_one_by_one(self, labels: Mapping[str, str]) -> tuple[int, int]:
        """Remove the matching dangling images one at a time (for engines whose prune ORs label filters)."""
        filters = {"dangling": True, **(self.engine_label_filters(labels) or {})}
        images = await self._call(lambda: self._api().images(filters=filters))
        deleted = space = 0
        for image in images:
            if not has_labels(image.get("Labels"), labels):
                continue
            try:
                await self.remove_image(image["Id"])
            except EngineError as exc:  # in use (a container of it), or gone meanwhile
                self.log.debug("%s: kept dangling image %s: %s", self.name, image["Id"], exc)
                continue
            deleted += 1
            space += int(image.get("Size") or 0)
        return deleted, space
