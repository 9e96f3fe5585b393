#!/usr/bin/env bash
# A longer libFuzzer session over both harnesses (not part of the test run):
#   bash tests/fuzz/run.sh [SECONDS per harness, default 60]
# Builds with clang (-fsanitize=fuzzer,address,undefined) into build-fuzz/,
# seeds from tests/fuzz/seeds and the shared h2o corpus; a crash is copied
# into tests/fuzz/regressions/, which every test run replays.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-60}
bash "$root/scripts/dev.sh" setup
command -v clang >/dev/null || apt-get install -y --no-install-recommends clang libclang-rt-14-dev
cmake -S "$root" -B "$root/build-fuzz" -DCMAKE_C_COMPILER=clang -DSPINDLE_FUZZ=ON \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLLHTTP_ROOT="$root/.deps/llhttp/usr/share" >/dev/null
cmake --build "$root/build-fuzz" -j "$(nproc)" --target fuzz_http1 fuzz_conn
for h in fuzz_http1 fuzz_conn; do
    work=$(mktemp -d)
    cp "$root"/tests/fuzz/seeds/* "$work"/
    [ -d "$root/../shared/corpora/h2o-http1" ] && cp "$root"/../shared/corpora/h2o-http1/* "$work"/
    (cd "$work" && "$root/build-fuzz/tests/$h" -max_total_time="$secs" -max_len=65536 \
        -artifact_prefix="$root/tests/fuzz/regressions/$h-" "$work") || status=$?
    rm -rf "$work"
    [ "${status:-0}" -eq 0 ] || { echo "$h found a crash: see tests/fuzz/regressions/"; exit 1; }
done
