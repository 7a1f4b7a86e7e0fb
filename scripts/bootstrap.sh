#!/usr/bin/env bash
# Make a clean clone runnable: a venv in .venv with rivetr-core and every plugin installed editable, and the
# dashboard's front-end libraries from npm. Idempotent and quick when nothing changed (stamp files).
#
#   scripts/bootstrap.sh            python + front-end
#   scripts/bootstrap.sh --dev      also the test/lint tools (pytest, ruff, mypy, playwright)
#
# Environment: PYTHON (interpreter to build the venv with; default python3.11/python3).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DEV=0
[ "${1:-}" = "--dev" ] && DEV=1
log() { printf 'bootstrap: %s\n' "$*" >&2; }

# Root on a fresh Debian machine: fetch the system packages a clean clone needs (never on a dev laptop).
apt_install() {  # $@ = "command:package" pairs; installs the packages whose command is missing
    local missing=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        log "missing: ${missing[*]} (install them, or run as root on Debian to have them installed)"
        return 0
    fi
    log "apt-get install ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}
apt_install git:git curl:curl npm:npm

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
    for candidate in python3.13 python3.12 python3.11 python3; do
        # stderr hidden: a pyenv shim for a version that is installed but not selected only complains.
        if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            PY="$candidate"; break
        fi
    done
fi
[ -n "$PY" ] || { log "Python >= 3.11 is required"; exit 1; }

if [ ! -x .venv/bin/python ]; then
    log "creating .venv with $PY"
    "$PY" -m venv .venv
fi

# Editable installs of core and every plugin directory (new plugins are picked up automatically).
specs=(-e ".[dev,postgres]")
[ "$DEV" = 1 ] || specs=(-e ".")
for dir in plugins/*/ ui/; do
    [ -f "$dir/pyproject.toml" ] && specs+=(-e "./${dir%/}")
done
stamp_py="$(cat pyproject.toml plugins/*/pyproject.toml ui/pyproject.toml 2>/dev/null | sha256sum | cut -c1-16)-$DEV"
installed="$(cat .venv/.rivetr-stamp 2>/dev/null || true)"
# A dev install has everything running needs: ./scripts/run.sh after ./scripts/test.sh must not reinstall.
if [ "$installed" != "$stamp_py" ] && [ "$installed" != "${stamp_py%-0}-1" ]; then
    log "installing python packages (${#specs[@]} specs)"
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    .venv/bin/python -m pip install -q "${specs[@]}"
    echo "$stamp_py" > .venv/.rivetr-stamp
fi

# Front-end libraries for the dashboard come from npm (never committed).
if [ -f ui/package-lock.json ]; then
    stamp_ui="$(sha256sum ui/package-lock.json | cut -c1-16)"
    if [ "$(cat ui/node_modules/.rivetr-stamp 2>/dev/null)" != "$stamp_ui" ]; then
        log "npm ci in ui/"
        (cd ui && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
        echo "$stamp_ui" > ui/node_modules/.rivetr-stamp
    fi
fi
