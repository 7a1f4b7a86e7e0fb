"""The layering of core and plugins, checked by parsing imports (no plugin is imported to check it).

* A plugin (every package under ``plugins/*/src``, the dashboard under ``ui/src`` and the third-party
  examples under ``examples/*/src``) imports from core only the contract, ``rivetr_core.contract`` and its
  modules, plus ``hookimpl``/``__version__`` from the package root: what docs/plugins.md promises
  third-party authors is all the built-in plugins use too.
* Core never imports a plugin package (plugins are found through entry points only).

The dashboard is a plugin that reads its pages' data through core's read-model (``rivetr_core.readmodels``) and
shares the sign-in pieces with the API (accounts, session cookie, rate limit, error pages, the request context);
those imports are listed below, each with its reason. An entry that is no longer used fails the test too, so
the list only shrinks.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# examples/ too: they are what third-party authors copy, so they keep the same rule.
PLUGIN_SRCS = [*sorted(ROOT.glob("plugins/*/src")), ROOT / "ui" / "src", *sorted(ROOT.glob("examples/*/src"))]
ROOT_NAMES = {"hookimpl", "__version__"}

#: Core modules the dashboard (ui/src) may still import, with the reason. Shrink it, never grow it lightly.
UI_EXCEPTIONS: dict[str, str] = {
    "rivetr_core.accounts": "CSRF tokens of the session and their constant-time check, shared with the API",
    "rivetr_core.accounts.service": "sessions, tokens and account errors of the settings and login pages",
    "rivetr_core.accounts.setup": "first-run setup proof shared with the API's setup endpoint",
    "rivetr_core.accounts.web": "the session cookie, shared with the API's cookie authentication",
    "rivetr_core.accounts.two_factor": "the login's code step and the profile's enrolment use the API's 2FA service",
    "rivetr_core.accounts.passkeys": "the profile lists the user's passkeys through the API's passkey service",
    "rivetr_core.accounts.invitations": "the Users page and the public invite/reset pages use the API's link service",
    "rivetr_core.accounts.users": "the Users page administers users through the API's user service",
    "rivetr_core.accounts.user_responses": "the Users page shows users and links as the API does",
    "rivetr_core.accounts.responses": "the Teams page shows a team's tokens as the API does",
    "rivetr_core.authz": "pages and their buttons follow the API's own principal, permissions and team filter",
    "rivetr_core.pagination": "the Users and Teams pages read a page of the same services the API pages through",
    "rivetr_core.services.team_responses": "the Teams pages show teams and members as the API does",
    "rivetr_core.context": "the dashboard reads core's services from the request context",
    "rivetr_core.autodomains": "the app page shows the app's generated domain as the API does",
    "rivetr_core.apppages": "the Settings tab shows the app's maintenance switch and error pages as the API does",
    "rivetr_core.errors": "HTML error pages for the same ApiError the API answers as JSON",
    "rivetr_core.ratelimit": "the login form is rate limited like the API",
    "rivetr_core.readmodels": "the read-model: plain data objects for the dashboard's pages, and how the API "
    "writes timestamps and git URLs",
}


def _python_files(src: Path) -> Iterator[Path]:
    for path in sorted(src.rglob("*.py")):
        if ".egg-info" not in str(path):
            yield path


def core_imports(path: Path) -> list[tuple[int, str]]:
    """Every ``rivetr_core`` module ``path`` imports outside the contract, with its line."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "rivetr_core":
                names = [f"rivetr_core.{a.name}" for a in node.names if a.name not in ROOT_NAMES]
            else:
                names = [node.module]
        else:
            continue
        for name in names:
            if name.split(".")[0] != "rivetr_core":
                continue
            if name == "rivetr_core.contract" or name.startswith("rivetr_core.contract."):
                continue
            found.append((node.lineno, name))
    return found


def plugin_packages() -> set[str]:
    return {p.name for src in PLUGIN_SRCS for p in src.iterdir() if (p / "__init__.py").exists()}


