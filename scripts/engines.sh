#!/usr/bin/env bash
# Container engines for Rivetr's tests, benchmarks and local runs, on a fresh Debian machine or a used one.
#
#   scripts/engines.sh ensure [docker|podman|all]   install (as root), start, build the test base image
#   scripts/engines.sh status                       print what answers
#   scripts/engines.sh env                          print the KEY=VALUE lines `ensure` prints, without doing work
#
# `ensure` is idempotent and safe to run from several test sessions at once (flock): it installs missing Debian
# packages (the engines, and their compose reference tools docker-compose / podman-compose), starts dockerd and
# the podman API service when their sockets do not answer (stale pid files are tolerated), and imports the base
# image localhost/rivetr-test/busybox:latest into both engines from Debian's busybox-static, once (an image with
# the current recipe label is reused). Nothing is pulled from a public
# registry: no public registry is reachable on test machines.
#
# Official images (postgres:16, redis:7, ...): `ensure` also runs a local registry (Debian's docker-registry) on
# 127.0.0.1:5000 and makes it both engines' Docker Hub mirror (dockerd --registry-mirror; podman through
# ci/registries.conf as CONTAINERS_REGISTRIES_CONF), then scripts/standins/build.sh pushes stand-ins built from
# Debian packages to it under the official names, so `docker pull postgres:16` works as in production. A running
# dockerd or podman service without the mirror is restarted once (dockerd: containers without a restart policy
# stop with it). RIVETR_SKIP_STANDINS=1 skips building the stand-ins (registry and mirrors are still set up).
#
# It ends by printing KEY=VALUE lines (DOCKER_SOCKET, PODMAN_SOCKET, CONTAINERS_CONF, CONTAINERS_REGISTRIES_CONF,
# BASE_IMAGE, REGISTRY) that tests/support/engines.py parses.
#
# Environment overrides: RIVETR_DOCKER_SOCKET (default unix:///var/run/docker.sock),
# RIVETR_PODMAN_SOCKET (default unix:///run/podman/podman.sock, the [runtime] podman_socket default),
# RIVETR_ENGINES_LOG_DIR (default /var/log/rivetr-engines), CONTAINERS_CONF (default ci/containers.conf),
# RIVETR_REGISTRIES_CONF (default ci/registries.conf; the podman service gets a copy in the log dir),
# RIVETR_REGISTRY_DIR (default /var/lib/rivetr-registry: the registry's config and storage).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DOCKER_SOCKET="${RIVETR_DOCKER_SOCKET:-unix:///var/run/docker.sock}"
PODMAN_SOCKET="${RIVETR_PODMAN_SOCKET:-unix:///run/podman/podman.sock}"
LOG_DIR="${RIVETR_ENGINES_LOG_DIR:-/var/log/rivetr-engines}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$ROOT/ci/containers.conf}"
BASE_IMAGE="localhost/rivetr-test/busybox:latest"
# Bump when the rootfs recipe below changes: an image with another recipe label is rebuilt.
BASE_RECIPE="busybox-static-v1"
LOCK_FILE="${RIVETR_ENGINES_LOCK:-/tmp/rivetr-engines.lock}"
# Fixed address: ci/registries.conf names it too. Loopback registries are plain HTTP for dockerd by default.
REGISTRY_ADDR="127.0.0.1:5000"
REGISTRY_DIR="${RIVETR_REGISTRY_DIR:-/var/lib/rivetr-registry}"
REGISTRIES_CONF_SRC="${RIVETR_REGISTRIES_CONF:-$ROOT/ci/registries.conf}"
# The podman service and podman CLI read the copy: the checkout may be deleted while they run (a CI clone).
export CONTAINERS_REGISTRIES_CONF="$LOG_DIR/registries.conf"

DOCKER_PATH="${DOCKER_SOCKET#unix://}"
PODMAN_PATH="${PODMAN_SOCKET#unix://}"

