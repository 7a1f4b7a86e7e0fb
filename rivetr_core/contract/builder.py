"""Builders (``rivetr_builders``): turn a source tree into an image. Apps select one by name (``builder``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from .errors import BuildFailed
from .plugin import PluginContext
from .runtime import ContainerRuntime


@dataclass
class BuildRequest:
    """What the pipeline asks a builder for: turn ``source_dir`` into image ``tag``."""

    source_dir: Path
    tag: str
    dockerfile: str = "Dockerfile"
    build_context: str = "."
    build_args: dict[str, str] = field(default_factory=dict)
    #: Names among ``build_args`` whose values are secret: a builder keeps them out of the image (layers,
    #: history, config) where it can (the autodetect builder declares them only in a build stage the final
    #: image does not inherit) and never prints them. The pipeline masks their values in the build log too.
    secret_build_args: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    cpu_limit: float | None = None
    memory_limit: int | None = None
    network: str | None = None  # engine network of the build (see BuildSpec.network)
    #: Build the image without the engine's layer cache (a "rebuild without cache").
    no_cache: bool = False
    #: The app's overrides for builders that write the build themselves (zero-config builders): keys
    #: ``install_command``, ``build_command``, ``start_command``, ``base_image`` (None: the builder's choice),
    #: and ``port`` (the app's container port, as text). A builder ignores keys it has no use for.
    settings: dict[str, str | None] = field(default_factory=dict)
    #: Stored registry credentials (server -> auth config) for private base images: a builder copies them into
    #: its :attr:`BuildSpec.registry_auth` (the runtime sends only those the Dockerfile's images need) and
    #: never logs them. Empty for untrusted builds (a fork's pull request).
    registry_auth: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)

    def resolve_context(self, source_dir: Path | None = None) -> Path:
        """The build context directory, links resolved, inside ``source_dir`` (default :attr:`source_dir`);
        :class:`BuildFailed` when ``build_context`` leaves it (``../..``, a link out of the repository)."""
        source = (source_dir or self.source_dir).resolve()
        context = (source / self.build_context).resolve()
        if not context.is_relative_to(source):
            raise BuildFailed(f"build context {self.build_context!r} leaves the repository")
        return context


@runtime_checkable
class Builder(Protocol):
    name: str

    def detect(self, source_dir: Path, request: BuildRequest) -> bool:
        """Cheap, synchronous: can this builder build this source tree?"""
        ...

    def build(self, request: BuildRequest, runtime: ContainerRuntime) -> AsyncIterator[str]:
        """Yield log lines; raise :class:`BuildFailed` on failure."""
        ...

    # Optional: ``plan(source_dir, request) -> dict`` (what the builder would do, without building: detected
    # facts and, for zero-config builders, the Dockerfile it writes); ``GET /api/apps/{id}/build-plan`` and
    # ``rivetr build plan PATH`` show it. Not part of this Protocol so a builder written before it still is one.


@dataclass(frozen=True)
class BuilderRegistration:
    """A builder apps can select: ``"builder": "<name>"``, or ``"auto"`` to ask every ``detect()`` in order."""

    #: What an app's ``builder`` names (``dockerfile``); not ``auto``, which means detection.
    name: str
    #: Builds the builder from this plugin's context; called on first use, once per server.
    factory: Callable[[PluginContext], Builder]
    #: One human line saying what it does, for people choosing among what is installed.
    description: str = ""
    #: Order of ``detect()`` for apps whose builder is ``auto``: lower is asked first.
    priority: int = 100
    #: Optional: why the builder cannot run on this host now (its CLI is not on PATH...), or None when it can.
    #: Called at every selection and listing (keep it cheap: a PATH lookup); an unavailable builder stays listed
    #: with the reason, an app naming it is a 422, and a deployment naming it fails with the reason.
    unavailable: Callable[[], str | None] | None = None


def unavailable_reason(registration: object) -> str | None:
    """Why a registered capability cannot run on this host now, or None when it can.

    A registration may carry an optional ``unavailable`` callable (no arguments, returns the reason or None):
    an optional builder whose CLI is not installed registers anyway and says so (builder-nixpacks: "`nixpacks`
    not on PATH (install from https://nixpacks.com)"). Called on selection and listing (the API, the CLI and the
    dashboard's builder selectors), so it must be cheap (a PATH lookup, not an engine call); one that raises
    counts as unavailable, naming the error."""
    check = getattr(registration, "unavailable", None)
    if not callable(check):
        return None
    try:
        reason = check()
    except Exception as exc:  # a broken check must not break listing or validation
        text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        return f"its availability check failed: {type(exc).__name__}: {text or type(exc).__name__}"
    return str(reason) if reason else None
