"""Benchmark (not a test): what real principals cost an API request (issue 20: "the permission check adds ≤ 1 ms
p99 to an API request: GET /api/apps with 500 apps, 50 concurrent clients, with and without a viewer-scoped
token, same run").

Starts ``rivetr serve`` as bench/authz.py does (temp data dir, proxy and rate limiter off; its bench-only
verifier never sees these tokens), creates ``--apps`` apps through the
API with the admin token, then a real viewer the way one comes to exist: an invitation into the default team as
``viewer``, accepted (a user without a server role), who makes a ``read``-scoped API token with that session. Then
``GET /api/apps`` with ``wrk`` (``--connections`` clients) in interleaved rounds:

* ``admin``  — the admin token: a server owner over every team (no membership lookup, no team filter);
* ``viewer`` — the viewer's read token: token lookup, the user's memberships (cached), the Principal, the
  check, and the team filter on the query (tests/test_team_isolation.py) — everything a restricted caller costs.

Both see the same 500 apps (the default team owns them). Prints p50/p99 of each (median of the rounds) and the
p99 difference. On a shared 2-core machine the round-to-round noise of these HTTP figures is far larger than the
difference, so the same comparison also runs in-process first (Quart's test client, the same 500 apps, admin and
viewer requests alternated one by one so both share whatever else the machine is doing).

    .venv/bin/python bench/authz_api.py [--apps 500] [--seconds 5] [--connections 50] [--rounds 3]
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.api import create_apps, wrk
from bench.authz import (
    add_apps,
    alternated,
    parse_args,
    percentiles,
    print_paired,
    start,
    stop,
    summarize,
    wrk_round,
)
from tests.support.server import ADMIN_TOKEN

PASSWORD = "bench-viewer-password-1"


def viewer_token(base: str) -> str:
    """An invited viewer of the default team, logged in by accepting, and its read token."""
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as admin:
        status = admin.post("/api/auth/setup", json={"username": "owner", "password": PASSWORD})
        status.raise_for_status()  # the first user: the server owner (the viewer must not be the first)
        invited = admin.post(
            "/api/invitations", json={"username": "viewer", "team_id": "default", "role": "viewer"}
        )
        invited.raise_for_status()
    with httpx.Client(base_url=base, timeout=30) as browser:
        accepted = browser.post(
            f"/api/invitations/{invited.json()['token']}/accept",
            json={"username": "viewer", "password": PASSWORD},
        )
        accepted.raise_for_status()
        headers = {"X-CSRF-Token": accepted.json()["csrf_token"]}
        created = browser.post("/api/tokens", headers=headers, json={"name": "bench", "scopes": ["read"]})
        created.raise_for_status()
        me = browser.get("/api/auth/team", headers=headers).json()
    if (me["team_role"], me["server_role"]) != ("viewer", None):
        raise SystemExit(f"the bench user is not a plain viewer: {me}")
    return str(created.json()["token"])


def check(base: str, token: str, apps: int) -> None:
    """The viewer reads every app (same work as the admin) and may not write."""
    headers = {"Authorization": f"Bearer {token}"}
    page = httpx.get(base + "/api/apps", params={"limit": 200}, headers=headers).json()
    if len(page["items"]) != min(apps, 200):
        raise SystemExit(f"the viewer sees {len(page['items'])} apps on the first page")
    denied = httpx.post(base + "/api/apps", json={}, headers=headers)
    if denied.status_code != 403:
        raise SystemExit(f"the viewer's POST /api/apps answered {denied.status_code}, not 403")


async def paired(apps: int, pairs: int) -> dict[str, dict[str, float]]:
    """p50/p99 (ms) of in-process ``GET /api/apps`` by the admin token and a viewer's read token, alternated."""
    from rivetr_core.app import create_app
    from tests.support.server import make_config

    data_dir = Path(tempfile.mkdtemp(prefix="rivetr-bench-authz-api-paired-"))
    try:
        app = create_app(make_config(data_dir))
        async with app.test_app():
            client = app.test_client()
            admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            await add_apps(client, apps, admin)
            accounts = app.extensions["rivetr_ctx"].services.accounts
            await accounts.create_user("owner", PASSWORD)
            user = await accounts.create_user("viewer", PASSWORD, role="member")
            response = await client.post(
                "/api/teams/default/members", json={"user_id": user.id, "role": "viewer"}, headers=admin
            )
            assert response.status_code == 201, await response.get_data(as_text=True)
            _row, raw = await accounts.create_token("bench", user=user, scopes=["read"])
            headers = {"admin": admin, "viewer": {"Authorization": f"Bearer {raw}"}}
            times = await alternated(client, pairs, ("admin", "viewer"), headers.__getitem__)
        return percentiles(times)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    args = parse_args(__doc__, "credential")

    inproc = asyncio.run(paired(args.apps, args.pairs))
    print_paired(inproc, args.apps, args.pairs, "viewer", "admin")

    data_dir = Path(tempfile.mkdtemp(prefix="rivetr-bench-authz-api-"))
    proc, base = start(data_dir)
    try:
        t0 = time.monotonic()
        create_apps(base, args.apps)
        print(f"{args.apps} apps created in {time.monotonic() - t0:.1f} s", flush=True)
        tokens = {"admin": ADMIN_TOKEN, "viewer": viewer_token(base)}
        check(base, tokens["viewer"], args.apps)
        for token in tokens.values():
            wrk(base + "/api/apps", 2, args.connections, token)  # warm-up
        results: dict[str, list[dict[str, float]]] = {mode: [] for mode in tokens}
        for round_no in range(args.rounds):
            order = list(tokens) if round_no % 2 == 0 else list(reversed(tokens))
            for mode in order:
                results[mode].append(
                    wrk_round(base, mode, tokens[mode], args.seconds, args.connections, round_no)
                )
        summary = summarize(results, args.apps, args.connections, args.rounds)
        delta = summary["viewer"]["p99"] - summary["admin"]["p99"]
        print(f"  p99 viewer − admin: {delta:+.2f} ms   target ≤ +1 ms")
    finally:
        stop(proc, data_dir)


if __name__ == "__main__":
    main()
