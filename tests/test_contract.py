"""The plugin contract package: complete, documented, light, and reachable through its old import paths."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

import rivetr_core.contract as contract

CONTRACT_DIR = Path(contract.__file__).parent
CAPABILITIES = [
    "runtime",
    "builder",
    "git",
    "health",
    "notifier",
    "proxy",
    "events",
    "errors",
    "plugin",
    "templates",
]
HELPERS = ["signing", "hostapi", "repofiles", "units"]


def _public_classes(module_name: str) -> dict[str, type]:
    module = importlib.import_module(f"rivetr_core.contract.{module_name}")
    return {
        name: obj
        for name, obj in vars(module).items()
        if inspect.isclass(obj) and obj.__module__ == module.__name__ and not name.startswith("_")
    }


def test_one_module_per_capability_all_reexported() -> None:
    for name in CAPABILITIES:
        classes = _public_classes(name)
        assert classes, f"contract.{name} defines nothing"
        for cls_name, cls in classes.items():
            assert getattr(contract, cls_name) is cls, f"{cls_name} not re-exported from rivetr_core.contract"
            assert cls_name in contract.__all__
    assert sorted(contract.__all__) == sorted(set(contract.__all__))


def _registration_fields_without_doc(module_name: str) -> list[str]:
    """Fields of the module's ``*Registration`` dataclasses not preceded by a ``#:`` comment."""
    path = CONTRACT_DIR / f"{module_name}.py"
    lines = path.read_text().splitlines()
    missing = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ClassDef) and node.name.endswith("Registration"):
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    if not lines[item.lineno - 2].strip().startswith("#:"):
                        missing.append(f"{node.name}.{item.target.id}")
    return missing


def test_every_registration_field_is_documented() -> None:
    registrations = [n for m in CAPABILITIES for n in _public_classes(m) if n.endswith("Registration")]
    # runtime, builder, git, health, notifier, proxy, blueprint, config model, template
    assert len(registrations) == 9
    missing = [f for m in CAPABILITIES for f in _registration_fields_without_doc(m)]
    assert not missing, f"registration fields without a #: comment: {missing}"
    for name in registrations:
        cls = getattr(contract, name)
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen, name  # type: ignore[attr-defined]
        # A dataclass without a docstring gets its signature as __doc__.
        assert cls.__doc__ and not cls.__doc__.startswith(f"{name}("), f"{name} has no docstring"


def test_the_doc_check_sees_an_undocumented_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sample.py").write_text(
        "class SampleRegistration:\n    #: documented\n    name: str\n    factory: object\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "CONTRACT_DIR", tmp_path)
    assert _registration_fields_without_doc("sample") == ["SampleRegistration.factory"]


@pytest.mark.parametrize(
    ("old", "new", "names"),
    [
        (
            "rivetr_core.webhooks.signing",
            "rivetr_core.contract.signing",
            ["header", "verify_hmac_sha256", "verify_token"],
        ),
        (
            "rivetr_core.gitproviders.hostapi",
            "rivetr_core.contract.hostapi",
            ["expect_ok", "join", "link_has_next"],
        ),
        ("rivetr_core.repofiles", "rivetr_core.contract.repofiles", ["read_repo_file", "UnsafeRepoFile"]),
        ("rivetr_core.units", "rivetr_core.contract.units", ["parse_size", "parse_cpus"]),
    ],
)
def test_old_import_paths_still_work(old: str, new: str, names: list[str]) -> None:
    for name in names:
        assert getattr(importlib.import_module(old), name) is getattr(importlib.import_module(new), name)


def test_types_is_a_shim_of_the_contract() -> None:
    import rivetr_core.types as types

    for name in contract.__all__:
        assert getattr(types, name) is getattr(contract, name)
    # Nothing defined there any more: new contract types go into their capability's module.
    tree = ast.parse(Path(types.__file__).read_text())
    defined = [
        n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
    ]
    assert not defined, f"rivetr_core/types.py defines {defined}: move them into rivetr_core/contract/"


def test_importing_the_contract_stays_light() -> None:
    """A plugin's entry-point module imports the contract at server start: no web framework, ORM or pydantic."""
    code = (
        "import sys, json; import rivetr_core.contract, rivetr_core.contract.signing, rivetr_core.contract.hostapi,"
        " rivetr_core.contract.repofiles, rivetr_core.contract.units;"
        " print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('quart', 'sqlalchemy', 'sqlmodel', 'pydantic', 'httpx', 'docker', 'rivetr_core'))))"
    )
    loaded = json.loads(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    )
    heavy = [m for m in loaded if not m.startswith("rivetr_core")]
    assert not heavy, heavy
    core = {m for m in loaded if not m.startswith("rivetr_core.contract")}
    assert core == {"rivetr_core"}, f"the contract pulls in core internals: {sorted(core)}"
