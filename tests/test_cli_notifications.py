"""``rivetr notifications`` against a real ``rivetr serve`` (one per module) delivering through apprise to real loopback
JSON receivers (tests/support/json_receiver.py): add with the URL on stdin (never shown back), test (delivered, and
a refusing receiver's failure with exit 1), update, deliveries, show, remove."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rivetr_core.cli.main import cli
from rivetr_core.notify.events import EVENT_TYPES
from tests.support.cli import cli_env, module_server
from tests.support.json_receiver import JsonReceiver, running_receiver
from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from module_server(tmp_path_factory, "cli-notifications")


@pytest.fixture(scope="module")
def receiver() -> Iterator[JsonReceiver]:
    yield from running_receiver()


@pytest.fixture
def env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return cli_env(server, tmp_path)


def run(args: list[str], env: dict[str, str], input: str | None = None) -> Any:
    return CliRunner().invoke(cli, args, env=env, input=input, catch_exceptions=False)


def test_add_test_update_deliveries_remove(env: dict[str, str], receiver: JsonReceiver) -> None:
    url = receiver.url + "?token=s3cret-in-the-url"
    added = run(
        ["notifications", "add", "ops", "--url-stdin", "--event", "deployment_failed"], env, url + "\n"
    )
    assert added.exit_code == 0, added.output
    assert "added channel ops (json://***, events: deployment_failed)" in added.output
    assert "s3cret" not in added.output

    taken = run(["notifications", "add", "ops", "--url-stdin"], env, url + "\n")
    assert taken.exit_code == 2 and "named 'ops' exists" in taken.stderr, taken.output
    bad = run(["notifications", "add", "bad", "--url-stdin"], env, "nosuchscheme://x\n")
    assert bad.exit_code == 2 and "apprise" in bad.stderr, bad.output
    unknown_event = run(["notifications", "add", "bad", "--url-stdin", "--event", "nope"], env, url + "\n")
    assert unknown_event.exit_code == 2 and "Unknown event type" in unknown_event.stderr

    tested = run(["notifications", "test", "ops"], env)
    assert tested.exit_code == 0 and "the service accepted it" in tested.output, tested.output
    [payload] = receiver.payloads
    assert "Test notification for channel 'ops'" in payload["message"]

    updated = run(
        ["notifications", "update", "ops", "--event", "deployment_failed", "--event", "container_crashed"],
        env,
    )
    assert updated.exit_code == 0, updated.output
    assert "events: deployment_failed, container_crashed, enabled" in updated.output
    listed = json.loads(run(["notifications", "list", "--json"], env).stdout)
    [row] = [r for r in listed if r["name"] == "ops"]
    assert (row["url"], row["events"], row["failures"]) == (
        "json://***",
        ["deployment_failed", "container_crashed"],
        0,
    )
    assert row["last_success_at"]
    # The stored URL was kept by the update (no --new-url): the next test still reaches the receiver.
    assert run(["notifications", "test", row["id"]], env).exit_code == 0
    assert len(receiver.payloads) == 2

    deliveries = json.loads(run(["notifications", "deliveries", "ops", "--json"], env).stdout)
    assert [(d["event_type"], d["status"], d["attempts"]) for d in deliveries] == [
        ("test", "delivered", 1)
    ] * 2
    shown = run(["notifications", "show", "ops"], env)
    assert shown.exit_code == 0 and "json://***" in shown.output and "delivered" in shown.output
    assert "s3cret" not in shown.output
    table = run(["notifications", "list"], env)
    assert "ops" in table.output and "deployment_failed, container_crashed" in table.output

    removed = run(["notifications", "remove", "ops", "--yes"], env)
    assert removed.exit_code == 0 and "removed channel ops" in removed.output
    assert json.loads(run(["notifications", "list", "--json"], env).stdout) == []
    missing = run(["notifications", "test", "ops"], env)
    assert missing.exit_code == 2 and "unknown notification channel 'ops'" in missing.stderr


def test_a_failing_channel_exits_1_and_shows_the_failure(env: dict[str, str]) -> None:
    refusing = JsonReceiver(status=500)
    try:
        added = run(["notifications", "add", "broken", "--url-stdin"], env, refusing.url + "\n")
        assert added.exit_code == 0, added.output
        failed = run(["notifications", "test", "broken"], env)
        assert failed.exit_code == 1, failed.output
        assert "Test notification failed" in failed.stderr, failed.stderr
        assert len(refusing.requests) == 1
        [row] = json.loads(run(["notifications", "list", "--json"], env).stdout)
        assert row["failures"] == 1 and row["last_error"]
        assert "failing (1)" in run(["notifications", "list"], env).output
        only_failed = json.loads(
            run(["notifications", "deliveries", "broken", "--failed", "--json"], env).stdout
        )
        assert [(d["status"], d["error"] is not None) for d in only_failed] == [("failed", True)]

        # A new URL from stdin (with --new-url only), disabling, renaming and every event again.
        with closing(JsonReceiver()) as good:
            changed = run(
                [
                    "notifications",
                    "update",
                    "broken",
                    "--new-url",
                    "--url-stdin",
                    "--disable",
                    "--name",
                    "fixed",
                ],
                env,
                good.url + "\n",
            )
            assert changed.exit_code == 0 and "disabled" in changed.output, changed.output
            assert run(["notifications", "test", "fixed"], env).exit_code == 0  # a test ignores "disabled"
            assert len(good.requests) == 1 and len(refusing.requests) == 1
        everything = run(["notifications", "update", "fixed", "--all-events", "--enable", "--json"], env)
        assert (json.loads(everything.stdout)["events"], json.loads(everything.stdout)["enabled"]) == (
            [],
            True,
        )
        lone = run(["notifications", "update", "fixed", "--url-stdin"], env, "x\n")
        assert lone.exit_code == 2 and "--new-url" in lone.stderr
        assert run(["notifications", "remove", "fixed", "--yes"], env).exit_code == 0
    finally:
        refusing.close()


def test_the_cli_names_every_event_type() -> None:
    """``--event``'s help lists the event types by hand (importing the server's notify package would slow every
    command down): it must keep up with the server's list."""
    from rivetr_core.cli.notifications_cmd import EVENT_HELP

    assert [e for e in EVENT_TYPES if e not in EVENT_HELP] == []
