"""Guards for builds of untrusted code (previews of pull requests from forks).

* :func:`remote_adds` finds ``ADD <url>`` in a Dockerfile. The engine's daemon fetches such a URL itself, on
  the daemon's (the host's) network, outside the build's network and its firewall: a fork could make the host
  fetch internal addresses (cloud metadata, the LAN). Fork builds with one fail, naming the line.
* :class:`LogCap` bounds a build's log (lines and bytes): a build that floods its log is stopped.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

#: A source with a scheme (``http://``, ``https://``, ``git://``, ...) or an scp-style git address.
_URL = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://|[\w.-]+@[\w.-]+:)")
_INSTRUCTION = re.compile(r"^\s*([A-Za-z]+)(?:\s+(.*))?$", re.S)
_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-+][^}]*)?\}|([A-Za-z_][A-Za-z0-9_]*))")
_ESCAPE = re.compile(r"^#\s*escape\s*=\s*(\S)\s*$", re.I)


@dataclass
class RemoteAdd:
    line: int  # 1-based line of the instruction's start
    source: str  # the URL, as expanded
    text: str  # the instruction as written (continuations joined)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """``(first line number, instruction)`` with continuations joined and comment lines dropped."""
    escape = "\\"
    lines = text.splitlines()
    for raw in lines[:5]:  # parser directives come first
        match = _ESCAPE.match(raw.strip())
        if match:
            escape = match.group(1)
    out: list[tuple[int, str]] = []
    start = 0
    parts: list[str] = []
    for number, raw in enumerate(lines, 1):
        stripped = raw.strip()
        if stripped.startswith("#"):  # comments (and parser directives) end no instruction
            continue
        if not parts:
            if not stripped:
                continue
            start = number
        if stripped.endswith(escape):
            parts.append(stripped[: -len(escape)])
            continue
        parts.append(stripped)
        out.append((start, " ".join(parts)))
        parts = []
    if parts:
        out.append((start, " ".join(parts)))
    return out


def _expand(word: str, variables: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return variables.get(name, match.group(0))

    for _ in range(5):  # ARG B=$A: a few rounds resolve chains
        expanded = _VAR.sub(one, word)
        if expanded == word:
            break
        word = expanded
    return word


def _sources(args: str) -> list[str]:
    """The source words of ``ADD [flags] src... dest`` (shell or JSON form)."""
    words = args.split()
    while words and words[0].startswith("--"):
        words.pop(0)
    rest = " ".join(words)
    if rest.startswith("["):
        try:
            items = json.loads(rest)
        except ValueError:
            items = None
        if isinstance(items, list) and all(isinstance(i, str) for i in items):
            return items[:-1]
    return words[:-1] if len(words) > 1 else words


def remote_adds(text: str) -> list[RemoteAdd]:
    """Every ``ADD`` (``ONBUILD ADD`` too) whose source is a URL, ``ARG``/``ENV`` defaults expanded (a fork may
    hide the URL in a variable)."""
    variables: dict[str, str] = {}
    found: list[RemoteAdd] = []
    for number, line in _logical_lines(text):
        match = _INSTRUCTION.match(line)
        if not match:
            continue
        keyword, args = match.group(1).upper(), (match.group(2) or "").strip()
        if keyword == "ONBUILD":
            inner = _INSTRUCTION.match(args)
            if not inner:
                continue
            keyword, args = inner.group(1).upper(), (inner.group(2) or "").strip()
        if keyword in ("ARG", "ENV"):
            for pair in args.split():
                name, sep, value = pair.partition("=")
                if sep:
                    variables[name] = _expand(value.strip("\"'"), variables)
            if keyword == "ENV" and "=" not in args and len(args.split(None, 1)) == 2:
                name, value = args.split(None, 1)  # legacy ``ENV NAME value``
                variables[name] = _expand(value.strip("\"'"), variables)
            continue
        if keyword != "ADD":
            continue
        for source in _sources(args):
            expanded = _expand(source.strip("\"'"), variables)
            if _URL.match(expanded) or _URL.match(source.strip("\"'")):
                found.append(RemoteAdd(number, expanded, line))
    return found


def find_dockerfile(source_dir: Path, build_context: str, dockerfile: str) -> Path | None:
    """Where the builder would look: ``<context>/<dockerfile>``, else ``<checkout>/<dockerfile>``, confined
    to the checkout (the builder refuses anything else anyway)."""
    source = source_dir.resolve()
    for candidate in (source / build_context / dockerfile, source / dockerfile):
        if os.path.lexists(candidate):
            resolved = candidate.resolve()
            return resolved if resolved.is_relative_to(source) else None
    return None


@dataclass
class LogCap:
    """Counts a build log's lines and bytes; :meth:`take` is False once either limit is passed."""

    max_lines: int
    max_bytes: int
    lines: int = 0
    size: int = 0
    _over: bool = field(default=False, repr=False)

    def take(self, line: str) -> bool:
        self.lines += 1
        self.size += len(line.encode("utf-8", "replace")) + 1
        self._over = self._over or self.lines > self.max_lines or self.size > self.max_bytes
        return not self._over

    def marker(self) -> str:
        return (
            f"[rivetr] build log truncated here: a fork preview's build log may have at most {self.max_lines} "
            f"lines and {self.max_bytes} bytes ([previews] fork_build_log_max_lines / _max_bytes); "
            "the build was stopped"
        )
