"""Configuration: defaults, file, environment overrides, validation messages, the example file."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from rivetr_core.config import MOVED_KEYS, ConfigError, RivetrConfig, load_config

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_without_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RIVETR_CONFIG", raising=False)
    cfg = load_config(None)
    assert cfg.server.api_port == 8080
    assert cfg.server.proxy_port == 80
    assert cfg.server.proxy_https_port == 443
    assert cfg.server.data_dir == Path("./data")
    assert cfg.runtime.runtime_type == "auto"
    assert cfg.logging.format == "text"
    assert cfg.auth.admin_token is None


def test_file_values_and_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "rivetr.toml"
    path.write_text(
        '[server]\napi_port = 9100\nhost = "127.0.0.1"\n[runtime]\nruntime_type = "podman"\n'
        '[plugins.proxy-builtin]\nmax_body_size = "100m"\n[oauth.github]\nclient_id = "x"\n'
        'client_secret = "s3cr3t-value"\n'
    )
    monkeypatch.setenv("RIVETR_SERVER__API_PORT", "9000")
    monkeypatch.setenv("RIVETR_LOGGING__LEVEL", "debug")
    cfg = load_config(path)
    assert cfg.server.api_port == 9000  # env wins over the file
    assert cfg.server.host == "127.0.0.1"  # file wins over defaults
    assert cfg.runtime.runtime_type == "podman"
    assert cfg.logging.level == "DEBUG"
    assert cfg.plugin_section("proxy-builtin") == {"max_body_size": "100m"}  # the plugin's model parses it
    assert cfg.oauth["github"].client_secret.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(cfg)  # secrets never show in reprs (and so in logs)


def test_config_env_var_names_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[server]\nproxy_port = 8081\n")
    monkeypatch.setenv("RIVETR_CONFIG", str(path))
    assert load_config().server.proxy_port == 8081


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('[server]\napi_port = "eighty"\n', "server.api_port: Input should be a valid integer"),
        ("[server]\napi_port = 70000\n", "server.api_port: Input should be less than or equal to 65535"),
        ("[server]\nbogus = 1\n", "server.bogus: unknown key"),
        ("[nosuchsection]\na = 1\n", "nosuchsection: unknown key"),
        ('[logging]\nformat = "xml"\n', "logging.format"),
        ('[runtime]\ndefault_memory_limit = "lots"\n', "runtime.default_memory_limit: invalid size"),
        ('[oauth.github]\nclient_id = "x"\n', "oauth.github.client_secret: required key is missing"),
        ("[server\n", "not valid TOML"),
    ],
)
def test_validation_errors_name_the_key(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert any(expected in problem for problem in info.value.problems), info.value.problems


def test_env_typo_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIVETR_SERVER__API_PORTT", "1")
    with pytest.raises(ConfigError, match=r"server.api_portt: unknown key"):
        load_config(None)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def _model_keys(model: type, prefix: str = "") -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
            keys |= _model_keys(annotation, f"{prefix}{name}.")
        else:
            keys.add(f"{prefix}{name}")
    return keys


def _toml_keys(data: dict, prefix: str = "") -> set[str]:
    keys = set()
    for name, value in data.items():
        if isinstance(value, dict) and value:  # an empty inline table is a key's value ({}), not a section
            keys |= _toml_keys(value, f"{prefix}{name}.")
        else:
            keys.add(f"{prefix}{name}")
    return keys


def test_example_file_documents_every_key_and_is_valid() -> None:
    example = ROOT / "rivetr.example.toml"
    text = example.read_text().split("## OAuth apps")[0]
    # Every key appears, commented out (defaults) or set.
    uncommented = "\n".join(
        line[2:] if re.match(r"^# [a-z_]+ = ", line) else line for line in text.splitlines()
    )
    documented = _toml_keys(tomllib.loads(uncommented))
    moved = {f"{section}.{key}" for section, key in MOVED_KEYS}  # deprecated: only in docs/configuration.md
    expected = {k for k in _model_keys(RivetrConfig) if not k.startswith("oauth")} - moved
    assert expected - documented == set(), f"undocumented keys: {sorted(expected - documented)}"
    assert documented - expected == set()
    load_config(example)  # the example itself is valid


def test_example_file_is_current() -> None:
    import runpy

    generator = runpy.run_path(str(ROOT / "scripts" / "gen_example_config.py"))
    assert (ROOT / "rivetr.example.toml").read_text() == generator["render"](), (
        "rivetr.example.toml is stale: run .venv/bin/python scripts/gen_example_config.py"
    )
