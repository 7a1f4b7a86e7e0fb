"""Git webhooks against a real ``rivetr serve`` (real proxy, real Docker, real git daemon, real OAuth host):

* a signed GitHub push webhook ends in a deployment of the pushed commit, served through the proxy;
* a pull request opened → preview served at ``pr-<n>.<app>.<preview_domain>`` with the app's env minus
  secrets, the preview URL posted as one PR comment (edited, not duplicated) through a connected account →
  closed → containers, route and images gone;
* a fork's PR never receives secrets even when the app lets same-repository previews have them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.fake_git_host import CLIENT_ID, CLIENT_SECRET, FakeGitHost
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).resolve().parents[2] / "plugins/git-github/tests/fixtures"
SECRET = "e2e-webhook-secret"
PREVIEW_DOMAIN = "preview.test"


def signed_post(rivetr: Any, event: str, payload: dict[str, Any], delivery: str) -> httpx.Response:
    raw = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return httpx.post(
        f"{rivetr.server.url}/webhooks/github",
        content=raw,
        timeout=30,
        headers={
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": signature,
            "Content-Type": "application/json",
        },
    )


def repo_object(url: str, full_name: str) -> dict[str, Any]:
    owner, name = full_name.split("/")
    return {
        "id": abs(hash(full_name)) % 10**6,
        "name": name,
        "full_name": full_name,
        "private": False,
        "owner": {"login": owner},
        "html_url": f"https://github.com/{full_name}",
        "clone_url": url,
        "git_url": url,
        "ssh_url": f"git@github.com:{full_name}.git",
        "default_branch": "main",
    }


def push_payload(repo: Any, sha: str, message: str) -> dict[str, Any]:
    payload = json.loads((FIXTURES / "github_push.json").read_text())
    payload["repository"] = repo_object(repo.url, "acme/site")
    payload["after"] = sha
    payload["head_commit"] = {**payload["head_commit"], "id": sha, "message": message}
    payload["commits"] = [payload["head_commit"]]
    return payload


def pr_payload(
    base: Any, head_url: str, head_full: str, sha: str, action: str, number: int, merged: bool = False
) -> dict[str, Any]:
    payload = json.loads((FIXTURES / "github_pull_request_opened.json").read_text())
    payload["action"], payload["number"] = action, number
    pr = payload["pull_request"]
    pr["number"], pr["merged"] = number, merged
    pr["head"] = {**pr["head"], "sha": sha, "ref": "feature", "repo": repo_object(head_url, head_full)}
    pr["base"] = {**pr["base"], "ref": "main", "repo": repo_object(base.url, "acme/site")}
    payload["repository"] = repo_object(base.url, "acme/site")
    return payload


def branch(repo: Any, name: str, content: str) -> str:
    """Commit ``content`` on a new branch ``name`` of ``repo`` and push it; back to main afterwards."""
    from tests.support.gitserver import _git

    _git("checkout", "-q", "-b", name, cwd=repo.work)
    repo.write("www/index.html", content)
    _git("add", "-A", cwd=repo.work)
    _git("commit", "-q", "-m", f"{name}: {content.strip()}", cwd=repo.work)
    _git("push", "-q", "origin", f"HEAD:{name}", cwd=repo.work)
    sha = repo.head()
    _git("checkout", "-q", "main", cwd=repo.work)
    return sha


def env_of(rivetr: Any, deployment_id: str) -> str:
    """The preview container's environment, read from its upstream directly (busybox CGI), so this check
    does not depend on how the proxy relays close-delimited CGI responses; pages go through the proxy."""
    upstream = rivetr.deployment(deployment_id)["upstream"]
    response = httpx.get(f"http://{upstream}/cgi-bin/env", timeout=10)
    assert response.status_code == 200, response.text
    return response.text


@pytest.mark.parametrize("engine", ["docker", "podman"])
def test_github_push_webhook_deploys_through_the_proxy(e2e, git_server, engine):
    rivetr = e2e(engine, RIVETR_WEBHOOKS__GITHUB_SECRET=SECRET)
    repo = git_server.create_repo(f"hooked-{engine}")
    app = rivetr.create_app(repo, f"hooked-{engine}")
    repo.write("www/index.html", "pushed by webhook\n")
    sha = repo.commit("webhook content")

    response = signed_post(rivetr, "push", push_payload(repo, sha, "webhook content"), "e2e-push-1")
    assert response.status_code == 202, response.text
    [dep_id] = response.json()["deployments"]
    dep = rivetr.wait(dep_id)
    logs = [x["line"] for x in rivetr.api.get(f"/api/deployments/{dep_id}/logs").json()]
    assert dep["status"] == "running", (dep["error"], logs[-15:])
    assert dep["commit_sha"] == sha and dep["trigger"] == "webhook:github"
    rivetr.wait_content(f"hooked-{engine}.e2e.test", "pushed by webhook\n")

    # The same delivery again (GitHub's "redeliver") deploys nothing; nor does the captured body replayed
    # under a fresh delivery id.
    again = signed_post(rivetr, "push", push_payload(repo, sha, "webhook content"), "e2e-push-1")
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    replay = signed_post(rivetr, "push", push_payload(repo, sha, "webhook content"), "e2e-replay-2")
    assert replay.status_code == 200 and replay.json()["duplicate"] is True, replay.text
    assert len(rivetr.api.get(f"/api/apps/{app['id']}/deployments").json()["items"]) == 1
    events = rivetr.api.get("/api/webhook-events").json()["items"]
    assert [e["outcome"] for e in events] == ["duplicate", "duplicate", "deployed"]
    assert len({e["body_sha256"] for e in events}) == 1


def connect_github(rivetr: Any) -> dict[str, Any]:
    body = rivetr.api.post("/api/oauth/github/authorize", json={}).json()
    consent = httpx.get(body["authorize_url"])
    assert consent.status_code == 302
    query = urlsplit(consent.headers["location"]).query
    response = httpx.get(
        f"{rivetr.server.url}/oauth/github/callback?{query}", headers={"Accept": "application/json"}
    )
    assert response.status_code == 200, response.text
    return response.json()["account"]  # type: ignore[no-any-return]


def test_pull_request_preview_lifecycle_and_fork_secrets(e2e, git_server, fake_git_host: FakeGitHost):
    rivetr = e2e(
        "docker",
        RIVETR_WEBHOOKS__GITHUB_SECRET=SECRET,
        RIVETR_PROXY__PREVIEW_DOMAIN=PREVIEW_DOMAIN,
        RIVETR_OAUTH__GITHUB__CLIENT_ID=CLIENT_ID,
        RIVETR_OAUTH__GITHUB__CLIENT_SECRET=CLIENT_SECRET,
        RIVETR_OAUTH__GITHUB__BASE_URL=f"{fake_git_host.url}/github",
    )
    account = connect_github(rivetr)
    repo = git_server.create_repo("prapp")
    app = rivetr.create_app(repo, "prapp")
    for key, value, secret in (("PUBLIC_FLAG", "visible-1", False), ("SECRET_TOKEN", "hush-42", True)):
        response = rivetr.api.post(
            f"/api/apps/{app['id']}/env-vars", json={"key": key, "value": value, "is_secret": secret}
        )
        assert response.status_code == 201, response.text
    settings = rivetr.api.put(
        f"/api/apps/{app['id']}/git-settings", json={"preview_secrets": True, "account_id": account["id"]}
    )
    assert settings.status_code == 200, settings.text
    rivetr.deploy_and_wait(app["id"])

    # ---- same-repository PR: preview served at its subdomain, secrets allowed by the app
    sha = branch(repo, "feature", "preview of PR 7\n")
    response = signed_post(
        rivetr, "pull_request", pr_payload(repo, repo.url, "acme/site", sha, "opened", 7), "pr-1"
    )
    assert response.status_code == 202, response.text
    [dep_id] = response.json()["deployments"]
    assert rivetr.wait(dep_id)["status"] == "running"
    host = f"pr-7.prapp.{PREVIEW_DOMAIN}"
    rivetr.wait_content(host, "preview of PR 7\n")
    rivetr.wait_content("prapp.e2e.test", "hello from v1\n")  # the app itself is untouched
    env = env_of(rivetr, dep_id)
    assert "PUBLIC_FLAG=visible-1" in env and "SECRET_TOKEN=hush-42" in env and "RIVETR_PR_NUMBER=7" in env

    previews = rivetr.api.get(f"/api/apps/{app['id']}/previews").json()["items"]
    assert [(p["pr_number"], p["domain"]) for p in previews] == [(7, host)]
    wait_for(
        lambda: rivetr.api.get(f"/api/apps/{app['id']}/previews").json()["items"][0]["status"] == "running",
        timeout=90,
        what="preview status running",
    )
    apps_listed = rivetr.api.get("/api/apps").json()["items"]
    preview_app_id = previews[0]["preview_app_id"]

    comments = lambda: fake_git_host.comments.get(("github", "acme/site", 7), {})  # noqa: E731
    wait_for(lambda: any("is live" in body for body in comments().values()), timeout=90, what="live comment")
    assert len(comments()) == 1 and f"http://{host}" in next(iter(comments().values()))

    # ---- a new push to the PR redeploys the preview and edits the same comment
    from tests.support.gitserver import _git

    _git("checkout", "-q", "feature", cwd=repo.work)
    repo.write("www/index.html", "preview of PR 7, second push\n")
    _git("commit", "-qam", "second push", cwd=repo.work)
    _git("push", "-q", "origin", "HEAD:feature", cwd=repo.work)
    sha2 = repo.head()
    _git("checkout", "-q", "main", cwd=repo.work)
    response = signed_post(
        rivetr, "pull_request", pr_payload(repo, repo.url, "acme/site", sha2, "synchronize", 7), "pr-2"
    )
    assert response.status_code == 202, response.text
    assert rivetr.wait(response.json()["deployments"][0])["status"] == "running"
    rivetr.wait_content(host, "preview of PR 7, second push\n")
    wait_for(
        lambda: any(sha2[:7] in b and "is live" in b for b in comments().values()),
        timeout=90,
        what="updated comment",
    )
    assert len(comments()) == 1

    # ---- a fork's PR: never secrets, even though the app allows them for its own branches
    fork = git_server.create_repo("prapp-fork")
    fork_sha = branch(fork, "feature", "fork preview\n")
    response = signed_post(
        rivetr, "pull_request", pr_payload(repo, fork.url, "mallory/site", fork_sha, "opened", 8), "pr-3"
    )
    assert response.status_code == 200 and response.json()["status"] == "awaiting_approval", response.text
    [preview_id] = response.json()["previews"]
    response = rivetr.api.post(f"/api/previews/{preview_id}/approve")  # [previews] forks = "approve"
    assert response.status_code == 202, response.text
    fork_dep = response.json()["deployment_id"]
    assert rivetr.wait(fork_dep)["status"] == "running"
    fork_host = f"pr-8.prapp.{PREVIEW_DOMAIN}"
    rivetr.wait_content(fork_host, "fork preview\n")
    fork_env = env_of(rivetr, fork_dep)
    assert "PUBLIC_FLAG=visible-1" in fork_env
    assert "SECRET_TOKEN" not in fork_env and "hush-42" not in fork_env

    # ---- closed / merged: containers, routes and images removed
    preview_images = rivetr.images("prapp-pr-7")
    assert preview_images
    response = signed_post(
        rivetr,
        "pull_request",
        pr_payload(repo, repo.url, "acme/site", sha2, "closed", 7, merged=True),
        "pr-4",
    )
    assert response.status_code == 200 and response.json()["status"] == "removed", response.text
    status, _ = rivetr.fetch(host)
    assert status in (404, 502)
    assert rivetr.images("prapp-pr-7") == []
    assert host not in [r["domain"] for r in rivetr.api.get("/api/routes").json()["items"]]
    containers = rivetr.cli("ps", "-aq", "--filter", f"label=rivetr.app={preview_app_id}").split()
    assert containers == []
    assert [
        p["status"]
        for p in rivetr.api.get(f"/api/apps/{app['id']}/previews").json()["items"]
        if p["pr_number"] == 7
    ] == ["removed"]
    wait_for(lambda: any("removed" in b for b in comments().values()), timeout=90, what="removed comment")
    assert len(comments()) == 1
    rivetr.wait_content("prapp.e2e.test", "hello from v1\n")

    # ---- DELETE /api/previews/{id} removes the fork preview at once
    fork_preview = next(
        p for p in rivetr.api.get(f"/api/apps/{app['id']}/previews").json()["items"] if p["pr_number"] == 8
    )
    assert rivetr.api.delete(f"/api/previews/{fork_preview['id']}").status_code == 204
    status, _ = rivetr.fetch(fork_host)
    assert status in (404, 502)
    assert rivetr.images("prapp-pr-8") == []
    assert len(apps_listed) >= 1


GL_FIXTURES = Path(__file__).resolve().parents[2] / "plugins/git-gitlab/tests/fixtures"
GL_TOKEN = "e2e-gitlab-token"


def gitlab_mr(base: Any, sha: str, action: str, iid: int) -> dict[str, Any]:
    payload = json.loads((GL_FIXTURES / f"gitlab_merge_request_{action}.json").read_text())
    project = {
        **payload["project"],
        "git_http_url": base.url,
        "git_ssh_url": base.url,
        "http_url": base.url,
        "url": base.url,
        "ssh_url": base.url,
    }
    payload["project"] = project
    payload["repository"] = {
        **payload["repository"],
        "url": base.url,
        "git_http_url": base.url,
        "git_ssh_url": base.url,
    }
    attrs = payload["object_attributes"]
    attrs.update(
        iid=iid,
        source_branch="feature",
        target_branch="main",
        source=project,
        target=project,
        last_commit={**attrs["last_commit"], "id": sha},
    )
    return payload


def test_gitlab_merge_request_preview(e2e, git_server, fake_git_host: FakeGitHost):
    rivetr = e2e(
        "docker",
        RIVETR_WEBHOOKS__GITLAB_TOKEN=GL_TOKEN,
        RIVETR_PROXY__PREVIEW_DOMAIN=PREVIEW_DOMAIN,
        RIVETR_OAUTH__GITLAB__CLIENT_ID=CLIENT_ID,
        RIVETR_OAUTH__GITLAB__CLIENT_SECRET=CLIENT_SECRET,
        RIVETR_OAUTH__GITLAB__BASE_URL=f"{fake_git_host.url}/gitlab",
    )
    body = rivetr.api.post("/api/oauth/gitlab/authorize", json={}).json()
    consent = httpx.get(body["authorize_url"])
    query = urlsplit(consent.headers["location"]).query
    response = httpx.get(
        f"{rivetr.server.url}/oauth/gitlab/callback?{query}", headers={"Accept": "application/json"}
    )
    assert response.status_code == 200, response.text
    repo = git_server.create_repo("glapp")
    app = rivetr.create_app(repo, "glapp")
    sha = branch(repo, "feature", "merge request preview\n")

    def send(payload: dict[str, Any], uuid: str) -> httpx.Response:
        return httpx.post(
            f"{rivetr.server.url}/webhooks/gitlab",
            json=payload,
            timeout=30,
            headers={
                "X-Gitlab-Event": "Merge Request Hook",
                "X-Gitlab-Token": GL_TOKEN,
                "X-Gitlab-Event-UUID": uuid,
            },
        )

    response = send(gitlab_mr(repo, sha, "open", 3), "mr-open")
    assert response.status_code == 202, response.text
    assert rivetr.wait(response.json()["deployments"][0])["status"] == "running"
    host = f"pr-3.glapp.{PREVIEW_DOMAIN}"
    rivetr.wait_content(host, "merge request preview\n")
    notes = lambda: fake_git_host.comments.get(("gitlab", "15", 3), {})  # noqa: E731  (project id 15)
    wait_for(lambda: any("is live" in n for n in notes().values()), timeout=90, what="MR note")
    assert len(notes()) == 1

    response = send(gitlab_mr(repo, sha, "merge", 3), "mr-merge")
    assert response.status_code == 200 and response.json()["status"] == "removed", response.text
    status, _ = rivetr.fetch(host)
    assert status in (404, 502)
    assert rivetr.images("glapp-pr-3") == []
    wait_for(lambda: any("removed" in n for n in notes().values()), timeout=90, what="MR note update")
    assert len(notes()) == 1
    assert rivetr.api.get(f"/api/apps/{app['id']}/deployments").json()["items"] == []  # the app untouched
