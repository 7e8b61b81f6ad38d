#!/usr/bin/env bash
# Cross-build the dtype and kernel tests for AArch64 and run them under qemu-aarch64, so the NEON
# table really executes. Two builds: baseline armv8-a (vmull/vpadal int8 path) and
# armv8.2-a+dotprod (SDOT path). Fails if a test fails or if the NEON table did not run.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v aarch64-linux-gnu-gcc >/dev/null || { echo "aarch64.sh: aarch64-linux-gnu-gcc missing (apt install gcc-aarch64-linux-gnu)"; exit 1; }
command -v qemu-aarch64 >/dev/null || { echo "aarch64.sh: qemu-aarch64 missing (apt install qemu-user)"; exit 1; }
QEMU="qemu-aarch64 -L /usr/aarch64-linux-gnu"

run_variant() {   # $1 = build dir, $2 = extra C flags, $3 = label
    local dir="$1" flags="$2" label="$3"
    cmake -S . -B "$dir" -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DCMAKE_BUILD_TYPE=Release \
          -DVLKV_BLAS=OFF -DVLKV_VULKAN=OFF -DVLKV_BUILD_TESTS=ON -DVLKV_BUILD_BENCH=OFF \
          -DCMAKE_C_FLAGS="$flags" >"$dir.configure.log" 2>&1 \
        || { cat "$dir.configure.log"; exit 1; }
    cmake --build "$dir" -j"${AARCH64_JOBS:-$(nproc)}" --target test_types test_kernels
    echo "-- aarch64 ($label): test_types"
    (cd "$dir" && $QEMU ./test_types)
    echo "-- aarch64 ($label): test_kernels"
    local out
    out=$(cd "$dir" && $QEMU ./test_kernels) || { echo "$out"; echo "aarch64.sh: test_kernels failed ($label)"; exit 1; }
    echo "$out"
    grep -q "compared the neon table with ref" <<<"$out" \
        || { echo "aarch64.sh: the neon table was not exercised ($label)"; exit 1; }
    echo "$out" | grep -q "selected table: neon" \
        || { echo "aarch64.sh: dispatch did not select neon ($label)"; exit 1; }
}

run_variant build-aarch64 "" "armv8-a baseline"
run_variant build-aarch64-dotprod "-march=armv8.2-a+dotprod" "armv8.2-a+dotprod"
echo "aarch64.sh: NEON kernels pass under qemu-aarch64"
