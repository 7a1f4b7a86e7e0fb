"""A token clones a private repository with the pipeline's real clone (GitPython + askpass) from a smart-HTTP
server that, like GitLab, accepts OAuth tokens only with the user name ``oauth2``: the clone request (and the
app's ``git_token_user``) carries the user name, the URL stays as the user wrote it."""

from __future__ import annotations

from pathlib import Path

import pytest

from rivetr_core.engine.gitsource import CloneRequest, GitSourceError, clone_sync
from tests.support.gitserver import GitHttpServer
from tests.test_deploy_pipeline import deploy_and_wait, events, make_app, papi  # noqa: F401

TOKEN = "glpat-oauth-token-123456"


def test_gitlab_style_token_clone_needs_and_gets_the_oauth2_user(git_server, tmp_path: Path) -> None:
    repo = git_server.create_repo("private-gl")
    with GitHttpServer(git_server.base, user="oauth2", token=TOKEN) as server:
        url = server.url("private-gl")
        lines: list[str] = []
        # What the pipeline does with a bare URL: askpass answers x-access-token, which GitLab refuses.
        with pytest.raises(GitSourceError):
            clone_sync(CloneRequest(url, token=TOKEN), tmp_path / "a", lines.append)
        assert "x-access-token" in server.seen_users
        # The request names the user (what linking a GitLab account stores): the same URL clones.
        server.seen_users.clear()
        result = clone_sync(CloneRequest(url, token=TOKEN, username="oauth2"), tmp_path / "b", lines.append)
        assert result.commit_sha == repo.head()
        assert "oauth2" in server.seen_users and "x-access-token" not in server.seen_users
        assert TOKEN not in "\n".join(lines)


async def test_app_token_user_reaches_the_pipeline_clone(papi, git_server) -> None:  # noqa: F811
    """``git_token_user`` set through the API (or by linking a GitLab account) is the user the pipeline's clone
    sends with the token; the app's URL is not rewritten. (Pipeline with the fake runtime of
    tests/test_deploy_pipeline.py; the clone is real.)"""
    repo = git_server.create_repo("private-gl")
    with GitHttpServer(git_server.base, user="oauth2", token=TOKEN) as server:
        seen = server.seen_users
        url = server.url("private-gl")
        app = await make_app(papi, repo, git_url=url, git_token=TOKEN)
        assert app["git_token_user"] is None
        denied = await deploy_and_wait(papi, app["id"], ("running", "failed"))
        assert denied["status"] == "failed" and seen and set(seen) <= {"", "x-access-token"}
        code, body = await papi.put(f"/api/apps/{app['id']}", json={"git_token_user": "oauth2"})
        assert code == 200 and body["git_token_user"] == "oauth2" and body["git_url"] == url
        done = await deploy_and_wait(papi, app["id"], ("running", "failed"))
        assert done["status"] == "running" and done["commit_sha"] == repo.head(), done
        assert "oauth2" in seen
        code, err = await papi.put(f"/api/apps/{app['id']}", json={"git_token_user": "a b:c"})
        assert code == 422 and "git_token_user" in str(err)
        code, body = await papi.put(f"/api/apps/{app['id']}", json={"git_token_user": None})
        assert code == 200 and body["git_token_user"] is None