def test_the_scan_sees_what_it_must_refuse(tmp_path: Path) -> None:
    """The parser itself: every spelling of a core import outside the contract is reported, none inside."""
    sample = tmp_path / "m.py"
    sample.write_text(
        "import rivetr_core.config\n"
        "from rivetr_core import hookimpl, __version__\n"
        "from rivetr_core import models\n"
        "from rivetr_core.contract import PluginContext\n"
        "from rivetr_core.contract.signing import header\n"
        "def f():\n"
        "    from rivetr_core.types import BuildSpec\n"
        "from rivetr_core_extra import x\n"
    )
    assert [name for _, name in core_imports(sample)] == [
        "rivetr_core.config",
        "rivetr_core.models",
        "rivetr_core.types",
    ]


@pytest.mark.parametrize("src", PLUGIN_SRCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_plugins_import_only_the_contract(src: Path) -> None:
    allowed = UI_EXCEPTIONS if src == ROOT / "ui" / "src" else {}
    offending = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for path in _python_files(src)
        for line, name in core_imports(path)
        if name not in allowed
    ]
    assert not offending, (
        "plugins may import only rivetr_core.contract (and hookimpl/__version__):\n" + "\n".join(offending)
    )


def test_ui_exceptions_are_all_still_needed() -> None:
    used = {name for path in _python_files(ROOT / "ui" / "src") for _, name in core_imports(path)}
    stale = sorted(set(UI_EXCEPTIONS) - used)
    assert not stale, f"ui/src no longer imports {stale}: remove them from UI_EXCEPTIONS"


def test_core_never_imports_a_plugin() -> None:
    packages = plugin_packages()
    assert {"rivetr_ui", "rivetr_runtime_docker", "rivetr_proxy_builtin"} <= packages
    offending = []
    for path in _python_files(ROOT / "rivetr_core"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            offending += [
                f"{path.relative_to(ROOT)}:{node.lineno}: {n}" for n in names if n.split(".")[0] in packages
            ]
    assert not offending, "core must find plugins through entry points, never import them:\n" + "\n".join(
        offending
    )


def test_nothing_in_the_repository_imports_the_old_types_shim() -> None:
    """``rivetr_core.types`` stays only for outside code written against it; everything here imports
    ``rivetr_core.contract`` (the shim's own test in tests/test_contract.py excepted)."""
    roots = [ROOT / "rivetr_core", ROOT / "plugins", ROOT / "ui" / "src", ROOT / "examples", ROOT / "tests"]
    offending = []
    for root in roots:
        for path in _python_files(root):
            if path in (
                ROOT / "rivetr_core" / "types.py",
                ROOT / "tests" / "test_contract.py",
                Path(__file__),
            ):
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module or ""]
                elif isinstance(node, ast.ImportFrom):  # relative: .types inside rivetr_core, ..types below
                    names = [f"<relative>.{node.module}"] if node.module == "types" else []
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                else:
                    continue
                offending += [
                    f"{path.relative_to(ROOT)}:{node.lineno}: {n}"
                    for n in names
                    if n == "rivetr_core.types" or (n == "<relative>.types" and "rivetr_core" in path.parts)
                ]
    assert not offending, "import rivetr_core.contract instead of the shim:\n" + "\n".join(offending)


def test_api_handlers_hold_no_data_access() -> None:
    """Handlers parse, call a service, serialise: no module under rivetr_core/api imports the ORM or the
    tables, or opens a database session (that belongs to the services, which tests call without a request)."""
    offending = []
    for path in _python_files(ROOT / "rivetr_core" / "api"):
        text = path.read_text()
        for node in ast.walk(ast.parse(text, str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            offending += [
                f"{path.relative_to(ROOT)}:{node.lineno}: imports {n}"
                for n in names
                if n.split(".")[0] in ("sqlmodel", "sqlalchemy") or n.startswith("rivetr_core.models")
            ]
        if ".session()" in text:
            offending.append(f"{path.relative_to(ROOT)}: opens a database session")
    assert not offending, "move data access into a service:\n" + "\n".join(offending)
