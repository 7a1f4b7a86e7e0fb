#!/usr/bin/env bash
# The whole test suite from a clean clone: bootstrap (venv, npm), system dependencies (engines, Chromium,
# Pebble — installed with apt when root), lint (ruff), types (mypy), then pytest over tests/, plugins/*/tests
# and ui/tests with coverage. Extra arguments go to pytest (e.g. scripts/test.sh -k proxy -x).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
started=$SECONDS
log() { printf '\n== %s (%ds)\n' "$*" $((SECONDS - started)) >&2; }

log "bootstrap"
bash scripts/bootstrap.sh --dev

log "system dependencies"
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v pebble >/dev/null || need+=(pebble)
command -v git >/dev/null || need+=(git)
# PostgreSQL's server binaries for the control-plane database tests (tests/support/postgres.py starts a private cluster).
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    else
        echo "warning: missing ${need[*]}; the tests that need them will fail" >&2
    fi
fi
# Docker + Podman running and the local base image built (no registry is reachable).
eval "$(bash scripts/engines.sh ensure all | grep -E '^[A-Z_]+=' | sed 's/^/export /')"

log "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

log "mypy"
.venv/bin/mypy

log "pytest"
mkdir -p artifacts
rm -f .coverage .coverage.* artifacts/status-*
set +e
# Coverage is opt-in (RIVETR_TEST_COVERAGE=1): its tracer makes the in-process tests ~45% slower, which the CI
# time budget cannot carry.
cov=()
if [ "${RIVETR_TEST_COVERAGE:-0}" = 1 ]; then cov=(--cov --cov-report=); fi
part() {  # NAME MARK-EXPRESSION [pytest arguments]
    local name=$1 expr=$2
    shift 2
    COVERAGE_FILE=".coverage.$name" .venv/bin/python -m pytest "${cov[@]}" \
        --junitxml="artifacts/junit-$name.xml" -p no:cacheprovider -m "$expr" "$@"
    local code=$?
    echo "$code" > "artifacts/status-$name"
    return "$code"
}
ENGINES="engines and not engine_restart"
REST="not engines and not engine_restart"
POSTGRES="db and not engines and not engine_restart"
if [ "${RIVETR_TEST_PARALLEL:-1}" = 1 ]; then
    # Two processes at once (tests/support/workers.py says who goes where): the engine tests mostly wait for the
    # engines, beside everything else; the PostgreSQL pass follows the rest. Not three: Docker's and Podman's
    # tests side by side loaded this 2-core machine enough for podman 4.3 to lose exec output now and then
    # (its attach race) and for builds and browser waits to time out, for no gain in time (the cores were the
    # limit).
    part engines "$ENGINES" "$@" > artifacts/pytest-engines.log 2>&1 &
    engines_pid=$!
    part rest "$REST" "$@"
    log "the database tests on PostgreSQL (beside the engine tests)"
    RIVETR_TEST_DATABASE=postgres part postgres "$POSTGRES" "$@"
    wait "$engines_pid"
    log "the engine tests' output (they ran beside the rest)"
    cat artifacts/pytest-engines.log
else
    part engines "$ENGINES" "$@"
    part rest "$REST" "$@"
    RIVETR_TEST_DATABASE=postgres part postgres "$POSTGRES" "$@"
fi
log "engine restarts, alone"
part engine-restart "engine_restart" "$@"
if [ ${#cov[@]} -gt 0 ]; then
    log "coverage"
    .venv/bin/coverage combine -q .coverage.* 2>/dev/null
    .venv/bin/coverage report --skip-covered | tail -n 60
    .venv/bin/coverage xml -q -o artifacts/coverage.xml
fi
status=5
summary=""
for name in engines rest postgres engine-restart; do
    code=$(cat "artifacts/status-$name" 2>/dev/null || echo 1)  # no status: the part did not finish
    summary="$summary $name=$code"
    if [ "$code" != 0 ] && [ "$code" != 5 ]; then status=$code; fi
    if [ "$code" = 0 ] && [ "$status" = 5 ]; then status=0; fi
done
echo "parts:$summary"
set -e
log "done"
exit $status
