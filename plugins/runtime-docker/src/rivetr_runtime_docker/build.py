"""Image builds: the context tar (``.dockerignore``, a Dockerfile read confined to the context), the Dockerfile
label rewrite, ``POST /build`` and the parsing of its JSON stream into log lines and :class:`BuildFailed`."""

from __future__ import annotations

import asyncio
import functools
import json
import re
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from . import _requests_import  # noqa: F401  # first: requests without charset_normalizer

# isort: split
import docker
import docker.errors
from docker import auth as docker_auth
from docker.api.build import process_dockerfile
from docker.utils.json_stream import json_stream

from rivetr_core.contract import BuildFailed, BuildSpec, ImageNotFound, RuntimeUnavailable

from .dockerfile import base_images, build_auth_configs, is_local_only, read_context_file, read_dockerfile
from .engine import EngineClient, shutdown_response
from .streams import StreamHandle

_ESCAPE_DIRECTIVE = re.compile(r"^\s*#\s*escape\s*=", re.I | re.M)
_FROM_LINE = re.compile(r"^\s*FROM\s", re.I)


def append_labels(dockerfile: str, labels: Mapping[str, str]) -> str:
    """``dockerfile`` with a ``LABEL "k"="v" …`` line after every ``FROM`` and one at the end.

    The one at the end gives the final image Rivetr's labels whatever the Dockerfile sets. The ones after each
    ``FROM`` label every image the legacy builder leaves behind (a multi-stage build's earlier stages, the last
    step of a failed build): cleanup prunes dangling images by label only. They cost a step each, cached after
    the first build of the app."""

    def quote(text: str) -> str:
        # Dockerfile double-quoted words: backslash escapes, and `$` would be expanded as a variable.
        escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("\n", " ")
        return f'"{escaped}"'

    label = "LABEL " + " ".join(f"{quote(key)}={quote(value)}" for key, value in labels.items())
    out: list[str] = []
    continued = in_from = False  # inside a backslash-continued instruction / a (continued) FROM
    for line in dockerfile.rstrip().splitlines():
        out.append(line)
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and continued):
            continue  # comments (and blank lines) inside an instruction do not end it
        if not continued:
            in_from = bool(_FROM_LINE.match(line))
        continued = stripped.endswith("\\")
        if in_from and not continued:
            out.append(label)
            in_from = False
    return "\n".join(out) + f"\n{label}\n"


