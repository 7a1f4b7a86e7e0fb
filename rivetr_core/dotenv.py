"""``.env`` text → ``[(key, value)]``, the syntax docker compose, python-dotenv and most hosts accept, for the bulk
import of an app's variables (``POST /api/apps/{id}/env-vars/bulk``, ``rivetr env import``, the dashboard's paste).

* ``KEY=value``; spaces around ``=`` and around an unquoted value are dropped; an optional ``export`` prefix;
* blank lines and ``#`` comments; `` #`` after an unquoted value starts a comment (``a#b`` keeps its ``#``);
* ``"double quotes"``: ``\\n``, ``\\t``, ``\\"``, ``\\\\`` escapes, and the value may span lines;
* ``'single quotes'``: taken literally, may span lines;
* ``KEY=`` is an empty value. A key given twice keeps its last value (as the tools above do).

Errors are :class:`DotenvError` naming the line, so a paste with a typo tells where it is.
"""

from __future__ import annotations

import re

_KEY = re.compile(r"^(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.\-]*)[ \t]*=[ \t]*", re.ASCII)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


class DotenvError(ValueError):
    """A line that is not ``KEY=VALUE`` (or a quote never closed); ``line`` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


def parse_dotenv(text: str) -> list[tuple[str, str]]:
    """The assignments of ``text`` in order, each key once (its last value, where it was last given)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    values: dict[str, str] = {}
    number = 0
    while number < len(lines):
        raw = lines[number]
        number += 1
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        # Only the left side is trimmed: a quoted value running onto the next line keeps its trailing spaces.
        stripped = raw.lstrip()
        match = _KEY.match(stripped)
        if match is None:
            if "=" not in stripped:
                raise DotenvError(number, f"expected KEY=VALUE, got {stripped.strip()[:40]!r}")
            raise DotenvError(number, f"{stripped.split('=', 1)[0].strip()[:40]!r} is not a variable name")
        key, rest = match.group(1), stripped[match.end() :]
        start = number
        if rest[:1] in ('"', "'"):
            quote = rest[0]
            body, closed, after = _quoted(rest[1:], quote)
            while closed is None:
                if number >= len(lines):
                    raise DotenvError(start, f"the {quote} quote of {key} is never closed")
                body += "\n"
                more, closed, after = _quoted(lines[number], quote)
                body += more
                number += 1
            tail = after.strip()
            if tail and not tail.startswith("#"):
                raise DotenvError(number, f"unexpected text after the closing quote of {key}: {tail[:40]!r}")
            value = body
        else:
            value = re.split(r"[ \t]+#", rest, maxsplit=1)[0].strip()
        values.pop(key, None)  # a repeated key moves to its last position and keeps its last value
        values[key] = value
    return list(values.items())


def _quoted(text: str, quote: str) -> tuple[str, str | None, str]:
    """``text`` up to the closing ``quote``: (the value so far, the quote if found else None, what follows)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if quote == '"' and char == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
            continue
        if char == quote:
            return "".join(out), quote, text[i + 1 :]
        out.append(char)
        i += 1
    return "".join(out), None, ""
