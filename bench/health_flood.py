"""Flood ``GET /health`` without a credential and report req/s and failures (issue 14: anonymous probes must
cost one component check per cache window, not one per request, so the control plane shrugs them off).

Run: .venv/bin/python bench/health_flood.py [--seconds 5] [--connections 16]
Starts its own ``rivetr serve`` (temp data dir, proxy off) and talks raw HTTP/1.1 keep-alive over asyncio
streams, so the client is not the bottleneck (httpx manages ~1k req/s here on its own).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.server import start_server


async def worker(port: int, stop: float, counts: dict[str, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    while time.monotonic() < stop:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        await reader.readexactly(length)
        counts["ok" if status in (200, 503) else "failed"] += 1
    writer.close()


async def flood(port: int, seconds: float, connections: int) -> dict[str, int]:
    counts = {"ok": 0, "failed": 0}
    stop = time.monotonic() + seconds
    await asyncio.gather(*(worker(port, stop, counts) for _ in range(connections)))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    server = start_server(Path(tempfile.mkdtemp(prefix="rivetr-health-")) / "data")
    try:
        port = int(server.url.rsplit(":", 1)[1])
        counts = asyncio.run(flood(port, args.seconds, args.connections))
    finally:
        server.stop()
    total = counts["ok"] + counts["failed"]
    print(
        f"/health anonymous: {total / args.seconds:.0f} req/s over {args.seconds:g}s, "
        f"{args.connections} connections, {counts['failed']} failed"
    )


if __name__ == "__main__":
    main()
