"""The Docker Engine as a :class:`rivetr_core.contract.ContainerRuntime`, through the docker SDK's low-level client.

:class:`DockerRuntime` is assembled from one module per responsibility, each a mixin over the shared
:class:`~.engine.EngineClient` (client, worker threads, error translation):

* :mod:`.engine`: connection, ``ping``/``info``/``close``, ``image_exists``, error translation;
* :mod:`.images`: ``remove_image``, ``list_images``, ``prune``;
* :mod:`.build`: ``build`` (context tar, Dockerfile label rewrite, build stream parsing);
* :mod:`.containers`: ``run``/``stop``/``start``/``pause``/``unpause``/``remove``/``inspect``/``list`` and
  isolated networks;
* :mod:`.networks`: service networks with name resolution (``ensure_network``, ``remove_network``) and the
  containers' ``network_aliases``;
* :mod:`.pull`: ``pull`` from a registry (throttled progress lines, :class:`ImageNotFound`);
* :mod:`.volumes`: named volumes (``remove_volume``, ``list_volumes``, ``volume_sizes``, ``volume_path``) and
  the mounts of a container;
* :mod:`.logs` and :mod:`.stats`: ``logs``, ``stats``/``stats_many``;
* :mod:`.exec`: ``exec``, the streamed ``exec_output`` / ``exec_input`` (byte plumbing in :mod:`.execio`)
  and ``exec_interactive`` (:class:`DockerExecSession`).

Besides the ``ContainerRuntime`` Protocol it offers the optional ``VolumeDataRuntime`` and ``ServiceRuntime``
methods of :mod:`rivetr_core.contract`.

It is also the base of the podman runtime (podman serves the same API). Engine differences are isolated in
public extension points, each documented with what a subclass may change and why:

* methods: :meth:`~.engine.EngineClient.create_client`, :meth:`~.engine.EngineClient.ping`,
  :meth:`~.engine.EngineClient.normalize_image`, :meth:`~.engine.EngineClient.engine_label_filters`,
  :meth:`~.build.BuildMixin.build_exit_code`, :meth:`~.build.BuildMixin.build_network_options`,
  :meth:`~.containers.ContainersMixin.log_config`, :meth:`~.containers.ContainersMixin.normalize_status`,
  :meth:`~.exec.ExecMixin.exec_exit_code`, :meth:`~.pull.PullMixin.pull_error`;
* class attributes: ``STEP_RE``, ``LABELS_IN_DOCKERFILE`` (build), ``PRUNE_ANDS_LABELS`` (images),
  ``ISOLATED_NETWORK_OPTIONS`` (containers), ``CPU_SAMPLE_INTERVAL`` (stats), ``PULL_PROGRESS_INTERVAL``
  (pull).

Everything with a leading underscore is internal and may change without notice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .build import BuildMixin
from .containers import ContainersMixin
from .engine import EngineError
from .exec import DockerExecSession, ExecMixin
from .images import ImagesMixin
from .logs import LogsMixin
from .pull import PullMixin
from .stats import StatsMixin

if TYPE_CHECKING:
    from rivetr_core.contract import PluginContext

__all__ = ["DockerExecSession", "DockerRuntime", "EngineError", "project_firewall_setting"]


def project_firewall_setting(ctx: PluginContext, settings: Any) -> bool:
    """The plugin's ``project_firewall``, unless core's ``[runtime] project_firewall`` (when core has that key)
    turns it off for every engine."""
    core = getattr(getattr(ctx.config, "runtime", None), "project_firewall", None)
    return bool(settings.project_firewall) and core is not False


class DockerRuntime(ContainersMixin, BuildMixin, ImagesMixin, LogsMixin, StatsMixin, ExecMixin, PullMixin):
    """Container runtime for the Docker Engine API at ``base_url`` (``unix:///var/run/docker.sock``).

    Construction never talks to the engine; the first call connects (negotiating the API version), so a
    runtime can be built while the engine is down and :meth:`ping` tells whether it answers. Constructor:
    ``DockerRuntime(base_url, *, timeout=60.0, connect_timeout=15.0, max_workers=64, logger=None)`` (see
    :class:`~.engine.EngineClient`).
    """

    name = "docker"

    @classmethod
    def from_context(cls, ctx: PluginContext) -> DockerRuntime:
        """Plugin factory: ``[plugins.runtime-docker] socket``, ``project_firewall`` and ``network_pool``."""
        from .plugin import DockerSettings
        from .subnets import parse_pool

        settings = ctx.settings_as(DockerSettings, "runtime-docker")
        return cls(
            settings.socket,
            logger=ctx.logger,
            project_firewall=project_firewall_setting(ctx, settings),
            network_pool=parse_pool(settings.network_pool),
        )