class BuildMixin(EngineClient):
    """The ``build`` part of the runtime Protocol."""

    #: Extension point: the engine's "step" line of a build log (dockerd writes ``Step 2/5 : RUN make``,
    #: podman ``STEP 2/5: RUN make``); groups: step, total, instruction.
    STEP_RE = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
    #: Extension point: put build labels into the Dockerfile as LABEL lines instead of the API's ``labels``
    #: parameter. dockerd's legacy builder runs one intermediate container per label of that parameter and
    #: leaves the stages of a build unlabelled; an engine that applies it at commit to every stage (buildah)
    #: turns this off.
    LABELS_IN_DOCKERFILE = True
    #: Build-log lines kept for :class:`BuildFailed`.
    LOG_TAIL_LINES = 40

    def build_step(self, line: str) -> tuple[int, int, str] | None:
        """``(step, total, instruction)`` when ``line`` starts a build step, else None (progress display)."""
        match = self.STEP_RE.match(line)
        return (int(match.group(1)), int(match.group(2)), match.group(3)) if match else None

    def build_exit_code(self, error: Mapping[str, Any]) -> int | None:
        """The exit code of the failed RUN step in the engine's error chunk (``BuildFailed.exit_code``).

        Extension point: engines word their errors differently (podman's carry no ``errorDetail.code``
        but say ``exit status N``); an override may call ``super()`` first."""
        code = (error.get("errorDetail") or {}).get("code")
        if isinstance(code, int):
            return code
        match = re.search(r"returned a non-zero code: (\d+)", str(error.get("error", "")))
        return int(match.group(1)) if match else None

    def build_network_options(self, network: str) -> dict[str, str]:
        """Query parameters of ``POST /build`` that put a build's RUN steps on ``network`` (dockerd:
        ``networkmode``).

        Extension point: an engine that selects the build network another way overrides it (podman 4.3
        ignores ``networkmode``; a fork preview's build must not reach the host's network)."""
        return {"networkmode": network}

    async def _check_base_images(self, spec: BuildSpec) -> list[str]:
        """The images the Dockerfile reads from; :class:`ImageNotFound` for a missing ``localhost/`` one."""
        # Read the safe way: a Dockerfile linked to /dev/zero, a FIFO or a host file fails the build here.
        text, _inside = await asyncio.to_thread(read_dockerfile, spec.context_dir, spec.dockerfile)
        images = base_images(text, spec.build_args)
        local = [image for image in images if is_local_only(image)]
        present = await asyncio.gather(*(self.image_exists(image) for image in local))
        missing = [image for image, ok in zip(local, present, strict=True) if not ok]
        if missing:
            raise ImageNotFound(
                f"base image {', '.join(missing)} is not present in {self.name} and cannot be pulled "
                "(localhost/ images exist only where they were built or imported)",
                details={"images": missing},
            )
        return images

    def _build_stream(
        self,
        spec: BuildSpec,
        tag: str,
        handle: StreamHandle,
        auth_configs: Mapping[str, Mapping[str, str]] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Blocking: POST /build with the tarred context and yield the decoded JSON chunks."""
        api = self._api()
        context_dir = str(spec.context_dir)
        exclude: list[str] = []
        # Files of the (untrusted) repository are read confined to the context, regular files only, capped:
        # a .dockerignore linked to /dev/zero or a FIFO would otherwise read forever or block this thread.
        ignore = read_context_file(context_dir, ".dockerignore", missing_ok=True)
        if ignore is not None:
            exclude = [ln.strip() for ln in ignore.splitlines() if ln.strip() and not ln.startswith("#")]
        exclude += spec.exclude  # last: a "!" line of the repository's file cannot bring them back
        text, inside = read_dockerfile(context_dir, spec.dockerfile)
        # The SDK's process_dockerfile would open a Dockerfile outside the context itself: pass the text read.
        dockerfile = (
            process_dockerfile(spec.dockerfile, context_dir)
            if inside
            else (f".dockerfile.{uuid.uuid4().hex[:12]}", text)
        )
        labels_param = dict(spec.labels)
        # A target stage is not the last one, where the LABEL line goes: labels then travel as build parameters.
        if spec.labels and self.LABELS_IN_DOCKERFILE and not spec.target:
            if not _ESCAPE_DIRECTIVE.search(text):
                # dockerd's legacy builder runs one intermediate container per label of the `labels`
                # parameter (~0.2-0.5 s each); a single LABEL line appended to the last stage costs one.
                # The rewritten Dockerfile travels inside the context (the SDK also hides it from COPY).
                dockerfile = (
                    f".rivetr.Dockerfile.{uuid.uuid4().hex[:12]}",
                    append_labels(text, spec.labels),
                )
                labels_param = {}
        context = docker.utils.tar(context_dir, exclude=exclude, dockerfile=dockerfile)
        params: dict[str, Any] = {
            "t": tag,
            "dockerfile": dockerfile[0],
            "rm": True,
            "forcerm": True,
            "nocache": spec.no_cache,
            "pull": False,
        }
        if spec.build_args:
            params["buildargs"] = json.dumps(spec.build_args)
        if spec.target:
            params["target"] = spec.target
        if labels_param:
            params["labels"] = json.dumps(labels_param)
        if spec.memory_limit:
            params["memory"] = spec.memory_limit
            params["memswap"] = -1
        if spec.cpu_limit:
            # The SDK only passes cpushares (a weight); the API's quota/period makes it a real cap.
            params["cpuperiod"] = 100_000
            params["cpuquota"] = int(spec.cpu_limit * 100_000)
        if spec.network:
            params.update(self.build_network_options(spec.network))
        headers = {"Content-Type": "application/tar"}
        if auth_configs:
            # Registry credentials for pulling private base images, as `docker build` sends its logins: the
            # X-Registry-Config header (base64url JSON, registry -> auth config), read by dockerd and by
            # podman's compat API alike. Never logged.
            headers["X-Registry-Config"] = docker_auth.encode_header(dict(auth_configs))
        try:
            # timeout=None: a quiet build step (a long compile) must not hit the client's read timeout.
            response = api._post(
                api._url("/build"),
                data=context,
                params=params,
                headers=headers,
                stream=True,
                timeout=None,
            )
        finally:
            context.close()
        handle.on_cancel(lambda: shutdown_response(response))
        try:
            api._raise_for_status(response)
        except docker.errors.APIError as exc:
            if exc.status_code != 400:
                raise
            # A Dockerfile the engine cannot parse is refused before any log: report it as a build error.
            yield {"error": str(exc.explanation or exc)}
            return
        yield from json_stream(api._stream_helper(response, decode=False))

    async def build(self, spec: BuildSpec) -> AsyncIterator[str]:
        """Build ``spec`` and yield log lines as the engine sends them (see the Protocol)."""
        tag = self.normalize_image(spec.tag)
        images = await self._check_base_images(spec)
        auth_configs, servers = build_auth_configs(images, getattr(spec, "registry_auth", None) or {})
        for server in servers:
            user = spec.registry_auth[server].get("username", "")
            yield f"using the registry credentials for {server} (user {user}) to pull the build's base images"
        tail: deque[str] = deque(maxlen=self.LOG_TAIL_LINES)
        error: dict[str, Any] | None = None
        built_id: str | None = None
        step: str | None = None
        pending = ""

        def lines_of(text: str) -> list[str]:
            nonlocal pending
            pending += text
            *complete, pending = pending.split("\n")
            return [line.rstrip("\r") for line in complete]

        produce = functools.partial(self._build_stream, spec, tag, auth_configs=auth_configs)
        async for chunk in self._stream(produce, image=tag):
            if "error" in chunk or "errorDetail" in chunk:
                error = chunk
                continue
            aux = chunk.get("aux")
            if isinstance(aux, dict) and aux.get("ID"):
                built_id = aux["ID"]
            text = chunk.get("stream")
            if not text:
                continue
            for line in lines_of(text):
                tail.append(line)
                if self.build_step(line):
                    step = line
                yield line
        if pending.strip():
            tail.append(pending)
            yield pending
        if error is not None:
            message = str(
                error.get("error") or (error.get("errorDetail") or {}).get("message") or "build failed"
            )
            tail.append(message)
            where = f" at {step}" if step else ""
            raise BuildFailed(
                f"build of {tag} failed{where}: {message.strip()}",
                log_tail=list(tail),
                exit_code=self.build_exit_code(error),
            )
        if built_id is None and not await self.image_exists(tag):
            if not await self._answers():
                raise RuntimeUnavailable(f"{self.name} engine at {self.base_url} went away during the build")
            raise BuildFailed(f"build of {tag} ended without producing an image", log_tail=list(tail))
