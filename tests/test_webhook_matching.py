"""Pure logic of webhook matching: repository URL normalisation, branch/tag globs, skip markers, names."""

from __future__ import annotations

import pytest

from rivetr_core.webhooks.matching import (
    branch_matches,
    normalize_repo_url,
    repo_matches,
    skip_marker,
    tag_matches,
)
from rivetr_core.webhooks.previews import preview_app_name
from rivetr_core.webhooks.signing import verify_hmac_sha256, verify_token


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/acme/site.git",
        "https://github.com/acme/site",
        "https://GitHub.COM/acme/site/",
        "http://github.com/acme/site.git",
        "https://user:token@github.com/acme/site.git",
        "https://github.com:443/acme/site.git",
        "git@github.com:acme/site.git",
        "git@GITHUB.com:acme/site",
        "ssh://git@github.com/acme/site.git",
        "ssh://git@github.com:22/acme/site.git",
        "git://github.com/acme/site.git",
    ],
)
def test_url_forms_normalise_to_one_key(url: str) -> None:
    assert normalize_repo_url(url) == "github.com/acme/site"


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("https://github.com/acme/site.git", "https://github.com/acme/site-docs.git", False),
        ("https://github.com/acme/site.git", "https://gitlab.com/acme/site.git", False),
        ("https://github.com/acme/site.git", "https://github.com/other/site.git", False),
        ("ssh://git@git.example.com:2222/acme/site.git", "git@git.example.com:acme/site.git", False),
        ("git://127.0.0.1:9418/site.git", "git://127.0.0.1/site", True),
        ("git://127.0.0.1:40000/site.git", "git://127.0.0.1:40001/site.git", False),
        ("https://github.com/Acme/Site.git", "https://github.com/acme/site.git", True),  # second pass
        ("https://gitlab.com/group/sub/project.git", "git@gitlab.com:group/sub/project.git", True),
        ("not a url", "not a url", False),
    ],
)
def test_repo_matches(a: str, b: str, same: bool) -> None:
    assert repo_matches(a, [b]) is same


def test_branch_and_tag_matching() -> None:
    assert branch_matches("main", "main") and not branch_matches("main", "main2")
    assert branch_matches("release/*", "release/1.2") and not branch_matches("release/*", "main")
    assert not branch_matches(None, "main") and not branch_matches("main", None)
    assert tag_matches(None, "v1") and tag_matches("*", "anything") and tag_matches("v1.*", "v1.2.0")
    assert not tag_matches("v1.*", "v2.0.0") and not tag_matches("v*", None)


@pytest.mark.parametrize(
    ("message", "marker"),
    [
        ("fix: typo [skip ci]", "[skip ci]"),
        ("Docs only\n\n[SKIP DEPLOY]", "[skip deploy]"),
        ("[ci skip] quick", "[ci skip]"),
        ("skip ci without brackets", None),
        (None, None),
    ],
)
def test_skip_markers(message: str | None, marker: str | None) -> None:
    assert skip_marker(message) == marker


def test_preview_names_stay_dns_safe() -> None:
    assert preview_app_name("site", 7) == "site-pr-7"
    long = "a" * 63
    name = preview_app_name(long, 12345)
    assert len(name) <= 63 and name.endswith("-pr-12345")
    assert preview_app_name(long, 1) != preview_app_name("a" * 62 + "b", 1)


def test_signing_helpers_fail_closed() -> None:
    assert not verify_hmac_sha256("sha256=abc", "", b"x", prefix="sha256=")
    assert not verify_hmac_sha256(None, "s", b"x")
    assert not verify_token(None, "s") and not verify_token("", "") and verify_token("s", "s")


def test_clone_username_left_in_urls_by_older_versions_is_removed() -> None:
    from rivetr_core.gitproviders.accounts import without_url_user

    assert without_url_user("https://oauth2@gitlab.com/g/p.git", "oauth2") == "https://gitlab.com/g/p.git"
    assert without_url_user("https://github.com/a/b.git", "x-access-token") == "https://github.com/a/b.git"
    assert without_url_user("https://me@gitlab.com/g/p.git", "oauth2") == "https://me@gitlab.com/g/p.git"
    assert without_url_user("git@gitlab.com:g/p.git", "git") == "git@gitlab.com:g/p.git"
    assert normalize_repo_url("https://oauth2@gitlab.com/g/p.git") == normalize_repo_url(
        "https://gitlab.com/g/p"
    )
