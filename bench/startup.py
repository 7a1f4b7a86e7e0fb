"""Benchmark (not a test): time-to-ready and idle RSS of `rivetr serve` with every in-repo plugin.

Targets (issue 2): ready ≤ 2 s, idle RSS ≤ 80 MB after 10 s; idle CPU is reported too. Peers for scale:
upstream Rust Rivetr claims ~30 MB, Dokploy idles at ~460 MiB. The proxy data plane runs in its own
process(es); its RSS is reported separately and in the total. Measured in the same run: ``stack_floor.py``, a
one-route app on the same libraries (Quart, Hypercorn, SQLModel, pydantic-settings, docker SDK), the floor any
control plane on them has; and the RSS of an interpreter that has only imported those libraries, which is what
is left of the target for everything else.

    .venv/bin/python bench/startup.py [--runs 3] [--idle 10] [--no-proxy]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.proxy import free_port


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (``/proc/PID/stat`` fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        p, pp = (int(x) for x in line.split())
        children.setdefault(pp, []).append(p)
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def proxy_pids(data_dir: Path) -> list[int]:
    """Proxy processes outlive the control plane by design, so find them by their state dir."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,args="], capture_output=True, text=True).stdout
    return [
        int(line.split(None, 1)[0]) for line in out.splitlines() if str(data_dir) in line and "proxy" in line
    ]


def wait_healthy(
    proc: subprocess.Popen[bytes], base_url: Callable[[], str | None], what: str, started: float
) -> float:
    """Seconds since ``started`` until ``GET <base_url()>/health`` answers (any status); exits if ``proc``
    dies or 30 s pass. ``base_url`` returns None while the address is not known yet."""
    while time.perf_counter() - started < 30:
        url = base_url()
        if url:
            try:
                httpx.get(url + "/health", timeout=2)
                return time.perf_counter() - started
            except httpx.HTTPError:
                pass
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        time.sleep(0.01)
    raise SystemExit(f"{what} not ready in 30 s")


def one_run(idle: float, proxy: bool, data_dir: Path) -> dict[str, float]:
    env = {
        **os.environ,
        "RIVETR_SERVER__DATA_DIR": str(data_dir),
        "RIVETR_SERVER__API_PORT": "0",
        "RIVETR_SERVER__HOST": "127.0.0.1",
        "RIVETR_SERVER__PROXY_PORT": str(free_port()),
        "RIVETR_SERVER__PROXY_HTTPS_PORT": str(free_port()),
        "RIVETR_AUTH__ADMIN_TOKEN": "bench-token",
        "RIVETR_PROXY__ENABLED": "true" if proxy else "false",
    }
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rivetr_core.cli.main", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    addr = data_dir / "api.addr"

    def api_url() -> str | None:
        text = addr.read_text().strip() if addr.exists() else ""
        return "http://127.0.0.1:" + text.rsplit(":", 1)[1] if text else None

    try:
        ready = wait_healthy(proc, api_url, "rivetr serve", started)
        time.sleep(1)  # let start-up work (engine check, first samples) finish before counting idle CPU
        # The proxy processes are descendants too (in their own session): a set counts each process once.
        proxies = set(proxy_pids(data_dir))
        watched = {proc.pid, *descendants(proc.pid), *proxies}
        cpu_before = sum(cpu_seconds(p) for p in watched)
        time.sleep(max(0.0, idle - 1))
        cpu = (sum(cpu_seconds(p) for p in watched) - cpu_before) / max(idle - 1, 1e-9)
        control = sum(rss_mb(p) for p in watched - proxies)
        proxy_rss = sum(rss_mb(p) for p in proxies)
        return {"ready": ready, "control": control, "proxy": proxy_rss, "cpu": cpu}
    finally:
        pids = proxy_pids(data_dir)
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
        for pid in pids:  # the data plane deliberately survives the control plane: stop it for the bench
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


