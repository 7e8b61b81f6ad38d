#!/usr/bin/env bash
# The main job, from a clean checkout: install packages, build vlkv, and describe a shipped image
# with the shipped tiny LLaVA under PrefixKV keeping 20% of the prompt KV cache (protect=16; after the
# ground truth, the full-cache answer and VL-Cache at 20%, for comparison; at 20% descriptions degrade -
# README, quality table).
#   bash models/demo.sh [IMAGE] [extra vlkv run flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target vlkv >/dev/null
img=${1:-}
[ -n "$img" ] && shift
if [ -z "$img" ]; then img=$(ls models/samples/*.png | head -n 1); fi
[ -f "$img" ] || { echo "demo.sh: no such image: $img" >&2; exit 2; }
gt=$(grep -m1 "\"$(basename "$img")\".*\"description\"" models/samples/samples.jsonl 2>/dev/null |
     sed 's/.*"description": "\([^"]*\)".*/\1/' || true)
[ -n "$gt" ] && echo "ground truth: $gt"
describe=(./build/vlkv run -m models/llava-tiny-q8_0.gguf --mmproj models/mmproj-llava-tiny-q8_0.gguf
          --image "$img" -p "Describe this image in detail.")
quiet() {   # hide vlkv's progress lines, but show its error if it fails
    local err rc=0
    err=$(mktemp)
    "$@" 2>"$err" || rc=$?
    [ "$rc" -eq 0 ] || cat "$err" >&2
    rm -f "$err"
    return "$rc"
}
echo "== full cache (for comparison)"
quiet "${describe[@]}"
echo "== VL-Cache, 20% of the prompt KV cache retained (best at 50%, mid-field at 20%: README, quality table)"
quiet "${describe[@]}" --kv-policy vlcache --kv-budget 0.2 --kv-opt protect=16
echo "== PrefixKV, 20% of the prompt KV cache retained, the last 16 prompt entries (the question) kept"
echo "   (the paper's protect=1 evicts the question itself: README, quality table)"
set -x
"${describe[@]}" --kv-policy prefixkv --kv-budget 0.2 --kv-opt protect=16 --kv-stats "$@"
