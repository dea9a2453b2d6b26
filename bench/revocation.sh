#!/usr/bin/env bash
# Time from a logout on the core to the first refusal of that session at an outpost
# (release builds, loopback, SQLite; or PostgreSQL with two core replicas when
# GATEHOUSE_DATABASE__URL is set: the outpost then hangs on one replica and the
# logouts happen on the other).
# Usage: cargo build --release -p gatehouse-server -p gatehouse-bench && bench/revocation.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200}
bin=target/release/gatehouse
probe=target/release/revocation-latency
for b in "$bin" "$probe"; do
  [ -x "$b" ] || { echo "build first: cargo build --release -p gatehouse-server -p gatehouse-bench" >&2; exit 1; }
done
data=$(mktemp -d)
mkdir -p "$data/blueprints" "$data/outpost" "$data/b"
secret=bench-cookie-secret-bench-cookie-secret-0123456789
cat >"$data/blueprints/bench.yaml" <<YAML
version: 1
entries:
  - model: gatehouse_core.group
    id: ops
    identifiers: {name: ops}
  - model: gatehouse_core.user
    identifiers: {username: bench}
    attrs: {password: bench-password-bench, groups: [!KeyOf ops]}
  - model: gatehouse_stages_password.passwordstage
    id: password
    identifiers: {name: password}
  - model: gatehouse_stages_identification.identificationstage
    id: ident
    identifiers: {name: ident}
    attrs: {password_stage: !KeyOf password}
  - model: gatehouse_stages_user_login.userloginstage
    id: login
    identifiers: {name: login}
  - model: gatehouse_flows.flow
    id: flow
    identifiers: {slug: sign-in}
    attrs: {name: Sign in, designation: authentication}
  - model: gatehouse_flows.flowstagebinding
    identifiers: {target: !KeyOf flow, stage: !KeyOf ident, order: 10}
  - model: gatehouse_flows.flowstagebinding
    identifiers: {target: !KeyOf flow, stage: !KeyOf login, order: 20}
  - model: gatehouse_providers_proxy.proxyprovider
    id: prom
    identifiers: {name: prometheus}
    attrs: {mode: forward_single, external_host: "http://prom.test", cookie_secret: $secret}
  - model: gatehouse_core.application
    id: app
    identifiers: {slug: prometheus}
    attrs: {name: Prometheus, provider: !KeyOf prom}
  - model: gatehouse_policies.policybinding
    identifiers: {target: !KeyOf app, group: !KeyOf ops, order: 0}
  - model: gatehouse_outposts.outpost
    identifiers: {name: bench}
    attrs: {providers: [!KeyOf prom], token: bench-outpost-token}
YAML
pids=()
trap 'for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$data"' EXIT
core() { # name port
  GATEHOUSE_DATA_DIR="$data/$1" GATEHOUSE_BLUEPRINTS_DIR="$data/blueprints" \
    GATEHOUSE_SECRET_KEY=bench-secret-key-bench-secret-key-0123456789 \
    GATEHOUSE_LISTEN__HTTP=127.0.0.1:$2 GATEHOUSE_LISTEN__HTTPS=127.0.0.1:$(($2 + 1)) \
    GATEHOUSE_LISTEN__METRICS=127.0.0.1:$(($2 + 2)) GATEHOUSE_LOG_LEVEL=warning \
    GATEHOUSE_EMBEDDED_OUTPOST=false \
    "$bin" server >"$data/$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 300); do
    curl -fs -o /dev/null "http://127.0.0.1:$2/api/v1/flows/executor/sign-in/" && return 0
    sleep 0.1
  done
  cat "$data/$1.log"; exit 1
}
core a 19100
logouts_on=http://127.0.0.1:19100
if [ -n "${GATEHOUSE_DATABASE__URL:-}" ]; then
  core b 19200
  logouts_on=http://127.0.0.1:19200
fi
GATEHOUSE_HOST=http://127.0.0.1:19100 GATEHOUSE_TOKEN=bench-outpost-token \
  GATEHOUSE_DATA_DIR="$data/outpost" GATEHOUSE_LISTEN__HTTP=127.0.0.1:19190 \
  GATEHOUSE_LOG_LEVEL=warning env -u GATEHOUSE_DATABASE__URL "$bin" outpost >"$data/outpost.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do
  [ -s "$data/outpost/outpost-state.json" ] && break
  sleep 0.1
done
[ -s "$data/outpost/outpost-state.json" ] || { cat "$data/outpost.log" "$data/a.log"; exit 1; }
if [ -n "${GATEHOUSE_DATABASE__URL:-}" ]; then echo "backend: PostgreSQL, logouts on another replica"; else echo "backend: SQLite"; fi
USERNAME=bench PASSWORD=bench-password-bench COOKIE_SECRET=$secret HOST=prom.test \
  "$probe" "$logouts_on" http://127.0.0.1:19190 "$data/outpost/outpost-state.json" "$runs"
echo "outpost RSS after the runs: $(awk '/VmRSS/ {print $2, $3}' "/proc/${pids[-1]}/status")"
