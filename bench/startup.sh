#!/usr/bin/env bash
# Measures how long `gatehouse server` takes from exec to answering
# /-/health/ready/ on both HTTP and HTTPS, for a first start (empty data dir: key,
# certificate and schema are made) and for restarts (everything reused).
# Usage: bench/startup.sh [RUNS] (default 10). Needs a release build:
#   cargo build --release -p gatehouse-server
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
bin=target/release/gatehouse
[ -x "$bin" ] || { echo "build first: cargo build --release -p gatehouse-server" >&2; exit 1; }

measure() { # data_dir -> milliseconds until both listeners answer ready
  local data=$1 start end pid
  start=$(date +%s%N)
  GATEHOUSE_DATA_DIR="$data" GATEHOUSE_LISTEN__HTTP=127.0.0.1:19000 \
    GATEHOUSE_LISTEN__HTTPS=127.0.0.1:19443 GATEHOUSE_LISTEN__METRICS=127.0.0.1:19300 \
    "$bin" server >/dev/null 2>&1 &
  pid=$!
  until curl -fs -o /dev/null http://127.0.0.1:19000/-/health/ready/ 2>/dev/null \
     && curl -fsk -o /dev/null https://127.0.0.1:19443/-/health/ready/ 2>/dev/null; do
    sleep 0.002
  done
  end=$(date +%s%N)
  kill -TERM "$pid"; wait "$pid" || true
  echo $(( (end - start) / 1000000 ))
}

first=(); again=()
for _ in $(seq "$runs"); do
  d=$(mktemp -d)
  first+=("$(measure "$d")")
  again+=("$(measure "$d")")
  rm -rf "$d"
done
summary() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "min %d ms, median %d ms, max %d ms\n", a[1], a[int((NR+1)/2)], a[NR]}'; }
echo "first start (generate key, certificate, schema): $(summary "${first[@]}")"
echo "restart (reuse everything):                      $(summary "${again[@]}")"
