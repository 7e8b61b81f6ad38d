#!/usr/bin/env bash
# Turn `vlkv eval --out results.jsonl` into PNG plots with gnuplot (Debian gnuplot-nox):
#   <prefix>_quality.png  PPL, ROUGE-L and accuracy vs retained budget, one line per policy
#   <prefix>_cost.png     decode tok/s and KV bytes vs retained budget
# The "full" row (budget 1.0) is drawn as a horizontal reference line in every panel.
# Usage: bash bench/plot_eval.sh results.jsonl [out_prefix]
set -euo pipefail
in=${1:?usage: plot_eval.sh results.jsonl [out_prefix]}
prefix=${2:-${in%.jsonl}}
command -v gnuplot >/dev/null || { echo "plot_eval.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# flat JSON lines -> one TSV per policy: budget ppl rouge acc kv_kib tps
awk -v dir="$tmp" '
function num(key,   m) { if (match($0, "\"" key "\":[-0-9.eE+naNinf]+")) { m = substr($0, RSTART, RLENGTH); sub(/^[^:]*:/, "", m); return m } return "NaN" }
function str(key,   m) { if (match($0, "\"" key "\":\"[^\"]*\"")) { m = substr($0, RSTART, RLENGTH); sub(/^[^:]*:"/, "", m); sub(/"$/, "", m); return m } return "" }
{ p = str("policy"); if (p == "") next
  line = num("budget") "\t" num("ppl") "\t" num("rouge_l") "\t" num("accuracy") "\t" num("kv_bytes")/1024 "\t" num("decode_tps")
  print line >> (dir "/" p ".tsv"); if (!(p in seen)) { seen[p] = 1; print p >> (dir "/policies") } }' "$in"
[ -s "$tmp/policies" ] || { echo "plot_eval.sh: no rows in $in" >&2; exit 1; }

full_ref() {   # column of the full row, for a reference line
    [ -f "$tmp/full.tsv" ] && awk -v c="$1" 'NR==1{print $c}' "$tmp/full.tsv" || echo "NaN"
}
plots=""
for p in $(cat "$tmp/policies"); do
    [ "$p" = full ] && continue
    sort -g "$tmp/$p.tsv" -o "$tmp/$p.tsv"
    plots="$plots '$tmp/$p.tsv' using 1:COL with linespoints lw 2 title '$p',"
done
panel() {  # column, title, logscale?
    local c=$1 t=$2 log=$3 ref
    ref=$(full_ref "$c")
    echo "set title '$t'; set xlabel 'retained KV budget'; set grid; $log"
    echo "plot ${plots//COL/$c} $ref with lines dt 2 lc rgb 'black' title 'full cache'"
    echo "unset logscale; set autoscale y"
}
{
    echo "set terminal png size 1500,450 noenhanced"
    echo "set output '${prefix}_quality.png'"
    echo "set key bottom right; set multiplot layout 1,3"
    panel 2 "PPL of the full-cache reference (lower is better)" "set logscale y"
    panel 3 "ROUGE-L F1 vs full-cache generation" "set yrange [0:1.05]"
    panel 4 "exact-match accuracy (ground truth)" "set yrange [0:1.05]"
    echo "unset multiplot"
    echo "set output '${prefix}_cost.png'"
    echo "set multiplot layout 1,2"
    panel 6 "decode tokens/s" ""
    panel 5 "KV cache held at end of generation (KiB)" ""
    echo "unset multiplot"
} > "$tmp/plot.gp"
gnuplot "$tmp/plot.gp" 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
grep -v "^$" "$tmp/err" | grep -vi "warning: .*empty" >&2 || true
echo "wrote ${prefix}_quality.png ${prefix}_cost.png"
