"""Guards of fork builds (``rivetr_core.engine.untrusted``): ``ADD <url>`` found however it is written, the
build-log cap, and the Dockerfile read without following links."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rivetr_core.contract.repofiles import UnsafeRepoFile, read_repo_text
from rivetr_core.engine.untrusted import LogCap, find_dockerfile, remote_adds


def test_remote_add_forms_are_found_with_their_line() -> None:
    text = "\n".join(
        [
            "# escape=\\",
            "FROM localhost/base:1",
            "ARG HOST=169.254.169.254",
            "ENV SRC=http://${HOST}/latest",
            "add --chown=1:1 \\",
            "    ${SRC}/meta-data /x",
            "ADD local.txt /a",
            'ADD ["https://10.0.0.1/y.tgz", "/y"]',
            "ONBUILD ADD git@github.com:a/b.git /z",
            "RUN echo ADD http://not-an-instruction",
            "COPY http-files /c",
        ]
    )
    found = remote_adds(text)
    assert [(f.line, f.source) for f in found] == [
        (5, "http://169.254.169.254/latest/meta-data"),
        (8, "https://10.0.0.1/y.tgz"),
        (9, "git@github.com:a/b.git"),
    ]
    assert remote_adds("FROM x\nADD . /app\nADD --link src/ /dst/\n") == []


def test_log_cap_counts_lines_and_bytes() -> None:
    cap = LogCap(max_lines=3, max_bytes=1000)
    assert [cap.take("x") for _ in range(4)] == [True, True, True, False]
    cap = LogCap(max_lines=100, max_bytes=23)  # a line counts its newline
    assert cap.take("a" * 10) and cap.take("b" * 10) and not cap.take("c")
    assert not cap.take("d")  # stays over
    assert "at most 100 lines and 23 bytes" in cap.marker()


def test_dockerfile_is_read_safely(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM x\n")
    assert find_dockerfile(tmp_path, ".", "Dockerfile") == tmp_path.resolve() / "Dockerfile"
    assert read_repo_text(tmp_path, tmp_path / "Dockerfile") == "FROM x\n"
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(UnsafeRepoFile, match="FIFO"):
        read_repo_text(tmp_path, tmp_path / "fifo")
    (tmp_path / "link").symlink_to("/etc/hostname")
    with pytest.raises(UnsafeRepoFile):
        read_repo_text(tmp_path, tmp_path / "link")
    assert find_dockerfile(tmp_path, ".", "link") is None  # outside the checkout
