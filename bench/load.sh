#!/usr/bin/env bash
# Load on the core's health endpoints with wrk: /-/health/live/ (HTTP stack only) and
# /-/health/ready/ (plus a pooled SQLite `SELECT 1`). Bounded: 5 s per endpoint,
# loopback only. Usage: bench/load.sh (needs a release build and wrk; installs wrk
# from Debian when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/gatehouse
[ -x "$bin" ] || { echo "build first: cargo build --release -p gatehouse-server" >&2; exit 1; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
data=$(mktemp -d)
GATEHOUSE_DATA_DIR="$data" GATEHOUSE_LISTEN__HTTP=127.0.0.1:19000 \
  GATEHOUSE_LISTEN__HTTPS=127.0.0.1:19443 GATEHOUSE_LISTEN__METRICS=127.0.0.1:19300 \
  "$bin" server >/dev/null 2>&1 &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"' EXIT
until curl -fs -o /dev/null http://127.0.0.1:19000/-/health/ready/; do sleep 0.05; done
echo "idle RSS: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
for path in /-/health/live/ /-/health/ready/; do
  echo "== $path"
  wrk -t1 -c32 -d5s "http://127.0.0.1:19000$path" | grep -E "Latency|Requests/sec"
done
echo "RSS after load: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
