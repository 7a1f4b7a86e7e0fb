"""The docs stay true: the configuration reference is generated from the model, the example config names every
key, relative links resolve, and every API path the guides cite exists in the app."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest
from pydantic import BaseModel

from rivetr_core.config import MOVED_KEYS, OAuthProviderConfig, RivetrConfig

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GUIDES = sorted(p.name for p in DOCS.glob("*.md"))


def model_keys() -> list[tuple[str, str]]:
    keys = []
    for section, field in RivetrConfig.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            keys += [(section, name) for name in field.annotation.model_fields]
    return keys


def test_configuration_reference_is_current() -> None:
    generator = runpy.run_path(str(DOCS / "gen_config.py"))
    assert (DOCS / "configuration.md").read_text() == generator["render"](), (
        "docs/configuration.md is stale: run .venv/bin/python docs/gen_config.py"
    )


def test_configuration_reference_documents_every_key_with_its_env_var() -> None:
    text = (DOCS / "configuration.md").read_text()
    for section, key in model_keys():
        assert f"`RIVETR_{section.upper()}__{key.upper()}`" in text, f"{section}.{key}"
    for key in OAuthProviderConfig.model_fields:
        assert f"| `{key}` |" in text


def test_example_config_names_every_key_of_the_model() -> None:
    example = (ROOT / "rivetr.example.toml").read_text()
    sections = {m.group(1): m.start() for m in re.finditer(r"^#? ?\[([a-z_]+)\]$", example, re.M)}
    for section, key in model_keys():
        if (section, key) in MOVED_KEYS:
            continue  # deprecated keys are listed in docs/configuration.md only
        assert section in sections, f"[{section}] missing from rivetr.example.toml"
        assert re.search(rf"^# ?{key} = ", example[sections[section] :], re.M), f"{section}.{key}"


@pytest.mark.parametrize("name", GUIDES)
def test_relative_links_resolve(name: str) -> None:
    text = (DOCS / name).read_text()
    for target in re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", text):
        assert (DOCS / target).resolve().exists(), f"{name}: broken link {target}"


def _pattern(path: str) -> re.Pattern[str]:
    parts = [("[^/]+" if re.search(r"[{<$]", seg) else re.escape(seg)) for seg in path.strip("/").split("/")]
    return re.compile("^/" + "/".join(parts) + "$")


def test_api_paths_cited_in_the_guides_exist(tmp_path: Path) -> None:
    from rivetr_core.app import create_app
    from tests.support.server import make_config

    app = create_app(make_config(tmp_path))
    rules = [re.sub(r"<[^>]+>", "x", rule.rule) for rule in app.url_map.iter_rules()]
    cited = set()
    for name in GUIDES:
        for path in re.findall(r"(/api/[A-Za-z0-9_\-/{}<>$.]*[A-Za-z0-9_}>])", (DOCS / name).read_text()):
            cited.add(path.split("?")[0])
    assert len(cited) > 20
    missing = [p for p in sorted(cited) if not any(_pattern(p).match(r) for r in rules)]
    assert not missing, f"paths cited in docs/ that the app does not serve: {missing}"
