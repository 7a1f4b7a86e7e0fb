"""The preview policy's table applied to a file's keys (rivetr_core/engine/preview_policy.py, issue 24): what a
same-repository and a fork's preview keep, and the caps on a fork's limits (0 and null mean unlimited or the
server default, never "lower")."""

from __future__ import annotations

from rivetr_core.config import PreviewsConfig, RuntimeConfig
from rivetr_core.engine.preview_policy import POLICY, filter_for_preview
from rivetr_core.models.apps import App

GIB = 1024**3


def _filter(document: dict, *, fork: bool, base: App | None = None, runtime: RuntimeConfig | None = None):
    base = base or App(
        name="web", git_url="https://example.com/web.git", memory_limit=GIB // 4, cpu_limit=0.5
    )
    preview = App(
        name="web-pr-1", git_url=base.git_url, memory_limit=base.memory_limit, cpu_limit=base.cpu_limit
    )
    return filter_for_preview(
        document,
        fork=fork,
        preview=preview,
        base=base,
        runtime=runtime or RuntimeConfig(),
        previews=PreviewsConfig(),
    )


def test_a_fork_keeps_only_what_stays_inside_its_preview() -> None:
    document = {
        "port": 8080,
        "env": {"A": "b"},
        "volumes": [{"name": "data", "mount_path": "/data"}],
        "links": [{"service": "db"}],
        "tasks": [],
        "backups": [],
        "domains": ["x.example.com"],
        "source": {"kind": "image", "image": "evil/image"},
        "git_settings": {"previews_enabled": True},
    }
    out = _filter(document, fork=True)
    assert out.kept == {"port": 8080, "env": {"A": "b"}}
    assert out.ignored == ["volumes", "links", "tasks", "backups", "domains", "source", "git_settings"]
    assert out.lines[0] == "rivetr.toml: volumes ignored for a fork's preview (preview policy)"
    same = _filter(document, fork=False)
    assert same.ignored == ["domains", "git_settings"]
    assert same.lines[0] == "rivetr.toml: domains ignored for a pull request's preview (preview policy)"


def test_a_fork_cannot_raise_its_limits() -> None:
    lower = {"cpu_limit": 0.25, "memory_limit": GIB // 8, "replicas": 1}
    assert _filter(lower, fork=True).kept == lower
    higher = {"cpu_limit": 0.75, "memory_limit": GIB // 2, "replicas": 2, "pids_limit": 0}
    out = _filter(higher, fork=True)
    assert out.kept == {} and out.ignored == ["cpu_limit", "memory_limit", "replicas", "pids_limit"]
    # 0 is unlimited: above any limit; a same-repository preview takes it.
    assert _filter({"memory_limit": 0}, fork=True).ignored == ["memory_limit"]
    assert _filter({"memory_limit": 0}, fork=False).kept == {"memory_limit": 0}


def test_a_fork_stays_under_the_fork_build_caps_when_the_base_app_is_unlimited() -> None:
    base = App(name="web", git_url="https://example.com/web.git", memory_limit=0, cpu_limit=None)
    runtime = RuntimeConfig(default_cpu_limit=None, default_memory_limit=None)
    caps = PreviewsConfig()
    assert caps.fork_build_cpu_limit == 1.0 and caps.fork_build_memory_limit == GIB
    out = _filter({"cpu_limit": 2.0, "memory_limit": 2 * GIB}, fork=True, base=base, runtime=runtime)
    assert out.ignored == ["cpu_limit", "memory_limit"]
    out = _filter({"cpu_limit": 1.0, "memory_limit": GIB}, fork=True, base=base, runtime=runtime)
    assert out.kept == {"cpu_limit": 1.0, "memory_limit": GIB}


def test_every_rule_is_known_and_explained() -> None:
    for key, (same, fork, why) in POLICY.items():
        assert same in ("apply", "drop") and fork in ("apply", "drop", "cap") and why, key