log() { printf 'engines.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

process_running() {  # $1 = process name; /proc instead of pgrep: procps may be missing on a fresh machine
    local comm state
    for comm in /proc/[0-9]*/comm; do
        [ "$(cat "$comm" 2>/dev/null)" = "$1" ] || continue
        # A zombie (exited, not yet reaped: a daemon we started whose parent is gone, where PID 1 does not
        # reap) is not running; counting it would wait for a socket that never comes.
        state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "${comm%/comm}/status" 2>/dev/null)
        [ "$state" != "Z" ] && return 0
    done
    return 1
}

socket_answers() {  # $1 = socket path; the Docker-compatible API answers /_ping with OK
    [ -S "$1" ] && curl -fsS --max-time 3 --unix-socket "$1" http://d/_ping >/dev/null 2>&1
}

wait_for_socket() {  # $1 = path, $2 = seconds, $3 = name, $4 = log file
    local deadline=$((SECONDS + $2))
    until socket_answers "$1"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "$3 did not answer on $1 within $2 s; last lines of $4:"
            tail -n 20 "$4" >&2 || true
            return 1
        fi
        sleep 0.3
    done
}

# ------------------------------------------------------------------------------------------------ packages
ensure_packages() {  # $@ = engines
    local missing=() engine
    command -v curl >/dev/null || missing+=(curl)
    for engine in "$@"; do
        case "$engine" in
            docker)
                command -v dockerd >/dev/null && command -v docker >/dev/null || missing+=(docker.io)
                # The compose reference tool stacks are compared with (tests/e2e/test_compose_reference.py).
                command -v docker-compose >/dev/null || missing+=(docker-compose)
                ;;
            podman)
                command -v podman >/dev/null || missing+=(podman)
                command -v podman-compose >/dev/null || missing+=(podman-compose)
                command -v runc >/dev/null || missing+=(runc)
                [ -x /usr/libexec/podman/catatonit ] || missing+=(catatonit)
                ;;
        esac
    done
    # The local registry serving the official-image stand-ins, and the builder of their root filesystems.
    command -v docker-registry >/dev/null || missing+=(docker-registry)
    command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
    # The base image needs the *static* busybox: it is copied alone into an empty root filesystem.
    dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "install ok installed" || missing+=(busybox-static)
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing packages (${missing[*]}); run as root or install them"
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq "${missing[@]}" >/dev/null
}

# ------------------------------------------------------------------------------------------------ registry
registry_answers() {
    curl -fsS --max-time 3 "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1
}

ensure_registry() {
    registry_answers && return 0
    command -v docker-registry >/dev/null || die "docker-registry is missing (apt-get install docker-registry)"
    mkdir -p "$REGISTRY_DIR/data" "$LOG_DIR"
    # Debian's package ships a systemd unit on :5000 (all interfaces, htpasswd auth): where systemd runs it, it
    # takes our port and answers 401, so it is stopped and disabled in favour of this unauthenticated loopback one.
    if command -v systemctl >/dev/null && systemctl is-active --quiet docker-registry 2>/dev/null; then
        log "stopping the docker-registry systemd unit (it holds port 5000)"
        systemctl disable --now docker-registry >/dev/null 2>&1 || true
    fi
    local pidfile="$LOG_DIR/registry.pid" pid
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    if [ "$(cat "/proc/${pid:-0}/comm" 2>/dev/null || true)" != docker-registry ]; then
        # Generated here, not in the checkout: the registry outlives a deleted CI clone.
        cat >"$REGISTRY_DIR/config.yml" <<EOF
# Written by Rivetr's scripts/engines.sh: the local Docker Hub mirror for tests (official-image stand-ins).
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR/data
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
EOF
        log "starting docker-registry on $REGISTRY_ADDR (storage: $REGISTRY_DIR/data, log: $LOG_DIR/registry.log)"
        pushd / >/dev/null
        setsid docker-registry serve "$REGISTRY_DIR/config.yml" >>"$LOG_DIR/registry.log" 2>&1 </dev/null 9>&- &
        echo $! >"$pidfile"
        popd >/dev/null
    else
        log "docker-registry (pid $pid) is running but not answering yet; waiting"
    fi
    local deadline=$((SECONDS + 30))
    until registry_answers; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "docker-registry did not answer on $REGISTRY_ADDR within 30 s; last lines of $LOG_DIR/registry.log:"
            tail -n 20 "$LOG_DIR/registry.log" >&2 || true
            die "docker-registry did not start"
        fi
        sleep 0.3
    done
}

