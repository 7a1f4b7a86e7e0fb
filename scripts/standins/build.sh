#!/usr/bin/env bash
# Builds the official-image stand-ins for tests from Debian packages and provides them; run by
# `scripts/engines.sh ensure` (under its lock, after the registry and engines answer), or by hand:
#
#   scripts/standins/build.sh BUILDER [ENGINE...]
#
# BUILDER (docker|podman) builds and pushes; ENGINE... (default: BUILDER) receive the local-only images.
# Each directory here is one stand-in:
#   packages              Debian bookworm packages of its root filesystem (mmdebstrap --variant=minbase)
#   tags                  where it goes: `postgres:16` is pushed to the local registry as library/postgres:16
#                         (the engines' Docker Hub mirror, so `docker pull postgres:16` gets it); a name under
#                         localhost/ is loaded into every ENGINE directly (test helper images)
#   rootfs-hook.sh        optional: run on the finished root filesystem (argument: its path)
#   Dockerfile, ...       built on top of the imported root filesystem (build arg ROOTFS)
# Root filesystems are cached in $RIVETR_STANDIN_CACHE (default /var/cache/rivetr/standins) keyed by a hash of
# the package list and recipe; images carry the label rivetr.test.recipe=<hash of everything>, and a stand-in
# whose registry manifest (or local image) already has its current recipe is skipped, so a warm run takes a
# second. Pushed images are not kept in the engines: Rivetr's own pull is what fetches them in tests.
#
# Environment: RIVETR_DOCKER_SOCKET, RIVETR_ENGINES_LOG_DIR (per-stand-in build logs), REGISTRY (host:port,
# default 127.0.0.1:5000), RIVETR_STANDINS (space-separated subset of the directories to provide).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DOCKER_SOCKET="${RIVETR_DOCKER_SOCKET:-unix:///var/run/docker.sock}"
LOG_DIR="${RIVETR_ENGINES_LOG_DIR:-/var/log/rivetr-engines}"
REGISTRY="${REGISTRY:-127.0.0.1:5000}"
CACHE_DIR="${RIVETR_STANDIN_CACHE:-/var/cache/rivetr/standins}"
SUITE=bookworm
# Bump to rebuild every root filesystem (the mmdebstrap options below are part of the key too).
ROOTFS_RECIPE=rootfs-v1
MMDEBSTRAP_OPTS=(
    --variant=minbase
    # The archive this machine reaches may be a snapshot whose Release files are past Valid-Until.
    --aptopt='Acquire::Check-Valid-Until "false"'
    # Documentation and translations are dead weight in a container image.
    --dpkgopt='path-exclude=/usr/share/man/*'
    --dpkgopt='path-exclude=/usr/share/doc/*'
    --dpkgopt='path-exclude=/usr/share/locale/*'
    --dpkgopt='path-include=/usr/share/locale/locale.alias'
    --dpkgopt='path-exclude=/usr/share/info/*'
)
# Explicit sources: without them mmdebstrap would read a sources.list from stdin.
MIRRORS=(
    "deb http://deb.debian.org/debian $SUITE main"
    "deb http://deb.debian.org/debian $SUITE-updates main"
    "deb http://deb.debian.org/debian-security $SUITE-security main"
)
RECIPE_LABEL=rivetr.test.recipe

