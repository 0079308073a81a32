#!/usr/bin/env bash
# A real PostgreSQL on loopback for the registry's tests (tests/unit/test_store_postgres.py):
# Debian 12's `postgresql` package, a throw-away cluster on a free port, trust authentication
# for one test role on 127.0.0.1 only.
#
#   source scripts/services/postgres.sh && postgres_start   # start one, export KNEEAI_TEST_POSTGRES_URL
#   postgres_stop                                            # stop it and delete its cluster
#   bash scripts/services/postgres.sh install                # only the Debian package (as root)
#   bash scripts/services/postgres.sh run [--port 5433]      # in the foreground until Ctrl-C
#
# initdb refuses to run as root, so as root (CI runs scripts/test.sh as root on a clean clone) the
# cluster belongs to, and the server runs as, Debian's `postgres` user; otherwise as yourself.
# The package's own cluster and service are not used (and not started).

postgres_install() {
  if _postgres_bindir >/dev/null 2>&1 && command -v pg_dump >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "postgres: missing the Debian package postgresql (install it as root)" >&2
    return 1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null || {
    echo "postgres: apt-get install postgresql failed" >&2
    return 1
  }
}

# The newest installed server's bin directory (initdb, pg_ctl, postgres are not on PATH on Debian).
_postgres_bindir() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$dir" ] && [ -x "$dir/initdb" ] || return 1
  echo "$dir"
}

_postgres_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Run "$@" as the cluster's owner.
_postgres_as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# Create a cluster in $1 listening on 127.0.0.1:$2 (unix socket inside $1).
_postgres_cluster() {
  local home="$1" port="$2" bin
  bin="$(_postgres_bindir)" || return 1
  mkdir -p "$home" || return 1
  [ "$(id -u)" = 0 ] && { chown postgres: "$home" || return 1; }
  chmod 700 "$home"
  _postgres_as_owner "$bin/initdb" -D "$home/data" -U kneeai --auth=trust -E UTF8 --locale=C.UTF-8 >"$home/initdb.log" 2>&1 || {
    echo "postgres: initdb failed; its log:" >&2
    cat "$home/initdb.log" >&2
    return 1
  }
  # Loopback only; the unix socket stays inside the cluster's own directory.
  cat >>"$home/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$home'
fsync = off
EOF
  printf 'local all kneeai trust\nhost all kneeai 127.0.0.1/32 trust\n' >"$home/data/pg_hba.conf"
}

postgres_start() {
  postgres_install || return 1
  local port bin
  bin="$(_postgres_bindir)" || return 1
  POSTGRES_HOME="$(mktemp -d "${TMPDIR:-/tmp}/kneeai-postgres.XXXXXX")" || return 1
  chmod 755 "$POSTGRES_HOME"
  port="$(_postgres_free_port)" || return 1
  _postgres_cluster "$POSTGRES_HOME/pg" "$port" || { postgres_stop; return 1; }
  if ! _postgres_as_owner "$bin/pg_ctl" -D "$POSTGRES_HOME/pg/data" -l "$POSTGRES_HOME/pg/server.log" -w -t 60 start >/dev/null; then
    echo "postgres: the server did not start; its log:" >&2
    cat "$POSTGRES_HOME/pg/server.log" >&2
    postgres_stop
    return 1
  fi
  POSTGRES_PORT="$port"
  _postgres_as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U kneeai -d postgres -qAt -c "CREATE DATABASE kneeai_test" >/dev/null || {
    echo "postgres: CREATE DATABASE failed" >&2
    postgres_stop
    return 1
  }
  export KNEEAI_TEST_POSTGRES_URL="postgresql+psycopg://kneeai@127.0.0.1:$port/kneeai_test"
  echo "postgres: test server at $KNEEAI_TEST_POSTGRES_URL (cluster $POSTGRES_HOME/pg)"
}

postgres_stop() {
  local bin
  if [ -n "${POSTGRES_HOME:-}" ] && [ -d "$POSTGRES_HOME" ]; then
    bin="$(_postgres_bindir)"
    if [ -n "$bin" ] && [ -f "$POSTGRES_HOME/pg/data/postmaster.pid" ]; then
      _postgres_as_owner "$bin/pg_ctl" -D "$POSTGRES_HOME/pg/data" -m fast -w stop >/dev/null 2>&1
    fi
    rm -rf "$POSTGRES_HOME"
  fi
  POSTGRES_HOME=""
  return 0
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case "${1:-}" in
    install) postgres_install ;;
    run)
      port=5433
      [ "${2:-}" = "--port" ] && port="${3:?--port needs a number}"
      postgres_install || exit 1
      POSTGRES_HOME="$(mktemp -d "${TMPDIR:-/tmp}/kneeai-postgres.XXXXXX")" || exit 1
      chmod 755 "$POSTGRES_HOME"
      trap postgres_stop EXIT
      _postgres_cluster "$POSTGRES_HOME/pg" "$port" || exit 1
      echo "postgres: DATABASE_URL=postgresql+psycopg://kneeai@127.0.0.1:$port/postgres ; Ctrl-C stops it"
      _postgres_as_owner "$(_postgres_bindir)/postgres" -D "$POSTGRES_HOME/pg/data"
      ;;
    *) echo "usage: bash scripts/services/postgres.sh install|run [--port N]; or source it and call postgres_start" >&2; exit 2 ;;
  esac
fi