wait_pid_gone() {  # $1 = pid, $2 = seconds; a zombie counts as gone
    local deadline=$((SECONDS + $2)) state
    while [ -d "/proc/$1" ]; do
        state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)
        [ "$state" = Z ] && return 0
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.3
    done
}

# ------------------------------------------------------------------------------------------------- dockerd
dockerd_has_mirror() {
    docker -H "$DOCKER_SOCKET" info --format '{{json .RegistryConfig.Mirrors}}' 2>/dev/null | grep -qF "$REGISTRY_ADDR"
}

stop_dockerd() {
    local pid
    pid="$(cat /var/run/docker.pid 2>/dev/null || true)"
    [ "$(cat "/proc/${pid:-0}/comm" 2>/dev/null || true)" = dockerd ] \
        || die "dockerd answers on $DOCKER_PATH without the registry mirror, and /var/run/docker.pid names no dockerd to restart"
    kill -TERM "$pid"
    # dockerd stops its containers first (10 s grace each, in parallel) before it exits.
    wait_pid_gone "$pid" 90 || die "dockerd (pid $pid) did not stop within 90 s"
}

ensure_dockerd() {
    if socket_answers "$DOCKER_PATH"; then
        dockerd_has_mirror && return 0
        [ "$(id -u)" -eq 0 ] || die "dockerd on $DOCKER_PATH lacks --registry-mirror http://$REGISTRY_ADDR and only root can restart it"
        log "restarting dockerd: it lacks --registry-mirror http://$REGISTRY_ADDR (containers without a restart policy stop)"
        stop_dockerd
    fi
    [ "$(id -u)" -eq 0 ] || die "dockerd does not answer on $DOCKER_PATH and only root can start it"
    # A killed dockerd leaves pid files behind, and dockerd refuses to start while its pid file names a live
    # process, even an unrelated one that got the same pid later: keep a pid file only if it names a live
    # dockerd/containerd.
    local pidfile pid comm
    for pidfile in /var/run/docker.pid /var/run/docker/containerd/containerd.pid; do
        if [ -f "$pidfile" ]; then
            pid="$(cat "$pidfile" 2>/dev/null || true)"
            comm="$(cat "/proc/${pid:-0}/comm" 2>/dev/null || true)"
            case "$comm" in
                dockerd | containerd) ;;
                *) log "removing stale $pidfile (pid '${pid}' is not running dockerd/containerd)"; rm -f "$pidfile" ;;
            esac
        fi
    done
    if [ -S "$DOCKER_PATH" ] && ! process_running dockerd; then
        rm -f "$DOCKER_PATH"
    fi
    mkdir -p "$LOG_DIR"
    if ! process_running dockerd; then
        log "starting dockerd on $DOCKER_SOCKET (log: $LOG_DIR/dockerd.log)"
        # setsid: dockerd must outlive this script and the test session's process group.
        # From /: a daemon started inside a checkout that is later deleted (a CI clone) breaks (cwd gone).
        pushd / >/dev/null
        setsid dockerd --host "$DOCKER_SOCKET" --registry-mirror "http://$REGISTRY_ADDR" \
            >>"$LOG_DIR/dockerd.log" 2>&1 </dev/null 9>&- &
        popd >/dev/null
    else
        log "dockerd is running but not answering yet; waiting"
    fi
    wait_for_socket "$DOCKER_PATH" 60 dockerd "$LOG_DIR/dockerd.log" || die "dockerd did not start"
    docker -H "$DOCKER_SOCKET" info >/dev/null 2>&1 || die "dockerd answers /_ping but not 'docker info'"
    dockerd_has_mirror || die "dockerd runs without the registry mirror http://$REGISTRY_ADDR (is another dockerd running?)"
}