#: The brief's fixed libraries that serving needs loaded (the web stack, the ORM and its async driver, the plugin
#: manager, the CLI entry, the engine SDK start-up recovery lists containers with, the metrics registry), then
#: the ones Rivetr adds to them (request schemas, settings, event loop, host stats, password hashing).
FIXED_LIBRARIES = (
    "quart",
    "hypercorn.asyncio",
    "sqlmodel",
    "sqlalchemy.ext.asyncio",
    "aiosqlite",
    "pluggy",
    "click",
    "docker",
    "prometheus_client",
)
ADDED_LIBRARIES = ("quart_schema", "pydantic_settings", "uvloop", "psutil", "argon2")


def import_rss(modules: tuple[str, ...]) -> float:
    """RSS of a fresh interpreter that has only imported ``modules``: no app, no database, no request."""
    code = f"import sys, {', '.join(modules)}\nprint('imported', flush=True)\nsys.stdin.read()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        if proc.stdout is None or proc.stdout.readline().strip() != "imported":
            raise SystemExit(f"importing {modules} failed")
        return rss_mb(proc.pid)
    finally:
        proc.communicate("")  # closes stdin: the child exits


def floor_run(idle: float, data_dir: Path) -> float:
    """Idle RSS of bench/stack_floor.py, started and measured like Rivetr."""
    port = free_port()
    docker_url = os.environ.get("RIVETR_RUNTIME__DOCKER_SOCKET", "unix:///var/run/docker.sock")
    proc = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("stack_floor.py")),
            str(port),
            str(data_dir / "floor.db"),
            docker_url,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_healthy(proc, lambda: f"http://127.0.0.1:{port}", "stack_floor.py", time.perf_counter())
        time.sleep(idle)
        return rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(15)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--no-proxy", action="store_true")
    args = parser.parse_args()
    results = []
    for _ in range(args.runs):
        # A first start migrates a new database; the restart is what an operator sees day to day.
        data_dir = Path(tempfile.mkdtemp(prefix="rivetr-bench-"))
        first = one_run(1.0, not args.no_proxy, data_dir)
        results.append(
            {
                **one_run(args.idle, not args.no_proxy, data_dir),
                "first": first["ready"],
                "floor": floor_run(args.idle, data_dir),
                "fixed_imports": import_rss(FIXED_LIBRARIES),
                "all_imports": import_rss(FIXED_LIBRARIES + ADDED_LIBRARIES),
            }
        )
    median = {key: statistics.median(r[key] for r in results) for key in results[0]}
    first_ready, ready, control, proxy = median["first"], median["ready"], median["control"], median["proxy"]
    cpu, floor = median["cpu"], median["floor"]
    fixed_imports, all_imports = median["fixed_imports"], median["all_imports"]
    print(f"runs: {args.runs}, idle {args.idle:g} s, proxy {'on' if not args.no_proxy else 'off'}")
    print(f"time to ready, first start (new database): {first_ready:.2f} s")
    print(f"time to ready, restart (median): {ready:.2f} s   target ≤ 2 s   ratio {ready / 2:.2f}")
    print(f"idle RSS control plane: {control:.1f} MB   target ≤ 80 MB   ratio {control / 80:.2f}")
    print(
        f"idle RSS same-stack floor (bench/stack_floor.py, one route): {floor:.1f} MB   "
        f"Rivetr {control - floor:+.1f} MB   ratio {control / floor:.2f}"
    )
    print(
        f"RSS of only importing the brief's fixed libraries serving needs: {fixed_imports:.1f} MB; "
        f"with the ones Rivetr adds: {all_imports:.1f} MB (room left under 80 MB: {80 - all_imports:.1f} MB)"
    )
    print(f"idle RSS proxy worker(s): {proxy:.1f} MB   total {control + proxy:.1f} MB")
    print(f"idle CPU, control plane and proxy together: {cpu * 100:.2f}% of one core")
    print(
        f"vs peers: upstream Rust Rivetr ~30 MB ({(control + proxy) / 30:.1f}x), "
        f"Dokploy ~460 MiB ({(control + proxy) / 482:.2f}x)"
    )


if __name__ == "__main__":
    main()
