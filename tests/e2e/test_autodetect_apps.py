"""Zero-config deploys (issue 19) through a real ``rivetr serve`` on Docker and on Podman: each sample repository of
``tests/fixtures/apps`` (no Dockerfile) is pushed to the test git daemon, deployed with ``builder = "auto"`` (the
``autodetect`` builder writes the Dockerfile) and no port (the first deployment records the detector's: Python
8000, Node and Ruby 3000, Go, PHP and static 8080), and answers through the built-in proxy.

One server per engine serves every sample, and the first deployments run concurrently (one wave on docker, two on
podman: see SECOND_WAVE), so the module costs one server start and about one slowest build per engine. A code-only
change to the Flask and Express samples then rebuilds with the dependency-install layer served from the engine's
build cache (and a deploy with ``no_cache`` runs that install again), and a repository with nothing to detect
fails with a message that says what was looked for, whether the app's builder is auto or names autodetect.

Builds need no network: the official base-image names come from the local mirror's stand-ins, which carry
offline wheel and npm caches (scripts/standins/, tests/test_standins_builds.py).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import E2E_ENV, TERMINAL, Rivetr, shutdown_proxy, start_rivetr
from tests.support.gitserver import GitRepo, GitServer

pytestmark = pytest.mark.slow

APPS = Path(__file__).resolve().parents[1] / "fixtures" / "apps"
ENGINES = [pytest.param("docker", marks=pytest.mark.docker), pytest.param("podman", marks=pytest.mark.podman)]
#: Builds of eight samples at once on two shared cores: the slowest (Go's net/http) takes tens of seconds.
BUILD_TIMEOUT = 420


def vite_bundle_says(rivetr: Rivetr, host: str, expected: str) -> tuple[bool, str]:
    """Vite's output is an index.html naming a hashed bundle: the text the sample renders lives in the bundle."""
    status, page = rivetr.fetch(host)
    found = re.search(r'src="(/assets/[^"]+\.js)"', page)
    if status != 200 or not found:
        return False, f"{status} {page[:200]!r}"
    status, bundle = rivetr.fetch(host, found.group(1))
    return status == 200 and expected in bundle, f"{found.group(1)}: {status} {bundle[:200]!r}"


def body_is(rivetr: Rivetr, host: str, expected: str) -> tuple[bool, str]:
    status, body = rivetr.fetch(host)
    return (status, body) == (200, expected), f"{status} {body[:200]!r}"


def body_contains(rivetr: Rivetr, host: str, expected: str) -> tuple[bool, str]:
    status, body = rivetr.fetch(host)
    return status == 200 and expected in body, f"{status} {body[:200]!r}"


@dataclass(frozen=True)
class Sample:
    detected: str  # what ``[autodetect] detected <language> (<framework>) with ...`` names
    expected: str  # what "/" answers (the whole body, or a part of it for the HTML samples)
    check: Callable[[Rivetr, str, str], tuple[bool, str]]
    port: int  # the detector's port: the apps are created without one, the first deployment records it


# What each sample's own source answers (tests/fixtures/apps/<name>/).
SAMPLES = {
    "flask-requirements": Sample("python (flask)", "hello from flask\n", body_is, 8000),
    "fastapi-pyproject": Sample("python (fastapi)", '{"hello":"fastapi"}', body_is, 8000),
    "node-express": Sample("node (express)", "hello from express\n", body_is, 3000),
    "vite-static": Sample("node (vite)", "hello from vite", vite_bundle_says, 8080),
    "go-http": Sample("go", "hello from go\n", body_is, 8080),
    "static-site": Sample("static", "<h1>hello from a static site</h1>", body_contains, 8080),
    # PHP and Ruby: no dependencies (Packagist and rubygems.org are out of reach), but composer install and
    # bundle install run; the answers are computed by the interpreter, not sent as file text.
    "php-plain": Sample("php", "hello from php 42\n", body_is, 8080),
    "ruby-plain": Sample("ruby", "hello from ruby 42\n", body_is, 3000),
}


#: Code-only changes: the sample, the source file changed, the command of the dependency-install step.
CODE_CHANGES = {
    "flask-requirements": ("app.py", "pip install -r requirements.txt"),
    "node-express": ("server.js", "npm ci"),
}


#: First deploys started on podman once the code-change samples' images are built, not with them. Podman (buildah
#: 4.3) forks the build cache when two builds miss the same new step at once (here fastapi's and flask's ``WORKDIR
#: /app`` on python, vite's and express's on node): each gets its own copy of the shared steps, and a later rebuild
#: may follow the other's copy and then miss its own install layer (measured: about half the rebuilds after a
#: concurrent pair).
#: Docker is immune (Rivetr's labels are the legacy builder's step 2, so every app's chain is its own): one wave.
SECOND_WAVE = ("fastapi-pyproject", "vite-static")


@dataclass
class Deployed:
    name: str
    host: str
    repo: GitRepo
    app: dict[str, Any]
    first: str = ""  # the first deployment's id


