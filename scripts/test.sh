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
set +e
# Two workers (RIVETR_TEST_WORKERS; tests/support/workers.py decides who shares one): the engine tests in order on
# one, the other modules spread over both. Tests that restart an engine daemon then run alone, serially.
workers="${RIVETR_TEST_WORKERS:-2}"
parallel=(-p no:cacheprovider)
[ "$workers" -gt 1 ] && parallel+=(-n "$workers" --dist loadgroup)
.venv/bin/python -m pytest --cov --cov-report= --junitxml=artifacts/junit.xml "${parallel[@]}" \
    -m "not engine_restart" "$@"
status=$?
.venv/bin/python -m pytest --cov --cov-append --cov-report=term:skip-covered \
    --cov-report=xml:artifacts/coverage.xml --junitxml=artifacts/junit-engine-restart.xml -p no:cacheprovider \
    -m engine_restart "$@"
serial=$?
# 5: nothing collected (extra arguments selecting no engine-restart test) is not a failure.
[ "$serial" = 0 ] || [ "$serial" = 5 ] || status=$serial
[ "$status" = 5 ] && [ "$serial" = 0 ] && status=0
set -e
log "done"
exit $status
