#!/usr/bin/env bash
# bench/nginx_front.sh - hello world through nginx: nginx -> spindle over
# uwsgi_pass (unix socket) and over proxy_pass (keep-alive upstream pool),
# next to nginx -> uWSGI over uwsgi_pass (unix socket), and nginx alone.
#
#   bash bench/nginx_front.sh                   10 s per case
#   BENCH_SECONDS=3 bash bench/nginx_front.sh   quick pass
#
# Environment (defaults in brackets):
#   BENCH_PROCESSES [2]     spindle and uWSGI processes, nginx worker_processes
#   BENCH_THREADS   [8]     threads per process (spindle, uWSGI)
#   BENCH_SECONDS   [10]    wrk duration per case
#   BENCH_CONNECTIONS [64]  wrk connections (client -> nginx, kept alive)
#   BENCH_WRK_THREADS [2]   wrk threads
#   BENCH_KEEP=1            keep the temp folder (configs, logs) for a look
#
# Standalone (bench/run is the direct, no-proxy comparison): installs what it
# needs with apt-get (Debian 12), builds spindle Release into
# build-bench-nginx/, starts everything on free loopback ports and sockets in a
# temp folder, stops it all on exit, and prints a markdown table.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
P=${BENCH_PROCESSES:-2}
T=${BENCH_THREADS:-8}
SECS=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNECTIONS:-64}
WT=${BENCH_WRK_THREADS:-2}
build=$root/build-bench-nginx

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

packages=(wrk nginx-light uwsgi-core uwsgi-plugin-python3 python3 curl)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    as_root apt-get update
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y --no-install-recommends "${missing[@]}"
fi

# Release, and only the server and its examples: the tests are not needed here.
bash "$root/scripts/dev.sh" setup >/dev/null
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSPINDLE_TESTS=OFF \
    -DLLHTTP_ROOT="$root/.deps/llhttp/usr/share" >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null

tmp=$(mktemp -d /tmp/spindle-ngxbench.XXXXXX)
pgids=()

stop_group() { # pgid: TERM, wait up to 10 s, then KILL the group
    local g=$1 i
    kill -TERM -- "-$g" 2>/dev/null || return 0
    for i in $(seq 1 100); do
        kill -0 -- "-$g" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL -- "-$g" 2>/dev/null || true
}

cleanup() {
    local g
    for g in "${pgids[@]}"; do stop_group "$g"; done
    if [ -n "${BENCH_KEEP:-}" ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() { # log-name command...: run in its own process group
    local name=$1
    shift
    setsid "$@" >"$tmp/$name.log" 2>&1 </dev/null &
    pgids+=($!)
}

wait_http() { # url: up to 10 s for a 200
    local i
    for i in $(seq 1 100); do
        curl -fs -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "no answer from $1" >&2
    return 1
}

# ---- spindle: HTTP on a port and uwsgi on a unix socket -------------------------
sp_port=$(free_port)
cat >"$tmp/server.ini" <<EOF
[server]
listen = 127.0.0.1:$sp_port
listen = uwsgi://unix:$tmp/spindle.sock
processes = $P
threads = $T
max-keepalive-requests = 1000000
log-level = warn

[app]
module = $build/examples/hello.so
EOF
start spindle "$build/spindle" "$tmp/server.ini"

# ---- uWSGI on a unix socket ---------------------------------------------------------
start uwsgi uwsgi --plugin python3 --socket "$tmp/uwsgi.sock" --master --processes "$P" \
    --threads "$T" --die-on-term --disable-logging --wsgi-file "$root/bench/peers/hello_wsgi.py"

# ---- nginx: one server block per case -----------------------------------------------
n_sp_uwsgi=$(free_port) n_sp_http=$(free_port) n_uwsgi=$(free_port) n_alone=$(free_port)
cp /etc/nginx/uwsgi_params "$tmp/uwsgi_params"
user=""
[ "$(id -u)" -eq 0 ] && user="user root;"
cat >"$tmp/nginx.conf" <<EOF
$user
daemon off;
worker_processes $P;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $tmp/cb; proxy_temp_path $tmp/px; uwsgi_temp_path $tmp/uw;
    fastcgi_temp_path $tmp/fc; scgi_temp_path $tmp/sc;
    upstream spindle_http {
        server 127.0.0.1:$sp_port;
        keepalive 64;
        keepalive_timeout 60s;
        keepalive_requests 1000000;
    }
    server {  # as conf/nginx/spindle-uwsgi.conf
        listen 127.0.0.1:$n_sp_uwsgi;
        location / { include uwsgi_params; uwsgi_pass unix:$tmp/spindle.sock; }
    }
    server {  # as conf/nginx/spindle-http.conf
        listen 127.0.0.1:$n_sp_http;
        location / {
            proxy_pass http://spindle_http;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }
    }
    server {
        listen 127.0.0.1:$n_uwsgi;
        location / { include uwsgi_params; uwsgi_pass unix:$tmp/uwsgi.sock; }
    }
    server {
        listen 127.0.0.1:$n_alone;
        location / { return 200 "Hello, World!"; }
    }
}
EOF
start nginx nginx -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/nginx-error.log"

for port in $n_sp_uwsgi $n_sp_http $n_uwsgi $n_alone; do
    wait_http "http://127.0.0.1:$port/"
done

# ---- wrk ----------------------------------------------------------------------------
row() { # name port
    local out rps p50 p99 errs
    out=$(wrk -t"$WT" -c"$CONNS" -d"${SECS}s" --latency "http://127.0.0.1:$2/")
    rps=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errs=$(awk '/Socket errors/ {gsub(",", ""); s += $4 + $6 + $8 + $10}
                /Non-2xx/ {s += $5} END {print s + 0}' <<<"$out")
    printf '| %s | %s | %s | %s | %s |\n' "$1" "$rps" "$p50" "$p99" "$errs"
}

echo "nginx -> app, hello world: wrk -t$WT -c$CONNS -d${SECS}s, $P processes x $T threads," \
     "nginx worker_processes $P, $(nproc) CPUs"
echo
echo "| case | req/s | p50 | p99 | errors |"
echo "|---|---:|---:|---:|---:|"
row "nginx -> spindle, uwsgi_pass (unix socket)" "$n_sp_uwsgi"
row "nginx -> spindle, proxy_pass keep-alive (TCP)" "$n_sp_http"
row "nginx -> uWSGI, uwsgi_pass (unix socket)" "$n_uwsgi"
row "nginx alone, return 200" "$n_alone"
