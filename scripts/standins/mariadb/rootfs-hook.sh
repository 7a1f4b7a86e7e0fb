#!/bin/sh
# mariadb-server's postinst initialises /var/lib/mysql; the image initialises its datadir itself on first start
# (with the passwords and database from the environment), so that copy is only dead weight.
set -e
rm -rf "$1/var/lib/mysql" && mkdir -p "$1/var/lib/mysql"
