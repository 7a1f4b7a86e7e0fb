"""An app's ``config_path``: where its repository's ``rivetr.toml`` is (issue 24).

Kept apart from the file's own keys on purpose: the path must be known before the file can be read, so a file
cannot move itself (docs/config-as-code.md says so).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator

#: Where an app looks unless told otherwise: the repository's root, as Fly.io's ``fly.toml`` does.
DEFAULT_CONFIG_PATH = "rivetr.toml"
MAX_CONFIG_PATH = 255
CONFIG_PATH_HELP = (
    'Path of the app\'s rivetr.toml inside its repository, relative to the root (default "rivetr.toml"; '
    'e.g. "deploy/web.toml" for one app of a monorepo); at most 255 characters, no leading "/" and no "..". '
    '"" or null: off, a deployment ignores the file. Not a key of the file itself (docs/config-as-code.md).'
)


def check_config_path(value: str | None) -> str | None:
    """The path normalised (``./a//b.toml`` -> ``a/b.toml``), or None when off (null or blank); ValueError
    for a path that is absolute, leaves the repository or is not a file name."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if len(text) > MAX_CONFIG_PATH:
        raise ValueError(f"must be at most {MAX_CONFIG_PATH} characters")
    if any(ord(ch) < 32 for ch in text) or "\\" in text:
        raise ValueError("must not contain control characters or backslashes")
    if text.startswith("/"):
        raise ValueError("must be relative to the repository's root (no leading '/')")
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if ".." in parts:  # even a/../b: a path that climbs is refused rather than resolved
        raise ValueError("must stay inside the repository (no '..')")
    if not parts or text.endswith("/"):
        raise ValueError("must name a file")
    return "/".join(parts)


def _checked(value: Any) -> Any:
    return check_config_path(value) if value is None or isinstance(value, str) else value


#: The API's field type: a string or null, checked and normalised (pydantic reports a ValueError as a 422 naming
#: ``config_path``).
ConfigPath = Annotated[str | None, AfterValidator(_checked)]
