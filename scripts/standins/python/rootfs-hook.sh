#!/bin/sh
# Builds cannot reach PyPI (tests talk only to loopback and their own containers), so the wheels the sample apps
# and builder-auto's generated Dockerfiles install are fetched once here, with the image's own pip (so they fit
# its Python), and /etc/pip.conf points every pip in the image, venvs included, at them with no index. The list is
# part of the root filesystem's cache key: edit it and the stand-in is rebuilt.
set -e
wheels=/usr/local/share/rivetr-wheels
mkdir -p "$1$wheels"
# mmdebstrap copies the host's resolv.conf into the root filesystem while it builds (and removes it after). The
# host's own trust store goes along for the download only: the host may reach PyPI through a TLS-inspecting proxy
# whose CA the image's ca-certificates lacks. env -i: the host's PIP_* settings are not the image's.
host_ca="${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}"
cp "$host_ca" "$1/tmp/rivetr-host-ca.crt"
chroot "$1" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root PIP_CERT=/tmp/rivetr-host-ca.crt \
    python3 -m pip download --quiet --disable-pip-version-check --no-cache-dir --only-binary=:all: \
    --dest "$wheels" \
    flask fastapi 'uvicorn[standard]' gunicorn django \
    pip setuptools wheel hatchling flit-core poetry-core pdm-backend
# The sample apps' pins (tests/fixtures/apps), in a run of their own: one resolution cannot hold two versions.
chroot "$1" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root PIP_CERT=/tmp/rivetr-host-ca.crt \
    python3 -m pip download --quiet --disable-pip-version-check --no-cache-dir --only-binary=:all: \
    --dest "$wheels" \
    flask==3.0.3 gunicorn==22.0.0
rm -f "$1/tmp/rivetr-host-ca.crt"
cat >"$1/etc/pip.conf" <<CONF
# Rivetr test stand-in: offline wheelhouse instead of PyPI (see scripts/standins/python/README).
[global]
no-index = true
find-links = $wheels
disable-pip-version-check = true
CONF
