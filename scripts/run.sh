#!/usr/bin/env bash
# Run Rivetr from a clean clone: bootstrap, make sure a container engine answers, then `rivetr serve`.
# Defaults: embedded SQLite in ./data, the built-in proxy on :80/:443, API + dashboard on :8080, engine auto-detected.
# Extra arguments go to `rivetr serve` (e.g. --config rivetr.toml).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh
if [ "$(id -u)" = 0 ]; then
    # Installs and starts Docker (and Podman) when missing; harmless when they already run.
    eval "$(bash scripts/engines.sh ensure all | grep -E '^[A-Z_]+=' | sed 's/^/export /')"
fi
exec .venv/bin/rivetr serve "$@"
