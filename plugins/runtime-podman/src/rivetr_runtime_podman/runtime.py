"""Podman as a :class:`rivetr_core.contract.ContainerRuntime`, through its Docker-compatible API socket.

Podman serves the Docker Engine API (``podman system service``), so this is :class:`DockerRuntime` with the
differences in its public extension points (``create_client``, ``ping``, ``normalize_image``,
``engine_label_filters``, ``normalize_status``, ``log_config``, ``build_network_options``, ``build_exit_code``,
``exec_exit_code`` and a few class attributes; see ``rivetr_runtime_docker.runtime``):

* the API service is started on demand when ``[plugins.runtime-podman] socket`` does not answer;
* a short tag (``app:1``) would be stored as ``docker.io/library/app:1``: references are made fully
  qualified (``localhost/app:1``), as podman's own CLI resolves locally built images;
* ``stats(stream=False)`` answers at once but without a CPU baseline (``precpu_stats`` empty, and its
  ``system_cpu_usage`` is not comparable with dockerd's): CPU % comes from two samples and the wall clock
  (the base class does this for one-shot dockerd samples too), with a pause between them;
* podman 4.3 matches nothing when an image list has two label filters (one is sent, the rest checked here),
  but its image prune deletes what matches ANY of them (a prune by several labels removes images one by
  one), and it says ``stopped`` where dockerd says ``exited``;
* buildah applies the build's ``labels`` to every stage and step, so leftovers of a build are labelled; it has
  no build cache endpoint (its layer cache is intermediate images, removed with the images they belong to);
* build logs say ``STEP 2/5: RUN …`` (dockerd ``Step 2/5 : RUN …``) and build errors carry no exit code
  (it is parsed from ``exit status N``); a failed exec may report no exit code, and a streamed exec's output
  may end with the service's own ``Error: read unixpacket ... connection reset by peer`` (removed);
* an empty ``RunSpec.entrypoint`` is sent as ``[""]`` (the compat API keeps the image's for ``[]``);
* podman schedules HEALTHCHECKs with systemd timers: without systemd (``healthcheck_driver``, default: when
  the host has none) Rivetr runs them itself (:mod:`.healthchecks`), so ``ContainerInfo.health`` moves on;
* log rotation: the k8s-file driver honours ``max-size`` only (one file, emptied when full), so the file gets
  the whole ``max-size`` x ``max-file`` budget.

Managed services need nothing of their own here: a network made through the compat API has aardvark-dns
(containers resolve each other's names and aliases), and fully qualified references
(``docker.io/library/redis:7``) are pulled, stored and run unchanged (:func:`qualify` leaves them alone). Where
Docker Hub names come from a mirror, the service Rivetr starts gets ``CONTAINERS_REGISTRIES_CONF`` (the
constructor's ``registries_conf``, else inherited from Rivetr's environment).
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rivetr_runtime_docker.runtime import DockerRuntime, project_firewall_setting

from rivetr_core.contract import RuntimeUnavailable

from .healthchecks import HealthcheckDriver

if TYPE_CHECKING:
    import docker

    from rivetr_core.contract import PluginContext, RunSpec


def systemd_runs() -> bool:
    """Whether this host booted with systemd (sd_booted(3)): podman's healthcheck timers need it."""
    return os.path.isdir("/run/systemd/system")


def socket_path(address: str) -> str:
    """``unix:///run/podman/podman.sock`` → ``/run/podman/podman.sock``."""
    for prefix in ("unix://", "http+unix://"):
        if address.startswith(prefix):
            return address[len(prefix) :]
    return address


def socket_answers(path: str, timeout: float = 2.0) -> bool:
    """True when an API server answers ``GET /_ping`` on the unix socket ``path`` (stdlib only, fast)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: podman\r\n\r\n")
            head = sock.recv(64)
        return head.startswith(b"HTTP/1.") and b" 200 " in head
    except OSError:
        return False


def qualify(image: str) -> str:
    """Fully qualified reference: an image without a registry host gets ``localhost/``.

    The first path component is a registry host when it contains ``.`` or ``:`` or is ``localhost``
    (the rule docker and podman use)."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return image
    if image.startswith("sha256:") or re.fullmatch(r"[0-9a-f]{12,64}", image):
        return image  # an image id, not a name
    return f"localhost/{image}"


