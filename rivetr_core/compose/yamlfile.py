"""Reading the YAML of a compose file safely: size cap, alias-bomb cap, safe constructors only, and the
line/column of every key so later problems can point at the file.

PyYAML is imported inside :func:`parse_yaml` only: the server must not pay for it at start-up.
"""

from __future__ import annotations

from typing import Any

from rivetr_core.compose.errors import ComposeError, problem
from rivetr_core.compose.paths import Path_, fmt_path

MAX_BYTES = 1024 * 1024
# Nodes visited with aliases expanded: a real compose file has a few thousand; "billion laughs" has billions.
MAX_NODES = 100_000
# Nesting deeper than this is no compose file; the later stages recurse, and a recursive alias is infinitely deep.
MAX_DEPTH = 64

Positions = dict[Path_, tuple[int, int]]


def parse_yaml(text: str, file_name: str = "compose.yaml") -> tuple[Any, Positions]:
    """The document as plain Python data plus ``{path: (line, column)}`` (1-based) for each mapping key and
    list item. Raises :class:`ComposeError` for oversize input, invalid YAML, alias bombs and non-string keys."""
    import yaml

    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise ComposeError.one(None, f"{file_name} is larger than {MAX_BYTES // 1024} KiB")
    try:
        # The reader checks every character first: a control character or a lone surrogate is refused here.
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:
        raise ComposeError.one(None, f"invalid YAML in {file_name}: {exc}") from None
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            raise _yaml_error(exc, file_name) from None
        except yaml.YAMLError as exc:
            raise ComposeError.one(None, f"invalid YAML in {file_name}: {exc}") from None
        if node is None:
            raise ComposeError.one(None, f"{file_name} is empty: expected a mapping with a 'services' key")
        positions: Positions = {}
        _walk(node, (), positions, file_name)
        try:
            data = loader.construct_document(node)
        except yaml.MarkedYAMLError as exc:
            raise _yaml_error(exc, file_name) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ComposeError.one(
            None,
            f"{file_name} must be a mapping with a 'services' key, not a {type(data).__name__}",
            line=node.start_mark.line + 1,
            column=node.start_mark.column + 1,
        )
    return data, positions


def _yaml_error(exc: Any, file_name: str) -> ComposeError:
    mark = exc.problem_mark or exc.context_mark
    what = " ".join(part for part in (exc.context, exc.problem) if part) or "syntax error"
    if mark is None:
        return ComposeError.one(None, f"invalid YAML in {file_name}: {what}")
    line, column = mark.line + 1, mark.column + 1
    return ComposeError(
        f"invalid YAML at line {line}, column {column}: {what}",
        details=[problem(None, f"invalid YAML: {what}", line=line, column=column)],
    )


def _walk(root: Any, root_path: Path_, positions: Positions, file_name: str) -> None:
    """Counts nodes with aliases expanded (iteratively: a recursive alias must hit the cap, not the stack) and
    records positions the first time a path is seen. Merge keys (``<<``) are walked as written."""
    import yaml

    stack: list[tuple[Any, Path_]] = [(root, root_path)]
    seen = 0
    while stack:
        node, path = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise ComposeError.one(
                fmt_path(path) or None,
                f"{file_name} expands to more than {MAX_NODES} YAML nodes (aliases nested too deeply)",
                line=node.start_mark.line + 1,
                column=node.start_mark.column + 1,
            )
        if len(path) > MAX_DEPTH:
            raise ComposeError.one(
                None,
                f"{file_name} nests deeper than {MAX_DEPTH} levels (or an alias refers to itself)",
                line=node.start_mark.line + 1,
                column=node.start_mark.column + 1,
            )
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise ComposeError.one(
                        fmt_path(path) or None,
                        "mapping keys must be plain strings",
                        line=key_node.start_mark.line + 1,
                        column=key_node.start_mark.column + 1,
                    )
                child = (*path, key_node.value)
                positions.setdefault(child, (key_node.start_mark.line + 1, key_node.start_mark.column + 1))
                stack.append((value_node, child))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                child = (*path, index)
                positions.setdefault(child, (item.start_mark.line + 1, item.start_mark.column + 1))
                stack.append((item, child))


def locate(positions: Positions, path: Path_) -> tuple[int, int] | None:
    """The position of ``path`` or of its nearest ancestor the file spells out (merged or defaulted keys
    have none of their own)."""
    while path:
        if path in positions:
            return positions[path]
        path = path[:-1]
    return None
