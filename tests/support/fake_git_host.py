"""A local HTTP server speaking the subset of the GitHub and GitLab OAuth/REST APIs Rivetr uses.

Real sockets, real HTTP, real OAuth 2 semantics: the authorisation endpoint auto-approves as the configured
user and redirects with ``code`` and ``state``; the token endpoint checks client credentials, the redirect
URI, and PKCE (S256: ``base64url(sha256(code_verifier)) == code_challenge``, and refuses a flow without it);
refresh tokens rotate (the old one stops working, as on GitLab); API calls need a live bearer token.

GitHub flavour under ``<url>/github`` (web) and ``<url>/github/api/v3`` (API, like GitHub Enterprise);
GitLab flavour under ``<url>/gitlab`` and ``<url>/gitlab/api/v4``.

``fake_git_host`` fixture → a started :class:`FakeGitHost`; inspect ``requests``, ``comments``,
``refreshes``, ``pkce_verified``; change ``token_ttl`` (seconds, None = never expires).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import pytest

CLIENT_ID = "rivetr-test-client"
CLIENT_SECRET = "rivetr-test-client-secret"


@dataclass
class FakeGitHost:
    user_login: str = "octocat"
    user_id: int = 583231
    repo_count: int = 35
    token_ttl: float | None = None  # seconds; None: tokens never expire (GitHub OAuth Apps)
    url: str = ""
    requests: list[tuple[str, str]] = field(default_factory=list)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, float | None] = field(default_factory=dict)  # access token -> expiry (epoch) or None
    refresh_tokens: set[str] = field(default_factory=set)
    refreshes: int = 0
    pkce_verified: int = 0
    comments: dict[tuple[str, str, int], dict[int, str]] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1000))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------------------------------- data
    def repo_names(self) -> list[str]:
        return [f"{self.user_login}/site-{i}" for i in range(1, self.repo_count + 1)]

    def github_repo(self, full: str, index: int) -> dict[str, Any]:
        return {
            "id": 5000 + index,
            "name": full.split("/")[1],
            "full_name": full,
            "private": index % 2 == 0,
            "owner": {"login": full.split("/")[0], "id": self.user_id},
            "html_url": f"{self.url}/github/{full}",
            "clone_url": f"{self.url}/github/{full}.git",
            "ssh_url": f"git@127.0.0.1:{full}.git",
            "default_branch": "main",
            "description": None,
            "updated_at": f"2026-11-{(index % 27) + 1:02d}T00:00:00Z",
        }

    def gitlab_project(self, full: str, index: int) -> dict[str, Any]:
        return {
            "id": 7000 + index,
            "path_with_namespace": full,
            "name": full.split("/")[1],
            "http_url_to_repo": f"{self.url}/gitlab/{full}.git",
            "ssh_url_to_repo": f"git@127.0.0.1:{full}.git",
            "web_url": f"{self.url}/gitlab/{full}",
            "default_branch": "main",
            "visibility": "private" if index % 2 == 0 else "public",
            "description": "",
            "last_activity_at": "2026-11-27T00:00:00Z",
        }

    # ------------------------------------------------------------------------------------------- oauth
    def issue_tokens(self) -> dict[str, Any]:
        access, refresh = "at_" + secrets.token_hex(12), "rt_" + secrets.token_hex(12)
        expires = time.time() + self.token_ttl if self.token_ttl is not None else None
        self.tokens[access] = expires
        self.refresh_tokens.add(refresh)
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "bearer",
            "scope": "repo read:user",
            "refresh_token": refresh,
        }
        if self.token_ttl is not None:
            body["expires_in"] = int(self.token_ttl)
        return body

    def token_ok(self, header: str | None) -> bool:
        if not header or not header.lower().startswith("bearer "):
            return False
        token = header.split(" ", 1)[1].strip()
        if token not in self.tokens:
            return False
        expiry = self.tokens[token]
        return expiry is None or expiry > time.time()

    # ------------------------------------------------------------------------------------------- server
    def start(self) -> FakeGitHost:
        host = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                host._handle(self, "GET")

            def do_POST(self) -> None:
                host._handle(self, "POST")

            def do_PATCH(self) -> None:
                host._handle(self, "PATCH")

            def do_PUT(self) -> None:
                host._handle(self, "PUT")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(req.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(req.headers.get("Content-Length") or 0)
        raw = req.rfile.read(length) if length else b""
        with self._lock:
            self.requests.append((method, req.path))
            try:
                status, body, headers = self._route(method, parts.path, query, raw, req.headers)
            except KeyError as exc:
                status, body, headers = 400, {"error": "invalid_request", "error_description": str(exc)}, {}
        data = b"" if body is None else json.dumps(body).encode()
        req.send_response(status)
        for key, value in headers.items():
            req.send_header(key, value)
        if "Location" not in headers:
            req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)

    def _route(
        self, method: str, path: str, query: dict[str, str], raw: bytes, headers: Any
    ) -> tuple[int, Any, dict[str, str]]:
        segments = [unquote(s) for s in path.strip("/").split("/")]
        flavour, rest = segments[0], segments[1:]
        if flavour not in ("github", "gitlab"):
            return 404, {"message": "Not Found"}, {}
        oauth = {
            "github": (["login", "oauth", "authorize"], ["login", "oauth", "access_token"]),
            "gitlab": (["oauth", "authorize"], ["oauth", "token"]),
        }[flavour]
        if method == "GET" and rest == oauth[0]:
            return self._authorize(query)
        if method == "POST" and rest == oauth[1]:
            return self._token({k: v[-1] for k, v in parse_qs(raw.decode()).items()})
        api = ["api", "v3"] if flavour == "github" else ["api", "v4"]
        if rest[:2] != api:
            return 404, {"message": "Not Found"}, {}
        if not self.token_ok(headers.get("Authorization")):
            return 401, {"message": "Bad credentials"}, {}
        payload = json.loads(raw) if raw else {}
        if flavour == "github":
            return self._github(method, rest[2:], query, payload)
        return self._gitlab(method, rest[2:], query, payload)

    def _authorize(self, q: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code":
            return 400, {"error": "invalid_client"}, {}
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return 400, {"error": "invalid_request", "error_description": "PKCE S256 required"}, {}
        code = "code_" + secrets.token_hex(8)
        self.codes[code] = {"redirect_uri": q["redirect_uri"], "challenge": q["code_challenge"]}
        location = q["redirect_uri"] + "?" + urlencode({"code": code, "state": q.get("state", "")})
        return 302, None, {"Location": location}

    def _token(self, form: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return 401, {"error": "invalid_client"}, {}
        grant = form.get("grant_type")
        if grant == "authorization_code":
            entry = self.codes.pop(form.get("code", ""), None)  # single use
            if entry is None or entry["redirect_uri"] != form.get("redirect_uri"):
                return 400, {"error": "invalid_grant"}, {}
            verifier = form.get("code_verifier", "")
            digest = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            )
            if not verifier or digest != entry["challenge"]:
                return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}, {}
            self.pkce_verified += 1
            return 200, self.issue_tokens(), {}
        if grant == "refresh_token":
            old = form.get("refresh_token", "")
            if old not in self.refresh_tokens:
                return 400, {"error": "invalid_grant", "error_description": "refresh token revoked"}, {}
            self.refresh_tokens.discard(old)  # rotation: a refresh token works once
            self.refreshes += 1
            return 200, self.issue_tokens(), {}
        return 400, {"error": "unsupported_grant_type"}, {}

    # --------------------------------------------------------------------------------------------- APIs
    def _page(self, items: list[Any], query: dict[str, str], per_key: str) -> tuple[list[Any], int, bool]:
        page, per = int(query.get("page", 1)), int(query.get(per_key, 30))
        chunk = items[(page - 1) * per : page * per]
        return chunk, page, page * per < len(items)

    def _github(
        self, method: str, rest: list[str], q: dict[str, str], payload: dict[str, Any]
    ) -> tuple[int, Any, dict[str, str]]:
        if method == "GET" and rest == ["user"]:
            return (
                200,
                {
                    "login": self.user_login,
                    "id": self.user_id,
                    "name": "The Octocat",
                    "email": None,
                    "avatar_url": "https://example.invalid/a.png",
                },
                {},
            )
        if method == "GET" and rest == ["user", "repos"]:
            repos = [self.github_repo(n, i) for i, n in enumerate(self.repo_names(), 1)]
            chunk, page, more = self._page(repos, q, "per_page")
            headers = (
                {"Link": f'<{self.url}/github/api/v3/user/repos?page={page + 1}>; rel="next"'} if more else {}
            )
            return 200, chunk, headers
        if method == "GET" and len(rest) == 4 and rest[0] == "repos" and rest[3] == "branches":
            branches = [
                {"name": "main", "commit": {"sha": "a" * 40}, "protected": True},
                {"name": "feature", "commit": {"sha": "b" * 40}, "protected": False},
            ]
            return 200, self._page(branches, q, "per_page")[0], {}
        if (
            method == "POST"
            and len(rest) == 6
            and rest[0] == "repos"
            and rest[3] == "issues"
            and rest[5] == "comments"
        ):
            key = ("github", f"{rest[1]}/{rest[2]}", int(rest[4]))
            cid = next(self._ids)
            self.comments.setdefault(key, {})[cid] = payload["body"]
            return 201, {"id": cid, "body": payload["body"]}, {}
        if method == "PATCH" and len(rest) == 6 and rest[3] == "issues" and rest[4] == "comments":
            cid = int(rest[5])
            for key, comments in self.comments.items():
                if key[1] == f"{rest[1]}/{rest[2]}" and cid in comments:
                    comments[cid] = payload["body"]
                    return 200, {"id": cid, "body": payload["body"]}, {}
            return 404, {"message": "Not Found"}, {}
        return 404, {"message": "Not Found"}, {}

    def _gitlab(
        self, method: str, rest: list[str], q: dict[str, str], payload: dict[str, Any]
    ) -> tuple[int, Any, dict[str, str]]:
        if method == "GET" and rest == ["user"]:
            return (
                200,
                {
                    "id": self.user_id,
                    "username": self.user_login,
                    "name": "Octo Cat",
                    "email": "octo@example.invalid",
                    "avatar_url": None,
                },
                {},
            )
        if method == "GET" and rest == ["projects"]:
            projects = [self.gitlab_project(n, i) for i, n in enumerate(self.repo_names(), 1)]
            if q.get("search"):
                projects = [p for p in projects if q["search"].lower() in p["path_with_namespace"].lower()]
            chunk, page, more = self._page(projects, q, "per_page")
            return 200, chunk, {"X-Next-Page": str(page + 1) if more else ""}
        if (
            method == "GET"
            and len(rest) == 4
            and rest[0] == "projects"
            and rest[2:] == ["repository", "branches"]
        ):
            if rest[1] not in self.repo_names() and not rest[1].isdigit():
                return 404, {"message": "404 Project Not Found"}, {}
            return 200, [{"name": "main", "commit": {"id": "c" * 40}, "protected": True}], {}
        if len(rest) >= 5 and rest[0] == "projects" and rest[2] == "merge_requests" and rest[4] == "notes":
            key = ("gitlab", rest[1], int(rest[3]))
            if method == "POST" and len(rest) == 5:
                nid = next(self._ids)
                self.comments.setdefault(key, {})[nid] = payload["body"]
                return 201, {"id": nid, "body": payload["body"]}, {}
            if method == "PUT" and len(rest) == 6:
                nid = int(rest[5])
                if nid not in self.comments.get(key, {}):
                    return 404, {"message": "404 Not found"}, {}
                self.comments[key][nid] = payload["body"]
                return 200, {"id": nid, "body": payload["body"]}, {}
        return 404, {"message": "404 Not Found"}, {}


@pytest.fixture
def fake_git_host() -> Iterator[FakeGitHost]:
    host = FakeGitHost().start()
    yield host
    host.stop()
