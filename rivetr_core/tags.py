"""Tags of apps, managed services and stacks (issue 21): free labels to organise and filter resources.

One rule set for every kind: at most :data:`MAX_TAGS` per resource, each 1-32 of ``a-z 0-9 - _ . :``, stored
lower-cased, deduplicated and sorted in a JSON list column (migration 0024_tags). Sorted storage makes the
stored JSON text canonical (``["a", "b"]``), which is what :func:`has_tags` relies on: a tag is matched as
the quoted string inside that text, a plain ``LIKE`` that SQLite and PostgreSQL both run without JSON
functions and that needs no join, so the unfiltered lists keep their SQL unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from rivetr_core.contract.errors import ValidationFailed

MAX_TAGS = 20
TAG_PATTERN = r"^[a-z0-9._:-]{1,32}$"
_TAG = re.compile(TAG_PATTERN)
#: The API document's schema of a ``tags`` field: what it admits, the check accepts (upper case is lowered).
TAGS_SCHEMA: dict[str, Any] = {
    "maxItems": MAX_TAGS,
    "items": {"type": "string", "minLength": 1, "maxLength": 32, "pattern": r"^[A-Za-z0-9._:-]+$"},
}
TAGS_HELP = (
    f"Labels to organise and filter by (?tag=): at most {MAX_TAGS}, each 1-32 of a-z, 0-9, '-', '_', '.', ':'; "
    "stored lower-case, deduplicated and sorted."
)
TAG_FILTER_HELP = "Only those with this tag; repeat (?tag=a&tag=b) for those with all of them."


def check_tag(value: Any, field: str = "tag") -> str:
    """One tag, lower-cased; ``ValidationFailed`` naming ``field`` when it breaks the rule."""
    tag = value.strip().lower() if isinstance(value, str) else None
    if tag is None or not _TAG.match(tag):
        shown = f"{value!r} " if isinstance(value, str) and len(value) <= 64 else ""
        raise ValidationFailed.on(field, f"{shown}is not a tag: 1-32 of a-z, 0-9, '-', '_', '.' or ':'")
    return tag


def check_tags(values: Any, field: str = "tags") -> list[str]:
    """The tags to store: each checked (an error names ``tags[i]``), deduplicated, sorted."""
    if values is None:
        return []
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ValidationFailed.on(field, "must be a list of tags")
    tags = sorted({check_tag(v, f"{field}[{i}]") for i, v in enumerate(values)})
    if len(tags) > MAX_TAGS:
        raise ValidationFailed.on(field, f"at most {MAX_TAGS} tags")
    return tags


def like_pattern(tag: str) -> str:
    """The ``LIKE`` pattern finding ``tag`` in the stored JSON text (``_`` escaped: a LIKE wildcard)."""
    return '%"' + tag.replace("_", "\\_") + '"%'


def tag_clause(column: Any, pattern: Any) -> Any:
    """``column`` (a tags column) matches ``pattern``, a :func:`like_pattern` or a parameter bound to one."""
    from sqlalchemy import Text, cast

    return cast(column, Text).like(pattern, escape="\\")


def has_tags(column: Any, tags: Iterable[str]) -> Any:
    """A clause keeping the rows whose ``column`` (a tags column) holds every one of ``tags``."""
    from sqlalchemy import and_

    return and_(*(tag_clause(column, like_pattern(t)) for t in tags))


def usable_tags(values: Any) -> list[str]:
    """The valid tags among ``values``, lower-cased, deduplicated and sorted; the rest dropped (a dashboard link
    edited by hand filters by what it can, where the API answers 422)."""
    found = set()
    for value in values or ():
        tag = value.strip().lower() if isinstance(value, str) else ""
        if _TAG.match(tag):
            found.add(tag)
    return sorted(found)[:MAX_TAGS]


def query_tags(values: Any) -> list[str]:
    """The ``?tag=`` values of a list request (one value arrives as a string), checked and deduplicated."""
    if values is None or values == []:
        return []
    return check_tags([values] if isinstance(values, str) else values, "tag")
