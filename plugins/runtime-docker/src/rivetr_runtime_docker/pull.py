"""Pulling images from a registry (``pull`` of :class:`rivetr_core.contract.ServiceRuntime`): the engine's JSON
progress stream turned into a few human lines, and its failures into :class:`ImageNotFound` naming the image.

Both engines answer the same ``POST /images/create`` with per-layer events (dockerd: a ``Downloading`` event
per received block with ``progressDetail``; podman 4.3: ``Pulling fs layer`` / ``Download complete`` only). A
layer's line is passed on when its status changes, and while it downloads or extracts at most once per
:attr:`PullMixin.PULL_PROGRESS_INTERVAL` (:mod:`.pullprogress`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from . import _requests_import  # noqa: F401  # first: requests without charset_normalizer

# isort: split
from docker import auth as docker_auth

from rivetr_core.contract import ImageNotFound

from .engine import EngineClient, EngineError, shutdown_response
from .streams import StreamHandle


class PullMixin(EngineClient):
    """``pull`` of the services part of the runtime contract."""

    #: Extension point: seconds between two progress lines of one downloading (or extracting) layer.
    PULL_PROGRESS_INTERVAL = 1.0

    def pull_error(self, image: str, message: str) -> Exception:
        """The Rivetr error for an engine's pull failure ``message``: :class:`ImageNotFound` when the image
        cannot be obtained from its registry, else :class:`EngineError` (a disk full, a daemon fault).

        Extension point: an engine whose pull errors use other words recognises them here."""
        from .pullprogress import NOT_FOUND

        reason = " ".join(message.split())[:400]
        details = {"image": image, "engine_message": message}
        if NOT_FOUND.search(message):
            return ImageNotFound(f"image {image} could not be pulled: {reason}", details=details)
        return EngineError(f"{self.name}: pulling {image} failed: {reason}", details=details)

    def _pull_events(
        self, image: str, handle: StreamHandle, auth: dict[str, str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Blocking (in the stream's thread): the engine's pull events; an error event raises."""
        from .pullprogress import split_reference

        api = self._api()
        repository, tag = split_reference(image)
        # Credentials travel as the API's X-Registry-Auth header (base64url JSON), as ``docker pull`` sends
        # them after a login; both dockerd and podman's compat API read it. They are never logged.
        headers = {"X-Registry-Auth": docker_auth.encode_header(auth)} if auth else {}
        response = api._post(
            api._url("/images/create"),
            params={"fromImage": repository, "tag": tag},
            headers=headers,
            stream=True,
            # Podman reports nothing while it extracts a layer: allow long silences.
            timeout=max(self.timeout, 300),
        )
        handle.on_cancel(lambda: shutdown_response(response))
        try:
            api._raise_for_status(response)
            for event in api._stream_helper(response, decode=True):
                if event.get("error") or event.get("errorDetail"):
                    detail = event.get("errorDetail") or {}
                    raise self.pull_error(image, str(event.get("error") or detail.get("message") or event))
                yield event
        finally:
            response.close()

    async def pull(self, image: str, *, auth: dict[str, str] | None = None) -> AsyncIterator[str]:
        """Pull ``image`` (fully qualified, e.g. ``docker.io/library/postgres:16``), yielding progress lines
        (``<layer>: Downloading 12.1 MB / 31.4 MB``, throttled) and a last ``pulled <image>`` line. Raises
        :class:`ImageNotFound` naming the image when the registry does not have it or cannot be reached (or
        refuses the pull: ``unauthorized`` in the message).

        ``auth``: registry credentials for this pull only (docker SDK ``auth_config`` shape: ``username``,
        ``password``, ``serveraddress``); None pulls anonymously (or with the engine's own login)."""
        from .pullprogress import ProgressLines

        reference = self.normalize_image(image)
        progress = ProgressLines(self.PULL_PROGRESS_INTERVAL)
        produce = functools.partial(self._pull_events, reference, auth=auth)
        try:
            async for event in self._stream(produce, image=reference):
                if (line := progress.line(event, time.monotonic())) is not None:
                    yield line
        except EngineError as exc:
            # An error before the stream (dockerd answers a missing image with a 404 or 500 at once).
            translated = self.pull_error(image, exc.message)
            if isinstance(translated, ImageNotFound):
                raise translated from exc
            raise
        except ImageNotFound as exc:
            if image in exc.message:
                raise
            raise self.pull_error(image, exc.message) from exc
        if not await self.image_exists(reference):
            raise ImageNotFound(
                f"image {image} could not be pulled: the engine finished without it", details={"image": image}
            )
        yield f"pulled {image}"

    async def image_digest(self, image: str) -> str | None:
        """The registry digest (``sha256:…``) the engine recorded for ``image`` when it pulled it (its
        ``RepoDigests`` entry for the image's repository), or None for an image that was never pulled (a local
        build)."""
        reference = self.normalize_image(image)
        info = await self._call(lambda: self._api().inspect_image(reference), image=image)
        repository = reference.split("@", 1)[0]
        last = repository.rsplit("/", 1)[-1]
        if ":" in last:
            repository = repository[: -(len(last) - last.index(":"))]
        digests = [d for d in info.get("RepoDigests") or [] if "@" in d]
        for entry in digests:
            if entry.split("@", 1)[0] == repository:
                return str(entry.split("@", 1)[1])
        return str(digests[0].split("@", 1)[1]) if digests else None
