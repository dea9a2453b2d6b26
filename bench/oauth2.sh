#!/usr/bin/env bash
# Load on the OAuth2 endpoints of a release build: token exchange and refresh with the
# Rust load generator (codes and refresh tokens work once, so each worker keeps its
# own chain), introspection and userinfo with wrk (the same token over and over).
# Bounded: SECONDS per endpoint (default 5), loopback only, SQLite.
# Usage: cargo build --release -p gatehouse-server -p gatehouse-bench && bench/oauth2.sh [SECONDS] [rs256|es256]
# (rs256: the generated RSA 2048 pair; es256: a P-256 pair made here with openssl).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
algorithm=${2:-rs256}
bin=target/release/gatehouse
load=target/release/oauth2-load
for b in "$bin" "$load"; do
  [ -x "$b" ] || { echo "build first: cargo build --release -p gatehouse-server -p gatehouse-bench" >&2; exit 1; }
done
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
data=$(mktemp -d)
mkdir -p "$data/blueprints"
cat >"$data/blueprints/bench.yaml" <<'YAML'
version: 1
entries:
  - model: gatehouse_core.user
    identifiers: {username: bench}
    attrs: {password: bench-password-bench, email: bench@example.org, name: Bench}
  - model: gatehouse_providers_oauth2.oauth2provider
    id: provider
    identifiers: {name: Bench}
    attrs:
      client_id: bench
      client_secret: bench-secret-bench-secret-bench-secret
      redirect_uris: [{url: "http://rp.test/cb"}]
      property_mappings:
        - !Find [gatehouse_providers_oauth2.scopemapping, [managed, gatehouse.dev/providers/oauth2/scope-openid]]
        - !Find [gatehouse_providers_oauth2.scopemapping, [managed, gatehouse.dev/providers/oauth2/scope-email]]
        - !Find [gatehouse_providers_oauth2.scopemapping, [managed, gatehouse.dev/providers/oauth2/scope-profile]]
        - !Find [gatehouse_providers_oauth2.scopemapping, [managed, gatehouse.dev/providers/oauth2/scope-offline_access]]
  - model: gatehouse_core.application
    identifiers: {slug: bench}
    attrs: {name: Bench, provider: !KeyOf provider}
YAML
if [ "$algorithm" = es256 ]; then
  openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt >"$data/es.key"
  openssl req -x509 -new -key "$data/es.key" -subj /CN=bench -days 30 >"$data/es.crt" 2>/dev/null
  {
    echo "  - model: gatehouse_crypto.certificatekeypair"
    echo "    id: es"
    echo "    identifiers: {name: bench-es256}"
    echo "    attrs:"
    echo "      certificate_data: |"
    sed 's/^/        /' "$data/es.crt"
    echo "      key_data: |"
    sed 's/^/        /' "$data/es.key"
    echo "  - model: gatehouse_providers_oauth2.oauth2provider"
    echo "    identifiers: {name: Bench}"
    echo "    attrs: {signing_key: !KeyOf es}"
  } >>"$data/blueprints/bench.yaml"
fi
base=http://127.0.0.1:19000
GATEHOUSE_DATA_DIR="$data" GATEHOUSE_BLUEPRINTS_DIR="$data/blueprints" \
  GATEHOUSE_LISTEN__HTTP=127.0.0.1:19000 GATEHOUSE_LISTEN__HTTPS=127.0.0.1:19443 \
  GATEHOUSE_LISTEN__METRICS=127.0.0.1:19300 GATEHOUSE_LOG_LEVEL=warning \
  "$bin" server >"$data/server.log" 2>&1 &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 300); do
  curl -fs -o /dev/null "$base/application/o/bench/.well-known/openid-configuration" && break
  kill -0 "$pid" 2>/dev/null || { cat "$data/server.log"; exit 1; }
  sleep 0.1
done
export USERNAME=bench PASSWORD=bench-password-bench CLIENT_ID=bench \
  CLIENT_SECRET=bench-secret-bench-secret-bench-secret REDIRECT_URI=http://rp.test/cb
echo "signing: $algorithm; idle RSS: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
"$load" "$base" code "$seconds" 16
"$load" "$base" refresh "$seconds" 16
token=$("$load" "$base" token)
basic=$(printf '%s' "$CLIENT_ID:$CLIENT_SECRET" | base64 -w0)
lua=$(mktemp)
cat >"$lua" <<LUA
wrk.method = "POST"
wrk.body = "token=$token"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $basic"
LUA
echo "== introspection"
wrk -t2 -c32 -d"${seconds}s" -s "$lua" "$base/application/o/introspect/" | grep -E "Latency|Requests/sec|Non-2xx"
echo "== userinfo"
wrk -t2 -c32 -d"${seconds}s" -H "Authorization: Bearer $token" "$base/application/o/userinfo/" | grep -E "Latency|Requests/sec|Non-2xx"
rm -f "$lua"
echo "RSS after load: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
