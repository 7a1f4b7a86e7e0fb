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
rm -f .coverage .coverage.*
set +e
# Two pytest processes at once (tests/support/workers.py marks who goes where): every test that drives a container
# engine, in order, in one; everything else in the other (RIVETR_TEST_PARALLEL=0: one after the other). When the rest
# is done, the database tests (marker "db", tests/support/db_marks.py) again on PostgreSQL (RIVETR_TEST_DATABASE,
# a private cluster tests/support/postgres.py starts), beside the engine tests still running. Then the tests that
# restart an engine daemon, alone. Each part keeps its own junit file and coverage data, combined below.
part() {  # NAME MARK-EXPRESSION [pytest arguments]
    local name=$1 expr=$2
    shift 2
    COVERAGE_FILE=".coverage.$name" .venv/bin/python -m pytest --cov --cov-report= \
        --junitxml="artifacts/junit-$name.xml" -p no:cacheprovider -m "$expr" "$@"
}
if [ "${RIVETR_TEST_PARALLEL:-1}" = 1 ]; then
    part engines "engines and not engine_restart" "$@" > artifacts/pytest-engines.log 2>&1 &
    engines_pid=$!
    part rest "not engines and not engine_restart" "$@"
    rest=$?
    log "the database tests on PostgreSQL (beside the engine tests)"
    RIVETR_TEST_DATABASE=postgres part postgres "db and not engines and not engine_restart" "$@"
    postgres=$?
    wait "$engines_pid"
    engines=$?
    log "the engine tests' output (they ran beside the rest)"
    cat artifacts/pytest-engines.log
else
    part engines "engines and not engine_restart" "$@"
    engines=$?
    part rest "not engines and not engine_restart" "$@"
    rest=$?
    RIVETR_TEST_DATABASE=postgres part postgres "db and not engines and not engine_restart" "$@"
    postgres=$?
fi
log "engine restarts, alone"
part engine-restart "engine_restart" "$@"
restart=$?
log "coverage"
.venv/bin/coverage combine -q .coverage.engines .coverage.rest .coverage.postgres .coverage.engine-restart 2>/dev/null
.venv/bin/coverage report --skip-covered | tail -n 60
.venv/bin/coverage xml -q -o artifacts/coverage.xml
# 5 is "nothing selected" (extra arguments that pick no test of a part): not a failure unless no part ran any.
status=5
for code in $engines $rest $postgres $restart; do
    if [ "$code" != 0 ] && [ "$code" != 5 ]; then status=$code; fi
    if [ "$code" = 0 ] && [ "$status" = 5 ]; then status=0; fi
done
echo "parts: engines=$engines rest=$rest postgres=$postgres engine-restart=$restart"
set -e
log "done"
exit $status
