#!/usr/bin/env bash
# The whole test suite, from a clean checkout: install packages, build (warnings are errors),
# run every ctest test (unit, kernel, golden, vulkan on lavapipe), rebuild the unit tests with
# AddressSanitizer + UBSan and run them, then cross-build the kernels for aarch64 and run their
# tests under qemu-aarch64 so the NEON code really executes.
#   bash tests/run.sh            everything
#   bash tests/run.sh --quick    release build + ctest only
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1
jobs=$(nproc 2>/dev/null || echo 2)
# OpenMP workers sleep when idle: spinning starves the other test processes on small machines
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

bash tests/deps.sh

vulkan=OFF
if command -v glslangValidator >/dev/null 2>&1 && [ -f cmake/vulkan.cmake ]; then vulkan=ON; fi

echo "== release build (VLKV_VULKAN=$vulkan)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DVLKV_WERROR=ON -DVLKV_VULKAN=$vulkan >/dev/null
cmake --build build -j"$jobs"
echo "== tests"
ctest --test-dir build --output-on-failure -j"$jobs" 2>&1 | tee build/ctest.log

if [ $quick -eq 0 ]; then
    echo "== AddressSanitizer + UBSan build, unit tests"
    cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DVLKV_SANITIZE="address;undefined" -DVLKV_WERROR=ON \
          -DVLKV_BUILD_BENCH=OFF -DVLKV_VULKAN=OFF >/dev/null
    cmake --build build-asan -j"$jobs"
    ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan --output-on-failure -j"$jobs" -L unit

    if [ -f .ci/aarch64.sh ]; then
        echo "== aarch64 cross build, kernel tests under qemu-aarch64 (NEON)"
        bash .ci/aarch64.sh
    fi
    echo "== summary of the main test run"
    grep -E "tests passed|tests failed" build/ctest.log
fi