# ------------------------------------------------------------------------------------------ podman service
podman_service_pids() {  # the `podman system service ... $PODMAN_SOCKET` processes
    local cmdline
    for cmdline in /proc/[0-9]*/cmdline; do
        tr '\0' ' ' <"$cmdline" 2>/dev/null | grep -q "^[^ ]*podman .*system service.* $PODMAN_SOCKET " || continue
        cmdline="${cmdline%/cmdline}"
        echo "${cmdline#/proc/}"
    done
}

podman_service_has_mirror() {  # the service's own view of registries.conf (GET /libpod/info)
    curl -fsS --max-time 10 --unix-socket "$PODMAN_PATH" http://d/v4.0.0/libpod/info 2>/dev/null \
        | grep -qF "\"$REGISTRY_ADDR\""
}

ensure_podman_service() {
    mkdir -p "$(dirname "$PODMAN_PATH")" "$LOG_DIR"
    cp "$REGISTRIES_CONF_SRC" "$CONTAINERS_REGISTRIES_CONF.tmp" && mv "$CONTAINERS_REGISTRIES_CONF.tmp" "$CONTAINERS_REGISTRIES_CONF"
    if socket_answers "$PODMAN_PATH"; then
        podman_service_has_mirror && return 0
        # Podman containers run under conmon, not the service: restarting the service leaves them running.
        log "restarting the podman service: it lacks the registry mirror ($CONTAINERS_REGISTRIES_CONF)"
        local pid
        for pid in $(podman_service_pids); do
            kill -TERM "$pid" 2>/dev/null || true
            wait_pid_gone "$pid" 30 || die "podman service (pid $pid) did not stop within 30 s"
        done
    fi
    # A socket file left by a killed service makes nothing answer; podman re-creates it.
    [ -S "$PODMAN_PATH" ] && rm -f "$PODMAN_PATH"
    log "starting podman system service on $PODMAN_SOCKET (log: $LOG_DIR/podman-service.log)"
    # The service outlives this checkout (a CI clone may be deleted while it runs): it gets a copy of the
    # config and / as its working directory, or conmon fails every container start ("write child: broken
    # pipe", "Failed to get working directory") once the clone is gone.
    cp "$CONTAINERS_CONF" "$LOG_DIR/containers.conf"
    pushd / >/dev/null
    CONTAINERS_CONF="$LOG_DIR/containers.conf" CONTAINERS_REGISTRIES_CONF="$CONTAINERS_REGISTRIES_CONF" \
        setsid podman system service --time=0 "$PODMAN_SOCKET" \
        >>"$LOG_DIR/podman-service.log" 2>&1 </dev/null 9>&- &
    popd >/dev/null
    wait_for_socket "$PODMAN_PATH" 30 "podman service" "$LOG_DIR/podman-service.log" \
        || die "podman service did not start"
    podman_service_has_mirror || die "the podman service on $PODMAN_PATH does not use the registry mirror (another service?)"
}

# ---------------------------------------------------------------------------------------------- base image
image_recipe() {  # $1 = docker|podman; prints the recipe label of BASE_IMAGE, empty when absent
    if [ "$1" = docker ]; then
        docker -H "$DOCKER_SOCKET" image inspect -f '{{ index .Config.Labels "rivetr.test.recipe" }}' \
            "$BASE_IMAGE" 2>/dev/null || true
    else
        podman image inspect -f '{{ index .Config.Labels "rivetr.test.recipe" }}' "$BASE_IMAGE" 2>/dev/null || true
    fi
}

make_rootfs_tar() {  # $1 = output tar path
    local tmp rootfs
    tmp="$(mktemp -d /tmp/rivetr-rootfs.XXXXXX)"
    rootfs="$tmp/rootfs"
    mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,www,var/www,proc,sys,dev}
    chmod 1777 "$rootfs/tmp"
    cp /bin/busybox "$rootfs/bin/busybox"
    # --install -s links every applet to /bin/busybox; run inside the rootfs so link targets are /bin/busybox.
    chroot "$rootfs" /bin/busybox --install -s
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
    tar -C "$rootfs" -cf "$1" .
    rm -rf "$tmp"
}