@dataclass
class Bench:
    rivetr: Rivetr
    git: GitServer
    suffix: str
    apps: dict[str, Deployed]


def run_marked(sample: str, rel: str, text: str, run: str) -> str:
    """The code-change samples' dependency manifest, made unique to this run without changing what it installs.

    Podman's build layers carry no instance label before the last step, so the install layer of an unmarked
    sample is shared with every other build of the same sample on that podman (another session's, a bench's):
    it may be there before our first build, or be removed by whoever else owns it before our rebuild."""
    if sample not in CODE_CHANGES:
        return text
    if rel == "requirements.txt":
        return f"{text}# rivetr e2e run {run}\n"
    if rel == "package.json":
        package = json.loads(text)
        package["description"] = f"rivetr e2e run {run}"  # npm ci compares dependencies only
        return json.dumps(package, indent=2) + "\n"
    return text


def sample_repo(git: GitServer, name: str, sample: str, run: str) -> GitRepo:
    files = {
        rel: (run_marked(sample, rel, path.read_text(), run), 0o644)
        for path in sorted((APPS / sample).rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
        for rel in [str(path.relative_to(APPS / sample))]
    }
    return git.create_repo(name, files, message=f"{sample} sample")


@pytest.fixture(scope="module", params=ENGINES)
def bench(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    """One ``rivetr serve`` and git daemon per engine; every sample app created and its first deploy started."""
    engine = request.param
    base = tmp_path_factory.mktemp(f"autodetect-{engine}")
    git = GitServer(base / "git")
    git.start()
    try:
        rivetr = start_rivetr(
            engine,
            base / "rivetr",
            proxy_port=None,
            # All first deploys at once (default 2): their clones, pulls and builds overlap.
            **{**E2E_ENV, "RIVETR_RUNTIME__MAX_CONCURRENT_DEPLOYMENTS": str(len(SAMPLES))},
        )
    except BaseException:
        git.stop()
        raise
    suffix = uuid.uuid4().hex[:6]
    try:
        apps = {}
        for sample in SAMPLES:
            name = f"ad-{engine[:2]}-{sample.split('-')[0]}-{suffix}"
            repo = sample_repo(git, name, sample, suffix)
            # No port: each app gets its detector's at the first deployment (rivetr_core.engine.ports).
            app = rivetr.create_app(repo, name, builder="auto", port=None)
            assert app["port"] is None, app
            apps[sample] = Deployed(name, f"{name}.e2e.test", repo, app)
        second_wave = SECOND_WAVE if engine == "podman" else ()
        for sample in SAMPLES:
            if sample not in second_wave:
                apps[sample].first = rivetr.deploy(apps[sample].app["id"])["id"]
        if second_wave:
            for sample in CODE_CHANGES:
                wait_built(rivetr, apps[sample].first)
            for sample in second_wave:
                apps[sample].first = rivetr.deploy(apps[sample].app["id"])["id"]
        yield Bench(rivetr, git, suffix, apps)
    finally:
        rivetr.server.stop(timeout=15)
        rivetr.cleanup()
        shutdown_proxy(rivetr.server.data_dir)
        git.stop()


def wait_built(rivetr: Rivetr, dep_id: str) -> None:
    """Until the deployment's build is over (its image exists, or it failed)."""
    rivetr.wait(dep_id, ("starting", "health_checking", "switching", *TERMINAL), timeout=BUILD_TIMEOUT)


def log_lines(rivetr: Rivetr, dep_id: str) -> list[str]:
    return [x["line"] for x in rivetr.api.get(f"/api/deployments/{dep_id}/logs").json()]


def wait_running(rivetr: Rivetr, sample: str, dep_id: str) -> tuple[dict[str, Any], list[str]]:
    dep = rivetr.wait(dep_id, timeout=BUILD_TIMEOUT)
    lines = log_lines(rivetr, dep_id)
    assert dep["status"] == "running", (
        f"{sample} on {rivetr.engine}: {dep['status']}: {dep.get('error')}\n" + "\n".join(lines[-40:])
    )
    return rivetr.wait_drained(dep), lines


def wait_served(rivetr: Rivetr, sample: str, host: str, expected: str, timeout: float = 20) -> None:
    check = SAMPLES[sample].check
    deadline = time.monotonic() + timeout
    while True:
        try:
            ok, seen = check(rivetr, host, expected)
        except OSError as exc:
            ok, seen = False, repr(exc)
        if ok:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{sample} on {rivetr.engine} never served {expected!r}; last: {seen}")
        time.sleep(0.2)


@pytest.mark.parametrize("sample", list(SAMPLES))
def test_sample_deploys_with_the_auto_builder_and_answers(bench: Bench, sample: str) -> None:
    rivetr, deployed = bench.rivetr, bench.apps[sample]
    _, lines = wait_running(rivetr, sample, deployed.first)
    assert any("with the autodetect builder" in line for line in lines), lines[:20]
    detected = [line for line in lines if line.startswith("[autodetect] detected ")]
    expected = f"[autodetect] detected {SAMPLES[sample].detected} with the "
    assert len(detected) == 1 and detected[0].startswith(expected), (sample, detected)
    wait_served(rivetr, sample, deployed.host, SAMPLES[sample].expected)
    port = SAMPLES[sample].port
    assert any(
        line.startswith(f"container port {port}: detected by the autodetect builder") for line in lines
    )
    assert rivetr.api.get(f"/api/apps/{deployed.app['id']}").json()["port"] == port  # recorded


#: A build step's first line: docker's legacy builder prints ``Step 5/12 : RUN npm ci``, buildah
#: ``STEP 4/12: RUN npm ci`` (``[1/2] STEP ...`` in a multi-stage build).
STEP = re.compile(r"^(?:\[\d+/\d+\] )?(?:Step|STEP) \d+/\d+ ?: (?P<instruction>.*)$")
#: What each engine prints under a step it served from its build cache.
CACHE_HIT = {
    "docker": re.compile(r"^ ---> Using cache$"),
    "podman": re.compile(r"^--> Using cache [0-9a-f]{64}$"),
}


def step_output(lines: list[str], instruction: str) -> list[str]:
    """The engine's output for the build step running ``instruction`` (up to the next step)."""
    out: list[str] | None = None
    for line in lines:
        step = STEP.match(line)
        if step and out is not None:
            break
        if step and step.group("instruction") == instruction:
            out = []
        elif out is not None:
            out.append(line)
    assert out is not None, f"no build step {instruction!r} in the log:\n" + "\n".join(lines)
    return out


@pytest.mark.parametrize("sample", list(CODE_CHANGES))
def test_a_code_only_change_reuses_the_cached_dependency_layer(bench: Bench, sample: str) -> None:
    rivetr, deployed = bench.rivetr, bench.apps[sample]
    source, install = CODE_CHANGES[sample]
    _, first_lines = wait_running(rivetr, sample, deployed.first)
    hit = CACHE_HIT[rivetr.engine]
    # The first build ran the install (its manifest is this run's own): the hit below is this app's layer.
    assert not any(hit.match(line) for line in step_output(first_lines, f"RUN {install}")), sample

    old = SAMPLES[sample].expected
    new = old.replace("hello from", "hello again from")
    deployed.repo.write(source, (APPS / sample / source).read_text().replace(old.strip(), new.strip()))
    deployed.repo.commit("code only")
    dep, lines = wait_running(rivetr, sample, rivetr.deploy(deployed.app["id"])["id"])
    installed = step_output(lines, f"RUN {install}")
    steps = [line for line in lines if STEP.match(line) or hit.match(line)]
    assert any(hit.match(line) for line in installed), f"{sample} on {rivetr.engine}:\n" + "\n".join(steps)
    # ...while the source layer was rebuilt: the change is in the image.
    copied = step_output(lines, 'COPY [".", "."]')
    assert not any(hit.match(line) for line in copied), (sample, rivetr.engine, copied)
    wait_served(rivetr, sample, deployed.host, new)
    assert dep["commit_sha"] == deployed.repo.head()

    # "Rebuild without cache" (deploy {"no_cache": true}): the same source, and the install step runs again.
    dep, lines = wait_running(rivetr, sample, rivetr.deploy(deployed.app["id"], no_cache=True)["id"])
    assert dep["no_cache"] is True, dep
    installed = step_output(lines, f"RUN {install}")
    assert installed and not any(hit.match(line) for line in installed), (sample, rivetr.engine, installed)
    assert not any(hit.match(line) for line in lines), f"{sample}: a cache hit in a no-cache build"
    wait_served(rivetr, sample, deployed.host, new)


# Both ways of choosing the autodetect builder get its explanation: select_builder (rivetr_core/engine/service.py)
# asks why_not of the builders it tried, "auto" (all of them) or the one the app names.
@pytest.mark.parametrize(
    "builder",
    ["auto", "autodetect"],
)
def test_a_repository_with_nothing_to_detect_fails_naming_what_was_looked_for(
    bench: Bench, builder: str
) -> None:
    rivetr = bench.rivetr
    name = f"ad-{rivetr.engine[:2]}-none-{'auto' if builder == 'auto' else 'named'}-{bench.suffix}"
    files = {"README.md": ("# notes\n", 0o644), "notes/todo.txt": ("nothing to run here\n", 0o644)}
    app = rivetr.create_app(bench.git.create_repo(name, files), name, builder=builder)
    dep = rivetr.wait(rivetr.deploy(app["id"])["id"])
    assert dep["status"] == "failed", dep
    assert not dep.get("container_id"), dep  # nothing was built, so nothing started
    error = dep["error"] or ""
    # Every detector's manifest (rivetr_builder_auto.detectors: LOOKS_FOR) and the way out.
    for looked_for in (
        "requirements.txt",
        "pyproject.toml",
        "Pipfile",
        "package.json",
        "go.mod",
        "index.html",
        "composer.json",
        "index.php",
        "Gemfile",
        "config.ru",
    ):
        assert looked_for in error, (looked_for, error)
    assert "Add a Dockerfile" in error, error
