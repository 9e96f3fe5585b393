#!/usr/bin/env bash
# spindle developer entry point: set up a Debian 12 machine, build, run or test.
#
#   bash scripts/dev.sh run     install deps, build, serve conf/server.ini on 127.0.0.1:8000
#   bash scripts/dev.sh test    install deps, build, the .deb, run every test tier (ctest), then
#                               the suite again under ASan+UBSan and the threaded
#                               tiers under TSan (SANITIZERS=0 skips those two passes)
#   bash scripts/dev.sh quick   build and run the suite once, no sanitizer passes
#   bash scripts/dev.sh sanitize  only the two sanitizer passes
#   bash scripts/dev.sh setup   install deps only
#   bash scripts/dev.sh build   configure and build only (BUILD_TYPE, SANITIZE honoured)
#   bash scripts/dev.sh format  rewrite every C file in the house format (.clang-format)
#   bash scripts/dev.sh package build/spindle_VERSION_ARCH.deb (CPack; docs/deploy.md)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
deps=$root/.deps

# Packages the build and every test tier need. nginx is for the nginx tests,
# python3 drives the integration tests, procps/psmisc for process checks,
# libsystemd-dev for Type=notify and socket activation, valgrind for the
# instructions-per-request check (tests/perf), libhiredis-dev and redis-server
# for tasks-backend = redis:// and its tests, clang-format for the format
# check (layout/format), dpkg-dev (dpkg-shlibdeps) and file for the .deb's
# dependencies (CPack's DEB generator, dev.sh package), libpython3.11-dev for
# the wsgi module (app/wsgi/) and python3-flask, python3-django for the
# applications its tests serve, iproute2 (ip netns, veth) for the multi-host
# test.
packages=(build-essential cmake pkg-config libevent-dev libcriterion-dev libsystemd-dev valgrind
          libhiredis-dev redis-server python3 curl nginx-light procps ca-certificates clang-format
          dpkg-dev file libpython3.11-dev python3-flask python3-django iproute2)

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

# build [DIR [SANITIZER [TARGET...]]]: every target, or only those named
build() {
    local dir=${1:-$build} san=${2:-${SANITIZE:-}}
    shift $(( $# < 2 ? $# : 2 ))
    local args=(-S "$root" -B "$dir" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}"
                -DLLHTTP_ROOT="$deps/llhttp/usr/share")
    [ -n "$san" ] && args+=(-DSPINDLE_SANITIZE="$san")
    cmake "${args[@]}" >/dev/null
    cmake --build "$dir" -j "$(nproc)" ${1:+--target "$@"}
}

# The .deb: a build folder of its own (BUILD/deb) configured for /usr with
# the systemd units, logrotate file and examples (SPINDLE_PACKAGE), packed
# by CPack; the file is copied to BUILD/spindle_VERSION_ARCH.deb.
package() {
    local dir=$build/deb
    cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
          -DLLHTTP_ROOT="$deps/llhttp/usr/share" -DCMAKE_INSTALL_PREFIX=/usr \
          -DSPINDLE_PACKAGE=ON -DSPINDLE_TESTS=OFF >/dev/null
    cmake --build "$dir" -j "$(nproc)"
    rm -f "$dir"/spindle_*.deb "$build"/spindle_*.deb
    (cd "$dir" && cpack -G DEB >/dev/null)
    cp "$dir"/spindle_*.deb "$build/"
    ls "$build"/spindle_*.deb
}

# suite DIR [ctest regex]
suite() {
    (cd "$1" && ctest --output-on-failure --timeout 600 -j 2 ${2:+-R "$2"})
}

# The threaded parts: the in-process connection harness and the integration
# tiers where handler threads, the IO loop and the master's supervision
# interleave most.  (Criterion cannot run under TSan: its fixed-address
# arena collides with TSan's shadow memory; the unit tests run in the other
# two passes.)
tsan_tiers='^(fuzz/fuzz_conn|integration/test_(http|signals|slow_clients|bodies|balance|loop|ops_reload|ops_stats|examples|tasks|auto_sizing))'

sanitized() {
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
    # Python keeps some memory past Py_FinalizeEx by design (tests/lsan.supp).
    export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/lsan.supp}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
    echo "== the suite under ASan+UBSan"
    build "$root/build-asan" address && suite "$root/build-asan"
    echo "== the threaded tiers under TSan"
    build "$root/build-tsan" thread && suite "$root/build-tsan" "$tsan_tiers"
}

case "${1:-}" in
    setup) setup ;;
    build) setup; build ;;
    # Only what serving needs: the server and the example modules.
    run)   setup; build "$build" "" spindle hello echo sleep crawl
           exec "$build/spindle" "$root/conf/server.ini" ;;
    quick) setup; build; suite "$build" ;;
    sanitize) setup; sanitized ;;
    package) setup; package ;;
    # The .deb first: integration/test_package installs it.
    test)  setup; build; package; suite "$build"
           [ "${SANITIZERS:-1}" = 0 ] || sanitized ;;
    format) setup; bash "$root/scripts/format.sh" ;;
    *)     sed -n '2,13p' "$0" | cut -c3-; exit 2 ;;
esac