ensure_base_image() {  # $@ = engines
    local engine need=() tar
    for engine in "$@"; do
        [ "$(image_recipe "$engine")" = "$BASE_RECIPE" ] || need+=("$engine")
    done
    [ ${#need[@]} -eq 0 ] && return 0
    tar="$(mktemp /tmp/rivetr-rootfs.XXXXXX.tar)"
    make_rootfs_tar "$tar"
    local changes=(--change "LABEL rivetr.test.recipe=$BASE_RECIPE" --change 'CMD ["/bin/sh"]'
                   --change "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin")
    for engine in "${need[@]}"; do
        log "importing $BASE_IMAGE into $engine"
        if [ "$engine" = docker ]; then
            docker -H "$DOCKER_SOCKET" import "${changes[@]}" "$tar" "$BASE_IMAGE" >/dev/null
        else
            podman import -q "${changes[@]}" "$tar" "$BASE_IMAGE" >/dev/null
        fi
    done
    rm -f "$tar"
}

# ------------------------------------------------------------------------------------------------ stand-ins
ensure_standins() {  # $@ = engines; the first one builds and pushes (docker when both)
    [ "${RIVETR_SKIP_STANDINS:-}" = 1 ] && return 0
    REGISTRY="$REGISTRY_ADDR" RIVETR_DOCKER_SOCKET="$DOCKER_SOCKET" RIVETR_ENGINES_LOG_DIR="$LOG_DIR" \
        bash "$ROOT/scripts/standins/build.sh" "$1" "$@"
}

print_env() {
    echo "DOCKER_SOCKET=$DOCKER_SOCKET"
    echo "PODMAN_SOCKET=$PODMAN_SOCKET"
    echo "CONTAINERS_CONF=$CONTAINERS_CONF"
    echo "CONTAINERS_REGISTRIES_CONF=$CONTAINERS_REGISTRIES_CONF"
    echo "BASE_IMAGE=$BASE_IMAGE"
    echo "REGISTRY=$REGISTRY_ADDR"
}

engines_from_arg() {
    case "${1:-all}" in
        all) echo "docker podman" ;;
        docker | podman) echo "$1" ;;
        *) die "unknown engine '$1' (docker, podman or all)" ;;
    esac
}

cmd_ensure() {
    local engines engine
    read -r -a engines <<<"$(engines_from_arg "${1:-all}")"
    exec 9>"$LOCK_FILE"
    # The daemons started below get `9>&-`: holding this fd would keep the lock for their whole life.
    # Several test sessions may call ensure at once: one does the work, the others then find it done.
    flock -w 600 9 || die "could not lock $LOCK_FILE"
    [ -f "$CONTAINERS_CONF" ] || die "CONTAINERS_CONF=$CONTAINERS_CONF does not exist"
    [ -f "$REGISTRIES_CONF_SRC" ] || die "RIVETR_REGISTRIES_CONF=$REGISTRIES_CONF_SRC does not exist"
    ensure_packages "${engines[@]}"
    ensure_registry
    for engine in "${engines[@]}"; do
        case "$engine" in
            docker) ensure_dockerd ;;
            podman) ensure_podman_service ;;
        esac
    done
    ensure_base_image "${engines[@]}"
    ensure_standins "${engines[@]}"
    print_env
}

cmd_status() {
    socket_answers "$DOCKER_PATH" && echo "docker: answers on $DOCKER_SOCKET" || echo "docker: silent ($DOCKER_SOCKET)"
    socket_answers "$PODMAN_PATH" && echo "podman: answers on $PODMAN_SOCKET" || echo "podman: silent ($PODMAN_SOCKET)"
    registry_answers && echo "registry: answers on $REGISTRY_ADDR" || echo "registry: silent ($REGISTRY_ADDR)"
    print_env
}

case "${1:-ensure}" in
    ensure) cmd_ensure "${2:-all}" ;;
    status) cmd_status ;;
    env) print_env ;;
    *) die "usage: $0 ensure [docker|podman|all] | status | env" ;;
esac
