"""``load_compose``: compose text to a :class:`ComposeProject`, or one :class:`ComposeError` listing every
problem of the first stage that found any.

Stages, in order (each needs the previous one's guarantees): YAML (safe loader, size and alias caps) ->
interpolation of every string value from the stack env -> the Compose Specification schema -> Rivetr's
supported subset -> normalisation of each service (paths, ports, units) -> rules across services ->
profiles. PyYAML and jsonschema are imported by the stages that use them, never at import time.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rivetr_core.compose.errors import ComposeError, problem
from rivetr_core.compose.interpolate import interpolate_tree, variables_in
from rivetr_core.compose.model import ComposeProject
from rivetr_core.compose.normalise import Context, ServiceNormaliser
from rivetr_core.compose.paths import fmt_path
from rivetr_core.compose.schema import schema_problems
from rivetr_core.compose.semantics import dependency_problems, port_problems
from rivetr_core.compose.subset import subset_problems
from rivetr_core.compose.yamlfile import Positions, parse_yaml

# Service names become container names and DNS aliases (``<stack>-<service>``): one DNS label, lower case.
_SERVICE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def load_compose(
    text: str,
    *,
    env: Mapping[str, str],
    base_dir: Path | None = None,
    profiles: Sequence[str] = (),
    allow_build: bool = True,
    allowed_bind_roots: Sequence[str] = (),
    file_name: str = "compose.yaml",
) -> ComposeProject:
    """Parse, interpolate, validate and normalise one compose file.

    ``base_dir`` is the directory of the file in a git checkout; None for a pasted file, which then may not
    use ``build``, ``env_file``, relative binds or configs/secrets files. ``allowed_bind_roots`` is the
    server's ``[volumes] allowed_bind_roots`` (empty: binds are refused). ``profiles`` are the enabled
    compose profiles. Raises :class:`ComposeError` (HTTP 422) whose ``details`` name every problem found by
    the first failing stage, with the line and column where the file spells the field out.
    """
    data, positions = parse_yaml(text, file_name)
    if base_dir is not None:  # bind sources and file paths come out absolute whatever the caller's cwd
        base_dir = Path(os.path.abspath(base_dir))
    try:
        return _load(data, env, base_dir, profiles, allow_build, allowed_bind_roots)
    except ComposeError as exc:
        raise _with_positions(exc, positions) from None


def referenced_variables(text: str) -> list[str]:
    """Names of the variables the file interpolates (nested defaults included; ``$$`` escapes and ``x-``
    top-level sections excluded), each once, in order of appearance: what a form should ask for. Raises
    :class:`ComposeError` when the text is not valid YAML."""
    data, _ = parse_yaml(text)
    names: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            names.extend(n for n in variables_in(value) if n not in names)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk({k: v for k, v in data.items() if not str(k).startswith("x-")})
    return names


def _load(
    data: dict[str, Any],
    env: Mapping[str, str],
    base_dir: Path | None,
    profiles: Sequence[str],
    allow_build: bool,
    bind_roots: Sequence[str],
) -> ComposeProject:
    problems: list[dict[str, Any]] = []
    warnings: list[str] = []
    # Top-level x- sections only hold anchors for the rest: compose does not interpolate them either.
    data = {
        key: value if str(key).startswith("x-") else interpolate_tree(value, env, (key,), problems, warnings)
        for key, value in data.items()
    }
    _raise_if(problems)
    _raise_if(schema_problems(data))
    _raise_if(subset_problems(data))

    name = data.get("name")
    if name is not None and (not isinstance(name, str) or not _PROJECT_NAME.match(name)):
        problems.append(
            problem(
                "name", "must be lower case letters, digits, '-' and '_', starting with a letter or digit"
            )
        )
    raw_services: dict[str, Any] = data.get("services") or {}
    if not raw_services:
        problems.append(problem("services", "the file defines no services"))
    for service in raw_services:
        if not _SERVICE_NAME.match(service):
            problems.append(
                problem(
                    f"services.{service}",
                    "a service name must be lower case letters, digits, '-' and '_' (at most 63, starting with a"
                    " letter or digit): it becomes a container name and a DNS alias",
                    service=service,
                )
            )
    _raise_if(problems)

    ctx = Context(
        env=env,
        base_dir=base_dir,
        allow_build=allow_build,
        bind_roots=[posixpath.normpath(r) for r in bind_roots if r],
        volumes={k: v or {} for k, v in (data.get("volumes") or {}).items()},
        networks={k: v or {} for k, v in (data.get("networks") or {}).items()},
        configs=data.get("configs") or {},
        secrets=data.get("secrets") or {},
    )
    normaliser = ServiceNormaliser(ctx, problems)
    specs = {name: normaliser.service(name, raw or {}) for name, raw in raw_services.items()}
    enabled = set(profiles)
    active = {name for name, spec in specs.items() if not spec.profiles or enabled & set(spec.profiles)}
    problems.extend(dependency_problems(specs, active))
    problems.extend(port_problems({name: specs[name] for name in active}))
    _raise_if(problems)

    networks: dict[str, dict[str, Any]] = {"default": {}}
    networks.update(ctx.networks)
    return ComposeProject(
        services={name: spec for name, spec in specs.items() if name in active},
        volumes=dict(ctx.volumes),
        networks=networks,
        disabled_services=sorted(set(specs) - active),
        warnings=warnings,
        name=name,
    )


def _raise_if(problems: list[dict[str, Any]]) -> None:
    if problems:
        raise ComposeError.of(problems)


def _with_positions(exc: ComposeError, positions: Positions) -> ComposeError:
    """Adds ``line``/``column`` to each problem from the field it names (or its nearest spelled-out parent)."""
    by_field = {fmt_path(path): where for path, where in positions.items()}
    for entry in exc.details or []:
        field = entry.get("field")
        while field and "line" not in entry:
            if field in by_field:
                entry["line"], entry["column"] = by_field[field]
                break
            cut = max(field.rfind("."), field.rfind("["))
            field = field[:cut] if cut > 0 else ""
    return exc
