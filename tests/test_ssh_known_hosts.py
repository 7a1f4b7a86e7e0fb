"""SSH host keys are pinned per git host on first use (hole 8 of issue 14).

Real parts: ``sshd`` (tests.support.gitserver.SshGitServer) serving the git daemon's repositories, real ``ssh`` and
``git``. A second sshd with a new host key on the same host:port plays the man in the middle. Before the fix every
clone used a throw-away known_hosts with ``accept-new``, so the changed key was accepted silently.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rivetr_core.engine.gitsource import CloneRequest, HostKeyChanged, clone_sync
from rivetr_core.knownhosts import (
    HostKey,
    fingerprint,
    offered_fingerprints,
    parse_known_hosts,
    ssh_target,
)
from tests.test_deploy_pipeline import (  # noqa: F401  (fixtures)
    deploy_and_wait,
    events,
    make_app,
    papi,
)

#: What github.com, gitlab.com and bitbucket.org publish (docs.github.com "GitHub's SSH key fingerprints",
#: about.gitlab.com/gitlab-com/settings, support.atlassian.com "Configure SSH and two-step verification").
PUBLISHED = {
    ("github.com", "ssh-ed25519"): "SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU",
    ("github.com", "ecdsa-sha2-nistp256"): "SHA256:p2QAMXNIC1TJYWeIOttrVc98/R1BUFWu3/LiyKgUfQM",
    ("github.com", "ssh-rsa"): "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
    ("gitlab.com", "ssh-ed25519"): "SHA256:eUXGGm1YGsMAS7vkcx6JOJdOGHPem5gQp4taiCfCLB8",
    ("gitlab.com", "ecdsa-sha2-nistp256"): "SHA256:HbW3g8zUjNSksFbqTiUWPWg2Bq1x8xdGUrliXFzSnUw",
    ("gitlab.com", "ssh-rsa"): "SHA256:ROQFvPThGrW4RuWLoL9tq9I9zJ42fK4XywyRtbOz/EQ",
    ("bitbucket.org", "ssh-ed25519"): "SHA256:ybgmFkzwOSotHTHLJgHO0QN8L0xErw6vd0VhFA9m3SM",
    ("bitbucket.org", "ecdsa-sha2-nistp256"): "SHA256:FC73VB6C4OQLSCrjEayhMp9UMxS97caD/Yyi2bhW/J0",
    ("bitbucket.org", "ssh-rsa"): "SHA256:46OSHA1Rmj8E8ERTC6xkNcmGOw9oFxYr0WF6zWW8l1E",
}


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("ssh://git@GitHub.com/a/b.git", ("github.com", 22)),
        ("ssh://root@127.0.0.1:2222/srv/x.git", ("127.0.0.1", 2222)),
        ("ssh://git@[::1]:2200/x.git", ("::1", 2200)),
        ("git@gitlab.com:group/project.git", ("gitlab.com", 22)),
        ("https://github.com/a/b.git", None),
        ("git://127.0.0.1:9418/x.git", None),
    ],
)
def test_ssh_target(url: str, target: tuple[str, int] | None) -> None:
    assert ssh_target(url) == target


def test_fingerprints_and_known_hosts_lines(tmp_path: Path) -> None:
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True)
    key_type, blob = (tmp_path / "k.pub").read_text().split()[:2]
    printed = subprocess.run(["ssh-keygen", "-lf", str(tmp_path / "k.pub")], capture_output=True, text=True)
    assert fingerprint(blob) == printed.stdout.split()[1]  # the same text ssh-keygen -l shows
    lines = f"# comment\n@revoked x ssh-rsa AAAA\n[h]:2222 {key_type} {blob}\nbad line\nh {key_type} not-base64!\n"
    assert parse_known_hosts(lines) == [HostKey(key_type, blob)]
    stderr = (
        "The fingerprint for the ED25519 key sent by the remote host is\nSHA256:abcDEF+/123.\n"
        "Please contact your system administrator.\nHost key verification failed."
    )
    assert offered_fingerprints(stderr) == [("ED25519", "SHA256:abcDEF+/123")]


def test_clone_pins_on_first_use_and_refuses_a_changed_key(
    git_server, ssh_git_server, tmp_path: Path
) -> None:
    repo = git_server.create_repo("pinned")
    url = ssh_git_server.url(repo)
    key = ssh_git_server.private_key
    first_fp = ssh_git_server.host_fingerprint()

    first = clone_sync(CloneRequest(url, ssh_private_key=key), tmp_path / "a", lambda _: None)
    assert [k.fingerprint for k in first.learned_host_keys] == [first_fp]
    pinned = first.learned_host_keys

    again = clone_sync(
        CloneRequest(url, ssh_private_key=key, host_keys=pinned), tmp_path / "b", lambda _: None
    )
    assert again.commit_sha == first.commit_sha and again.learned_host_keys == []  # nothing new to pin

    ssh_git_server.change_host_key()
    new_fp = ssh_git_server.host_fingerprint()
    assert new_fp != first_fp
    lines: list[str] = []
    with pytest.raises(HostKeyChanged) as info:
        clone_sync(CloneRequest(url, ssh_private_key=key, host_keys=pinned), tmp_path / "c", lines.append)
    message = str(info.value)
    assert f"[127.0.0.1]:{ssh_git_server.port}" in message
    assert first_fp in message and new_fp in message
    assert "PRIVATE KEY" not in message

    # Without a key: the same clone would have been accepted (the behaviour before pinning).
    fresh = clone_sync(CloneRequest(url, ssh_private_key=key), tmp_path / "d", lambda _: None)
    assert [k.fingerprint for k in fresh.learned_host_keys] == [new_fp]


async def test_pin_refuse_delete_repin_through_the_api_and_pipeline(
    papi,  # noqa: F811
    git_server,
    ssh_git_server,
) -> None:
    # Preloaded: the published keys of the big three hosts.
    code, listing = await papi.get("/api/ssh-known-hosts")
    assert code == 200 and listing["next"] is None
    preloaded = {
        (i["host"], i["key_type"]): i["fingerprint"] for i in listing["items"] if i["source"] == "preloaded"
    }
    assert preloaded == PUBLISHED
    assert all(i["port"] == 22 and i["public_key"].startswith(i["key_type"] + " ") for i in listing["items"])

    repo = git_server.create_repo("sshweb")
    code, key = await papi.post(
        "/api/ssh-keys", json={"name": "deploy", "private_key": ssh_git_server.private_key}
    )
    assert code == 201, key
    app = await make_app(papi, repo, name="sshweb", git_url=ssh_git_server.url(repo), ssh_key_id=key["id"])
    pattern = f"[127.0.0.1]:{ssh_git_server.port}"
    first_fp = ssh_git_server.host_fingerprint()

    first = await deploy_and_wait(papi, app["id"], ("running", "failed"))
    assert first["status"] == "running", first
    code, mine = await papi.get("/api/ssh-known-hosts", query_string={"host": "127.0.0.1"})
    assert code == 200
    assert [(i["host"], i["port"], i["fingerprint"], i["source"]) for i in mine["items"]] == [
        ("127.0.0.1", ssh_git_server.port, first_fp, "first_use")
    ]
    assert mine["items"][0]["host_pattern"] == pattern and mine["items"][0]["last_used_at"] is None
    _, logs = await papi.get(f"/api/deployments/{first['id']}/logs")
    assert any(f"pinned the SSH host key of {pattern} on first use: {first_fp}" in e["line"] for e in logs)

    # A second sshd on the same host:port with another key: the clone fails naming the host and both keys.
    ssh_git_server.change_host_key()
    new_fp = ssh_git_server.host_fingerprint()
    refused = await deploy_and_wait(papi, app["id"], ("running", "failed"))
    assert refused["status"] == "failed", refused
    assert pattern in refused["error"] and first_fp in refused["error"] and new_fp in refused["error"]
    assert "changed" in refused["error"]
    code, still = await papi.get("/api/ssh-known-hosts", query_string={"host": "127.0.0.1"})
    assert [i["fingerprint"] for i in still["items"]] == [first_fp]  # the pin did not move

    # The operator deletes the pinned key: the next deployment pins the new one.
    assert (await papi.request("DELETE", f"/api/ssh-known-hosts/{mine['items'][0]['id']}"))[0] == 204
    code, body = await papi.request("DELETE", f"/api/ssh-known-hosts/{mine['items'][0]['id']}")
    assert code == 404 and body["error"]["code"] and "not found" in body["error"]["message"]
    repinned = await deploy_and_wait(papi, app["id"], ("running", "failed"))
    assert repinned["status"] == "running", repinned
    _, now = await papi.get("/api/ssh-known-hosts", query_string={"host": "127.0.0.1"})
    assert [i["fingerprint"] for i in now["items"]] == [new_fp]

    # A later clone checks against the pin and records when it was used.
    again = await deploy_and_wait(papi, app["id"], ("running", "failed"))
    assert again["status"] == "running", again
    _, used = await papi.get("/api/ssh-known-hosts", query_string={"host": "127.0.0.1"})
    assert used["items"][0]["last_used_at"]


def test_cli_lists_and_deletes_pinned_keys(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from rivetr_core.cli.main import cli
    from tests.support.server import start_server

    server = start_server(tmp_path / "data")
    try:
        env = {
            "RIVETR_URL": server.url,
            "RIVETR_TOKEN": server.token,
            "RIVETR_LOGIN_FILE": str(tmp_path / "l"),
        }

        def run(*args: str):  # type: ignore[no-untyped-def]
            return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

        shown = run("ssh-known-hosts", "list")
        assert shown.exit_code == 0, shown.output
        assert PUBLISHED[("github.com", "ssh-ed25519")] in shown.output and "preloaded" in shown.output
        rows = json.loads(run("ssh-known-hosts", "list", "--host", "gitlab.com", "--json").output)
        assert {r["fingerprint"] for r in rows} == {v for (h, _), v in PUBLISHED.items() if h == "gitlab.com"}

        gone = run("ssh-known-hosts", "delete", "bitbucket.org")
        assert gone.exit_code == 0 and gone.output.count("deleted bitbucket.org") == 3, gone.output
        assert run("ssh-known-hosts", "delete", rows[0]["id"]).exit_code == 0
        left = json.loads(run("ssh-known-hosts", "list", "--json").output)
        assert {r["host"] for r in left} == {"github.com", "gitlab.com"} and len(left) == 5

        missing = run("ssh-known-hosts", "delete", "git.example.com:2222")
        assert (
            missing.exit_code == 2
            and "no pinned SSH host key matches 'git.example.com:2222'" in missing.output
        )
    finally:
        server.stop()


def test_a_pinned_key_of_another_type_is_a_mismatch_too(git_server, ssh_git_server, tmp_path: Path) -> None:
    """Pinned: an RSA key; the host offers only its ed25519 key. ssh names no fingerprint then, so the
    offered one comes from ssh-keyscan: both still appear in the error."""
    repo = git_server.create_repo("othertype")
    rsa = HostKey("ssh-rsa", _github_rsa())
    with pytest.raises(HostKeyChanged) as info:
        clone_sync(
            CloneRequest(
                ssh_git_server.url(repo), ssh_private_key=ssh_git_server.private_key, host_keys=[rsa]
            ),
            tmp_path / "a",
            lambda _: None,
        )
    message = str(info.value)
    assert PUBLISHED[("github.com", "ssh-rsa")] in message and ssh_git_server.host_fingerprint() in message


def _github_rsa() -> str:
    import importlib

    migration = importlib.import_module("rivetr_core.db.migrations.versions.0009_ssh_known_hosts")
    return next(blob for host, kind, blob in migration.PRELOADED if (host, kind) == ("github.com", "ssh-rsa"))
