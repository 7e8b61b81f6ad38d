#!/usr/bin/env bash
# Reproduce bench/results/llava_tiny_eval*: `vlkv eval` of the shipped llava-tiny (Q8_0 pair) on 120
# held-out test images (120 descriptions + 120 short answers, one question per image, types in
# rotation), PrefixKV calibrated on 16 validation images (disjoint), every policy at retained
# budgets 0.05-0.5, then PrefixKV, Elastic and VL-Cache again with protect=16, then the plots.
# The data are generated offline by models/data.py (Debian python3-numpy/python3-pil); the engine
# itself needs no Python. About 20 min on 2 idle cores.
#   bash bench/eval_llava_tiny.sh [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-/tmp/vlkv_evalset}
py=/usr/bin/python3
[ -x build/vlkv ] || { cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build -j"$(nproc)"; }
$py models/data.py --split test --start 0 --count 120 --out "$data" --eval test
$py models/data.py --split val --start 0 --count 16 --out "$data" --eval calib
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
m=(-m models/llava-tiny-q8_0.gguf --mmproj models/mmproj-llava-tiny-q8_0.gguf --data "$data/test.jsonl"
   --budgets 0.05,0.1,0.2,0.3,0.5 -t 1)
r=bench/results/llava_tiny_eval
./build/vlkv eval "${m[@]}" --calib "$data/calib.jsonl" --calib-out $r.prefixkv.json --out $r.jsonl --md $r.md
./build/vlkv eval "${m[@]}" --policies prefixkv --kv-opt protect=16 --calib "$data/calib.jsonl" \
    --calib-out $r.prefixkv.json --out ${r}_prefixkv_protect16.jsonl --md ${r}_prefixkv_protect16.md
./build/vlkv eval "${m[@]}" --policies elastic --kv-opt protect=16 \
    --out ${r}_elastic_protect16.jsonl --md ${r}_elastic_protect16.md
./build/vlkv eval "${m[@]}" --policies vlcache --kv-opt protect=16 \
    --out ${r}_vlcache_protect16.jsonl --md ${r}_vlcache_protect16.md
bash bench/plot_eval.sh $r.jsonl