class PodmanRuntime(DockerRuntime):
    """Podman through ``podman system service`` at ``base_url``; starts the service when it is silent.

    ``containers_conf`` is passed to the service as ``CONTAINERS_CONF`` and ``registries_conf`` as
    ``CONTAINERS_REGISTRIES_CONF`` (default: inherited from the environment). A service this object started keeps running after :meth:`close`, like a system daemon
    (containers and other Rivetr processes use it); :meth:`stop_service` ends it.
    """

    name = "podman"
    STEP_RE = re.compile(r"^STEP (\d+)/(\d+): (.*)$")
    #: buildah applies the ``labels`` parameter at commit, without extra steps.
    LABELS_IN_DOCKERFILE = False
    #: podman 4.3's compat image prune deletes images matching ANY of several label filters.
    PRUNE_ANDS_LABELS = False
    #: netavark's own switch against traffic between isolated networks (Rivetr's firewall does the rest).
    ISOLATED_NETWORK_OPTIONS = {"isolate": "true"}
    #: podman answers a stats request at once (no collection tick), from cgroup counters that move in
    #: ~10 ms steps: two samples need a real gap to measure CPU %.
    CPU_SAMPLE_INTERVAL = 0.25
    #: The service reports its own end of the attach socket being reset when a streamed exec ends (a race
    #: with conmon, harmless) as an output line.
    EXEC_NOISE = re.compile(r"^Error: (read|write) unixpacket .*attach: .*connection reset by peer\s*$")

    def __init__(
        self,
        base_url: str = "unix:///run/podman/podman.sock",
        *,
        autostart: bool = True,
        containers_conf: str | os.PathLike[str] | None = None,
        registries_conf: str | os.PathLike[str] | None = None,
        service_log: str | os.PathLike[str] | None = None,
        podman_binary: str = "podman",
        service_start_timeout: float = 20.0,
        healthcheck_driver: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(base_url, **kwargs)
        #: Run containers' HEALTHCHECKs from Rivetr (see :mod:`.healthchecks`); None: when systemd is absent.
        self.healthcheck_driver = (not systemd_runs()) if healthcheck_driver is None else healthcheck_driver
        self._health = HealthcheckDriver(self._api, self.log, closed=lambda: self._closed)
        self.autostart = autostart
        self.containers_conf = str(containers_conf) if containers_conf else None
        self.registries_conf = str(registries_conf) if registries_conf else None
        self.service_log = Path(service_log) if service_log else None
        self.podman_binary = podman_binary
        self.service_start_timeout = service_start_timeout
        self.service_process: subprocess.Popen[bytes] | None = None

    @classmethod
    def from_context(cls, ctx: PluginContext) -> PodmanRuntime:
        """Plugin factory: ``[plugins.runtime-podman]`` (``socket``, ``autostart``, ``containers_conf``,
        ``podman_binary``, ``project_firewall``); the service inherits ``CONTAINERS_REGISTRIES_CONF`` from Rivetr's environment."""
        from .plugin import PodmanSettings

        settings = ctx.settings_as(PodmanSettings, "runtime-podman")
        return cls(
            settings.socket,
            autostart=settings.autostart,
            containers_conf=settings.containers_conf,
            service_log=Path(ctx.data_dir) / "podman-service.log",
            podman_binary=settings.podman_binary,
            logger=ctx.logger,
            project_firewall=project_firewall_setting(ctx, settings),
        )

    # ---------------------------------------------------------------------------------------- API service
    @property
    def socket_path(self) -> str:
        return socket_path(self.base_url)

    def ensure_service(self) -> None:
        """Blocking: start ``podman system service`` unless the socket answers. A file lock next to the
        socket keeps two Rivetr processes (or two runtimes) from starting two services on one socket."""
        path = self.socket_path
        if socket_answers(path):
            return
        if not self.autostart:
            raise RuntimeUnavailable(f"podman API socket {path} does not answer and autostart is off")
        binary = shutil.which(self.podman_binary)
        if binary is None:
            raise RuntimeUnavailable(f"podman API socket {path} does not answer and podman is not installed")
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(f"{path}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if socket_answers(path):
                return
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # stale socket file of a killed service
            env = dict(os.environ)
            if self.containers_conf:
                env["CONTAINERS_CONF"] = self.containers_conf
            if self.registries_conf:
                env["CONTAINERS_REGISTRIES_CONF"] = self.registries_conf
            log_path = self.service_log or Path(os.path.dirname(path) or ".") / "podman-service.log"
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self.log.info("starting podman API service on %s (log %s)", path, log_path)
            with open(log_path, "ab") as log_file:
                # start_new_session: the service must outlive this process (and a Ctrl-C to it).
                process = subprocess.Popen(
                    [binary, "system", "service", "--time=0", f"unix://{path}"],
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                    close_fds=True,
                )
            deadline = time.monotonic() + self.service_start_timeout
            while not socket_answers(path):
                if process.poll() is not None:
                    raise RuntimeUnavailable(
                        f"podman system service exited with code {process.returncode} (log: {log_path})"
                    )
                if time.monotonic() > deadline:
                    process.kill()
                    raise RuntimeUnavailable(
                        f"podman system service did not answer on {path} within "
                        f"{self.service_start_timeout:.0f} s (log: {log_path})"
                    )
                time.sleep(0.1)
            self.service_process = process

    def stop_service(self, timeout: float = 10.0) -> None:
        """End the API service if this object started it (containers keep running: conmon owns them)."""
        process, self.service_process = self.service_process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    def create_client(self) -> docker.APIClient:
        """Start the API service if it is silent, then connect (and, where Rivetr runs the HEALTHCHECKs, take
        over those of the containers already running: a previous Rivetr process ran them)."""
        self.ensure_service()
        client = super().create_client()
        if self.healthcheck_driver:
            self._health.adopt_running(client)
        return client

    async def ping(self) -> bool:
        """True when the service answers; starts it first when it is silent and ``autostart`` is on."""
        try:
            await self._call(self.ensure_service)
        except Exception:
            return False
        return await self._answers()

    # ------------------------------------------------------------------------------------- healthchecks
    def after_start(self, api: docker.APIClient, container_id: str) -> None:
        # Podman's systemd timer for the container's HEALTHCHECK (its own or its image's) is missing here.
        if self.healthcheck_driver:
            config = api.inspect_container(container_id).get("Config") or {}
            self._health.track(container_id, config.get("Healthcheck"))

    # ------------------------------------------------------------------------------------ engine quirks
    def normalize_image(self, image: str) -> str:
        """``localhost/`` for a reference without a registry host (see :func:`qualify`)."""
        return qualify(image)

    def engine_label_filters(self, labels: Mapping[str, str] | None) -> dict[str, builtins.list[str]] | None:
        # podman 4.3's compat image list matches nothing when given two label filters; send one, and the base
        # class checks the others on the results.
        if not labels:
            return None
        key, value = next(iter(labels.items()))
        return {"label": [f"{key}={value}"]}

    def entrypoint(self, entrypoint: builtins.list[str] | None) -> builtins.list[str] | None:
        # podman 4.3's compat create reads an empty Entrypoint as "not set" and keeps the image's; [""] (what
        # `docker run --entrypoint ""` sends) clears it.
        if entrypoint is not None and not entrypoint:
            return [""]
        return super().entrypoint(entrypoint)

    def normalize_status(self, status: str) -> str:
        # podman reports "stopped" (and "configured" before the first start) where dockerd says exited/created.
        return {"stopped": "exited", "configured": "created"}.get(status, status)

    def log_config(self, spec: RunSpec) -> dict[str, Any] | None:
        # conmon's k8s-file driver keeps ONE file and empties it when it reaches max-size (log-size-max);
        # podman ignores max-file. Giving that one file the whole budget (max-size x max-file) keeps the
        # disk cap equal to dockerd's, with between 0 and the whole budget of history kept.
        if not spec.log_max_size:
            return None
        budget = spec.log_max_size * max(1, spec.log_max_files or 1)
        return {"Type": "k8s-file", "Config": {"max-size": str(budget)}}

    def build_network_options(self, network: str) -> dict[str, str]:
        # podman 4.3 ignores ``networkmode`` (RUN steps stay in the host's network namespace, whatever its
        # value); buildah's namespace options, also read on the compat endpoint, do select the network.
        return {"nsoptions": json.dumps([{"Name": "network", "Host": False, "Path": network}])}

    def build_exit_code(self, error: Mapping[str, Any]) -> int | None:
        code = super().build_exit_code(error)
        if code is not None:
            return code
        match = re.search(r"exit status (\d+)", str(error.get("error", "")))
        return int(match.group(1)) if match else None

    def exec_exit_code(self, inspected: Mapping[str, Any], output: str) -> int:
        code = inspected.get("ExitCode")
        if code is not None:
            return int(code)
        # podman may leave ExitCode unset when the process could not start; use the shell's conventions.
        return 127 if "not found" in output else 126
