"""``rivetr build plan PATH``: the installed builders asked about a local directory, no server involved (the
real ``rivetr`` executable, with the autodetect plugin installed like every in-repo plugin)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

APPS = Path(__file__).resolve().parent / "fixtures" / "apps"
RIVETR = str(Path(sys.executable).parent / "rivetr")


def rivetr(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RIVETR_SERVER__DATA_DIR": str(tmp_path / "data")}
    env.pop("RIVETR_CONFIG", None)
    return subprocess.run([RIVETR, *args], capture_output=True, text=True, env=env, timeout=60)


def test_plan_prints_the_detection_and_the_dockerfile(tmp_path: Path) -> None:
    done = rivetr("build", "plan", str(APPS / "go-http"), tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "detect():            dockerfile no, autodetect yes" in out
    assert "detector:            go" in out
    assert "facts.module:        example.com/go-http" in out
    # No --port (an app created without one): the detector's, and why.
    (port,) = [line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("port:")]
    assert port.startswith("8080 (detected by the autodetect builder (go); recorded on the app"), port
    assert "ENV PORT=8080" in out
    dockerfile = out.split("# Dockerfile\n", 1)[1]
    assert dockerfile.splitlines()[1] == "FROM golang:1.22 AS build"
    assert dockerfile.rstrip().endswith('CMD ["sh", "-c", "exec /app/app"]')


def test_plan_json_with_overrides(tmp_path: Path) -> None:
    done = rivetr(
        "build",
        "plan",
        str(APPS / "node-express"),
        "--json",
        "--port",
        "9000",
        "--start-command",
        "node --enable-source-maps server.js",
        "--base-image",
        "node:20-slim",
        tmp_path=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert (plan["builder"], plan["detector"], plan["framework"]) == ("autodetect", "node", "express")
    assert (plan["port"], plan["base_image"]) == ("9000", "node:20-slim")
    assert plan["start_command"] == "node --enable-source-maps server.js"
    assert "ENV PORT=9000" in plan["dockerfile"] and "FROM node:20-slim" in plan["dockerfile"]


def test_a_dockerfile_keeps_the_dockerfile_builder(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "Dockerfile").write_text("FROM busybox:stable\n")
    (source / "index.html").write_text("<h1>hi</h1>\n")
    done = rivetr("build", "plan", str(source), "--json", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan.pop("port_reason").startswith("the default (3000): the builder detected no port")
    assert plan == {"builder": "dockerfile", "detector": None, "port": "3000", "port_source": "default"}
    # Naming the autodetect builder plans it even so.
    done = rivetr("build", "plan", str(source), "--json", "--builder", "autodetect", tmp_path=tmp_path)
    assert json.loads(done.stdout)["detector"] == "static", done.stderr


def test_nothing_to_build_exits_2_saying_what_each_builder_looked_for(tmp_path: Path) -> None:
    source = tmp_path / "empty"
    source.mkdir()
    (source / "README.md").write_text("docs only\n")
    done = rivetr("build", "plan", str(source), tmp_path=tmp_path)
    assert done.returncode == 2, done
    assert "error: no builder can build this directory" in done.stderr
    assert "  dockerfile: detect() said no" in done.stderr
    assert "looked for go.mod (Go); requirements.txt" in done.stderr and "Add a Dockerfile" in done.stderr

    done = rivetr("build", "plan", str(source), "--json", "--builder", "dockerfile", tmp_path=tmp_path)
    assert done.returncode == 2
    error = json.loads(done.stdout)["error"]
    assert error["code"] == "no_builder"
    assert error["details"] == {"builder": "dockerfile", "builders": {"dockerfile": "detect() said no"}}


def test_bad_input(tmp_path: Path) -> None:
    done = rivetr("build", "plan", str(APPS / "go-http"), "--builder", "nope", tmp_path=tmp_path)
    assert done.returncode == 1
    assert "builder: 'nope' is not installed" in done.stderr

    source = tmp_path / "lib"
    source.mkdir()
    (source / "go.mod").write_text("module x\n")
    done = rivetr("build", "plan", str(source), "--json", tmp_path=tmp_path)
    assert done.returncode == 1
    assert json.loads(done.stdout)["error"]["code"] == "build_failed"

    done = rivetr("build", "plan", str(tmp_path / "missing"), tmp_path=tmp_path)
    assert done.returncode == 2 and "does not exist" in done.stderr  # click's own usage error
