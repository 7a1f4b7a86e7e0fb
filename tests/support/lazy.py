"""Which modules an idle control plane has loaded, and which one request loads: the probe behind the "feature
code loads with its first use, not at start-up" tests (idle memory budget).

It runs in a fresh interpreter (``sys.modules`` of the test process holds everything other tests imported),
migrating in a child process first as ``rivetr serve`` does, so the server never loads every table for that.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import asyncio, json, subprocess, sys, tempfile
from pathlib import Path
from tests.support.server import ApiClient, make_config
from rivetr_core.app import create_app
from tests.support.migrate_first import migrated_config

MODULES, REQUESTS = json.loads(sys.argv[1]), json.loads(sys.argv[2])

async def main():
    data = Path(tempfile.mkdtemp()) / "data"
    data.mkdir()
    app = create_app(migrated_config(data))
    loaded = {}
    async with app.test_app():
        api = ApiClient(app)
        loaded["idle"] = [m for m in MODULES if m in sys.modules]
        for method, path, body in REQUESTS:
            code, answer = await api.request(method, path, **({"json": body} if body is not None else {}))
            assert code < 400, (method, path, code, answer)
            loaded[f"{method} {path}"] = [m for m in MODULES if m in sys.modules]
    print(json.dumps(loaded))

asyncio.run(main())
"""


def modules_loaded(
    modules: Sequence[str], requests: Sequence[tuple[str, str, object]]
) -> dict[str, list[str]]:
    """``{"idle": [...], "<METHOD> <path>": [...]}``: which of ``modules`` are loaded once the app has started,
    then after each of ``requests`` (``(method, path, json body or None)``, answered below 400, in order)."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(list(modules)), json.dumps([list(r) for r in requests])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]
