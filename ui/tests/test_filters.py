"""Pure template helpers: pipeline step states, durations, sizes, URL redaction."""

from __future__ import annotations

from types import SimpleNamespace

from rivetr_ui.filters import duration, human_bytes, redact_url, step_view


def dep(status: str, steps: dict, rollback_of: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(status=status, steps=steps, rollback_of=rollback_of)


def states(d: SimpleNamespace) -> dict[str, str]:
    return {s["name"]: s["state"] for s in step_view(d)}


DONE = {"started_at": "t", "finished_at": "t", "duration_ms": 12.5}


def test_running_pipeline_shows_done_current_and_pending_steps() -> None:
    d = dep("building", {"clone": DONE, "build": {"started_at": "t"}})
    assert states(d) == {
        "clone": "done",
        "build": "current",
        "start": "pending",
        "health": "pending",
        "switch": "pending",
        "drain": "pending",
    }
    assert step_view(d)[0]["duration_ms"] == 12.5


def test_failed_deployment_blames_the_last_started_step() -> None:
    # The pipeline closes a failing step with finished_at too: the failure is the last step that started.
    d = dep("failed", {"clone": DONE, "build": DONE})
    assert states(d)["build"] == "failed" and states(d)["clone"] == "done" and states(d)["start"] == "pending"
    assert states(dep("failed", {}))["clone"] == "pending"


def test_rollbacks_have_no_clone_or_build() -> None:
    names = [s["name"] for s in step_view(dep("running", {"start": DONE}, rollback_of="abc"))]
    assert names == ["start", "health", "switch", "drain"]


def test_release_and_post_deploy_steps_show_once_a_deployment_reached_them() -> None:
    d = dep("failed", {"clone": DONE, "build": DONE, "release": DONE})
    assert list(states(d)) == ["clone", "build", "release", "start", "health", "switch", "drain"]
    assert states(d)["release"] == "failed"  # the release command stopped it, not the build
    d = dep(
        "running", {n: DONE for n in ("clone", "build", "start", "health", "switch", "drain", "post_deploy")}
    )
    assert list(states(d))[-1] == "post_deploy" and "release" not in states(d)


def test_formatting() -> None:
    assert duration(None) == "" and duration(12) == "12 ms" and duration(1500) == "1.5 s"
    assert duration(125_000) == "2 min 5 s"
    assert human_bytes(None) == "—" and human_bytes(512) == "512 B" and human_bytes(3 * 1024**2) == "3.0 MiB"
    assert "hunter2" not in redact_url("https://bob:hunter2@example.com/x.git")
