#!/bin/bash
# The official mariadb/mysql images' entrypoint contract (MariaDB/mariadb-docker, docker-library/mysql), for the
# Debian-built stand-in: MARIADB_* variables, with the MYSQL_* names as aliases.
set -Eeo pipefail

DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock

file_env() {  # $1 = VAR (MARIADB_ name), $2 = default: MARIADB_X, MYSQL_X or the files named by their _FILE
    local var="$1" def="${2:-}" alias="MYSQL_${1#MARIADB_}" val="" name
    for name in "$var" "$alias"; do
        local file_var="${name}_FILE"
        if [ -n "${!name:-}" ]; then
            val="${!name}"
            break
        elif [ -n "${!file_var:-}" ]; then
            val="$(<"${!file_var}")"
            break
        fi
    done
    export "$var"="${val:-$def}"
}

sql_string() {  # a value as a quoted SQL string literal
    local s="${1//\\/\\\\}"
    printf "'%s'" "${s//\'/\\\'}"
}

sql_ident() {  # a name as a quoted SQL identifier
    # shellcheck disable=SC2016 # literal backquotes around the name
    printf '`%s`' "${1//\`/\`\`}"
}

init_database() {
    file_env MARIADB_ROOT_PASSWORD
    file_env MARIADB_ROOT_HOST %
    file_env MARIADB_DATABASE
    file_env MARIADB_USER
    file_env MARIADB_PASSWORD
    file_env MARIADB_ALLOW_EMPTY_ROOT_PASSWORD
    file_env MARIADB_RANDOM_ROOT_PASSWORD
    # MySQL's image spells this one MYSQL_ALLOW_EMPTY_PASSWORD.
    [ -n "${MYSQL_ALLOW_EMPTY_PASSWORD:-}" ] && MARIADB_ALLOW_EMPTY_ROOT_PASSWORD="$MYSQL_ALLOW_EMPTY_PASSWORD"
    if [ -z "$MARIADB_ROOT_PASSWORD" ] && [ -z "$MARIADB_ALLOW_EMPTY_ROOT_PASSWORD" ] \
        && [ -z "$MARIADB_RANDOM_ROOT_PASSWORD" ]; then
        echo >&2 'error: Database is uninitialized and password option is not specified'
        echo >&2 '  You need to specify one of MARIADB_ROOT_PASSWORD, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD and'
        echo >&2 '  MARIADB_RANDOM_ROOT_PASSWORD (or their MYSQL_ names)'
        exit 1
    fi
    if [ -n "$MARIADB_RANDOM_ROOT_PASSWORD" ]; then
        MARIADB_ROOT_PASSWORD="$(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32)"
        echo "GENERATED ROOT PASSWORD: $MARIADB_ROOT_PASSWORD"
    fi
    if [ "$MARIADB_USER" = root ]; then
        echo >&2 'error: MARIADB_USER="root"; use MARIADB_ROOT_PASSWORD for the root user'
        exit 1
    fi

    echo "Initializing database files"
    mariadb-install-db --datadir="$DATADIR" --rpm --auth-root-authentication-method=normal --skip-test-db \
        --skip-name-resolve --default-time-zone=SYSTEM --skip-log-bin >/dev/null

    # A socket-only server for the set-up steps: no client can connect before they are done.
    "$@" --skip-networking --socket="$SOCKET" --skip-log-bin --default-time-zone=SYSTEM &
    local pid=$! i
    for i in $(seq 60); do
        mariadb --protocol=socket --socket="$SOCKET" -uroot -e 'SELECT 1' >/dev/null 2>&1 && break
        kill -0 "$pid" 2>/dev/null || { echo >&2 'error: the temporary server exited'; exit 1; }
        sleep 0.5
    done
    [ "$i" -lt 60 ] || { echo >&2 'error: the temporary server did not answer in 30 s'; exit 1; }

    local root_pw host sql
    root_pw="$(sql_string "$MARIADB_ROOT_PASSWORD")"
    host="$(sql_string "$MARIADB_ROOT_HOST")"
    sql="SET @@SESSION.SQL_LOG_BIN=0;
DROP USER IF EXISTS root@'127.0.0.1', root@'::1';
EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS root@\\'', @@hostname, '\\'');
SET PASSWORD FOR 'root'@'localhost' = PASSWORD($root_pw);"
    if [ "$MARIADB_ROOT_HOST" != localhost ]; then
        sql+="
CREATE USER 'root'@$host IDENTIFIED BY $root_pw;
GRANT ALL ON *.* TO 'root'@$host WITH GRANT OPTION;
GRANT PROXY ON ''@'%' TO 'root'@$host WITH GRANT OPTION;"
    fi
    if [ -n "$MARIADB_DATABASE" ]; then
        sql+="
CREATE DATABASE IF NOT EXISTS $(sql_ident "$MARIADB_DATABASE");"
    fi
    if [ -n "$MARIADB_USER" ] && [ -n "$MARIADB_PASSWORD" ]; then
        sql+="
CREATE USER $(sql_string "$MARIADB_USER")@'%' IDENTIFIED BY $(sql_string "$MARIADB_PASSWORD");"
        if [ -n "$MARIADB_DATABASE" ]; then
            sql+="
GRANT ALL ON $(sql_ident "$MARIADB_DATABASE").* TO $(sql_string "$MARIADB_USER")@'%';"
        fi
    fi
    # On stdin: the passwords never show on a command line.
    mariadb --protocol=socket --socket="$SOCKET" -uroot --binary-mode <<<"$sql"

    local client=(mariadb --protocol=socket --socket="$SOCKET" -uroot)
    [ -n "$MARIADB_ROOT_PASSWORD" ] && client+=(--password="$MARIADB_ROOT_PASSWORD")
    [ -n "$MARIADB_DATABASE" ] && client+=("$MARIADB_DATABASE")
    local f
    for f in /docker-entrypoint-initdb.d/*; do
        # shellcheck disable=SC1090 # init scripts are the user's, sourced like the official image does
        case "$f" in
            *.sh) echo "$0: running $f"; . "$f" ;;
            *.sql) echo "$0: running $f"; "${client[@]}" <"$f" ;;
            *.sql.gz) echo "$0: running $f"; gunzip -c "$f" | "${client[@]}" ;;
            *) ;;
        esac
    done

    kill "$pid"
    wait "$pid" || true
    echo "MariaDB init process done. Ready for start up."
}

# `mariadb:11 --max-connections=500`: options alone mean the server with them.
if [ "${1:0:1}" = '-' ]; then
    set -- mariadbd "$@"
fi

if [ "$1" = mariadbd ] || [ "$1" = mysqld ]; then
    # Started as root: own the datadir (a fresh volume arrives root-owned), then run as mysql.
    if [ "$(id -u)" = 0 ]; then
        mkdir -p "$DATADIR" /run/mysqld
        chown mysql:mysql "$DATADIR" /run/mysqld
        exec setpriv --reuid=mysql --regid=mysql --init-groups "${BASH_SOURCE[0]}" "$@"
    fi
    if [ ! -d "$DATADIR/mysql" ]; then
        init_database "$@"
    fi
fi

exec "$@"
