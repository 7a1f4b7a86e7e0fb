"""Which apps a webhook concerns: repository URL normalisation and branch/tag matching.

A repository is named many ways (``https://GitHub.com/Acme/Site.git``, ``git@github.com:acme/site``,
``ssh://git@github.com:22/acme/site.git``, ``git://host/acme/site``); :func:`normalize_repo_url` maps all
of them to ``host/path`` — host lower-cased, default ports, user info, ``.git`` and trailing slashes
dropped — so an app created with one form matches a payload naming another. The path keeps its case:
GitHub is case-insensitive there but self-hosted servers need not be, so paths compare case-insensitively
only as a second pass (:func:`repo_matches`).
"""

from __future__ import annotations

import fnmatch
import re
from urllib.parse import urlsplit

_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/]+)@)?(?P<host>[^:/]+):(?P<path>(?!//).+)$")
_DEFAULT_PORTS = {"https": 443, "http": 80, "ssh": 22, "git": 9418}


def normalize_repo_url(url: str) -> str:
    """``host[:port]/path`` for any clone URL form; '' for something that is not a repository URL."""
    url = url.strip()
    if not url:
        return ""
    if "://" in url:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").lower()
        try:
            port = parts.port
        except ValueError:
            port = None
        if scheme == "file":
            return "file:" + _clean_path(parts.path)
        # ssh://git@host:22 and https://host:443 name the same repo as without the port; other ports
        # are different servers.
        netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
        # git@ over ssh and https on a non-default web port usually differ, but hosts answering both on
        # their defaults (the common case) collapse to one key: that is what users expect.
        return f"{netloc}/{_clean_path(parts.path)}" if host else ""
    match = _SCP_LIKE.match(url)
    if match and "/" not in match.group("host"):
        return f"{match.group('host').lower()}/{_clean_path(match.group('path'))}"
    if url.startswith("/"):
        return "file:" + _clean_path(url)
    return ""


def _clean_path(path: str) -> str:
    path = path.strip().strip("/")
    if path.endswith(".git"):
        path = path[:-4]
    return re.sub(r"/{2,}", "/", path).rstrip("/")


def repo_matches(app_url: str, event_urls: list[str]) -> bool:
    """True when the app's git URL names the same repository as any URL of the event."""
    app_key = normalize_repo_url(app_url)
    if not app_key:
        return False
    return app_key.lower() in {normalize_repo_url(u).lower() for u in event_urls}


def branch_matches(app_branch: str | None, ref: str | None) -> bool:
    """Exact branch match; an app branch with glob characters (``release/*``) matches as a pattern."""
    if not app_branch or not ref:
        return False
    if any(c in app_branch for c in "*?["):
        return fnmatch.fnmatchcase(ref, app_branch)
    return app_branch == ref


def tag_matches(pattern: str | None, tag: str | None) -> bool:
    """Tag filter of an app following tags: empty/None or ``*`` follows every tag, else a glob (``v*``)."""
    if not tag:
        return False
    if not pattern or pattern == "*":
        return True
    return fnmatch.fnmatchcase(tag, pattern)


SKIP_MARKERS = ("[skip ci]", "[ci skip]", "[skip deploy]", "[deploy skip]", "[no deploy]")


def skip_marker(message: str | None) -> str | None:
    """The skip marker found in a head commit message (case-insensitive), or None."""
    if not message:
        return None
    lowered = message.lower()
    for marker in SKIP_MARKERS:
        if marker in lowered:
            return marker
    return None
