#!/bin/sh
# postgresql-15's postinst creates a "main" cluster; the image initialises $PGDATA itself on first start, so
# that cluster is only dead weight (and a second config the server could be pointed at by mistake).
set -e
rm -rf "$1/var/lib/postgresql/15" "$1/etc/postgresql/15"
