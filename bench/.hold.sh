#!/usr/bin/env bash
# The outpost under load with wrk over loopback (release builds):
#  * forward-auth decisions (/outpost.gatehouse/auth/nginx) for one cached session:
#    requests per second and latency percentiles;
#  * the same over 100,000 distinct sessions, which fills the session cache, and the
#    outpost's RSS idle and with them cached;
#  * proxy mode against pingora with no logic (pingora-floor) and nginx proxy_pass,
#    all three to the same nginx static upstream.
# Every comparison runs ROUNDS times, interleaved, and prints the medians: on a
# shared 2-core machine one run of a few seconds swings by a third.
# Usage: cargo build --release -p gatehouse-server -p gatehouse-bench && bench/outpost.sh [SECONDS [ROUNDS]]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
rounds=${2:-3}
bin=target/release/gatehouse
cookies=target/release/outpost-cookies
pingora_floor=target/release/pingora-floor
for b in "$bin" "$cookies" "$pingora_floor"; do
  [ -x "$b" ] || { echo "build first: cargo build --release -p gatehouse-server -p gatehouse-bench" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "wrk is needed (Debian: apt-get install wrk)" >&2; exit 1; }
nginx=$(command -v nginx || echo /usr/sbin/nginx)
data=$(mktemp -d)
chmod 755 "$data"
mkdir -p "$data/blueprints" "$data/outpost" "$data/static" "$data/temp"
chmod 777 "$data/temp"
secret=bench-cookie-secret-bench-cookie-secret-0123456789
core=19300 outpost=19390 upstream=19380 front=19385 floor=19395
cat >"$data/blueprints/bench.yaml" <<YAML
version: 1
entries:
  - model: gatehouse_core.group
    id: ops
    identifiers: {name: ops}
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
  - model: gatehouse_providers_proxy.proxyprovider
    id: direct
    identifiers: {name: direct}
    attrs: {mode: proxy, external_host: "http://direct.test", internal_host: "http://127.0.0.1:$upstream", cookie_secret: $secret}
  - model: gatehouse_core.application
    id: directapp
    identifiers: {slug: direct}
    attrs: {name: Direct, provider: !KeyOf direct}
  - model: gatehouse_policies.policybinding
    identifiers: {target: !KeyOf directapp, group: !KeyOf ops, order: 0}
  - model: gatehouse_outposts.outpost
    identifiers: {name: bench}
    attrs: {providers: [!KeyOf prom, !KeyOf direct], token: bench-outpost-token}
YAML
head -c 1024 /dev/zero | tr '\0' 'x' >"$data/static/index.html"
# Two nginx instances, each its own processes: the upstream both proxies reach, and
# nginx proxy_pass to it. One instance serving both sides would often answer its own
# upstream connections in the worker that proxies them, without the wakeup of
# another process that every proxy in front of a separate upstream pays.
nginx_conf() { # NAME SERVER-BLOCKS
  cat >"$data/$1.conf" <<NGINX
pid $data/$1.pid;
worker_processes 2;
error_log stderr error;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $data/temp/$1-body; proxy_temp_path $data/temp/$1-proxy;
  fastcgi_temp_path $data/temp/$1-fastcgi; uwsgi_temp_path $data/temp/$1-uwsgi; scgi_temp_path $data/temp/$1-scgi;
  $2
}
NGINX
}
# The upstream: 1 KiB static.
nginx_conf upstream "server { listen 127.0.0.1:$upstream; root $data/static; }"
# nginx proxy_pass, for comparison with proxy mode.
nginx_conf front "upstream app { server 127.0.0.1:$upstream; keepalive 64; }
  server {
    listen 127.0.0.1:$front;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection \"\"; }
    location = /ok { return 200; }
  }"
pids=()
trap 'for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$data"' EXIT
for conf in upstream front; do
  "$nginx" -p "$data" -c "$data/$conf.conf" -e stderr -g 'daemon off;' &
  pids+=($!)
done
GATEHOUSE_DATA_DIR="$data/core" GATEHOUSE_BLUEPRINTS_DIR="$data/blueprints" \
  GATEHOUSE_SECRET_KEY=bench-secret-key-bench-secret-key-0123456789 \
  GATEHOUSE_LISTEN__HTTP=127.0.0.1:$core GATEHOUSE_LISTEN__HTTPS=127.0.0.1:$((core + 1)) \
  GATEHOUSE_LISTEN__METRICS=127.0.0.1:$((core + 2)) GATEHOUSE_LOG_LEVEL=warning \
  GATEHOUSE_EMBEDDED_OUTPOST=false "$bin" server >"$data/core.log" 2>&1 &
pids+=($!)
GATEHOUSE_HOST=http://127.0.0.1:$core GATEHOUSE_TOKEN=bench-outpost-token \
  GATEHOUSE_DATA_DIR="$data/outpost" GATEHOUSE_LISTEN__HTTP=127.0.0.1:$outpost \
  GATEHOUSE_LISTEN__METRICS=127.0.0.1:$((outpost + 1)) \
  GATEHOUSE_LOG_LEVEL=warning env -u GATEHOUSE_DATABASE__URL "$bin" outpost >"$data/outpost.log" 2>&1 &