log() { printf 'standins: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

BUILDER="${1:-}"
[ -n "$BUILDER" ] || die "usage: $0 docker|podman [ENGINE...]"
shift
ENGINES=("$@")
[ ${#ENGINES[@]} -gt 0 ] || ENGINES=("$BUILDER")

engine_cli() {  # $1 = docker|podman, then arguments
    local engine="$1"
    shift
    if [ "$engine" = docker ]; then
        DOCKER_BUILDKIT=0 docker -H "$DOCKER_SOCKET" "$@"
    else
        podman "$@"
    fi
}

sha() { sha256sum | cut -c1-16; }

rootfs_key() {  # $1 = stand-in dir
    {
        echo "$ROOTFS_RECIPE $SUITE"
        printf '%s\n' "${MMDEBSTRAP_OPTS[@]}" "${MIRRORS[@]}"
        cat "$1/packages"
        [ -f "$1/rootfs-hook.sh" ] && cat "$1/rootfs-hook.sh"
        true
    } | sha
}

recipe_of() {  # $1 = stand-in dir, $2 = rootfs key: every file of the directory, names and content
    (
        cd "$1"
        echo "$2"
        find . -type f | LC_ALL=C sort | while read -r f; do
            echo "$f $(stat -c %a "$f")"
            cat "$f"
        done
    ) | sha
}

registry_recipe() {  # $1 = repo (library/redis), $2 = tag; prints the recipe label of the pushed image
    local manifest digest
    manifest="$(curl -fsS --max-time 10 \
        -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
        -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        "http://$REGISTRY/v2/$1/manifests/$2" 2>/dev/null)" || return 0
    # The config descriptor comes before the layers in both manifest formats. The label shows twice in the
    # config blob (config and container_config): the first is the image's.
    digest="$(printf '%s' "$manifest" | tr -d ' \n' | grep -o '"config":{[^}]*}' | grep -o 'sha256:[0-9a-f]*' | head -n1)"
    [ -n "$digest" ] || return 0
    curl -fsS --max-time 10 "http://$REGISTRY/v2/$1/blobs/$digest" 2>/dev/null | tr -d '\n' \
        | grep -o "\"$RECIPE_LABEL\": *\"[0-9a-f]*\"" | head -n1 | grep -o '[0-9a-f]*"$' | tr -d '"' || true
}

local_recipe() {  # $1 = engine, $2 = image
    engine_cli "$1" image inspect -f "{{ index .Config.Labels \"$RECIPE_LABEL\" }}" "$2" 2>/dev/null || true
}

tags_of() {  # $1 = stand-in dir: its tags file, one name per line
    grep -v -e '^[[:space:]]*$' -e '^#' "$1/tags"
}

is_local_tag() { case "$1" in localhost/*) return 0 ;; *) return 1 ;; esac; }

registry_ref() {  # postgres:16 -> 127.0.0.1:5000/library/postgres:16; user/repo:tag keeps its namespace
    case "$1" in
        */*) echo "$REGISTRY/$1" ;;
        *) echo "$REGISTRY/library/$1" ;;
    esac
}

