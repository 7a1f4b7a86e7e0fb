"""The peer of the deploy benchmark: the same redeploy as a shell script would do it with the engine's CLI.

This is the way Dokku (bash around the docker CLI) and most hand-rolled deploy scripts work: shallow clone,
``build``, ``run -d`` with a published loopback port, poll until it answers, then ``stop`` and ``rm`` the
previous container. No proxy switch and no bookkeeping, so it is the floor a PaaS's pipeline adds to.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path


class ShellDeploy:
    def __init__(self, engine: str, values: dict[str, str], repo_url: str) -> None:
        socket = values["DOCKER_SOCKET" if engine == "docker" else "PODMAN_SOCKET"]
        self.cli = ["docker", "-H", socket] if engine == "docker" else ["podman", "--url", socket]
        self.env = {
            **os.environ,
            **({"CONTAINERS_CONF": values["CONTAINERS_CONF"]} if "CONTAINERS_CONF" in values else {}),
        }
        self.repo_url = repo_url
        self.work = Path(tempfile.mkdtemp(prefix="rivetr-bench-peer-"))
        self.tag = f"peer{os.getpid()}"
        self.previous: str | None = None
        self.images: list[str] = []

    def _run(self, *args: str) -> str:
        return subprocess.run(args, env=self.env, check=True, capture_output=True, text=True).stdout.strip()

    def deploy(self, n: int | str) -> dict[str, float]:
        """One redeploy; returns the seconds of each step and the total."""
        split: dict[str, float] = {}
        source = self.work / f"src{n}"
        image = f"localhost/rivetr-bench-{self.tag}:{n}"
        name = f"rivetr-bench-{self.tag}-{n}"
        started = step = time.perf_counter()

        def lap(key: str) -> None:
            nonlocal step
            now = time.perf_counter()
            split[key] = now - step
            step = now

        self._run(
            "git",
            "clone",
            "-q",
            "--depth",
            "1",
            "--branch",
            "main",
            "--single-branch",
            self.repo_url,
            str(source),
        )
        lap("clone")
        self._run(*self.cli, "build", "-q", "-t", image, str(source))
        self.images.append(image)
        lap("build")
        self._run(*self.cli, "run", "-d", "--init", "--name", name, "-p", "127.0.0.1::8000", image)
        port = self._run(*self.cli, "port", name, "8000").splitlines()[0].rsplit(":", 1)[1]
        lap("start")
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    if response.status == 200:
                        break
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.01)
        lap("health")
        if self.previous:
            self._run(*self.cli, "stop", "-t", "10", self.previous)
            self._run(*self.cli, "rm", self.previous)
        self.previous = name
        lap("drain")
        shutil.rmtree(source, ignore_errors=True)
        split["total"] = time.perf_counter() - started
        split["overhead"] = split["total"] - split["build"] - split["health"]
        return split

    def cleanup(self) -> None:
        if self.previous:
            subprocess.run([*self.cli, "rm", "-f", self.previous], env=self.env, capture_output=True)
        for image in self.images:
            subprocess.run([*self.cli, "rmi", "-f", image], env=self.env, capture_output=True)
        shutil.rmtree(self.work, ignore_errors=True)
