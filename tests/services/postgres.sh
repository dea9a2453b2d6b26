# Sourced by tests/run: a private PostgreSQL on a loopback port, in a folder of its own.
# Installs Debian's postgresql when no server binaries are found.

pg_bindir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

postgres_start() {
  local work=$1 port=$2
  if [ -z "$(pg_bindir)" ] || [ ! -x "$(pg_bindir)/initdb" ]; then
    # Only the server binaries are wanted: no system cluster left running on 5432.
    mkdir -p /etc/postgresql-common
    grep -qs '^create_main_cluster' /etc/postgresql-common/createcluster.conf \
      || echo 'create_main_cluster = false' >>/etc/postgresql-common/createcluster.conf
    apt_install postgresql
  fi
  local bin
  bin=$(pg_bindir)
  # PostgreSQL refuses to run as root; run it as the package's `postgres` user.
  local run=()
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    run=(runuser -u postgres --)
  fi
  mkdir -p "$work/pg"
  [ "$(id -u)" = 0 ] && chown postgres "$work/pg"
  "${run[@]}" "$bin/initdb" -D "$work/pg/data" -U gatehouse --auth=trust -E UTF8 >"$work/pg/initdb.log" 2>&1 \
    || { cat "$work/pg/initdb.log"; return 1; }
  # Set before starting: a start that times out may still leave a server behind.
  PG_STOP=("${run[@]}" "$bin/pg_ctl" -D "$work/pg/data" -m immediate -w stop)
  # Durability settings off: a test cluster is thrown away, and fsync dominates its cost.
  "${run[@]}" "$bin/pg_ctl" -D "$work/pg/data" -l "$work/pg/server.log" -w -t 60 start \
    -o "-p $port -k $work/pg -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    >/dev/null || { cat "$work/pg/server.log"; return 1; }
  export GH_TEST_POSTGRES_URL="postgres://gatehouse@127.0.0.1:$port/postgres"
  echo "tests/run: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
}

postgres_stop() {
  if [ -n "${PG_STOP+x}" ]; then
    "${PG_STOP[@]}" >/dev/null 2>&1 || true
    unset PG_STOP
  fi
}