up_to_date() {  # $1 = dir, $2 = recipe
    local tag engine ref tags
    mapfile -t tags < <(tags_of "$1")
    for tag in "${tags[@]}"; do
        if is_local_tag "$tag"; then
            for engine in "${ENGINES[@]}"; do
                [ "$(local_recipe "$engine" "$tag")" = "$2" ] || return 1
            done
        else
            ref="$(registry_ref "$tag")"
            ref="${ref#"$REGISTRY"/}"
            [ "$(registry_recipe "${ref%:*}" "${ref##*:}")" = "$2" ] || return 1
        fi
    done
}

make_rootfs() {  # $1 = dir, $2 = name, $3 = key; prints the cached tar's path
    local tar="$CACHE_DIR/$2-$3.tar" tmp packages
    if [ ! -s "$tar" ]; then
        mkdir -p "$CACHE_DIR"
        packages="$(grep -v '^#' "$1/packages" | xargs | tr ' ' ',')"
        tmp="$CACHE_DIR/.$2-$3.$$.tar"
        local hook=()
        [ -f "$1/rootfs-hook.sh" ] && hook=(--customize-hook="sh '$1/rootfs-hook.sh' \"\$1\"")
        log "$2: building the root filesystem ($packages)"
        # Explicit: errexit does not reach into the command substitution this runs in, and a failed run would
        # otherwise leave an empty tar in the cache and fail later, at the import, with a less clear message.
        mmdebstrap "${MMDEBSTRAP_OPTS[@]}" --include="$packages" "${hook[@]}" "$SUITE" "$tmp" "${MIRRORS[@]}" \
            </dev/null >&2 || { rm -f "$tmp"; log "$2: mmdebstrap failed"; return 1; }
        mv "$tmp" "$tar"
        # Older root filesystems of this stand-in are not needed any more.
        find "$CACHE_DIR" -maxdepth 1 -name "$2-*.tar" ! -name "$2-$3.tar" -delete
    fi
    echo "$tar"
}

drop_stale_pulls() {  # $1 = official tag, $2 = recipe: engines keep a pulled older stand-in until removed
    local engine image have
    for engine in docker podman; do
        command -v "$engine" >/dev/null || continue
        image="docker.io/$(registry_ref "$1" | sed "s|^$REGISTRY/||")"
        have="$(local_recipe "$engine" "$image")"
        if [ -n "$have" ] && [ "$have" != "$2" ]; then
            log "removing the older $image from $engine (recipe $have)"
            engine_cli "$engine" rmi "$image" >/dev/null 2>&1 || log "$image is in use on $engine; left as is"
        fi
    done
}

provide() {  # $1 = stand-in dir; runs in a subshell of its own, output to its log
    local dir="$1" name key recipe tar base image tag ref engine started=$SECONDS
    name="$(basename "$dir")"
    key="$(rootfs_key "$dir")"
    recipe="$(recipe_of "$dir" "$key")"
    if up_to_date "$dir" "$recipe"; then
        log "$name: up to date ($recipe)"
        return 0
    fi
    tar="$(make_rootfs "$dir" "$name" "$key")" || return 1
    base="localhost/rivetr-standin/$name-rootfs:$key"
    image="localhost/rivetr-standin/$name:$recipe"
    log "$name: building the image (recipe $recipe)"
    engine_cli "$BUILDER" import "$tar" "$base" >/dev/null
    engine_cli "$BUILDER" build -q --build-arg "ROOTFS=$base" --label "$RECIPE_LABEL=$recipe" -t "$image" "$dir" >/dev/null
    local cleanup=("$image" "$base") tags
    mapfile -t tags < <(tags_of "$dir")
    for tag in "${tags[@]}"; do
        if is_local_tag "$tag"; then
            engine_cli "$BUILDER" tag "$image" "$tag"
            for engine in "${ENGINES[@]}"; do
                [ "$engine" = "$BUILDER" ] && continue
                log "$name: loading $tag into $engine"
                engine_cli "$BUILDER" save "$tag" | engine_cli "$engine" load -q >/dev/null
            done
        else
            ref="$(registry_ref "$tag")"
            log "$name: pushing $ref"
            engine_cli "$BUILDER" tag "$image" "$ref"
            if [ "$BUILDER" = docker ]; then
                engine_cli docker push -q "$ref" >/dev/null
            else
                podman push -q --tls-verify=false "$ref"
            fi
            cleanup+=("$ref")
            drop_stale_pulls "$tag" "$recipe"
        fi
    done
    # Tidying only: the stand-in is pushed, so an image another process removed meanwhile is no failure.
    engine_cli "$BUILDER" rmi "${cleanup[@]}" >/dev/null 2>&1 || log "$name: some build images were already gone"
    log "$name: done in $((SECONDS - started)) s"
}

main() {
    local dirs=() dir name pids=() failed=() i
    mkdir -p "$LOG_DIR"
    for dir in "$HERE"/*/; do
        dir="${dir%/}"
        name="$(basename "$dir")"
        [ -f "$dir/packages" ] || continue
        if [ -n "${RIVETR_STANDINS:-}" ] && ! [[ " $RIVETR_STANDINS " == *" $name "* ]]; then continue; fi
        dirs+=("$dir")
    done
    # In parallel: most of a cold build is waiting on downloads and dpkg, and each stand-in is independent.
    for dir in "${dirs[@]}"; do
        name="$(basename "$dir")"
        (provide "$dir" 2> >(tee -a "$LOG_DIR/standin-$name.log" | grep --line-buffered '^standins: ' >&2)) \
            9>&- &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || failed+=("$(basename "${dirs[$i]}")")
    done
    if [ ${#failed[@]} -gt 0 ]; then
        for name in "${failed[@]}"; do
            log "$name failed; last lines of $LOG_DIR/standin-$name.log:"
            tail -n 25 "$LOG_DIR/standin-$name.log" >&2 || true
        done
        die "stand-ins failed: ${failed[*]}"
    fi
}

main