outpost_pid=$!
pids+=($outpost_pid)
"$pingora_floor" "127.0.0.1:$floor" "127.0.0.1:$upstream" >"$data/floor.log" 2>&1 &
pids+=($!)
state="$data/outpost/outpost-state.json"
for _ in $(seq 300); do
  grep -q '"direct"' "$state" 2>/dev/null && break
  sleep 0.1
done
grep -q '"direct"' "$state" 2>/dev/null || { cat "$data/outpost.log" "$data/core.log"; exit 1; }
rss() { awk '/VmRSS/ {printf "%.1f MB", $2 / 1024}' "/proc/$outpost_pid/status"; }
echo "outpost RSS idle (config applied): $(rss)"

COOKIE_SECRET=$secret "$cookies" "$state" prometheus 1 >"$data/one.txt"
COOKIE_SECRET=$secret "$cookies" "$state" prometheus 100000 >"$data/many.txt"
COOKIE_SECRET=$secret "$cookies" "$state" direct 1 >"$data/direct.txt"
cat >"$data/rotate.lua" <<'LUA'
-- Each request carries the next cookie of the file named by COOKIES.
local cookies = {}
local i = 0
function init(args)
  for line in io.lines(os.getenv("COOKIES")) do cookies[#cookies + 1] = line end
end
function request()
  i = i + 1
  wrk.headers["Cookie"] = cookies[(i % #cookies) + 1]
  return wrk.format(nil)
end
LUA
one=$(cat "$data/one.txt")
auth=http://127.0.0.1:$outpost/outpost.gatehouse/auth/nginx
status=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Original-URL: http://prom.test/graph" -H "Cookie: $one" "$auth")
[ "$status" = 200 ] || { echo "the bench cookie is not let in ($status)"; cat "$data/outpost.log"; exit 1; }

# load NAME WRK-ARGS…: one wrk run, printed as "NAME  req/s  p50  p99" and the
# req/s kept in $data/NAME.rps for the medians.
load() {
  local name=$1 out
  shift
  out=$(wrk -t2 -c64 -d"${secs}s" --latency "$@")
  if grep -q "Non-2xx" <<<"$out"; then
    echo "$name: answers other than 2xx" >&2
    grep -E "Non-2xx|requests in" <<<"$out" >&2
    exit 1
  fi
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  printf '  %-34s %10s req/s   p50 %8s   p99 %8s\n' "$name" "$rps" "$p50" "$p99"
  echo "$rps" >>"$data/${name//[^a-z0-9]/_}.rps"
}
median() { local f="$data/${1//[^a-z0-9]/_}.rps"; sort -n "$f" | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

echo
echo READY; echo "$outpost_pid" > /tmp/bench_pid; echo "$data" > /tmp/bench_data; sleep 100000
for _ in $(seq "$rounds"); do
  load "outpost auth/nginx" -H "X-Original-URL: http://prom.test/graph" -H "Cookie: $one" "$auth"
  load "nginx return 200 (the floor)" "http://127.0.0.1:$front/ok"
done
echo "  median: outpost $(median "outpost auth/nginx") decisions/s; nginx answering 200 with no work $(median "nginx return 200 (the floor)")/s"

echo
echo "== forward auth, 100,000 sessions in turn (wrk -t2 -c64 -d${secs}s)"
COOKIES="$data/many.txt" load "outpost, 100k sessions" -s "$data/rotate.lua" \
  -H "X-Original-URL: http://prom.test/graph" "$auth"
echo "  sessions cached: $(curl -s "http://127.0.0.1:$((outpost + 1))/metrics" | awk '/^gatehouse_outpost_sessions_cached/ {print $2}')"
echo "  outpost RSS with them cached: $(rss)"

echo
echo "== proxy mode, 1 KiB static upstream; $rounds rounds of wrk -t2 -c64 -d${secs}s"
direct=$(cat "$data/direct.txt")
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: direct.test" -H "Cookie: $direct" "http://127.0.0.1:$outpost/")
[ "$status" = 200 ] || { echo "proxy mode does not answer 200 ($status)"; cat "$data/outpost.log"; exit 1; }
# The same request to each: the session cookie is checked by the outpost only.
same=(-H "Host: direct.test" -H "Cookie: $direct")
for _ in $(seq "$rounds"); do
  load "outpost proxy mode (decided)" "${same[@]}" "http://127.0.0.1:$outpost/"
  load "pingora, no logic (pingora-floor)" "${same[@]}" "http://127.0.0.1:$floor/"
  load "nginx proxy_pass (no auth)" "${same[@]}" "http://127.0.0.1:$front/"
done
o=$(median "outpost proxy mode (decided)")
f=$(median "pingora, no logic (pingora-floor)")
n=$(median "nginx proxy_pass (no auth)")
echo "  median: outpost $o, pingora-floor $f, nginx $n req/s"
awk -v o="$o" -v f="$f" -v n="$n" 'BEGIN {printf "  outpost / pingora-floor = %.2f; outpost / nginx = %.2f; pingora-floor / nginx = %.2f\n", o / f, o / n, f / n}'
echo "outpost RSS after: $(rss)"
