#!/usr/bin/env bash
# spindle developer entry point: set up a Debian 12 machine, build, run or test.
#
#   bash scripts/dev.sh run     install deps, build, serve conf/server.ini on 127.0.0.1:8000
#   bash scripts/dev.sh test    install deps, build, run every test tier (ctest)
#   bash scripts/dev.sh setup   install deps only
#   bash scripts/dev.sh build   configure and build only (BUILD_TYPE, SANITIZE honoured)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
deps=$root/.deps

# Packages the build and every test tier need. nginx is for the nginx tests,
# python3 drives the integration tests, procps/psmisc for process checks,
# libsystemd-dev for Type=notify and socket activation, valgrind for the
# instructions-per-request check (tests/perf).
packages=(build-essential cmake pkg-config libevent-dev libcriterion-dev libsystemd-dev valgrind
          python3 curl nginx-light procps ca-certificates)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

setup() {
    local missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        as_root apt-get update
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y --no-install-recommends "${missing[@]}"
    fi
    # llhttp's C sources come from Debian's node-llhttp; unpack the .deb
    # instead of installing it, which would pull in nodejs.
    if [ ! -f "$deps/llhttp/usr/share/llhttp/llhttp.c" ]; then
        mkdir -p "$deps/llhttp"
        local tmp; tmp=$(mktemp -d)
        (cd "$tmp" && apt-get download node-llhttp 2>/dev/null || { as_root apt-get update && apt-get download node-llhttp; })
        dpkg-deb -x "$tmp"/node-llhttp_*.deb "$deps/llhttp"
        rm -rf "$tmp"
    fi
}

build() {
    local args=(-S "$root" -B "$build" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}"
                -DLLHTTP_ROOT="$deps/llhttp/usr/share")
    [ -n "${SANITIZE:-}" ] && args+=(-DSPINDLE_SANITIZE="$SANITIZE")
    cmake "${args[@]}" >/dev/null
    cmake --build "$build" -j "$(nproc)"
}

case "${1:-}" in
    setup) setup ;;
    build) setup; build ;;
    run)   setup; build; exec "$build/spindle" "$root/conf/server.ini" ;;
    test)  setup; build; cd "$build" && ctest --output-on-failure --timeout 600 -j 2 ;;
    *)     sed -n '2,8p' "$0"; exit 2 ;;
esac
