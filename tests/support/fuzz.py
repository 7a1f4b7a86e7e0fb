"""Run schemathesis against a live Rivetr server and sum up what it found.

``run_fuzz(url, token, ...)`` runs ``schemathesis run <url>/openapi.json`` in a subprocess (its CLI is the
supported, stable surface) with an NDJSON report, and reads the report back into a :class:`FuzzReport`: how many
cases were sent, every response >= 500, and the failures of each check. Used by ``tests/test_api_fuzz.py``
(bounded, fixed seed) and ``bench/fuzz_api.py`` (long runs).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: Every check schemathesis has: conformance of status codes, content types, headers and bodies to the
#: document, server errors, auth (``ignored_auth``, ``missing_required_header``), schema-valid requests accepted
#: and schema-invalid ones rejected, methods and ``Allow``, and the stateful resource checks.
ALL_CHECKS = "all"


@dataclass(frozen=True)
class Exclusion:
    """A check that cannot hold for one operation, and why (kept short: each one is a hole in the proof)."""

    method: str
    path: str
    check: str
    reason: str
    #: Only failures whose message names this (e.g. the linked operation of a stateful check); "" for all.
    detail: str = ""


#: Bodies whose validity JSON Schema cannot express: a random string that fits the schema is not a PEM
#: certificate chain matching its key and domain, nor a private key, nor a URL apprise knows; the server rightly
#: answers 422 there. Their other checks (and every other operation's) still count.
SEMANTIC_EXCLUSIONS = (
    Exclusion("POST", "/api/certificates", "positive_data_acceptance", "a PEM chain and its key must parse"),
    Exclusion(
        "PUT",
        "/api/system/cleanup/settings",
        "positive_data_acceptance",
        "disk_warning_percent must not be above disk_critical_percent (the one sent, stored or configured)",
    ),
    Exclusion("POST", "/api/ssh-keys", "positive_data_acceptance", "the private key must parse"),
    Exclusion(
        "POST",
        "/api/registries",
        "positive_data_acceptance",
        "the credentials must log in to a reachable registry",
    ),
    Exclusion(
        "POST",
        "/api/apps/{app_id}/deploy",
        "positive_data_acceptance",
        "image goes with an image app only, commit with a git app only",
    ),
    Exclusion(
        "POST",
        "/api/notification-channels",
        "positive_data_acceptance",
        "apprise must know the URL; the notifier must be a plugin",
    ),
    Exclusion(
        "PUT",
        "/api/notification-channels/{channel_id}",
        "positive_data_acceptance",
        "apprise must know the URL; the notifier must be a plugin",
    ),
    *(
        Exclusion(
            method,
            path,
            "positive_data_acceptance",
            "a bind's host path must lie under the server's [volumes] allowed_bind_roots (none here), a named "
            "volume has none and keeps its name; a mount path must not resolve to /",
        )
        for method, path in (
            ("POST", "/api/apps/{app_id}/volumes"),
            ("PUT", "/api/apps/{app_id}/volumes/{volume_id}"),
        )
    ),
    *(
        Exclusion(
            "POST",
            path,
            "positive_data_acceptance",
            "the .env text must parse (KEY=VALUE lines, closed quotes) and name allowed keys",
        )
        for path in ("/api/apps/{app_id}/env-vars/bulk", "/api/apps/{app_id}/env-vars/bulk/preview")
    ),
    Exclusion(
        "POST",
        "/api/apps/{app_id}/env-vars/bulk",
        "allow_header_conformance",
        "the path is also /env-vars/{key} for a variable named bulk, which GET/PUT/DELETE rightly serve",
    ),
    Exclusion(
        "POST",
        "/api/projects/apply",
        "positive_data_acceptance",
        "the toml text or document must be a valid project.toml (docs/config-as-code.md), checked after the body",
    ),
    Exclusion(
        "POST",
        "/api/projects/apply",
        "allow_header_conformance",
        "the path is also /api/projects/{project_id} for a project named apply, which GET/PUT/DELETE rightly serve",
    ),
    Exclusion(
        "GET",
        "/api/apps/{app_id}/logs",
        "positive_data_acceptance",
        "since/until must be RFC 3339 times with a zone or durations (10m), until not before since",
    ),
    Exclusion(
        "POST",
        "/api/apps",
        "ensure_resource_availability",
        "a backup naming a destination that does not exist is a 404 naming destination_id, not the new app",
        detail="`POST /api/apps/{app_id}/backups`",
    ),
    Exclusion(
        "POST",
        "/api/apps",
        "ensure_resource_availability",
        "a link naming a service that does not exist is a 404 naming service_id, not the new app",
        detail="`POST /api/apps/{app_id}/links`",
    ),
    Exclusion(
        "PUT",
        "/api/apps/{app_id}/git-settings",
        "positive_data_acceptance",
        "account_id must name a connected account (GET /api/git-providers)",
    ),
    Exclusion(
        "PUT",
        "/api/git-providers/{provider}/settings",
        "positive_data_acceptance",
        "the result needs a client id and secret (stored or from the config file) and http(s) URLs",
    ),
    Exclusion(
        "POST",
        "/api/backup-destinations",
        "positive_data_acceptance",
        "the test write must succeed (a directory that exists, a bucket that answers)",
    ),
    *(
        Exclusion(
            method,
            path,
            "positive_data_acceptance",
            "the cron expression and time zone must parse; an app's volumes schedule names an existing app",
        )
        for method, path in (
            ("POST", "/api/backup-schedules"),
            ("PUT", "/api/backup-schedules/{schedule_id}"),
        )
    ),
    *(
        Exclusion(method, path, "positive_data_acceptance", "the cron expression and time zone must parse")
        for method, path in (
            ("POST", "/api/apps/{app_id}/tasks"),
            ("PUT", "/api/apps/{app_id}/tasks/{task_id}"),
        )
    ),
    Exclusion(
        "POST",
        "/api/apps/{app_id}/scheduled-deployments",
        "positive_data_acceptance",
        "exactly one of at (a future RFC 3339 time) and schedule (a cron that parses)",
    ),
    *(
        Exclusion("GET", path, "positive_data_acceptance", "a cursor must be the `next` of an earlier page")
        for path in (
            "/api/backup-destinations",
            "/api/backups",
            "/api/apps/{app_id}/backups",
            "/api/backups/{backup_id}/restores",
            "/api/backup-schedules",
        )
    ),
    Exclusion(
        "POST",
        "/api/services",
        "positive_data_acceptance",
        "type must name a catalogue template (GET /api/templates) and version one of its versions",
    ),
    Exclusion(
        "PUT",
        "/api/services/{service_id}",
        "positive_data_acceptance",
        "version must be one of the service's template's versions; a public port must be free on the host",
    ),
    *(
        Exclusion(
            method,
            path,
            "positive_data_acceptance",
            "the compose file must be one Rivetr runs (YAML, the Compose schema, the supported subset, its "
            "variables set), repo_url a repository URL, branch a git branch name, each domain's service in the "
            "file and free; the name must be free",
        )
        for method, path in (
            ("POST", "/api/stacks"),
            ("PUT", "/api/stacks/{stack_id}"),
            ("POST", "/api/compose/validate"),
        )
    ),
    *(
        Exclusion("GET", path, "positive_data_acceptance", "a cursor must be the `next` of an earlier page")
        for path in ("/api/stacks", "/api/stacks/{stack_id}/deployments")
    ),
    *(
        Exclusion("GET", path, "positive_data_acceptance", "a cursor must be the `next` of an earlier page")
        for path in (
            "/api/services",
            "/api/apps",
            "/api/projects",
            "/api/ssh-keys",
            "/api/registries",
            "/api/tokens",
            "/api/notification-channels",
            "/api/webhook-events",
            "/api/audit",
            "/api/apps/{app_id}/deployments",
            "/api/apps/{app_id}/env-vars",
            "/api/apps/{app_id}/previews",
            "/api/auth/sessions",
            "/api/teams",
            "/api/teams/{team_id}/members",
            "/api/users",
            "/api/invitations",
            "/api/certificates",
            "/api/git-providers",
            "/api/git-providers/available",
            "/api/notification-channels/{channel_id}/deliveries",
            "/api/plugins",
            "/api/routes",
            "/api/git-providers/{account_id}/repos",
            "/api/git-providers/{account_id}/branches",
        )
    ),
    # A route key in the path is a host name, optionally followed by a path prefix (api.example.com/v1): a
    # path parameter's pattern is not in the document, so a random string is rightly a 422.
    *(
        Exclusion(method, path, "positive_data_acceptance", "the {key} must be a host name [+ path prefix]")
        for method, path in (
            ("GET", "/api/routes/settings/{key}"),
            ("PUT", "/api/routes/settings/{key}"),
            ("DELETE", "/api/routes/{key}"),
        )
    ),
)


@dataclass
class FuzzReport:
    cases: int = 0
    #: ``"METHOD uri -> status"`` of every response >= 500.
    server_errors: list[str] = field(default_factory=list)
    #: check name -> distinct failures (by operation and message), each with one example exchange.
    failures: dict[str, list[str]] = field(default_factory=dict)
    #: Failures of checks excluded for an operation (see :data:`SEMANTIC_EXCLUSIONS`).
    excluded: int = 0
    #: Errors schemathesis met itself (not the server's failures), e.g. a schema it could not read.
    errors: list[str] = field(default_factory=list)
    output: str = ""

    def failure_counts(self) -> dict[str, int]:
        return {name: len(items) for name, items in sorted(self.failures.items())}

    def describe(self, limit: int = 40) -> str:
        lines = [
            f"{self.cases} cases, {len(self.server_errors)} responses >= 500, {self.excluded} excluded failures"
        ]
        lines += [f"  5xx: {item}" for item in self.server_errors[:limit]]
        for name, items in sorted(self.failures.items()):
            lines.append(f"  {name}: {len(items)}")
            lines += [f"    {item}" for item in items[:limit]]
        lines += [f"  schemathesis error: {item}" for item in self.errors]
        return "\n".join(lines)


def _text(payload: dict | None, limit: int = 300) -> str:
    if not payload:
        return ""
    if "$base64" in payload:
        raw = base64.b64decode(payload["$base64"])
        return raw[:limit].decode("utf-8", "replace")
    return str(payload)[:limit]


def parse_report(path: Path, exclusions: Sequence[Exclusion] = ()) -> FuzzReport:
    report = FuzzReport()
    cases: set[str] = set()
    failures: dict[str, set[str]] = defaultdict(set)
    examples: dict[tuple[str, str], str] = {}
    for line in path.read_text().splitlines():
        event = json.loads(line)
        if "NonFatalError" in event:
            report.errors.append(str(event["NonFatalError"].get("info", event["NonFatalError"]))[:2000])
        finished = event.get("ScenarioFinished")
        if not finished:
            continue
        recorder = finished["recorder"]
        interactions = recorder.get("interactions", {})
        for case_id, interaction in interactions.items():
            cases.add(case_id)
            response = interaction.get("response") or {}
            if response.get("status_code", 0) >= 500:
                request = interaction["request"]
                report.server_errors.append(
                    f"{request['method']} {request['uri'][:300]} -> {response['status_code']} "
                    f"{_text(response.get('content'))}"
                )
        for case_id, checks in recorder.get("checks", {}).items():
            for check in checks:
                if check["status"] != "failure":
                    continue
                info = check.get("failure_info", {}).get("failure", {})
                operation = info.get("operation", recorder["label"])
                text = str(info.get("message", ""))
                if any(
                    f"{x.method} {x.path}" == operation and x.check == check["name"] and x.detail in text
                    for x in exclusions
                ):
                    report.excluded += 1
                    continue
                message = str(info.get("message", "")).replace("\n", " | ")[:300]
                interaction = interactions.get(case_id) or {}
                request = interaction.get("request") or {}
                response = interaction.get("response") or {}
                exchange = (
                    f"{request.get('method')} {str(request.get('uri'))[:200]} {_text(request.get('body'), 200)}"
                    f" -> {response.get('status_code')} {_text(response.get('content'), 200)}"
                )
                key = f"{operation}: {message}"
                examples.setdefault((check["name"], key), exchange)
                failures[check["name"]].add(key)
    report.cases = len(cases)
    report.failures = {
        name: [f"{key} | e.g. {examples[name, key]}" for key in sorted(items)]
        for name, items in failures.items()
    }
    return report


def run_fuzz(
    url: str,
    token: str,
    *,
    max_examples: int,
    seed: int,
    phases: str = "examples,coverage,fuzzing,stateful",
    checks: str = ALL_CHECKS,
    exclude_checks: Sequence[str] = (),
    workers: int = 1,
    max_time: float | None = None,
    extra: Sequence[str] = (),
    exclusions: Sequence[Exclusion] = SEMANTIC_EXCLUSIONS,
    timeout: float = 3600,
) -> FuzzReport:
    with tempfile.TemporaryDirectory(prefix="rivetr-fuzz-") as tmp:
        report_path = Path(tmp) / "events.ndjson"
        args = [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{url}/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--max-examples",
            str(max_examples),
            "--seed",
            str(seed),
            "--phases",
            phases,
            "--checks",
            checks,
            "--workers",
            str(workers),
            # Failures are counted, not stopped at: every operation gets its full budget.
            "--continue-on-failure",
            "--generation-database",
            "none",
            "--report",
            "ndjson",
            "--report-ndjson-path",
            str(report_path),
            "--no-color",
        ]
        if exclude_checks:
            args += ["--exclude-checks", ",".join(exclude_checks)]
        if max_time is not None:
            args += ["--max-time", str(max_time)]
        args += list(extra)
        # cwd: schemathesis keeps a .schemathesis/ cache in its working directory.
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=tmp)
        if not report_path.exists():
            raise RuntimeError(
                f"schemathesis wrote no report (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        report = parse_report(report_path, exclusions)
        report.output = (proc.stdout + proc.stderr)[-6000:]
        return report
