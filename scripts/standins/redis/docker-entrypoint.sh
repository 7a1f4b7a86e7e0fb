#!/bin/sh
# The official redis image's entrypoint contract (docker-library/redis), for the Debian-built stand-in.
set -e

# `redis:7 --requirepass X` or `redis:7 /path/redis.conf ...`: options alone mean redis-server with them.
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
    set -- redis-server "$@"
fi

# Started as root: own the data dir, then run as the redis user (the volume may arrive root-owned).
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
    find . \! -user redis -exec chown redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

if [ "$1" = redis-server ]; then
    # The official image is compiled with protected mode off: without it, Redis with no password refuses every
    # client from another container. An early argument does the same; a later --protected-mode still wins.
    shift
    if [ "${1%.conf}" != "${1:-}" ]; then
        conf="$1"
        shift
        set -- redis-server "$conf" --protected-mode no "$@"
    else
        set -- redis-server --protected-mode no "$@"
    fi
fi

# Dumps and AOF files readable by the redis user only, like the official image.
[ "$(umask)" = 0022 ] && umask 0077
exec "$@"
