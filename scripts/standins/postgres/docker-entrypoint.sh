#!/bin/bash
# The official postgres image's entrypoint contract (docker-library/postgres), for the Debian-built stand-in.
set -Eeo pipefail

file_env() {  # $1 = VAR, $2 = default: VAR or the content of the file named by VAR_FILE
    local var="$1" file_var="${1}_FILE" def="${2:-}"
    if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
        echo >&2 "error: both $var and $file_var are set (but are exclusive)"
        exit 1
    fi
    local val="$def"
    if [ -n "${!var:-}" ]; then
        val="${!var}"
    elif [ -n "${!file_var:-}" ]; then
        val="$(<"${!file_var}")"
    fi
    export "$var"="$val"
    unset "$file_var"
}

init_database() {
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_USER postgres
    file_env POSTGRES_DB "$POSTGRES_USER"
    file_env POSTGRES_INITDB_ARGS
    local auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
    if [ -z "$POSTGRES_PASSWORD" ] && [ "$auth" != trust ]; then
        echo >&2 'Error: Database is uninitialized and superuser password is not specified.'
        echo >&2 '       You must specify POSTGRES_PASSWORD to a non-empty value for the superuser.'
        echo >&2 '       For example, "-e POSTGRES_PASSWORD=password" on "docker run".'
        echo >&2 '       You may also use "POSTGRES_HOST_AUTH_METHOD=trust" to allow all connections'
        echo >&2 '       without a password. This is *not* recommended.'
        exit 1
    fi
    # The password reaches initdb on its stdin, never on a command line.
    local initdb=(initdb --username="$POSTGRES_USER" -D "$PGDATA" --encoding=UTF8 --locale=C.UTF-8)
    # shellcheck disable=SC2206 # POSTGRES_INITDB_ARGS is a list of options, split like the official image does
    initdb+=($POSTGRES_INITDB_ARGS)
    if [ -n "$POSTGRES_PASSWORD" ]; then
        "${initdb[@]}" --pwfile=/dev/stdin <<<"$POSTGRES_PASSWORD"
    else
        "${initdb[@]}" </dev/null
    fi
    # Local socket and loopback stay trusted (initdb's default, as in the official image: health checks and
    # dumps run inside the container); every other client needs the password.
    printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
    printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"

    # A socket-only server for the set-up steps: no client can connect before they are done.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
    local psql=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
    if [ "$POSTGRES_DB" != postgres ]; then
        "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    fi
    local f
    for f in /docker-entrypoint-initdb.d/*; do
        # shellcheck disable=SC1090 # init scripts are the user's, sourced like the official image does
        case "$f" in
            *.sh) echo "$0: running $f"; . "$f" ;;
            *.sql) echo "$0: running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
            *.sql.gz) echo "$0: running $f"; gunzip -c "$f" | "${psql[@]}" --dbname "$POSTGRES_DB" ;;
            *) ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
    echo "PostgreSQL init process complete; ready for start up."
}

# `postgres:16 -c shared_buffers=256MB`: options alone mean the server with them.
if [ "${1:0:1}" = '-' ]; then
    set -- postgres "$@"
fi

if [ "$1" = postgres ]; then
    # Started as root: own the data dir (a fresh volume arrives root-owned), then run as postgres.
    if [ "$(id -u)" = 0 ]; then
        mkdir -p "$PGDATA" /var/run/postgresql
        chown postgres:postgres "$PGDATA" /var/run/postgresql
        chmod 700 "$PGDATA"
        chmod 3777 /var/run/postgresql
        exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
    fi
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
        init_database
    fi
fi

exec "$@"
