"""Git sources: URL rules, redaction, and real clones (git daemon; smart HTTP with a token behind Basic auth)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from rivetr_core.engine.gitsource import CloneRequest, GitSourceError, classify_url, clone_sync, redact
from tests.support.gitserver import GitHttpServer

TOKEN = "tok_abcdef123456"


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://github.com/a/b.git", "https"),
        ("http://git.local/a/b", "http"),
        ("ssh://git@host:2222/a/b.git", "ssh"),
        ("git@github.com:a/b.git", "ssh"),
        ("git://127.0.0.1:9418/x.git", "git"),
        ("file:///srv/x.git", "file"),
        ("/srv/x.git", "local"),
        ("https://", None),
        ("https://host", None),
        ("ftp://host/x", None),
        ("x y", None),
        ("", None),
        ("github.com/a/b", None),
    ],
)
def test_classify_url(url, kind):
    assert classify_url(url) == kind


def test_redact():
    assert redact("fatal: https://user:pw@h/x failed") == "fatal: https://user:***@h/x failed"
    assert redact("https://ghp_token@github.com/a/b") == "https://***@github.com/a/b"
    assert redact("ssh://git@h/x and git@github.com:a/b") == "ssh://git@h/x and git@github.com:a/b"


def test_clone_branch_and_commit(git_server, tmp_path):
    repo = git_server.create_repo("src")
    first = repo.head()
    repo.write("www/index.html", "second")
    second = repo.commit("second")
    lines: list[str] = []
    result = clone_sync(CloneRequest(repo.url, branch="main"), tmp_path / "a", lines.append)
    assert result.commit_sha == second and result.commit_message == "second"
    assert (tmp_path / "a" / "www" / "index.html").read_text() == "second"
    assert any(line.startswith("$ git clone --depth 1 --branch main") for line in lines)
    old = clone_sync(CloneRequest(repo.url, commit=first), tmp_path / "b", lines.append)
    assert old.commit_sha == first
    assert (tmp_path / "b" / "www" / "index.html").read_text() == "hello from v1\n"
    short = clone_sync(CloneRequest(repo.url, commit=first[:10]), tmp_path / "c", lines.append)
    assert (
        short.commit_sha == first
    )  # short ids: the server refuses them shallowly, the branch fallback works


def test_clone_errors_are_clear(git_server, tmp_path):
    repo = git_server.create_repo("src")
    with pytest.raises(GitSourceError, match="nope"):
        clone_sync(CloneRequest(repo.url, branch="nope"), tmp_path / "a", lambda _: None)
    with pytest.raises(GitSourceError):
        clone_sync(CloneRequest(repo.url, commit="0" * 40), tmp_path / "b", lambda _: None)
    with pytest.raises(GitSourceError):
        clone_sync(
            CloneRequest(f"git://127.0.0.1:{git_server.port}/missing.git"), tmp_path / "c", lambda _: None
        )


def test_https_token_via_askpass_never_in_logs(git_server, tmp_path):
    repo = git_server.create_repo("private")
    with GitHttpServer(git_server.base, user="x-access-token", token=TOKEN) as server:
        url = server.url("private")
        lines: list[str] = []
        with pytest.raises(GitSourceError) as denied:
            clone_sync(CloneRequest(url), tmp_path / "a", lines.append)
        assert TOKEN not in str(denied.value)
        result = clone_sync(CloneRequest(url, token=TOKEN), tmp_path / "b", lines.append)
        assert result.commit_sha == repo.head()
        assert TOKEN not in "\n".join(lines)
        assert any(h.startswith("Basic ") for h in server.seen_auth)


def test_ssh_clone_with_deploy_key(git_server, ssh_git_server, tmp_path):
    repo = git_server.create_repo("over-ssh")
    url = ssh_git_server.url(repo)
    lines: list[str] = []
    with pytest.raises(GitSourceError):  # no key: BatchMode fails at once instead of prompting
        clone_sync(CloneRequest(url), tmp_path / "a", lines.append)
    result = clone_sync(
        CloneRequest(url, ssh_private_key=ssh_git_server.private_key), tmp_path / "b", lines.append
    )
    assert result.commit_sha == repo.head()
    assert "PRIVATE KEY" not in "\n".join(lines)
    leftovers = [p for p in Path(tempfile.gettempdir()).glob("rivetr-git-*") if (p / "id").exists()]
    assert leftovers == []  # the key file lives only while git runs
