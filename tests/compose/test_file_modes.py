"""Compose configs' and secrets' ``uid``/``gid``/``mode``, configs from ``content:`` and ``environment:``, and
``deploy.restart_policy.condition``: what the loader makes of them (the swarm runtime applies the first ones, see
plugins/runtime-swarm/tests/test_stack_secret_firewall_units.py), and what it still refuses."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.compose import ComposeError, FileMountSpec, load_compose
from rivetr_core.compose.model import CONTENT_SOURCE, ENV_SOURCE, ServiceSpec

COMPOSE = """
services:
  app:
    image: x
    configs:
      - source: site
        target: /etc/site.conf
        uid: "101"
        gid: "102"
        mode: 0440
      - inline
      - source: from_env
        mode: 0600
    secrets:
      - source: token
        mode: 0400
configs:
  site: {file: ./site.conf}
  inline:
    content: |
      hello ${WHO}
  from_env: {environment: SITE_NAME}
secrets:
  token: {environment: TOKEN}
"""


def _load(text: str, tmp_path: Path, env: dict[str, str] | None = None) -> Any:
    (tmp_path / "site.conf").write_text("listen 80;\n")
    env = {"WHO": "world", "SITE_NAME": "shop", "TOKEN": "t", **(env or {})}
    return load_compose(textwrap.dedent(text), env=env, base_dir=tmp_path)


def test_uid_gid_mode_and_the_config_sources(tmp_path: Path) -> None:
    app = _load(COMPOSE, tmp_path).services["app"]
    site = str((tmp_path / "site.conf").absolute())
    assert app.files == [
        FileMountSpec("config", "site", site, "/etc/site.conf", uid="101", gid="102", mode=0o440),
        FileMountSpec("config", "inline", f"{CONTENT_SOURCE}hello world\n", "/inline"),
        FileMountSpec("config", "from_env", f"{ENV_SOURCE}SITE_NAME", "/from_env", mode=0o600),
        FileMountSpec("secret", "token", f"{ENV_SOURCE}TOKEN", "/run/secrets/token", mode=0o400),
    ]


def test_a_file_without_uid_gid_mode_keeps_its_hash() -> None:
    """Services deployed before these fields existed are not recreated by the next deployment."""
    plain = ServiceSpec("a", image="x", files=[FileMountSpec("secret", "s", "/f", "/run/secrets/s")])
    moded = ServiceSpec(
        "a", image="x", files=[FileMountSpec("secret", "s", "/f", "/run/secrets/s", mode=0o400)]
    )
    # The hash of the same spec as the code before computed it (files without the three keys).
    assert plain.config_hash("img") == "d9c1a49c56832561723a5db1a454d2f0e2894eb27576e7d6e8f17b25d0bb7b88"
    assert plain.config_hash("img") != moded.config_hash("img")


@pytest.mark.parametrize(
    ("entry", "field", "fragment"),
    [
        ('{source: token, uid: "root"}', "services.app.secrets[0].uid", "must be a number"),
        ("{source: token, mode: 01000}", "services.app.secrets[0].mode", "permission bits"),
        ("{source: token, mode: 1.5}", "services.app.secrets[0].mode", "permission bits"),
    ],
)
def test_bad_owner_or_mode_is_refused_naming_the_field(
    tmp_path: Path, entry: str, field: str, fragment: str
) -> None:
    text = COMPOSE.replace("      - source: token\n        mode: 0400\n", f"      - {entry}\n")
    with pytest.raises(ComposeError) as caught:
        _load(text, tmp_path)
    [detail] = caught.value.details
    assert detail["field"] == field and fragment in detail["message"], detail


def test_a_config_needs_a_source_and_its_variable(tmp_path: Path) -> None:
    with pytest.raises(ComposeError) as caught:
        _load(COMPOSE.replace("  from_env: {environment: SITE_NAME}", "  from_env: {name: x}"), tmp_path)
    assert "needs a 'file:', a 'content:' or an 'environment:'" in str(caught.value.details)
    with pytest.raises(ComposeError) as caught:
        load_compose(textwrap.dedent(COMPOSE), env={"WHO": "w", "TOKEN": "t"}, base_dir=tmp_path)
    assert "configs.from_env.environment: the stack's environment has no variable 'SITE_NAME'" in str(
        caught.value.details
    )


@pytest.mark.parametrize(
    ("deploy", "restart"),
    [
        ("{restart_policy: {condition: any}}", "always"),
        ("{restart_policy: {condition: on-failure}}", "on-failure"),
        ("{restart_policy: {condition: none}}", "no"),
    ],
)
def test_deploy_restart_policy_condition_wins_over_restart(tmp_path: Path, deploy: str, restart: str) -> None:
    text = "services:\n  a:\n    image: x\n    restart: unless-stopped\n    deploy: " + deploy + "\n"
    assert load_compose(text, env={}).services["a"].restart == restart


def test_an_unknown_restart_condition_is_refused() -> None:
    with pytest.raises(ComposeError) as caught:
        load_compose(
            "services:\n  a:\n    image: x\n    deploy: {restart_policy: {condition: sometimes}}\n", env={}
        )
    [detail] = caught.value.details
    assert detail["field"] == "services.a.deploy.restart_policy.condition"
