#!/bin/sh
# Builds cannot reach the npm registry (tests talk only to loopback and their own containers), so the packages the
# sample apps and builder-auto's generated Dockerfiles install are fetched once here into an npm cache in the image,
# and the global npmrc makes npm work offline from it: `npm ci` / `npm install` of a cached version needs no
# network, anything else fails at once (ENOTCACHED). Each spec is installed in a project of its own (one tree
# cannot hold two versions): the sample apps' pins and the newest release of the same major. The list is part of
# the root filesystem's cache key: edit it and the stand-in is rebuilt.
set -e
cache=/usr/local/share/rivetr-npm-cache
# The host may reach the registry through a TLS-inspecting proxy whose CA the image lacks: the host's trust store
# goes along for the download only. env -i: the host's npm settings are not the image's.
host_ca="${NODE_EXTRA_CA_CERTS:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}"
cp "$host_ca" "$1/tmp/rivetr-host-ca.crt"
# shellcheck disable=SC2016 # the script runs in the image's shell; its arguments are the cache and the specs
chroot "$1" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root NODE_EXTRA_CA_CERTS=/tmp/rivetr-host-ca.crt \
    sh -ec '
    cache="$1"
    shift
    for spec in "$@"; do
        dir="$(mktemp -d)"
        cd "$dir"
        npm init -y >/dev/null
        npm install --cache="$cache" --no-audit --no-fund --loglevel=error "$spec" >/dev/null
        cd /
        rm -rf "$dir"
    done' sh "$cache" express@4.19.2 express@4 vite@5.2.11 vite@5
rm -f "$1/tmp/rivetr-host-ca.crt"
# Builds may run as any user (the image has a node user); npm writes index entries on cache hits.
chmod -R a+rwX "$1$cache"
npmrc="$(chroot "$1" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root npm config get globalconfig)"
mkdir -p "$1$(dirname "$npmrc")"
cat >"$1$npmrc" <<CONF
# Rivetr test stand-in: an offline npm cache instead of the registry (see scripts/standins/node/README).
cache=$cache
offline=true
audit=false
fund=false
update-notifier=false
CONF
